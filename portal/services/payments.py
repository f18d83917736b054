"""The monthly payment list (danh sách chi trả): built from the registry, checked, locked,
exported in the administrative form and for the payment provider.

Amounts are ``int`` đồng. A BTXH line is coefficient × the standard level in force that
month (Decree 20/2021/NĐ-CP Art. 6; Decree 76/2024 from 1/7/2024); a line without a
coefficient, and every NCC line, takes the record's monthly amount (the fixed NCC amounts
are the record's, Decree 55/2023 and 77/2024). An HTXH line (social pension, from 07/2025)
is the level in force (Decree 176/2025/NĐ-CP Art. 3). A line whose record has an open error
finding is ``blocked``: the officer fixes the record or explicitly holds the line; so is a
BTXH or HTXH line of a person already on the other program's list that month.
"""
import csv
import io
import os
from collections import defaultdict
from datetime import date, timedelta

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import delete, func, insert, or_, select, true, update
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.sql import ClauseElement, Select

from ..extensions import db
from ..models import (Account, Area, Beneficiary, ChangeProposal, Event, Finding, PaymentLine,
                      PaymentPeriod, StandardLevel, utcnow)
from ..sheets.writer import StreamSheet, cell, discard, issuer_lines, page_layout, print_area
from ..vn.money import amount_in_words
from ..vn.text import fold
from . import changes, counts, history, months
from .areas import commune_in, communes_below, member_units, successors_of
from .checks import standard_level
from .pension import programs_in


class PeriodError(ValueError):
    """A period operation that is not allowed (Vietnamese message); ``field`` names the form
    field it is about (``"month"``, ``"reason"``, ``"note"``) when there is one."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


#: The sources of the error findings that block a line (the data checks, the police round).
BLOCKING_SOURCES = ("check", "police")


class Amounts:
    """The monthly amount of a record in a month, from the dated reference data: BTXH is
    coefficient × the standard level in force (Decree 20/2021/NĐ-CP Art. 6); HTXH is the
    social pension level in force (Decree 176/2025/NĐ-CP Art. 3), else the record's own
    amount; an NCC record takes its category's fixed amount in force (``StandardLevel``
    rows with a category, Decree 55/2023 and 77/2024 appendices), else the record's own
    ``monthly_amount``. A level a province set from a date counts in its communes where it
    is higher (``checks.standard_level``): ``area`` is the list's commune, else each record's
    commune in that month. Levels are read once per month (and province) asked."""

    def __init__(self, program, area=None):
        self.program = program
        self.area = area
        self._levels = {}
        rows = db.session.execute(select(StandardLevel.category_folded, StandardLevel.valid_from,
                                         StandardLevel.amount)
                                  .where(StandardLevel.program == program,
                                         StandardLevel.category_folded.is_not(None))).all()
        self._categories = defaultdict(list)
        for cat, since, amount in sorted(rows, key=lambda r: r[1]):
            self._categories[cat].append((since, amount))
        # Only when a province has set a level does the record's place matter.
        self._provincial = db.session.scalar(select(StandardLevel.id).where(
            StandardLevel.program == program, StandardLevel.area_id.is_not(None),
            StandardLevel.category.is_(None)).limit(1)) is not None

    def level(self, month, area=None):
        """The standard level (đồng) of the program in ``month``, in ``area``'s province."""
        area = (area or self.area) if self._provincial else None
        key = (month, area.id if area is not None else None)
        if key not in self._levels:
            self._levels[key] = standard_level(self.program, months.start(month), area)
        return self._levels[key]

    def _where(self, b, month):
        if not self._provincial:
            return None
        return self.area if self.area is not None else commune_in(b.commune, month)

    def of(self, b, month):
        """đồng (``int``) or ``None`` when nothing says how much."""
        if b.program == "BTXH" and b.coefficient and self.level(month, self._where(b, month)):
            return round(b.coefficient * self.level(month, self._where(b, month)))
        if b.program == "HTXH" and self.level(month, self._where(b, month)):
            return self.level(month, self._where(b, month))
        if self._categories and b.category:
            on, amount = months.start(month), None
            for since, value in self._categories.get(fold(b.category), ()):
                if since <= on:
                    amount = value
            if amount is not None:
                return amount
        return b.monthly_amount


def last_version(commune_id, month, program):
    """The newest version (``PaymentPeriod``) of a commune's list for ``month`` and
    ``program``, draft or locked, or ``None``."""
    return db.session.scalars(select(PaymentPeriod).where(
        PaymentPeriod.commune_id == commune_id, PaymentPeriod.month == month,
        PaymentPeriod.program == program).order_by(PaymentPeriod.version.desc())).first()


def check_month(month, today=None):
    """``month`` (``YYYY-MM``) when a list may be built for it: any past month, this month and
    the next, by the calendar (``today``, default the clock's; the lists are money, not a
    demo's campaign month). ``PeriodError`` on the field ``month`` otherwise."""
    try:
        month = months.parse(month)
    except ValueError as e:
        raise PeriodError(str(e), "month") from None
    last = months.add(months.of(today or date.today()), 1)
    if month > last:
        raise PeriodError(f"Chưa lập được danh sách tháng {months.label(month)}: chỉ lập tới tháng "
                          f"{months.label(last)}.", "month")
    return month


def _check_in_force(commune, month):
    """``PeriodError`` (field ``month``) when ``commune`` was not in force in ``month``: the
    lists of a month belong to the units of that month (an old commune's people are paid by
    its successor's list from 07/2025, ``areas.commune_in``), so no person is listed twice."""
    first, last = months.start(month), months.end(month)
    if commune.valid_to is not None and commune.valid_to < first:
        successor = commune_in(commune, month)
        now = f": danh sách do {successor.full_name} lập" if successor is not commune else ""
        raise PeriodError(f"{commune.full_name} không còn từ ngày {commune.valid_to + timedelta(days=1):%d/%m/%Y}"
                          f"{now}.", "month")
    if commune.valid_from is not None and commune.valid_from > last:
        raise PeriodError(f"{commune.full_name} có từ ngày {commune.valid_from:%d/%m/%Y}: tháng "
                          f"{months.label(month)} chọn đơn vị hành chính cũ.", "month")


def build(commune, month, program, user, reason=None, paid_before=None):
    """Open (or re-open as a new version) the payment list of ``commune`` for ``month``
    (``YYYY-MM``) and ``program``: one line per beneficiary paid that month (the lines as
    :func:`_line_rows` makes them). Returns the period.

    Raises ``PeriodError`` when a draft already exists (``field`` ``"month"``), for a month
    past next month (:func:`check_month`), for HTXH before 07/2025
    (``pension.programs_in``), or when a locked list is replaced without a ``reason``
    (``field`` ``"reason"``). The caller commits. ``paid_before``: as :func:`_line_rows`
    takes it (:func:`build_area` reads it once for all its communes).
    """
    month = check_month(month)
    _check_in_force(commune, month)
    if program not in programs_in(month):
        raise PeriodError(f"Chưa có chương trình {program} trong tháng {months.label(month)}: trợ cấp hưu trí "
                          "xã hội chi trả từ tháng 07/2025.", "month")
    last = last_version(commune.id, month, program)
    if last is not None and last.status == "draft":
        raise PeriodError("Danh sách tháng này đang soạn: mở danh sách đó, không lập danh sách mới.", "month")
    if last is not None and not (reason or "").strip():
        raise PeriodError("Danh sách tháng này đã khóa: lập phiên bản mới cần ghi lý do.", "reason")
    period = PaymentPeriod(commune_id=commune.id, month=month, program=program,
                           version=(last.version + 1) if last else 1, created_by_id=user.id,
                           reason=(reason or "").strip() or None)
    db.session.add(period)
    db.session.flush()
    _insert_lines(_line_rows(commune, month, program, period.id, paid_before=paid_before))
    db.session.flush()
    return period


