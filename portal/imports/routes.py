import hashlib
import re
from dataclasses import replace

from flask_babel import gettext as _
from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields import SelectChoice

from ..extensions import db
from ..models import Area, ImportBatch, utcnow
from ..services import checks, clock, imports, months, payments, scope
from ..services.areas import subtree_ids
from ..vn.dates import format_date
from ..web import get_or_404, render, roles_required, see_other
from . import bp
from .forms import ConfirmForm, UploadForm

UPLOADERS = ("commune", "district", "province")
ISSUES_SHOWN = 300  # more on request (?all=1): a long list would not fit a slow link
ISSUES_MAX = 3000  # even then: the whole list is in `flask import-list --json`


def _communes():
    """The communes the user may upload for: those below their area and the old ones the
    2025 reform merged into them (Xã Bình Sơn's officer uploads Bình Chánh's 2024 lists)."""
    area = current_user.area
    if area is None:
        return []
    return db.session.scalars(select(Area).where(
        Area.level == "commune", Area.id.in_(subtree_ids([area]))).order_by(Area.code, Area.valid_from)).all()


def _commune_choices(communes, month):
    """The upload form's choices: the communes in force in ``month`` (``YYYY-MM``) first,
    then the old ones (ended before it, labelled «(đến 30/06/2025)») and those not yet in
    force, each group under its heading when there is more than one."""
    day = months.start(month)
    now, old, later = [], [], []
    for c in communes:
        if c.valid_to is not None and c.valid_to < day:
            until = _("đến %(day)s", day=format_date(c.valid_to))
            old.append(SelectChoice(c.id, f"{c.full_name} ({until}) · {c.code}"))
        elif c.valid_from is not None and c.valid_from > day:
            since = _("từ %(day)s", day=format_date(c.valid_from))
            later.append(SelectChoice(c.id, f"{c.full_name} ({since}) · {c.code}"))
        else:
            now.append(SelectChoice(c.id, f"{c.full_name} ({c.code})"))
    groups = [(_("Có hiệu lực tháng %(month)s", month=months.label(month)), now),
              (_("Xã cũ, đã sáp nhập hoặc kết thúc"), old),
              (_("Chưa có hiệu lực tháng %(month)s", month=months.label(month)), later)]
    groups = [(label, choices) for label, choices in groups if choices]
    if len(groups) < 2:
        return [c for _label, choices in groups for c in choices]
    return [replace(c, optgroup=label) for label, choices in groups for c in choices]


def _list_batch(batch_id):
    """A commune-list upload in the user's area; the police's and the payment provider's
    uploads have pages of their own (404 here)."""
    batch = get_or_404(ImportBatch, batch_id)
    if batch.kind != "list":
        abort(404)
    return batch


def _plan(batch):
    parsed = imports.parse(batch.data, batch.filename, batch.program, batch.month)
    return imports.plan(parsed, batch.commune, batch.program)


