"""The demo district: deterministic, plausible, idempotent, with demo users who can log in."""
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import (
    Account,
    Area,
    Beneficiary,
    Event,
    Finding,
    Household,
    Review,
    User,
)
from portal.services import demo

SIZE = 600


def _new_app():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        db.create_all()
    return app


def _snapshot():
    rows = db.session.execute(
        select(Beneficiary.full_name, Beneficiary.national_id, Beneficiary.birth_date,
               Beneficiary.program, Beneficiary.category, Beneficiary.monthly_amount,
               Beneficiary.account_status, Beneficiary.reviewed_at, Area.code,
               Account.number, Account.holder_name)
        .join(Area, Area.id == Beneficiary.commune_id)
        .outerjoin(Account, Account.beneficiary_id == Beneficiary.id)
        .order_by(Beneficiary.id)).all()
    return [tuple(r) for r in rows]


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture(scope="module")
def built():
    """One demo district of about 600 people, built on an empty database (no areas loaded)."""
    app = _new_app()
    with app.app_context():
        counts = demo.build_demo(size=SIZE)
        db.session.commit()
        yield counts


@pytest.fixture
def people(built):
    return db.session.scalars(select(Beneficiary).order_by(Beneficiary.id)).all()


def test_counts_match_the_database(built):
    assert built["communes"] == 22
    assert built["beneficiaries"] == _count(Beneficiary) == SIZE
    assert built["BTXH"] + built["NCC"] == SIZE
    assert built["households"] == _count(Household)
    assert built["reviewed"] == _count(Review)
    assert built["with_account"] == _count(Account)
    assert 22 * 3 <= built["villages"] <= 22 * 6
    assert "skipped" not in built


def test_same_seed_same_world_other_seed_other_world(built):
    first = _snapshot()
    other = _new_app()
    with other.app_context():
        demo.build_demo(size=SIZE)
        assert _snapshot() == first
    third = _new_app()
    with third.app_context():
        demo.build_demo(seed=7, size=SIZE)
        assert _snapshot() != first


def test_proportions(built, people):
    ncc = sum(b.program == "NCC" for b in people)
    assert 0.25 <= ncc / len(people) <= 0.40
    statuses = Counter(b.account_status for b in people)
    assert set(statuses) == {"has_account", "opening", "no_account", "refuses", "unknown"}
    recipients = Counter(a.recipient_type for a in db.session.scalars(select(Account)))
    assert recipients["guardian"] > 0 and recipients["authorised"] > 0
    assert recipients["self"] > recipients["guardian"] + recipients["authorised"]
    year_only = sum(b.birth_date is None for b in people)
    assert 0.04 <= year_only / len(people) <= 0.18
    missing_id = sum(b.national_id is None for b in people)
    assert 0 < missing_id / len(people) <= 0.08


def test_national_ids_unique_and_consistent(people):
    ids = [b.national_id for b in people if b.national_id]
    assert len(ids) == len(set(ids))
    for b in people:
        if b.national_id is None:
            continue
        assert re.fullmatch(r"051\d{9}", b.national_id), b.national_id
        g, yy = int(b.national_id[3]), b.national_id[4:6]
        century = 0 if b.birth_year < 2000 else 2
        assert g == century + (1 if b.sex == "F" else 0), (b.full_name, b.national_id)
        assert yy == f"{b.birth_year % 100:02d}"
        if b.birth_date:
            assert b.birth_date.year == b.birth_year


def test_guardian_accounts_name_another_person(people):
    for b in people:
        a = b.account
        if a is None:
            continue
        assert re.fullmatch(r"\d{10,14}", a.number)
        assert not (a.number.startswith("9704") and len(a.number) in (16, 19))
        if a.bank_bin in ("971005", "971011"):
            assert len(a.number) == 10 and a.number.startswith("0")
        if a.recipient_type == "self":
            assert a.holder_name == b.full_name and a.holder_national_id is None
        else:
            assert a.holder_name and a.holder_name != b.full_name
            assert re.fullmatch(r"\d{12}", a.holder_national_id)
    children = [b for b in people if b.account and date(2024, 5, 24).year - b.birth_year < 15]
    assert all(b.account.recipient_type == "guardian" for b in children)
    numbers = [a.number for a in db.session.scalars(select(Account))]
    assert len(numbers) == len(set(numbers))


