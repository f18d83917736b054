import hashlib
from itertools import groupby

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms.fields import SelectChoice

from ..extensions import db
from ..models import Beneficiary, ImportBatch, PaymentLine, PaymentPeriod, utcnow
from ..services import clock, jobs, months, payments, progress, results, scope
from ..services.areas import communes_below, subtree_ids
from ..services.imports import claim
from ..sheets.reader import FileProblem
from ..web import (download, get_or_404, is_long, month_arg, page_arg, render, roles_required, see_other,
                   wants_fragment)
from . import bp
from .forms import (ALL_COMMUNES, RESULT_LABELS, BulkHoldForm, ConfirmForm, HoldForm, OpenForm, ResultForm,
                    ResultsConfirmForm, ResultsUploadForm)

PREPARERS = ("commune", "district", "province")
LINES_PER_PAGE = 50
GROUPS_PER_PAGE = 50  # lists (commune × program) per index page: a district has 44 a month


def _communes():
    return communes_below(current_user.area, on=progress.campaign_day()) if current_user.area else []


@bp.route("/payments", methods=["GET", "POST"])
@roles_required(*PREPARERS, "payer")
def index():
    """Every payment list of the user's scope (``scope.area_ids``: the communes below their
    area, in force or ended, and the old communes merged into it), newest month first, 50
    lists a page; ``?month=YYYY-MM`` keeps that month's (a bad month: 400 with the message,
    :func:`portal.web.month_arg`). Also the form to open a month's lists (the payment
    provider sees the locked lists, to record results)."""
    communes = _communes()
    payer = current_user.role == "payer"
    if payer and request.method == "POST":
        abort(403)
    form = None
    if not payer and current_user.area is not None:  # a national user opens no list
        form = OpenForm(data={"month": clock.open_month()})
        form.commune_id.choices = [SelectChoice(c.id, c.full_name) for c in communes]
        if current_user.area is not None and current_user.area.level != "commune":
            form.commune_id.choices.insert(0, SelectChoice(ALL_COMMUNES, _("Tất cả xã")))
        if form.validate_on_submit():
            done = _open(form, communes)
            if done is not None:
                return done
    month, month_error = month_arg(default=None)
    page = page_arg(per_page=GROUPS_PER_PAGE)
    groups, total = ([], 0) if month_error else payments.list_page(
        scope.area_ids(current_user), page, GROUPS_PER_PAGE, locked_only=payer, month=month)
    by_month = [(m, list(items)) for m, items in groupby(groups, key=lambda g: g.month)]
    status = 422 if form is not None and form.errors else 400 if month_error else 200
    return render("payments/index.html", form=form, by_month=by_month, total=total, page=page,
                  per_page=GROUPS_PER_PAGE, upload=ResultsUploadForm() if payer else None,
                  recent_jobs=[] if payer else jobs.recent(current_user, "build_lists"),
                  month=month, month_error=month_error, status=status)


def _open(form, communes):
    """Build what the open form asks; a redirect, or ``None`` after putting the errors on
    the form's fields (nothing is kept then)."""
    programs = form.programs()
    if form.commune_id.data == ALL_COMMUNES:
        # Every commune of the area that has no list for the month yet: a province's (or a
        # big district's) in a background job, its page then leads to the month's lists.
        area = current_user.area
        if is_long(db.session.scalar(select(func.count(Beneficiary.id)).where(
                Beneficiary.status == "active", Beneficiary.commune_id.in_(subtree_ids([area]))))):
            try:
                payments.check_month(form.month.data)
            except payments.PeriodError as e:
                form.month.errors = list(form.month.errors) + [str(e)]
                return None
            job = jobs.submit("build_lists", current_user, area, {
                "month": form.month.data, "programs": programs, "back": url_for("payments.index")},
                _("Lập danh sách chi trả tháng %(month)s — %(area)s", month=months.label(form.month.data),
                  area=area.full_name))
            return see_other("jobs.show", job_id=job.id)
        try:
            built, skipped = payments.build_area(current_user.area, form.month.data, programs, current_user)
        except payments.PeriodError as e:
            db.session.rollback()
            form.month.errors = list(form.month.errors) + [str(e)]
            return None
        db.session.commit()
        flash(_("Đã lập %(built)s danh sách tháng %(month)s; %(skipped)s danh sách đã có, giữ nguyên.",
                built=len(built), month=form.month.data, skipped=len(skipped)), "success")
        return see_other("payments.index")
    commune = next((c for c in communes if c.id == form.commune_id.data), None)
    if commune is None:
        return None
    built, failed = [], False
    for program in programs:  # every program asked: all the lists, or none
        try:
            built.append(payments.build(commune, form.month.data, program, current_user, form.reason.data))
        except payments.PeriodError as e:
            failed = True
            field = form.reason if e.field == "reason" else form.month
            message = f"{program}: {e}" if len(programs) > 1 else str(e)
            field.errors = list(field.errors) + [message]
    if failed:
        db.session.rollback()
        return None
    db.session.commit()
    if len(built) == 1:
        return see_other("payments.period", period_id=built[0].id)
    flash(_("Đã lập %(n)s danh sách tháng %(month)s của %(commune)s.", n=len(built), month=form.month.data,
            commune=commune.full_name), "success")
    return see_other("payments.index")


