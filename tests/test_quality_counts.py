"""The data-quality counters (``finding_count``, ``quality_record``, ``quality_count``, kept by
database triggers: services/quality_counts.py) equal a count from the findings and the
registry after every kind of write: the checks of a demo, a fix on the web, the police's
answers, a merge and its undo, findings resolved, reopened, inserted and deleted in bulk
(two errors of one record in one statement), a status and a name changed, a record deleted,
an import with problems. The worklist read from them lists the same records in the same
order as one grouped from the findings. ``recount_quality`` mends wrong counters. On SQLite
and on PostgreSQL (``TEST_DATABASE_URL``)."""
from collections import Counter
from datetime import date

from sqlalchemy import delete, func, select, text, update

from portal.extensions import db
from portal.models import (Area, Beneficiary, Finding, FindingCount, QualityCount, QualityRecord, Verification,
                           utcnow)
from portal.services import checks, police, quality_counts
from portal.services.history import system_user
from tests import filegen
from tests.conftest import login, user
from tests.factories import person


def communes():
    return db.session.scalars(select(Area.id).where(Area.level == "commune").order_by(Area.id)).all()


def expected_records():
    """``{(beneficiary id, commune id): (errors, warnings)}`` counted in Python from every
    finding (the definition of ``checks._open_check`` written out again)."""
    out = Counter()
    for f in db.session.scalars(select(Finding)):
        if f.source in ("check", "police") and f.resolved_at is None and f.commune_id is not None:
            out[(f.beneficiary_id, f.commune_id, f.severity == "error")] += 1
    keys = {(b, c) for b, c, _e in out}
    return {k: (out[(*k, True)], out[(*k, False)]) for k in keys}


def assert_exact(worklists=True):
    """The counters equal the findings and the registry, per commune and per record; the
    worklist of each commune with findings (pages 1 and 2, a common and a rare rule, two
    communes at once) equals the one grouped from the findings."""
    db.session.flush()
    db.session.expire_all()
    ids = communes()
    assert checks.commune_summaries(ids) == checks._summaries_live(ids)
    rows = db.session.scalars(select(QualityRecord)).all()
    assert {(r.beneficiary_id, r.commune_id): (r.errors, r.warnings) for r in rows} == expected_records()
    names = dict(db.session.execute(select(Beneficiary.id, Beneficiary.name_folded)).all())
    for r in rows:
        assert r.rank == (0 if r.errors else 1) and r.name_folded == names[r.beneficiary_id]
    counts = {c.commune_id: c for c in db.session.scalars(select(QualityCount))}
    flagged = Counter(r.commune_id for r in rows)
    assert {c: n for c, n in flagged.items()} == {c: q.with_finding for c, q in counts.items() if q.with_finding}
    assert not db.session.scalar(select(func.count()).select_from(FindingCount).where(FindingCount.n < 0))
    if not worklists:
        return
    busy = [c for c, _n in flagged.most_common()]
    for units in [[c] for c in busy] + [busy[:2]]:
        rules = Counter(f.code for f in db.session.scalars(select(Finding).where(
            Finding.commune_id.in_(units), checks._open_check())))
        for rule in [None] + [r for r, _n in rules.most_common()[:1]] + [r for r, _n in rules.most_common()[-1:]]:
            for page in (1, 2):
                rows_, total = checks.worklist(units, rule, page, per_page=7)
                assert ([b.id for b, _f in rows_], total) == checks._worklist_live(units, rule, page, per_page=7), \
                    (units, rule, page)
                assert all(found for _b, found in rows_)