def test_review_state_is_coherent(people):
    system = db.session.scalar(select(User).where(User.username == "system"))
    officer = db.session.scalar(select(User).where(User.username == "commune"))
    reviews = Counter(r.beneficiary_id for r in db.session.scalars(select(Review)))
    for b in people:
        if b.account_status == "unknown":
            assert b.reviewed_at is None and b.id not in reviews
        else:
            assert datetime(2024, 1, 1) <= b.reviewed_at < datetime(2024, 6, 1)
            assert reviews[b.id] == 1
            expected = officer if b.commune.code == "21052" else system
            assert b.reviewed_by_id == expected.id
        assert (b.account is not None) == (b.account_status == "has_account")
        if b.payment_method == "account":
            assert b.account_status == "has_account"
        if b.account_status in ("no_account", "refuses"):
            assert b.no_account_reason
    assert any(b.account_status == "has_account" and b.payment_method == "cash" for b in people)


def test_amounts_and_categories(people):
    for b in people:
        assert b.category
        if b.program == "BTXH":
            assert b.coefficient in (1.0, 1.5, 2.0, 2.5, 3.0)
            assert b.monthly_amount == round(b.coefficient * 360_000)
        else:
            assert b.monthly_amount in (1_585_000, 2_055_000, 2_470_000, 2_660_000, 2_850_000)
    elderly = [b for b in people if b.category == "Người cao tuổi từ đủ 80 tuổi trở lên"]
    assert elderly and all(2024 - b.birth_year >= 80 for b in elderly)
    orphans = [b for b in people if b.category == "Trẻ em mồ côi cả cha và mẹ"]
    assert orphans and all(2024 - b.birth_year <= 16 for b in orphans)


def test_names_are_clean_and_sex_follows_them(people):
    for b in people:
        assert b.full_name == unicodedata.normalize("NFC", b.full_name)
        words = b.full_name.split(" ")
        assert 2 <= len(words) <= 4 and all(w[:1].isupper() and w[1:].islower() for w in words)
        if "Thị" in words[1:-1]:
            assert b.sex == "F", b.full_name
        assert b.sex in ("M", "F")


def test_communes_and_villages(built, people):
    district = db.session.scalar(select(Area).where(Area.level == "district", Area.code == "524"))
    communes = db.session.scalars(select(Area).where(
        Area.level == "commune", Area.parent_id == district.id)).all()
    assert len(communes) == 22 and all(c.valid_to == date(2025, 6, 30) for c in communes)
    by_commune = defaultdict(list)
    for v in db.session.scalars(select(Area).where(Area.level == "village")):
        assert v.parent in communes
        assert v.path.startswith(v.parent.path)
        by_commune[v.parent.code].append(v.full_name)
    assert all(3 <= len(by_commune[c.code]) <= 6 for c in communes)
    assert "Thôn Phước Hòa" in by_commune["21052"]
    assert all(name.startswith("Tổ dân phố ") for name in by_commune["21040"])
    for b in people:
        assert b.village.parent_id == b.commune_id
        assert b.commune in communes
    per_commune = Counter(b.commune.code for b in people)
    assert len(per_commune) == 22
    assert per_commune["21052"] >= 0.04 * SIZE
    assert max(per_commune.values()) > 1.5 * min(per_commune.values())  # uneven


def test_households(people):
    for hh in db.session.scalars(select(Household)):
        members = hh.members
        assert 1 <= len(members) <= 3
        assert {m.village_id for m in members} == {hh.village_id}
        assert {m.commune_id for m in members} == {hh.commune_id}
        assert hh.head_name == members[0].full_name
    sizes = Counter(len(hh.members) for hh in db.session.scalars(select(Household)))
    assert sizes[1] > sizes[2] > 0 and sizes[3] > 0


def test_history_and_findings(people):
    creations = Counter(e.beneficiary_id for e in db.session.scalars(
        select(Event).where(Event.action == "create")))
    assert all(creations[b.id] == 1 for b in people)
    # Every record was created by the import (a session's event has no record: source outreach).
    assert all(e.source == "import" for e in db.session.scalars(
        select(Event).where(Event.action == "create", Event.beneficiary_id.is_not(None))))
    findings = db.session.scalars(select(Finding)).all()
    assert {f.beneficiary_id for f in findings} == {b.id for b in people if b.national_id is None}
    assert all(f.code == "missing_id" and f.severity == "warning" and f.source == "import"
               for f in findings)


