"""The monthly report's pages, workbook and command, and the ranking sent back to communes.

A small world built through the product's functions (people, lists built, locked and paid):
district Bình Sơn (524) with A = Bình Chánh (21052) and B = 21046; and another district
(Huyện Thử, 999) with one commune, to check the scoping. BTXH amounts are coefficient ×
360,000 đồng (before 1/7/2024); NCC amounts are the records'.

April 2024 — A BTXH: a1..a5 all paid in cash; A NCC: n1 paid in cash; B BTXH: b1 cash,
b2 into the account, b3 cash.
May 2024 — a6 is new from May (an increase), b3 stopped from May (a decrease).
A BTXH: a1 own account 540,000 paid · a2 guardian's account 720,000 paid · a3 cash 360,000
paid · a4 own account 360,000 failed · a5 cash 540,000 paid · a6 cash 360,000 pending;
a1 reviewed on 10/05. A NCC: n1 own account 2,055,000 paid. B BTXH: b1 cash 540,000 paid ·
b2 own account 720,000 failed.
"""
import io
import json
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Area, MonthlyReport, PaymentPeriod, User
from portal.services import areas, changes, payments, reports
from portal.services.areas import find_area, find_commune
from tests.conftest import csrf_token, login
from tests.factories import person, visit, with_account

NCC = 2_055_000
KEYS = set(reports.KEYS)


def user(name):
    return db.session.scalar(select(User).where(User.username == name))


def district_area():
    return find_area("524", on=date(2024, 5, 1))


def pay(commune_code, program, month, results):
    """Build, lock and record the results (beneficiary → (result, reason…)) of one list."""
    p = payments.build(find_commune(commune_code, month), month, program, user("district"))
    payments.lock(p, user("district"))
    for line in p.lines:
        if line.beneficiary in results:
            payments.record_result(line, user("payer"), *results[line.beneficiary])
    db.session.commit()
    return p


@pytest.fixture
def world(app):
    A, B = "21052", "21046"
    p = {"a1": with_account(person(A, name="Đỗ Văn Một", national_id="051050000101", coefficient=1.5),
                            number="4300205000101"),
         "a2": with_account(person(A, name="Đỗ Thị Hai", sex="F", national_id="051150000102", coefficient=2.0),
                            number="4300205000102", recipient="guardian", holder="Đỗ Văn Giám"),
         "a3": person(A, name="Đỗ Văn Ba", national_id="051050000103", coefficient=1.0),
         "a4": with_account(person(A, name="Đỗ Văn Bốn", national_id="051050000104", coefficient=1.0),
                            number="4300205000104"),
         "a5": person(A, name="Đỗ Văn Năm", national_id="051050000105", coefficient=1.5),
         "a6": person(A, name="Đỗ Văn Sáu", national_id="051050000106", coefficient=1.0),
         "n1": with_account(person(A, name="Đỗ Văn Công", program="NCC", national_id="051050000107",
                                   monthly_amount=NCC), number="4300205000107"),
         "b1": person(B, village="Thôn Mỹ Long", name="Hồ Văn Một", national_id="051050000111",
                      coefficient=1.5),
         "b2": with_account(person(B, village="Thôn Mỹ Long", name="Hồ Văn Hai",
                                   national_id="051050000112", coefficient=2.0), number="4300205000112"),
         "b3": person(B, village="Thôn Mỹ Long", name="Hồ Văn Ba", national_id="051050000113",
                      coefficient=1.0)}
    changes.record_new(p["a6"], "2024-05", user("commune"))
    stop = changes.propose(p["b3"], "stop", user("commune"), "2024-05", clause="1d")
    changes.decide(stop, user("district"), True, "30/QĐ-UBND", date(2024, 4, 26))
    province = find_area("51", on=date(2024, 5, 1))
    other = areas.upsert_area("district", "999", "Thử", "Huyện", province)
    areas.upsert_area("commune", "99901", "Thử Một", "Xã", other)
    db.session.commit()
    cash = ("paid_cash",)
    pay(A, "BTXH", "2024-04", {p[k]: cash for k in ("a1", "a2", "a3", "a4", "a5")})
    pay(A, "NCC", "2024-04", {p["n1"]: cash})
    pay(B, "BTXH", "2024-04", {p["b1"]: cash, p["b2"]: ("paid_account",), p["b3"]: cash})
    visit(p["a1"], date(2024, 5, 10))
    db.session.commit()
    p["A"] = pay(A, "BTXH", "2024-05", {p["a1"]: ("paid_account",), p["a2"]: ("paid_account",),
                                         p["a3"]: cash, p["a4"]: ("failed", "Tài khoản đã đóng"),
                                         p["a5"]: cash})
    pay(A, "NCC", "2024-05", {p["n1"]: ("paid_account",)})
    pay(B, "BTXH", "2024-05", {p["b1"]: cash, p["b2"]: ("failed", "Sai tên chủ tài khoản")})
    return p


