"""The monthly payment list: built from the registry, blocked by errors, locked, exported."""
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.extensions import db
from portal.models import Finding, PaymentPeriod
from portal.services import payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.conftest import csrf_token, login
from tests.factories import person, with_account


@pytest.fixture
def registry(app):
    a = with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    c = person(name="=HYPERLINK(1)", national_id="051050999111")
    db.session.add(Finding(beneficiary_id=c.id, code="id_year_mismatch", severity="error",
                           message="x", source="check"))
    person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường", national_id="051060222333")
    db.session.commit()
    return a, b, c


def test_build_amounts_and_blocks(registry):
    a, b, c = registry
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    lines = {line.beneficiary_id: line for line in p.lines}
    assert set(lines) == {a.id, b.id, c.id}
    assert lines[a.id].amount == 540_000 and lines[a.id].method == "account"
    assert lines[a.id].account_number == "4300205123456" and lines[a.id].bank_bin == "970405"
    assert lines[b.id].amount == 720_000 and lines[b.id].method == "cash"
    assert lines[c.id].status == "blocked"
    # After 1/7/2024 the standard level is 500,000 đồng (Decree 76/2024).
    p2 = payments.build(find_commune("21052", "2024-08"), "2024-08", "BTXH", system_user())
    assert {line.beneficiary_id: line.amount for line in p2.lines}[a.id] == 750_000


def test_lock_needs_no_blocked_line_and_versions_need_a_reason(registry):
    a, b, c = registry
    commune = find_commune("21052", "2024-05")
    p = payments.build(commune, "2024-05", "BTXH", system_user())
    with pytest.raises(payments.PeriodError):
        payments.build(commune, "2024-05", "BTXH", system_user())  # a draft is open
    with pytest.raises(payments.PeriodError, match="bị chặn"):
        payments.lock(p, system_user())
    payments.hold(next(line for line in p.lines if line.status == "blocked"), "Chờ công an xác minh")
    payments.lock(p, system_user())
    assert payments.totals(p) == {"listed": 2, "amount": 1_260_000, "account": 1, "account_amount": 540_000,
                                  "cash": 1, "cash_amount": 720_000, "blocked": 0, "held": 1}
    with pytest.raises(payments.PeriodError, match="lý do"):
        payments.build(commune, "2024-05", "BTXH", system_user())
    v2 = payments.build(commune, "2024-05", "BTXH", system_user(), reason="Bổ sung người mới")
    assert v2.version == 2 and p.status == "locked"  # both versions kept


def test_administrative_workbook(registry):
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.hold(next(line for line in p.lines if line.status == "blocked"), "x")
    data = payments.administrative_workbook(p)
    ws = load_workbook(io.BytesIO(data)).active
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    values = [c.value for c in cells]
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in values and "Độc lập - Tự do - Hạnh phúc" in values
    assert "UBND XÃ BÌNH CHÁNH" in values and "Tháng 5 năm 2024" in values
    assert all(c.font.name == "Times New Roman" for c in cells)
    assert 1_260_000 in values
    assert any(str(v).startswith("Bằng chữ: Một triệu hai trăm sáu mươi nghìn đồng") for v in values)
    assert {"NGƯỜI LẬP BIỂU", "CÔNG CHỨC LĐ-TB&XH", "CHỦ TỊCH"} <= set(values)
    rows = {r[1].value: r for r in ws.iter_rows(min_row=8) if r[1].value in ("Nguyễn Văn An", "Trần Thị Bích")}
    assert rows["Nguyễn Văn An"][10].value == "—" and rows["Trần Thị Bích"][10].value is None  # sign: cash only
    assert rows["Nguyễn Văn An"][9].value == "4300205123456"


def test_provider_csv_neutralises_formulas_not_numbers(registry):
    assert payments._csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert payments._csv_safe("@SUM(A1)") == "'@SUM(A1)"
    assert payments._csv_safe("+84 912 345 678") == "+84 912 345 678"
    assert payments._csv_safe("-540000") == "-540000" and payments._csv_safe(-540000) == -540000
    a, _, _ = registry
    a.account.holder_name = "=cmd|' /C calc'!A0"
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    text = payments.provider_csv(p).decode("utf-8-sig").splitlines()
    assert text[0] == "BIN;So tai khoan;Chu tai khoan;So tien;Noi dung"
    assert text[1].startswith("970405;4300205123456;'=cmd") and ";540000;21052-202405-BTXH-" in text[1]
    assert len(text) == 2  # account payments only