def test_second_build_adds_nothing(built):
    before = {m: _count(m) for m in (Beneficiary, Household, Account, Review, Event, Finding, Area, User)}
    again = demo.build_demo(size=SIZE)
    assert again["skipped"] is True
    assert {k: v for k, v in again.items() if k != "skipped"} == built
    assert {m: _count(m) for m in before} == before


def test_demo_users_log_in_with_their_roles_and_areas(built):
    users = demo.create_demo_users(fast=True, world="2024")
    db.session.commit()
    expected = {"admin": ("admin", "province", "51"), "district": ("district", "district", "524"),
                "commune": ("commune", "commune", "21052"), "police": ("police", "commune", "21052"),
                "payer": ("payer", "district", "524")}
    assert [u.username for u in users] == list(expected)
    for u in users:
        role, level, code = expected[u.username]
        assert (u.role, u.area.level, u.area.code) == (role, level, code)
        assert u.check_password("demo") and not u.check_password("wrong")
        assert u.is_active and u.full_name
    assert users[2].area.valid_to == date(2025, 6, 30)
    # Updating keeps one user per name; the default hash works too.
    demo.create_demo_users(password="other", world="2024")
    assert _count(User) == len(expected) + 1  # and the system user
    assert db.session.scalar(select(User).where(User.username == "commune")).check_password("other")


def test_users_first_then_demo():
    """``create_demo_users`` may run before ``build_demo`` (the test fixtures do so)."""
    app = _new_app()
    with app.app_context():
        users = demo.create_demo_users(fast=True, world="2024")
        counts = demo.build_demo(size=120)
        db.session.commit()
        assert counts["beneficiaries"] == 120
        officer = db.session.scalar(select(User).where(User.username == "commune"))
        assert officer.id == users[2].id and officer.check_password("demo")
        assert db.session.scalar(select(func.count()).select_from(User).where(
            User.username == "commune")) == 1


# ------------------------------------------------------------------ the months already paid

from portal.models import ChangeProposal, PaymentLine, PaymentPeriod  # noqa: E402
from portal.services import payments, reports  # noqa: E402
from portal.services.areas import find_area  # noqa: E402

MONTHS = demo.PAID_MONTHS


def _district():
    return find_area("524", "district", on=date(2024, 3, 1))


def _lines(month, commune_code=None, program=None, beneficiary_id=None):
    q = (select(PaymentLine).join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
         .join(Area, Area.id == PaymentPeriod.commune_id).where(PaymentPeriod.month == month))
    if beneficiary_id:
        q = q.where(PaymentLine.beneficiary_id == beneficiary_id)
    if commune_code:
        q = q.where(Area.code == commune_code)
    if program:
        q = q.where(PaymentPeriod.program == program)
    return db.session.scalars(q.order_by(PaymentLine.id)).all()


def _change(kind):
    """The demo's decided change of that kind (other tests may propose more)."""
    return db.session.scalars(select(ChangeProposal).where(ChangeProposal.kind == kind,
                                                           ChangeProposal.status == "approved")).one()


def test_every_commune_has_a_locked_list_for_each_paid_month(demo_app):
    with demo_app.app_context():
        communes = demo._communes(load=False)
        for month in MONTHS:
            periods = db.session.scalars(select(PaymentPeriod).where(PaymentPeriod.month == month)).all()
            assert {(p.commune_id, p.program) for p in periods} == {
                (c.id, prog) for c in communes for prog in ("BTXH", "NCC")}
            assert all(p.status == "locked" and p.version == 1 for p in periods)
            assert all(p.locked_at.date() == date(int(month[:4]), int(month[5:]), 5) for p in periods)
            district = db.session.scalar(select(User).where(User.username == "district"))
            assert {(p.created_by_id, p.locked_by_id) for p in periods} == {(district.id, district.id)}


