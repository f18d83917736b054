"""Phát sinh tăng / giảm — the monthly changes to who is paid: stops and suspensions
(Circular 02/2021/TT-BLĐTBXH Art. 2), resumptions, new beneficiaries, moves.

A change is proposed (by the commune officer, or found by the portal: a death from the
police round, three periods without a successful payment), then decided by the level
that decides (``deciding_role``: the district before 1/7/2025, the commune chairman from
then, Decree 147/2025/NĐ-CP), with a decision number and date. Approved changes are the
ledger the payment list follows: who is paid in a month is read from them
(``states_in``), so a list built for an earlier month still pays a person stopped later.
Months are ``YYYY-MM``; amounts are ``int`` đồng.
"""
from collections import defaultdict
from datetime import date

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import (Area, Beneficiary, ChangeProposal, Event, Household, PaymentLine,
                      PaymentPeriod, Verification, utcnow)
from . import history, months
from .scope import area_ids

INCREASES = ("new", "resume", "move_in")
DECREASES = ("stop", "suspend", "move_out")
KINDS = INCREASES + DECREASES
KIND_LABELS = {"new": "Hưởng mới", "resume": "Tiếp tục hưởng", "move_in": "Chuyển đến",
               "stop": "Thôi hưởng", "suspend": "Tạm dừng", "move_out": "Chuyển đi"}
# The state a change leaves its beneficiary in, from its effective month.
STATE_AFTER = {"new": "active", "resume": "active", "move_in": "active",
               "stop": "stopped", "suspend": "suspended", "move_out": "moved"}

# Circular 02/2021/TT-BLĐTBXH Art. 2: clause → (kind, reason).
CLAUSES = {
    "1a": ("stop", "Chết hoặc bị tuyên bố mất tích"),
    "1b": ("stop", "Không còn đủ điều kiện hưởng (Nghị định 20/2021/NĐ-CP Điều 5)"),
    "1c": ("stop", "Đang chấp hành án phạt tù, hoặc cơ quan có thẩm quyền quyết định thôi hưởng"),
    "1d": ("stop", "Từ chối nhận trợ cấp"),
    "1đ": ("stop", "Sau 3 tháng tạm dừng vẫn không thực hiện yêu cầu"),
    "2a": ("stop", "Người được chăm sóc hoặc người nhận chăm sóc chết, mất tích"),
    "2b": ("stop", "Người được chăm sóc không còn đủ điều kiện hưởng"),
    "2c": ("stop", "Người nhận chăm sóc không còn đủ điều kiện (Nghị định 20/2021/NĐ-CP Điều 22–23)"),
    "2d": ("stop", "Trường hợp khác về kinh phí chăm sóc"),
    "3a": ("suspend", "Không nhận trợ cấp từ 3 tháng liên tục trở lên"),
    "3b": ("suspend", "Không thực hiện yêu cầu xác định lại điều kiện hưởng"),
    "3c": ("suspend", "Bị tạm giam từ 1 tháng trở lên"),
}
UNCOLLECTED_PERIODS = 3  # Circular 02/2021 Art. 2 cl. 3a


class ChangeError(ValueError):
    """A proposal or decision that is not allowed (Vietnamese message)."""


def deciding_role(on=None):
    """The role that decides stops, suspensions and resumptions on ``on`` (a ``date``,
    default the campaign month's first day): the configuration ``DECIDING_ROLES``, a list
    of ``(first day "YYYY-MM-DD", role)``: ``district`` before 1/7/2025, ``chairman`` (the
    commune People's Committee chairman) from then (Decree 147/2025/NĐ-CP)."""
    if on is None:
        on = months.start(current_app.config["CAMPAIGN_MONTH"])
    role = None
    for since, r in sorted(current_app.config["DECIDING_ROLES"]):
        if date.fromisoformat(since) <= on:
            role = r
    return role or "district"


def _open_exists(b, kind):
    return db.session.scalar(select(ChangeProposal.id).where(
        ChangeProposal.beneficiary_id == b.id, ChangeProposal.kind == kind,
        ChangeProposal.status == "proposed")) is not None


