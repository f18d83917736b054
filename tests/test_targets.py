"""Targets have effective dates (issue 10, section 4): a target (program, indicator, area,
percent) is a version in force from a month; an edit adds a version from the month chosen;
a month's report and progress use the targets in force in that month; a made (chốt) report
never changes.

The world of test_reports.py: district Bình Sơn (524), lists of April and May 2024 (A =
Bình Chánh, 21052: BTXH 2 of 6 paid cashless in May).
"""
import io
import json
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Event, MonthlyReport, Target
from portal.services import areas, progress, reports
from portal.services.areas import find_area, find_commune
from tests.conftest import csrf_token, login
from tests.factories import person, with_account
from tests.test_reports import district_area, text_rows, user, world  # noqa: F401 (fixture)


def province():
    return find_area("51", on=date(2024, 5, 1))


def put(percent, valid_from, area=None, program="BTXH", indicator="cashless"):
    db.session.add(Target(program=program, indicator=indicator, percent=percent, area_id=area and area.id,
                          valid_from=valid_from))
    db.session.flush()


# ------------------------------------------------------------------ the lookup

def test_the_target_in_force_per_area_and_month(app):
    commune, other = find_commune("21052", "2024-05"), find_commune("21046", "2024-05")
    assert progress.targets(None, "2024-05")[("BTXH", "cashless")] == 60  # no rows: the defaults
    assert progress.in_force("BTXH", "cashless", commune, "2024-05") is None
    put(65, "0001-01")            # what every area had before versions
    put(70, "2024-06")            # global, from June
    put(80, "2024-03", province())  # the province's own, from March
    put(90, "2024-08", commune)   # one commune's own, from August
    db.session.commit()
    district = district_area()
    cases = [(None, "2024-05", 65), (None, "2024-06", 70), (None, "2030-01", 70),
             (district, "2024-02", 65),  # the province's version is not in force yet
             (district, "2024-03", 80), (district, "2024-07", 80),  # the most specific area wins
             (commune, "2024-07", 80), (commune, "2024-08", 90), (commune, "2025-01", 90),
             (other, "2024-08", 80), (other, "2024-01", 65)]
    for area, month, expected in cases:
        assert progress.target("BTXH", "cashless", area, month) == expected, (area, month)
        assert progress.targets(area, month)[("BTXH", "cashless")] == expected, (area, month)
        assert progress.in_force("BTXH", "cashless", area, month).percent == expected
    # Other keys keep their defaults; the month defaults to the campaign's (2024-05).
    assert progress.targets(commune, "2024-08")[("NCC", "cashless")] == 50
    assert progress.targets(commune)[("BTXH", "cashless")] == 80
    assert progress.targets()[("BTXH", "cashless")] == 65


def test_set_target_adds_versions_and_records_them(app):
    admin = user("admin")
    assert progress.set_target(admin, "BTXH", "cashless", 60, "2024-06") is None  # already in force
    v = progress.set_target(admin, "BTXH", "cashless", 70, "2024-06")
    db.session.commit()
    assert (v.valid_from, v.percent, v.set_by_id, v.area_id) == ("2024-06", 70, admin.id, None)
    assert v.set_at is not None
    again = progress.set_target(admin, "BTXH", "cashless", 75, "2024-06")  # the same month: changed
    assert again.id == v.id and again.percent == 75
    progress.set_target(admin, "BTXH", "cashless", 65, "2024-09")
    db.session.commit()
    assert [(t.valid_from, t.percent) for t in progress.target_history()[("BTXH", "cashless")]] == [
        ("2024-09", 65), ("2024-06", 75)]
    assert [progress.target("BTXH", "cashless", None, m) for m in ("2024-05", "2024-06", "2024-09")] == [60, 75, 65]
    events = db.session.scalars(select(Event).where(Event.field == "target").order_by(Event.id)).all()
    assert [(e.action, e.user_id, e.source, e.beneficiary_id) for e in events] == [
        ("create", admin.id, "admin", None), ("update", admin.id, "admin", None), ("create", admin.id, "admin", None)]
    assert json.loads(events[1].old_value)["percent"] == 70
    assert json.loads(events[1].new_value) == {"id": v.id, "program": "BTXH", "indicator": "cashless",
                                               "percent": 75, "area_id": None, "valid_from": "2024-06"}
    for bad, field in [(dict(percent=101), "BTXH__cashless"), (dict(valid_from="2024-13"), "valid_from"),
                       (dict(valid_from="0000-01"), "valid_from")]:
        with pytest.raises(progress.TargetError) as e:
            progress.set_target(admin, **({"program": "BTXH", "indicator": "cashless", "percent": 70,
                                           "valid_from": "2024-07"} | bad))
        assert e.value.field == field


