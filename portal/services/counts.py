"""The figures of a locked payment list, counted once and kept by the writes that change
them, so a report or a ranking over a province's lists reads a few rows per list instead
of every line (bench/README.md, "At province and country size", fix 1).

A list's figures (``KEYS``; people, and ``amount_*`` in đồng) are those of
``reports.figures`` for one list: ``listed`` the lines to pay, ``with_account`` those whose
person held an account, ``pending`` / ``failed`` / ``returned`` / ``paid`` by the line's
result, ``paid_cashless`` (into an account, ``own_account`` or ``proxy_account``),
``paid_cash``, ``paid_into_account_of_those_with_account``, and ``reviewed``: the people
listed with a visit (of their record, or of the record it was transferred from) between the
campaign's start and the month's end.

They are written when a list is locked (:func:`recount`), moved by a result
(:func:`result_changed`) and by a visit (:func:`before_review` / :func:`after_review`);
``PaymentPeriod.counted_at`` is the latest time among what they count, so a report made
(chốt) at or after it reads them too. A list without them (locked before migration 0012) is
counted from its lines (:func:`line_figures`) until :func:`recount` makes them.
"""
from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, exists, func, literal, or_, select

from ..extensions import db
from ..models import Beneficiary, Event, PaymentCount, PaymentLine, PaymentPeriod, Review, utcnow
from . import months

KEYS = ("listed", "amount_listed", "with_account", "pending", "failed", "returned", "paid",
        "own_account", "proxy_account", "paid_cashless", "amount_cashless", "paid_cash", "amount_cash",
        "paid_into_account_of_those_with_account", "reviewed")


def campaign_start():
    from flask import current_app
    return datetime.fromisoformat(current_app.config["CAMPAIGN_START"])


def _result(as_of):
    """The line's payment result, as recorded by ``as_of`` (its latest result event)."""
    if as_of is None:
        return PaymentLine.result
    last = (select(Event.new_value).where(Event.payment_line_id == PaymentLine.id,
                                          Event.field == "result", Event.at <= as_of)
            .order_by(Event.id.desc()).limit(1).correlate(PaymentLine).scalar_subquery())
    return func.coalesce(last, literal("pending"))


def line_contribution(has_account, recipient, result, amount, n=1):
    """``{key: int}``: what ``n`` listed lines with these values add to a list's figures
    (all but ``reviewed``); ``amount`` in đồng (amount + arrears of the lines)."""
    out = {"listed": n, "amount_listed": amount}
    if has_account:
        out["with_account"] = n
    if result in ("failed", "returned", "pending"):
        out[result] = n
    elif result == "paid_account":
        out.update(paid=n, paid_cashless=n, amount_cashless=amount)
        out["own_account" if (recipient or "self") == "self" else "proxy_account"] = n
        if has_account:
            out["paid_into_account_of_those_with_account"] = n
    elif result == "paid_cash":
        out.update(paid=n, paid_cash=n, amount_cash=amount)
    return out


def _reviewed_clause(month, as_of=None):
    """The line's person counts as reviewed in ``month``: a visit of its record, or of the
    record it was transferred from (an HTXH record opened by the BTXH transfer, Decree
    176/2025/NĐ-CP: the visits are on the BTXH record), between the campaign's start and
    the month's end (recorded by ``as_of`` when given). Needs ``Beneficiary`` joined."""
    when = [Review.visited_on >= campaign_start().date(), Review.visited_on <= months.end(month)]
    if as_of is not None:
        when.append(Review.created_at <= as_of)
    return or_(exists().where(Review.beneficiary_id == PaymentLine.beneficiary_id, *when),
               exists().where(Review.beneficiary_id == Beneficiary.transferred_from_id, *when))


