import hashlib

from flask_babel import gettext as _
from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields import SelectChoice

from ..extensions import db
from ..models import ImportBatch, utcnow
from ..services import checks, imports, payments, scope
from ..services.areas import communes_below
from ..web import get_or_404, render, roles_required, see_other
from . import bp
from .forms import ConfirmForm, UploadForm

UPLOADERS = ("commune", "district", "province")
ISSUES_SHOWN = 300  # more on request (?all=1): a long list would not fit a slow link
ISSUES_MAX = 3000  # even then: the whole list is in `flask import-list --json`


def _communes():
    area = current_user.area
    if area is None:
        return []
    return communes_below(area)


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
    form.commune_id.choices = [SelectChoice(c.id, f"{c.full_name} ({c.code}"
                                            f"{', từ ' + c.valid_from.strftime('%d/%m/%Y') if c.valid_from else ''})")
                               for c in communes]
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
            plan = imports.plan(parsed, commune, form.program.data or None)
        except imports.FileProblem as e:
            problem = e.message
        except ValueError as e:
            problem = str(e)
        else:
            batch = ImportBatch(commune_id=commune.id, program=form.program.data or parsed.program,
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
        counts = imports.commit(plan, current_user, batch, create_villages=form.create_villages.data,
                                new_grant=grant)
        if counts["refresh_from"]:  # the drafts follow the grants and the changes the list states
            payments.refresh_drafts([batch.commune_id], plan.program, counts["refresh_from"], current_user)
        checks.recheck(checks.ids_in_area(batch.commune))
        batch.status, batch.committed_at = "committed", utcnow()
        batch.summary = plan.snapshot() | {"increases": counts["increases"],
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