def test_the_may_report_has_real_figures_and_cashless_grows(demo_app):
    with demo_app.app_context():
        totals = {m: reports.monthly_report(_district(), m)["total"] for m in MONTHS}
        may = totals["2024-05"]
        assert may["paid"] > 4000 and may["paid_cashless"] > 1000 and may["amount_cashless"] > 0
        assert may["paid_cash"] > 0 and may["own_account"] > 0 and may["proxy_account"] > 0
        assert may["failed"] > 0 and may["returned"] > 0
        assert 0 < may["pending"] < may["listed"] / 4  # May is still being paid
        assert may["paid_into_account_of_those_with_account"] > 0 and may["reviewed"] > 0
        cashless = [totals[m]["paid_cashless"] for m in MONTHS]
        assert totals["2024-01"]["paid_cashless"] < may["paid_cashless"]
        assert cashless == sorted(cashless) and len(set(cashless)) == len(cashless)
        assert [totals[m]["pending"] for m in MONTHS[:-1]] == [0, 0, 0, 0]


def test_reconciliations_and_reports_add_up(demo_app):
    with demo_app.app_context():
        listed = dict(db.session.execute(select(PaymentLine.period_id, func.count()).where(
            PaymentLine.status == "listed").group_by(PaymentLine.period_id)).all())
        for p in db.session.scalars(select(PaymentPeriod).where(PaymentPeriod.month.in_(("2024-01", "2024-05")))):
            rec = payments.reconciliation(p)
            assert rec["listed"] == sum(rec[r] for r in payments.RESULTS) == listed.get(p.id, 0)
            assert rec["amount_paid_account"] + rec["amount_paid_cash"] + rec["amount_failed"] + \
                rec["amount_returned"] + rec["amount_pending"] == payments.totals(p)["amount"]
        for month in MONTHS:
            r = reports.monthly_report(_district(), month)
            for row in r["rows"]:
                assert row["listed"] == row["paid"] + row["failed"] + row["returned"] + row["pending"]
                assert row["paid"] == row["paid_cashless"] + row["paid_cash"]
                assert row["paid_cashless"] == row["own_account"] + row["proxy_account"]
                assert row["paid_into_account_of_those_with_account"] <= row["with_account"] <= row["listed"]
            for program, total in r["totals"].items():
                for k in reports.KEYS + reports.EXTRA_KEYS:
                    assert total[k] == sum(x[k] for x in r["rows"] if x["program"] == program), (month, k)
            assert r["total"]["listed"] == sum(n for pid, n in listed.items() if pid in {
                p.id for p in db.session.scalars(select(PaymentPeriod).where(PaymentPeriod.month == month))})


def test_results_are_events_dated_in_their_month(demo_app):
    with demo_app.app_context():
        payer = db.session.scalar(select(User).where(User.username == "payer"))
        events = {e.payment_line_id: e for e in db.session.scalars(
            select(Event).where(Event.field == "result"))}
        lines = db.session.execute(
            select(PaymentLine.id, PaymentLine.beneficiary_id, PaymentLine.method, PaymentLine.result,
                   PaymentLine.result_reason, PaymentLine.result_at, PaymentLine.result_by_id,
                   PaymentPeriod.month, PaymentPeriod.locked_at)
            .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)).all()
        n_done = 0
        for line in lines:
            e = events.get(line.id)
            if line.result == "pending":
                assert e is None
                continue
            n_done += 1
            assert (e.source, e.action, e.old_value, e.new_value) == ("payment", "update", "pending", line.result)
            assert e.beneficiary_id == line.beneficiary_id and e.user_id == payer.id == line.result_by_id
            assert e.at == line.result_at and line.locked_at < e.at < datetime(2024, 5, 25)
            assert f"{e.at:%Y-%m}" == line.month
            assert (line.result_reason is not None) == (line.result in ("failed", "returned"))
            assert line.result != "paid_account" or line.method == "account"
        assert n_done == len(events) > 20_000
        # A past month recounted as of its last day gives the same numbers as today.
        for month in MONTHS[:-1]:
            end = datetime.combine(months_end(month), datetime.max.time())
            assert reports.monthly_report(_district(), month, as_of=end)["total"] == \
                reports.monthly_report(_district(), month)["total"]
        mid_may = reports.monthly_report(_district(), "2024-05", as_of=datetime(2024, 5, 15))["total"]
        may = reports.monthly_report(_district(), "2024-05")["total"]
        assert mid_may["listed"] == may["listed"] and mid_may["paid"] < may["paid"]
        assert reports.monthly_report(_district(), "2024-05", as_of=datetime(2024, 5, 4))["total"]["listed"] == 0


