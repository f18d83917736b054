"""Phát sinh tăng / giảm — the monthly changes to who is paid: stops and suspensions
(Circular 02/2021/TT-BLĐTBXH Art. 2), resumptions, new beneficiaries, moves.

A change is proposed (by the commune officer, or found by the portal: a death from the
police round, three periods without a successful payment), then decided by the level
that decides (``deciding_role``: the district before 1/7/2025, the commune chairman from
then, Decree 147/2025/NĐ-CP), with a decision number and date. Approved changes are the
ledger the payment list follows: who is paid in a month is read from them
(``states_in``), so a list built for an earlier month still pays a person stopped later.
Months are ``YYYY-MM``; amounts are ``int`` đồng.

The current month is the configuration ``CAMPAIGN_MONTH`` (``current_month``). A change's
effective month must lie within 12 months before and 12 months after it
(``effective_window``); a decision is dated neither in the future nor more than a year
before its effective month's first day.

The record's ``status`` is the ledger's state in the current month, never a later one: a
decision effective by the current month sets it at once; one effective later leaves it as
it is (the ledger already pays the months before it correctly), and ``apply_due`` sets it
when that month becomes current. ``apply_due`` is idempotent and cheap (one query of the
approved changes, one guarded update per record that is behind); the ``/changes`` page
runs it on every load, and anything that moves the current month on (a new
``CAMPAIGN_MONTH``) may run it too. Only decisions and merges change a status, so the
ledger is its one source; merged records are left alone. A proposal is checked against
the ledger's state in its own effective month (``state_in``), not against the status.
"""
from collections import defaultdict
from datetime import date

from flask import current_app
from openpyxl.styles import Alignment
from sqlalchemy import and_, case, false, func, insert, or_, select, true, update
from sqlalchemy.orm import contains_eager
from sqlalchemy.sql import Select

from ..extensions import db
from ..sheets.writer import FormSheet, issuer_lines
from ..models import (Area, Beneficiary, ChangeProposal, Event, Finding, Household, PaymentLine,
                      PaymentPeriod, Verification, utcnow)
from . import clock, history, months
from .areas import commune_in
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
# A stop that is no clause of Circular 02/2021 Art. 2: the elderly BTXH beneficiary moves to
# the social pension (HTXH), which pays at least as much; one person is never paid both for
# a month (Decree 176/2025/NĐ-CP; services/pension.py).
TRANSFER_REASON = "Chuyển sang hưởng trợ cấp hưu trí xã hội (Nghị định 176/2025/NĐ-CP)"


EFFECTIVE_WINDOW = 12  # months before and after the current month


class ChangeError(ValueError):
    """A proposal or decision that is not allowed (Vietnamese message); ``field`` names the
    input it is about (``kind``, ``clause``, ``effective_month``, ``arrears_from``,
    ``to_commune``, ``decision_number``, ``decision_date``, ``note``) when there is one."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def current_month():
    """The month the portal works in (``YYYY-MM``): the configuration ``CAMPAIGN_MONTH``."""
    return clock.open_month()


def effective_window(current=None):
    """``(first, last)``: the effective months a change may take, ``EFFECTIVE_WINDOW``
    months before and after ``current`` (default ``current_month()``), both included."""
    current = current or current_month()
    return months.add(current, -EFFECTIVE_WINDOW), months.add(current, EFFECTIVE_WINDOW)


def check_effective_month(month):
    """``month`` parsed (``YYYY-MM``) when it lies in ``effective_window()``; else
    ``ChangeError`` on the field ``effective_month`` naming the allowed range."""
    try:
        month = months.parse(month)
    except ValueError as e:
        raise ChangeError(str(e), "effective_month") from None
    first, last = effective_window()
    if not first <= month <= last:
        raise ChangeError(f"Tháng hiệu lực phải trong khoảng từ {months.label(first)} đến {months.label(last)} "
                          f"(12 tháng trước và sau tháng {months.label(current_month())}).", "effective_month")
    return month


def check_decision_date(day, effective_month):
    """A decision date (``datetime.date``) may not be after today, nor more than a year
    before ``effective_month``'s first day; ``ChangeError`` on ``decision_date`` else."""
    if day > date.today():
        raise ChangeError("Ngày quyết định không được sau hôm nay.", "decision_date")
    first = months.start(effective_month)
    earliest = first.replace(year=first.year - 1)
    if day < earliest:
        raise ChangeError(f"Ngày quyết định không được trước {earliest:%d/%m/%Y}: quá một năm trước "
                          f"tháng hiệu lực {months.label(effective_month)}.", "decision_date")


def deciding_role(on=None):
    """The role that decides stops, suspensions and resumptions on ``on`` (a ``date``,
    default the campaign month's first day): the configuration ``DECIDING_ROLES``, a list
    of ``(first day "YYYY-MM-DD", role)``: ``district`` before 1/7/2025, ``chairman`` (the
    commune People's Committee chairman) from then (Decree 147/2025/NĐ-CP)."""
    if on is None:
        on = months.start(clock.open_month())
    role = None
    for since, r in sorted(current_app.config["DECIDING_ROLES"]):
        if date.fromisoformat(since) <= on:
            role = r
    return role or "district"