def test_checks_fixes_police_and_merges_keep_the_counters(app, client):
    from portal.services import demo
    from portal.services import merge as merging
    demo.build_demo(size=300)
    demo.plant_problems(paid=False)
    db.session.commit()
    assert_exact()
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    assert sum(db.session.scalars(select(QualityCount.with_error))) > 10
    assert_exact()

    # Records changed behind the checks' back, then checked again: findings resolved and added.
    people = db.session.scalars(select(Beneficiary).order_by(Beneficiary.id).limit(40)).all()
    for b in people[:20]:
        b.category = None
    for b in people[20:40]:
        b.full_name = b.full_name.upper()
    db.session.commit()
    checks.recheck(select(Beneficiary.id).where(Beneficiary.id.in_([b.id for b in people])))
    db.session.commit()
    assert_exact()
    for b in people[:20]:
        b.category = "Người cao tuổi"
    db.session.commit()
    result = checks.recheck(select(Beneficiary.id))
    db.session.commit()
    assert result["resolved"] >= 20
    assert_exact()

    # A fix on the web (the commune officer's flow), which checks the record again.
    from tests.test_quality import fix_data
    a = person(name="nguyễn văn an", national_id="051150123456")  # a man with a woman's digit
    db.session.flush()
    checks.recheck(checks.ids_touching(a))
    db.session.commit()
    assert_exact(worklists=False)
    login(client, "commune")
    r = client.post(f"/quality/fix/{a.id}", data=fix_data(client, a, "national_id", "051050123456"))
    assert r.status_code == 303
    assert "id_sex_century_mismatch" not in {f.code for f in checks.findings_of(a.id)}
    assert_exact()

    # The police's answers: a death (an error, and the record's deceased_active after the
    # recheck), then "not found", which resolves the earlier answer.
    police.record(a, user("police"), "2024-05", "deceased", died_on=date(2024, 4, 12))
    db.session.commit()
    checks.recheck(checks.ids_touching(a))
    db.session.commit()
    assert {"police_deceased", "deceased_active"} <= {f.code for f in checks.findings_of(a.id)}
    assert_exact()
    police.record(a, user("police"), "2024-05", "not_found")
    db.session.commit()
    assert {f.code for f in checks.findings_of(a.id) if f.source == "police"} == {"police_not_found"}
    assert db.session.scalar(select(func.count(Verification.id))) == 2
    assert_exact()

    # A merge resolves the merged record's findings; its undo opens them again.
    twin_a = person(name="Đinh Thị Thủy", sex="F", national_id=None, birth=date(1950, 1, 1))
    twin_b = person(name="Đinh Thị Thuỷ", sex="F", national_id="051150123457", birth=date(1950, 1, 1))
    db.session.flush()
    checks.recheck(select(Beneficiary.id).where(Beneficiary.id.in_([twin_a.id, twin_b.id])))
    db.session.commit()
    assert_exact(worklists=False)
    m = merging.merge(twin_a, twin_b, system_user(), {"national_id": "merged"})
    db.session.commit()
    assert db.session.get(Beneficiary, twin_b.id).status == "merged"
    assert_exact()
    merging.undo(m, system_user())
    db.session.commit()
    assert_exact()


