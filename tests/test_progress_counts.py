"""The progress counters (``progress_count``, kept by database triggers: services/tallies.py)
equal a count from the records after every kind of write: the demo build, an import, a
review saved on the web, an account added, changed, moved and removed, a status change
(through the changes workflow and directly, one row or in bulk), a merge, deletions in
either order, a copy with INSERT … SELECT. On SQLite and on PostgreSQL
(``TEST_DATABASE_URL``). ``flask recount`` mends wrong counters; another campaign start
is counted from the records."""
from collections import Counter
from datetime import date, datetime

from sqlalchemy import delete, select, text, update

from portal.extensions import db
from portal.models import Account, Beneficiary, ProgressCount
from portal.services import changes, progress, tallies
from portal.services.history import system_user
from tests.conftest import login, user
from tests.factories import person, visit, with_account


def expected():
    """``{(commune, village or 0, program): Counter}`` counted in Python from the records,
    the definitions of ``progress.Counts`` written out again (an independent reference)."""
    start = progress.campaign_start()
    out = {}
    for b in db.session.scalars(select(Beneficiary)):
        if b.status != "active" or b.deceased:
            continue
        has = b.account_status == "has_account"
        r = (b.account.recipient_type if b.account is not None else None) or "self"
        c = out.setdefault((b.commune_id, b.village_id or 0, b.program), Counter())
        c.update(total=1, reviewed=int(b.reviewed_at is not None and b.reviewed_at >= start),
                 with_account=int(has), own=int(has and r == "self"), guardian=int(has and r == "guardian"),
                 authorised=int(has and r == "authorised"), cashless=int(has and b.payment_method == "account"),
                 opening=int(b.account_status == "opening"), no_account=int(b.account_status == "no_account"),
                 refuses=int(b.account_status == "refuses"))
    return {k: {f: c[f] for f in tallies.FIELDS} for k, c in out.items()}


def stored():
    """``{(commune, village or 0, program): {field: n}}``: the sums of the counters' rows."""
    out = {}
    for r in db.session.scalars(select(ProgressCount)):
        c = out.setdefault((r.commune_id, r.village_id, r.program), Counter())
        c.update({f: getattr(r, f) for f in tallies.FIELDS})
    return {k: {f: c[f] for f in tallies.FIELDS} for k, c in out.items() if any(c.values())}


def assert_exact():
    """The counters equal the records, row by row, and ``count_rows`` (from the counters)
    equals ``_count_live`` (from the records) for the whole registry and each village."""
    db.session.flush()
    db.session.expire_all()
    assert tallies.usable(progress.campaign_start())
    assert stored() == expected()
    assert progress.count_rows() == progress._count_live()
    for v in {v for _, v, _ in stored()} - {0}:
        assert progress.count_rows(village_id=v) == progress._count_live(village_id=v)