def propose(b, kind, user, effective_month, clause=None, reason=None, note=None,
            evidence=None, arrears_from=None, to_commune=None, source="officer"):
    """Propose a change to ``b``'s allowance from ``effective_month`` (``YYYY-MM``).

    A stop or suspension needs its ``clause`` of Circular 02/2021 Art. 2 (``1a`` … ``3c``);
    a resumption may name ``arrears_from``, the first month owed (default: the month the
    suspension took effect). Raises ``ChangeError`` on a kind or clause that does not fit,
    a bad month, or a second open proposal of the same kind. The caller commits.
    """
    if kind not in KINDS:
        raise ChangeError("Chọn loại phát sinh.")
    try:
        effective_month = months.parse(effective_month)
        arrears_from = months.parse(arrears_from) if arrears_from else None
    except ValueError as e:
        raise ChangeError(str(e)) from None
    if b.status == "merged":
        raise ChangeError("Hồ sơ đã gộp vào hồ sơ khác.")
    if kind in ("stop", "suspend"):
        if clause not in CLAUSES or CLAUSES[clause][0] != kind:
            raise ChangeError("Chọn lý do theo Thông tư 02/2021/TT-BLĐTBXH Điều 2 phù hợp với loại phát sinh.")
        if b.status in ("stopped", "moved") or (kind == "suspend" and b.status == "suspended"):
            raise ChangeError("Đối tượng không còn đang hưởng.")
    else:
        clause = None
    if kind == "resume":
        if b.status != "suspended":
            raise ChangeError("Chỉ tiếp tục hưởng cho đối tượng đang tạm dừng.")
        if arrears_from is None:
            arrears_from = db.session.scalar(
                select(ChangeProposal.effective_month).where(
                    ChangeProposal.beneficiary_id == b.id, ChangeProposal.kind == "suspend",
                    ChangeProposal.status == "approved")
                .order_by(ChangeProposal.effective_month.desc()))
    if kind == "move_out" and to_commune is not None and to_commune.id == b.commune_id:
        raise ChangeError("Xã chuyển đến trùng xã hiện tại.")
    if arrears_from and arrears_from >= effective_month:
        raise ChangeError("Truy lĩnh từ tháng phải trước tháng bắt đầu hưởng.")
    if _open_exists(b, kind):
        raise ChangeError("Đã có đề nghị cùng loại đang chờ quyết định.")
    reason = (reason or "").strip() or (CLAUSES[clause][1] if clause else KIND_LABELS[kind])
    change = ChangeProposal(
        beneficiary_id=b.id, commune_id=b.commune_id, kind=kind, clause=clause, reason=reason,
        note=(note or "").strip() or None, evidence=(evidence or "").strip() or None,
        effective_month=effective_month, arrears_from=arrears_from,
        to_commune_id=to_commune.id if to_commune is not None else None,
        source=source, user_id=user.id)
    db.session.add(change)
    db.session.add(Event(beneficiary_id=b.id, user_id=user.id, source="change", action="update",
                         field="change_proposed",
                         new_value=f"{KIND_LABELS[kind]}{' ' + clause if clause else ''} từ {months.label(effective_month)}"))
    db.session.flush()
    return change


def _move(b, to_commune, user):
    household = Household(commune_id=to_commune.id, head_name=b.full_name)
    db.session.add(household)
    db.session.flush()
    history.set_fields(b, {"commune_id": to_commune.id, "village_id": None, "household_id": household.id},
                       user, "decision")


def decide(change, user, approve, decision_number=None, decision_date=None, note=None):
    """Approve or reject a proposed change (the caller commits).

    Approval needs the decision's number and date (``datetime.date``) and applies the
    change to the record (status ``stopped`` / ``suspended`` / ``active``, or the move to
    the other commune, which then counts a ``move_in`` of its own). A rejection needs a
    ``note``. Raises ``ChangeError`` when the user's role is not the deciding one, or the
    change is already decided.
    """
    if user.role not in (deciding_role(), "system"):
        raise ChangeError("Cấp của anh/chị không có thẩm quyền quyết định việc này.")
    if change.status != "proposed":
        raise ChangeError("Đề nghị này đã được quyết định.")
    decision_number = (decision_number or "").strip() or None
    note = (note or "").strip() or None
    if approve and (not decision_number or decision_date is None):
        raise ChangeError("Ghi số và ngày quyết định.")
    if not approve and not note:
        raise ChangeError("Ghi lý do không duyệt.")
    change.status = "approved" if approve else "rejected"
    change.decision_number, change.decision_date, change.decision_note = decision_number, decision_date, note
    change.decided_by_id, change.decided_at = user.id, utcnow()
    b = change.beneficiary
    db.session.add(Event(beneficiary_id=b.id, user_id=user.id, source="decision", action="update",
                         field="change_" + change.status,
                         new_value=f"{KIND_LABELS[change.kind]} từ {months.label(change.effective_month)}"
                                   + (f", QĐ {decision_number}" if decision_number else "")))
    if approve:
        history.set_fields(b, {"status": STATE_AFTER[change.kind]}, user, "decision")
        if change.kind == "move_out" and change.to_commune is not None:
            _move(b, change.to_commune, user)
            history.set_fields(b, {"status": "active"}, user, "decision")
            db.session.add(ChangeProposal(
                beneficiary_id=b.id, commune_id=change.to_commune_id, kind="move_in",
                reason=f"Chuyển đến từ {change.commune.full_name}", effective_month=change.effective_month,
                status="approved", source="decision", user_id=user.id, decision_number=decision_number,
                decision_date=decision_date, decided_by_id=user.id, decided_at=change.decided_at))
    db.session.flush()


