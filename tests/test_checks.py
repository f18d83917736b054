"""The "đúng, đủ, sạch, sống" rules, each with values that pass and values that fail."""
import json
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Finding, Verification
from portal.services.history import system_user
from portal.services import checks
from tests.factories import person, with_account

MAY_2024 = date(2024, 5, 1)
CAMPAIGN = datetime(2024, 1, 1)


@pytest.fixture(params=["few", "many"])
def lookup(request, monkeypatch):
    """Run the cross-record rules both ways: the few records' own values looked up, and
    the grouped queries over the whole registry (used for more than SMALL records)."""
    if request.param == "many":
        monkeypatch.setattr(checks, "SMALL", 0)
    return request.param


def hits(b, on=MAY_2024):
    db.session.flush()
    result = checks.evaluate(checks.select(checks.Beneficiary.id).where(checks.Beneficiary.id == b.id),
                             on, CAMPAIGN)
    return {code for code, _ in result[b.id]}


def clean_person(**kw):
    """A record that breaks no rule, to change one thing at a time."""
    values = dict(name="Nguyễn Văn An", national_id="051050123456", category="Người cao tuổi",
                  coefficient=1.5, reviewed_at=datetime(2024, 5, 2))
    values.update(kw)
    b = person(**values)
    b.monthly_amount = 540_000 if kw.get("monthly_amount", True) is not None else None
    db.session.add(Verification(beneficiary_id=b.id, period="2024-05", result="verified",
                                user_id=system_user().id))
    return b


def test_a_clean_record_hits_nothing(app):
    assert hits(clean_person()) == set()


@pytest.mark.parametrize("sex, birth, nid, expected", [
    ("F", date(1958, 3, 1), "051058123456", {"id_sex_century_mismatch"}),  # a woman with digit 0
    ("F", date(1958, 3, 1), "051158123456", set()),
    ("F", date(2016, 11, 11), "051133906124", {"id_sex_century_mismatch", "id_year_mismatch"}),  # child, adult's ID
    ("M", date(1950, 1, 1), "051051123456", {"id_year_mismatch"}),
    ("M", date(1950, 1, 1), "099050123456", {"id_unknown_province"}),
])
def test_id_structure(app, sex, birth, nid, expected):
    assert hits(clean_person(sex=sex, birth=birth, national_id=nid)) & {
        "id_sex_century_mismatch", "id_year_mismatch", "id_unknown_province"} == expected


def test_year_only_birth_still_checks(app):
    b = clean_person(birth=None, national_id="051060123456")
    b.birth_year = 1950
    assert "id_year_mismatch" in hits(b)


def test_amount_against_the_standard_level_in_force(app):
    b = clean_person()
    assert "amount_mismatch" not in hits(b)  # 1.5 × 360,000 in May 2024
    assert "amount_mismatch" in hits(b, on=date(2024, 8, 1))  # 1.5 × 500,000 from 1/7/2024
    b.monthly_amount = 500_000
    assert "amount_mismatch" in hits(b)


@pytest.mark.parametrize("number, bin_, expected", [
    ("4300205123456", "970405", set()),
    ("9704050000000000", "970405", {"account_is_card_number"}),  # a card number in the account column
    ("43002A5123456", "970405", {"account_not_digits"}),
    ("12345", "970405", {"account_bad_length"}),
    ("0912345678", "971005", set()),  # a wallet: the phone number
    ("4300205123456", None, {"unknown_bank"}),
])
def test_account_plausible(app, number, bin_, expected):
    b = with_account(clean_person(), number=number, bin_=bin_)
    assert hits(b) & {"account_is_card_number", "account_not_digits", "account_bad_length",
                      "unknown_bank"} == expected


def test_account_held_by_someone_else_names_the_holder(app):
    b = with_account(clean_person(), recipient="guardian", holder="Trần Văn Cha")
    assert "holder_incomplete" in hits(b)
    b.account.holder_national_id = "051070111222"
    assert "holder_incomplete" not in hits(b)


def test_required_fields(app):
    b = clean_person(national_id=None, sex=None, category=None)
    b.monthly_amount = None
    assert {"missing_id", "missing_sex", "missing_category", "missing_amount"} <= hits(b)


@pytest.mark.parametrize("name, dirty", [("Nguyễn Văn An", False), ("nguyễn văn an", True),
                                         ("NGUYỄN VĂN AN", True), ("Nguyễn  Văn An", True)])
def test_names_clean(app, name, dirty):
    b = clean_person()
    b.full_name = name
    assert ("name_not_clean" in hits(b)) == dirty


def test_same_id_in_two_communes_is_a_double_payment_risk(app, lookup):
    a = clean_person()
    b = clean_person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Bình")
    result = checks.evaluate(checks.select(checks.Beneficiary.id), MAY_2024, CAMPAIGN)
    for mine, other in ((a, "Bình Thạnh"), (b, "Bình Chánh")):
        detail = dict(result[mine.id])["duplicate_id"]
        assert other in detail and "051050123456" not in detail and "3456" in detail