@jobs.handler("build_lists", roles=PREPARERS)
def _build_job(job, report):
    """Open ``params["month"]``'s lists of ``params["programs"]`` for every commune of
    ``job.area`` that has none yet (``payments.build_area``), in one transaction."""
    month = job.params["month"]
    report(0, None, _("Lập danh sách"))
    try:
        built, skipped = payments.build_area(job.area, month, job.params["programs"], job.user, report)
    except payments.PeriodError as e:
        raise jobs.JobError(str(e), final=True)
    db.session.commit()
    message = _("Đã lập %(built)s danh sách tháng %(month)s; %(skipped)s danh sách đã có, giữ nguyên.",
                built=len(built), month=months.label(month), skipped=len(skipped))
    return {"endpoint": "payments.index", "args": {"month": month}, "message": message,
            "built": len(built), "skipped": len(skipped)}


def _page_of(p, line, pending=False):
    """The page of the period page where ``line`` is listed (blocked lines are listed apart);
    with ``pending``, of the lines without a result (:func:`pending_only`)."""
    if line.period_id != p.id or line.status == "blocked":
        return 1
    where = ([PaymentLine.status == "listed", PaymentLine.result == "pending"] if pending
             else [PaymentLine.status != "blocked"])
    before = db.session.scalar(select(func.count()).select_from(PaymentLine).where(
        PaymentLine.period_id == p.id, PaymentLine.id < line.id, *where))
    return before // LINES_PER_PAGE + 1


def _lines(p, *where, page=None):
    """``p``'s lines matching ``where`` by id, their people loaded (one query each, not one
    per line); one page of ``LINES_PER_PAGE`` when ``page`` is given."""
    q = (select(PaymentLine).where(PaymentLine.period_id == p.id, *where)
         .options(selectinload(PaymentLine.beneficiary)).order_by(PaymentLine.id))
    if page is not None:
        q = q.limit(LINES_PER_PAGE).offset((page - 1) * LINES_PER_PAGE)
    return db.session.scalars(q).all()


def pending_only(p):
    """True when the page asks ``?result=pending`` (any other value: the whole list) on a
    locked list: only the lines to pay without a result yet are listed, with their count."""
    return p.status == "locked" and request.args.get("result") == "pending"