def record_new(b, month, user, source="import", reason=None):
    """Count a record that appears for the first time (a new decision, or a person first
    listed by the commune) as an increase from ``month``, approved as it comes."""
    db.session.add(ChangeProposal(
        beneficiary_id=b.id, commune_id=b.commune_id, kind="new",
        reason=reason or "Đối tượng mới trong danh sách của xã", effective_month=month,
        status="approved", source=source, user_id=user.id, decided_by_id=user.id, decided_at=utcnow()))


# ------------------------------------------------------------------ who is paid in a month

def states_in(beneficiary_ids, month):
    """``{id: (state, change)}`` for the records whose approved changes say something
    about ``month``: the state (``active``, ``stopped``, ``suspended``, ``moved``, or
    ``not_yet`` before a ``new`` change's month) and the change that set it. Records
    with no approved change are absent: their record's status holds."""
    out = {}
    if not beneficiary_ids:
        return out
    rows = db.session.scalars(select(ChangeProposal).where(
        ChangeProposal.beneficiary_id.in_(beneficiary_ids), ChangeProposal.status == "approved")
        .order_by(ChangeProposal.effective_month, ChangeProposal.id)).all()
    for c in rows:
        if c.effective_month <= month:
            out[c.beneficiary_id] = (STATE_AFTER[c.kind], c)
        elif c.kind == "new" and c.beneficiary_id not in out:
            out[c.beneficiary_id] = ("not_yet", c)
    return out


def final_periods(commune_ids=None, months_=None, as_of=None, program=None):
    """The select of the final payment lists: for each commune, month and program, the
    latest version locked (by ``as_of``, a ``datetime``, when given)."""
    cond = [PaymentPeriod.status == "locked"]
    if as_of is not None:
        cond.append(PaymentPeriod.locked_at <= as_of)
    if commune_ids is not None:
        cond.append(PaymentPeriod.commune_id.in_(commune_ids))
    if months_ is not None:
        cond.append(PaymentPeriod.month.in_(months_))
    if program is not None:
        cond.append(PaymentPeriod.program == program)
    latest = (select(PaymentPeriod.commune_id, PaymentPeriod.month, PaymentPeriod.program,
                     func.max(PaymentPeriod.version).label("v"))
              .where(*cond).group_by(PaymentPeriod.commune_id, PaymentPeriod.month,
                                     PaymentPeriod.program).subquery())
    return select(PaymentPeriod.id).join(latest, (PaymentPeriod.commune_id == latest.c.commune_id)
                                         & (PaymentPeriod.month == latest.c.month)
                                         & (PaymentPeriod.program == latest.c.program)
                                         & (PaymentPeriod.version == latest.c.v))


def covered_months(beneficiary_ids, program):
    """``{id: {months}}`` already on a final list for the record: a month it was listed
    in, or a month an arrears payment covered."""
    out = defaultdict(set)
    if not beneficiary_ids:
        return out
    for bid, month, since, n in db.session.execute(
            select(PaymentLine.beneficiary_id, PaymentPeriod.month, PaymentLine.arrears_from,
                   PaymentLine.arrears_months)
            .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
            .where(PaymentLine.beneficiary_id.in_(beneficiary_ids), PaymentLine.status == "listed",
                   PaymentLine.period_id.in_(final_periods(program=program)))):
        out[bid].add(month)
        if since and n:
            out[bid].update(months.between(since, month))
    return out


# ------------------------------------------------------------------ what the portal finds

