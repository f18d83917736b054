"""Building a month's lists reads a commune in a fixed number of SQL statements: no query
per person (issue 12 §3: a province's month, 100,000 lines, is built in one job)."""
from datetime import date

from sqlalchemy import event, func, select

from portal.extensions import db
from portal.models import Finding, PaymentLine
from portal.services import changes, payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.factories import person, with_account


def _people(code, village, n):
    """``n`` people in commune ``code`` with what a line reads about a person: every other
    one an account, every third an open error finding (a blocked line), every fifth an NCC
    record, every seventh suspended in April and resumed from June with May's arrears (with
    ``n`` ≥ 8, in both programs: the queries that depend on the data run in both communes)."""
    out = []
    for i in range(n):
        program = "NCC" if i % 5 == 4 else "BTXH"
        b = person(code, village=village, name=f"Người Thứ {code}-{i}", program=program,
                   national_id=f"0510{code}{i:03d}"[:12], coefficient=1.5 if program == "BTXH" else None,
                   monthly_amount=2_055_000 if program == "NCC" else 540_000)
        if i % 2 == 0:
            with_account(b, number=f"43002{code}{i:04d}")
        if i % 3 == 1:
            db.session.add(Finding(beneficiary_id=b.id, code="id_year_mismatch", severity="error",
                                   message="Số định danh không khớp năm sinh.", source="check"))
        out.append(b)
    db.session.flush()
    u = system_user()
    for b in out[3:5] + out[11::7]:
        changes.decide(changes.propose(b, "suspend", u, "2024-04", clause="3c"), u, True, "1/QĐ",
                       date(2024, 3, 25))
        changes.decide(changes.propose(b, "resume", u, "2024-06", arrears_from="2024-05"), u, True, "2/QĐ",
                       date(2024, 5, 25))
    db.session.commit()
    return out


def _lock_may(code):
    """May's lists of commune ``code`` built and locked (blocked lines held): June then reads
    a final list (the months it covered, the arrears it paid)."""
    built, _ = payments.build_area(find_commune(code, "2024-05"), "2024-05", ("BTXH", "NCC"), system_user())
    for p in built:
        for line in p.lines:
            if line.status == "blocked":
                payments.hold(line, "Chờ sửa hồ sơ")
        payments.lock(p, system_user())
    db.session.commit()


def _june(code):
    """``(statements, lines)`` of ``payments.build_area`` of commune ``code`` for June."""
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        built, _ = payments.build_area(find_commune(code, "2024-06"), "2024-06", ("BTXH", "NCC"), system_user())
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    lines = db.session.scalar(select(func.count()).select_from(PaymentLine).where(
        PaymentLine.period_id.in_([p.id for p in built])))
    return len(seen), lines


def test_statements_of_a_commune_do_not_grow_with_its_people(app):
    _people("21046", "Thôn Mỹ Long", 8)
    _people("21052", "Thôn An Thành", 40)
    for code in ("21046", "21052"):
        _lock_may(code)
    changes.apply_due(user=system_user())  # nothing left for the builds below to apply
    db.session.commit()
    small, small_lines = _june("21046")
    big, big_lines = _june("21052")
    assert (small_lines, big_lines) == (8, 40)
    arrears = db.session.scalar(select(func.count()).select_from(PaymentLine).where(PaymentLine.arrears > 0))
    assert arrears == 2 + 7  # the resumed people of each commune: the arrears were read
    assert big == small, f"{big} SQL statements for 40 people, {small} for 8: a query per person"


def _suspended_from_june(code, village, n):
    """``n`` people of commune ``code`` whose suspension from 06/2024 was decided in May."""
    u = system_user()
    for i in range(n):
        b = person(code, village=village, name=f"Người Dừng {code}-{i}", national_id=f"0520{code}{i:03d}"[:12],
                   coefficient=1.0)
        changes.decide(changes.propose(b, "suspend", u, "2024-06", clause="3c"), u, True, "3/QĐ",
                       date(2024, 5, 20))
    db.session.commit()


def _statements_of(fn):
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        return fn(), len(seen)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_decisions_coming_due_are_applied_in_statements_that_do_not_grow_with_them(app):
    # build_area starts with changes.apply_due: the records take the decisions of the month.
    _suspended_from_june("21046", "Thôn Mỹ Long", 2)
    few, small = _statements_of(lambda: changes.apply_due("2024-06", system_user()))
    db.session.commit()
    _suspended_from_june("21052", "Thôn An Thành", 12)
    many, big = _statements_of(lambda: changes.apply_due("2024-06", system_user()))
    db.session.commit()
    assert (few, many) == (2, 12)
    assert big == small, f"{big} SQL statements for 12 records, {small} for 2: a query per record"