def test_no_version_reaches_back_into_a_made_report(app):
    admin, district = user("admin"), district_area()
    db.session.add(MonthlyReport(area_id=district.id, month="2024-05", made_by_id=user("district").id, figures={}))
    other = areas.upsert_area("district", "999", "Thử", "Huyện", province())
    thu = areas.upsert_area("commune", "99901", "Thử Một", "Xã", other)
    db.session.commit()
    assert progress.last_made_month() == "2024-05" and progress.first_open_month() == "2024-06"
    for area in (None, province(), district, find_commune("21052", "2024-05")):
        with pytest.raises(progress.TargetError, match="Báo cáo tháng 05/2024 đã chốt"):
            progress.set_target(admin, "BTXH", "cashless", 70, "2024-05", area)
        with pytest.raises(progress.TargetError):
            progress.set_target(admin, "BTXH", "cashless", 70, "2023-01", area)
    assert db.session.scalar(select(func.count(Target.id))) == 0
    assert progress.set_target(admin, "BTXH", "cashless", 70, "2024-06") is not None
    # Another district's commune: the report made for Bình Sơn does not use its targets.
    assert progress.first_open_month(thu) is None
    assert progress.set_target(admin, "BTXH", "cashless", 80, "2024-05", thu).area_id == thu.id


# ------------------------------------------------------------------ reports and pages

def test_a_report_of_an_earlier_month_keeps_its_target(client, world):
    login(client, "admin")
    assert progress.set_target(user("admin"), "BTXH", "cashless", 70, "2024-05") is not None
    db.session.commit()
    april = reports.monthly_report(district_area(), "2024-04")
    may = reports.monthly_report(district_area(), "2024-05")
    assert april["totals"]["BTXH"]["rates"]["targets"]["cashless"] == 60
    assert may["totals"]["BTXH"]["rates"]["targets"]["cashless"] == 70
    login(client, "district")
    html = client.get("/reports/monthly?month=2024-04").get_data(as_text=True)
    assert "Chỉ tiêu chi trả không dùng tiền mặt 60 %" in html
    html = client.get("/reports/monthly?month=2024-05").get_data(as_text=True)
    assert "Chỉ tiêu chi trả không dùng tiền mặt 70 %" in html
    ranking = reports.ranking(district_area(), "2024-05")
    chanh = next(r for r in ranking["rows"] if r["commune_code"] == "21052")
    assert chanh["programs"]["BTXH"]["left_cashless"] == 3  # ceil(0.7 × 7 listed) − 2
    assert reports.ranking(district_area(), "2024-04")["goals"][("BTXH", "cashless")] == 60


def _page(client, url):
    """The page without what changes at each request (the CSRF token)."""
    html = client.get(url).get_data(as_text=True)
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", html)


def _cells(data):
    ws = load_workbook(io.BytesIO(data)).active
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_editing_a_target_leaves_a_made_report_as_it_was(client, runner, world):
    record = reports.make(district_area(), "2024-05", user("district"))
    db.session.commit()
    login(client, "district")
    url = "/reports/monthly?month=2024-05"
    before = (_page(client, url), _cells(client.get("/reports/monthly.xlsx?month=2024-05").data),
              runner.invoke(args=["monthly-report", "2024-05", "--area", "524", "--json"]).stdout,
              runner.invoke(args=["monthly-report", "2024-05", "--area", "524"]).stdout)
    assert "Chỉ tiêu chi trả không dùng tiền mặt 60 %" in before[0] and "chỉ tiêu 60 %" in before[3]
    assert json.loads(before[2]) == record.figures

    login(client, "admin")
    page = client.get("/admin/targets").get_data(as_text=True)
    assert 'value="2024-06"' in page  # the campaign's month is made: the first open month
    values = dict(re.findall(r'name="(\w+__\w+)"[^>]*value="(\d+)"', page)) | {"BTXH__cashless": "80"}
    token = csrf_token(client, "/admin/targets")
    r = client.post("/admin/targets", data=values | {"valid_from": "2024-05", "csrf_token": token})
    assert r.status_code == 422 and db.session.scalar(select(func.count(Target.id))) == 0
    r = client.post("/admin/targets", data=values | {"valid_from": "2024-06", "csrf_token": token})
    assert r.status_code == 303
    assert progress.target("BTXH", "cashless", district_area(), "2024-06") == 80

    login(client, "district")
    after = (_page(client, url), _cells(client.get("/reports/monthly.xlsx?month=2024-05").data),
             runner.invoke(args=["monthly-report", "2024-05", "--area", "524", "--json"]).stdout,
             runner.invoke(args=["monthly-report", "2024-05", "--area", "524"]).stdout)
    assert after == before
    # The commune's view of the district's made report, too; June's live report has the new one.
    commune = find_commune("21052", "2024-05")
    assert "60 %" in client.get(f"/reports/monthly?month=2024-05&area={commune.id}").get_data(as_text=True)
    assert reports.monthly_report(district_area(), "2024-06")["totals"]["BTXH"]["rates"]["targets"]["cashless"] == 80


