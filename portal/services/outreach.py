"""Truyền thông, vận động — outreach: communication sessions held in a commune or one of its
villages, why people refuse an account (a coded reason), when to go back, and who in a
village still needs a visit.

The reason codes and their Vietnamese labels live here only (:data:`REFUSAL_REASONS`); the
words of ``other`` are kept in ``Beneficiary.no_account_reason``. Counts are grouped in one
statement for any number of communes (a province has about 100).
"""
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Area, Beneficiary, Event, Household, OutreachSession, Setting, utcnow
from ..vn.text import nfc
from . import months

# Lý do từ chối — why a person refuses (or has no) account. Issue 13 §2.
REFUSAL_REASONS = {
    "frail": _l("Già yếu, ốm đau"),  # too old or sick to go to a bank
    "no_phone": _l("Không có điện thoại"),
    "prefers_cash": _l("Muốn nhận tiền mặt ở bưu điện"),
    "far": _l("Xa ATM, điểm giao dịch"),
    "distrust": _l("Chưa tin tưởng"),
    "other": _l("Lý do khác"),
}
NOT_GIVEN = "none"  # a refusal recorded without a reason (before the codes existed)
NOT_GIVEN_LABEL = _l("Chưa ghi lý do")
# The statuses a reason and a revisit belong to; any other status clears them.
REASON_STATUSES = ("refuses", "no_account")
EVENT_SOURCE = "outreach"
SINCE_SETTING = "outreach_since"  # written by migration 0015
SESSIONS_PER_PAGE = 20
VISITS_PER_PAGE = 100
MAX_ATTENDEES = 100_000


def reason_label(code):
    """The Vietnamese label of a reason code (``None`` → «Chưa ghi lý do»)."""
    return REFUSAL_REASONS.get(code, code) if code and code != NOT_GIVEN else NOT_GIVEN_LABEL


def check_refusal(status, reason, other_text, revisit_on, today, stored_revisit=None):
    """The errors (field → Vietnamese message) of a refusal's reason and revisit.

    ``status``: the account status submitted; ``reason``: a code of
    :data:`REFUSAL_REASONS` or ``None``; ``other_text``: the words of ``other``
    (``no_account_reason``); ``revisit_on``: ``date`` or ``None``, not before ``today``
    (``clock.working_day()``) unless it is the date already on file (``stored_revisit``:
    an old visit's revisit may have passed and is kept as it was)."""
    errors = {}
    if reason is not None and reason not in REFUSAL_REASONS:
        errors["refusal_reason"] = _l("Chọn một lý do trong danh sách.")
    elif status == "refuses" and reason is None:
        errors["refusal_reason"] = _l("Chọn lý do từ chối mở tài khoản.")
    elif reason == "other" and status in REASON_STATUSES and not other_text:
        errors["no_account_reason"] = _l("Lý do khác: ghi rõ lý do.")
    if (status in REASON_STATUSES and revisit_on is not None and revisit_on != stored_revisit
            and revisit_on < today):
        errors["revisit_on"] = _l("Ngày hẹn vận động lại không thể ở quá khứ.")
    return errors


# ------------------------------------------------------------------------------ sessions

class SessionError(ValueError):
    """A session that cannot be recorded: ``errors`` maps field → Vietnamese message."""

    def __init__(self, errors):
        super().__init__("; ".join(str(m) for m in errors.values()))
        self.errors = errors


def villages_of(commune_ids):
    """The villages (``Area`` list, by name) of the units ``commune_ids`` (a commune and the
    old communes merged into it, ``areas.member_units``)."""
    return db.session.scalars(select(Area).where(Area.parent_id.in_(commune_ids), Area.level == "village")
                              .order_by(Area.name_folded, Area.id)).all()