def line_figures(period_ids, as_of=None):
    """``{period id: {key: int}}`` (``KEYS``, zeros included) counted from the lines of the
    given lists, their results as recorded by ``as_of`` (a naive UTC ``datetime``) when given."""
    period_ids = list(period_ids)
    out = {pid: dict.fromkeys(KEYS, 0) for pid in period_ids}
    if not period_ids:
        return out
    result = _result(as_of).label("result")
    for pid, has_account, recipient, res, n, amount in db.session.execute(
            select(PaymentLine.period_id, PaymentLine.has_account, PaymentLine.recipient_type, result,
                   func.count(), func.sum(PaymentLine.amount + PaymentLine.arrears))
            .where(PaymentLine.period_id.in_(period_ids), PaymentLine.status == "listed")
            .group_by(PaymentLine.period_id, PaymentLine.has_account, PaymentLine.recipient_type, result)):
        for k, v in line_contribution(has_account, recipient, res, int(amount or 0), n).items():
            out[pid][k] += v
    by_month = defaultdict(list)
    for pid, month in db.session.execute(select(PaymentPeriod.id, PaymentPeriod.month)
                                         .where(PaymentPeriod.id.in_(period_ids))):
        by_month[month].append(pid)
    for month, ids in by_month.items():
        for pid, n in db.session.execute(
                select(PaymentLine.period_id, func.count(func.distinct(PaymentLine.beneficiary_id)))
                .join(Beneficiary, Beneficiary.id == PaymentLine.beneficiary_id)
                .where(PaymentLine.period_id.in_(ids), PaymentLine.status == "listed",
                       _reviewed_clause(month, as_of))
                .group_by(PaymentLine.period_id)):
            out[pid]["reviewed"] = n
    return out


def stored(period_ids, as_of=None):
    """``{period id: {key: int}}`` of the given lists that have their figures stored and,
    with ``as_of``, counted by then (``counted_at <= as_of``); the others are left out."""
    ok = select(PaymentPeriod.id).where(PaymentPeriod.id.in_(list(period_ids)),
                                        PaymentPeriod.counted_at.is_not(None))
    if as_of is not None:
        ok = ok.where(PaymentPeriod.counted_at <= as_of)
    out = {}
    for pid, key, n in db.session.execute(select(PaymentCount.period_id, PaymentCount.key, PaymentCount.n)
                                          .where(PaymentCount.period_id.in_(ok))):
        out.setdefault(pid, dict.fromkeys(KEYS, 0))[key] = int(n)
    for pid in db.session.scalars(ok):  # a list with nobody on it has no rows
        out.setdefault(pid, dict.fromkeys(KEYS, 0))
    return out


def figures_of(period_ids, as_of=None):
    """``{period id: {key: int}}`` of the given lists: stored (:func:`stored`) where they can
    be, counted from the lines (:func:`line_figures`) for the rest."""
    period_ids = list(period_ids)
    out = stored(period_ids, as_of)
    out.update(line_figures([p for p in period_ids if p not in out], as_of))
    return out


def _latest_fact(period_ids):
    """``{period id: datetime}``: the latest time among what the lists' figures count: the
    lock, the results' events, the visits of the people listed."""
    out = {pid: at for pid, at in db.session.execute(
        select(PaymentPeriod.id, PaymentPeriod.locked_at).where(PaymentPeriod.id.in_(period_ids)))}
    for q in (select(PaymentLine.period_id, func.max(Event.at))
              .join(Event, Event.payment_line_id == PaymentLine.id)
              .where(PaymentLine.period_id.in_(period_ids), Event.field == "result")
              .group_by(PaymentLine.period_id),
              select(PaymentLine.period_id, func.max(Review.created_at))
              .join(Beneficiary, Beneficiary.id == PaymentLine.beneficiary_id)
              .join(Review, or_(Review.beneficiary_id == PaymentLine.beneficiary_id,
                                Review.beneficiary_id == Beneficiary.transferred_from_id))
              .where(PaymentLine.period_id.in_(period_ids), PaymentLine.status == "listed")
              .group_by(PaymentLine.period_id)):
        for pid, at in db.session.execute(q):
            if at is not None and (out.get(pid) is None or at > out[pid]):
                out[pid] = at
    return out


