"""The dated reference data an admin keeps (/admin/levels): standard levels per program and
fixed amounts per category, each from a date; the payment list follows them; every change
is in the audit trail."""
import json
import re
from datetime import date

import brotli
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Event, StandardLevel
from portal.services import payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.conftest import csrf_token, login
from tests.factories import person

PAGE_BUDGET = 14_600


def add(client, expect=303, **values):
    data = {"program": "BTXH", "category": "", "amount": "400.000", "valid_from": "01/03/2024",
            "source": "Quyết định của UBND tỉnh"} | values
    data["csrf_token"] = csrf_token(client, "/admin/levels")
    r = client.post("/admin/levels", data=data)
    assert r.status_code == expect, r.get_data(as_text=True)[:3000]
    return r


def rows(program=None):
    q = select(StandardLevel).order_by(StandardLevel.valid_from, StandardLevel.id)
    if program:
        q = q.where(StandardLevel.program == program)
    return db.session.scalars(q).all()


def audit(field="standard_level"):
    return db.session.scalars(select(Event).where(Event.source == "admin", Event.field == field)
                              .order_by(Event.id)).all()


def amounts(commune_code, month, program):
    p = payments.build(find_commune(commune_code, month), month, program, system_user())
    return {line.beneficiary_id: line.amount for line in p.lines}


# ------------------------------------------------------------------ who may

@pytest.mark.parametrize("role", ["district", "commune", "payer", "police"])
def test_only_the_admin(client, role):
    login(client, role)
    assert client.get("/admin/levels").status_code == 403
    r = client.post("/admin/levels", data={"csrf_token": csrf_token(client, "/search"), "program": "BTXH",
                                           "amount": "1", "valid_from": "01/01/2024", "source": "x"})
    assert r.status_code == 403
    assert rows() == []
    assert "/admin/levels" not in client.get("/search").get_data(as_text=True)


def test_anonymous_goes_to_login(client):
    r = client.get("/admin/levels")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_defaults_shown_until_the_first_row(client):
    login(client, "admin")
    html = client.get("/admin/levels").get_data(as_text=True)
    assert 'href="/admin/levels"' in html.split("</nav>")[0]  # the admin's nav
    assert 'class="tag">mặc định' in html and "360.000" in html and "500.000" in html
    assert "Nghị định 76/2024/NĐ-CP" in html and "Chưa có thay đổi nào." in html


# ------------------------------------------------------------------ add, edit, delete

def test_first_row_copies_the_defaults_and_everything_is_recorded(client):
    login(client, "admin")
    r = add(client)
    assert r.headers["Location"].endswith("/admin/levels")
    assert [(x.valid_from, x.amount, x.category) for x in rows("BTXH")] == [
        (date(2021, 7, 1), 360_000, None), (date(2024, 3, 1), 400_000, None),
        (date(2024, 7, 1), 500_000, None)]
    events = audit()
    assert len(events) == 3
    assert all(e.action == "create" and e.beneficiary_id is None and e.user.username == "admin"
               and e.old_value is None for e in events)
    new = [json.loads(e.new_value) for e in events]
    assert {(v["valid_from"], v["amount"], v["source"]) for v in new} == {
        ("2021-07-01", 360_000, "Nghị định 20/2021/NĐ-CP Điều 4"),
        ("2024-03-01", 400_000, "Quyết định của UBND tỉnh"),
        ("2024-07-01", 500_000, "Nghị định 76/2024/NĐ-CP")}
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã thêm mức BTXH từ ngày 01/03/2024." in html
    assert "Các mức mặc định trước đó đã được ghi vào bảng" in html
    btxh = html.split("<h3>BTXH</h3>")[1].split("<h3>")[0]
    assert 'class="tag">mặc định' not in btxh  # the defaults no longer apply: the rows do
    assert 'class="tag">mặc định' in html.split("<h3>HTXH</h3>")[1]  # another program keeps its own
    # A second row adds only itself.
    add(client, amount="450000", valid_from="2024-05-01", source="QĐ 2")
    assert len(rows("BTXH")) == 4 and len(audit()) == 4


def test_first_row_on_a_default_date_replaces_that_default(client):
    login(client, "admin")
    add(client, amount="380.000", valid_from="01/07/2021")
    assert [(x.valid_from, x.amount) for x in rows("BTXH")] == [
        (date(2021, 7, 1), 380_000), (date(2024, 7, 1), 500_000)]


