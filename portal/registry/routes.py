from datetime import date

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from ..idempotent import idempotent
from ..models import Area, Beneficiary, Household
from ..services import checks, history, jobs, police, registry
from ..services import merge as merging
from ..vn.money import format_int
from ..web import (FIELD_LABELS, XLSX, download, get_or_404, int_arg, is_long, parse_int, render,
                   roles_required, see_other, value_label)
from . import bp
from .forms import CorrectionForm


@bp.route("/beneficiaries/<int:bid>")
@login_required
def beneficiary(bid):
    """One beneficiary: the facts, the account, the findings and the whole history."""
    b = get_or_404(Beneficiary, bid)
    events = history.history_of(b.id)
    def ids(field):
        return {int(v) for e in events if e.field == field for v in (e.old_value, e.new_value)
                if v and v.isdigit()}
    names = {str(a.id): a.full_name for a in db.session.scalars(
        select(Area).where(Area.id.in_(ids("village_id"))))}
    names.update({str(h.id): _("Hộ %(name)s", name=h.head_name) for h in db.session.scalars(
        select(Household).where(Household.id.in_(ids("household_id"))))})
    return render("registry/beneficiary.html", b=b, events=events, names=names,
                  proposals=police.proposals_for(b.id), partners=merging.partners(b),
                  merges=merging.merges_of(b))


# Who may download the registry with its full ID and account numbers: the officers who keep
# it and the levels above them (and the admin). The police have their own verification
# workbook, the post office its payment files; neither needs the whole registry.
EXPORTERS = ("commune", "chairman", "district", "province")


def _export_area():
    """The area an export is for: the user's, or ``area`` (a form field or query parameter)
    within it (404 else)."""
    area_id = int_arg("area") if request.method == "GET" else parse_int(request.form.get("area") or "0", minimum=0)
    return get_or_404(Area, area_id) if area_id else current_user.area


def _export_title(area, day):
    return f"DANH SÁCH ĐỐI TƯỢNG — {area.full_name if area else 'toàn bộ'} — xuất ngày {day:%d/%m/%Y}"


def _export_name(area, day):
    return f"danh-sach-{area.code or area.id if area else 'all'}-{day:%Y%m%d}.xlsx"


@bp.route("/export", methods=["GET", "POST"])
@roles_required(*EXPORTERS)
def export():
    """The registry of the user's area (or a commune below it) as ``.xlsx``; the roles of
    :data:`EXPORTERS` and the admin (403 otherwise). Up to ``JOB_ROWS`` records the file
    is made in the request (``?format=xlsx``); above, a POST makes it in a background job
    whose page has the file (a GET of the file then leads back to this page)."""
    area = _export_area()
    rows = registry.count_in(current_user, [area] if area is not None else None)
    if request.method == "POST":  # (CSRF checked by CSRFProtect, as every POST)
        job = jobs.submit("export_registry", current_user, area, {"back": url_for("registry.export", area=area.id if area else None)},
                          _("Xuất danh sách đối tượng — %(area)s", area=area.full_name if area else _("hệ thống")))
        return see_other("jobs.show", job_id=job.id)
    if request.args.get("format") == "xlsx":
        if is_long(rows):
            flash(_("Danh sách có %(n)s hồ sơ: bấm «Tạo tệp» để tạo tệp trong nền.", n=format_int(rows)), "info")
            return see_other("registry.export", area=area.id if area else None)
        day = date.today()
        return download(registry.workbook(registry.records(current_user, area), _export_title(area, day)),
                        _export_name(area, day))
    return render("registry/export.html", area=area, rows=rows, in_job=is_long(rows),
                  recent_jobs=jobs.recent(current_user, "export_registry"))


@jobs.handler("export_registry", roles=EXPORTERS)
def _export_job(job, progress):
    """The registry of ``job.area`` (all of it for none) as ``.xlsx``, streamed to a file."""
    area, day = job.area, date.today()
    units = [area] if area is not None else None
    total = registry.count_in(job.user, units)
    rows = jobs.counted(registry.records_in(job.user, units), progress, total, _("Ghi tệp"))
    file = jobs.save_written(job, lambda path: registry.write_workbook(rows, _export_title(area, day), path),
                             _export_name(area, day), XLSX)
    return {"file": file, "message": _("%(n)s hồ sơ.", n=format_int(total))}


