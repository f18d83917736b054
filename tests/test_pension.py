"""The social pension (HTXH, Social Insurance Law 2024 Art. 21–22; Decree 176/2025/NĐ-CP):
who qualifies, the transfer of elderly BTXH beneficiaries with no double payment, its
payment lists and report rows from 07/2025, and the dated levels (a province's own higher
level from a date)."""
import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Beneficiary, ChangeProposal, User
from portal.services import changes, checks, history, imports, levels, payments, pension, reports
from portal.services.areas import find_area, find_commune
from portal.services.checks import standard_level
from tests.conftest import csrf_token, login, user
from tests.factories import make_user, person, with_account

ELDER = "Người cao tuổi từ đủ 80 tuổi trở lên"  # Decree 20/2021 Art. 5(5)(c), coefficient 1.0
POOR_ELDER = "Người cao tuổi thuộc hộ nghèo không có người phụng dưỡng"  # Art. 5(5)(a), 1.5


@pytest.fixture
def today(app):
    """Today's world: August 2025, Xã Bình Sơn (21040) absorbed Bình Chánh (21052); its
    chairman decides, its officer records."""
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    app.config["DECIDING_ROLES"] = [("2000-01-01", "district"), ("2025-07-01", "chairman")]
    make_user("chutich", "chairman", "21040", "2025-08")
    make_user("canbo", "commune", "21040", "2025-08")
    return find_commune("21040", "2025-08")


@pytest.fixture
def elders(today):
    """Registered in Bình Chánh in 2024: a BTXH 80+ (500,000 at 1.0 × 500,000: a candidate),
    a BTXH poor elder at 1.5 (750,000: keeps BTXH, the higher), one with a pension, a BTXH
    disabled person, and an NCC record."""
    old = with_account(person(name="Nguyễn Văn An", birth=date(1940, 3, 4), national_id="051040000001",
                              category=ELDER, coefficient=1.0, monthly_amount=500_000))
    poor = person(name="Trần Thị Bích", sex="F", birth=date(1945, 5, 6), national_id="051145000002",
                  category=POOR_ELDER, coefficient=1.5, monthly_amount=750_000)
    pensioner = person(name="Lê Văn Cường", birth=date(1941, 1, 1), national_id="051041000003",
                       category=ELDER, coefficient=1.0, monthly_amount=500_000, has_pension=True)
    disabled = person(name="Phạm Văn Dũng", birth=date(1944, 2, 2), national_id="051044000004",
                      category="Người khuyết tật nặng", coefficient=1.0, monthly_amount=500_000)
    ncc = person(name="Võ Thị Em", sex="F", program="NCC", birth=date(1940, 7, 7), national_id="051140000005",
                 category="Thân nhân liệt sĩ", monthly_amount=2_789_000)
    db.session.commit()
    return {"old": old, "poor": poor, "pensioner": pensioner, "disabled": disabled, "ncc": ncc}


def lines(period):
    return {line.beneficiary_id: line for line in period.lines}


# ------------------------------------------------------------------ who qualifies

AUG = date(2025, 8, 1)


@pytest.mark.parametrize("birth, on, ok", [
    (date(1950, 8, 1), AUG, True),    # 75 on the month's first day
    (date(1950, 8, 2), AUG, False),   # 75th birthday within the month: 74 on its first day
    (date(1950, 8, 2), date(2025, 9, 1), True),  # … so from the next month
    (date(1950, 7, 31), AUG, True),
    (1950, date(2025, 7, 1), True),   # birth year alone: 75 from 1 January 2025
    (1951, date(2025, 12, 1), False),  # 74 all of 2025 …
    (1951, date(2026, 1, 1), True),   # … 75 from 1 January 2026
    (date(1940, 1, 1), date(2025, 6, 1), False),  # before the law is in force
])
def test_age_at_the_months_first_day(app, birth, on, ok):
    assert pension.eligibility(birth, on, has_pension=False, poor_or_near_poor=False)[0] is ok