@pytest.mark.parametrize("values, field, message", [
    ({"amount": ""}, "amount", "Nhập số tiền."),
    ({"amount": "0"}, "amount", "Số tiền phải lớn hơn 0"),
    ({"amount": "-360000"}, "amount", "Số tiền phải lớn hơn 0"),
    ({"amount": "100.000.001"}, "amount", "không quá 100.000.000"),
    ({"amount": "ba trăm"}, "amount", "Số tiền ghi bằng chữ số"),
    ({"amount": "360000,5"}, "amount", "Số tiền ghi bằng chữ số"),
    ({"valid_from": ""}, "valid_from", "Nhập ngày áp dụng."),
    ({"valid_from": "31/02/2024"}, "valid_from", "Ngày ghi dạng dd/mm/yyyy"),
    ({"valid_from": "03/2024"}, "valid_from", "Ngày ghi dạng dd/mm/yyyy"),
    ({"source": "  "}, "source", "Ghi căn cứ pháp lý"),
    ({"source": "x" * 121}, "source", "Không được dài quá 120 ký tự."),
    ({"category": "x" * 201}, "category", "Không được dài quá 200 ký tự."),
    ({"program": "BHXH"}, "program", "Lựa chọn không hợp lệ."),
    ({"program": "HTXH", "valid_from": "01/06/2025"}, "valid_from", "áp dụng từ ngày 01/07/2025"),
    ({"area_id": "999999"}, "area_id", "Lựa chọn không hợp lệ."),
])
def test_validation_keeps_the_input_and_writes_nothing(client, values, field, message):
    login(client, "admin")
    r = add(client, expect=422, **values)
    html = r.get_data(as_text=True)
    assert "<title>Lỗi:" in html and "Có lỗi cần sửa" in html
    assert re.search(rf'<a href="#{field}">[^<]*{re.escape(message)}', html), html[:3000]
    assert f'id="{field}-error"' in html
    if field != "amount" and "amount" not in values:
        assert 'value="400.000"' in html  # what was typed stays
    assert rows() == [] and audit() == []


def test_no_two_rows_for_the_same_program_category_and_date(client):
    login(client, "admin")
    add(client)
    r = add(client, expect=422, amount="410000")
    assert "Đã có mức chuẩn của BTXH áp dụng từ ngày 01/03/2024" in r.get_data(as_text=True)
    add(client, program="NCC", category="Thân nhân liệt sĩ", amount="2.200.000", valid_from="01/01/2024",
        source="Nghị định 55/2023/NĐ-CP")
    # The same category however it is written (case, accents, spaces).
    r = add(client, expect=422, program="NCC", category="THAN NHAN  liet si", amount="2300000",
            valid_from="2024-01-01", source="x")
    assert "Đã có diện «THAN NHAN liet si» của NCC áp dụng từ ngày 01/01/2024" in r.get_data(as_text=True)
    # Another program, or another date, is another row; a standard level of NCC is not a category.
    add(client, program="BTXH", category="Thân nhân liệt sĩ", amount="1000000", valid_from="01/01/2024",
        source="x")
    add(client, program="NCC", amount="2.055.000", valid_from="01/01/2024", source="Nghị định 55/2023/NĐ-CP")
    assert len([x for x in rows() if x.category]) == 2


def test_edit_records_before_and_after(client):
    login(client, "admin")
    add(client)
    row = next(x for x in rows("BTXH") if x.amount == 400_000)
    page = client.get(f"/admin/levels/{row.id}").get_data(as_text=True)
    assert 'value="400.000"' in page and 'value="01/03/2024"' in page
    token = csrf_token(client, f"/admin/levels/{row.id}")
    data = {"csrf_token": token, "program": "BTXH", "category": "", "amount": "420.000",
            "valid_from": "01/04/2024", "source": "Quyết định của UBND tỉnh"}
    r = client.post(f"/admin/levels/{row.id}", data=data)
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/levels")
    db.session.refresh(row)
    assert (row.amount, row.valid_from) == (420_000, date(2024, 4, 1))
    e = audit()[-1]
    assert e.action == "update"
    assert (json.loads(e.old_value)["amount"], json.loads(e.new_value)["amount"]) == (400_000, 420_000)
    assert json.loads(e.new_value)["valid_from"] == "2024-04-01"
    html = client.get("/admin/levels").get_data(as_text=True)
    assert "400.000 đ từ 01/03/2024 → 420.000 đ từ 01/04/2024" in html.replace("\u00a0", " ")
    # Saving the same values records nothing.
    n = len(audit())
    r = client.post(f"/admin/levels/{row.id}", data=data)
    assert r.status_code == 303 and len(audit()) == n
    # Onto another row's date: refused.
    data["valid_from"] = "01/07/2024"
    r = client.post(f"/admin/levels/{row.id}", data=data)
    assert r.status_code == 422 and "Đã có mức chuẩn của BTXH áp dụng từ ngày 01/07/2024" in r.get_data(as_text=True)
    assert client.get("/admin/levels/99999").status_code == 404