def test_bulk_writes_deletions_and_recount(app, runner, tmp_path):
    from portal.services import demo
    demo.build_demo(size=200)
    db.session.commit()
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    assert_exact()
    commune = db.session.scalar(select(Finding.commune_id).where(checks._open_check()).limit(1))

    # One statement resolves a rule's findings in a commune, another opens them again.
    now = utcnow()
    ids = db.session.scalars(select(Finding.id).where(Finding.commune_id == commune, Finding.code == "not_verified",
                                                      checks._open_check())).all()
    assert len(ids) > 3
    db.session.execute(update(Finding).where(Finding.id.in_(ids)).values(resolved_at=now))
    assert_exact()
    db.session.execute(update(Finding).where(Finding.id.in_(ids)).values(resolved_at=None))
    assert_exact()
    # Two errors of one record without one (and a warning of another) in one multi-row
    # INSERT; a severity changed; the same rows deleted by one statement.
    clean = db.session.scalar(select(Beneficiary.id).where(
        Beneficiary.commune_id == commune, ~Beneficiary.id.in_(select(Finding.beneficiary_id).where(
            checks._open_check(), Finding.severity == "error"))).limit(1))
    other = db.session.scalar(select(Beneficiary.id).where(Beneficiary.commune_id == commune,
                                                           Beneficiary.id != clean).limit(1))
    rows = [{"beneficiary_id": bid, "commune_id": commune, "code": code, "severity": sev, "message": "x",
             "source": "check", "created_at": now}
            for bid, code, sev in ((clean, "missing_amount", "error"), (clean, "unknown_bank", "error"),
                                   (other, "missing_sex", "warning"))]
    db.session.execute(Finding.__table__.insert(), rows)
    assert_exact()
    db.session.execute(update(Finding).where(Finding.beneficiary_id == clean, Finding.code == "unknown_bank")
                       .values(severity="warning"))
    assert_exact()
    db.session.execute(update(Finding).where(Finding.beneficiary_id == clean, Finding.code == "missing_amount")
                       .values(source="import"))
    assert_exact()
    db.session.execute(delete(Finding).where(Finding.message == "x"))
    assert_exact()

    # A status, a commune and a name changed by statements; a record deleted with its findings.
    some = db.session.scalars(select(Beneficiary.id).where(Beneficiary.commune_id == commune).limit(5)).all()
    db.session.execute(update(Beneficiary).where(Beneficiary.id.in_(some)).values(status="merged"))
    db.session.execute(update(Beneficiary).where(Beneficiary.id == some[0]).values(status="active",
                                                                                  commune_id=communes()[0]))
    db.session.execute(update(Beneficiary).where(Beneficiary.id.in_(some)).values(name_folded="aaa a"))
    assert_exact()
    gone = some[1]
    db.session.execute(delete(Finding).where(Finding.beneficiary_id == gone))
    from portal.models import Account, Event, Review
    for model in (Account, Event, Review):
        db.session.execute(delete(model).where(model.beneficiary_id == gone))
    db.session.execute(delete(Beneficiary).where(Beneficiary.id == gone))
    assert_exact()
    db.session.commit()

    # An import with problems (the CLI checks what it wrote).
    flagged = sum(db.session.scalars(select(QualityCount.with_finding)))
    people = filegen.make_people(24, seed=7)
    filegen.plant_problems(people)
    path = tmp_path / "ds.xlsx"
    filegen.write_list(people, "xlsx_two_row", path, program="BTXH")
    r = runner.invoke(args=["import-list", str(path), "--commune", "21052", "--json", "--program", "BTXH",
                            "--month", "2024-05", "--create-villages"])
    assert r.exit_code == 0, r.output
    assert db.session.scalar(select(func.count()).select_from(Finding).where(
        Finding.batch_id.is_not(None))) > 0
    assert sum(db.session.scalars(select(QualityCount.with_finding))) >= flagged + 24
    assert_exact()

    # Wrong counters (a direct edit) are mended by the recount.
    before = checks.commune_summaries(communes())
    db.session.execute(text("UPDATE finding_count SET n = n + 5"))
    db.session.execute(text("UPDATE quality_count SET records = 0, with_error = with_error + 1"))
    db.session.execute(delete(QualityRecord).where(QualityRecord.commune_id == commune))
    db.session.execute(update(QualityRecord).values(rank=7))
    assert checks.commune_summaries(communes()) != before
    counted = quality_counts.recount_quality()
    db.session.commit()
    assert counted["findings"] == sum(s["errors"] + s["warnings"] for s in before.values())
    assert counted["records"] == sum(s["records"] for s in before.values())
    assert checks.commune_summaries(communes()) == before
    assert_exact()
    # The same through ``flask recount``, with the other counters' steps.
    db.session.execute(text("UPDATE quality_count SET with_finding = with_finding + 3"))
    db.session.execute(delete(FindingCount))
    db.session.commit()
    r = runner.invoke(args=["recount"])
    assert r.exit_code == 0 and "quality_count" in r.output, r.output
    assert checks.commune_summaries(communes()) == before
    assert_exact()