def test_demo_build_and_every_write_keep_the_counters(app, client):
    from portal.services import demo
    demo.build_demo(size=300)
    db.session.commit()
    assert len(stored()) > 20
    assert_exact()

    # An account added, its type changed, moved to another person, removed.
    a = person(name="Nguyễn Văn An")
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=a.household)
    assert_exact()
    with_account(a, recipient="guardian")
    assert_exact()
    a.account.recipient_type = "authorised"
    assert_exact()
    b.account_status, b.payment_method = "has_account", "account"
    assert_exact()
    db.session.execute(update(Account).where(Account.beneficiary_id == a.id).values(beneficiary_id=b.id))
    assert_exact()
    db.session.execute(delete(Account).where(Account.beneficiary_id == b.id))
    assert_exact()
    db.session.commit()

    # A review saved on the web (an account and a visit at once).
    login(client, "commune")
    from tests.test_views import review_data
    r = client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a, recipient_type="guardian",
                                                                          holder_name="Nguyễn Thị Hoa", holder_national_id="051170123456"))
    assert r.status_code == 303, r.get_data(as_text=True)[:300]
    assert_exact()
    assert stored()[(a.commune_id, a.village_id, "BTXH")]["guardian"] >= 1
    visit(b, date(2024, 5, 20), account_status="opening", payment_method="cash")
    db.session.commit()
    assert_exact()

    # A stop through the changes workflow, a death recorded directly, a bulk suspension.
    c = changes.propose(b, "stop", user("commune"), "2024-05", clause="1d", note="Con cái phụng dưỡng")
    db.session.commit()
    changes.decide(c, user("district"), True, "15/QĐ-UBND", date(2024, 5, 20))
    db.session.commit()
    assert db.session.get(Beneficiary, b.id).status == "stopped"
    assert_exact()
    a.deceased = True
    db.session.commit()
    assert_exact()
    some = select(Beneficiary.id).where(Beneficiary.status == "active").limit(20).scalar_subquery()
    db.session.execute(update(Beneficiary).where(Beneficiary.id.in_(some)).values(status="suspended"))
    assert_exact()
    db.session.execute(update(Beneficiary).where(Beneficiary.status == "suspended").values(status="active"))
    db.session.execute(update(Beneficiary).values(reviewed_at=datetime(2023, 12, 31, 23, 59, 59))
                       .where(Beneficiary.id % 7 == 0))
    db.session.execute(update(Beneficiary).values(reviewed_at=datetime(2024, 1, 1)).where(Beneficiary.id % 11 == 0))
    assert_exact()
    # An update of a column the counters do not read changes nothing.
    db.session.execute(update(Beneficiary).values(phone="0900000000"))
    assert_exact()
    # A record moved to another commune and village.
    other = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường", national_id="051060222333")
    mover = db.session.scalar(select(Beneficiary).where(Beneficiary.status == "active",
                                                        Beneficiary.account_status == "has_account").limit(1))
    mover.commune_id, mover.village_id, mover.program = other.commune_id, None, "NCC"
    assert_exact()
    db.session.commit()

    # Folding the rows into one per key changes no figure.
    rows = db.session.scalar(select(db.func.count()).select_from(ProgressCount))
    assert tallies.compact() == len(stored()) < rows
    db.session.commit()
    assert_exact()
    b = db.session.get(Beneficiary, b.id)
    b.status = "active"
    assert_exact()
    assert tallies.compact() == len(stored())
    db.session.commit()


def test_merge_deletes_and_copies_keep_the_counters(app):
    from portal.services import merge as merging
    a = person(name="Đinh Thị Thủy", sex="F", national_id=None, birth=date(1950, 1, 1))
    b = person(name="Đinh Thị Thuỷ", sex="F", national_id="051150123456", birth=date(1950, 1, 1))
    with_account(b, number="4300205123456", recipient="guardian")
    db.session.commit()
    assert_exact()
    m = merging.merge(a, b, system_user(), {"national_id": "merged", "account": "merged"})
    db.session.commit()
    assert db.session.get(Beneficiary, b.id).status == "merged"
    assert_exact()
    merging.undo(m, system_user())
    db.session.commit()
    assert_exact()

    # A copy of the records with INSERT … SELECT (as bench/scale.py grows a registry), their
    # accounts next.
    cols = [c.name for c in Beneficiary.__table__.columns if c.name != "id"]
    db.session.execute(text(f"INSERT INTO beneficiary ({', '.join(cols)}) SELECT {', '.join(cols)} "
                            f"FROM beneficiary WHERE status = 'active'"))
    copies = db.session.scalars(select(Beneficiary.id).where(Beneficiary.id > b.id)).all()
    db.session.execute(Account.__table__.insert(), [
        {"beneficiary_id": i, "number": str(i), "recipient_type": "authorised"} for i in copies])
    db.session.execute(update(Beneficiary).where(Beneficiary.id.in_(copies))
                       .values(account_status="has_account", payment_method="account"))
    assert_exact()

    # Deletions: an account before its record, a record before its account (SQLite does not
    # enforce the foreign key; PostgreSQL would refuse, so there the account goes first).
    first, second = copies[0], copies[1]
    db.session.execute(delete(Account).where(Account.beneficiary_id == first))
    db.session.execute(delete(Beneficiary).where(Beneficiary.id == first))
    assert_exact()
    if db.engine.dialect.name == "sqlite":
        db.session.execute(delete(Beneficiary).where(Beneficiary.id == second))
        assert_exact()
        db.session.execute(delete(Account).where(Account.beneficiary_id == second))
        assert_exact()
    db.session.execute(delete(Account))
    db.session.execute(delete(Beneficiary).where(Beneficiary.id.in_(copies[2:])))
    assert_exact()
    db.session.commit()


