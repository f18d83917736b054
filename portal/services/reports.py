"""Báo cáo tháng — the monthly report to the province, per commune and program, counted
from the recorded history, never from the current state of the registry.

Each figure of a month comes from what was recorded for that month: the final payment
lists (the last version locked), the accounts copied onto their lines, each line's
payment result as its events say (so a result corrected later can be counted as it stood
on a given day), the reviews recorded by the month's end, and the changes effective in the
month. ``as_of`` (a naive UTC ``datetime``) counts only what had been recorded by then: a
report made (chốt) on a day is recounted as of that day and gives the same numbers.

Keys of a row (counts of beneficiaries, amounts in ``int`` đồng):

- ``listed``: lines to pay on the final list; ``paid``: paid into an account or in cash;
- ``own_account`` / ``proxy_account``: paid into the beneficiary's own account / a
  guardian's or authorised person's;
- ``paid_cashless`` + ``amount_cashless``; ``paid_cash`` + ``amount_cash``;
- ``with_account``: listed people who hold an account (any holder), and
  ``paid_into_account_of_those_with_account`` (Directive 21/CT-TTg: 100 %);
- ``reviewed``: listed people reviewed since the campaign started, by the month's end;
- ``increases`` / ``decreases``: approved changes effective in the month.
"""
from sqlalchemy import and_, case, exists, func, literal, select

from ..extensions import db
from ..models import (Beneficiary, ChangeProposal, Event, MonthlyReport, PaymentLine,
                      PaymentPeriod, Review)
from . import changes, months
from .areas import communes_below
from .progress import PROGRAMS, campaign_start, targets

KEYS = ("paid", "own_account", "proxy_account", "paid_cashless", "amount_cashless", "paid_cash",
        "amount_cash", "with_account", "paid_into_account_of_those_with_account", "reviewed",
        "increases", "decreases")
EXTRA_KEYS = ("listed", "amount_listed", "failed", "returned", "pending")


def communes_of(area, month):
    """The communes the report of ``area`` lists for ``month``: those in force then."""
    return [area] if area.level == "commune" else communes_below(area, on=months.start(month))


def _result(as_of):
    """The line's payment result, as recorded by ``as_of`` (its latest result event)."""
    if as_of is None:
        return PaymentLine.result
    last = (select(Event.new_value).where(Event.payment_line_id == PaymentLine.id,
                                          Event.field == "result", Event.at <= as_of)
            .order_by(Event.id.desc()).limit(1).correlate(PaymentLine).scalar_subquery())
    return func.coalesce(last, literal("pending"))


def figures(commune_ids, month, as_of=None):
    """``{(commune id, program): {key: int}}`` for every commune and program (zeros where
    no list was locked), with ``has_list``; keys ``KEYS + EXTRA_KEYS``."""
    out = {(c, p): dict.fromkeys(KEYS + EXTRA_KEYS, 0) | {"has_list": False}
           for c in commune_ids for p in PROGRAMS}
    final = changes.final_periods(commune_ids, [month], as_of)
    for c, p in db.session.execute(select(PaymentPeriod.commune_id, PaymentPeriod.program)
                                   .where(PaymentPeriod.id.in_(final))):
        if (c, p) in out:
            out[(c, p)]["has_list"] = True
    result = _result(as_of).label("result")
    lines = (select(PaymentPeriod.commune_id, PaymentPeriod.program, PaymentLine.has_account,
                    func.coalesce(PaymentLine.recipient_type, "self").label("recipient"),
                    result, func.count().label("n"),
                    func.sum(PaymentLine.amount + PaymentLine.arrears).label("amount"))
             .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
             .where(PaymentLine.period_id.in_(final), PaymentLine.status == "listed")
             .group_by(PaymentPeriod.commune_id, PaymentPeriod.program, PaymentLine.has_account,
                       "recipient", result))
    for c, p, has_account, recipient, res, n, amount in db.session.execute(lines):
        row = out.get((c, p))
        if row is None:
            continue
        amount = int(amount or 0)
        row["listed"] += n
        row["amount_listed"] += amount
        if has_account:
            row["with_account"] += n
        if res in ("failed", "returned", "pending"):
            row[res] += n
        elif res == "paid_account":
            row["paid"] += n
            row["paid_cashless"] += n
            row["amount_cashless"] += amount
            row["own_account" if recipient == "self" else "proxy_account"] += n
            if has_account:
                row["paid_into_account_of_those_with_account"] += n
        elif res == "paid_cash":
            row["paid"] += n
            row["paid_cash"] += n
            row["amount_cash"] += amount
    review_cond = [Review.beneficiary_id == PaymentLine.beneficiary_id,
                   Review.visited_on >= campaign_start().date(), Review.visited_on <= months.end(month)]
    if as_of is not None:
        review_cond.append(Review.created_at <= as_of)
    for c, p, n in db.session.execute(
            select(PaymentPeriod.commune_id, PaymentPeriod.program,
                   func.count(func.distinct(PaymentLine.beneficiary_id)))
            .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
            .where(PaymentLine.period_id.in_(final), PaymentLine.status == "listed",
                   exists().where(and_(*review_cond)))
            .group_by(PaymentPeriod.commune_id, PaymentPeriod.program)):
        if (c, p) in out:
            out[(c, p)]["reviewed"] = n
    cond = [ChangeProposal.status == "approved", ChangeProposal.effective_month == month,
            ChangeProposal.commune_id.in_(commune_ids)]
    if as_of is not None:
        cond.append(ChangeProposal.decided_at <= as_of)
    direction = case((ChangeProposal.kind.in_(changes.INCREASES), "increases"), else_="decreases")
    for c, p, d, n in db.session.execute(
            select(ChangeProposal.commune_id, Beneficiary.program, direction, func.count())
            .join(Beneficiary, Beneficiary.id == ChangeProposal.beneficiary_id)
            .where(*cond).group_by(ChangeProposal.commune_id, Beneficiary.program, direction)):
        if (c, p) in out:
            out[(c, p)][d] += n
    return out