def test_poor_70_to_74_and_the_pension_condition(app):
    born = date(1953, 5, 5)  # 72 in August 2025
    assert pension.eligibility(born, AUG, False, None, poor_or_near_poor=True) == (
        True, "72 tuổi, thuộc hộ nghèo hoặc cận nghèo, không hưởng lương hưu.")
    ok, reason = pension.eligibility(born, AUG, False, None, poor_or_near_poor=False)
    assert not ok and "cần đủ 75 tuổi" in reason
    assert not pension.eligibility(date(1956, 1, 1), AUG, False, None, True)[0]  # 69, poor
    assert not pension.eligibility(born, AUG, True, 2_000_000, True)[0]  # poor, but a pension
    # A pension below the HTXH level still qualifies; at or above it, not; unknown, not.
    assert pension.eligibility(1940, AUG, True, 400_000, level=500_000)[0]
    ok, reason = pension.eligibility(1940, AUG, True, 500_000, level=500_000)
    assert not ok and "500.000 đồng" in reason
    assert pension.eligibility(1940, AUG, True, 400_000)[0]  # the level in force: 500,000
    assert not pension.eligibility(1940, AUG, True, None)[0]
    assert not pension.eligibility(1940, AUG, None)[0]
    assert pension.eligibility(None, AUG, False)[1] == "Chưa rõ ngày, năm sinh."


def test_a_record_qualifies_from_its_fields(today, elders):
    e = elders
    # An elderly BTXH record whose pension status is unknown counts as receiving none …
    assert pension.eligible(e["old"], "2025-08")[0]
    assert not pension.eligible(e["pensioner"], "2025-08")[0]
    # … another record's unknown status does not qualify until it is recorded.
    ok, reason = pension.eligible(e["disabled"], "2025-08")
    assert not ok and "Chưa rõ có hưởng lương hưu" in reason
    e["disabled"].has_pension = False
    assert pension.eligible(e["disabled"], "2025-08")[0]
    db.session.rollback()


def test_programs_of_a_month():
    assert pension.programs_in("2025-06") == ("BTXH", "NCC")
    assert pension.programs_in("2025-07") == ("BTXH", "NCC", "HTXH")
    assert imports.guess_program("DANH SÁCH CHI TRẢ TRỢ CẤP HƯU TRÍ XÃ HỘI THÁNG 8/2025") == "HTXH"
    assert imports.guess_program("DANH SÁCH ĐỐI TƯỢNG BẢO TRỢ XÃ HỘI") == "BTXH"


# ------------------------------------------------------------------ the dated levels

@pytest.mark.parametrize("on, btxh, ncc, htxh", [
    (date(2024, 6, 30), 360_000, 2_055_000, None),
    (date(2024, 7, 1), 500_000, 2_789_000, None),
    (date(2025, 6, 30), 500_000, 2_789_000, None),
    (date(2025, 7, 1), 500_000, 2_789_000, 500_000),
    (date(2021, 9, 1), 360_000, 1_624_000, None),
])
def test_levels_in_force(app, on, btxh, ncc, htxh):
    assert (standard_level("BTXH", on), standard_level("NCC", on), standard_level("HTXH", on)) == (btxh, ncc, htxh)