def add_session(commune, user, held_on, place, attendees, topic, village=None, today=None):
    """Record a session held in ``commune`` (``Area``) or in ``village`` (one of its
    villages, ``None``: the whole commune) on ``held_on`` (``date``, not after ``today``),
    at ``place`` with ``attendees`` people (0–100,000) on ``topic``; one ``Event`` (source
    ``outreach``, no beneficiary). Raises :class:`SessionError`. The caller commits."""
    errors = {}
    place, topic = nfc(place or "").strip(), nfc(topic or "").strip()
    if held_on is None:
        errors["held_on"] = _l("Nhập ngày (dd/mm/yyyy).")
    elif today is not None and held_on > today:
        errors["held_on"] = _l("Ngày tổ chức không thể ở tương lai.")
    if not place:
        errors["place"] = _l("Nhập địa điểm.")
    if attendees is None or not 0 <= attendees <= MAX_ATTENDEES:
        errors["attendees"] = _l("Số người dự là số từ 0 đến 100.000.")
    if not topic:
        errors["topic"] = _l("Nhập nội dung.")
    if errors:
        raise SessionError(errors)
    s = OutreachSession(commune_id=commune.id, village_id=village.id if village else None, held_on=held_on,
                        place=place[:200], attendees=attendees, topic=topic, user_id=user.id,
                        created_at=utcnow())
    db.session.add(s)
    db.session.flush()
    db.session.add(Event(beneficiary_id=None, user_id=user.id, source=EVENT_SOURCE, action="create",
                         field="outreach_session",
                         new_value=f"{s.id}: {commune.full_name}"
                                   f"{' › ' + village.full_name if village else ''}, {held_on:%d/%m/%Y}, "
                                   f"{place}, {attendees} người, {topic}"[:2000]))
    return s