def _period_page(p, page=1, result_form=None, hold_form=None, line_id=None, error=None, status=200,
                 bulk_form=None, ticked=()):
    """The period page; after a refused plain POST, ``line_id``'s card carries the form as
    typed (``result_form`` or ``hold_form``) and ``error``; after a refused bulk hold,
    ``bulk_form`` as typed, its error and the lines ``ticked`` still ticked. Only the page's lines are read (a
    commune's list is 4,000 lines at a province's size, 40,000 at ten times it)."""
    newer = payments.superseded_by(p)
    totals = payments.totals(p)
    rec = payments.reconciliation(p)
    pending = pending_only(p)
    if pending:  # the payer's worklist: the lines to pay that have no result yet
        shown = rec["pending"]
        lines = _lines(p, PaymentLine.status == "listed", PaymentLine.result == "pending", page=page)
    else:
        shown = totals["listed"] + totals["held"]
        lines = _lines(p, PaymentLine.status != "blocked", page=page)  # a page fits a slow link
    takes_results = current_user.role == "payer" and p.status == "locked" and not newer
    forms = ({line.id: ResultForm(prefix=f"r{line.id}", data={"result": line.result,
                                                             "reason": line.result_reason})
              for line in lines if line.status == "listed"} if takes_results else {})
    if result_form is not None and line_id in forms:
        forms[line_id] = result_form
    preparing = p.status == "draft" and current_user.role != "payer"
    blocked = _lines(p, PaymentLine.status == "blocked") if totals["blocked"] else []
    held = _lines(p, PaymentLine.status == "held") if totals["held"] else []
    holds = {line.id: HoldForm(prefix=f"h{line.id}") for line in blocked} if preparing else {}
    if hold_form is not None and line_id in holds:
        holds[line_id] = hold_form
    owed_count, owed_amount = db.session.execute(
        select(func.count(), func.coalesce(func.sum(PaymentLine.arrears), 0))
        .where(PaymentLine.period_id == p.id, PaymentLine.status == "listed", PaymentLine.arrears != 0)).one()
    changed = payments.changed_after_lock(p) if not newer else {}
    changed_lines = _lines(p, PaymentLine.beneficiary_id.in_(list(changed))) if changed else []
    return render("payments/period.html", p=p, changed=changed, changed_lines=changed_lines, totals=totals,
                  newer=newer, preparing=preparing,
                  blocked=blocked, held=held, holds=holds, confirm=ConfirmForm(),
                  bulk=(bulk_form or BulkHoldForm(prefix="bh")) if preparing and len(blocked) > 1 else None,
                  ticked=set(ticked),
                  rec=rec, pending=pending, forms=forms, lines=lines, page=page,
                  shown=shown, per_page=LINES_PER_PAGE, error_line=line_id, error=error,
                  arrears={"count": owed_count, "amount": int(owed_amount)},
                  upload=ResultsUploadForm() if takes_results else None, status=status)


@bp.route("/payments/<int:period_id>")
@roles_required(*PREPARERS, "payer")
def period(period_id):
    """One month's list: the totals, the lines blocked by data errors, the lines held, the
    lines to pay (and the payer's result forms on a locked, current version)."""
    p = get_or_404(PaymentPeriod, period_id)
    return _period_page(p, page_arg(per_page=LINES_PER_PAGE))


def _line(p, line_id):
    line = db.session.get(PaymentLine, line_id)
    if line is None or line.period_id != p.id:
        abort(404)
    return line


@bp.route("/payments/<int:period_id>/lines/<int:line_id>/hold", methods=["POST"])
@roles_required(*PREPARERS)
def hold(period_id, line_id):
    """Hold a blocked line out of this month's payment, with a reason (required: without
    one the page comes back, 422, with the error next to the field and nothing saved)."""
    p = get_or_404(PaymentPeriod, period_id)
    line = _line(p, line_id)
    form = HoldForm(prefix=f"h{line.id}")
    if form.validate_on_submit():
        try:
            payments.hold(line, form.note.data, current_user)
            db.session.commit()
            flash(_("Đã tạm giữ: %(name)s.", name=line.beneficiary.full_name), "success")
            return see_other("payments.period", period_id=p.id, _anchor="held")
        except payments.PeriodError as e:
            db.session.rollback()
            form.note.errors = list(form.note.errors) + [str(e)]
    return _period_page(p, hold_form=form, line_id=line.id, status=422,
                        error=" ".join(str(m) for errs in form.errors.values() for m in errs))