def recount(period_ids=None):
    """Count the figures of the given locked lists (default: every locked list) from their
    lines and store them, with ``counted_at``. Returns how many lists were counted. The
    caller commits."""
    q = select(PaymentPeriod.id).where(PaymentPeriod.status == "locked")
    if period_ids is not None:
        q = q.where(PaymentPeriod.id.in_(list(period_ids)))
    ids = list(db.session.scalars(q))
    for i in range(0, len(ids), 200):
        chunk = ids[i:i + 200]
        figures = line_figures(chunk)
        latest = _latest_fact(chunk)
        db.session.execute(delete(PaymentCount).where(PaymentCount.period_id.in_(chunk)))
        rows = [{"period_id": pid, "key": k, "n": v} for pid, f in figures.items() for k, v in f.items() if v]
        if rows:
            db.session.execute(PaymentCount.__table__.insert(), rows)
        for pid in chunk:
            db.session.execute(PaymentPeriod.__table__.update().where(PaymentPeriod.id == pid)
                               .values(counted_at=latest.get(pid) or utcnow()))
    if ids:
        db.session.expire_all()  # the periods' counted_at was written in SQL
    return len(ids)


def _add(period_id, delta, at):
    """Add ``delta`` (``{key: int}``) to a counted list's figures, in SQL (``n = n + d``: two
    writers do not lose each other's), and move its ``counted_at`` to ``at`` if later."""
    table = PaymentCount.__table__
    for key, d in delta.items():
        if not d:
            continue
        done = db.session.execute(table.update().where(table.c.period_id == period_id, table.c.key == key)
                                  .values(n=table.c.n + d)).rowcount
        if not done:
            db.session.execute(table.insert().values(period_id=period_id, key=key, n=d))
    p = PaymentPeriod.__table__
    db.session.execute(p.update().where(p.c.id == period_id, p.c.counted_at < at).values(counted_at=at))


def _counted(period_id):
    return db.session.scalar(select(PaymentPeriod.counted_at).where(PaymentPeriod.id == period_id)) is not None


def result_changed(line, old_result, at):
    """A listed line of a locked list went from ``old_result`` to ``line.result`` at ``at``
    (its event's time): move it between the list's figures. Nothing for a list not counted."""
    if line.status != "listed" or not _counted(line.period_id):
        return
    amount = line.amount + (line.arrears or 0)
    before = line_contribution(line.has_account, line.recipient_type, old_result, amount)
    after = line_contribution(line.has_account, line.recipient_type, line.result, amount)
    _add(line.period_id, {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}, at)


def _listings(beneficiary_id):
    """``{(period id, month, person id)}``: the locked lists' listed lines of the record and
    of the records transferred from it (their visits count for those)."""
    people = [beneficiary_id] + list(db.session.scalars(
        select(Beneficiary.id).where(Beneficiary.transferred_from_id == beneficiary_id)))
    return set(db.session.execute(
        select(PaymentLine.period_id, PaymentPeriod.month, PaymentLine.beneficiary_id)
        .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
        .where(PaymentLine.beneficiary_id.in_(people), PaymentLine.status == "listed",
               PaymentPeriod.status == "locked", PaymentPeriod.counted_at.is_not(None))).all())


def _reviewed_people(listings):
    """The ``(period id, person id)`` of ``listings`` whose person counts as reviewed in the
    list's month now."""
    out = set()
    for pid, month, person in listings:
        if db.session.scalar(select(func.count()).select_from(PaymentLine)
                             .join(Beneficiary, Beneficiary.id == PaymentLine.beneficiary_id)
                             .where(PaymentLine.period_id == pid, PaymentLine.beneficiary_id == person,
                                    _reviewed_clause(month))):
            out.add((pid, person))
    return out


def before_review(beneficiary_id):
    """Call before a visit of ``beneficiary_id`` is recorded; pass what it returns to
    :func:`after_review` once it is flushed."""
    listings = _listings(beneficiary_id)
    return listings, _reviewed_people(listings)


def after_review(state, at):
    """A visit recorded at ``at`` (the review's ``created_at``): the lists whose people it
    made reviewed count them."""
    listings, before = state
    gained = defaultdict(int)
    for key in _reviewed_people(listings) - before:
        gained[key[0]] += 1
    for pid, n in gained.items():
        _add(pid, {"reviewed": n}, at)