@pytest.mark.parametrize("first, second, second_id, expected", [
    ("Đinh Thị Thủy", "Đinh Thị Thuỷ", None, True),        # old and new tone placement
    ("Đặng Văn An", "Dang Van An", None, True),
    ("Đinh Thị Thủy", "Đinh Thị Thuỷ", "051155999888", False),  # two IDs: two people
    ("Đinh Thị Thủy", "Đinh Thị Hoa", None, False),
])
def test_likely_duplicates_without_id(app, lookup, first, second, second_id, expected):
    a = clean_person(name=first, sex="F", national_id="051150123456")
    b = clean_person(name=second, sex="F", national_id=second_id)
    b.full_name = second  # keep as typed
    assert ("likely_duplicate" in hits(b)) == expected
    assert ("likely_duplicate" in hits(a)) == expected


def test_one_account_for_two_households(app, lookup):
    a = with_account(clean_person(), number="4300205123456")
    b = with_account(clean_person(name="Lê Văn Bình", national_id="051050654321"), number="4300205123456")
    assert "shared_account" in hits(a) and "shared_account" in hits(b)
    b.household = a.household  # a couple paid into one account: fine
    assert "shared_account" not in hits(a)


def test_live(app):
    b = clean_person(reviewed_at=None)
    assert "not_reviewed" in hits(b)
    b.reviewed_at = datetime(2023, 12, 1)  # before the campaign
    assert "not_reviewed" in hits(b)
    b.reviewed_at, b.deceased = datetime(2024, 5, 1), True
    assert "deceased_active" in hits(b)
    b.status = "stopped"
    assert "deceased_active" not in hits(b)


def test_police_verification_in_the_period(app):
    b = clean_person()
    assert "not_verified" not in hits(b)
    assert "not_verified" in hits(b, on=date(2024, 6, 1))  # May's check is older than June's period
    other = person(name="Lê Văn Bình", national_id="051050654321")
    db.session.add(Verification(beneficiary_id=other.id, period="2024-05", result="mismatch",
                                field="full_name", population_value="Lê Văn Bính", user_id=system_user().id))
    assert "not_verified" not in hits(other)  # checked; what was found is the police's own finding
    assert "not_verified" in hits(person(name="Võ Văn Chưa", national_id="051050111999"))


def test_a_unit_the_reform_closed(app):
    b = clean_person()  # Bình Chánh: until 30/06/2025, then part of Xã Bình Sơn
    assert "area_not_in_force" not in hits(b)
    db.session.add(Verification(beneficiary_id=b.id, period="2025-08", result="verified",
                                user_id=system_user().id))
    one = checks.select(checks.Beneficiary.id).where(checks.Beneficiary.id == b.id)
    # Its records belong to Xã Bình Sơn from 07/2025 (areas.commune_in): nothing to flag.
    assert "area_not_in_force" not in dict(checks.evaluate(one, date(2025, 8, 1), CAMPAIGN).get(b.id, []))
    # A unit that ended with no successor leaves its records without a home.
    b.commune.successor_id = None
    db.session.flush()
    assert "area_not_in_force" in dict(checks.evaluate(one, date(2025, 8, 1), CAMPAIGN)[b.id])


def test_run_keeps_findings_in_step(app):
    b = clean_person(national_id=None)
    ids = checks.select(checks.Beneficiary.id)
    first = checks.run_checks(ids, MAY_2024, CAMPAIGN)
    assert first["added"] == 1 and first["clean"] == 1
    assert checks.run_checks(ids, MAY_2024, CAMPAIGN)["added"] == 0  # nothing twice
    b.national_id = "051050123456"
    again = checks.run_checks(ids, MAY_2024, CAMPAIGN)
    assert again["resolved"] == 1
    assert db.session.scalar(select(func.count(Finding.id)).where(Finding.resolved_at.is_(None))) == 0
    assert db.session.scalar(select(func.count(Finding.id))) == 1  # kept, resolved, not deleted


def test_check_data_cli(runner, app):
    clean_person(national_id="051058123456", sex="F", birth=date(1958, 1, 1))
    clean_person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Bình", national_id=None)
    db.session.commit()
    out = json.loads(runner.invoke(args=["check-data", "--area", "21052", "--json"]).output)
    assert out["records"] == 1 and out["clean"] == 0
    [finding] = out["findings"]
    rule = checks.RULES["id_sex_century_mismatch"]
    assert finding == {"national_id": "051058123456", "commune_code": "21052",
                       "rule": "id_sex_century_mismatch", "severity": "error", "field": "national_id",
                       "message": rule.message, "source": rule.source,
                       "beneficiary_id": finding["beneficiary_id"]}
    out = json.loads(runner.invoke(args=["check-data", "--json"]).output)
    assert out["records"] == 2 and {f["rule"] for f in out["findings"]} == {"id_sex_century_mismatch", "missing_id"}


@pytest.mark.parametrize("status", ["stopped", "moved", "merged"])
def test_a_record_no_list_pays_is_no_duplicate(app, lookup, status):
    """One ID on a BTXH and an HTXH record: both active, a double-payment risk on both; once
    one is stopped, moved or merged, neither is flagged and a run closes the findings."""
    pensioner = clean_person(program="HTXH")
    wrong = clean_person(village="Thôn Phú Long")
    ids = checks.select(checks.Beneficiary.id)
    checks.run_checks(ids, MAY_2024, CAMPAIGN)
    assert "duplicate_id" in hits(pensioner) and "duplicate_id" in hits(wrong)
    wrong.status = status
    assert checks.run_checks(ids, MAY_2024, CAMPAIGN)["resolved"] >= 1
    assert "duplicate_id" not in hits(pensioner)
    assert db.session.scalar(select(func.count(Finding.id)).where(
        Finding.code == "duplicate_id", Finding.resolved_at.is_(None))) == 0