@bp.route("/payments/<int:period_id>/hold", methods=["POST"])
@roles_required(*PREPARERS)
def hold_many(period_id):
    """Hold every blocked line ticked (``bh-line``, line ids) with one reason (``bh-note``),
    all or nothing (``payments.hold_many``): a 303 to the held lines, or the page again
    (422) with the error, the reason as typed and the lines still ticked, nothing saved.
    The same rules as one hold: a draft of the user's scope (else 404), its blocked lines."""
    p = get_or_404(PaymentPeriod, period_id)
    form = BulkHoldForm(prefix="bh")
    raw = request.form.getlist("bh-line")
    ids = [int(v) for v in raw if v.isascii() and v.isdigit() and len(v) < 12]
    if form.validate_on_submit():
        try:
            held = payments.hold_many(p, ids if len(ids) == len(raw) else ids + [0], form.note.data, current_user)
            db.session.commit()
            flash(_("Đã tạm giữ %(n)s dòng: %(note)s.", n=len(held), note=form.note.data.strip()), "success")
            return see_other("payments.period", period_id=p.id, _anchor="held")
        except payments.PeriodError as e:
            db.session.rollback()
            form.note.errors = list(form.note.errors) + [str(e)]
    return _period_page(p, bulk_form=form, ticked=ids, status=422,
                        error=" ".join(str(m) for errs in form.errors.values() for m in errs))


@bp.route("/payments/<int:period_id>/lines/<int:line_id>/release", methods=["POST"])
@roles_required(*PREPARERS)
def release(period_id, line_id):
    """Undo a hold: the line goes back to the list, or to the blocked lines while its record
    still has an open error."""
    p = get_or_404(PaymentPeriod, period_id)
    line = _line(p, line_id)
    if ConfirmForm().validate_on_submit():
        try:
            payments.release(line, current_user)
            db.session.commit()
            if line.status == "blocked":
                flash(_("Đã bỏ tạm giữ %(name)s; dòng vẫn bị chặn vì hồ sơ còn lỗi.",
                        name=line.beneficiary.full_name), "info")
            else:
                flash(_("Đã bỏ tạm giữ: %(name)s trở lại danh sách chi trả.", name=line.beneficiary.full_name),
                      "success")
        except payments.PeriodError as e:
            db.session.rollback()
            flash(str(e), "error")
    return see_other("payments.period", period_id=p.id)


@bp.route("/payments/<int:period_id>/refresh", methods=["POST"])
@roles_required(*PREPARERS)
def refresh(period_id):
    """Rebuild a draft's lines from the registry (decisions, corrections, new records since
    it was opened); the holds of people still on it are kept."""
    p = get_or_404(PaymentPeriod, period_id)
    if ConfirmForm().validate_on_submit():
        try:
            n = payments.refresh(p, current_user)
            db.session.commit()
            flash(_("Đã cập nhật danh sách theo hồ sơ: thêm %(added)s, bớt %(removed)s người.", **n), "success")
        except payments.PeriodError as e:
            db.session.rollback()
            flash(str(e), "error")
    return see_other("payments.period", period_id=p.id)


@bp.route("/payments/<int:period_id>/lock", methods=["POST"])
@roles_required(*PREPARERS)
def lock(period_id):
    """Lock the list: from now on a change needs a new version with a reason."""
    p = get_or_404(PaymentPeriod, period_id)
    try:
        payments.lock(p, current_user)
        db.session.commit()
        flash(_("Đã khóa danh sách."), "success")
    except payments.PeriodError as e:
        db.session.rollback()
        flash(str(e), "error")
    return see_other("payments.period", period_id=p.id)


def _not_for_provider(p):
    """A redirect back with the reason when ``p`` may not go to the payment provider (a
    draft, or a superseded version), else ``None``."""
    if p.status != "locked":
        flash(_("Chỉ gửi đơn vị chi trả danh sách đã khóa."), "error")
        return see_other("payments.period", period_id=p.id)
    newer = payments.superseded_by(p)
    if newer:
        flash(_("Danh sách này đã thay bằng lần %(n)s: dùng danh sách lần %(n)s.", n=newer), "error")
        return see_other("payments.period", period_id=p.id)
    return None


@bp.route("/payments/<int:period_id>/list.xlsx")
@roles_required(*PREPARERS, "payer")
def workbook(period_id):
    """The list in the administrative form, to sign."""
    p = get_or_404(PaymentPeriod, period_id)
    return download(payments.administrative_workbook(p),
                    f"danh-sach-chi-tra-{p.commune.code}-{p.program}-{p.month}-v{p.version}.xlsx")