def test_a_province_sets_a_higher_level_from_a_date(today, elders):
    province = find_area("51", "province", on=date(2025, 8, 1))
    son = today
    admin = user("admin")
    with pytest.raises(levels.LevelError, match="phải cao hơn mức chuẩn chung"):
        levels.add(admin, "HTXH", 450_000, date(2026, 1, 1), "NQ", area=province)
    with pytest.raises(levels.LevelError, match="01/07/2025"):
        levels.add(admin, "HTXH", 600_000, date(2025, 1, 1), "NQ", area=province)
    row, copied = levels.add(admin, "HTXH", 600_000, date(2025, 9, 1), "Nghị quyết 10/2025/NQ-HĐND tỉnh",
                             area=province)
    levels.add(admin, "BTXH", 550_000, date(2025, 9, 1), "Nghị quyết 10/2025/NQ-HĐND tỉnh", area=province)
    db.session.commit()
    assert copied == [] and levels.standard_rows("HTXH") == []  # the national level stays the default
    assert levels.as_dict(row)["area"] == "Tỉnh Quảng Ngãi"
    assert standard_level("HTXH", date(2025, 8, 31), son) == 500_000
    assert standard_level("HTXH", date(2025, 9, 1), son) == 600_000
    assert standard_level("HTXH", date(2025, 9, 1)) == 500_000  # elsewhere: the national level
    # An old commune of the province counts too (its path is under the province).
    assert standard_level("BTXH", date(2025, 9, 1), find_commune("21052", "2024-05")) == 550_000
    # A later national level above the province's wins: a province never lowers it.
    levels.add(admin, "HTXH", 700_000, date(2026, 1, 1), "Nghị định giả định")
    assert standard_level("HTXH", date(2026, 1, 1), son) == 700_000
    db.session.rollback()
    # The lists follow: September's BTXH lines at 1.0 × 550,000, August's at 500,000.
    sep = lines(payments.build(son, "2025-09", "BTXH", history.system_user()))
    aug = lines(payments.build(son, "2025-08", "BTXH", history.system_user()))
    assert (aug[elders["old"].id].amount, sep[elders["old"].id].amount) == (500_000, 550_000)
    assert sep[elders["poor"].id].amount == 825_000
    # The data check compares the amount against the province's level.
    elders["old"].monthly_amount = 550_000
    db.session.flush()
    found = checks.evaluate(select(Beneficiary.id).where(Beneficiary.id == elders["old"].id),
                            date(2025, 9, 1), checks.period()[1])
    assert "amount_mismatch" not in {code for code, _ in found[elders["old"].id]}


def test_the_admin_adds_a_provinces_level(client, today):
    login(client, "admin")
    page = client.get("/admin/levels").get_data(as_text=True)
    assert "<h3>HTXH</h3>" in page and "Nghị định 176/2025/NĐ-CP" in page and "2.789.000" in page
    province = find_area("51", "province", on=date(2025, 8, 1))
    assert f'<option value="{province.id}">Tỉnh Quảng Ngãi</option>' in page
    data = {"csrf_token": csrf_token(client, "/admin/levels"), "program": "HTXH", "area_id": province.id,
            "category": "", "amount": "600.000", "valid_from": "01/01/2026", "source": "Nghị quyết của HĐND tỉnh"}
    r = client.post("/admin/levels", data=data)
    assert r.status_code == 303
    html = client.get("/admin/levels").get_data(as_text=True)
    assert "Đã thêm mức HTXH của Tỉnh Quảng Ngãi từ ngày 01/01/2026." in html
    assert re.search(r"<tr><td[^>]*>Tỉnh Quảng Ngãi</td><td[^>]*>01/01/2026</td><td class=\"n\"[^>]*>600.000", html)
    assert "HTXH · Tỉnh Quảng Ngãi · mức chuẩn" in html  # the audit trail names the province
    r = client.post("/admin/levels", data=data | {"amount": "400.000", "valid_from": "01/02/2026"})
    assert r.status_code == 422 and "phải cao hơn mức chuẩn chung" in r.get_data(as_text=True)


# ------------------------------------------------------------------ the transfer

def test_candidates_are_the_elderly_whose_btxh_is_not_higher(today, elders):
    found = pension.transfer_candidates([today.id], "2025-08")
    assert [c.beneficiary.id for c in found] == [elders["old"].id]
    assert (found[0].btxh, found[0].htxh) == (500_000, 500_000)
    assert pension.transfer_candidates([today.id], "2025-06") == []  # before the law


