"""The monthly payment list: built from the registry, blocked by errors, locked, exported."""
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

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
                           message="Số định danh không khớp năm sinh.", source="check"))
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
    assert lines[c.id].note == "Lỗi dữ liệu chưa sửa: Số định danh không khớp năm sinh."
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
    assert [c.value for c in ws[7]][9:] == ["Số tài khoản", "Chủ tài khoản", "Ký nhận"]
    rows = {r[1].value: r for r in ws.iter_rows(min_row=8) if r[1].value in ("Nguyễn Văn An", "Trần Thị Bích")}
    assert rows["Nguyễn Văn An"][11].value == "—" and rows["Trần Thị Bích"][11].value is None  # sign: cash only
    assert rows["Nguyễn Văn An"][9].value == "4300205123456"
    assert rows["Nguyễn Văn An"][10].value == "Nguyễn Văn An" and rows["Trần Thị Bích"][10].value is None


@pytest.mark.parametrize("recipient, shown", [("guardian", "Lê Thị Hoa (giám hộ)"),
                                              ("authorised", "Lê Thị Hoa (ủy quyền)"),
                                              ("self", "Lê Thị Hoa")])
def test_the_list_to_sign_names_the_account_holder(registry, recipient, shown):
    a, _, _ = registry
    a.account.holder_name, a.account.recipient_type = "Lê Thị Hoa", recipient
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    ws = load_workbook(io.BytesIO(payments.administrative_workbook(p))).active
    row = next(r for r in ws.iter_rows(min_row=8) if r[1].value == "Nguyễn Văn An")
    assert row[10].value == shown and row[10].data_type == "s"


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
    # Refused without JavaScript: the page again (422), the error in that line's card, the choice kept.
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "<title>Lỗi:" in html
    card = re.search(rf'<div class="person" id="l{other.id}">.*?</div>', html, re.S).group(0)
    assert "Ghi lý do" in card and '<option selected value="failed">' in card
    assert f'aria-describedby="r{other.id}-reason-error"' in card and 'aria-invalid="true"' in card
    assert f'class="error-summary"' in html and f'href="#r{other.id}-reason"' in html  # GOV.UK pattern
    assert "Ghi lý do" not in re.search(rf'<div class="person" id="l{line.id}">.*?</div>', html, re.S).group(0)
    assert db.session.get(type(other), other.id).result == "pending"
    assert db.session.get(type(line), line.id).result == "paid_cash"
    # Saved without JavaScript: back to the line, with a confirmation.
    r = client.post(f"/payments/{p.id}/lines/{other.id}/result", data={"csrf_token": token, f"r{other.id}-result": "failed",
                                                                       f"r{other.id}-reason": "Tài khoản đã đóng"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/payments/{p.id}#l{other.id}")
    assert "Đã ghi kết quả: Nguyễn Văn An · Không thành công." in client.get(r.headers["Location"]).get_data(as_text=True)
    assert db.session.get(type(other), other.id).result == "failed"
    client.post("/logout", data={"csrf_token": token})
    login(client, "commune")
    assert client.post(f"/payments/{p.id}/lines/{line.id}/result", data={"csrf_token": token}).status_code == 403


def test_provider_workbook_opens_back_with_text_ids_and_int_amounts(client, registry):
    a, _, _ = registry
    a.account.holder_name = "=cmd|' /C calc'!A0"
    a.account.bank_bin = "970405"
    a.account.number = "0071000123456"  # a leading zero Excel would drop from a number
    db.session.commit()
    p = locked_period(registry)
    ws = load_workbook(io.BytesIO(payments.provider_workbook(p))).active
    rows = [[c for c in r] for r in ws.iter_rows()]
    assert [c.value for c in rows[0]] == ["BIN", "So tai khoan", "Chu tai khoan", "So tien", "Noi dung"]
    assert len(rows) == 2  # account payments only
    bin_, number, holder, amount, reference = rows[1]
    assert (bin_.value, number.value) == ("970405", "0071000123456")
    assert bin_.data_type == number.data_type == holder.data_type == reference.data_type == "s"
    assert number.number_format == "@"
    assert holder.value == "=cmd|' /C calc'!A0"  # text, never a formula
    assert amount.value == 540_000 and isinstance(amount.value, int)
    assert reference.value == next(line.reference for line in p.lines if line.beneficiary_id == a.id)
    login(client, "payer")
    html = client.get(f"/payments/{p.id}").get_data(as_text=True)
    assert f"/payments/{p.id}/provider.xlsx" in html
    r = client.get(f"/payments/{p.id}/provider.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in r.headers["Content-Disposition"]
    draft = payments.build(find_commune("21052", "2024-06"), "2024-06", "BTXH", system_user())
    db.session.commit()
    assert client.get(f"/payments/{draft.id}/provider.xlsx").status_code == 303  # only a locked list


def test_district_opens_a_month_for_every_commune(client, registry):
    from portal.models import Area
    from portal.services.areas import communes_below
    login(client, "district")
    page = client.get("/payments").get_data(as_text=True)
    assert '<option value="0">Tất cả xã</option>' in page
    token = csrf_token(client, "/payments")
    district = db.session.scalar(select(Area).where(Area.code == "524", Area.level == "district"))
    communes = communes_below(district, on=payments.months.start("2024-05"))
    # One commune already has its May list: it is kept, not rebuilt.
    kept = payments.build(find_commune("21046", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    r = client.post("/payments", data={"csrf_token": token, "commune_id": 0, "month": "2024-05",
                                       "program": "BTXH", "reason": ""})
    assert r.status_code == 303
    periods = db.session.scalars(select(PaymentPeriod).where(PaymentPeriod.month == "2024-05")).all()
    assert len(periods) == len(communes) > 1
    assert {p.commune_id for p in periods} == {c.id for c in communes}
    assert [p.version for p in periods if p.commune_id == kept.commune_id] == [1]
    assert f"Đã lập {len(communes) - 1} danh sách tháng 2024-05; 1 danh sách đã có" in client.get(
        "/payments").get_data(as_text=True)
    chanh = next(p for p in periods if p.commune.code == "21052")
    assert len(chanh.lines) == 3
    client.post("/payments", data={"csrf_token": token, "commune_id": 0, "month": "2024-05",
                                   "program": "BTXH", "reason": ""})
    assert db.session.scalar(select(func.count()).select_from(PaymentPeriod)) == len(communes)


def test_a_commune_user_opens_only_their_commune(client, registry):
    login(client, "commune")
    page = client.get("/payments").get_data(as_text=True)
    assert "Tất cả xã" not in page
    token = csrf_token(client, "/payments")
    r = client.post("/payments", data={"csrf_token": token, "commune_id": 0, "month": "2024-05",
                                       "program": "BTXH", "reason": ""})
    assert r.status_code == 422
    other = find_commune("21046", "2024-05")
    r = client.post("/payments", data={"csrf_token": token, "commune_id": other.id, "month": "2024-05",
                                       "program": "BTXH", "reason": ""})
    assert r.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(PaymentPeriod)) == 0


def test_period_page_shows_arrears_and_notes(client, registry):
    from datetime import date

    from portal.services import changes
    _, b, _ = registry
    b.status = "suspended"
    db.session.commit()
    change = changes.propose(b, "resume", system_user(), "2024-05", arrears_from="2024-03")
    changes.decide(change, system_user(), True, "15/QĐ-UBND", date(2024, 4, 25))
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    line = next(x for x in p.lines if x.beneficiary_id == b.id)
    assert (line.arrears, line.arrears_months, line.arrears_from) == (1_440_000, 2, "2024-03")
    login(client, "commune")
    html = client.get(f"/payments/{p.id}").get_data(as_text=True)
    row = re.search(r"<tr><td[^>]*>Trần Thị Bích</td>.*?</tr>", html).group(0)
    assert "2.160.000\u00a0đ" in row and "1.440.000\u00a0đ" in row
    assert "2 tháng từ 03/2024" in row and "Truy lĩnh 2 tháng từ 03/2024 đến 04/2024." in row
    assert "Trong đó truy lĩnh</dt><dd>1 người · 1.440.000\u00a0đ" in html


def test_a_new_version_keeps_the_results_of_unchanged_lines(registry):
    a, b, c = registry
    commune, payer = find_commune("21052", "2024-05"), system_user()
    v1 = payments.build(commune, "2024-05", "BTXH", payer)
    payments.hold(next(line for line in v1.lines if line.status == "blocked"), "x")
    payments.lock(v1, payer)
    by_person = {line.beneficiary_id: line for line in v1.lines}
    payments.record_result(by_person[a.id], payer, "paid_account")
    payments.record_result(by_person[b.id], payer, "paid_cash")
    b.coefficient = 2.5  # b's amount changes in the new version: its result does not carry
    v2 = payments.build(commune, "2024-05", "BTXH", payer, reason="Sửa hệ số")
    payments.hold(next(line for line in v2.lines if line.status == "blocked"), "x")
    payments.lock(v2, payer)
    results = {line.beneficiary_id: line.result for line in v2.lines}
    assert results[a.id] == "paid_account" and results[b.id] == "pending"


def test_one_open_failed_payment_finding_per_person(registry):
    a, _, c = registry
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.hold(next(line for line in p.lines if line.status == "blocked"), "x")
    payments.lock(p, system_user())
    line = next(line for line in p.lines if line.beneficiary_id == a.id)

    def open_failures():
        return db.session.scalars(select(Finding).where(Finding.beneficiary_id == a.id,
                                                        Finding.code == "payment_failed",
                                                        Finding.resolved_at.is_(None))).all()
    payments.record_result(line, system_user(), "failed", "Tài khoản đã đóng")
    payments.record_result(line, system_user(), "pending")
    payments.record_result(line, system_user(), "failed", "Sai tên chủ tài khoản")
    assert [f.message for f in open_failures()] == [
        "Chi trả tháng 05/2024 vào tài khoản 4300205123456 không thành công: Sai tên chủ tài khoản."]
    payments.record_result(line, system_user(), "paid_account")
    assert open_failures() == []


def test_a_long_list_comes_in_pages(client, app):
    for i in range(60):
        person(name=f"Người Số {i:02d}", national_id=f"0510501{i:05d}", coefficient=1.0)
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.lock(p, system_user())
    db.session.commit()
    login(client, "payer")
    first = client.get(f"/payments/{p.id}").get_data(as_text=True)
    second = client.get(f"/payments/{p.id}?page=2").get_data(as_text=True)
    assert first.count('name="csrf_token"') > 50 and len(re.findall(r"<tr><td[^>]*>Người Số", first)) == 50
    assert len(re.findall(r"<tr><td[^>]*>Người Số", second)) == 10 and "Trang 2/2" in second
    last = p.lines[-1]  # on the second page: the answer comes back to it there
    token = csrf_token(client, f"/payments/{p.id}")
    r = client.post(f"/payments/{p.id}/lines/{last.id}/result", data={
        "csrf_token": token, f"r{last.id}-result": "paid_cash", f"r{last.id}-reason": ""})
    assert r.headers["Location"].endswith(f"/payments/{p.id}?page=2#l{last.id}")
    r = client.post(f"/payments/{p.id}/lines/{last.id}/result", data={
        "csrf_token": token, f"r{last.id}-result": "returned", f"r{last.id}-reason": ""})
    assert r.status_code == 422 and f'id="l{last.id}"' in r.get_data(as_text=True)


# ------------------------------------------------------------ drafts follow the registry

def stop(b, month="2024-06"):
    from datetime import date

    from portal.services import changes
    change = changes.propose(b, "stop", system_user(), month, clause="1b")
    changes.decide(change, system_user(), True, "15/QĐ-UBND", date(2024, 5, 20))
    payments.refresh_for_decision(change, system_user())
    db.session.commit()


def test_a_decision_refreshes_the_drafts_it_touches_and_keeps_the_holds(registry):
    a, b, c = registry
    commune = find_commune("21052", "2024-05")
    may = payments.build(commune, "2024-05", "BTXH", system_user())
    june = payments.build(commune, "2024-06", "BTXH", system_user())
    for p in (may, june):
        payments.hold(next(line for line in p.lines if line.beneficiary_id == c.id), "Chờ công an xác minh")
    db.session.commit()
    stop(b, "2024-06")  # b is paid in May, not from June
    assert {line.beneficiary_id for line in may.lines} == {a.id, b.id, c.id}
    assert {line.beneficiary_id for line in june.lines} == {a.id, c.id}
    held = next(line for line in june.lines if line.beneficiary_id == c.id)
    assert (held.status, held.note) == ("held", "Chờ công an xác minh")
    payments.lock(june, system_user())  # the refreshed draft matches: it locks
    assert payments.refresh_drafts([None], "BTXH", "2024-05", system_user()) == []


def test_refresh_rebuilds_a_draft_as_build_does(registry):
    a, b, c = registry
    commune = find_commune("21052", "2024-05")
    p = payments.build(commune, "2024-05", "BTXH", system_user())
    payments.hold(next(line for line in p.lines if line.beneficiary_id == c.id), "Chờ xác minh")
    d = person(name="Đặng Văn Mới", national_id="051052333444", coefficient=1.0)
    b.status = "suspended"
    a.coefficient = 2.0
    db.session.commit()
    assert payments.refresh(p, system_user()) == {"added": 1, "removed": 1}
    fresh = payments.build(find_commune("21052", "2024-05"), "2024-06", "BTXH", system_user())
    lines = {line.beneficiary_id: line for line in p.lines}
    assert set(lines) == {a.id, c.id, d.id} and lines[a.id].amount == 720_000
    assert lines[c.id].status == "held"
    assert {x.beneficiary_id: x.amount for x in fresh.lines} == {k: v.amount for k, v in lines.items()}
    payments.lock(p, system_user())
    with pytest.raises(payments.PeriodError, match="đã khóa"):
        payments.refresh(p, system_user())


def test_lock_refuses_a_draft_that_no_longer_matches_the_registry(registry):
    a, b, c = registry
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.hold(next(line for line in p.lines if line.beneficiary_id == c.id), "Chờ xác minh")
    b.status = "stopped"
    person(name="Đặng Văn Mới", national_id="051052333444", coefficient=1.0)
    db.session.commit()
    with pytest.raises(payments.PeriodError) as e:
        payments.lock(p, system_user())
    assert str(e.value) == ("Danh sách không còn khớp với hồ sơ: 1 người không còn hưởng tháng này (thôi hưởng, "
                            "tạm dừng hoặc chuyển đi) vẫn còn trong danh sách; 1 người được hưởng tháng này chưa "
                            "có trong danh sách. Bấm «Cập nhật danh sách» rồi khóa lại.")
    assert p.status == "draft"
    payments.refresh(p, system_user())
    payments.lock(p, system_user())
    assert p.status == "locked"


def test_refresh_button_and_route(client, registry):
    a, b, c = registry
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    login(client, "commune")
    html = client.get(f"/payments/{p.id}").get_data(as_text=True)
    assert f'action="/payments/{p.id}/refresh"' in html and "Cập nhật danh sách" in html
    token = csrf_token(client, f"/payments/{p.id}")
    person(name="Đặng Văn Mới", national_id="051052333444", coefficient=1.0)
    db.session.commit()
    r = client.post(f"/payments/{p.id}/lock", data={"csrf_token": token})
    assert "Bấm «Cập nhật danh sách» rồi khóa lại." in client.get(r.headers["Location"]).get_data(as_text=True)
    assert client.post(f"/payments/{p.id}/refresh").status_code == 400  # CSRF
    r = client.post(f"/payments/{p.id}/refresh", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/payments/{p.id}")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã cập nhật danh sách theo hồ sơ: thêm 1, bớt 0 người." in html and "Đặng Văn Mới" in html
    client.post("/logout", data={"csrf_token": token})
    login(client, "payer")
    assert "/refresh" not in client.get(f"/payments/{p.id}").get_data(as_text=True)
    assert client.post(f"/payments/{p.id}/refresh", data={"csrf_token": token}).status_code == 403
    payments.hold(next(line for line in p.lines if line.beneficiary_id == c.id), "x")
    payments.lock(p, system_user())
    db.session.commit()
    client.post("/logout", data={"csrf_token": token})
    login(client, "commune")
    assert "/refresh" not in client.get(f"/payments/{p.id}").get_data(as_text=True)
    r = client.post(f"/payments/{p.id}/refresh", data={"csrf_token": token})
    assert "Danh sách đã khóa" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert len(db.session.get(PaymentPeriod, p.id).lines) == 4


# ------------------------------------------------------------------ superseded versions

def test_a_superseded_version_takes_no_result_and_says_so(client, registry):
    a, b, c = registry
    v1 = locked_period(registry)
    line = next(x for x in v1.lines if x.beneficiary_id == a.id)
    v2 = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user(), reason="Sửa tài khoản")
    db.session.commit()
    assert payments.superseded_by(v1) == 2 and payments.superseded_by(v2) is None
    with pytest.raises(payments.PeriodError, match="đã thay bằng lần 2"):
        payments.record_result(line, system_user(), "paid_account")
    login(client, "payer")
    html = client.get(f"/payments/{v1.id}").get_data(as_text=True)
    assert "Đã thay bằng lần 2" in html
    assert "/result" not in html and "/provider." not in html and 'enctype="multipart/form-data"' not in html
    assert client.get(f"/payments/{v1.id}/provider.csv").status_code == 303
    assert client.get(f"/payments/{v1.id}/provider.xlsx").status_code == 303
    token = csrf_token(client, f"/payments/{v1.id}")
    r = client.post(f"/payments/{v1.id}/lines/{line.id}/result", data={
        "csrf_token": token, f"r{line.id}-result": "paid_account", f"r{line.id}-reason": ""})
    assert r.status_code == 422 and "đã thay bằng lần 2" in r.get_data(as_text=True)
    assert db.session.get(type(line), line.id).result == "pending"
    index = client.get("/payments").get_data(as_text=True)  # the payer sees v1, superseded by a draft
    assert f'href="/payments/{v1.id}"' in index and "Đã thay bằng lần 2" in index
    assert f'href="/payments/{v2.id}"' not in index
    payments.hold(next(x for x in v2.lines if x.beneficiary_id == c.id), "x")
    payments.lock(v2, system_user())
    db.session.commit()
    html = client.get(f"/payments/{v2.id}").get_data(as_text=True)
    assert "Đã thay bằng" not in html and f"/payments/{v2.id}/provider.csv" in html and "/result" in html
    client.post("/logout", data={"csrf_token": token})
    login(client, "commune")
    index = client.get("/payments").get_data(as_text=True)
    row = re.search(r"<tr><td[^>]*>Bình Chánh</td>.*?</tr>", index, re.S).group(0)
    assert f'href="/payments/{v2.id}"><b>Lần 2</b>' in row and "Đã thay bằng lần 2:" in row
    assert f'<a href="/payments/{v1.id}">lần 1</a>' in row


def test_the_index_groups_by_month_newest_first_in_pages(client, registry):
    from portal.models import Area
    district = db.session.scalar(select(Area).where(Area.code == "524", Area.level == "district"))
    for month in ("2024-04", "2024-05"):
        payments.build_area(district, month, ["BTXH", "NCC"], system_user())
    db.session.commit()
    n = db.session.scalar(select(func.count()).select_from(PaymentPeriod))
    assert n > 50
    login(client, "district")
    first = client.get("/payments").get_data(as_text=True)
    second = client.get("/payments?page=2").get_data(as_text=True)
    assert n == 88  # 22 communes × 2 programs × 2 months: 44 lists a month
    assert len(re.findall(r"<tr><td[ >]", first)) == 50 and first.index("Tháng 05/2024") < first.index("Tháng 04/2024")
    assert len(re.findall(r"<tr><td[ >]", second)) == n - 50 and "Tháng 04/2024" in second and "Trang 2/2" in second
    assert second.count('<b>Lần 1</b>') == n - 50


# ------------------------------------------------------------------------ hold and release

def test_a_hold_needs_a_reason_and_can_be_undone(registry):
    a, b, c = registry
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    blocked = next(line for line in p.lines if line.beneficiary_id == c.id)
    with pytest.raises(payments.PeriodError, match="Ghi lý do tạm giữ") as e:
        payments.hold(blocked, "  ")
    assert e.value.field == "note" and blocked.status == "blocked"
    payments.hold(blocked, "Chờ công an xác minh")
    payments.release(blocked)  # the record still has its error: blocked again, the note names it
    assert (blocked.status, blocked.note) == ("blocked", "Lỗi dữ liệu chưa sửa: Số định danh không khớp năm sinh.")
    listed = next(line for line in p.lines if line.beneficiary_id == a.id)
    payments.hold(listed, "Đi vắng")
    payments.release(listed)
    assert (listed.status, listed.note) == ("listed", None)
    with pytest.raises(payments.PeriodError, match="không bị tạm giữ"):
        payments.release(listed)


def test_the_blocked_note_names_the_errors(registry):
    _, _, c = registry
    db.session.add(Finding(beneficiary_id=c.id, code="id_sex_century_mismatch", severity="error",
                           message="Chữ số thứ 4 không khớp giới tính.", source="check"))
    db.session.add(Finding(beneficiary_id=c.id, code="missing_id", severity="warning", message="Thiếu số định danh.",
                           source="check"))
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    line = next(line for line in p.lines if line.beneficiary_id == c.id)
    assert line.note == "Lỗi dữ liệu chưa sửa: Số định danh không khớp năm sinh (+1 lỗi khác)."


def test_hold_and_release_pages(client, registry):
    _, _, c = registry
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    line = next(x for x in p.lines if x.beneficiary_id == c.id)
    login(client, "commune")
    token = csrf_token(client, f"/payments/{p.id}")
    r = client.post(f"/payments/{p.id}/lines/{line.id}/hold", data={"csrf_token": token, f"h{line.id}-note": " "})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "<title>Lỗi:" in html
    assert f'<span class="error" id="h{line.id}-note-error">Lỗi: Ghi lý do tạm giữ.</span>' in html
    assert db.session.get(type(line), line.id).status == "blocked"
    r = client.post(f"/payments/{p.id}/lines/{line.id}/hold", data={"csrf_token": token,
                                                                  f"h{line.id}-note": "Chờ công an xác minh"})
    assert r.status_code == 303
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Tạm giữ (1)" in html and "Bỏ tạm giữ" in html and "Chờ công an xác minh" in html
    assert db.session.get(type(line), line.id).status == "held"
    assert client.post(f"/payments/{p.id}/lines/{line.id}/release").status_code == 400  # CSRF
    r = client.post(f"/payments/{p.id}/lines/{line.id}/release", data={"csrf_token": token})
    assert r.status_code == 303
    assert "vẫn bị chặn" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert db.session.get(type(line), line.id).status == "blocked"
    client.post("/logout", data={"csrf_token": token})
    login(client, "payer")
    assert client.post(f"/payments/{p.id}/lines/{line.id}/release", data={"csrf_token": token}).status_code == 403


# ------------------------------------------------------------------------ the open form

def test_open_every_program_of_the_month_the_reason_error_and_the_payer(client, registry):
    login(client, "commune")
    page = client.get("/payments").get_data(as_text=True)
    assert '<option value="all">Tất cả chương trình của tháng</option>' in page
    token = csrf_token(client, "/payments")
    commune = find_commune("21052", "2024-05")
    # No social pension before 07/2025: HTXH alone is refused, "all" opens BTXH and NCC.
    r = client.post("/payments", data={"csrf_token": token, "commune_id": commune.id, "month": "2024-05",
                                       "program": "HTXH", "reason": ""})
    assert r.status_code == 422 and "Chưa có chương trình HTXH trong tháng 05/2024" in r.get_data(as_text=True)
    form = {"csrf_token": token, "commune_id": commune.id, "month": "2024-05", "program": "all", "reason": ""}
    r = client.post("/payments", data=form)
    assert r.status_code == 303 and r.headers["Location"].endswith("/payments")
    assert {p.program for p in db.session.scalars(select(PaymentPeriod))} == {"BTXH", "NCC"}
    assert "Đã lập 2 danh sách tháng 2024-05" in client.get("/payments").get_data(as_text=True)
    for p in db.session.scalars(select(PaymentPeriod)):
        for line in p.lines:
            if line.status == "blocked":
                payments.hold(line, "x")
        payments.lock(p, system_user())
    db.session.commit()
    r = client.post("/payments", data=form | {"program": "BTXH"})  # a new version without a reason
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert re.search(r'<span class="error" id="reason-error">Lỗi: Danh sách tháng này đã khóa: lập phiên bản mới '
                     r'cần ghi lý do.</span>', html)
    assert 'id="month-error"' not in html
    r = client.post("/payments", data=form | {"reason": "Bổ sung"})
    assert r.status_code == 303
    assert sorted(p.version for p in db.session.scalars(select(PaymentPeriod))) == [1, 1, 2, 2]
    client.post("/logout", data={"csrf_token": token})
    login(client, "payer")
    r = client.post("/payments", data=form | {"csrf_token": csrf_token(client, "/payments"), "reason": "x"})
    assert r.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(PaymentPeriod)) == 4