def sessions_page(commune_id, page=1, per_page=SESSIONS_PER_PAGE):
    """``(sessions, total)``: a commune's sessions, newest first (``held_on``, then id)."""
    total = db.session.scalar(select(func.count()).select_from(OutreachSession)
                              .where(OutreachSession.commune_id == commune_id))
    rows = db.session.scalars(select(OutreachSession).where(OutreachSession.commune_id == commune_id)
                              .order_by(OutreachSession.held_on.desc(), OutreachSession.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total


# -------------------------------------------------------------------------------- counts

def refusals_by_reason(unit_ids):
    """``[(code, label, n)]``: the active records of the units ``unit_ids`` whose account
    status is ``refuses``, by reason (``none``: not given), most first. One statement."""
    reason = func.coalesce(Beneficiary.refusal_reason, NOT_GIVEN)
    rows = db.session.execute(
        select(reason, func.count()).where(Beneficiary.commune_id.in_(unit_ids), Beneficiary.status == "active",
                                           Beneficiary.account_status == "refuses")
        .group_by(reason)).all()
    order = list(REFUSAL_REASONS) + [NOT_GIVEN]
    rows = sorted(rows, key=lambda r: (-r[1], order.index(r[0]) if r[0] in order else len(order)))
    return [(code, reason_label(code), n) for code, n in rows]


def session_totals(commune_id, month, since):
    """``{"month_sessions", "month_attendees", "sessions", "attendees"}`` of a commune's
    sessions: held in ``month`` (``YYYY-MM``), and since ``since`` (``date``, the
    campaign's start). One statement."""
    first, last = months.start(month), months.end(month)
    in_month = and_(OutreachSession.held_on >= first, OutreachSession.held_on <= last)
    s = OutreachSession
    row = db.session.execute(
        select(func.sum(case((in_month, 1), else_=0)), func.sum(case((in_month, s.attendees), else_=0)),
               func.count(), func.sum(s.attendees))
        .where(s.commune_id == commune_id, s.held_on >= since)).one()
    return dict(zip(("month_sessions", "month_attendees", "sessions", "attendees"),
                    (int(v or 0) for v in row), strict=True))


def month_figures(communes, month, as_of=None):
    """The outreach of a monthly report: ``{commune_id: {"sessions", "attendees",
    "reasons": {code: n}}}`` for every commune of ``communes`` (``Area`` list, the communes
    in force in ``month``): from 07/2025 a new commune's figures include the sessions and
    people of the old communes merged into it (``areas.owners``).

    ``sessions``/``attendees``: the sessions held in ``month`` (``held_on``) and recorded
    by ``as_of`` (a made report's moment; ``None``: now). ``reasons``: the active records
    refusing or without an account, by their coded reason (:func:`_reason_counts`). Three
    statements whatever the number of communes."""
    from .areas import owners
    first, last = months.start(month), months.end(month)
    owner = owners(communes, month)
    units = list(owner)
    out = {c.id: {"sessions": 0, "attendees": 0, "reasons": {}} for c in communes}
    s = OutreachSession
    q = (select(s.commune_id, func.count(), func.sum(s.attendees))
         .where(s.commune_id.in_(units), s.held_on >= first, s.held_on <= last).group_by(s.commune_id))
    if as_of is not None:
        q = q.where(s.created_at <= as_of)
    for unit, n, people in db.session.execute(q):
        f = out[owner[unit]]
        f["sessions"] += int(n)
        f["attendees"] += int(people or 0)
    for cid, code, n in db.session.execute(_reason_counts(units, as_of)):
        reasons = out[owner[cid]]["reasons"]
        reasons[code] = reasons.get(code, 0) + int(n)
    return out


def _reason_counts(units, as_of):
    """``SELECT commune_id, reason, n``: the active records of ``units`` whose account status
    is ``refuses`` or ``no_account`` (``REASON_STATUSES``), by coded reason. ``as_of`` ``None``:
    as they stand (the commune page's count). A made report's moment: from the history as of
    then, each person's last ``refusal_reason`` and last ``account_status`` recorded by then
    (a person with no status change recorded keeps the reason); whether the record is active
    is read as it is now (a stop after the report takes its refusal out of a report opened
    again: the made figures keep what was sent)."""
    b = Beneficiary
    if as_of is None:
        return (select(b.commune_id, b.refusal_reason, func.count())
                .where(b.commune_id.in_(units), b.status == "active", b.account_status.in_(REASON_STATUSES),
                       b.refusal_reason.is_not(None))
                .group_by(b.commune_id, b.refusal_reason))

    def last(field):
        return (select(Event.beneficiary_id.label("bid"), func.max(Event.id).label("id"))
                .join(b, b.id == Event.beneficiary_id)
                .where(Event.field == field, Event.at <= as_of, b.commune_id.in_(units))
                .group_by(Event.beneficiary_id).subquery())
    reason, status = last("refusal_reason"), last("account_status")
    reason_event, status_event = aliased(Event), aliased(Event)
    return (select(b.commune_id, reason_event.new_value, func.count())
            .select_from(reason).join(reason_event, reason_event.id == reason.c.id)
            .join(b, b.id == reason.c.bid)
            .outerjoin(status, status.c.bid == reason.c.bid)
            .outerjoin(status_event, status_event.id == status.c.id)
            .where(reason_event.new_value.is_not(None), b.status == "active",
                   or_(status_event.id.is_(None), status_event.new_value.in_(REASON_STATUSES)))
            .group_by(b.commune_id, reason_event.new_value))


def counted_since():
    """When outreach began to be counted (``datetime``, UTC): the setting ``outreach_since``
    that migration 0015 wrote, else ``datetime.min`` (a database made with it). A monthly
    report made before it shows no outreach section rather than numbers it never had."""
    row = db.session.get(Setting, SINCE_SETTING)
    return datetime.fromisoformat(row.value) if row is not None else datetime.min


def month_totals(figures):
    """The sum of :func:`month_figures`' communes: ``{"sessions", "attendees", "reasons"}``."""
    total = {"sessions": 0, "attendees": 0, "reasons": {}}
    for f in figures.values():
        total["sessions"] += f["sessions"]
        total["attendees"] += f["attendees"]
        for code, n in f["reasons"].items():
            total["reasons"][code] = total["reasons"].get(code, 0) + n
    return total


# ----------------------------------------------------------------------- who needs a visit

def needs_visit_clause(since, today):
    """A WHERE clause on ``Beneficiary``: an active record not reviewed since ``since``
    (``datetime``, the campaign's start), or refusing with a revisit due (``revisit_on`` ≤
    ``today`` or none planned), or without an account."""
    return and_(Beneficiary.status == "active", Beneficiary.deceased.is_(False), or_(
        Beneficiary.reviewed_at.is_(None), Beneficiary.reviewed_at < since,
        and_(Beneficiary.account_status == "refuses",
             or_(Beneficiary.revisit_on.is_(None), Beneficiary.revisit_on <= today)),
        Beneficiary.account_status == "no_account"))


def why(b, since, today):
    """Why ``b`` is on the list: a short Vietnamese label."""
    if b.reviewed_at is None or b.reviewed_at < since:
        return _l("Chưa rà soát")
    if b.account_status == "refuses":
        return _l("Từ chối, đến hẹn vận động") if b.revisit_on else _l("Từ chối, chưa hẹn lại")
    return _l("Chưa có tài khoản")


def needs_visit(village_id, visible, since, today, page=1, per_page=VISITS_PER_PAGE):
    """``(households, total)``: the people of a village who still need a visit
    (:func:`needs_visit_clause`, and ``visible``: the user's scope), grouped by household
    in household order; ``households`` is ``[(Household, [Beneficiary…])]`` for the page's
    ``per_page`` people, ``total`` the number of people. Two statements."""
    where = and_(Beneficiary.village_id == village_id, visible, needs_visit_clause(since, today))
    total = db.session.scalar(select(func.count()).select_from(Beneficiary).where(where))
    people = db.session.execute(
        select(Beneficiary, Household).join(Household, Household.id == Beneficiary.household_id).where(where)
        .order_by(Household.head_name, Household.id, Beneficiary.name_folded, Beneficiary.id)
        .limit(per_page).offset((page - 1) * per_page)).all()
    groups = []
    for b, h in people:
        if not groups or groups[-1][0].id != h.id:
            groups.append((h, []))
        groups[-1][1].append(b)
    return groups, total


def visits_workbook(village, groups, since, today, user_name=""):
    """The «who still needs a visit» list of ``village`` (``groups`` as :func:`needs_visit`
    gives them, the whole list) as ``.xlsx`` bytes: A4 landscape, one page wide, the
    header row repeated, households as merged rows, IDs masked."""
    from openpyxl.styles import Alignment

    from ..sheets.writer import FormSheet, issuer_lines
    from ..vn.dates import format_date
    from ..vn.ids import mask_id
    from .areas import commune_in, village_label
    commune = commune_in(village.parent, f"{today:%Y-%m}")  # an old commune's village: the new one's
    book = FormSheet("Can van dong", [5, 24, 8, 16, 13, 20, 26, 12, 12])
    r = book.heading(issuer_lines("commune", commune.full_name), "DANH SÁCH CẦN ĐẾN VẬN ĐỘNG",
                     f"{village_label(village, commune)}, {commune.full_name} · ngày {format_date(today)}")
    book.header_row(r, ["STT", "Họ và tên", "Năm sinh", "Số định danh", "Điện thoại", "Cần đến vì",
                        "Lý do từ chối, chưa có TK", "Lần rà soát", "Hẹn lại"])
    header = r
    top = Alignment(vertical="top", wrap_text=True)
    n = 0
    for household, members in groups:
        r += 1
        book.merged(r, 1, book.ncols, f"Hộ {household.head_name}", align=None, bold=True, size=10, box=True)
        for b in members:
            r += 1
            n += 1
            reason = reason_label(b.refusal_reason) if b.refusal_reason else ""
            if b.no_account_reason:
                reason = f"{reason}: {b.no_account_reason}" if reason else b.no_account_reason
            values = [n, b.full_name, b.birth_year, mask_id(b.national_id) if b.national_id else "",
                      b.phone or "", str(why(b, since, today)), str(reason) if reason else "",
                      format_date(b.reviewed_at.date()) if b.reviewed_at else "",
                      format_date(b.revisit_on) if b.revisit_on else ""]
            for col, value in enumerate(values, 1):
                book.put(r, col, value, size=10, align=top, box=True)
    book.repeat_rows(header)
    return book.bytes()


def today_default():
    """Today for these rules: ``clock.working_day()``."""
    from . import clock
    return clock.working_day(date.today())