def test_transfer_stops_btxh_and_opens_htxh_by_one_decision(today, elders):
    old = elders["old"]
    chairman = db.session.scalar(select(User).where(User.username == "chutich"))
    stop, new, grant = pension.transfer(old, chairman, "2025-08", "12/QĐ-UBND", date(2025, 7, 25))
    db.session.commit()
    assert (stop.kind, stop.clause, stop.reason, stop.status) == (
        "stop", None, changes.TRANSFER_REASON, "approved")
    assert (grant.kind, grant.status, grant.effective_month) == ("new", "approved", "2025-08")
    for c in (stop, grant):
        assert (c.decision_number, c.decision_date, c.decided_by_id) == ("12/QĐ-UBND", date(2025, 7, 25), chairman.id)
    assert (new.program, new.commune_id, new.transferred_from_id, new.household_id, new.national_id) == (
        "HTXH", today.id, old.id, old.household_id, old.national_id)
    assert new.commune_id != old.commune_id  # registered in Bình Chánh, belongs to Bình Sơn now
    assert (new.monthly_amount, new.account.number, new.payment_method) == (500_000, old.account.number, "account")
    assert old.status == "stopped"
    assert pension.transfer_candidates([today.id], "2025-08") == []
    with pytest.raises(pension.PensionError, match="đã được chuyển"):
        pension.transfer(old, chairman, "2025-09", "13/QĐ", date(2025, 8, 25))
    # The same ID on the two records is one person, not a duplicate.
    found = checks.evaluate(select(Beneficiary.id).where(Beneficiary.id.in_([old.id, new.id])),
                            date(2025, 8, 1), checks.period()[1])
    assert not any(code == "duplicate_id" for hits in found.values() for code, _ in hits)
    # July pays BTXH, August HTXH: never both.
    july = lines(payments.build(today, "2025-07", "BTXH", chairman))
    aug_btxh = lines(payments.build(today, "2025-08", "BTXH", chairman))
    aug_htxh = lines(payments.build(today, "2025-08", "HTXH", chairman))
    assert old.id in july and old.id not in aug_btxh
    assert (aug_htxh[new.id].status, aug_htxh[new.id].amount, aug_htxh[new.id].method) == ("listed", 500_000, "account")
    assert payments.build(today, "2025-07", "HTXH", chairman).lines == []


def test_the_officer_records_the_chairmans_decision(today, elders):
    officer = db.session.scalar(select(User).where(User.username == "canbo"))
    stop, new, grant = pension.transfer(elders["old"], officer, "2025-08", "12/QĐ-UBND", date(2025, 7, 25))
    assert stop.decided_by.role == "system" and "Chủ tịch UBND xã" in stop.decision_note
    assert "canbo" in grant.decision_note


@pytest.mark.parametrize("who, month, message", [
    ("poor", "2025-08", "cao hơn mức hưu trí xã hội"),
    ("pensioner", "2025-08", "lương hưu"),
    ("disabled", "2025-08", "không thuộc diện người cao tuổi"),
    ("ncc", "2025-08", "Chỉ chuyển hồ sơ trợ cấp xã hội hằng tháng"),
    ("old", "2025-06", "từ tháng 07/2025"),
])
def test_no_transfer_for_a_non_candidate(today, elders, who, month, message):
    chairman = db.session.scalar(select(User).where(User.username == "chutich"))
    with pytest.raises(pension.PensionError, match=message):
        pension.transfer(elders[who], chairman, month, "1/QĐ", date(2025, 5, 25))
    assert db.session.scalar(select(ChangeProposal.id)) is None


# ------------------------------------------------------------------ no double payment