def _insert_lines(rows):
    """Insert ``rows`` (:func:`_line_rows`' dicts, all with the same keys) into
    ``payment_line``, in the session's transaction, in their order (the lines' ids follow
    it). On PostgreSQL through psycopg by ``COPY … FROM STDIN`` (half the time of one
    ``INSERT`` a row: 100,000 lines in 4 s instead of 8–9 s at load 7, bench/README.md),
    the columns not given taking the table's defaults (``result`` ``pending``; SQLAlchemy's
    cursor events do not see it); elsewhere one ``INSERT`` run for every row
    (``executemany``)."""
    if not rows:
        return
    conn = db.session.connection()
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        conn.execute(PaymentLine.__table__.insert(), rows)
        return
    columns = list(rows[0])
    table = PaymentLine.__table__
    names = ", ".join(conn.dialect.identifier_preparer.quote(table.c[c].name) for c in columns)
    with conn.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {conn.dialect.identifier_preparer.format_table(table)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


def _here(commune, month, program):
    """``(units, conditions)``: the ids of the units whose records ``commune`` pays in
    ``month`` (itself and, from 07/2025, the old communes the reform merged into it:
    ``areas.member_units``) and the select conditions of the registry rows it may pay: their
    records of ``program`` (not merged), and those whose move out of them takes effect
    after ``month``. Two statements: the moves are read first (a few ids), so that the
    records are found by the commune's index, not by reading every record (``OR`` with a
    subquery defeats the index on PostgreSQL)."""
    units = member_units(commune, month)
    leaving = sorted(set(db.session.scalars(select(ChangeProposal.beneficiary_id).where(
        ChangeProposal.kind == "move_out", ChangeProposal.status == "approved",
        ChangeProposal.commune_id.in_(units), ChangeProposal.effective_month > month))))
    here = Beneficiary.commune_id.in_(units)
    return set(units), (or_(here, Beneficiary.id.in_(leaving)) if leaving else here,
                        Beneficiary.program == program, Beneficiary.status != "merged")


def _paid_here(units, states, bid, commune_id, status):
    state, change = states.get(bid, (status, None))
    if commune_id not in units:  # still here until the move: paid as before it
        return change is not None and change.kind == "move_out" and change.commune_id in units
    return state == "active"


#: The columns of a person that a line is made from (:func:`_paid_people`): the record's,
#: then its account's, named as the attributes :func:`_line_rows`, :class:`Amounts` and
#: :func:`on_other_program` read (``account_number`` is ``Account.number``).
_PERSON = (Beneficiary.id, Beneficiary.commune_id, Beneficiary.status, Beneficiary.program,
           Beneficiary.coefficient, Beneficiary.category, Beneficiary.monthly_amount, Beneficiary.national_id,
           Beneficiary.transferred_from_id, Beneficiary.account_status, Beneficiary.payment_method,
           Account.number.label("account_number"), Account.recipient_type, Account.bank_bin, Account.holder_name)


def _paid_people(commune, month, program, only=None):
    """Who ``commune`` pays in ``month`` under ``program``: ``(people, states, ids)`` where
    ``people`` is a list of rows (one per person, in village and name order) with the
    record's and its account's columns of :data:`_PERSON` (the account's ``None`` when it
    has none), ``states`` is ``changes.states_in`` of them and ``ids`` the select of the
    ids of the records read (a superset of ``people``: those this commune may pay), to
    look up what else a line needs in one statement whatever the number of people.
    ``only``: restrict to these beneficiary ids. Four statements; rows, not ORM objects
    (a list of 40,000 builds no 40,000 instances).

    Who is paid follows the approved changes (``changes.states_in``): a record stopped or
    suspended from a later month is still paid this month; a record moved out of
    ``commune`` from a later month is paid here until then; a record moved in is paid from
    its move's month (Circular 02/2021/TT-BLĐTBXH Art. 2; Decree 20/2021/NĐ-CP Art. 8). From
    07/2025 a new commune pays the records of the old communes merged into it."""
    units, where = _here(commune, month, program)
    if only is not None:
        where = (*where, Beneficiary.id.in_(list(only)))
    people = db.session.execute(
        select(*_PERSON).outerjoin(Account, Account.beneficiary_id == Beneficiary.id)
        .where(*where).order_by(Beneficiary.village_id, Beneficiary.name_folded)).all()
    ids = select(Beneficiary.id).where(*where)
    states = changes.states_in(ids, month)
    return [b for b in people if _paid_here(units, states, b.id, b.commune_id, b.status)], states, ids


def paid_ids(commune, month, program):
    """The ids of the beneficiaries ``commune`` pays in ``month`` (a ``set``), as
    :func:`build` would list them today (the same rule as :func:`_paid_people`, reading
    three columns instead of the records)."""
    units, where = _here(commune, month, program)
    rows = db.session.execute(select(Beneficiary.id, Beneficiary.commune_id, Beneficiary.status)
                              .where(*where)).all()
    states = changes.states_in([r[0] for r in rows], month)
    return {bid for bid, commune_id, status in rows if _paid_here(units, states, bid, commune_id, status)}


def _chunks(ids, size=5000):
    """``ids`` (a sorted list) in slices of ``size`` for ``IN (…)``, or ``[ids]`` when it is a
    select (one statement, the database joins)."""
    if isinstance(ids, Select):
        return [ids]
    return [ids[k:k + size] for k in range(0, len(ids), size)]


def blocking_notes(beneficiary_ids, month=None):
    """``{beneficiary id: note}`` for the records with an open error finding of the data
    checks or the police round (they block payment): the note names the first error and
    how many more there are ("Lỗi dữ liệu chưa sửa: Số định danh … (+1 lỗi khác)"). With
    ``month``, also the records whose list stated a change effective by then that waits
    for its decision (:func:`portal.services.changes.stated_pending`).
    ``beneficiary_ids``: ids, or a select of them (one statement, however many)."""
    found = defaultdict(list)
    ids = beneficiary_ids if isinstance(beneficiary_ids, Select) else sorted(set(beneficiary_ids))
    for chunk in _chunks(ids):
        for bid, message in db.session.execute(
                select(Finding.beneficiary_id, Finding.message).where(
                    Finding.beneficiary_id.in_(chunk), Finding.severity == "error",
                    Finding.resolved_at.is_(None), Finding.source.in_(BLOCKING_SOURCES))
                .order_by(Finding.beneficiary_id, Finding.id)):
            found[bid].append(message)
    out = {}
    for bid, messages in found.items():
        first = (messages[0] or "").strip().rstrip(".") or "lỗi chưa ghi nội dung"
        more = f" (+{len(messages) - 1} lỗi khác)" if len(messages) > 1 else ""
        out[bid] = f"Lỗi dữ liệu chưa sửa: {first}{more}."
    if month is not None:
        for bid, note in changes.stated_pending(ids, month).items():
            out[bid] = f"{note} {out[bid]}" if bid in out else note
    return out


def _paid_in_other_months(beneficiary_ids, program, month):
    """``{id: {month: the month of the list that paid it}}``: the months that the final lists
    of months other than ``month`` paid each record in arrears (truy lĩnh). A draft built
    before a later month's list paid this month in arrears must not pay it again.
    ``beneficiary_ids``: ids, a select of them, or ``None`` for every record (one
    statement: :func:`build_area` reads them once for all its communes; they are few, the
    lines with arrears).

    For given records two steps, so that the database reads the lines of these people only (by
    ``beneficiary_id``), never every line of every final list (which a join on the lists
    invites, and which grows with each month locked): their lines with arrears, rare;
    then which of those lines' lists are final (``changes.final_periods``) and their month."""
    out = defaultdict(dict)
    if beneficiary_ids is None:  # one pass over the final lists for every record
        for bid, paid_in, since in db.session.execute(
                select(PaymentLine.beneficiary_id, PaymentPeriod.month, PaymentLine.arrears_from)
                .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
                .where(PaymentLine.status == "listed", PaymentLine.arrears_months > 0,
                       PaymentPeriod.month != month,
                       PaymentLine.period_id.in_(changes.final_periods(program=program)))
                .order_by(PaymentLine.id)):
            for m in months.between(since, paid_in) if since else ():
                out[bid][m] = paid_in
        return out
    ids = beneficiary_ids if isinstance(beneficiary_ids, Select) else sorted(set(beneficiary_ids))
    lines = []
    for chunk in _chunks(ids):
        lines += db.session.execute(
            select(PaymentLine.beneficiary_id, PaymentLine.period_id, PaymentLine.arrears_from)
            .where(PaymentLine.beneficiary_id.in_(chunk), PaymentLine.status == "listed",
                   PaymentLine.arrears_months > 0).order_by(PaymentLine.id)).all()
    if not lines:
        return out
    final = dict(db.session.execute(
        select(PaymentPeriod.id, PaymentPeriod.month)
        .where(PaymentPeriod.id.in_(sorted({pid for _, pid, _ in lines})), PaymentPeriod.month != month,
               PaymentPeriod.id.in_(changes.final_periods(program=program)))).all())
    for bid, pid, since in lines:
        paid_in = final.get(pid)
        for m in months.between(since, paid_in) if since and paid_in else ():
            out[bid][m] = paid_in
    return out


#: Monthly programs that never pay one person for the same month: who qualifies for both
#: the social assistance and the social pension is paid the higher one only (Decree
#: 176/2025/NĐ-CP; ``pension.transfer`` moves them).
EXCLUSIVE = {"BTXH": "HTXH", "HTXH": "BTXH"}


def _current_versions(month, program):
    """The select of the newest version (draft or locked) of each commune's ``program`` list
    for ``month``."""
    latest = (select(PaymentPeriod.commune_id, func.max(PaymentPeriod.version).label("v"))
              .where(PaymentPeriod.month == month, PaymentPeriod.program == program)
              .group_by(PaymentPeriod.commune_id).subquery())
    return (select(PaymentPeriod.id).join(latest, (PaymentPeriod.commune_id == latest.c.commune_id)
                                          & (PaymentPeriod.version == latest.c.v))
            .where(PaymentPeriod.month == month, PaymentPeriod.program == program))


def on_other_program(people, program, month):
    """``{beneficiary id: note}`` for the records of ``people`` (a list of anything with a
    ``Beneficiary``'s ``id``, ``national_id`` and ``transferred_from_id``) whose
    person is already to be paid for ``month`` on a list of the program that excludes
    ``program`` (:data:`EXCLUSIVE`: BTXH and HTXH): a listed line of the newest version of
    any commune's list, of a record with the same ``national_id``, or the record an HTXH
    record was transferred from (either way). Their line here is blocked, the note naming
    the other list: one person is never paid twice for a month (Decree 176/2025/NĐ-CP)."""
    other = EXCLUSIVE.get(program)
    if other is None or other not in programs_in(month) or not people:
        return {}
    ids = [b.id for b in people]
    nids = sorted({b.national_id for b in people if b.national_id})
    sources = sorted({b.transferred_from_id for b in people if b.transferred_from_id})
    found = []
    versions = _current_versions(month, other)
    line_of = (select(PaymentLine.beneficiary_id, Beneficiary.national_id, Beneficiary.transferred_from_id,
                      Area.name, Area.kind)
               .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
               .join(Beneficiary, Beneficiary.id == PaymentLine.beneficiary_id)
               .join(Area, Area.id == PaymentPeriod.commune_id)
               .where(PaymentLine.period_id.in_(versions), PaymentLine.status == "listed"))
    for column, values in ((Beneficiary.national_id, nids), (Beneficiary.id, sources),
                           (Beneficiary.transferred_from_id, ids)):
        for k in range(0, len(values), 5000):
            found += db.session.execute(line_of.where(column.in_(values[k:k + 5000]))).all()
    if not found:
        return {}
    by_nid, by_id, by_source = {}, {}, {}
    for bid, nid, source, name, kind in found:
        where = f"{kind} {name}" if kind else name
        if nid:
            by_nid[nid] = where
        by_id[bid] = where
        if source:
            by_source[source] = where
    out = {}
    for b in people:
        where = (by_nid.get(b.national_id) if b.national_id else None) or by_id.get(b.transferred_from_id) \
            or by_source.get(b.id)
        if where:
            out[b.id] = (f"Đã có trong danh sách chi trả {other} tháng {months.label(month)} của {where}: "
                         "một người không hưởng cả hai chế độ trong một tháng (Nghị định 176/2025/NĐ-CP).")
    return out


def _line_rows(commune, month, program, period_id, only=None, paid_before=None):
    """The lines of ``commune``'s list for ``month`` and ``program`` as they would be built
    now: ``[dict]`` of ``PaymentLine`` columns for ``period_id``. ``only``: these
    beneficiary ids only. ``paid_before``: :func:`_paid_in_other_months` of every record
    for ``month`` and ``program`` when the caller has read it (:func:`build_area`, once
    for all its communes), else it is read for this commune's people.

    One line per person paid (:func:`_paid_people`), at the month's amount
    (:class:`Amounts`); a person resumed or granted late is paid the arrears (truy lĩnh)
    for the months from the change's ``arrears_from`` not yet on a final list, each at that
    month's amount. The account is copied onto the line. A line whose record has an open
    error is ``blocked`` with a note naming the error (:func:`blocking_notes`), as is a line
    without an amount, and a BTXH or HTXH line of a person already listed that month on a
    list of the other program (:func:`on_other_program`)."""
    people, states, ids = _paid_people(commune, month, program, only)
    owed = {b.id: states[b.id][1].arrears_from for b in people
            if b.id in states and states[b.id][1].arrears_from}
    covered = changes.covered_months(list(owed), program) if owed else {}
    blocking = blocking_notes(ids, month) if people else {}
    elsewhere = paid_before if paid_before is not None else (
        _paid_in_other_months(ids, program, month) if people else {})
    twice = on_other_program(people, program, month)
    amounts = Amounts(program, commune)
    rows = []
    for b in people:
        has_account = b.account_status == "has_account" and bool(b.account_number)
        by_account = has_account and b.payment_method == "account"
        amount = amounts.of(b, month)
        arrears_months = [m for m in months.between(owed[b.id], month)
                          if m not in covered.get(b.id, ())] if b.id in owed else []
        arrears = sum(amounts.of(b, m) or 0 for m in arrears_months)
        status, note = "listed", None
        if b.id in blocking:
            status, note = "blocked", blocking[b.id]
        elif b.id in twice:
            status, note = "blocked", twice[b.id]
        elif month in elsewhere.get(b.id, ()):
            status, note = "blocked", (f"Tháng {months.label(month)} đã được trả (truy lĩnh) trong danh sách "
                                       f"tháng {months.label(elsewhere[b.id][month])}: tạm giữ dòng này.")
        elif amount is None:
            status, note = "blocked", "Chưa có mức trợ cấp."
        elif arrears_months:
            note = (f"Truy lĩnh {len(arrears_months)} tháng từ {months.label(arrears_months[0])} "
                    f"đến {months.label(arrears_months[-1])}.")
        rows.append({"period_id": period_id, "beneficiary_id": b.id, "amount": amount or 0,
                     "arrears": arrears, "arrears_months": len(arrears_months),
                     "arrears_from": arrears_months[0] if arrears_months else None,
                     "method": "account" if by_account else "cash", "has_account": has_account,
                     "recipient_type": b.recipient_type if has_account else None,
                     "bank_bin": b.bank_bin if by_account else None,
                     "account_number": b.account_number if by_account else None,
                     "holder_name": b.holder_name if by_account else None,
                     "reference": f"{commune.code}-{month.replace('-', '')}-{program}-{b.id}",
                     "status": status, "note": note})
    return rows


def build_area(area, month, programs, user, progress=None):
    """Open ``month``'s lists for every commune in force below ``area`` (or ``area`` itself
    when it is a commune) that has none yet, for those of ``programs`` paid that month
    (``pension.programs_in``). Returns ``(built periods, skipped periods)``.
    Records first take the decisions that have come due (``changes.apply_due``). Raises
    ``PeriodError`` (field ``month``) for a month past next month (:func:`check_month`)
    and when no commune of ``area`` is in force in ``month`` (:func:`_no_commune`: a
    district's communes ended on 30/06/2025, the new communes make that month's lists).
    ``progress(done, total, stage)``, if given, is told each commune (a background job's bar).

    A commune's list takes a fixed number of statements whatever its people (no query per
    person), and memory holds one commune's lines at a time; the months already paid in
    arrears (:func:`_paid_in_other_months`, a few rows) are read once per program for all
    the communes."""
    month = check_month(month)
    communes = [area] if area.level == "commune" else communes_below(area, on=months.start(month))
    if not communes:
        raise _no_commune(area, month)
    changes.apply_due(user=user)
    programs = [p for p in programs if p in programs_in(month)]  # no HTXH before 07/2025
    paid_before = {}  # the arrears already paid, per program: read once, not once a commune
    built, skipped = [], []
    for i, commune in enumerate(communes):
        if progress:
            progress(i, len(communes), commune.full_name)
        for program in programs:
            existing = last_version(commune.id, month, program)
            if existing is not None:
                skipped.append(existing)
                continue
            if program not in paid_before:
                paid_before[program] = _paid_in_other_months(None, program, month)
            built.append(build(commune, month, program, user, paid_before=paid_before[program]))
    return built, skipped


NAMED_SUCCESSORS = 6  # a refusal names the new communes up to this many, else counts them


def _no_commune(area, month):
    """The ``PeriodError`` (field ``month``) for building ``month``'s lists in ``area`` (a
    district or province) that has no commune in force then: when its communes had ended
    (Huyện Bình Sơn's, on 30/06/2025: Resolution 1677/NQ-UBTVQH15), the date and the
    communes that make that month's lists instead (``areas.commune_in``), by name when
    few; else that it has no commune that month."""
    label = months.label(month)
    ever = communes_below(area)
    ended = [c for c in ever if c.valid_to is not None and c.valid_to < months.start(month)]
    if not ever or len(ended) < len(ever):
        return PeriodError(f"{area.full_name} không có xã nào trong tháng {label}: chưa lập được "
                           "danh sách.", "month")
    last = max(c.valid_to for c in ended)
    now = sorted({s.id: s for s in (commune_in(c, month) for c in ended)
                  if s.valid_to is None or s.valid_to >= months.start(month)}.values(),
                 key=lambda s: s.code or "")
    if not now:
        who = "."
    elif len(now) <= NAMED_SUCCESSORS:
        who = f": danh sách tháng {label} do {', '.join(s.full_name for s in now)} lập."
    else:
        who = f": danh sách tháng {label} do {len(now)} xã mới lập."
    return PeriodError(f"Các xã của {area.full_name} chỉ có đến ngày {last:%d/%m/%Y}{who}", "month")


def refresh(period, user):
    """Rebuild the lines of a draft list from the registry as :func:`build` builds them, so
    that a decision, a correction or a new record since it was opened shows in it; the hold
    (status ``held`` and its note) of each person still on it is kept. Returns ``{"added":
    n, "removed": n}`` (people). Raises ``PeriodError`` for a locked list (a change to it
    needs a new version with a reason). The caller commits."""
    if period.status != "draft":
        raise PeriodError("Danh sách đã khóa: thay đổi cần lập lần mới có ghi lý do.")
    before = db.session.execute(select(PaymentLine.beneficiary_id, PaymentLine.status, PaymentLine.note)
                                .where(PaymentLine.period_id == period.id)).all()
    holds = {bid: note for bid, status, note in before if status == "held"}
    rows = _line_rows(period.commune, period.month, period.program, period.id)
    for row in rows:
        if row["beneficiary_id"] in holds:
            row["status"], row["note"] = "held", holds[row["beneficiary_id"]]
    # A draft's lines carry no result: they are replaced outright. Their holds' events
    # (``hold``, ``release``) let go of the old lines and follow each person to their new
    # line (none when the person left the list: the event stays the person's).
    old_lines = select(PaymentLine.id).where(PaymentLine.period_id == period.id)
    moved = db.session.scalars(update(Event).where(Event.payment_line_id.in_(old_lines))
                               .values(payment_line_id=None).returning(Event.id)
                               .execution_options(synchronize_session=False)).all()
    db.session.execute(delete(PaymentLine).where(PaymentLine.period_id == period.id))
    _insert_lines(rows)
    if moved:
        db.session.execute(update(Event).where(Event.id.in_(moved)).values(
            payment_line_id=select(PaymentLine.id).where(
                PaymentLine.period_id == period.id, PaymentLine.beneficiary_id == Event.beneficiary_id)
            .scalar_subquery()).execution_options(synchronize_session=False))
    db.session.flush()
    db.session.expire(period, ["lines"])
    old, new = {bid for bid, *_ in before}, {row["beneficiary_id"] for row in rows}
    return {"added": len(new - old), "removed": len(old - new)}


def refresh_drafts(commune_ids, program, from_month, user):
    """Rebuild (:func:`refresh`) the draft lists of ``program`` (``None``: every program) in ``commune_ids`` (``None``
    entries ignored) for ``from_month`` (``YYYY-MM``) and after, so that a decision taken
    while they were being prepared shows in them (:func:`refresh_for_decision`). Returns the
    periods refreshed. The caller commits."""
    ids = successors_of(commune_ids)  # a record of an old commune is paid by its successor's lists
    if not ids:
        return []
    drafts = db.session.scalars(select(PaymentPeriod).where(
        PaymentPeriod.commune_id.in_(ids), PaymentPeriod.program == program if program else true(),
        PaymentPeriod.status == "draft", PaymentPeriod.month >= months.parse(from_month))
        .order_by(PaymentPeriod.month, PaymentPeriod.commune_id)).all()
    for period in drafts:
        refresh(period, user)
    return drafts


def refresh_for_decision(change, user):
    """The draft lists a decision touches, rebuilt (:func:`refresh_drafts`): after
    ``changes.decide`` approves ``change`` (a ``ChangeProposal``), the drafts of every
    program (a person's BTXH record may block their HTXH line) from its effective month on,
    in its commune and, for a move, in the commune the person moves to; a change read from a list and dismissed (``changes.dismiss``), the
    drafts it blocked. Another change not approved (rejected, still proposed) touches
    nothing.
    Whoever records a decision (the changes view, the demo, the CLI, a job) calls this
    right after ``changes.decide``: the decisions module does not know the lists. Returns
    the periods refreshed; the caller commits."""
    dismissed = change.status == "rejected" and change.source == "import"  # lines payable again
    if change.status != "approved" and not dismissed:
        return []
    # Every program's drafts: the person's line on another program's list (BTXH and HTXH,
    # never both in one month) may have been blocked by this record.
    return refresh_drafts([change.commune_id, change.to_commune_id], None, change.effective_month, user)


def hold(line, note, user=None):
    """Hold a line of a draft out of this month's payment, with the officer's reason
    (``note``, required), written to the history (an ``Event``: source ``payment``, field
    ``hold``, the reason as new value, of the line and its beneficiary) by ``user`` (the
    system user for none: the CLI, the demo). Raises ``PeriodError`` (``field`` ``"note"``
    for a missing reason)."""
    if line.period.status != "draft":
        raise PeriodError("Danh sách đã khóa.")
    note = (note or "").strip()
    if not note:
        raise PeriodError("Ghi lý do tạm giữ.", "note")
    _hold([line], note, user)


def _hold(lines, note, user):
    """Hold ``lines`` with ``note`` (already checked) and write one ``Event`` per line in one
    INSERT (an executemany): a bulk hold of hundreds of lines is not hundreds of statements."""
    user_id = (user or history.system_user()).id
    at = utcnow()
    events = [{"beneficiary_id": line.beneficiary_id, "user_id": user_id, "at": at, "source": "payment",
               "action": "update", "field": "hold", "old_value": line.note, "new_value": note,
               "payment_line_id": line.id} for line in lines]
    for line in lines:
        line.status, line.note = "held", note
    if events:
        db.session.flush()
        db.session.execute(insert(Event), events)


def hold_many(period, line_ids, note, user=None):
    """Hold several blocked lines of the draft ``period`` at once, with one reason: each as
    :func:`hold` holds one (one ``Event`` per line, written by ``user``, in one INSERT).
    All or nothing: ``PeriodError`` (nothing changed) when no line
    is chosen, the reason is missing (``field`` ``"note"``), the list is locked, or an id of
    ``line_ids`` (ints) is not a blocked line of ``period`` (held already, listed, another
    list's). Returns the lines held, by id."""
    if period.status != "draft":
        raise PeriodError("Danh sách đã khóa.")
    note = (note or "").strip()
    if not note:
        raise PeriodError("Ghi lý do tạm giữ.", "note")
    wanted = set(line_ids)
    if not wanted:
        raise PeriodError("Chọn ít nhất một dòng bị chặn.", "lines")
    lines = db.session.scalars(select(PaymentLine).where(
        PaymentLine.period_id == period.id, PaymentLine.id.in_(sorted(wanted)),
        PaymentLine.status == "blocked").order_by(PaymentLine.id)).all()
    if len(lines) != len(wanted):
        raise PeriodError("Có dòng đã chọn không còn bị chặn trong danh sách này: tải lại trang và chọn lại.",
                          "lines")
    _hold(lines, note, user)
    db.session.flush()
    return lines


def release(line, user=None):
    """Undo a hold: the line goes back to the list (``listed``, with its arrears note), or
    to ``blocked`` when its record still has an open error (the note names it); written to
    the history as :func:`hold` is (field ``hold``, the reason as old value, none as new)
    by ``user`` (the system user for none). Raises ``PeriodError`` for a locked list or a
    line not held."""
    if line.period.status != "draft":
        raise PeriodError("Danh sách đã khóa.")
    if line.status != "held":
        raise PeriodError("Dòng này không bị tạm giữ.")
    db.session.add(Event(beneficiary_id=line.beneficiary_id, user_id=(user or history.system_user()).id,
                         at=utcnow(), source="payment", action="update", field="hold", old_value=line.note,
                         new_value=None, payment_line_id=line.id))
    p = line.period
    now = _line_rows(p.commune, p.month, p.program, p.id, only={line.beneficiary_id})
    if now:
        line.status, line.note = now[0]["status"], now[0]["note"]
    else:  # no longer paid this month: the lock will ask for a refresh
        note = blocking_notes([line.beneficiary_id], p.month).get(line.beneficiary_id)
        line.status, line.note = ("blocked", note) if note else ("listed", None)
    db.session.flush()


def stale(period):
    """``(gone, missing)``: the beneficiary ids on ``period``'s lines who are no longer paid
    that month (stopped, suspended or moved by an approved decision, merged…), and those
    paid that month who have no line (newly entitled, moved in, resumed). Both ``set``."""
    on = set(db.session.scalars(select(PaymentLine.beneficiary_id).where(PaymentLine.period_id == period.id)))
    due = paid_ids(period.commune, period.month, period.program)
    return on - due, due - on


def lock(period, user):
    """Lock a draft. Refused (``PeriodError``) when its lines no longer match who is paid
    that month (:func:`stale`: the officer presses «Cập nhật danh sách», :func:`refresh`)
    or when a line is still blocked (fix the record or hold the line). A new version keeps
    the results of the version it replaces for the lines it pays the same way."""
    if period.status != "draft":
        raise PeriodError("Danh sách đã khóa.")
    gone, missing = stale(period)
    if gone or missing:
        parts = []
        if gone:
            parts.append(f"{len(gone)} người không còn hưởng tháng này (thôi hưởng, tạm dừng hoặc chuyển đi) "
                         "vẫn còn trong danh sách")
        if missing:
            parts.append(f"{len(missing)} người được hưởng tháng này chưa có trong danh sách")
        raise PeriodError("Danh sách không còn khớp với hồ sơ: " + "; ".join(parts)
                          + ". Bấm «Cập nhật danh sách» rồi khóa lại.")
    now = {r["beneficiary_id"]: r for r in _line_rows(period.commune, period.month, period.program, period.id)}
    drift = [line for line in period.lines if line.status == "listed" and (
        now.get(line.beneficiary_id) is None or now[line.beneficiary_id]["status"] != "listed"
        or (now[line.beneficiary_id]["amount"], now[line.beneficiary_id]["arrears"]) != (line.amount, line.arrears))]
    if drift:
        raise PeriodError(f"{len(drift)} dòng khác với hồ sơ hiện nay (lỗi dữ liệu mới, thay đổi danh sách ghi "
                          "chờ quyết định, truy lĩnh đã trả ở danh sách tháng khác, mức trợ cấp mới): bấm «Cập nhật "
                          "danh sách» rồi khóa lại.")
    blocked = db.session.scalar(select(func.count()).where(PaymentLine.period_id == period.id,
                                                           PaymentLine.status == "blocked"))
    if blocked:
        raise PeriodError(f"Còn {blocked} dòng bị chặn vì lỗi dữ liệu: sửa hồ sơ (rồi bấm «Cập nhật danh "
                          "sách») hoặc tạm giữ dòng đó.")
    period.status, period.locked_at, period.locked_by_id = "locked", utcnow(), user.id
    _carry_results(period, user)
    counts.recount([period.id])


def changed_after_lock(period):
    """``{beneficiary id: note}`` of the people a locked list pays whom something has
    stopped since: a change a list states that waits for its decision, or a stop,
    suspension or move out approved after the lock, effective by the list's month. The list
    pays them all the same until a new version (with a reason) replaces it, so the page
    says so, to the commune and the payer."""
    if period.status != "locked":
        return {}
    # The people as a subquery, not a list of ids: a list of 40,000 lines sends no 40,000
    # parameters (bench/README.md, fix 4).
    ids = select(PaymentLine.beneficiary_id).where(PaymentLine.period_id == period.id,
                                                    PaymentLine.status == "listed")
    out = changes.stated_pending(ids, period.month)
    for bid, kind, effective in db.session.execute(
            select(ChangeProposal.beneficiary_id, ChangeProposal.kind, ChangeProposal.effective_month)
            .where(ChangeProposal.beneficiary_id.in_(ids), ChangeProposal.status == "approved",
                   ChangeProposal.kind.in_(changes.DECREASES), ChangeProposal.effective_month <= period.month,
                   ChangeProposal.decided_at > period.locked_at)):
        out[bid] = (f"Đã quyết định {changes.KIND_LABELS[kind].lower()} từ {months.label(effective)} "
                    "sau khi khóa danh sách.")
    return out


def superseded_by(period):
    """The number of the newest version of ``period``'s commune, month and program when it
    is newer than ``period`` (draft or locked: ``period`` is then superseded, "Đã thay bằng
    lần N", and takes no more results), else ``None``."""
    newest = db.session.scalar(select(func.max(PaymentPeriod.version)).where(
        PaymentPeriod.commune_id == period.commune_id, PaymentPeriod.month == period.month,
        PaymentPeriod.program == period.program))
    return newest if newest and newest > period.version else None


class Group:
    """The versions of one commune's list for one month and program, newest first.
    ``latest`` is the version shown (with ``locked_only``, the newest locked one),
    ``older`` the versions before it, ``superseded`` the number of a newer version that
    replaced ``latest`` (a draft the payment provider does not see yet), else ``None``."""

    def __init__(self, versions, locked_only=False):
        shown = [v for v in versions if v.status == "locked"] if locked_only else versions
        self.latest, self.older = shown[0], shown[1:]
        self.month, self.commune, self.program = self.latest.month, self.latest.commune, self.latest.program
        newest = versions[0].version
        self.superseded = newest if newest > self.latest.version else None


def list_page(commune_ids, page, per_page, locked_only=False, month=None):
    """One page of the payment lists of ``commune_ids`` for the index: ``(groups, total)``,
    ``groups`` a list of :class:`Group` (one per commune, month and program) by month,
    newest first, then commune name and program; ``total`` the number of groups.
    ``commune_ids``: ids, a select of ids (``scope.area_ids``: the units below a user's
    area and those merged into it, whether in force or ended) or ``None`` (every list).
    ``month`` (``YYYY-MM``) keeps that month's lists only. With ``locked_only`` (the
    payment provider) only locked versions count. Two queries."""
    where = []
    if commune_ids is not None:
        where.append(PaymentPeriod.commune_id.in_(
            commune_ids if isinstance(commune_ids, ClauseElement) else list(commune_ids)))
    if month is not None:
        where.append(PaymentPeriod.month == month)
    if locked_only:
        where.append(PaymentPeriod.status == "locked")
    keys = (select(PaymentPeriod.month, PaymentPeriod.commune_id, PaymentPeriod.program)
            .where(*where).group_by(PaymentPeriod.month, PaymentPeriod.commune_id, PaymentPeriod.program))
    total = db.session.scalar(select(func.count()).select_from(keys.subquery()))
    shown = db.session.execute(
        keys.join(Area, Area.id == PaymentPeriod.commune_id).group_by(Area.name_folded)
        .order_by(PaymentPeriod.month.desc(), Area.name_folded, PaymentPeriod.program)
        .limit(per_page).offset((page - 1) * per_page)).all()
    if not shown:
        return [], total
    wanted = {tuple(k) for k in shown}
    versions = defaultdict(list)
    for p in db.session.scalars(
            select(PaymentPeriod).where(PaymentPeriod.commune_id.in_({c for _, c, _ in wanted}),
                                        PaymentPeriod.month.in_({m for m, _, _ in wanted}))
            .options(selectinload(PaymentPeriod.commune)).order_by(PaymentPeriod.version.desc())):
        key = (p.month, p.commune_id, p.program)
        if key in wanted:
            versions[key].append(p)
    return [Group(versions[tuple(k)], locked_only) for k in shown], total


def _carry_results(period, user):
    """A new version keeps the results already recorded on the version it replaces, for
    the lines it pays the same way (same person, amount, arrears, method and account):
    the provider matches by reference, which the versions share."""
    previous = db.session.scalars(select(PaymentPeriod).where(
        PaymentPeriod.commune_id == period.commune_id, PaymentPeriod.month == period.month,
        PaymentPeriod.program == period.program, PaymentPeriod.status == "locked",
        PaymentPeriod.version < period.version).order_by(PaymentPeriod.version.desc())).first()
    if previous is None:
        return
    done = {(line.beneficiary_id, line.amount, line.arrears, line.method, line.account_number): line
            for line in previous.lines if line.status == "listed" and line.result != "pending"}
    for line in period.lines:
        old = done.get((line.beneficiary_id, line.amount, line.arrears, line.method, line.account_number))
        if line.status != "listed" or old is None:
            continue
        line.result, line.result_reason, line.result_at, line.result_by_id = (
            old.result, old.result_reason, old.result_at, old.result_by_id)
        db.session.add(Event(beneficiary_id=line.beneficiary_id, user_id=user.id, source="payment",
                             action="update", field="result", old_value="pending", new_value=old.result,
                             payment_line_id=line.id))
    db.session.flush()


def totals(period):
    """``{"listed", "amount", "account", "account_amount", "cash", "cash_amount", "blocked",
    "held"}``: counts and đồng of the lines to pay (listed) and those left out."""
    out = dict.fromkeys(("listed", "amount", "account", "account_amount", "cash", "cash_amount",
                         "blocked", "held"), 0)
    for status, method, n, total in db.session.execute(
            select(PaymentLine.status, PaymentLine.method, func.count(),
                   func.sum(PaymentLine.amount + PaymentLine.arrears))
            .where(PaymentLine.period_id == period.id)
            .group_by(PaymentLine.status, PaymentLine.method)):
        if status != "listed":
            out[status] += n
            continue
        out["listed"] += n
        out["amount"] += int(total or 0)
        out[method] += n
        out[method + "_amount"] += int(total or 0)
    return out


RESULTS = ("pending", "paid_account", "paid_cash", "failed", "returned")


def record_result(line, user, result, reason=None):
    """Record the payment provider's answer for one line of a locked list (caller commits).

    ``result``: ``paid_account``, ``paid_cash``, ``failed`` (``reason`` needed, e.g. a
    closed account or a wrong holder), ``returned`` or back to ``pending``. A failed
    account payment opens an error finding on the beneficiary's account. Raises
    ``PeriodError``, also for a superseded version (:func:`superseded_by`): its results
    go to the version that replaced it.
    """
    if line.period.status != "locked":
        raise PeriodError("Chỉ ghi kết quả cho danh sách đã khóa.")
    newer = superseded_by(line.period)
    if newer:
        raise PeriodError(f"Danh sách này đã thay bằng lần {newer}: ghi kết quả vào danh sách lần {newer}.")
    if line.status != "listed":
        raise PeriodError("Dòng này không có trong danh sách chi trả.")
    if result not in RESULTS:
        raise PeriodError("Chọn kết quả chi trả.")
    reason = (reason or "").strip() or None
    if result in ("failed", "returned") and not reason:
        raise PeriodError("Ghi lý do (ví dụ: tài khoản đã đóng, sai tên chủ tài khoản).")
    if result == "paid_account" and line.method != "account":
        raise PeriodError("Dòng này chi tiền mặt, không qua tài khoản.")
    if (result, reason) == (line.result, line.result_reason):
        return
    event = Event(beneficiary_id=line.beneficiary_id, user_id=user.id, source="payment",
                  action="update", field="result", old_value=line.result, new_value=result,
                  payment_line_id=line.id, at=utcnow())
    db.session.add(event)
    old_result = line.result
    line.result, line.result_reason = result, reason
    line.result_at, line.result_by_id = event.at, user.id
    counts.result_changed(line, old_result, event.at)
    open_failure = db.session.scalar(select(Finding).where(
        Finding.beneficiary_id == line.beneficiary_id, Finding.code == "payment_failed",
        Finding.resolved_at.is_(None)))
    if result == "failed" and line.method == "account":
        message = (f"Chi trả tháng {months.label(line.period.month)} vào tài khoản "
                   f"{line.account_number} không thành công: {reason}.")
        if open_failure is None:  # one open finding per person: the latest failure says it
            db.session.add(Finding(beneficiary_id=line.beneficiary_id, code="payment_failed",
                                   severity="error", field="account", source="payment", message=message))
        else:
            open_failure.message = message
    elif result == "paid_account" and open_failure is not None:
        open_failure.resolved_at = utcnow()  # the account took a payment: it works
    db.session.flush()


def reconciliation(period):
    """``{"listed": n, "paid_account": n, "paid_cash": n, "failed": n, "returned": n,
    "pending": n}`` over the lines to pay, with ``"amount_<result>"`` in đồng; the counts
    always add up to ``listed``."""
    out = {k: 0 for k in ("listed",) + RESULTS}
    out.update({f"amount_{k}": 0 for k in RESULTS})
    for result, n, total in db.session.execute(
            select(PaymentLine.result, func.count(), func.sum(PaymentLine.amount + PaymentLine.arrears))
            .where(PaymentLine.period_id == period.id, PaymentLine.status == "listed")
            .group_by(PaymentLine.result)):
        out[result] += n
        out["listed"] += n
        out[f"amount_{result}"] += int(total or 0)
    return out


# ------------------------------------------------------------------------------- exports



#: How the list to sign marks an account that is not the beneficiary's own.
HOLDER_MARKS = {"guardian": " (giám hộ)", "authorised": " (ủy quyền)"}


def holder_label(line):
    """The account holder of an account line as the list to sign writes it: the name, and
    "(giám hộ)" / "(ủy quyền)" for a guardian's or an authorised person's account; ``""``
    for a cash line."""
    if line.method != "account":
        return ""
    return (line.holder_name or "") + HOLDER_MARKS.get(line.recipient_type, "")


def administrative_workbook(period):
    """:func:`write_administrative_workbook` as bytes."""
    buf = io.BytesIO()
    write_administrative_workbook(period, buf)
    return buf.getvalue()


ADMINISTRATIVE_WIDTHS = [6, 26, 9, 16, 16, 13, 12, 13, 12, 18, 24, 14]


def write_administrative_workbook(period, target):
    """The list as ``.xlsx`` in the administrative form (Decree 30/2020/NĐ-CP), written to
    ``target`` (a path or a binary file object open for writing; returns nothing): the
    issuing body and the national motto at the top, the title with the month, Times New
    Roman, a totals row in figures and in words, signature blocks (preparer, officer,
    chairman). Columns: STT, name, birth year, ID, village, amount, arrears, total (whole
    đồng), method, account number, account holder (:func:`holder_label`), signature (filled
    for cash lines only). Written row by row (``sheets.writer.StreamSheet``) from the lines
    read a batch at a time (:func:`_listed_lines`): memory does not grow with the list."""
    sheet = StreamSheet(f"T{period.month[5:]}-{period.month[:4]}", ADMINISTRATIVE_WIDTHS)
    try:
        _fill_administrative(period, sheet)
    except BaseException:
        sheet.discard()
        raise
    sheet.save(target)


def _listed_lines(period, batch=2000):
    """Yield the listed lines of ``period`` by id as rows (``full_name``, ``birth_year``,
    ``national_id``, ``village``, ``amount``, ``arrears``, ``method``, ``account_number``,
    ``holder_name``, ``recipient_type``), read ``batch`` at a time (keyset on the line id)."""
    village = aliased(Area)
    last = 0
    while True:
        rows = db.session.execute(
            select(PaymentLine.id, Beneficiary.full_name, Beneficiary.birth_year, Beneficiary.national_id,
                   village.name.label("village"), PaymentLine.amount, PaymentLine.arrears, PaymentLine.method,
                   PaymentLine.account_number, PaymentLine.holder_name, PaymentLine.recipient_type)
            .join(Beneficiary, Beneficiary.id == PaymentLine.beneficiary_id)
            .outerjoin(village, village.id == Beneficiary.village_id)
            .where(PaymentLine.period_id == period.id, PaymentLine.status == "listed", PaymentLine.id > last)
            .order_by(PaymentLine.id).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].id


def _fill_administrative(period, sheet):
    """Lay the list out on ``sheet`` (a ``FormSheet`` or a ``StreamSheet``), in row order."""
    program = {"BTXH": "TRỢ CẤP XÃ HỘI HẰNG THÁNG", "NCC": "TRỢ CẤP ƯU ĐÃI NGƯỜI CÓ CÔNG"}.get(
        period.program, period.program)
    r = sheet.heading(issuer_lines(period.commune.level, period.commune.full_name), f"DANH SÁCH CHI TRẢ {program}",
                      f"Tháng {int(period.month[5:])} năm {period.month[:4]}"
                      + (f" (lần {period.version})" if period.version > 1 else ""))
    sheet.header_row(r - 1, ["STT", "Họ và tên", "Năm sinh", "Số định danh", "Thôn", "Mức (đồng)",
                             "Truy lĩnh (đồng)", "Cộng (đồng)", "Hình thức", "Số tài khoản", "Chủ tài khoản",
                             "Ký nhận"])
    amount = arrears = 0
    for n, line in enumerate(_listed_lines(period), 1):
        values = [n, line.full_name, line.birth_year, line.national_id or "", line.village or "",
                  line.amount, line.arrears, line.amount + line.arrears,
                  "Tài khoản" if line.method == "account" else "Tiền mặt",
                  line.account_number or "", holder_label(line), "" if line.method == "cash" else "—"]
        for i, v in enumerate(values, 1):
            sheet.put(r, i, v, box=True, fmt="#,##0" if i in (6, 7, 8) else "@" if i in (4, 10) else None)
        amount += line.amount
        arrears += line.arrears
        r += 1
    total = amount + arrears
    sheet.merged(r, 1, 5, "Tổng cộng", bold=True, box=True)
    for col, value in ((6, amount), (7, arrears), (8, total)):
        sheet.put(r, col, value, bold=True, fmt="#,##0", box=True)
    for col in (2, 3, 4, 5, 9, 10, 11, 12):
        sheet.box(r, col)
    sheet.merged(r + 1, 1, sheet.ncols, f"Bằng chữ: {amount_in_words(total)}.", align=None, italic=True)
    sheet.signatures(r + 3, [(2, 2, "NGƯỜI LẬP BIỂU", False), (5, 5, "CÔNG CHỨC LĐ-TB&XH", False),
                             (10, 11, "CHỦ TỊCH", True)])


def _csv_safe(value):
    """A cell a spreadsheet will not run: text starting ``= + - @`` (or a tab/CR) gets a
    leading apostrophe, except numbers (``-540000``) and phone numbers (``+84…``)."""
    if isinstance(value, int):
        return value
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        plain = text[1:].replace(" ", "")
        if text[:1] in "+-" and plain.isdigit():
            return text
        return "'" + text
    return text


def _account_payments(period, batch=2000):
    """Yield ``(bank_bin, account_number, holder_name, amount + arrears, reference)`` of
    each account payment of ``period`` (listed lines paid into an account), by line id, as
    plain tuples read ``batch`` at a time (keyset on the line id): no ORM object, no list
    of every line held."""
    last = 0
    while True:
        rows = db.session.execute(
            select(PaymentLine.id, PaymentLine.bank_bin, PaymentLine.account_number, PaymentLine.holder_name,
                   PaymentLine.amount + PaymentLine.arrears, PaymentLine.reference)
            .where(PaymentLine.period_id == period.id, PaymentLine.status == "listed",
                   PaymentLine.method == "account", PaymentLine.id > last)
            .order_by(PaymentLine.id).limit(batch)).all()
        for row in rows:
            yield tuple(row[1:])
        if len(rows) < batch:
            return
        last = rows[-1][0]


def provider_csv(period):
    """:func:`write_provider_csv` as bytes."""
    buf = io.BytesIO()
    write_provider_csv(period, buf)
    return buf.getvalue()


def write_provider_csv(period, target):
    """One line per account payment for the payment provider: BIN, account number, holder,
    amount (whole đồng), reference. UTF-8 with BOM, ``;``-separated (Vietnamese Excel).
    Written to ``target`` (a path or a binary file object open for writing; returns
    nothing), the lines read a batch at a time (:func:`_account_payments`)."""
    own = isinstance(target, (str, os.PathLike))
    f = open(target, "wb") if own else target
    try:
        out = io.TextIOWrapper(f, encoding="utf-8", newline="", write_through=True)
        out.write("\ufeff")
        w = csv.writer(out, delimiter=";", lineterminator="\r\n")
        w.writerow(["BIN", "So tai khoan", "Chu tai khoan", "So tien", "Noi dung"])
        for row in _account_payments(period):
            w.writerow([_csv_safe(x) for x in row])
        out.flush()
        out.detach()  # the caller's file stays open
    finally:
        if own:
            f.close()


PROVIDER_HEADERS = ["BIN", "So tai khoan", "Chu tai khoan", "So tien", "Noi dung"]


def provider_workbook(period):
    """:func:`write_provider_workbook` as bytes."""
    buf = io.BytesIO()
    write_provider_workbook(period, buf)
    return buf.getvalue()


def write_provider_workbook(period, target):
    """The same account payments as :func:`provider_csv`, as ``.xlsx`` written to ``target``
    (a path or a binary file object open for writing; returns nothing): one sheet, the
    header on row 1, one row per account payment. BIN, account number, holder and
    reference are text cells (``@``: no lost leading zero, no ``…E+…``, never a formula);
    the amount (amount + arrears) is an ``int`` of đồng. Write-only, the lines read a batch
    at a time (:func:`_account_payments`)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"T{period.month[5:]}-{period.month[:4]}")
    for i, width in enumerate((10, 20, 28, 14, 28), 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    page_layout(ws, landscape=False, title_rows="1:1")  # five columns: portrait, header on each page
    rows = 1
    try:
        ws.append([cell(ws, h, font=Font(bold=True)) for h in PROVIDER_HEADERS])
        for bank_bin, number, holder, amount, reference in _account_payments(period):
            ws.append([cell(ws, bank_bin or "", "@"), cell(ws, number or "", "@"),
                       cell(ws, holder or "", "@"), cell(ws, amount, "#,##0"), cell(ws, reference, "@")])
            rows += 1
        print_area(ws, len(PROVIDER_HEADERS), rows)
        wb.save(target)
    except BaseException:
        discard(wb)  # a failed export leaves no temporary file behind
        raise
