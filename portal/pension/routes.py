"""Chuyển sang hưu trí xã hội: the commune's elderly BTXH beneficiaries who can move to the
social pension in a month, and the form that records each move (Decree 176/2025/NĐ-CP)."""
from flask import flash
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..models import Beneficiary
from ..services import changes, clock, months, payments, pension
from ..services.areas import communes_below
from ..web import get_or_404, month_arg, page_arg, render, roles_required, see_other
from . import bp
from .forms import TransferForm

RECORDERS = ("commune", "chairman")  # the officer records the decision; the chairman decides
PER_PAGE = 20


def _communes(month):
    area = current_user.area
    if area is None:
        return []
    return [area] if area.level == "commune" else communes_below(area, on=months.start(month))


def _page(month, error=None, failed=None, status=200):
    """The candidates of ``month`` with a form each; ``failed``: ``(beneficiary id, form)``
    of a move that could not be recorded (its form keeps what was typed, with the errors)."""
    found, page = [], page_arg(per_page=PER_PAGE)
    if month is not None:
        found = pension.transfer_candidates([c.id for c in _communes(month)], month)
    shown = found[(page - 1) * PER_PAGE:page * PER_PAGE]
    forms = {c.beneficiary.id: TransferForm(prefix=f"t{c.beneficiary.id}",
                                            data={"month": month, "decision_date": clock.working_day()})
             for c in shown}
    if failed is not None:
        bid, form = failed
        forms[bid] = form
        if bid not in {c.beneficiary.id for c in shown}:
            shown = [c for c in found if c.beneficiary.id == bid] + shown
    return render("pension/transfers.html", month=month, error=error, found=shown, total=len(found),
                  page=page, per_page=PER_PAGE, forms=forms, failed=failed,
                  decider=changes.deciding_role(months.start(month)) if month else None,
                  first=pension.FIRST_MONTH, status=status)


@bp.route("/pension/transfers")
@roles_required(*RECORDERS)
def transfers():
    """The elderly BTXH beneficiaries of the user's commune who can move to the social
    pension in ``?month=YYYY-MM`` (default the open month; a bad month answers 400): those
    who meet its conditions and whose BTXH amount is not higher than its level, with a
    form each to record the decision."""
    month, error = month_arg()  # the same check as every page that takes a month
    return _page(None if error else month, error, status=400 if error else 200)


@bp.route("/pension/transfers/<int:bid>", methods=["POST"])
@roles_required(*RECORDERS)
def transfer(bid):
    """Record one person's move to the social pension from the form's month: the BTXH
    record stops, the HTXH record starts, one decision; the draft lists follow. Back to the
    page (303) with a confirmation, or the page again (422) with the form's errors."""
    b = get_or_404(Beneficiary, bid)
    form = TransferForm(prefix=f"t{bid}")
    month = form.month.data if form.month.data and not form.month.errors else None
    if form.validate_on_submit():
        try:
            stop, new, grant = pension.transfer(b, current_user, form.month.data, form.decision_number.data,
                                                form.decision_date.data)
            payments.refresh_for_decision(stop, current_user)
            payments.refresh_for_decision(grant, current_user)
            db.session.commit()
            flash(_("Đã chuyển %(name)s sang hưu trí xã hội từ tháng %(month)s.", name=b.full_name,
                    month=months.label(form.month.data)), "success")
            return see_other("pension.transfers", month=form.month.data)
        except (pension.PensionError, changes.ChangeError) as e:
            db.session.rollback()
            target = form[e.field] if e.field in ("decision_number", "decision_date") else form.decision_number
            target.errors = list(target.errors) + [str(e)]
    try:
        month = months.parse(form.month.data or "")
    except ValueError:
        month = None
    return _page(month, None if month else _("Chọn tháng."), failed=(bid, form), status=422)