def test_one_person_on_both_lists_is_blocked_on_the_second(today, elders):
    """A person with an HTXH record (imported, say) who is still on BTXH: whichever list of
    the month is built second blocks their line, naming the other; the lock waits."""
    poor = elders["poor"]
    twin = person(commune_code="21040", village="Thôn Phú Long", name=poor.full_name, sex="F",
                  program="HTXH", birth=poor.birth_date, national_id=poor.national_id,
                  category=pension.CATEGORY_75, monthly_amount=500_000)
    db.session.commit()
    u = history.system_user()
    btxh = lines(payments.build(today, "2025-08", "BTXH", u))
    htxh_period = payments.build(today, "2025-08", "HTXH", u)
    htxh = lines(htxh_period)
    assert btxh[poor.id].status == "listed"
    assert htxh[twin.id].status == "blocked"
    assert "danh sách chi trả BTXH tháng 08/2025 của Xã Bình Sơn" in htxh[twin.id].note
    with pytest.raises(payments.PeriodError, match="bị chặn"):
        payments.lock(htxh_period, u)
    # September the other way round: the HTXH list first, then BTXH is the blocked one.
    htxh = lines(payments.build(today, "2025-09", "HTXH", u))
    btxh = lines(payments.build(today, "2025-09", "BTXH", u))
    assert htxh[twin.id].status == "listed" and btxh[poor.id].status == "blocked"
    assert "danh sách chi trả HTXH tháng 09/2025" in btxh[poor.id].note
    # Nobody else is touched.
    assert btxh[elders["old"].id].status == "listed"


def test_a_transferred_person_on_a_locked_btxh_list_is_not_paid_twice(today, elders):
    """August's BTXH list was locked before the decision moved the person from August: the
    HTXH line of August is blocked (the BTXH list pays them) until a new version drops them."""
    old = elders["old"]
    chairman = db.session.scalar(select(User).where(User.username == "chutich"))
    locked = payments.build(today, "2025-08", "BTXH", chairman)
    payments.lock(locked, chairman)
    _stop, new, _grant = pension.transfer(old, chairman, "2025-08", "12/QĐ-UBND", date(2025, 7, 25))
    htxh = lines(payments.build(today, "2025-08", "HTXH", chairman))
    assert htxh[new.id].status == "blocked" and "BTXH" in htxh[new.id].note
    payments.build(today, "2025-08", "BTXH", chairman, reason="Chuyển sang hưu trí xã hội")
    period = payments.last_version(today.id, "2025-08", "HTXH")
    payments.refresh(period, chairman)
    assert lines(period)[new.id].status == "listed"


# ------------------------------------------------------------------ the report

def test_report_before_july_2025_has_no_htxh_and_after_has(today, elders):
    chairman = db.session.scalar(select(User).where(User.username == "chutich"))
    pension.transfer(elders["old"], chairman, "2025-08", "12/QĐ-UBND", date(2025, 7, 25))
    p = payments.build(today, "2025-08", "HTXH", chairman)
    payments.lock(p, chairman)
    line = p.lines[0]
    payments.record_result(line, chairman, "paid_account")
    db.session.commit()
    aug = reports.monthly_report(today, "2025-08")
    assert list(aug["totals"]) == ["BTXH", "NCC", "HTXH"]
    htxh = next(r for r in aug["rows"] if r["program"] == "HTXH")
    assert (htxh["listed"], htxh["paid_cashless"], htxh["amount_cashless"], htxh["increases"]) == (1, 1, 500_000, 1)
    btxh = next(r for r in aug["rows"] if r["program"] == "BTXH")
    assert btxh["decreases"] == 1
    assert reports.as_json(aug)["totals"]["HTXH"]["paid"] == 1
    may = reports.monthly_report(find_area("524", "district", on=date(2024, 5, 1)), "2024-05")
    assert list(may["totals"]) == ["BTXH", "NCC"] and {r["program"] for r in may["rows"]} == {"BTXH", "NCC"}
    assert "HTXH" not in reports.as_json(may)["totals"]
    from openpyxl import load_workbook
    import io
    cells = [c for row in load_workbook(io.BytesIO(reports.workbook(aug))).active.iter_rows(values_only=True)
             for c in row if c]
    assert "Trợ cấp hưu trí xã hội (HTXH)" in cells and "Cộng HTXH" in cells
    cells = [c for row in load_workbook(io.BytesIO(reports.workbook(may))).active.iter_rows(values_only=True)
             for c in row if c]
    assert not any("HTXH" in str(c) for c in cells)


