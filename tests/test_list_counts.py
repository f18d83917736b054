"""A locked list's stored figures (counts.py) equal a recount from its lines after every
write that changes them: the lock, a new version, each result, each visit (of the record,
or of the record an HTXH record was transferred from), on SQLite and on PostgreSQL
(``TEST_DATABASE_URL``). Reports read them (made reports too, when counted by then)."""
from datetime import date, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import PaymentCount, PaymentLine, PaymentPeriod, utcnow
from portal.services import counts, payments, reports
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.factories import person, visit, with_account


def stored_equals_recount(*periods):
    """Assert every given list has its figures stored and that they equal a recount; returns
    them (``{key: n}`` for one list, ``{period id: {key: n}}`` for several)."""
    ids = [p.id for p in periods]
    db.session.flush()
    kept = counts.stored(ids)
    assert sorted(kept) == sorted(ids), "a locked list without stored figures"
    assert kept == counts.line_figures(ids)
    return kept[ids[0]] if len(ids) == 1 else kept


def lock(month="2024-05", reason=None):
    p = payments.build(find_commune("21052", month), month, "BTXH", system_user(), reason=reason)
    payments.lock(p, system_user())
    db.session.commit()
    return p


def line_of(period, b):
    return db.session.scalar(select(PaymentLine).where(PaymentLine.period_id == period.id,
                                                       PaymentLine.beneficiary_id == b.id))


def test_counts_follow_the_lock_the_results_and_the_visits(app):
    an = with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    bich = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    dung = with_account(person(name="Phạm Văn Dũng", national_id="051050777888", coefficient=1.0),
                        number="0071000123456", bin_="970436", recipient="guardian", holder="Phạm Thị Mai")
    db.session.commit()
    officer = system_user()
    p = lock()
    f = stored_equals_recount(p)
    assert (f["listed"], f["with_account"], f["pending"], f["reviewed"], f["paid"]) == (3, 2, 3, 0, 0)

    for line, result, reason in ((line_of(p, an), "paid_account", None), (line_of(p, dung), "failed", "Sai số"),
                                 (line_of(p, bich), "paid_cash", None), (line_of(p, dung), "paid_account", None),
                                 (line_of(p, bich), "pending", None), (line_of(p, bich), "returned", "Đi vắng")):
        payments.record_result(line, officer, result, reason)
        db.session.commit()
        stored_equals_recount(p)
    f = stored_equals_recount(p)
    assert (f["paid_cashless"], f["own_account"], f["proxy_account"], f["returned"]) == (2, 1, 1, 1)

    visit(an, date(2024, 5, 20))  # in the month: An counts as reviewed
    db.session.commit()
    assert stored_equals_recount(p)["reviewed"] == 1
    visit(an, date(2024, 5, 21))  # again: still one person
    db.session.commit()
    assert stored_equals_recount(p)["reviewed"] == 1
    visit(bich, date(2024, 6, 3))  # after May's end: not May's
    db.session.commit()
    assert stored_equals_recount(p)["reviewed"] == 1

    again = lock(reason="Bổ sung")  # a new version keeps the results it pays the same way
    f = stored_equals_recount(p, again)[again.id]
    assert f["paid"] == 2 and f["reviewed"] == 1


def test_a_visit_of_the_btxh_record_counts_on_the_htxh_list(app):
    """An HTXH record opened by the transfer counts the visits of its BTXH record."""
    old = person(name="Lê Văn Cường", national_id="051060222333", status="stopped")
    new = person(name="Lê Văn Cường", national_id="051060222333", program="HTXH", transferred_from_id=old.id)
    other = person(name="Đỗ Thị Em", sex="F", national_id="051170333444", program="HTXH")
    commune = find_commune("21052", "2025-07")
    p = PaymentPeriod(commune_id=commune.id, month="2025-08", program="HTXH", status="locked",
                      created_by_id=system_user().id, locked_at=utcnow())
    db.session.add(p)
    db.session.flush()
    for i, b in enumerate((new, other)):
        db.session.add(PaymentLine(period_id=p.id, beneficiary_id=b.id, amount=500000, method="cash",
                                   reference=f"T{i}"))
    counts.recount([p.id])
    db.session.commit()
    assert stored_equals_recount(p)["reviewed"] == 0
    old.status = "active"  # the review form needs a record it may edit; the status is not counted
    visit(old, date(2025, 8, 10))
    db.session.commit()
    assert stored_equals_recount(p)["reviewed"] == 1
    visit(other, date(2025, 9, 2))  # after August
    db.session.commit()
    assert stored_equals_recount(p)["reviewed"] == 1


def test_reports_read_the_stored_figures_and_recount_a_list_without_them(app):
    an = with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    db.session.commit()
    p = lock()
    payments.record_result(line_of(p, an), system_user(), "paid_account")
    db.session.commit()
    area = find_commune("21052", "2024-05")
    live = reports.figures([area.id], "2024-05")
    # A stored figure is what the report shows: change it, the report follows.
    row = db.session.get(PaymentCount, (p.id, "listed"))
    row.n = 99
    db.session.flush()
    assert reports.figures([area.id], "2024-05")[(area.id, "BTXH")]["listed"] == 99
    # Made before the counts' time: recounted from the lines as of then.
    before = p.counted_at - timedelta(seconds=1)
    assert reports.figures([area.id], "2024-05", as_of=before)[(area.id, "BTXH")]["listed"] == 0
    # No stored figures (a list locked before migration 0012): counted from the lines.
    db.session.execute(PaymentCount.__table__.delete())
    db.session.execute(PaymentPeriod.__table__.update().values(counted_at=None))
    db.session.expire_all()
    assert reports.figures([area.id], "2024-05") == live
    assert counts.recount() == 1
    assert reports.figures([area.id], "2024-05") == live
    assert live[(area.id, "BTXH")]["paid_cashless"] == 1


def test_the_demo_districts_lists_are_counted_right(demo_app):
    """Every locked list of the demo (built, locked, paid in bulk, visited) holds the figures
    a recount gives."""
    with demo_app.app_context():
        ids = list(db.session.scalars(select(PaymentPeriod.id).where(PaymentPeriod.status == "locked")))
        assert ids
        kept = counts.stored(ids)
        assert sorted(kept) == sorted(ids)
        assert kept == counts.line_figures(ids)
        assert sum(f["reviewed"] for f in kept.values()) > 0