@bp.route("/beneficiaries/<int:bid>/edit", methods=["GET", "POST"])
@roles_required("commune")
@idempotent
def edit(bid):
    """Correct a beneficiary's facts; every change goes to the history."""
    b = get_or_404(Beneficiary, bid)
    form = CorrectionForm(obj=b)
    if request.method == "GET":
        form.version.data = b.version
        form.village.data = registry.village_text(b)
    stale = None
    if form.validate_on_submit():
        data = {f: getattr(form, f).data for f in registry.CORRECTABLE}
        data["village"] = form.village.data
        try:
            before = checks.ids_touching(b)  # records that shared the old ID or account
            registry.correct(b, current_user, data, form.version.data)
            checks.recheck(before)
            checks.recheck(checks.ids_touching(b))
            db.session.commit()
        except (registry.StaleRecord, StaleDataError) as e:
            db.session.rollback()
            b = get_or_404(Beneficiary, bid)
            stale = getattr(e, "theirs", None) or registry.current_facts(b)
            form.version.data = b.version
        except registry.CorrectionError as e:
            db.session.rollback()
            for f, msg in e.errors.items():
                getattr(form, f).errors = list(getattr(form, f).errors) + [msg]
        else:
            flash(_("Đã lưu thông tin đã sửa."), "success")
            return see_other("registry.beneficiary", bid=b.id)
    status = 409 if stale else (422 if form.errors else 200)
    return render("registry/edit.html", b=b, form=form, stale=stale, status=status,
                  villages=registry.village_suggestions(b))


@bp.route("/beneficiaries/<int:bid>/merge/<int:other_id>", methods=["GET", "POST"])
@roles_required("commune", "district", "province")
def merge(bid, other_id):
    """Two records of one person: choose, field by field, what the record keeps."""
    a, b = get_or_404(Beneficiary, bid), get_or_404(Beneficiary, other_id)
    diffs = merging.differences(a, b)
    error = None
    try:
        merging.check(a, b)
    except merging.MergeError as e:
        error = str(e)
    if request.method == "POST" and error is None:
        choices = {f: request.form.get(f, "survivor") for f, _, _ in diffs}
        m = merging.merge(a, b, current_user, choices)
        checks.recheck(checks.ids_touching(a))
        checks.recheck(select(Beneficiary.id).where(Beneficiary.id == b.id))
        db.session.commit()
        flash(_("Đã gộp %(other)s vào hồ sơ này. Có thể hoàn tác.", other=b.full_name), "success")
        return see_other("registry.beneficiary", bid=a.id, _anchor=f"merge{m.id}")
    names = {str(v.id): v.full_name for v in (a.village, b.village) if v is not None}

    def show(field, value):
        if field == "account":
            return " · ".join(str(value_label(f, x)) for f, x in zip(merging.ACCOUNT_FIELDS, value)) \
                if value else "—"
        if field == "review":
            return " · ".join(str(value_label(f, x.isoformat() if hasattr(x, "isoformat") else x))
                              for f, x in zip(merging.REVIEW_FIELDS, value))
        return value_label(field, value if field != "village_id" else str(value), names)

    diffs = [(f, show(f, va), show(f, vb)) for f, va, vb in diffs]
    return render("registry/merge.html", a=a, b=b, diffs=diffs, error=error,
                  status=422 if error and request.method == "POST" else 200)


@bp.route("/merges/<int:merge_id>/undo", methods=["POST"])
@roles_required("commune", "district", "province")
def undo_merge(merge_id):
    """Undo a merge: both records back as they were, recorded in the history."""
    from ..models import Merge
    m = db.session.get(Merge, merge_id) or abort(404)
    get_or_404(Beneficiary, m.survivor_id)
    get_or_404(Beneficiary, m.merged_id)
    try:
        kept = merging.undo(m, current_user)
    except merging.MergeError as e:
        flash(str(e), "info")
        return see_other("registry.beneficiary", bid=m.survivor_id)
    if kept:
        flash(_("Giữ giá trị đã sửa sau lần gộp: %(fields)s.",
                fields=", ".join(str(FIELD_LABELS.get(f, f)) for f in kept)), "info")
    checks.recheck(checks.ids_touching(m.survivor))
    checks.recheck(checks.ids_touching(m.merged))
    db.session.commit()
    flash(_("Đã hoàn tác lần gộp."), "success")
    return see_other("registry.beneficiary", bid=m.survivor_id)