def test_progress_pages_show_the_target_of_the_current_month(client):
    a = with_account(person(name="Nguyễn Văn An"))
    db.session.commit()
    admin = user("admin")
    progress.set_target(admin, "BTXH", "cashless", 70, "2024-04")
    progress.set_target(admin, "BTXH", "cashless", 90, "2024-09")  # planned: not in force in May
    progress.set_target(admin, "BTXH", "reviewed", 80, "2024-06")
    db.session.commit()
    login(client, "district")
    html = client.get("/overview").get_data(as_text=True)
    assert "rà soát 100 %; chi trả qua tài khoản BTXH 70 %, NCC 50 %" in html
    html = client.get(f"/communes/{a.commune_id}").get_data(as_text=True)
    assert "chỉ tiêu 70 %" in html and "chỉ tiêu 90 %" not in html and "chỉ tiêu 80 %" not in html


# ------------------------------------------------------------------ the admin page

def test_the_admin_page_asks_the_month_and_shows_the_history(client):
    login(client, "admin")
    page = client.get("/admin/targets").get_data(as_text=True)
    assert 'name="valid_from"' in page and 'value="2024-05"' in page  # default: the campaign's month
    assert page.count('class="tag">mặc định') == 9 and "Chưa có thay đổi nào." in page
    values = dict(re.findall(r'name="(\w+__\w+)"[^>]*value="(\d+)"', page))
    token = csrf_token(client, "/admin/targets")
    r = client.post("/admin/targets", data=values | {"NCC__cashless": "55", "valid_from": "2024-07",
                                                     "csrf_token": token})
    assert r.status_code == 303
    page = client.get("/admin/targets").get_data(as_text=True)
    assert "Đã lưu chỉ tiêu áp dụng từ tháng 07/2024." in page
    rows = text_rows(page)
    assert any(re.fullmatch(r"NCC · Chi trả qua tài khoản \| 07/2024 \| 55 \| admin \| .+", x) for x in rows), rows
    assert "NCC · Chi trả qua tài khoản | từ đầu | 50 | mặc định" in rows  # the months before
    assert "50 % → 55 %" not in page and "55 % · từ tháng 07/2024" in page  # the audit trail
    assert 'value="50"' in page  # May's value is still shown: the new one starts in July
    r = client.post("/admin/targets", data=values | {"valid_from": "2024-07", "csrf_token": token})
    assert r.status_code == 303 and "Không có gì thay đổi." in client.get("/admin/targets").get_data(as_text=True)


@pytest.mark.parametrize("month, message", [
    ("", "Nhập tháng."),
    ("07/2024", "Tháng dạng YYYY-MM, ví dụ 2024-06."),
    ("2024-13", "Tháng dạng YYYY-MM, ví dụ 2024-06."),
    ("0000-01", "phải trong các năm"),
    ("2024-04", "Báo cáo tháng 04/2024 đã chốt và không thay đổi nữa: chỉ tiêu mới áp dụng từ tháng 05/2024"),
])
def test_the_admin_form_refuses_a_bad_or_closed_month(client, month, message):
    db.session.add(MonthlyReport(area_id=district_area().id, month="2024-04", made_by_id=user("district").id,
                                 figures={}))
    db.session.commit()
    login(client, "admin")
    page = client.get("/admin/targets").get_data(as_text=True)
    values = dict(re.findall(r'name="(\w+__\w+)"[^>]*value="(\d+)"', page)) | {"BTXH__cashless": "70"}
    r = client.post("/admin/targets", data=values | {"valid_from": month,
                                                     "csrf_token": csrf_token(client, "/admin/targets")})
    html = r.get_data(as_text=True)
    assert r.status_code == 422, html[:2000]
    assert "<title>Lỗi:" in html and 'class="error-summary"' in html
    summary = html.split('class="error-summary"')[1].split("</div>")[0]
    assert message in summary and 'href="#valid_from"' in summary
    assert 'id="valid_from-error"' in html and message in html.split('id="valid_from-error"')[1].split("</span>")[0]
    assert 'aria-invalid="true"' in html and 'value="70"' in html  # what was typed stays
    assert db.session.scalar(select(func.count(Target.id))) == 0
    assert db.session.scalar(select(func.count(Event.id)).where(Event.field == "target")) == 0