# ------------------------------------------------------------------ the officer's page

def test_the_transfer_page_and_its_form(client, today, elders):
    login(client, "canbo")
    assert 'href="/pension/transfers"' in client.get("/changes").get_data(as_text=True)
    html = client.get("/pension/transfers?month=2025-08").get_data(as_text=True)
    assert "Chuyển sang hưu trí xã hội" in html and "Nguyễn Văn An" in html
    assert "Trần Thị Bích" not in html and "cấp quyết định là Chủ tịch UBND xã" in html
    assert client.get("/pension/transfers?month=2025-13").status_code == 400
    assert "áp dụng từ tháng 07/2025" in client.get("/pension/transfers?month=2025-06").get_data(as_text=True)
    bid = elders["old"].id
    token = csrf_token(client, "/pension/transfers?month=2025-08")
    r = client.post(f"/pension/transfers/{bid}", data={"csrf_token": token, f"t{bid}-month": "2025-08",
                                                      f"t{bid}-decision_number": "",
                                                      f"t{bid}-decision_date": "2025-07-25"})
    assert r.status_code == 422 and "Ghi số quyết định." in r.get_data(as_text=True)
    assert db.session.scalar(select(ChangeProposal.id)) is None
    r = client.post(f"/pension/transfers/{bid}", data={"csrf_token": token, f"t{bid}-month": "2025-08",
                                                      f"t{bid}-decision_number": "12/QĐ-UBND",
                                                      f"t{bid}-decision_date": "25/07/2025"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/pension/transfers?month=2025-08")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã chuyển Nguyễn Văn An sang hưu trí xã hội từ tháng 08/2025." in html
    assert db.session.scalar(select(Beneficiary).where(Beneficiary.transferred_from_id == bid)).program == "HTXH"
    # Without the CSRF token nothing happens; another role may not.
    assert client.post(f"/pension/transfers/{elders['poor'].id}").status_code == 400
    client.post("/logout", data={"csrf_token": token})
    login(client, "payer")
    assert client.get("/pension/transfers").status_code == 403


# ------------------------------------------------------------------ imports

HTXH_LIST = """UBND XÃ BÌNH SƠN
DANH SÁCH CHI TRẢ TRỢ CẤP HƯU TRÍ XÃ HỘI THÁNG 8/2025
STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân,Thôn,Diện đối tượng,Mức trợ cấp
1,Đặng Văn Hải,05/03/1948,Nam,051048000011,Thôn Phú Long,Người từ đủ 75 tuổi không có lương hưu,500.000
2,Huỳnh Thị Lan,1950,Nữ,051150000012,Thôn Phú Long,Người từ đủ 75 tuổi không có lương hưu,500.000
"""


def test_a_communes_htxh_list_imports(today, runner, tmp_path):
    path = tmp_path / "htxh-08-2025.csv"
    path.write_text(HTXH_LIST, encoding="utf-8")
    r = runner.invoke(args=["import-list", str(path), "--commune", "21040", "--program", "HTXH", "--json"])
    assert r.exit_code == 0, r.output
    added = db.session.scalars(select(Beneficiary).where(Beneficiary.program == "HTXH")).all()
    assert sorted((b.full_name, b.monthly_amount) for b in added) == [
        ("Huỳnh Thị Lan", 500_000), ("Đặng Văn Hải", 500_000)]
    assert all(b.commune_id == today.id for b in added)
    # The title alone says HTXH too.
    parsed = imports.parse(HTXH_LIST.encode(), "ds.csv", None, None)
    assert (parsed.program, parsed.month) == ("HTXH", "2025-08")
    period = payments.build(today, "2025-08", "HTXH", history.system_user())
    assert sorted(line.amount for line in period.lines) == [500_000, 500_000]