A_BTXH = {"paid": 4, "own_account": 1, "proxy_account": 1, "paid_cashless": 2,
          "amount_cashless": 540_000 + 720_000, "paid_cash": 2, "amount_cash": 360_000 + 540_000,
          "with_account": 3, "paid_into_account_of_those_with_account": 2, "reviewed": 1,
          "increases": 1, "decreases": 0}
A_NCC = dict.fromkeys(KEYS, 0) | {"paid": 1, "own_account": 1, "paid_cashless": 1, "amount_cashless": NCC,
                                  "with_account": 1, "paid_into_account_of_those_with_account": 1}
B_BTXH = dict.fromkeys(KEYS, 0) | {"paid": 1, "paid_cash": 1, "amount_cash": 540_000, "with_account": 1,
                                   "decreases": 1}


def rows_of(report):
    return {(r["commune_code"], r["program"]): {k: r[k] for k in KEYS} for r in report["rows"]}


def text_rows(html):
    """Each table row of a page as its text, cells separated by « | »."""
    out = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
                 for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)]
        out.append(" | ".join(cells).replace("\xa0", " "))
    return out


def test_the_world_counts(world):
    r = reports.monthly_report(district_area(), "2024-05")
    rows = rows_of(r)
    assert rows[("21052", "BTXH")] == A_BTXH
    assert rows[("21052", "NCC")] == A_NCC
    assert rows[("21046", "BTXH")] == B_BTXH
    assert len(r["rows"]) == 44 and r["area_level"] == "district" and r["area_place"] == "Bình Sơn"


# ------------------------------------------------------------------------------ the page

def test_district_page_shows_every_commune_and_the_totals(client, world):
    login(client, "district")
    r = client.get("/reports/monthly")  # default: the campaign month, the user's area
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "tháng 05/2024" in html and "Chưa chốt" in html
    rows = text_rows(html)
    chanh = [x for x in rows if x.startswith("Xã Bình Chánh")]
    assert len(chanh) == 2  # one table per program
    btxh, ncc = chanh
    assert btxh.split(" | ")[1:6] == ["4", "1", "1", "2 1.260.000 đ", "2 900.000 đ"]
    assert "33,3 %" in btxh and "66,7 %" in btxh  # cashless of the 6 listed; into the account of the 3 with one
    assert ncc.split(" | ")[1] == "1" and "100,0 %" in ncc
    assert any(x.startswith("Cộng BTXH | 5 |") for x in rows)  # 4 in A + 1 in B
    others = [x for x in rows if "Chưa có danh sách chi trả đã khóa" in x]
    assert len(others) == 44 - 3
    assert 'progress max="100" value="33.3" aria-label="BTXH Xã Bình Chánh" class="low"' in html
    assert "Còn 1 người chưa có kết quả chi trả" in html
    assert "Chốt báo cáo" in html and "/reports/monthly.xlsx?month=2024-05" in html