def months_end(month):
    from portal.services import months
    return months.end(month)


def test_failed_account_payments_open_findings(demo_app):
    """One failed-payment finding per person, worded by the latest failure, closed when a
    later payment into the account went through (as ``payments.record_result`` does)."""
    with demo_app.app_context():
        history = {}
        for m in MONTHS:
            for x in _lines(m):
                if x.method == "account" and x.result != "pending":
                    history.setdefault(x.beneficiary_id, []).append(x)
        failed = {bid: xs for bid, xs in history.items() if any(x.result == "failed" for x in xs)}
        assert len(failed) > 10
        findings = db.session.scalars(select(Finding).where(Finding.code == "payment_failed")).all()
        assert sorted(f.beneficiary_id for f in findings) == sorted(failed)
        for f in findings:
            xs = sorted(failed[f.beneficiary_id], key=lambda x: x.result_at)
            last = [x for x in xs if x.result == "failed"][-1]
            assert last.result_reason == "Tài khoản đã đóng"
            assert f.message == (f"Chi trả tháng {last.period.month[5:]}/{last.period.month[:4]} vào tài khoản "
                                 f"{last.account_number} không thành công: Tài khoản đã đóng.")
            paid_after = [x for x in xs if x.result == "paid_account" and x.result_at > last.result_at]
            assert (f.resolved_at is None) == (not paid_after)
            assert f.resolved_at is None or f.resolved_at == paid_after[0].result_at
            assert (f.severity, f.source, f.field) == ("error", "payment", "account")
        assert any(f.resolved_at is None for f in findings) and any(f.resolved_at for f in findings)


def test_account_payments_follow_the_visits(demo_app):
    with demo_app.app_context():
        counts = []
        for month in MONTHS:
            made = datetime(int(month[:4]), int(month[5:]), 5, 7)
            rows = db.session.execute(
                select(PaymentLine.method, PaymentLine.has_account, PaymentLine.account_number,
                       PaymentLine.bank_bin, PaymentLine.holder_name, Beneficiary.reviewed_at,
                       Beneficiary.account_status, Beneficiary.payment_method)
                .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
                .join(Beneficiary, Beneficiary.id == PaymentLine.beneficiary_id)
                .where(PaymentPeriod.month == month)
                # not the people whose visit another test sharing this world saved since
                # (tests/test_budgets.py saves one): their status today is not the demo's
                .where(Beneficiary.id.not_in(select(Review.beneficiary_id).where(
                    Review.created_at >= datetime(2024, 6, 1))))).all()
            counts.append(sum(r.method == "account" for r in rows))
            for r in rows:
                seen = r.reviewed_at is not None and r.reviewed_at < made
                assert r.has_account == (seen and r.account_status == "has_account"), (month, r)
                assert (r.method == "account") == (r.has_account and r.payment_method == "account")
                assert (r.method == "account") == bool(r.account_number and r.bank_bin and r.holder_name)
        assert counts[0] == 0 and counts == sorted(counts) and counts[-1] > 1500