@bp.route("/imports/new", methods=["GET", "POST"])
@roles_required(*UPLOADERS)
def upload():
    """Upload a list; nothing is written to the registry until the preview is confirmed."""
    form = UploadForm()
    communes = _communes()
    typed = (form.month.data or "").strip()
    form.commune_id.choices = _commune_choices(
        communes, typed if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", typed) else clock.open_month())
    problem = None
    if form.validate_on_submit():
        commune = next((c for c in communes if c.id == form.commune_id.data), None)
        data = form.file.data.read()
        try:
            parsed = imports.parse(data, form.file.data.filename, form.program.data or None,
                                   form.month.data or None)
            if commune is None:
                raise ValueError(_("Chọn xã."))
            if parsed.month is None:
                form.month.errors = list(form.month.errors) + [
                    _("Tiêu đề tệp không ghi tháng: nhập tháng của danh sách (ví dụ 2024-05).")]
                raise ValueError(_("Chưa rõ danh sách của tháng nào."))
            imports.check_month(parsed.month, form.program.data or parsed.program)
            plan = imports.plan(parsed, commune, form.program.data or None)
            imports.check_reach(plan, current_user)
        except imports.FileProblem as e:
            problem = e.message
        except imports.ImportRefused as e:
            if e.field == "commune_id":  # which old commune: the choice is to be made again,
                form.commune_id.errors = list(form.commune_id.errors) + [e.message]
                # among the units in force in the list's month, listed first
                form.commune_id.choices = _commune_choices(communes, parsed.month)
            elif e.field in ("month", "program"):  # the list's month, or a program not paid then
                form[e.field].errors = list(form[e.field].errors) + [e.message]
            else:
                problem = e.message
        except ValueError as e:
            problem = str(e)
        else:
            batch = ImportBatch(commune_id=plan.commune.id, program=form.program.data or parsed.program,
                                month=parsed.month, filename=form.file.data.filename[:255],
                                sha256=hashlib.sha256(data).hexdigest(), data=data,
                                user_id=current_user.id, summary=plan.snapshot())
            db.session.add(batch)
            db.session.commit()
            return see_other("imports.preview", batch_id=batch.id)
    if problem:
        form.file.errors = list(form.file.errors) + [problem]
    recent = db.session.scalars(scope.scoped(select(ImportBatch).where(ImportBatch.kind == "list"),
                                             current_user, ImportBatch.commune_id)
                                .order_by(ImportBatch.id.desc()).limit(10)).all()
    return render("imports/upload.html", form=form, recent=recent,
                  status=422 if form.errors else 200)


def _preview(batch, form, status=200):
    report = batch.summary or {}
    issues = report.get("issues") or []
    show_all = request.args.get("all") == "1"
    if not form.new_from.data:
        form.new_from.data = batch.month
    return render("imports/preview.html", batch=batch, report=report, form=form,
                  issues=issues[:ISSUES_MAX] if show_all else issues[:ISSUES_SHOWN], show_all=show_all,
                  capped=len(issues) > ISSUES_MAX, status=status)


@bp.route("/imports/<int:batch_id>")
@roles_required(*UPLOADERS)
def preview(batch_id):
    """What the file would add, change and leave alone, and every problem by sheet, row, column."""
    return _preview(_list_batch(batch_id), ConfirmForm())


def _refuse(batch, form, e):
    """The preview again, with 422 and the refusal ``e`` (``imports.ImportRefused``) on its field."""
    target = form[e.field] if e.field in form else form.create_villages
    target.errors = list(target.errors) + [e.message]
    return _preview(batch, form, 422)


def _new_grant(form):
    """The "new from month" option of the confirm form as an ``imports.NewGrant`` (checked),
    or ``None`` when it is not ticked."""
    if not form.new_grant.data:
        return None
    return imports.NewGrant(form.new_from.data or "", form.decision_number.data or "",
                            form.decision_date.data).check()


@bp.route("/imports/<int:batch_id>/commit", methods=["POST"])
@roles_required(*UPLOADERS)
def confirm(batch_id):
    """Write the previewed file in one transaction (all or nothing)."""
    batch = _list_batch(batch_id)
    form = ConfirmForm()
    valid = form.validate_on_submit()
    if batch.status == "preview" and not valid and "csrf_token" not in form.errors:
        return _preview(batch, form, 422)
    grant = None
    if valid and batch.status == "preview":
        try:
            grant = _new_grant(form)
            plan = imports.Plan(None, batch.commune, batch.program,
                                villages_to_confirm=(batch.summary or {}).get("villages_to_confirm") or [])
            imports.check_villages(plan, form.create_villages.data)
        except imports.ImportRefused as e:
            return _refuse(batch, form, e)
    if not valid or not imports.claim(batch, "committing"):
        flash(_("Danh sách này đã được xử lý."), "info")
        return see_other("imports.preview", batch_id=batch.id)
    try:
        plan = _plan(batch)
        batch.commune_id = plan.commune.id  # the same unit as the preview's (resolve_commune)
        counts = imports.commit(plan, current_user, batch, create_villages=form.create_villages.data,
                                new_grant=grant)
        if counts["refresh_from"]:  # the drafts follow the grants and the changes the list states
            payments.refresh_drafts(plan.units, plan.program, counts["refresh_from"], current_user)
        checks.recheck(plan.record_ids())
        batch.status, batch.committed_at = "committed", utcnow()
        # The preview's commune facts: the unit chosen then, and how the file named this one.
        chose = {k: v for k, v in (batch.summary or {}).items()
                 if k in ("commune_chosen", "commune_source", "commune_named")}
        batch.summary = plan.snapshot() | chose | {"increases": counts["increases"],
                                           "new_grant": grant.as_dict() if grant else None,
                                           "proposed": counts["proposed"],
                                           "not_proposed": counts["not_proposed"]}
        db.session.commit()
    except imports.ImportRefused as e:  # the registry moved since the preview (a village)
        db.session.rollback()  # the claim too: the batch can be confirmed again
        return _refuse(batch, form, e)
    except Exception:
        db.session.rollback()  # the claim is rolled back too: the batch can be confirmed again
        current_app.logger.exception("import %s failed", batch_id)
        flash(_("Không ghi được danh sách: chưa có gì thay đổi. Vui lòng thử lại."), "error")
        return see_other("imports.preview", batch_id=batch_id)
    flash(_("Đã nhập: thêm %(added)s, cập nhật %(changed)s, giữ nguyên %(unchanged)s.", **counts),
          "success")
    if counts["proposed"]:
        flash(_("%(n)s thay đổi danh sách ghi (chết, chuyển đi, thôi hưởng, tạm dừng) đã thành đề nghị chờ "
                "quyết định; chi trả của những người này bị chặn từ tháng hiệu lực.", n=counts["proposed"]),
              "info")
    return redirect(url_for("progress.commune", area_id=batch.commune_id), code=303)


@bp.route("/imports/<int:batch_id>/discard", methods=["POST"])
@roles_required(*UPLOADERS)
def discard(batch_id):
    """Drop a previewed file without writing anything."""
    batch = _list_batch(batch_id)
    if imports.claim(batch, "discarded"):  # of a cancel and a confirm sent at once, one happens
        db.session.commit()
        flash(_("Đã hủy, không ghi gì vào sổ."), "info")
        return see_other("imports.upload")
    flash(_("Danh sách này đã được xử lý."), "info")
    return see_other("imports.preview", batch_id=batch.id)