def test_page_scope_per_role(client, world, app):
    a = find_commune("21052", "2024-05")
    b = find_commune("21046", "2024-05")
    other = find_area("999", level="district")
    village = db.session.scalar(select(Area).where(Area.parent_id == a.id, Area.level == "village"))
    login(client, "commune")
    html = client.get("/reports/monthly?month=2024-05").get_data(as_text=True)
    assert "Xã Bình Chánh" in html and b.full_name not in html and "Chốt báo cáo" not in html
    assert "4 người được chi trả" in html  # the commune's own BTXH card
    for area_id in (district_area().id, b.id, other.id):
        assert client.get(f"/reports/monthly?area={area_id}").status_code == 404
        assert client.get(f"/reports/monthly.xlsx?area={area_id}").status_code == 404
    assert client.get(f"/reports/monthly?area={village.id}").status_code == 404
    token = csrf_token(client, "/reports/monthly")
    r = client.post("/reports/monthly/make", data={"csrf_token": token, "month": "2024-05", "area": a.id})
    assert r.status_code == 403
    client.post("/logout", data={"csrf_token": token})

    login(client, "district")
    assert client.get(f"/reports/monthly?area={other.id}").status_code == 404
    r = client.get(f"/reports/monthly?area={a.id}&month=2024-04")
    assert r.status_code == 200 and "tháng 04/2024" in r.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/reports/monthly")})

    login(client, "payer")
    assert client.get("/reports/monthly").status_code == 200
    assert "Chốt báo cáo" not in client.get("/reports/monthly").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/reports/monthly")})
    login(client, "police")
    assert client.get("/reports/monthly").status_code == 403
    assert client.get("/reports/ranking").status_code == 403