def test_pages_scope_and_roles(client, registry):
    login(client, "commune")
    page = client.get("/payments").get_data(as_text=True)
    assert "Bình Thạnh" not in page
    token = csrf_token(client, "/payments")
    commune_id = find_commune("21052", "2024-05").id
    r = client.post("/payments", data={"csrf_token": token, "commune_id": commune_id, "month": "2024-05",
                                       "program": "BTXH", "reason": ""})
    assert r.status_code == 303
    url = r.headers["Location"]
    html = client.get(url).get_data(as_text=True)
    assert "Bị chặn (1)" in html and "Nguyễn Văn An" in html
    assert client.get(url + "/provider.csv").status_code == 303  # only a locked list goes out
    assert client.post(url + "/lock", data={"csrf_token": token}).status_code == 303
    assert db.session.scalars(select(PaymentPeriod)).one().status == "draft"  # still blocked
    other = payments.build(find_commune("21046", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    assert client.get(f"/payments/{other.id}").status_code == 404
    assert client.get(f"/payments/{other.id}/list.xlsx").status_code == 404
    client.post("/logout", data={"csrf_token": token})
    login(client, "payer")
    assert client.get(url).status_code == 200 and client.get(url + "/list.xlsx").status_code == 200
    assert client.post(url + "/lock", data={"csrf_token": csrf_token(client, "/search")}).status_code == 403


def locked_period(registry):
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.hold(next(line for line in p.lines if line.status == "blocked"), "x")
    payments.lock(p, system_user())
    db.session.commit()
    return p


def test_results_reconcile_and_a_failure_raises_a_finding(registry):
    a, b, _ = registry
    p = locked_period(registry)
    lines = {line.beneficiary_id: line for line in p.lines}
    with pytest.raises(payments.PeriodError, match="lý do"):
        payments.record_result(lines[a.id], system_user(), "failed")
    with pytest.raises(payments.PeriodError, match="tiền mặt"):
        payments.record_result(lines[b.id], system_user(), "paid_account")
    payments.record_result(lines[a.id], system_user(), "failed", "Tài khoản đã đóng")
    rec = payments.reconciliation(p)
    assert rec["listed"] == rec["paid_account"] + rec["paid_cash"] + rec["failed"] + rec["returned"] + rec["pending"]
    assert (rec["failed"], rec["pending"]) == (1, 1)
    f = db.session.scalars(select(Finding).where(Finding.code == "payment_failed")).one()
    assert f.beneficiary_id == a.id and "Tài khoản đã đóng" in f.message and f.severity == "error"
    payments.record_result(lines[b.id], system_user(), "paid_cash")
    assert payments.reconciliation(p)["amount_paid_cash"] == 720_000


def test_payer_records_results_with_and_without_javascript(client, registry):
    a, b, _ = registry
    p = locked_period(registry)
    line = next(x for x in p.lines if x.beneficiary_id == b.id)
    login(client, "payer")
    r = client.get("/")
    assert r.headers["Location"].endswith("/payments")
    assert f"/payments/{p.id}" in client.get("/payments").get_data(as_text=True)
    token = csrf_token(client, f"/payments/{p.id}")
    r = client.post(f"/payments/{p.id}/lines/{line.id}/result", data={"csrf_token": token, f"r{line.id}-result": "paid_cash",
                                                                      f"r{line.id}-reason": ""}, headers={"HX-Request": "true"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'id="rec" hx-swap-oob="true"' in html
    other = next(x for x in p.lines if x.beneficiary_id == a.id)
    r = client.post(f"/payments/{p.id}/lines/{other.id}/result", data={"csrf_token": token, f"r{other.id}-result": "failed",
                                                                       f"r{other.id}-reason": ""})
    assert r.status_code == 303  # refused: a failure needs a reason (shown on the page)
    assert "Ghi lý do" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert db.session.get(type(line), line.id).result == "paid_cash"
    client.post("/logout", data={"csrf_token": token})
    login(client, "commune")
    assert client.post(f"/payments/{p.id}/lines/{line.id}/result", data={"csrf_token": token}).status_code == 403