def rates(row, goals, program):
    """Percent rates (float, one decimal; ``None`` without a base) of a row, with targets:
    ``cashless`` (paid cashless of paid), ``paid_into_account`` (of those with an account
    paid into it), ``reviewed`` (of those listed)."""
    def pct(part, whole):
        return round(100 * part / whole, 1) if whole else None
    return {"cashless": pct(row["paid_cashless"], row["paid"]),
            "paid_into_account": pct(row["paid_into_account_of_those_with_account"], row["with_account"]),
            "reviewed": pct(row["reviewed"], row["listed"]),
            "targets": {k: goals[(program, k)] for k in ("cashless", "paid_into_account", "reviewed")}}


def monthly_report(area, month, as_of=None):
    """The report of ``area`` (a district or a commune) for ``month`` (``YYYY-MM``):
    ``{"period", "area", "area_name", "as_of", "rows": [row…], "totals": {program: row},
    "total": row}``; each row has ``commune_code``, ``commune_name``, ``program``, the
    ``KEYS`` and ``EXTRA_KEYS``, ``has_list`` and ``rates``. Totals are the sums of the
    rows. Raises ``ValueError`` on a bad month."""
    month = months.parse(month)
    communes = communes_of(area, month)
    data = figures([c.id for c in communes], month, as_of)
    goals = targets(area)
    rows, totals = [], {p: dict.fromkeys(KEYS + EXTRA_KEYS, 0) for p in PROGRAMS}
    for c in communes:
        for p in PROGRAMS:
            f = data[(c.id, p)]
            rows.append({"commune_code": c.code, "commune_name": c.full_name, "program": p, **f,
                         "rates": rates(f, goals, p)})
            for k in KEYS + EXTRA_KEYS:
                totals[p][k] += f[k]
    total = {k: sum(totals[p][k] for p in PROGRAMS) for k in KEYS + EXTRA_KEYS}
    for p in PROGRAMS:
        totals[p]["rates"] = rates(totals[p], goals, p)
    return {"period": month, "area": area.code, "area_name": area.full_name, "as_of": as_of,
            "rows": rows, "totals": totals, "total": total}


def as_json(report):
    """The report in the published shape: ``{"period", "area", "rows": [{"commune_code",
    "program", KEYS…}], "totals": {"BTXH": {KEYS…}, "NCC": {KEYS…}}}`` (counts and đồng as
    ``int``)."""
    return {"period": report["period"], "area": report["area"],
            "rows": [{"commune_code": r["commune_code"], "program": r["program"],
                      **{k: r[k] for k in KEYS}} for r in report["rows"]],
            "totals": {p: {k: t[k] for k in KEYS} for p, t in report["totals"].items()}}


def made(area, month):
    """The latest report of ``area`` for ``month`` made (chốt), or ``None``."""
    return db.session.scalars(select(MonthlyReport).where(
        MonthlyReport.area_id == area.id, MonthlyReport.month == month)
        .order_by(MonthlyReport.made_at.desc(), MonthlyReport.id.desc())).first()


def make(area, month, user):
    """Make (chốt) the report of ``area`` for ``month`` as it stands now, and keep it; its
    numbers are recounted from the history as of this moment whenever it is shown."""
    record = MonthlyReport(area_id=area.id, month=months.parse(month), made_by_id=user.id, figures={})
    db.session.add(record)
    db.session.flush()
    record.figures = as_json(monthly_report(area, month, as_of=record.made_at))
    db.session.flush()
    return record


def report_for(area, month, live=False):
    """The report to show: as made (recounted as of its making) when one was made and
    ``live`` is false, else as the history stands now. Returns ``(report, made or None)``."""
    record = None if live else made(area, month)
    return monthly_report(area, month, as_of=record.made_at if record else None), record
