import hashlib

from flask import abort, current_app, flash, request
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields import SelectChoice

from ..extensions import db
from ..models import ImportBatch, PaymentLine, PaymentPeriod, utcnow
from ..services import payments, progress, results, scope
from ..services.areas import communes_below
from ..services.imports import claim
from ..sheets.reader import FileProblem
from ..web import download, get_or_404, render, roles_required, see_other, wants_fragment
from . import bp
from .forms import (ALL_COMMUNES, RESULT_LABELS, ConfirmForm, HoldForm, OpenForm, ResultForm,
                    ResultsConfirmForm, ResultsUploadForm)

PREPARERS = ("commune", "district")
LINES_PER_PAGE = 50


def _communes():
    return communes_below(current_user.area, on=progress.campaign_day()) if current_user.area else []


@bp.route("/payments", methods=["GET", "POST"])
@roles_required(*PREPARERS, "payer")
def index():
    """The payment lists of the user's communes, and the form to open a month's list
    (the payment provider sees the locked lists, to record results)."""
    communes = _communes()
    if current_user.role == "payer":
        periods = [p for c in communes for p in payments.periods_of(c.id) if p.status == "locked"]
        return render("payments/index.html", form=None, periods=periods, upload=ResultsUploadForm())
    form = OpenForm(data={"month": current_app.config["CAMPAIGN_MONTH"]})
    form.commune_id.choices = [SelectChoice(c.id, c.full_name) for c in communes]
    if current_user.area is not None and current_user.area.level != "commune":
        form.commune_id.choices.insert(0, SelectChoice(ALL_COMMUNES, _("Tất cả xã")))
    if form.validate_on_submit():
        if form.commune_id.data == ALL_COMMUNES:
            # Every commune of the area that has no list for the month yet.
            built, skipped = payments.build_area(current_user.area, form.month.data, [form.program.data],
                                                 current_user)
            db.session.commit()
            flash(_("Đã lập %(built)s danh sách tháng %(month)s; %(skipped)s danh sách đã có, giữ nguyên.",
                    built=len(built), month=form.month.data, skipped=len(skipped)), "success")
            return see_other("payments.index")
        commune = next((c for c in communes if c.id == form.commune_id.data), None)
        if commune is not None:
            try:
                period = payments.build(commune, form.month.data, form.program.data, current_user,
                                        form.reason.data)
                db.session.commit()
                return see_other("payments.period", period_id=period.id)
            except payments.PeriodError as e:
                db.session.rollback()
                form.month.errors = list(form.month.errors) + [str(e)]
    periods = [p for c in communes for p in payments.periods_of(c.id)]
    return render("payments/index.html", form=form, periods=periods,
                  status=422 if form.errors else 200)


@bp.route("/payments/<int:period_id>")
@roles_required(*PREPARERS, "payer")
def period(period_id):
    """One month's list: the totals, the lines blocked by data errors, the lines to pay."""
    p = get_or_404(PaymentPeriod, period_id)
    shown = [line for line in p.lines if line.status != "blocked"]
    page = max(1, request.args.get("page", 1, type=int))
    lines = shown[(page - 1) * LINES_PER_PAGE:page * LINES_PER_PAGE]  # a page fits a slow link
    forms = ({line.id: ResultForm(prefix=f"r{line.id}", data={"result": line.result,
                                                             "reason": line.result_reason})
              for line in lines if line.status == "listed"}
             if current_user.role == "payer" and p.status == "locked" else {})
    owed = [line for line in p.lines if line.status == "listed" and line.arrears]
    return render("payments/period.html", p=p, totals=payments.totals(p), hold=HoldForm(),
                  rec=payments.reconciliation(p), forms=forms, lines=lines, page=page,
                  shown=len(shown), per_page=LINES_PER_PAGE,
                  arrears={"count": len(owed), "amount": sum(line.arrears for line in owed)},
                  upload=ResultsUploadForm() if current_user.role == "payer" and p.status == "locked" else None)


@bp.route("/payments/<int:period_id>/lines/<int:line_id>/hold", methods=["POST"])
@roles_required(*PREPARERS)
def hold(period_id, line_id):
    """Hold a line out of this month's payment, with a reason."""
    p = get_or_404(PaymentPeriod, period_id)
    line = db.session.get(PaymentLine, line_id)
    form = HoldForm()
    if line is not None and line.period_id == p.id and form.validate_on_submit():
        try:
            payments.hold(line, form.note.data)
            db.session.commit()
        except payments.PeriodError as e:
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
    if p.status != "locked":
        flash(_("Chỉ gửi đơn vị chi trả danh sách đã khóa."), "error")
        return see_other("payments.period", period_id=p.id)
    return download(payments.provider_csv(p), f"chi-tra-tai-khoan-{p.commune.code}-{p.program}-{p.month}-v{p.version}.csv", "text/csv")


@bp.route("/payments/<int:period_id>/provider.xlsx")
@roles_required(*PREPARERS, "payer")
def provider_xlsx(period_id):
    """The account payments for the payment provider, as ``.xlsx``."""
    p = get_or_404(PaymentPeriod, period_id)
    if p.status != "locked":
        flash(_("Chỉ gửi đơn vị chi trả danh sách đã khóa."), "error")
        return see_other("payments.period", period_id=p.id)
    return download(payments.provider_workbook(p),
                    f"chi-tra-tai-khoan-{p.commune.code}-{p.program}-{p.month}-v{p.version}.xlsx")


@bp.route("/payments/<int:period_id>/lines/<int:line_id>/result", methods=["POST"])
@roles_required("payer")
def result(period_id, line_id):
    """The payment provider records one line's result; htmx swaps the row and the totals."""
    p = get_or_404(PaymentPeriod, period_id)
    line = db.session.get(PaymentLine, line_id)
    if line is None or line.period_id != p.id:
        abort(404)
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
        if error:
            flash(error, "error")
        return see_other("payments.period", period_id=p.id, _anchor=f"l{line.id}")
    return render("payments/_result_row.html", p=p, line=line, form=ResultForm(prefix=f"r{line.id}"),
                  error=error, rec=payments.reconciliation(p), oob=True, status=422 if error else 200)


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
    batch = get_or_404(ImportBatch, batch_id)
    if batch.kind != "results":
        abort(404)
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
    page = max(request.args.get("page", 1, type=int), 1)
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
