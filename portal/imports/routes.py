import hashlib
import re
from dataclasses import replace
from datetime import timedelta

from flask_babel import gettext as _
from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select, update
from wtforms.fields import SelectChoice

from ..extensions import db
from ..models import Area, ImportBatch, utcnow
from ..services import checks, clock, imports, jobs, months, payments, scope
from ..services.areas import subtree_ids
from ..vn.dates import format_date
from ..web import get_or_404, own_area, page_arg, render, roles_required, see_other
from . import bp
from .forms import ConfirmForm, UploadForm

UPLOADERS = ("commune", "district", "province")
ISSUES_PER_PAGE = 50  # a page of a preview's issues (?page=): 314 on one page were 76.5 kB


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
    batch = get_or_404(ImportBatch, batch_id, kind="list")
    return batch


def _plan(batch):
    parsed = imports.parse(batch.data, batch.filename, batch.program, batch.month)
    return imports.plan(parsed, batch.commune, batch.program)


KEPT_FOR = timedelta(hours=24)  # a kept upload is offered again this long, then dropped


def _kept_upload(ident):
    """The file the current user uploaded with a form that came back with an error: an
    ``ImportBatch`` of kind ``kept`` (status ``kept``), or ``None`` when ``ident`` is empty
    or the file is older than ``KEPT_FOR`` (then dropped). Another user's, a used or a
    dropped one: 404."""
    if not ident:
        return None
    if not str(ident).isdigit():
        abort(404)
    batch = db.session.get(ImportBatch, int(ident))
    if (batch is None or batch.kind != "kept" or batch.status != "kept"
            or batch.user_id != current_user.id):
        abort(404)
    if batch.created_at < utcnow() - KEPT_FOR:
        _drop(batch)
        db.session.commit()
        return None
    return batch


def _drop(batch, status="discarded"):
    """Let a kept upload go: its bytes are freed, the row stays as a trace."""
    batch.status, batch.data = status, b""


def _drop_kept():
    """Drop every file still kept for the current user."""
    for old in db.session.scalars(select(ImportBatch).where(
            ImportBatch.kind == "kept", ImportBatch.status == "kept", ImportBatch.user_id == current_user.id)):
        _drop(old)


def _keep(kept, data, filename, commune, communes):
    """Keep the bytes of an upload whose form came back with an error, so that the user can
    fix the month, the program or the commune without choosing the file again: the kept
    batch (``kept`` itself when the file was not chosen again), or ``None`` when there is
    nothing to keep. The user's other kept files are dropped. The caller commits."""
    if kept is not None and (data is None or kept.data == data):
        return kept
    unit = commune or (communes[0] if communes else None)
    if data is None or unit is None:
        return None
    _drop_kept()
    batch = ImportBatch(kind="kept", status="kept", commune_id=unit.id, filename=filename[:255],
                        sha256=hashlib.sha256(data).hexdigest(), data=data, user_id=current_user.id,
                        summary={})
    db.session.add(batch)
    db.session.flush()
    return batch


def _chosen_file(form):
    """The file chosen in this form (a ``FileStorage``) or ``None``."""
    f = form.file.data
    return f if f is not None and getattr(f, "filename", "") else None