def test_the_months_changes(demo_app):
    with demo_app.app_context():
        district = db.session.scalar(select(User).where(User.username == "district"))
        # (other tests share this world: the police round's browser test proposes a stop)
        decided = db.session.scalars(select(ChangeProposal).where(ChangeProposal.status != "proposed")).all()
        assert {c.kind for c in decided} == {"new", "stop", "suspend", "resume", "move_out", "move_in"}
        for c in decided:
            assert c.status == "approved" and c.decided_by_id == district.id and c.decision_number
            assert c.decision_date.year == 2024 and c.decided_at.date() == c.decision_date
            assert c.created_at <= c.decided_at < datetime(2024, 5, 1)

        def ids(month, code=None):
            q = (select(PaymentLine.beneficiary_id).join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
                 .join(Area, Area.id == PaymentPeriod.commune_id)
                 .where(PaymentPeriod.month == month, PaymentLine.status == "listed"))
            return set(db.session.scalars(q.where(Area.code == code) if code else q))

        new = _change("new")
        assert new.effective_month == "2024-03" and new.commune.code == "21052"
        assert new.beneficiary_id not in ids("2024-02") and new.beneficiary_id in ids("2024-03")

        stop = _change("stop")
        assert (stop.clause, stop.effective_month, stop.beneficiary.status) == ("1a", "2024-04", "stopped")
        assert stop.beneficiary.deceased and stop.beneficiary_id in ids("2024-03")
        assert stop.beneficiary_id not in ids("2024-04") | ids("2024-05")

        suspend, resume = _change("suspend"), _change("resume")
        bid = suspend.beneficiary_id
        assert (suspend.clause, suspend.effective_month, resume.effective_month) == ("3a", "2024-04", "2024-05")
        assert [x.result for m in MONTHS[:3] for x in _lines(m, beneficiary_id=bid)] == ["returned"] * 3
        assert bid not in ids("2024-04") and resume.beneficiary.status == "active"
        may = _lines("2024-05", beneficiary_id=bid)[0]
        assert (may.arrears_from, may.arrears_months, may.arrears) == ("2024-04", 1, may.amount)

        out, into = _change("move_out"), _change("move_in")
        assert out.beneficiary_id == into.beneficiary_id and out.to_commune_id == into.commune_id
        assert into.commune.code == "21052" and out.commune.code != "21052"
        assert out.effective_month == into.effective_month == "2024-05"
        assert out.beneficiary_id in ids("2024-04", out.commune.code)
        assert out.beneficiary_id not in ids("2024-05", out.commune.code)
        assert out.beneficiary_id in ids("2024-05", "21052")
        assert out.beneficiary.village.parent_id == into.commune_id

        rows = {m: {(r["commune_code"], r["program"]): r for r in reports.monthly_report(_district(), m)["rows"]}
                for m in MONTHS}
        assert rows["2024-03"][("21052", "BTXH")]["increases"] == 1
        assert rows["2024-04"][("21052", "BTXH")]["decreases"] == 2
        assert rows["2024-05"][("21052", "BTXH")]["increases"] == 2  # the move in, the resumption
        assert rows["2024-05"][(out.commune.code, "BTXH")]["decreases"] == 1
        # Nothing the stories recorded is dated after the demo's "today" (their proposals,
        # decisions and payments: other tests visit these people in the shared world).
        story = {c.beneficiary_id for c in decided}
        assert db.session.scalar(select(func.max(Event.at)).where(
            Event.beneficiary_id.in_(story), Event.source.in_(("change", "decision", "payment")))) \
            < datetime(2024, 5, 25)


def _paid_snapshot():
    return [tuple(r) for r in db.session.execute(
        select(PaymentPeriod.month, Area.code, PaymentPeriod.program, Beneficiary.full_name,
               PaymentLine.amount, PaymentLine.arrears, PaymentLine.method, PaymentLine.result,
               PaymentLine.result_reason, PaymentLine.result_at)
        .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
        .join(Area, Area.id == PaymentPeriod.commune_id)
        .join(Beneficiary, Beneficiary.id == PaymentLine.beneficiary_id).order_by(PaymentLine.id))]


def test_paid_months_are_deterministic_and_built_once():
    snapshots = []
    for _ in range(2):
        app = _new_app()
        with app.app_context():
            demo.build_demo(size=300)
            done = demo.plant_problems()
            assert done["paid_months"]["periods"] == 5 * 44
            snapshots.append((_paid_snapshot(), [tuple(r) for r in db.session.execute(
                select(ChangeProposal.kind, ChangeProposal.effective_month, ChangeProposal.decided_at))]))
            assert demo.pay_months() == {"skipped": True}
    assert snapshots[0] == snapshots[1] and len(snapshots[0][0]) > 1000


