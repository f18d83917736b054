from flask import abort, current_app, flash
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields import SelectChoice

from ..extensions import db
from ..models import PaymentLine, PaymentPeriod
from ..services import payments, progress
from ..services.areas import communes_below
from ..web import download, get_or_404, render, roles_required, see_other, wants_fragment
from . import bp
from .forms import HoldForm, OpenForm, ResultForm

PREPARERS = ("commune", "district")


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
        return render("payments/index.html", form=None, periods=periods)
    form = OpenForm(data={"month": current_app.config["CAMPAIGN_MONTH"]})
    form.commune_id.choices = [SelectChoice(c.id, c.full_name) for c in communes]
    if form.validate_on_submit():
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
    forms = ({line.id: ResultForm(prefix=f"r{line.id}", data={"result": line.result,
                                                             "reason": line.result_reason})
              for line in p.lines if line.status == "listed"}
             if current_user.role == "payer" and p.status == "locked" else {})
    return render("payments/period.html", p=p, totals=payments.totals(p), hold=HoldForm(),
                  rec=payments.reconciliation(p), forms=forms)


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