def test_delete_is_recorded_and_the_defaults_come_back(client):
    login(client, "admin")
    add(client)
    for row in rows("BTXH"):
        r = client.post(f"/admin/levels/{row.id}/delete", data={"csrf_token": csrf_token(client, "/admin/levels")})
        assert r.status_code == 303
    assert rows() == []
    deleted = [e for e in audit() if e.action == "delete"]
    assert len(deleted) == 3 and all(e.old_value and e.new_value is None for e in deleted)
    assert 'class="tag">mặc định' in client.get("/admin/levels").get_data(as_text=True)
    # Without the CSRF token nothing is deleted.
    add(client)
    row = rows("BTXH")[0]
    assert client.post(f"/admin/levels/{row.id}/delete").status_code == 400
    assert db.session.get(StandardLevel, row.id) is not None


def test_boosted_requests_get_full_pages(client):
    login(client, "admin")
    r = client.get("/admin/levels", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert r.status_code == 200 and "<title>" in r.get_data(as_text=True)
    assert "HX-Request" in r.headers["Vary"]


def test_target_changes_are_recorded(client):
    """The targets page shares the audit trail (events of field ``target``); each change
    records the version it set, from its month (more in test_targets.py)."""
    login(client, "admin")
    page = client.get("/admin/targets").get_data(as_text=True)
    values = dict(re.findall(r'name="(\w+__\w+)"[^>]*value="(\d+)"', page))
    values["BTXH__cashless"] = "70"
    r = client.post("/admin/targets", data={**values, "valid_from": "2024-05",
                                            "csrf_token": csrf_token(client, "/admin/targets")})
    assert r.status_code == 303
    events = audit("target")
    assert [(e.action, json.loads(e.new_value)["program"], json.loads(e.new_value)["indicator"],
             json.loads(e.new_value)["percent"], json.loads(e.new_value)["valid_from"])
            for e in events] == [("create", "BTXH", "cashless", 70, "2024-05")]  # only what changed
    values["BTXH__cashless"] = "75"
    client.post("/admin/targets", data={**values, "valid_from": "2024-05",
                                        "csrf_token": csrf_token(client, "/admin/targets")})
    last = audit("target")[len(events):]
    assert len(last) == 1 and last[0].action == "update"  # the same month: its version changed
    assert (json.loads(last[0].old_value)["percent"], json.loads(last[0].new_value)["percent"]) == (70, 75)


# ------------------------------------------------------------------ the payment list follows

def test_the_payment_list_uses_a_level_from_its_date(client):
    a = person(name="Nguyễn Văn An", coefficient=1.5)
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    db.session.commit()
    login(client, "admin")
    add(client, amount="400.000", valid_from="01/03/2024")
    feb, mar = amounts("21052", "2024-02", "BTXH"), amounts("21052", "2024-03", "BTXH")
    assert (feb[a.id], feb[b.id]) == (540_000, 720_000)  # 1.5 and 2.0 × 360,000: before the row
    assert (mar[a.id], mar[b.id]) == (600_000, 800_000)  # × 400,000 from 1/3/2024
    assert amounts("21052", "2024-07", "BTXH")[a.id] == 750_000  # the copied 500,000 from 1/7/2024


def test_the_payment_list_uses_a_categorys_fixed_amount(client):
    martyr = person(name="Lê Thị Hoa", sex="F", program="NCC", national_id="051150000001",
                    category="thân nhân liệt sĩ", monthly_amount=2_055_000)
    sick = person(name="Lê Văn Bình", program="NCC", national_id="051050000002", category="Bệnh binh",
                  monthly_amount=2_660_000)
    bare = person(name="Lê Văn Cao", program="NCC", national_id="051050000003", category=None,
                  monthly_amount=1_585_000)
    db.session.commit()
    login(client, "admin")
    add(client, program="NCC", category="Thân nhân liệt sĩ", amount="2.200.000", valid_from="01/01/2024",
        source="Nghị định 55/2023/NĐ-CP Phụ lục")
    may = amounts("21052", "2024-05", "NCC")
    assert may == {martyr.id: 2_200_000, sick.id: 2_660_000, bare.id: 1_585_000}
    assert amounts("21052", "2023-12", "NCC")[martyr.id] == 2_055_000  # before the row: the record's
    html = client.get("/admin/levels").get_data(as_text=True)
    row = re.search(r"<tr><td[^>]*>NCC</td><td[^>]*>Thân nhân liệt sĩ</td>.*?</tr>", html).group(0)
    assert "2.200.000" in row and re.search(r'<td class="n"[^>]*>1</td>', row)  # one record matches


def test_page_within_budget_on_the_demo(demo_app):
    with demo_app.app_context():
        client = demo_app.test_client()
        login(client, "admin")
        r = client.get("/admin/levels", headers={"Accept-Encoding": "br, gzip"})
        assert r.status_code == 200
        assert len(r.data) <= PAGE_BUDGET
        html = brotli.decompress(r.data).decode() if r.headers["Content-Encoding"] == "br" else ""
        assert "<datalist" in html and "Thân nhân liệt sĩ" in html