@bp.route("/payments/<int:period_id>/provider.csv")
@roles_required(*PREPARERS, "payer")
def provider(period_id):
    """The account payments, one line each, for the payment provider."""
    p = get_or_404(PaymentPeriod, period_id)
    refused = _not_for_provider(p)
    if refused:
        return refused
    return download(payments.provider_csv(p), f"chi-tra-tai-khoan-{p.commune.code}-{p.program}-{p.month}-v{p.version}.csv", "text/csv")


@bp.route("/payments/<int:period_id>/provider.xlsx")
@roles_required(*PREPARERS, "payer")
def provider_xlsx(period_id):
    """The account payments for the payment provider, as ``.xlsx``."""
    p = get_or_404(PaymentPeriod, period_id)
    refused = _not_for_provider(p)
    if refused:
        return refused
    return download(payments.provider_workbook(p),
                    f"chi-tra-tai-khoan-{p.commune.code}-{p.program}-{p.month}-v{p.version}.xlsx")


@bp.route("/payments/<int:period_id>/lines/<int:line_id>/result", methods=["POST"])
@roles_required("payer")
def result(period_id, line_id):
    """The payment provider records one line's result; htmx swaps the row and the totals.
    Without JavaScript a saved result comes back to the line (anchor) with a confirmation,
    and a refused one re-renders the page (422) with the error in the line's card and the
    values as typed."""
    p = get_or_404(PaymentPeriod, period_id)
    line = _line(p, line_id)
    form = ResultForm(prefix=f"r{line.id}")
    error = None
    if form.validate_on_submit():
        try:
            payments.record_result(line, current_user, form.result.data, form.reason.data)
            db.session.commit()
        except payments.PeriodError as e:
            db.session.rollback()
            error = str(e)
    else:
        error = " ".join(str(m) for errs in form.errors.values() for m in errs)
    if not wants_fragment():
        pending = pending_only(p)  # sent from the lines without a result: back to them
        if error:
            return _period_page(p, _page_of(p, line, pending), result_form=form, line_id=line.id, error=error,
                                status=422)
        flash(_("Đã ghi kết quả: %(name)s · %(result)s.", name=line.beneficiary.full_name,
                result=RESULT_LABELS[line.result]), "success")
        if pending:
            return see_other("payments.period", period_id=p.id, result="pending", _anchor="list")
        page = _page_of(p, line)
        return see_other("payments.period", period_id=p.id, _anchor=f"l{line.id}",
                         **({"page": page} if page > 1 else {}))
    # The row, and out of band the reconciliation, the pending filter's count and the list's
    # title (the page's ``?result=pending`` rides on the row's hx-post).
    return render("payments/_result_row.html", p=p, line=line, form=ResultForm(prefix=f"r{line.id}"),
                  error=error, rec=payments.reconciliation(p), pending=pending_only(p), oob=True,
                  status=422 if error else 200)


# ------------------------------------------------- the provider's result file, previewed

CHANGES_PER_PAGE = 50
ERRORS_SHOWN = 100


@bp.route("/payments/results", methods=["POST"])
@roles_required("payer")
def upload_results():
    """A result file for any locked list of the area (matched by reference); preview only."""
    return _upload(None)


@bp.route("/payments/<int:period_id>/results", methods=["POST"])
@roles_required("payer")
def upload_period_results(period_id):
    """A result file for this one list; preview only."""
    p = get_or_404(PaymentPeriod, period_id)
    if p.status != "locked":
        flash(_("Chỉ ghi kết quả cho danh sách đã khóa."), "error")
        return see_other("payments.period", period_id=p.id)
    newer = payments.superseded_by(p)
    if newer:
        flash(_("Danh sách này đã thay bằng lần %(n)s: ghi kết quả vào danh sách lần %(n)s.", n=newer), "error")
        return see_other("payments.period", period_id=p.id)
    return _upload(p)