# How a refusal names the level that decides (the roles of ``DECIDING_ROLES``).
DECIDER_NAMES = {"district": "Phòng LĐ-TB&XH huyện (Chủ tịch UBND huyện)", "chairman": "Chủ tịch UBND xã"}
# Who decides a grant in a month (``deciding_role``), as the decision's note names it
# (the imports' and the social pension's recorded decisions).
DECIDING_LEVELS = {"district": "Phòng Lao động - Thương binh và Xã hội huyện",
                   "chairman": "Chủ tịch UBND xã"}


def decider_of(change):
    """The role that decides ``change``: the one ``DECIDING_ROLES`` names for the first day
    of its effective month (a stop from 06/2025: the district; from 07/2025: the commune
    chairman, Decree 147/2025/NĐ-CP), whatever the month the portal is open at."""
    return deciding_role(months.start(change.effective_month))


def deciding_roles():
    """Every role ``DECIDING_ROLES`` names, in any period (a ``set``)."""
    return {r for _, r in current_app.config["DECIDING_ROLES"]} or {"district"}


def decided_by(role):
    """A condition on ``ChangeProposal.effective_month``: the months ``role`` decides
    (``decider_of``), as ``YYYY-MM`` ranges of ``DECIDING_ROLES``; false when it decides none."""
    entries = sorted((date.fromisoformat(since), r) for since, r in current_app.config["DECIDING_ROLES"])
    # (first month, role) from each entry: the first month whose first day is on or after it;
    # before the first entry deciding_role() answers "district".
    spans = [(None, "district")] + [(months.of(d) if d.day == 1 else months.add(months.of(d), 1), r)
                                    for d, r in entries]
    ranges = []
    for i, (lower, r) in enumerate(spans):
        upper = spans[i + 1][0] if i + 1 < len(spans) else None
        if r != role or (lower and upper and upper <= lower):
            continue
        cond = ([ChangeProposal.effective_month >= lower] if lower else []) + (
            [ChangeProposal.effective_month < upper] if upper else [])
        ranges.append(and_(*cond) if cond else true())
    return or_(*ranges) if ranges else false()


def _open_exists(b):
    return db.session.scalar(select(ChangeProposal.id).where(
        ChangeProposal.beneficiary_id == b.id, ChangeProposal.status == "proposed")) is not None


def _not_allowed(kind, status):
    """The message when a record in ``status`` (a state of ``states_in``) cannot take a
    change of ``kind``, else None."""
    if status == "not_yet":
        return "Đối tượng chưa hưởng trong tháng đó."
    if kind in ("stop", "suspend", "move_out") and status in ("stopped", "moved"):
        return "Đối tượng không còn đang hưởng."
    if kind == "suspend" and status == "suspended":
        return "Đối tượng đang tạm dừng hưởng."
    if kind == "resume" and status != "suspended":
        return "Chỉ tiếp tục hưởng cho đối tượng đang tạm dừng."
    return None


