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
    assert all(e.source == "import" for e in db.session.scalars(select(Event).where(Event.action == "create")))
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
    users = demo.create_demo_users(fast=True)
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
    demo.create_demo_users(password="other")
    assert _count(User) == len(expected) + 1  # and the system user
    assert db.session.scalar(select(User).where(User.username == "commune")).check_password("other")


def test_users_first_then_demo():
    """``create_demo_users`` may run before ``build_demo`` (the test fixtures do so)."""
    app = _new_app()
    with app.app_context():
        users = demo.create_demo_users(fast=True)
        counts = demo.build_demo(size=120)
        db.session.commit()
        assert counts["beneficiaries"] == 120
        officer = db.session.scalar(select(User).where(User.username == "commune"))
        assert officer.id == users[2].id and officer.check_password("demo")
        assert db.session.scalar(select(func.count()).select_from(User).where(
            User.username == "commune")) == 1