def test_an_import_keeps_the_counters(app, runner, tmp_path):
    from tests import filegen
    from tests.test_imports import run_import, write
    people = filegen.make_people(24, seed=7)
    run_import(runner, write(tmp_path, "xlsx_one_row", people))
    assert db.session.scalar(select(db.func.count(Beneficiary.id))) >= 20
    assert_exact()
    with_accounts = sum(1 for p in people if p["account_number"])
    assert with_accounts and sum(c["with_account"] for c in stored().values()) >= 1
    for p in people[:6]:  # a second file: accounts added, a village changed
        p.update(account_number=p["account_number"] or "0071000123456", bank=p["bank"] or "Vietcombank")
    people[7]["village"] = "Thôn Mỹ Long"
    run_import(runner, write(tmp_path, "csv_comma", people), "21052", "--month", "2024-05",
               "--create-villages")
    assert_exact()


def test_recount_mends_wrong_counters(app, runner):
    from portal.services import demo
    demo.build_demo(size=200)
    db.session.commit()
    right = stored()
    db.session.execute(update(ProgressCount).values(total=ProgressCount.total + 3, reviewed=0))
    db.session.execute(text("INSERT INTO progress_count (commune_id, village_id, program, total) "
                            "VALUES (999999, 0, 'NCC', 5)"))
    db.session.execute(text("INSERT INTO progress_count (commune_id, village_id, program, total) "
                            "SELECT commune_id, village_id, program, 1 FROM progress_count"))
    db.session.commit()
    assert stored() != right
    r = runner.invoke(args=["recount"])
    assert r.exit_code == 0, r.output
    assert "progress_count" in r.output
    db.session.expire_all()
    assert stored() == right == expected()
    assert_exact()


def test_another_campaign_start_is_counted_from_the_records(app, runner):
    a = person(name="Nguyễn Văn An")
    visit(a, date(2024, 3, 1))
    db.session.commit()
    assert progress.count_rows()[(a.commune_id, "BTXH")].reviewed == 1
    app.config["CAMPAIGN_START"] = "2024-04-01"
    assert not tallies.usable(progress.campaign_start())
    db.session.execute(update(ProgressCount).values(total=99))  # not read any more
    live = progress.count_rows()
    assert live[(a.commune_id, "BTXH")].reviewed == 0 and live[(a.commune_id, "BTXH")].total == 1
    since = datetime(2024, 2, 1)  # a «since» of its own: from the records too
    assert progress.count_rows(since=since) == progress._count_live(since=since)
    assert progress.count_rows(since=since)[(a.commune_id, "BTXH")].total == 1
    r = runner.invoke(args=["recount"])  # counts from the new start, and reads the counters again
    assert r.exit_code == 0, r.output
    assert tallies.basis() == "2024-04-01 00:00:00" and tallies.usable(progress.campaign_start())
    assert progress.count_rows()[(a.commune_id, "BTXH")].reviewed == 0
    visit(a, date(2024, 5, 2))
    db.session.commit()
    assert_exact()
    assert progress.count_rows()[(a.commune_id, "BTXH")].reviewed == 1


def test_the_commune_page_lists_its_villages_from_the_counters(app, client):
    a = person(name="Nguyễn Văn An")
    person(name="Trần Thị Bích", sex="F", national_id="051155000111", village="Thôn Mỹ Long")
    with_account(a)
    stopped = person(name="Lê Văn Cường", national_id="051060222333", status="stopped")
    visit(a, date(2024, 5, 2))
    db.session.commit()
    rows = {v.name: (n, nr, na) for v, n, nr, na in progress.village_rows([a.commune_id])}
    assert rows == {"An Thành": (1, 0, 0), "Mỹ Long": (1, 1, 1)}
    app.config["CAMPAIGN_START"] = "2024-05-03"  # from the records: the same definitions
    rows = {v.name: (n, nr, na) for v, n, nr, na in progress.village_rows([a.commune_id])}
    assert rows == {"An Thành": (1, 1, 0), "Mỹ Long": (1, 1, 1)}
    app.config["CAMPAIGN_START"] = "2024-01-01"
    login(client, "district")
    html = client.get(f"/communes/{a.commune_id}").get_data(as_text=True)
    assert "Thôn Mỹ Long" in html and stopped.status == "stopped"


def test_the_worker_folds_the_counters(app):
    """The queue's periodic task ``portal.compact_counts`` folds the rows, figures unchanged."""
    for i in range(3):
        person(name=f"Người Thứ {i}", national_id=f"05105012345{i}")
        db.session.commit()
    before = stored()
    assert db.session.scalar(select(db.func.count()).select_from(ProgressCount)) == 3
    huey = app.extensions["huey"]
    task = next(t for t in huey._registry._periodic_tasks if t.__name__.endswith("compact_counts"))
    huey.execute(task())
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(ProgressCount)) == 1
    assert stored() == before == expected()