def uncollected(commune_ids, month, periods=UNCOLLECTED_PERIODS):
    """Ids of records whose lines in the final lists of the ``periods`` months up to
    ``month`` were all failed or returned (Circular 02/2021 Art. 2 cl. 3a)."""
    window = [months.add(month, -i) for i in range(periods)]
    rows = db.session.execute(
        select(PaymentLine.beneficiary_id, PaymentPeriod.month, PaymentLine.result)
        .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
        .where(PaymentLine.period_id.in_(final_periods(commune_ids, window)),
               PaymentLine.status == "listed")).all()
    failed, ok = defaultdict(set), set()
    for bid, m, result in rows:
        if result in ("failed", "returned"):
            failed[bid].add(m)
        else:
            ok.add(bid)
    return sorted(bid for bid, ms in failed.items() if len(ms) == periods and bid not in ok)


def candidates(user, month):
    """What the portal sees for ``month`` in ``user``'s area, not yet proposed: deaths
    (police round or a correction), moves found by the police, and records not collected
    for three periods (cl. 3a). A list of dicts ``{"beneficiary", "kind", "clause",
    "reason", "effective_month", "source"}``."""
    ids = area_ids(user)
    base = [Beneficiary.status == "active"]
    if ids is not None:
        base.append(Beneficiary.commune_id.in_(ids))
    open_ = select(ChangeProposal.beneficiary_id).where(ChangeProposal.status == "proposed")
    out = []
    deceased = db.session.scalars(select(Beneficiary).where(
        *base, Beneficiary.deceased.is_(True), Beneficiary.id.not_in(open_))).all()
    died = dict(db.session.execute(select(Verification.beneficiary_id, func.max(Verification.died_on))
                                   .where(Verification.beneficiary_id.in_([b.id for b in deceased]))
                                   .group_by(Verification.beneficiary_id)).all())
    for b in deceased:
        day = died.get(b.id)
        out.append({"beneficiary": b, "kind": "stop", "clause": "1a", "source": "police" if day else "review",
                    "effective_month": months.after(day) if day else months.add(month, 1),
                    "reason": f"Chết ngày {day:%d/%m/%Y}" if day else CLAUSES["1a"][1]})
    moved = db.session.scalars(select(Beneficiary).join(Verification, Verification.beneficiary_id == Beneficiary.id)
                               .where(*base, Verification.result == "moved", Beneficiary.deceased.is_(False),
                                      Beneficiary.id.not_in(open_)).distinct()).all()
    for b in moved:
        out.append({"beneficiary": b, "kind": "move_out", "clause": None, "source": "police",
                    "effective_month": months.add(month, 1), "reason": "Công an xác minh đã chuyển đi"})
    commune_ids = (db.session.scalars(select(Area.id).where(Area.level == "commune", Area.id.in_(ids))).all()
                   if ids is not None else None)
    late = uncollected(commune_ids, month)
    if late:
        for b in db.session.scalars(select(Beneficiary).where(*base, Beneficiary.id.in_(late),
                                                               Beneficiary.id.not_in(open_))):
            out.append({"beneficiary": b, "kind": "suspend", "clause": "3a", "source": "check",
                        "effective_month": months.add(month, 1),
                        "reason": f"{CLAUSES['3a'][1]} (đến tháng {months.label(month)})"})
    return out


# ------------------------------------------------------------------ the month's changes

def month_changes(commune_ids, month, as_of=None, program=None):
    """The approved changes effective in ``month`` in the communes (decided by ``as_of``,
    a ``datetime``, when given), increases first, then decreases, each by commune and name."""
    cond = [ChangeProposal.status == "approved", ChangeProposal.effective_month == month,
            ChangeProposal.commune_id.in_(commune_ids)]
    if as_of is not None:
        cond.append(ChangeProposal.decided_at <= as_of)
    q = select(ChangeProposal).join(Beneficiary, Beneficiary.id == ChangeProposal.beneficiary_id).where(*cond)
    if program:
        q = q.where(Beneficiary.program == program)
    rows = db.session.scalars(q.order_by(ChangeProposal.commune_id, Beneficiary.name_folded)).all()
    return sorted(rows, key=lambda c: c.kind not in INCREASES)


def open_proposals(user):
    """Proposals waiting for a decision in ``user``'s area, oldest first."""
    q = select(ChangeProposal).where(ChangeProposal.status == "proposed")
    ids = area_ids(user)
    if ids is not None:
        q = q.where(ChangeProposal.commune_id.in_(ids))
    return db.session.scalars(q.order_by(ChangeProposal.created_at, ChangeProposal.id)).all()