def test_record_results_writes_what_record_result_writes(app):
    """The demo's bulk recording and the product's one-by-one recording leave the same rows:
    the lines, the events, the one open failed-payment finding per person, reworded by a
    later failure and closed by a payment into the account."""
    from tests.factories import person, with_account
    acc = {k: with_account(person(name=f"Phan Văn {k.upper()}", national_id=f"05105000000{i}", coefficient=1.5),
                           number=f"430020500000{i}") for i, k in enumerate("abef", 1)}
    cash = {k: person(name=f"Phan Văn {k.upper()}", national_id=f"05105000001{i}", coefficient=1.0)
            for i, k in enumerate("cd", 1)}
    db.session.commit()
    payer = db.session.scalar(select(User).where(User.username == "payer"))
    period = payments.build(find_area("21052", "commune", on=date(2024, 5, 1)), "2024-05", "BTXH", payer)
    line = {k: next(x for x in period.lines if x.beneficiary_id == b.id) for k, b in (acc | cash).items()}
    ids = {k: x.id for k, x in line.items()}
    at = datetime(2024, 5, 7, 9, 30)
    with pytest.raises(payments.PeriodError, match="đã khóa"):
        demo.record_results([{"line_id": ids["b"], "result": "paid_account", "at": at}], payer)
    payments.lock(period, payer)
    for bad, message in (({"line_id": ids["c"], "result": "paid_account"}, "tiền mặt"),
                         ({"line_id": ids["c"], "result": "returned", "reason": " "}, "Ghi lý do"),
                         ({"line_id": ids["c"], "result": "lost"}, "Chọn kết quả")):
        with pytest.raises(payments.PeriodError, match=message):
            demo.record_results([{"line_id": ids["d"], "result": "paid_cash", "at": at}, bad | {"at": at}], payer)
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.field == "result")) == 0

    steps = [("failed", "Tài khoản đã đóng"), ("failed", "Sai tên chủ tài khoản"), ("paid_account", None)]

    def one_by_one(k, upto):
        for result, reason in steps[:upto]:
            payments.record_result(db.session.get(PaymentLine, ids[k]), payer, result, reason)

    def bulk(k, upto, batches):
        todo = [{"line_id": ids[k], "result": r, "reason": why, "at": at} for r, why in steps[:upto]]
        for chunk in ([todo] if batches == 1 else [[x] for x in todo]):
            demo.record_results(chunk, payer)

    def written(k, bid):
        x = db.session.get(PaymentLine, ids[k])
        number = x.account_number or "-"
        events = [(e.user_id, e.source, e.action, e.field, e.old_value, e.new_value, e.beneficiary_id == bid)
                  for e in db.session.scalars(select(Event).where(Event.payment_line_id == x.id).order_by(Event.id))]
        findings = [(f.code, f.severity, f.field, f.source, f.resolved_at is None, f.message.replace(number, "N"))
                    for f in db.session.scalars(select(Finding).where(Finding.beneficiary_id == bid))]
        return (x.result, x.result_reason, x.result_by_id, x.result_at is not None), events, findings

    # Two failures: one finding, worded by the latest; separate calls and one batch alike.
    one_by_one("a", 2), bulk("b", 2, batches=2)
    one_by_one("e", 3), bulk("f", 3, batches=1)
    payments.record_result(db.session.get(PaymentLine, ids["c"]), payer, "returned", "Đi vắng")
    assert demo.record_results([{"line_id": ids["d"], "result": "returned", "reason": "Đi vắng", "at": at}], payer) == 1
    assert demo.record_results([{"line_id": ids["d"], "result": "returned", "reason": "Đi vắng", "at": at}], payer) == 0
    db.session.commit()
    a, b = written("a", acc["a"].id), written("b", acc["b"].id)
    assert a == b and len(a[1]) == 2
    assert a[2] == [("payment_failed", "error", "account", "payment", True,
                     "Chi trả tháng 05/2024 vào tài khoản N không thành công: Sai tên chủ tài khoản.")]
    e, f = written("e", acc["e"].id), written("f", acc["f"].id)
    assert e == f and e[0][0] == "paid_account" and [x[4] for x in e[2]] == [False]  # closed by the payment
    assert written("c", cash["c"].id) == written("d", cash["d"].id)
    # The payment into the account closes a finding opened in an earlier call, too.
    one_by_one("a", 0)
    payments.record_result(db.session.get(PaymentLine, ids["a"]), payer, "paid_account")
    demo.record_results([{"line_id": ids["b"], "result": "paid_account", "at": at}], payer)
    assert written("a", acc["a"].id) == written("b", acc["b"].id)
    assert written("b", acc["b"].id)[2][0][4] is False
    assert db.session.get(PaymentLine, ids["f"]).result_at == at
    assert set(db.session.scalars(select(Event.at).where(Event.payment_line_id == ids["f"]))) == {at}