@bp.route("/imports/new", methods=["GET", "POST"])
@roles_required(*UPLOADERS)
def upload():
    """Upload a list; nothing is written to the registry until the preview is confirmed.

    A form that comes back with an error other than the file's own (the month, the program,
    the commune; or a file that is not a list of that program or month) keeps the file on
    the server (``_keep``) and says so: sent again, with ``kept`` and no new file, it reads
    the kept one. «Chọn tệp khác» (``forget``) drops it."""
    own_area()
    form = UploadForm()
    communes = _communes()
    typed = (form.month.data or "").strip()
    form.commune_id.choices = _commune_choices(
        communes, typed if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", typed) else clock.open_month())
    problem = None
    kept = _kept_upload(form.kept.data) if request.method == "POST" else None
    expired = request.method == "POST" and bool(form.kept.data) and kept is None
    if kept is not None and request.form.get("forget"):
        _drop(kept)
        db.session.commit()
        form.kept.data = ""
        return _upload_page(form, None)
    chosen = _chosen_file(form)
    if kept is not None and chosen is None:
        form.file.validators = []  # the kept file stands for the one not chosen again
    data = filename = commune = None
    if form.validate_on_submit():
        commune = next((c for c in communes if c.id == form.commune_id.data), None)
        data, filename = (chosen.read(), chosen.filename) if chosen else (kept.data, kept.filename)
        if commune is not None and len(data) > current_app.config["JOB_IMPORT_BYTES"]:
            if kept is not None:
                _drop(kept, "used")
            return _read_later(commune, form, data, filename)
        try:
            parsed = imports.parse(data, filename, form.program.data or None,
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
            data = None  # the file itself is wrong: another one is to be chosen
            if kept is not None:
                _drop(kept)
                kept = None
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
                                month=parsed.month, filename=filename[:255],
                                sha256=hashlib.sha256(data).hexdigest(), data=data,
                                user_id=current_user.id, summary=plan.snapshot())
            db.session.add(batch)
            if kept is not None:
                _drop(kept, "used")
            _drop_kept()  # any other file kept for this user: a list went on
            db.session.commit()
            return see_other("imports.preview", batch_id=batch.id)
    elif request.method == "POST" and chosen is not None and not form.file.errors:
        data, filename = chosen.read(), chosen.filename  # another field was wrong: keep the file
        commune = next((c for c in communes if c.id == form.commune_id.data), None)
    if problem:
        form.file.errors = list(form.file.errors) + [problem]
    if expired and chosen is None:
        form.file.errors = [_("Tệp đã tải lên trước đó đã hết hạn (sau 24 giờ): chọn lại tệp.")]
    if request.method == "POST":
        kept = _keep(kept, data, filename, commune, communes) if (data is not None or kept) else None
        db.session.commit()
    return _upload_page(form, kept)


def _upload_page(form, kept):
    """The upload form (422 with its errors), with the kept file when there is one."""
    form.kept.data = str(kept.id) if kept is not None else ""
    recent = db.session.scalars(scope.scoped(select(ImportBatch).where(ImportBatch.kind == "list"),
                                             current_user, ImportBatch.commune_id)
                                .order_by(ImportBatch.id.desc()).limit(10)).all()
    return render("imports/upload.html", form=form, recent=recent, kept=kept,
                  kept_size=len(kept.data) if kept is not None else 0,
                  status=422 if form.errors else 200)


def _read_later(commune, form, data, filename):
    """A big file: keep it (batch ``reading``) and read it in a job; the user follows the
    job's page, which goes on to the preview."""
    batch = ImportBatch(commune_id=commune.id, program=form.program.data or None,
                        month=(form.month.data or "").strip() or None,
                        filename=filename[:255], sha256=hashlib.sha256(data).hexdigest(),
                        data=data, user_id=current_user.id, status="reading", summary={})
    db.session.add(batch)
    db.session.commit()
    job = jobs.submit("import_read", current_user, commune, {"batch_id": batch.id, "back": url_for("imports.upload")},
                      _("Đọc danh sách %(file)s", file=batch.filename))
    _note_job(batch, job, "reading")
    return see_other("jobs.show", job_id=job.id)


def _note_job(batch, job, status):
    """Write ``job``'s id into ``batch``'s summary if the batch is still in ``status`` (the
    job has not run yet: a worker that ran it wrote its own summary, kept)."""
    db.session.execute(update(ImportBatch).where(ImportBatch.id == batch.id, ImportBatch.status == status)
                       .values(summary=dict(batch.summary or {}) | {"job_id": job.id}))
    db.session.commit()


@jobs.handler("import_read", roles=UPLOADERS)
def _read_job(job, progress):
    """Read, check and match a kept file (``params``: ``batch_id``), as the upload does for a
    small one; the batch becomes a preview, or ``failed`` with the reason (its job can be
    retried: a reader that hit its ceiling on a busy machine may pass the next time)."""
    batch = db.session.get(ImportBatch, job.params["batch_id"])
    if batch.status not in ("reading", "failed"):  # read already (the job ran before its end was recorded)
        return {"endpoint": "imports.preview", "args": {"batch_id": batch.id}}
    progress(0, 3, _("Đọc tệp"))
    try:
        parsed = imports.parse(batch.data, batch.filename, batch.program, batch.month)
        if parsed.month is None:
            raise imports.ImportRefused(
                "no_month", _("Tiêu đề tệp không ghi tháng: tải lại tệp và nhập tháng của danh sách "
                              "(ví dụ 2024-05)."), field="month")
        imports.check_month(parsed.month, batch.program or parsed.program)
        progress(1, 3, _("Đối chiếu với sổ"))
        plan = imports.plan(parsed, batch.commune, batch.program)
        imports.check_reach(plan, job.user)
    except (imports.FileProblem, imports.ImportRefused) as e:
        batch.status = "failed"  # kept: «Thử lại» reads it again (a reader's ceiling, say)
        batch.summary = {"job_id": job.id, "error": e.message}
        db.session.commit()
        # Only a reader stopped at its ceiling (a busy machine) may pass another time.
        raise jobs.JobError(e.message, final=getattr(e, "code", None) != "memory")
    batch.commune_id, batch.month = plan.commune.id, parsed.month
    batch.program = batch.program or parsed.program
    batch.summary = plan.snapshot() | {"job_id": job.id}
    batch.status = "preview"
    db.session.commit()
    return {"endpoint": "imports.preview", "args": {"batch_id": batch.id}}


SEVERITY_ORDER = {"error": 0, "warning": 1}  # errors first, then warnings, then the rest


def issues_page(issues, page, per_page=ISSUES_PER_PAGE):
    """One page of an import's ``issues`` (dicts with ``severity``): errors first, then
    warnings, then notes, each kind in the file's order. Returns ``(rows, counts, page)``:
    ``counts`` maps severity → number over the whole list, ``page`` the page shown (clamped
    to the last one)."""
    counts = {}
    for i in issues:
        counts[i.get("severity")] = counts.get(i.get("severity"), 0) + 1
    ordered = sorted(issues, key=lambda i: SEVERITY_ORDER.get(i.get("severity"), 2))
    last = max(1, (len(ordered) + per_page - 1) // per_page)
    page = min(page, last)
    return ordered[(page - 1) * per_page:page * per_page], counts, page


def _preview(batch, form, status=200):
    report = batch.summary or {}
    issues, counts, page = issues_page(report.get("issues") or [], page_arg(per_page=ISSUES_PER_PAGE))
    if not form.new_from.data:
        form.new_from.data = batch.month
    return render("imports/preview.html", batch=batch, report=report, form=form, issues=issues,
                  issue_counts=counts, issues_page=page, issues_per_page=ISSUES_PER_PAGE, status=status)


@bp.route("/imports/<int:batch_id>")
@roles_required(*UPLOADERS)
def preview(batch_id):
    """What the file would add, change and leave alone, and every problem by sheet, row, column."""
    batch = _list_batch(batch_id)
    job = _running_job(batch)
    if job is None and batch.status in ("reading", "failed"):  # no preview: its job says why
        job_id = (batch.summary or {}).get("job_id")
        job = jobs.get_visible(job_id, current_user) if job_id else None
        if job is None:
            abort(404)
    if job is not None:
        return see_other("jobs.show", job_id=job.id)
    return _preview(batch, ConfirmForm())


def _running_job(batch):
    """The job reading or writing ``batch`` while it is queued or running, else ``None``."""
    job_id = (batch.summary or {}).get("job_id")
    job = jobs.get_visible(job_id, current_user) if job_id else None
    return job if job is not None and job.status in ("queued", "running") else None


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
    if not valid or _running_job(batch) is not None:
        flash(_("Danh sách này đã được xử lý."), "info")
        return see_other("imports.preview", batch_id=batch.id)
    if (batch.summary or {}).get("rows", 0) > current_app.config["JOB_ROWS"]:
        job = jobs.submit("import_commit", current_user, batch.commune, {
            "batch_id": batch.id, "create_villages": bool(form.create_villages.data),
            "new_grant": grant.as_dict() if grant else None, "back": url_for("imports.upload")},
            _("Ghi danh sách %(file)s", file=batch.filename))
        _note_job(batch, job, "preview")
        return see_other("jobs.show", job_id=job.id)
    try:
        counts = _write(batch, current_user, form.create_villages.data, grant)
    except imports.ImportRefused as e:  # the registry moved since the preview (a village)
        db.session.rollback()  # the claim too: the batch can be confirmed again
        return _refuse(batch, form, e)
    except _AlreadyDone:
        flash(_("Danh sách này đã được xử lý."), "info")
        return see_other("imports.preview", batch_id=batch.id)
    except Exception:
        db.session.rollback()  # the claim is rolled back too: the batch can be confirmed again
        current_app.logger.exception("import %s failed", batch_id)
        flash(_("Không ghi được danh sách: chưa có gì thay đổi. Vui lòng thử lại."), "error")
        return see_other("imports.preview", batch_id=batch_id)
    for message, category in _written(counts):
        flash(message, category)
    return redirect(url_for("progress.commune", area_id=batch.commune_id), code=303)


class _AlreadyDone(Exception):
    """The batch left ``preview`` before this write could claim it."""


def _write(batch, user, create_villages, grant, progress=None, job_id=None):
    """Claim ``batch`` and write it in one transaction (all or nothing), then commit.
    Returns the counts of ``imports.commit``. Raises ``_AlreadyDone`` when the batch is no
    longer a preview, ``imports.ImportRefused`` when the registry moved since the preview."""
    if not imports.claim(batch, "committing"):
        raise _AlreadyDone()
    if progress:
        progress(0, 3, _("Đọc lại tệp"))
    plan = _plan(batch)
    batch.commune_id = plan.commune.id  # the same unit as the preview's (resolve_commune)
    if progress:
        progress(1, 3, _("Ghi vào sổ"))
    counts = imports.commit(plan, user, batch, create_villages=create_villages, new_grant=grant)
    if counts["refresh_from"]:  # the drafts follow the grants and the changes the list states
        payments.refresh_drafts(plan.units, plan.program, counts["refresh_from"], user)
    if progress:
        progress(2, 3, _("Kiểm tra dữ liệu"))
    checks.recheck(plan.record_ids())
    batch.status, batch.committed_at = "committed", utcnow()
    # The preview's commune facts: the unit chosen then, and how the file named this one.
    chose = {k: v for k, v in (batch.summary or {}).items()
             if k in ("commune_chosen", "commune_source", "commune_named")}
    if job_id:
        chose["job_id"] = job_id
    batch.summary = plan.snapshot() | chose | {"increases": counts["increases"],
                                       "new_grant": grant.as_dict() if grant else None,
                                       "proposed": counts["proposed"],
                                       "not_proposed": counts["not_proposed"]}
    db.session.commit()
    return counts


def _written(counts):
    """The messages (text, category) that say what a write did."""
    out = [(_("Đã nhập: thêm %(added)s, cập nhật %(changed)s, giữ nguyên %(unchanged)s.", **counts), "success")]
    if counts["proposed"]:
        out.append((_("%(n)s thay đổi danh sách ghi (chết, chuyển đi, thôi hưởng, tạm dừng) đã thành đề nghị "
                      "chờ quyết định; chi trả của những người này bị chặn từ tháng hiệu lực.",
                      n=counts["proposed"]), "info"))
    return out


@jobs.handler("import_commit", roles=UPLOADERS)
def _write_job(job, progress):
    """Write a previewed batch (``params``: ``batch_id``, ``create_villages``, ``new_grant``
    as ``NewGrant.as_dict``) as the confirm does for a small one."""
    batch = db.session.get(ImportBatch, job.params["batch_id"])
    if batch.status == "committed":  # written already (a job sent twice, or that ran before its end was recorded)
        return {"endpoint": "progress.commune", "args": {"area_id": batch.commune_id},
                "message": _("Danh sách này đã được ghi; không ghi lại.")}
    g = job.params.get("new_grant")
    grant = imports.NewGrant.from_dict(g) if g else None
    try:
        counts = _write(batch, job.user, job.params.get("create_villages"), grant, progress, job.id)
    except _AlreadyDone:
        raise jobs.JobError(_("Danh sách này đã được xử lý (đã ghi hoặc đã hủy)."), final=True)
    except imports.ImportRefused as e:
        raise jobs.JobError(e.message + " " + _("Mở lại trang xem trước để chọn lại."), final=True)
    return {"endpoint": "progress.commune", "args": {"area_id": batch.commune_id},
            "message": " ".join(m for m, _c in _written(counts))}


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
