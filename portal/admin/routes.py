from flask import abort, flash
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..models import Area, StandardLevel
from ..services import clock, levels, months, progress
from ..web import render, roles_required, see_other
from . import bp
from .forms import NATIONAL, LevelForm, target_form


@bp.route("/admin/targets", methods=["GET", "POST"])
@roles_required("admin")
def targets():
    """Set the campaign's target rates (percent) per program from a month: each value
    changed becomes a new version from that month (the months before keep theirs); a month
    whose report is made (chốt), or any before it, is refused. Each version's history."""
    month = progress.campaign_month()
    last = progress.last_made_month()
    first = months.add(last, 1) if last else None
    shown = progress.targets(month=month)
    form = target_form(shown, max(month, first) if first else month)
    if form.validate_on_submit():
        changed = 0
        try:
            progress.check_month(form.valid_from.data)
            for key in progress.DEFAULT_TARGETS:
                value = form["__".join(key)].data
                if value != shown[key]:  # only what the admin changed on the page
                    changed += progress.set_target(current_user, *key, value, form.valid_from.data) is not None
        except progress.TargetError as e:
            db.session.rollback()
            field = form[e.field] if e.field in form else form.valid_from
            field.errors = list(field.errors) + [str(e)]
        else:
            db.session.commit()
            if changed:
                flash(_("Đã lưu chỉ tiêu áp dụng từ tháng %(month)s.",
                        month=months.label(form.valid_from.data)), "success")
            else:
                flash(_("Không có gì thay đổi."), "success")
            return see_other("admin.targets")
    return render("admin/targets.html", form=form, labels=progress.INDICATOR_LABELS,
                  keys=list(progress.DEFAULT_TARGETS), month=month, first=first, last=last,
                  history=progress.target_history(), defaults=progress.DEFAULT_TARGETS,
                  earliest=progress.EARLIEST_MONTH,
                  changes=levels.changes("target"), status=422 if form.errors else 200)


def _level_form(row=None):
    """The level form with the provinces in force in the open month to choose from (and an
    edited row's own province, whatever its dates)."""
    form = LevelForm(obj=row)
    provinces = levels.provinces(clock.working_day())
    if row is not None and row.area is not None and row.area not in provinces:
        provinces.append(row.area)
    form.set_provinces(provinces)
    if form.area_id.data is None:  # a national row (no area), or a form without the field
        form.area_id.data = NATIONAL
    return form


def _levels_page(form, status=200, editing=None):
    return render("admin/levels.html", form=form, editing=editing, status=status,
                  programs=levels.PROGRAMS,
                  standard={p: levels.standard_rows(p) for p in levels.PROGRAMS},
                  provincial={p: levels.province_rows(p) for p in levels.PROVINCE_PROGRAMS},
                  defaults={p: levels.defaults(p) for p in levels.PROGRAMS},
                  categories=levels.category_rows(),
                  matching={p: levels.matching_records(p) for p in levels.PROGRAMS},
                  known=levels.known_categories(), history=levels.changes())


def _values(form):
    area = db.session.get(Area, form.area_id.data) if form.area_id.data else None
    return dict(program=form.program.data, category=form.category.data, amount=form.amount.data,
                valid_from=form.valid_from.data, source=form.source.data, area=area)


def _refused(form, error):
    db.session.rollback()
    target = form[error.field] if error.field in form else form.valid_from
    target.errors = list(target.errors) + [str(error)]


@bp.route("/admin/levels", methods=["GET", "POST"])
@roles_required("admin")
def standard_levels():
    """The dated reference data of the payment list: standard levels per program and fixed
    amounts per category, each from a date; add a row."""
    form = _level_form()
    if form.validate_on_submit():
        try:
            row, copied = levels.add(current_user, **_values(form))
            db.session.commit()
            if row.area_id:
                flash(_("Đã thêm mức %(program)s của %(area)s từ ngày %(day)s.", program=row.program,
                        area=row.area.full_name, day=row.valid_from.strftime("%d/%m/%Y")), "success")
            else:
                flash(_("Đã thêm mức %(program)s từ ngày %(day)s.", program=row.program,
                        day=row.valid_from.strftime("%d/%m/%Y")), "success")
            if copied:
                flash(_("Các mức mặc định trước đó đã được ghi vào bảng để các tháng trước giữ nguyên mức."),
                      "info")
            return see_other("admin.standard_levels")
        except levels.LevelError as e:
            _refused(form, e)
    return _levels_page(form, status=422 if form.errors else 200)


@bp.route("/admin/levels/<int:level_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_level(level_id):
    """Change one row of the reference data (the lists already locked keep their amounts)."""
    row = db.session.get(StandardLevel, level_id)
    if row is None:
        abort(404)
    form = _level_form(row)
    if form.validate_on_submit():
        try:
            changed = levels.update(row, current_user, **_values(form))
            db.session.commit()
            flash(_("Đã lưu.") if changed else _("Không có gì thay đổi."), "success")
            return see_other("admin.standard_levels")
        except levels.LevelError as e:
            _refused(form, e)
    return render("admin/level.html", form=form, row=row, status=422 if form.errors else 200)


@bp.route("/admin/levels/<int:level_id>/delete", methods=["POST"])
@roles_required("admin")
def delete_level(level_id):
    """Delete one row of the reference data (recorded, with its values; the CSRF token is
    checked for every POST by ``CSRFProtect``)."""
    row = db.session.get(StandardLevel, level_id)
    if row is None:
        abort(404)
    levels.delete(row, current_user)
    db.session.commit()
    flash(_("Đã xóa dòng."), "success")
    return see_other("admin.standard_levels")