def test_bad_month_and_renderings(client, world):
    login(client, "district")
    r = client.get("/reports/monthly?month=2024-13")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "error-summary" in html and "YYYY-MM" in html
    assert html.count("<table") == 0
    # After the 2025 reform the district has no commune: said, not an empty table (a page
    # shows up to the month after the open month: 08/2025 open here).
    client.application.config["CAMPAIGN_MONTH"] = "2025-08"
    for url in ("/reports/monthly?month=2025-08", "/reports/ranking?month=2025-08"):
        html = client.get(url).get_data(as_text=True)
        assert "Huyện Bình Sơn không có xã nào trong tháng này" in html and "<table" not in html
    client.application.config["CAMPAIGN_MONTH"] = "2024-05"
    # A plain htmx request (the month picker) gets the report section only …
    r = client.get("/reports/monthly?month=2024-04", headers={"HX-Request": "true"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and html.startswith("<section id=\"report\">") and "<html" not in html
    assert "tháng 04/2024" in html and "HX-Request" in r.headers["Vary"]
    # … a boosted one, and the same URL opened directly, the whole page.
    for headers in ({"HX-Request": "true", "HX-Boosted": "true"}, {}):
        html = client.get("/reports/monthly?month=2024-04", headers=headers).get_data(as_text=True)
        assert "<html" in html and 'hx-target="#report"' in html and 'id="report"' in html


def test_make_then_later_edits_keep_the_made_numbers(client, world):
    p = world
    a = find_commune("21052", "2024-05")
    login(client, "district")
    token = csrf_token(client, "/reports/monthly")
    # Nothing locked in July: nothing to make.
    r = client.post("/reports/monthly/make", data={"csrf_token": token, "month": "2024-07",
                                                   "area": district_area().id})
    assert r.status_code == 303 and "chưa có danh sách chi trả nào đã khóa" in client.get(
        r.headers["Location"]).get_data(as_text=True)
    # A commune's report is part of the district's: the district makes its own.
    r = client.post("/reports/monthly/make", data={"csrf_token": token, "month": "2024-05", "area": a.id})
    assert r.status_code == 303 and db.session.scalar(select(func.count(MonthlyReport.id))) == 0
    assert client.post("/reports/monthly/make", data={"month": "2024-05",
                                                      "area": district_area().id}).status_code == 400  # no CSRF
    r = client.post("/reports/monthly/make", data={"csrf_token": token, "month": "2024-05",
                                                   "area": district_area().id})
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/reports/monthly?month=2024-05&area={district_area().id}")
    record = db.session.scalars(select(MonthlyReport)).one()
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    when = reports.local_time(record.made_at).strftime("%d/%m/%Y %H:%M")
    assert f"Đã chốt {when} bởi Phòng LĐ-TB&amp;XH huyện Bình Sơn" in html
    assert "Xem số liệu hiện tại" in html and "Chốt báo cáo" not in html

    # Later: B's failed payment goes through after all, a3 opens an account (a review), and
    # A's BTXH list is rebuilt as version 2 with a3's account (its line pending again; the
    # lines paid the same way keep their results).
    b = db.session.scalars(select(PaymentPeriod).where(
        PaymentPeriod.commune_id == find_commune("21046", "2024-05").id, PaymentPeriod.month == "2024-05")).one()
    b2 = next(x for x in b.lines if x.beneficiary_id == p["b2"].id)
    payments.record_result(b2, user("payer"), "paid_account")
    visit(p["a3"], date(2024, 5, 20), account_status="has_account", payment_method="account",
           bank_bin="970405", number="4300205000103", holder_name="Đỗ Văn Ba", recipient_type="self")
    db.session.commit()
    v2 = payments.build(a, "2024-05", "BTXH", user("district"), reason="Bổ sung tài khoản")
    payments.lock(v2, user("district"))
    db.session.commit()

    made, shown = reports.report_for(district_area(), "2024-05")
    assert shown.id == record.id and reports.as_json(made) == record.figures
    assert rows_of(made)[("21052", "BTXH")] == A_BTXH and rows_of(made)[("21046", "BTXH")] == B_BTXH
    live, none = reports.report_for(district_area(), "2024-05", live=True)
    assert none is None
    assert rows_of(live)[("21052", "BTXH")] == A_BTXH | {
        "paid": 3, "paid_cash": 1, "amount_cash": 540_000, "with_account": 4, "reviewed": 2}
    assert rows_of(live)[("21046", "BTXH")] == B_BTXH | {
        "paid": 2, "own_account": 1, "paid_cashless": 1, "amount_cashless": 720_000,
        "paid_into_account_of_those_with_account": 1}
    # The page shows the made numbers; the live link the new ones; the commune sees the district's.
    page = text_rows(client.get("/reports/monthly?month=2024-05").get_data(as_text=True))
    assert next(x for x in page if x.startswith("Xã Bình Chánh")).split(" | ")[1] == "4"
    live_html = client.get("/reports/monthly?month=2024-05&live=1").get_data(as_text=True)
    assert next(x for x in text_rows(live_html) if x.startswith("Xã Bình Chánh")).split(" | ")[1] == "3"
    assert "Xem báo cáo đã chốt" in live_html and "Chốt lại báo cáo" in live_html
    commune_html = client.get(f"/reports/monthly?area={a.id}").get_data(as_text=True)
    assert "báo cáo của Huyện Bình Sơn" in commune_html and "4 người được chi trả" in commune_html


def test_making_again_needs_a_change_and_a_reason_and_keeps_every_version(client, world):
    login(client, "district")
    token = csrf_token(client, "/reports/monthly")
    data = {"csrf_token": token, "month": "2024-05", "area": district_area().id}
    assert client.post("/reports/monthly/make", data=data).status_code == 303
    r = client.post("/reports/monthly/make", data=data)  # a double submit: still one report
    assert "Số liệu không đổi" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(func.count(MonthlyReport.id))) == 1
    line = next(x for x in world["A"].lines if x.beneficiary_id == world["a6"].id)
    payments.record_result(line, user("payer"), "paid_cash")
    db.session.commit()
    r = client.post("/reports/monthly/make", data=data)  # changed, but no reason
    assert "cần ghi lý do" in client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post("/reports/monthly/make", data=data | {"reason": "Bổ sung kết quả chi trả"})
    first, second = sorted(db.session.scalars(select(MonthlyReport)), key=lambda m: m.id)
    assert second.reason == "Bổ sung kết quả chi trả"
    assert second.figures["totals"]["BTXH"]["paid"] == first.figures["totals"]["BTXH"]["paid"] + 1
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Các lần chốt (2)" in html and "Bổ sung kết quả chi trả" in html
    earlier = client.get(f"/reports/monthly?month=2024-05&made={first.id}").get_data(as_text=True)
    paid = next(x for x in text_rows(earlier) if x.startswith("Xã Bình Chánh")).split(" | ")[1]
    assert paid == "4"  # the first version, as it was made
    ws = sheet(client.get(f"/reports/monthly.xlsx?month=2024-05&made={first.id}").data)
    chanh = next(row for row in ws.iter_rows(values_only=True) if row[1] == "Xã Bình Chánh")  # BTXH first
    assert chanh[2] == 4
    assert client.get("/reports/monthly.xlsx?month=2024-13").status_code == 400


# ------------------------------------------------------------------------------ the workbook

def sheet(data):
    return load_workbook(io.BytesIO(data)).active


def test_workbook_in_the_administrative_form(client, world):
    login(client, "district")
    r = client.get("/reports/monthly.xlsx?month=2024-05")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="bao-cao-thang-524-2024-05.xlsx"' in r.headers["Content-Disposition"]
    ws = sheet(r.data)
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    values = [c.value for c in cells]
    assert all(c.font.name == "Times New Roman" for c in cells)
    assert {"UBND HUYỆN BÌNH SƠN", "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
            "BÁO CÁO KẾT QUẢ CHI TRẢ TRỢ CẤP KHÔNG DÙNG TIỀN MẶT", "Tháng 5 năm 2024",
            "NGƯỜI LẬP BIỂU", "TRƯỞNG PHÒNG"} <= set(values)
    assert [ws.cell(9, c).value for c in (1, 2, 3, 4, 6, 8, 10, 12, 15, 16)] == [
        "STT", "Xã, thị trấn", "Số người được chi trả", "Trong đó chi vào tài khoản",
        "Chi trả không dùng tiền mặt", "Chi trả tiền mặt", "Tỷ lệ không dùng tiền mặt",
        "Người có tài khoản", "Tỷ lệ đã rà soát", "Phát sinh"]
    assert [ws.cell(10, c).value for c in (4, 5, 6, 7, 10, 11, 13, 16, 17)] == [
        "Chính chủ", "Người giám hộ, người được ủy quyền", "Số người", "Số tiền (đồng)", "Đạt",
        "Chỉ tiêu", "Được chi vào tài khoản", "Tăng", "Giảm"]
    by_name = {}
    section = None
    for row in ws.iter_rows(min_row=11):
        name = row[1].value
        if name in ("Trợ cấp xã hội hằng tháng (BTXH)", "Trợ cấp ưu đãi người có công (NCC)"):
            section = name[-5:-1].strip("(")
        elif name and name.startswith(("Xã ", "Thị trấn ", "Cộng ", "TỔNG")):
            by_name[(section, name)] = row
            if name == "TỔNG CỘNG":
                break  # the outreach section follows (services/reports._outreach_rows)
    communes = {p: [r for (s, n), r in by_name.items() if s == p and not n.startswith(("Cộng", "TỔNG"))]
                for p in ("BTXH", "NCC")}
    assert len(communes["BTXH"]) == len(communes["NCC"]) == 22
    counts = [3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17]  # columns of counts and đồng
    for p in ("BTXH", "NCC"):
        total = by_name[(p, f"Cộng {p}")]
        for col in counts:
            assert total[col - 1].value == sum(r[col - 1].value for r in communes[p]), (p, col)
    grand = by_name[("NCC", "TỔNG CỘNG")]
    for col in counts:
        assert grand[col - 1].value == by_name[("BTXH", "Cộng BTXH")][col - 1].value + by_name[
            ("NCC", "Cộng NCC")][col - 1].value
    a = by_name[("BTXH", "Xã Bình Chánh")]
    assert [a[c - 1].value for c in (3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17)] == [
        4, 1, 1, 2, 1_260_000, 2, 900_000, 3, 2, 1, 0]
    assert a[9].value == pytest.approx(2 / 6) and a[10].value == pytest.approx(0.6)  # of the 6 listed
    assert a[13].value == pytest.approx(2 / 3) and a[14].value == pytest.approx(1 / 6)
    assert a[9].number_format == "0.0%" and a[13].number_format == "0.0%" and a[10].number_format == "0%"
    assert a[6].number_format == "#,##0" and a[2].number_format == "#,##0"
    assert by_name[("BTXH", "Cộng BTXH")][9].value == pytest.approx(2 / 8)  # recomputed from the sums
    assert by_name[("BTXH", "Xã Bình Hòa")][9].value is None  # nobody paid: no rate
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)