def propose(b, kind, user, effective_month, clause=None, reason=None, note=None,
            evidence=None, arrears_from=None, to_commune=None, source="officer", arrears=True,
            window=True, transfer=False):
    """Propose a change to ``b``'s allowance from ``effective_month`` (``YYYY-MM``).

    A stop or suspension needs its ``clause`` of Circular 02/2021 Art. 2 (``1a`` … ``3c``),
    except a stop with ``transfer=True``: the person moves to the social pension (no
    clause, reason ``TRANSFER_REASON``, Decree 176/2025/NĐ-CP; ``pension.transfer``);
    a resumption may name ``arrears_from``, the first month owed (default: the month the
    suspension took effect, when that is before ``effective_month``; ``arrears=False``: no
    arrears at all; a month typed may not be before that suspension's month, nor, when
    none is known, before ``effective_window()``'s first month; only increases keep it).
    A move out may name ``to_commune`` (a commune ``Area``; without it the person leaves
    the area the portal covers). Raises ``ChangeError`` on a kind or clause
    that does not fit, a bad month, a record that cannot take the change (a resumption is
    only for a suspended person), or while another proposal for the same person waits for
    its decision. The effective month must lie in ``effective_window()``; the record is
    judged by its state in that month (``state_in``: a stop approved from an earlier month
    counts even before it is due). Adds the proposal and an ``Event``; the caller commits.
    ``window=False`` lifts the window for a month a document states (a list's remark),
    which guards against a mistyped month, not against the past.
    """
    if kind not in KINDS:
        raise ChangeError("Chọn loại phát sinh.", "kind")
    if window:
        effective_month = check_effective_month(effective_month)
    else:
        try:
            effective_month = months.parse(effective_month)
        except ValueError as e:
            raise ChangeError(str(e), "effective_month") from None
    try:
        arrears_from = months.parse(arrears_from) if arrears_from and arrears else None
    except ValueError as e:
        raise ChangeError(str(e), "arrears_from") from None
    if b.status == "merged":
        raise ChangeError("Hồ sơ đã gộp vào hồ sơ khác.")
    if transfer and kind == "stop":
        clause, reason = None, TRANSFER_REASON
    elif kind in ("stop", "suspend"):
        if clause not in CLAUSES or CLAUSES[clause][0] != kind:
            raise ChangeError("Chọn lý do theo Thông tư 02/2021/TT-BLĐTBXH Điều 2 phù hợp với loại phát sinh.",
                              "clause")
    else:
        clause = None
    problem = _not_allowed(kind, state_in(b, effective_month))
    if problem:
        raise ChangeError(problem, "kind")
    if kind not in INCREASES:
        arrears_from = None
    since = None
    if kind == "resume":
        since = db.session.scalar(
            select(ChangeProposal.effective_month).where(
                ChangeProposal.beneficiary_id == b.id, ChangeProposal.kind == "suspend",
                ChangeProposal.status == "approved", ChangeProposal.effective_month < effective_month)
            .order_by(ChangeProposal.effective_month.desc()))
    if arrears_from is not None:
        floor = since or effective_window()[0]
        if arrears_from < floor:
            raise ChangeError(f"Truy lĩnh từ tháng không được trước {months.label(floor)}"
                              + (" (tháng bắt đầu tạm dừng)." if since else "."), "arrears_from")
    elif kind == "resume" and arrears:
        arrears_from = since
    home = commune_in(b.commune, effective_month)  # from 07/2025 an old commune's successor
    if kind == "move_out" and to_commune is not None and (
            to_commune.id in (b.commune_id, home.id) or to_commune.level != "commune"):
        raise ChangeError("Chọn xã chuyển đến khác xã hiện tại.", "to_commune")
    if kind != "move_out":
        to_commune = None
    if arrears_from and arrears_from >= effective_month:
        raise ChangeError("Truy lĩnh từ tháng phải trước tháng bắt đầu hưởng.", "arrears_from")
    if _open_exists(b):
        raise ChangeError("Đối tượng này đã có đề nghị đang chờ quyết định.")
    reason = (reason or "").strip() or (CLAUSES[clause][1] if clause else KIND_LABELS[kind])
    change = ChangeProposal(
        beneficiary_id=b.id, commune_id=home.id, kind=kind, clause=clause, reason=reason,
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

    Approval needs the decision's number and date (``datetime.date``: not after today,
    not more than a year before the effective month's first day). It adds the change to
    the ledger; the record's status follows at once only when the change is effective by
    the current month (``stopped`` / ``suspended`` / ``active`` / ``moved``), else when
    that month becomes current (``apply_due``). A move to another commune moves the record
    at once (the ledger pays the old commune until the move's month) and counts a
    ``move_in`` of its own. A rejection needs a ``note``. Raises ``ChangeError`` when the
    user's role is not the deciding one, the change is already decided or withdrawn, or
    (on approval) the record can no longer take it in its effective month (a resumption of
    a person no longer suspended, a stop of a person already stopped). Area scoping is the
    caller's (``get``).

    The payment lists still in draft do not follow by themselves: the lists sit above the
    decisions (``payments`` reads this ledger, never the other way round), so the caller
    (the view, the CLI, a job) calls ``payments.refresh_for_decision(change, user)`` next.
    """
    decider = decider_of(change)
    if user.role not in (decider, "system"):
        raise ChangeError(f"Đề nghị có hiệu lực từ tháng {months.label(change.effective_month)}: "
                          f"cấp quyết định là {DECIDER_NAMES.get(decider, decider)}. Cấp của anh/chị "
                          f"không có thẩm quyền quyết định việc này.")
    if change.status == "withdrawn":
        raise ChangeError("Đề nghị này đã được rút.")
    if change.status != "proposed":
        raise ChangeError("Đề nghị này đã được quyết định.")
    decision_number = (decision_number or "").strip() or None
    note = (note or "").strip() or None
    if approve and (not decision_number or decision_date is None):
        raise ChangeError("Ghi số và ngày quyết định.", "decision_number")
    if not approve and not note:
        raise ChangeError("Ghi lý do không duyệt.", "note")
    if decision_date is not None:
        check_decision_date(decision_date, change.effective_month)
    if approve:
        problem = _not_allowed(change.kind, state_in(change.beneficiary, change.effective_month))
        if problem:
            raise ChangeError(problem + " Không duyệt được đề nghị này: ghi lý do rồi bấm Không duyệt.")
    change.status = "approved" if approve else "rejected"
    change.decision_number, change.decision_date, change.decision_note = decision_number, decision_date, note
    change.decided_by_id, change.decided_at = user.id, utcnow()
    _close_stated_finding(change)
    b = change.beneficiary
    db.session.add(Event(beneficiary_id=b.id, user_id=user.id, source="decision", action="update",
                         field="change_" + change.status,
                         new_value=f"{KIND_LABELS[change.kind]} từ {months.label(change.effective_month)}"
                                   + (f", QĐ {decision_number}" if decision_number else "")))
    if approve:
        if change.kind == "move_out" and change.to_commune is not None:
            _move(b, change.to_commune, user)
            db.session.add(ChangeProposal(
                beneficiary_id=b.id, commune_id=change.to_commune_id, kind="move_in",
                reason=f"Chuyển đến từ {change.commune.full_name}", effective_month=change.effective_month,
                status="approved", source="decision", user_id=user.id, decision_number=decision_number,
                decision_date=decision_date, decided_by_id=user.id, decided_at=change.decided_at))
        db.session.flush()
        _apply(select(Beneficiary.id).where(Beneficiary.id == b.id), current_month(), user)
    db.session.flush()


def withdraw(change, user):
    """The proposer takes back their own proposal while it waits for its decision: status
    ``withdrawn`` and an ``Event`` on the record (the person can be proposed again, and the
    portal's cases show them again). Raises ``ChangeError`` once it is decided or
    withdrawn, or when another user proposed it. Area scoping is the caller's (``get``);
    the caller commits."""
    if change.status == "withdrawn":
        raise ChangeError("Đề nghị này đã được rút.")
    if change.status != "proposed":
        raise ChangeError("Đề nghị này đã được quyết định: không rút được nữa.")
    if change.user_id != user.id:
        raise ChangeError("Chỉ người lập đề nghị mới rút được đề nghị.")
    if change.source == "import":
        raise ChangeError("Đề nghị này đọc từ danh sách của xã: không rút, mà bỏ qua kèm lý do.")
    change.status = "withdrawn"
    db.session.add(Event(beneficiary_id=change.beneficiary_id, user_id=user.id, source="change",
                         action="update", field="change_withdrawn",
                         new_value=f"{KIND_LABELS[change.kind]}{' ' + change.clause if change.clause else ''}"
                                   f" từ {months.label(change.effective_month)}"))
    db.session.flush()


# ------------------------------------------------------------------ changes a list states

#: What a remark states (``portal.vn.remarks``) → (kind of change, clause of Circular
#: 02/2021/TT-BLĐTBXH Art. 2). A death is cl. 1a; a stop or suspension whose reason the
#: remark does not give takes the most common clause (1b, 3a), which the decider sees
#: with the remark quoted; a move away leaves the area the portal covers (no destination).
STATED_KINDS = {"death": ("stop", "1a"), "stop": ("stop", "1b"), "suspend": ("suspend", "3a"),
                "move_away": ("move_out", None)}
STATED_FINDING = "stated_change"


def propose_stated(b, stated, user, where=None):
    """Propose the change a commune's list states about ``b`` in a remark or status cell
    (``stated``: a :class:`portal.vn.remarks.StatedChange` with an effective month).

    The proposal (``source="import"``) quotes the remark, and an error-level finding
    ``stated_change`` opens on the record: both block the person's payment lines from the
    effective month (:func:`stated_pending`) until the deciding level approves it
    (:func:`decide`) or an officer dismisses it with a reason (:func:`dismiss`). ``where``
    ("ds.xlsx, dòng 12") goes into the proposal's evidence. The month comes from the
    document, so the window of :func:`check_effective_month` does not apply. Raises
    ``ChangeError`` as :func:`propose` does (another proposal waiting, a record already
    stopped in that month …). The caller commits.
    """
    kind, clause = STATED_KINDS[stated.kind]
    if stated.clause and stated.clause in CLAUSES and CLAUSES[stated.clause][0] == kind:
        clause = stated.clause
    reason = f"Danh sách ghi: «{stated.quote[:200]}»"
    change = propose(b, kind, user, stated.effective_month, clause=clause, reason=reason,
                     note=None if stated.clause else "Danh sách không ghi lý do: kiểm tra khoản áp dụng.",
                     evidence=where, source="import", window=False)
    db.session.add(Finding(
        beneficiary_id=b.id, code=STATED_FINDING, severity="error", field="note", source="import",
        message=f"Danh sách ghi «{stated.quote[:200]}»: {KIND_LABELS[kind].lower()} từ "
                f"{months.label(stated.effective_month)}, chờ quyết định (chặn chi trả từ tháng đó)."))
    db.session.flush()
    return change


def _close_stated_finding(change):
    if change.source == "import":
        db.session.execute(update(Finding).where(
            Finding.beneficiary_id == change.beneficiary_id, Finding.code == STATED_FINDING,
            Finding.resolved_at.is_(None)).values(resolved_at=utcnow()))


def dismiss(change, user, reason):
    """Dismiss a change read from a list (``source="import"``): the remark did not mean it
    (a relative's death, a lost card …). Needs a ``reason``; the commune's officer or the
    deciding level may dismiss; the record's lines are payable again once the drafts are
    refreshed (``payments.refresh_for_decision``). Status ``rejected`` with the reason, an
    ``Event``, the finding closed. Raises ``ChangeError`` for another kind of proposal,
    one already decided or withdrawn, a missing reason, or a role that may not. Area
    scoping is the caller's (``get``); the caller commits."""
    if change.source != "import":
        raise ChangeError("Chỉ bỏ qua được đề nghị đọc từ danh sách; đề nghị khác thì cấp có thẩm quyền "
                          "quyết định.")
    if user.role not in ("commune", decider_of(change), "system"):
        raise ChangeError("Cấp của anh/chị không bỏ qua được đề nghị này.")
    if change.status != "proposed":
        raise ChangeError("Đề nghị này đã được quyết định hoặc đã rút.")
    reason = (reason or "").strip()
    if not reason:
        raise ChangeError("Ghi lý do bỏ qua (ví dụ: ghi chú nói về người thân).", "note")
    change.status = "rejected"
    change.decision_note = reason
    change.decided_by_id, change.decided_at = user.id, utcnow()
    _close_stated_finding(change)
    db.session.add(Event(beneficiary_id=change.beneficiary_id, user_id=user.id, source="change",
                         action="update", field="change_dismissed",
                         new_value=f"{KIND_LABELS[change.kind]} từ {months.label(change.effective_month)}: "
                                   f"{reason[:200]}"))
    db.session.flush()


def stated_known(beneficiary_ids):
    """``{(beneficiary id, kind, effective month): why}`` of the changes already read from a
    list for these records (any status but withdrawn): uploading the list again proposes
    none of them anew, nor undoes a dismissal."""
    out = {}
    ids = sorted(set(beneficiary_ids))
    words = {"proposed": "đang chờ quyết định", "approved": "đã được duyệt", "rejected": "đã được bỏ qua"}
    for k in range(0, len(ids), 5000):
        for bid, kind, month, status in db.session.execute(
                select(ChangeProposal.beneficiary_id, ChangeProposal.kind, ChangeProposal.effective_month,
                       ChangeProposal.status)
                .where(ChangeProposal.beneficiary_id.in_(ids[k:k + 5000]), ChangeProposal.source == "import",
                       ChangeProposal.status != "withdrawn")):
            out[(bid, kind, month)] = (f"{KIND_LABELS[kind]} từ {months.label(month)} đã đọc từ danh sách "
                                       f"trước, {words.get(status, status)}.")
    return out


def cannot_take(b, kind, month):
    """Why ``b`` cannot take a change of ``kind`` from ``month`` now (already stopped, a
    proposal waiting …), or ``None``; reads only."""
    problem = _not_allowed(kind, state_in(b, month))
    if problem:
        return problem
    if _open_exists(b):
        return "Đối tượng này đã có đề nghị đang chờ quyết định."
    return None


def stated_pending(beneficiary_ids, month):
    """``{beneficiary id: note}``: the records whose list stated a change effective by
    ``month`` (``YYYY-MM``) that waits for its decision; their lines of that month are
    blocked. The note quotes the remark. ``beneficiary_ids``: ids, or a select of them."""
    out = {}
    if isinstance(beneficiary_ids, Select):
        chunks = [beneficiary_ids]
    else:
        ids = sorted(set(beneficiary_ids))
        chunks = [ids[k:k + 5000] for k in range(0, len(ids), 5000)]
    for chunk in chunks:
        for bid, kind, effective, reason in db.session.execute(
                select(ChangeProposal.beneficiary_id, ChangeProposal.kind, ChangeProposal.effective_month,
                       ChangeProposal.reason)
                .where(ChangeProposal.beneficiary_id.in_(chunk), ChangeProposal.source == "import",
                       ChangeProposal.status == "proposed", ChangeProposal.effective_month <= month)):
            out[bid] = (f"{reason}: chờ quyết định {KIND_LABELS[kind].lower()} từ "
                        f"{months.label(effective)}.")
    return out


def record_new(b, month, user, source="import", reason=None):
    """Count a record that appears for the first time (a new decision, or a person first
    listed by the commune) as an increase from ``month``, approved as it comes."""
    db.session.add(ChangeProposal(
        beneficiary_id=b.id, commune_id=commune_in(b.commune, month).id, kind="new",
        reason=reason or "Đối tượng mới trong danh sách của xã", effective_month=month,
        status="approved", source=source, user_id=user.id, decided_by_id=user.id, decided_at=utcnow()))


# ------------------------------------------------------------------ who is paid in a month

# The state a record is in before its first approved change takes effect.
STATE_BEFORE = {"new": "not_yet", "move_in": "not_yet", "resume": "suspended",
                "stop": "active", "suspend": "active", "move_out": "active"}


def states_in(beneficiary_ids, month):
    """``{id: (state, change)}`` for the records with approved changes: the state in
    ``month`` (``active``, ``stopped``, ``suspended``, ``moved``, or ``not_yet``: before a
    ``new`` or ``move_in`` change's month, and before a move out of another commune for a
    record that now lives in the commune it moved to) and the change that sets it (the last
    one effective by ``month``, else the first one to come). A decision applies to the
    record when it is made, so a stop approved in May from June leaves May's state
    ``active``. Records with no approved change are absent: their record's status holds.
    ``beneficiary_ids``: ids, or a select of them."""
    out = {}
    if not isinstance(beneficiary_ids, Select) and not beneficiary_ids:
        return out
    rows = db.session.execute(
        select(ChangeProposal, Beneficiary.commune_id)
        .join(Beneficiary, Beneficiary.id == ChangeProposal.beneficiary_id)
        .where(ChangeProposal.beneficiary_id.in_(beneficiary_ids), ChangeProposal.status == "approved")
        .order_by(ChangeProposal.effective_month, ChangeProposal.id)).all()
    return _fold(rows, month)


def _fold(rows, month):
    """``states_in``'s answer from ``rows`` of ``(change, the record's commune id)``
    ordered by effective month then id; ``change`` needs ``beneficiary_id``, ``kind``,
    ``effective_month`` and ``to_commune_id``."""
    out = {}
    for c, lives_in in rows:
        if c.effective_month <= month:
            out[c.beneficiary_id] = (STATE_AFTER[c.kind], c)
        elif c.beneficiary_id not in out:
            state = STATE_BEFORE[c.kind]
            if c.kind == "move_out" and c.to_commune_id is not None and c.to_commune_id == lives_in:
                state = "not_yet"  # still in the commune it moves out of
            out[c.beneficiary_id] = (state, c)
    return out


def state_in(b, month):
    """``b``'s state in ``month`` by the ledger (``states_in``), else its record's status."""
    found = states_in([b.id], month).get(b.id)
    return found[0] if found else b.status


def planned_status(b):
    """The state ``b`` is left in once every approved change has taken effect: the last
    one's (by effective month), else the record's status."""
    last = db.session.scalar(select(ChangeProposal.effective_month).where(
        ChangeProposal.beneficiary_id == b.id, ChangeProposal.status == "approved")
        .order_by(ChangeProposal.effective_month.desc()))
    return state_in(b, last) if last else b.status


def _apply(ids, month, user):
    """Set the status of the records ``ids`` (a select of beneficiary ids) to the ledger's
    state in ``month`` where it differs (merged records and ``not_yet`` left alone), each
    with its ``Event``. The update is guarded by the status read, so two runs at once
    change a record (and write its event) once. One ``UPDATE … RETURNING`` per (status
    read, new state) and one ``INSERT`` of the events, whatever the number of records (a
    month's lists start with it: ``payments.build_area``). Returns the number of records
    changed."""
    rows = db.session.execute(
        select(ChangeProposal.beneficiary_id, ChangeProposal.kind, ChangeProposal.effective_month,
               ChangeProposal.commune_id, ChangeProposal.to_commune_id, Beneficiary.commune_id.label("lives_in"),
               Beneficiary.status.label("now"))
        .join(Beneficiary, Beneficiary.id == ChangeProposal.beneficiary_id)
        .where(ChangeProposal.beneficiary_id.in_(ids), ChangeProposal.status == "approved",
               Beneficiary.status != "merged")
        .order_by(ChangeProposal.effective_month, ChangeProposal.id)).all()
    now = {r.beneficiary_id: r.now for r in rows}
    due = [(bid, state) for bid, (state, _c) in _fold(((r, r.lives_in) for r in rows), month).items()
           if state != "not_yet" and state != now[bid]]
    moves = defaultdict(list)  # (status read, new state) -> ids
    for bid, state in due:
        moves[(now[bid], state)].append(bid)
    done = set()
    for (old, state), bids in moves.items():
        for k in range(0, len(bids), 5000):
            done.update(db.session.scalars(
                update(Beneficiary).where(Beneficiary.id.in_(bids[k:k + 5000]), Beneficiary.status == old)
                .values(status=state).returning(Beneficiary.id)
                .execution_options(synchronize_session="evaluate")))
    events = [{"beneficiary_id": bid, "user_id": user.id, "source": "decision", "action": "update",
               "field": "status", "old_value": now[bid], "new_value": state} for bid, state in due if bid in done]
    if events:
        db.session.execute(insert(Event), events)
    db.session.flush()
    return len(done)


def apply_due(month=None, user=None):
    """Bring every record's status to the ledger's state in ``month`` (default the current
    month, ``CAMPAIGN_MONTH``): the changes decided ahead of their month take effect on the
    record when their month becomes current. ``user`` (default the system user) signs the
    events. Idempotent; returns the number of records changed; the caller commits."""
    # A record whose only changes are ``new`` ones is active from the first: nothing to do.
    return _apply(select(ChangeProposal.beneficiary_id).where(ChangeProposal.status == "approved",
                                                              ChangeProposal.kind != "new"),
                  month or current_month(), user or history.system_user())


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
    """What the portal sees for ``month`` in ``user``'s area, not yet proposed (no proposal
    waiting for a decision, no stop, suspension or move out approved from a later month),
    one per person, the strongest first: deaths (police round, a record marked deceased,
    or, from imports made before lists' remarks became proposals (``propose_stated``), an
    open ``deceased_in_note`` finding), moves found by the police (the latest answer), and
    records not collected for three periods (cl. 3a). A list of dicts ``{"beneficiary",
    "kind", "clause", "reason", "effective_month", "source"}``; a death's effective month
    is the month after the death when its date is known (Decree 20/2021 Art. 8(2)), else
    the month after ``month``."""
    ids = area_ids(user)
    scope_ = [Beneficiary.commune_id.in_(ids)] if ids is not None else []
    base = [Beneficiary.status == "active", *scope_]
    # Waiting for a decision, or already decided to leave from a later month (the status
    # follows only then).
    open_ = select(ChangeProposal.beneficiary_id).where(
        (ChangeProposal.status == "proposed")
        | ((ChangeProposal.status == "approved") & ChangeProposal.kind.in_(DECREASES)
           & (ChangeProposal.effective_month > min(month, current_month()))))
    out, seen = [], set()

    def add(b, **c):
        if b.id not in seen:
            seen.add(b.id)
            out.append({"beneficiary": b, **c})

    alive = [Beneficiary.status.in_(("active", "suspended")), *scope_, Beneficiary.id.not_in(open_)]
    deceased = db.session.scalars(select(Beneficiary).where(
        *alive, Beneficiary.deceased.is_(True)).order_by(Beneficiary.commune_id, Beneficiary.name_folded)).all()
    died = dict(db.session.execute(select(Verification.beneficiary_id, func.max(Verification.died_on))
                                   .where(Verification.beneficiary_id.in_([b.id for b in deceased]))
                                   .group_by(Verification.beneficiary_id)).all())
    for b in deceased:
        day = died.get(b.id)
        add(b, kind="stop", clause="1a", source="police" if day else "review",
            effective_month=months.after(day) if day else months.add(month, 1),
            reason=f"Chết ngày {day:%d/%m/%Y}" if day else CLAUSES["1a"][1])
    for b, message in db.session.execute(
            select(Beneficiary, Finding.message).join(Finding, Finding.beneficiary_id == Beneficiary.id)
            .where(*alive, Finding.code == "deceased_in_note", Finding.resolved_at.is_(None))
            .order_by(Beneficiary.commune_id, Beneficiary.name_folded)):
        add(b, kind="stop", clause="1a", source="import", effective_month=months.add(month, 1),
            reason=f"Danh sách của xã ghi: {message}")
    latest = (select(Verification.beneficiary_id, func.max(Verification.id).label("last"))
              .group_by(Verification.beneficiary_id).subquery())
    moved = db.session.scalars(
        select(Beneficiary).join(latest, latest.c.beneficiary_id == Beneficiary.id)
        .join(Verification, Verification.id == latest.c.last)
        .where(*base, Verification.result == "moved", Beneficiary.deceased.is_(False),
               Beneficiary.id.not_in(open_))
        .order_by(Beneficiary.commune_id, Beneficiary.name_folded)).all()
    for b in moved:
        add(b, kind="move_out", clause=None, source="police", effective_month=months.add(month, 1),
            reason="Đã chuyển khỏi địa bàn (công an báo khi xác minh)")
    commune_ids = (db.session.scalars(select(Area.id).where(Area.level == "commune", Area.id.in_(ids))).all()
                   if ids is not None else None)
    late = uncollected(commune_ids, month)
    if late:
        for b in db.session.scalars(select(Beneficiary).where(*base, Beneficiary.id.in_(late),
                                                               Beneficiary.id.not_in(open_))
                                    .order_by(Beneficiary.commune_id, Beneficiary.name_folded)):
            add(b, kind="suspend", clause="3a", source="check", effective_month=months.add(month, 1),
                reason=f"{CLAUSES['3a'][1]} (đến tháng {months.label(month)})")
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
    rows = db.session.scalars(q.options(contains_eager(ChangeProposal.beneficiary))
                              .order_by(ChangeProposal.commune_id, Beneficiary.name_folded)).all()
    return sorted(rows, key=lambda c: c.kind not in INCREASES)


def open_proposals(user):
    """Proposals waiting for a decision in ``user``'s area, oldest first."""
    q = select(ChangeProposal).where(ChangeProposal.status == "proposed")
    ids = area_ids(user)
    if ids is not None:
        q = q.where(ChangeProposal.commune_id.in_(ids))
    return db.session.scalars(q.order_by(ChangeProposal.created_at, ChangeProposal.id)).all()


def get(user, change_id):
    """The change ``change_id`` if it counts in a commune of ``user``'s area, else ``None``
    (views answer 404)."""
    q = select(ChangeProposal).where(ChangeProposal.id == change_id)
    ids = area_ids(user)
    if ids is not None:
        q = q.where(ChangeProposal.commune_id.in_(ids))
    return db.session.scalar(q)


def proposals(user, status=None, page=1, per_page=30, decider=None):
    """The proposals of ``user``'s area (``status``: ``proposed``, ``approved``,
    ``rejected``, ``withdrawn``, a tuple of them, or any; ``decider``: only those that role
    decides, by their effective month, ``decided_by``), without the increases the portal
    counts by itself (a new record from an import, the move in that a move out's decision
    makes): those waiting for a decision first, oldest first, then the others, newest
    first. Returns ``(rows, total)``."""
    # The increases the portal records by itself: a person an import adds from a start month
    # (``record_new``) or as a new grant, the move in a move out's decision makes. The
    # changes a list states (``propose_stated``, also source ``import``) wait here.
    cond = [ChangeProposal.source != "decision",
            ~((ChangeProposal.source == "import") & (ChangeProposal.kind == "new"))]
    if status:
        cond.append(ChangeProposal.status.in_([status] if isinstance(status, str) else status))
    if decider:
        cond.append(decided_by(decider))
    ids = area_ids(user)
    if ids is not None:
        cond.append(ChangeProposal.commune_id.in_(ids))
    total = db.session.scalar(select(func.count()).select_from(ChangeProposal).where(*cond))
    waiting = case((ChangeProposal.status == "proposed", 0), else_=1)
    rows = db.session.scalars(
        select(ChangeProposal).where(*cond)
        .order_by(waiting, case((ChangeProposal.status == "proposed", ChangeProposal.id), else_=-ChangeProposal.id))
        .limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total


def commune_ids_under(area):
    """A select of the ids of the communes in ``area``'s subtree (itself if a commune),
    whatever their validity: a past month's changes count in the communes of then."""
    return select(Area.id).where(Area.level == "commune", Area.path.startswith(area.path))


def counts_by_commune(rows):
    """``{commune id: {"increases": n, "decreases": n}}`` over ``month_changes`` rows."""
    out = defaultdict(lambda: {"increases": 0, "decreases": 0})
    for c in rows:
        out[c.commune_id]["increases" if c.kind in INCREASES else "decreases"] += 1
    return dict(out)


def is_death(change):
    """A stop for a death (Circular 02/2021 Art. 2 cl. 1a; cl. 2a for care funding)."""
    return change.kind == "stop" and change.clause in ("1a", "2a")


def month_workbook(area, month, rows, communes, program=None):
    """The month's increases and decreases (``month_changes`` rows) of ``area`` as
    ``.xlsx`` in the administrative form (Decree 30/2020/NĐ-CP): the issuing body and the
    national motto, the title with the month, Times New Roman, two sections I. TĂNG and
    II. GIẢM (beneficiary, year of birth, personal ID, commune, program, kind, reason with
    its clause of Circular 02/2021 Art. 2, from month, arrears from, decision number and
    date), the counts per commune (``communes``: the ``Area`` rows to list, each with its
    counts, zeros included) and signature blocks. Text cells are never formulas."""
    issuer = area if area.level in ("commune", "district", "province") else area.parent
    sheet = FormSheet(f"T{month[5:]}-{month[:4]}", [6, 24, 9, 15, 16, 10, 13, 34, 10, 11, 15, 12])
    put, top = sheet.put, Alignment(wrap_text=True, vertical="top")
    r = sheet.heading(issuer_lines(issuer.level, issuer.full_name), "DANH SÁCH ĐỐI TƯỢNG PHÁT SINH TĂNG, GIẢM",
                      f"Tháng {int(month[5:])} năm {month[:4]} — {area.full_name}"
                      + (f" — {program}" if program else ""), left=5, right_from=7)
    sheet.header_row(r - 1, ["STT", "Họ và tên", "Năm sinh", "Số định danh", "Xã", "Chương trình", "Loại",
                             "Lý do", "Từ tháng", "Truy lĩnh từ", "Số quyết định", "Ngày quyết định"])
    names = {a.id: a.name for a in communes}
    for title, group in (("I. TĂNG", [c for c in rows if c.kind in INCREASES]),
                         ("II. GIẢM", [c for c in rows if c.kind in DECREASES])):
        sheet.merged(r, 1, sheet.ncols, f"{title} ({len(group)} người)", align=None, bold=True, box=True)
        r += 1
        for n, c in enumerate(group, 1):
            b = c.beneficiary
            reason = (f"Khoản {c.clause}: " if c.clause else "") + c.reason
            if c.kind == "move_out" and c.to_commune is not None:
                reason += f" (đến {c.to_commune.full_name})"
            values = [n, b.full_name, b.birth_year, b.national_id or "",
                      names.get(c.commune_id) or (c.commune.name if c.commune else ""), b.program,
                      "Chết" if is_death(c) else KIND_LABELS[c.kind], reason, months.label(c.effective_month),
                      months.label(c.arrears_from) if c.arrears_from else "", c.decision_number or "",
                      f"{c.decision_date:%d/%m/%Y}" if c.decision_date else ""]
            for i, v in enumerate(values, 1):
                put(r, i, v, box=True, fmt="@" if i == 4 else None, align=top if i in (2, 8) else None)
            r += 1
    r += 1
    sheet.merged(r, 1, 5, "TỔNG HỢP THEO XÃ", align=None, bold=True)
    r += 1
    for col, h in enumerate(("STT", "Xã", "Tăng", "Giảm"), 1):
        put(r, col, h, bold=True, align=sheet.CENTRE, box=True)
    r += 1
    counts = counts_by_commune(rows)
    for n, a in enumerate(communes, 1):
        k = counts.get(a.id, {"increases": 0, "decreases": 0})
        for col, v in enumerate((n, a.full_name, k["increases"], k["decreases"]), 1):
            put(r, col, v, box=True)
        r += 1
    for col, v in enumerate(("", "Tổng cộng", sum(1 for c in rows if c.kind in INCREASES),
                             sum(1 for c in rows if c.kind in DECREASES)), 1):
        put(r, col, v, bold=True, box=True)
    sheet.signatures(r + 2, [(2, 2, "NGƯỜI LẬP BIỂU", False), (8, 8, "TRƯỞNG PHÒNG", True)]
                     if issuer.level != "commune" else
                     [(2, 2, "NGƯỜI LẬP BIỂU", False), (5, 5, "CÔNG CHỨC LĐ-TB&XH", False),
                      (10, 10, "CHỦ TỊCH", True)])
    return sheet.bytes()