def _upload(period):
    back = {"endpoint": "payments.period", "period_id": period.id} if period else {"endpoint": "payments.index"}
    form = ResultsUploadForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for errs in form.errors.values() for e in errs), "error")
        return see_other(**back)
    data = form.file.data.read()
    try:
        plan = results.read(data, current_user, period, form.file.data.filename)
    except FileProblem as e:
        flash(e.message, "error")
        return see_other(**back)
    batch = ImportBatch(kind="results", commune_id=current_user.area_id,
                        month=period.month if period else None, program=period.program if period else None,
                        filename=(form.file.data.filename or "ket-qua")[:255], data=data,
                        sha256=hashlib.sha256(data).hexdigest(), user_id=current_user.id,
                        summary=_summary(plan, period))
    db.session.add(batch)
    db.session.commit()
    return see_other("payments.results_preview", batch_id=batch.id)


def _summary(plan, period):
    return {**plan.snapshot(), "period_id": period.id if period else None}


def _results_batch(batch_id):
    batch = get_or_404(ImportBatch, batch_id, kind="results")
    return batch


def _batch_period(batch):
    """The list a batch was uploaded for (still in the user's area), or ``None``."""
    period_id = (batch.summary or {}).get("period_id")
    if period_id is None:
        return None
    try:
        return scope.get_in_scope(PaymentPeriod, period_id, current_user)
    except scope.OutOfScope:
        abort(404)


@bp.route("/payments/results/<int:batch_id>")
@roles_required("payer")
def results_preview(batch_id):
    """What the file will record, line by line, and every row error (row and column)."""
    batch = _results_batch(batch_id)
    report = batch.summary or {}
    page = page_arg(per_page=CHANGES_PER_PAGE)
    changes = report.get("changes", [])
    return render("payments/results_preview.html", batch=batch, report=report, counts=report.get("counts", {}),
                  period=_batch_period(batch), form=ResultsConfirmForm(), discard=ConfirmForm(), page=page,
                  per_page=CHANGES_PER_PAGE, overwrites=report.get("overwrites", [])[:ERRORS_SHOWN],
                  changes=changes[(page - 1) * CHANGES_PER_PAGE:page * CHANGES_PER_PAGE],
                  errors=report.get("errors", [])[:ERRORS_SHOWN], labels=RESULT_LABELS)


@bp.route("/payments/results/<int:batch_id>/confirm", methods=["POST"])
@roles_required("payer")
def results_confirm(batch_id):
    """Record every result of the file in one transaction; any error and nothing is written.
    The rows that overwrite a recorded result only when the user ticked the box."""
    batch = _results_batch(batch_id)
    period = _batch_period(batch)
    form = ResultsConfirmForm()
    if not form.validate_on_submit() or not claim(batch, "committing"):
        flash(_("Tệp này đã được xử lý."), "info")
        return see_other("payments.results_preview", batch_id=batch.id)
    plan = None
    try:  # re-read: the lines may have changed since the preview
        plan = results.read(batch.data, current_user, period, batch.filename)
        n = results.apply(plan, current_user, overwrite=form.overwrite.data)
    except (FileProblem, results.ResultsError, payments.PeriodError) as e:
        db.session.rollback()  # the claim too: the batch stays in preview
        if plan is not None:
            batch.summary = _summary(plan, period)
            db.session.commit()
        flash(str(e), "error")
        return see_other("payments.results_preview", batch_id=batch.id)
    batch.status, batch.committed_at = "committed", utcnow()
    kept = 0 if form.overwrite.data else len(plan.overwrites)
    batch.summary = {**(batch.summary or {}), "applied": n, "kept": kept}
    db.session.commit()
    flash(_("Đã ghi %(n)s kết quả chi trả.", n=n), "success")
    if kept:
        flash(_("%(n)s dòng đã có kết quả khác được giữ nguyên (chưa đánh dấu ghi đè).", n=kept), "info")
    if period is not None:
        return see_other("payments.period", period_id=period.id)
    return see_other("payments.index")


@bp.route("/payments/results/<int:batch_id>/discard", methods=["POST"])
@roles_required("payer")
def results_discard(batch_id):
    """Drop a previewed result file without writing anything."""
    batch = _results_batch(batch_id)
    if ConfirmForm().validate_on_submit() and claim(batch, "discarded"):
        db.session.commit()
        flash(_("Đã hủy, không ghi gì."), "info")
        return see_other("payments.index")
    flash(_("Tệp này đã được xử lý."), "info")
    return see_other("payments.results_preview", batch_id=batch.id)