def test_commune_workbook_is_issued_by_the_commune(world):
    report = reports.monthly_report(find_commune("21052", "2024-05"), "2024-05")
    values = {c.value for row in sheet(reports.workbook(report)).iter_rows() for c in row}
    assert {"UBND XÃ BÌNH CHÁNH", "CHỦ TỊCH", "Tháng 5 năm 2024"} <= values
    assert "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI" not in values


# ------------------------------------------------------------------------------ the command

def cli_json(runner, *args):
    result = runner.invoke(args=["monthly-report", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_json_shape_and_sums(runner, world, tmp_path):
    out = cli_json(runner, "2024-05", "--area", "524")
    assert set(out) == {"period", "area", "rows", "totals"}
    assert (out["period"], out["area"]) == ("2024-05", "524")
    assert len(out["rows"]) == 44
    for row in out["rows"]:
        assert set(row) == KEYS | {"commune_code", "program"}
        assert all(type(row[k]) is int for k in KEYS)
    assert set(out["totals"]) == {"BTXH", "NCC"}
    for program, total in out["totals"].items():
        assert set(total) == KEYS
        assert total == {k: sum(r[k] for r in out["rows"] if r["program"] == program) for k in KEYS}
    rows = {(r["commune_code"], r["program"]): {k: r[k] for k in KEYS} for r in out["rows"]}
    assert rows[("21052", "BTXH")] == A_BTXH and rows[("21046", "BTXH")] == B_BTXH
    assert out == reports.as_json(reports.monthly_report(district_area(), "2024-05"))

    path = tmp_path / "bc.xlsx"
    result = runner.invoke(args=["monthly-report", "2024-05", "--area", "524", "--xlsx", str(path)])
    assert result.exit_code == 0 and f"Đã ghi {path}" in result.output
    assert ("BTXH: trong danh sách 8 người, đã chi 5; không dùng tiền mặt 2 (25,0 % người trong danh sách, "
            "chỉ tiêu 60 %)") in result.output
    assert sheet(path.read_bytes()).cell(5, 1).value == "BÁO CÁO KẾT QUẢ CHI TRẢ TRỢ CẤP KHÔNG DÙNG TIỀN MẶT"
    commune = cli_json(runner, "2024-05", "--area", "21052")
    assert [(r["commune_code"], r["program"]) for r in commune["rows"]] == [("21052", "BTXH"), ("21052", "NCC")]


def test_cli_uses_the_made_report(runner, world):
    record = reports.make(district_area(), "2024-05", user("district"))
    db.session.commit()
    line = next(x for x in world["A"].lines if x.beneficiary_id == world["a6"].id)
    payments.record_result(line, user("payer"), "paid_cash")
    db.session.commit()
    assert cli_json(runner, "2024-05", "--area", "524") == record.figures
    live = cli_json(runner, "2024-05", "--area", "524", "--live")
    assert live["totals"]["BTXH"]["paid_cash"] == record.figures["totals"]["BTXH"]["paid_cash"] + 1
    text = runner.invoke(args=["monthly-report", "2024-05", "--area", "524"]).output
    assert f"đã chốt {reports.local_time(record.made_at):%d/%m/%Y %H:%M}" in text


@pytest.mark.parametrize("args, code, message", [
    (["2024-13", "--area", "524"], "bad_month", "không đúng dạng YYYY-MM"),
    (["05/2024", "--area", "524"], "bad_month", "không đúng dạng YYYY-MM"),
    (["2024-05", "--area", "12345"], "unknown_area", "Không có đơn vị mã 12345 trong tháng 05/2024"),
    # Bình Chánh was merged on 1/7/2025: its code names no unit in August 2025.
    (["2025-08", "--area", "21052"], "unknown_area", "Không có đơn vị mã 21052 trong tháng 08/2025"),
])
def test_cli_errors(runner, app, args, code, message):
    result = runner.invoke(args=["monthly-report", *args])
    assert result.exit_code == 2 and message in result.stderr and result.stdout == ""
    result = runner.invoke(args=["monthly-report", *args, "--json"])
    assert result.exit_code == 2
    out = json.loads(result.stdout)
    assert out["error"] == code and message in out["message"]


def test_cli_unwritable_xlsx(runner, world, tmp_path):
    result = runner.invoke(args=["monthly-report", "2024-05", "--area", "524",
                                 "--xlsx", str(tmp_path / "no" / "such" / "dir.xlsx")])
    assert result.exit_code == 2 and "Không ghi được tệp" in result.stderr


# ------------------------------------------------------------------------------ the ranking

def test_left_to_target():
    assert reports.left_to_target(4, 2, 60) == 1  # ceil(2.4) = 3 people
    assert reports.left_to_target(5, 2, 60) == 1  # exactly 3
    assert reports.left_to_target(5, 3, 60) == 0
    assert reports.left_to_target(5, 5, 60) == 0  # above the target: nothing left, never negative
    assert reports.left_to_target(0, 0, 60) == 0
    assert reports.left_to_target(7, 0, 50) == 4  # ceil(3.5)


def test_ranking_counts(world):
    data = reports.ranking(district_area(), "2024-05")
    assert (data["period"], data["previous"], data["ranked"]) == ("2024-05", "2024-04", 2)
    first, second, *rest = data["rows"]
    assert (first["commune_code"], first["rank"], first["cashless"]) == ("21052", 1, 42.9)  # 3 of the 7 listed
    assert (second["commune_code"], second["rank"], second["cashless"]) == ("21046", 2, 0.0)
    assert all(e["rank"] is None for e in rest) and len(rest) == 20
    assert first["paid_into_account"] == 75.0 and first["reviewed"] == round(100 / 7, 1)
    assert first["target"] == round((60 * 6 + 50 * 1) / 7, 1)
    # April: A paid everyone in cash (0 %), B one of three into the account.
    assert (first["before"]["rank"], first["before"]["cashless"]) == (2, 0.0)
    assert (second["before"]["rank"], second["before"]["cashless"]) == (1, round(100 / 3, 1))
    btxh = first["programs"]["BTXH"]
    assert (btxh["left_cashless"], btxh["left_into_account"]) == (2, 1)  # 60 % of 6 is 4; 2 are
    assert (first["programs"]["NCC"]["left_cashless"], first["programs"]["NCC"]["left_into_account"]) == (0, 0)
    assert second["programs"]["BTXH"]["left_cashless"] == 2 and second["programs"]["BTXH"]["left_into_account"] == 1


def test_ties_share_a_rank():
    def row(cid, listed, cashless):
        return dict.fromkeys(reports.KEYS + reports.EXTRA_KEYS, 0) | {
            "commune_id": cid, "commune_code": str(cid), "commune_name": f"Xã {cid}", "program": "BTXH",
            "listed": listed, "paid": listed, "paid_cashless": cashless, "has_list": True}
    ranked = reports._ranked({"rows": [row(1, 4, 2), row(2, 2, 1), row(3, 4, 1), row(4, 0, 0)]})
    assert [ranked[c]["rank"] for c in (1, 2, 3, 4)] == [1, 1, 3, None]  # 50 %, 50 %, 25 %, nobody listed


def test_commune_officer_lands_on_the_ranking(client, world):
    a = find_commune("21052", "2024-05")
    login(client, "commune")
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/reports/ranking")
    html = client.get("/reports/ranking").get_data(as_text=True)
    assert "Xã Bình Chánh: hạng 1/2" in html and "Lên 1 bậc so với tháng 04/2024" in html
    assert f'href="/communes/{a.id}"' in html  # the way to the review pages, first on the page
    assert html.index(f'href="/communes/{a.id}"') < html.index("<table")
    assert "Còn thiếu 2 người chi trả không dùng tiền mặt để đạt chỉ tiêu 60 %" in html
    assert "1 người đã có tài khoản nhưng chưa được chi vào tài khoản" in html
    assert "Đã đạt chỉ tiêu 50 %" in html  # NCC
    assert "+33,3 điểm %" in html and "+2" in html and "-3" in html  # BTXH rate (0 → 2 of 6) and counts since April
    rows = text_rows(html)
    assert rows[1].startswith("1 | Xã Bình Chánh | 42,9 % 3/7") and rows[2].startswith("2 |")
    assert 'aria-current="true"' in html
    r = client.get("/reports/ranking?month=2024-4")
    assert r.status_code == 400 and "YYYY-MM" in r.get_data(as_text=True)


def test_district_sees_the_ranking(client, world):
    login(client, "district")
    html = client.get("/reports/ranking?month=2024-05").get_data(as_text=True)
    assert "hạng 1/2" not in html and "Rà soát các thôn" not in html
    assert [x.split(" | ")[:2] for x in text_rows(html)[1:3]] == [["1", "Xã Bình Chánh"], ["2", "Xã Bình Thạnh"]]
    assert "Số liệu hiện tại" in html
    reports.make(district_area(), "2024-05", user("district"))
    db.session.commit()
    assert "Theo báo cáo đã chốt" in client.get("/reports/ranking?month=2024-05").get_data(as_text=True)


# ------------------------------------------------------------------------------ budgets

ENC = {"Accept-Encoding": "br, gzip"}


def test_pages_within_the_byte_budget(client, app):
    """Every commune of the district with both programs paid: the widest report page."""
    for i, c in enumerate(reports.communes_of(district_area(), "2024-05")):
        b = with_account(person(c.code, village="Thôn Một", name=f"Người Thử {i}",
                                national_id=f"0510500{i:05d}", coefficient=1.5), number=f"43002051{i:05d}")
        n = person(c.code, village="Thôn Một", name=f"Người Công {i}", program="NCC",
                   national_id=f"0510501{i:05d}", monthly_amount=NCC)
        pay(c.code, "BTXH", "2024-05", {b: ("paid_account",)})
        pay(c.code, "NCC", "2024-05", {n: ("paid_cash",)})
    login(client, "district")
    for url in ("/reports/monthly", "/reports/ranking"):
        r = client.get(url, headers=ENC)
        assert r.status_code == 200 and r.headers["Content-Encoding"] in ("br", "gzip")
        assert len(r.data) <= 14_600, (url, len(r.data))
    html = client.get("/reports/monthly").get_data(as_text=True)
    assert "Chưa có danh sách chi trả đã khóa" not in html and html.count("<progress") >= 44


def test_a_transferred_htxh_record_counts_the_visits_of_its_btxh_record(app):
    """The HTXH record opened by the BTXH transfer (Decree 176/2025/NĐ-CP) has no visit of
    its own: the officer visited the BTXH record. The report counts that visit, as the
    progress counts do (``reviewed_at`` is copied at the transfer)."""
    from portal.services import pension, progress
    from tests.factories import make_user
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    chairman = make_user("chutich", "chairman", "21040", "2025-08")
    make_user("canbo", "commune", "21040", "2025-08")
    son = find_commune("21040", "2025-08")
    elder = "Người cao tuổi từ đủ 80 tuổi trở lên"
    visited = with_account(person(name="Nguyễn Văn An", birth=date(1940, 3, 4), national_id="051040000001",
                                  category=elder, coefficient=1.0, monthly_amount=500_000))
    unvisited = person(name="Lê Văn Cường", birth=date(1941, 1, 1), national_id="051041000003",
                       category=elder, coefficient=1.0, monthly_amount=500_000)
    visit(visited, date(2025, 7, 10), officer="canbo")
    db.session.commit()
    moved = [pension.transfer(b, chairman, "2025-08", "12/QĐ-UBND", date(2025, 7, 25))[1]
             for b in (visited, unvisited)]
    from portal.models import Review
    assert db.session.scalar(select(func.count()).select_from(Review).where(
        Review.beneficiary_id.in_([new.id for new in moved]))) == 0  # no visit of their own
    p = payments.build(son, "2025-08", "HTXH", chairman)
    payments.lock(p, chairman)
    db.session.commit()
    row = reports.figures([son.id], "2025-08")[(son.id, "HTXH")]
    assert (row["listed"], row["reviewed"]) == (2, 1)
    counts = progress.count_rows(commune_ids=[son.id, visited.commune_id])
    assert sum(c.reviewed for (_cid, program), c in counts.items() if program == "HTXH") == row["reviewed"]
