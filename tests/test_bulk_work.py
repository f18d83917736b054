"""Filters and bulk work (issue 13 §3): many blocked lines held at once with one reason, the
payer's pending filter, the data-quality list by rule, search results that open the person."""
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Beneficiary, Finding, PaymentLine
from portal.services import checks, payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.conftest import csrf_token, login
from tests.factories import person, with_account


def _blocked(name, national_id):
    b = person(name=name, national_id=national_id)
    db.session.add(Finding(beneficiary_id=b.id, code="id_year_mismatch", severity="error",
                           message="Số định danh không khớp năm sinh.", source="check"))
    return b


@pytest.fixture
def draft(app):
    """A draft list of commune 21052 with one line to pay and three blocked lines."""
    with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    for i, name in enumerate(("Trần Văn Bảy", "Lê Thị Chín", "Phạm Văn Mười")):
        _blocked(name, f"05105099911{i}")
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    return p


def _statuses(p):
    db.session.expire_all()
    return {line.beneficiary.full_name: (line.status, line.note)
            for line in db.session.query(PaymentLine).filter_by(period_id=p.id)}


def test_hold_many_is_all_or_nothing(draft):
    blocked = [line for line in draft.lines if line.status == "blocked"]
    listed = next(line for line in draft.lines if line.status == "listed")
    with pytest.raises(payments.PeriodError, match="không còn bị chặn"):
        payments.hold_many(draft, [blocked[0].id, listed.id], "Chờ xác minh")
    with pytest.raises(payments.PeriodError, match="Ghi lý do") as e:
        payments.hold_many(draft, [blocked[0].id], "  ")
    assert e.value.field == "note"
    with pytest.raises(payments.PeriodError, match="Chọn ít nhất"):
        payments.hold_many(draft, [], "Chờ xác minh")
    assert {line.status for line in blocked} == {"blocked"}
    held = payments.hold_many(draft, [blocked[0].id, blocked[2].id], " Chờ công an xác minh ")
    assert [line.id for line in held] == [blocked[0].id, blocked[2].id]
    assert [(line.status, line.note) for line in blocked] == [
        ("held", "Chờ công an xác minh"), ("blocked", blocked[1].note), ("held", "Chờ công an xác minh")]
    with pytest.raises(payments.PeriodError, match="không còn bị chặn"):  # held already
        payments.hold_many(draft, [blocked[0].id], "Lần nữa")


def test_bulk_hold_page_without_javascript(client, draft):
    blocked = sorted(line.id for line in draft.lines if line.status == "blocked")
    login(client, "commune")
    html = client.get(f"/payments/{draft.id}").get_data(as_text=True)
    assert html.count('name="bh-line"') == 3 and 'form="bulk-hold"' in html
    assert "Tạm giữ các dòng đã chọn" in html
    token = csrf_token(client, f"/payments/{draft.id}")
    url = f"/payments/{draft.id}/hold"
    assert client.post(url, data={"bh-note": "x", "bh-line": blocked[:1]}).status_code == 400  # no CSRF
    # No reason: the page again, the lines still ticked, nothing held.
    r = client.post(url, data={"csrf_token": token, "bh-note": "", "bh-line": blocked[:2]})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "<title>Lỗi:" in html and 'href="#bh-note"' in html
    assert re.search(rf'value="{blocked[0]}" form="bulk-hold" checked', html)
    assert not re.search(rf'value="{blocked[2]}" form="bulk-hold" checked', html)
    # One line that is not blocked (the line to pay): nothing is held.
    listed = next(line.id for line in draft.lines if line.status == "listed")
    r = client.post(url, data={"csrf_token": token, "bh-note": "Chờ xác minh", "bh-line": [blocked[0], listed]})
    assert r.status_code == 422 and "không còn bị chặn" in r.get_data(as_text=True)
    r = client.post(url, data={"csrf_token": token, "bh-note": "Chờ xác minh", "bh-line": [blocked[0], "1e3"]})
    assert r.status_code == 422
    assert {s for s, _ in _statuses(draft).values()} == {"listed", "blocked"}
    r = client.post(url, data={"csrf_token": token, "bh-note": "Chờ công an xác minh", "bh-line": blocked[:2]})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/payments/{draft.id}#held")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã tạm giữ 2 dòng" in html and "Tạm giữ (2)" in html
    names = {line.id: line.beneficiary.full_name for line in draft.lines}
    statuses = _statuses(draft)
    assert statuses[names[blocked[0]]] == statuses[names[blocked[1]]] == ("held", "Chờ công an xác minh")
    assert statuses[names[blocked[2]]][0] == "blocked"
    assert 'name="bh-line"' not in html  # one blocked line left: its own form is enough


def test_bulk_hold_rules(client, draft):
    blocked = sorted(line.id for line in draft.lines if line.status == "blocked")
    login(client, "payer")
    token = csrf_token(client, "/payments")
    assert client.post(f"/payments/{draft.id}/hold", data={
        "csrf_token": token, "bh-note": "x", "bh-line": blocked}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, "commune")  # a locked list: refused, the page says why
    token = csrf_token(client, f"/payments/{draft.id}")
    for line_id in blocked[:2]:
        payments.hold(db.session.get(PaymentLine, line_id), "Tạm")
    payments.hold_many(draft, blocked[2:], "Tạm")
    payments.lock(draft, system_user())
    db.session.commit()
    r = client.post(f"/payments/{draft.id}/hold", data={"csrf_token": token, "bh-note": "x", "bh-line": blocked})
    assert r.status_code == 422 and "Danh sách đã khóa." in r.get_data(as_text=True)


def test_bulk_hold_outside_scope_is_404(client, app):
    _blocked("Trần Văn Bảy", "051050999110")
    b = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường", national_id="051060222333")
    db.session.add(Finding(beneficiary_id=b.id, code="id_year_mismatch", severity="error",
                           message="Số định danh không khớp năm sinh.", source="check"))
    db.session.commit()
    p = payments.build(find_commune("21046", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    login(client, "commune")  # commune 21052's officer
    token = csrf_token(client, "/payments")
    line = p.lines[0]
    r = client.post(f"/payments/{p.id}/hold", data={"csrf_token": token, "bh-note": "x", "bh-line": [line.id]})
    assert r.status_code == 404 and db.session.get(PaymentLine, line.id).status == "blocked"


def test_the_payers_pending_filter(client, draft):
    blocked = [line.id for line in draft.lines if line.status == "blocked"]
    payments.hold_many(draft, blocked, "Chờ xác minh")
    for i in range(3):
        person(name=f"Người Thứ {i}", national_id=f"05105012300{i}")
    db.session.commit()
    payments.refresh(draft, system_user())
    payments.lock(draft, system_user())
    db.session.commit()
    listed = sorted((line for line in draft.lines if line.status == "listed"), key=lambda line: line.id)
    assert len(listed) == 4
    payments.record_result(listed[0], system_user(), "paid_cash", "")
    db.session.commit()
    login(client, "payer")
    html = client.get(f"/payments/{draft.id}").get_data(as_text=True)
    assert f'href="/payments/{draft.id}?result=pending#list">Chưa có kết quả (3)</a>' in html
    html = client.get(f"/payments/{draft.id}?result=pending").get_data(as_text=True)
    assert '<span aria-current="true">Chưa có kết quả (3)</span>' in html
    assert f'id="l{listed[0].id}"' not in html and all(f'id="l{line.id}"' in html for line in listed[1:])
    rows = re.findall(r"<tr><td[^>]*>([^<]+)</td>", html)
    assert len(rows) == 3 and listed[0].beneficiary.full_name not in rows
    assert "Trần Văn Bảy" not in rows  # held lines are not waiting for a result
    whole = client.get(f"/payments/{draft.id}?result=other").get_data(as_text=True)
    assert len(re.findall(r"<tr><td[^>]*>([^<]+)</td>", whole)) == 7  # four to pay, three held


def test_pending_filter_keeps_across_pages(client, app, monkeypatch):
    from portal.payments import routes
    monkeypatch.setattr(routes, "LINES_PER_PAGE", 2)
    for i in range(5):
        person(name=f"Người Thứ {i}", national_id=f"05105012300{i}")
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.lock(p, system_user())
    db.session.commit()
    login(client, "payer")
    html = client.get(f"/payments/{p.id}?result=pending").get_data(as_text=True)
    assert f"/payments/{p.id}?page=2&amp;result=pending" in html or f"/payments/{p.id}?result=pending&amp;page=2" in html
    assert "Trang 1/3" in html


def test_quality_page_filters_by_rule_with_a_select(client, app):
    for i in range(3):  # three records without an ID, one with a man's ID read as a woman's
        person(name=f"Người Thứ {i}", national_id=None)
    person(name="nguyễn văn an", national_id="051150123456")
    db.session.flush()
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    commune = find_commune("21052", "2024-05")
    login(client, "commune")
    html = client.get(f"/quality/communes/{commune.id}").get_data(as_text=True)
    assert 'id="rule-filter"' in html and '<select name="rule" id="rule">' in html
    options = dict(re.findall(r'<option value="([a-z_]+)">[^<]*\((\d+)\)</option>', html))
    assert options.get("missing_id") == "3"
    html = client.get(f"/quality/communes/{commune.id}?rule=missing_id").get_data(as_text=True)
    assert re.search(r'<option value="missing_id" selected>[^<]*\(3\)</option>', html)
    assert "nguyễn văn an" not in html.lower().split('id="worklist"')[1]
    assert html.count('<option value="" >') == 0 and '<option value="">' in html
    # The rule is kept across the worklist's pages (30 a page).
    for i in range(3, 31):
        person(name=f"Người Thứ {i}", national_id=None)
    db.session.flush()
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    html = client.get(f"/quality/communes/{commune.id}?rule=missing_id").get_data(as_text=True)
    nxt = re.search(r'href="([^"]*page=2[^"]*)"', html).group(1)
    assert "rule=missing_id" in nxt
    html = client.get(nxt.replace("&amp;", "&")).get_data(as_text=True)
    assert re.search(r'<option value="missing_id" selected>[^<]*\(31\)</option>', html)


def test_search_result_opens_the_person_card(client, app):
    b = person(name="Trần Văn Bảy", national_id="051050999110")
    db.session.commit()
    login(client, "commune")
    html = client.get("/search?q=tran van bay").get_data(as_text=True)
    href = f"/households/{b.household_id}#b{b.id}"
    assert f'<a href="{href}" hx-boost="false">Trần Văn Bảy</a>' in html
    card = client.get(f"/households/{b.household_id}").get_data(as_text=True)
    assert f'<article class="person" id="b{b.id}">' in card


def test_a_result_saved_without_javascript_goes_back_to_the_pending_lines(client, app):
    for i in range(3):
        person(name=f"Người Thứ {i}", national_id=f"05105012300{i}")
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.lock(p, system_user())
    db.session.commit()
    line = min(p.lines, key=lambda x: x.id)
    login(client, "payer")
    html = client.get(f"/payments/{p.id}?result=pending").get_data(as_text=True)
    action = f"/payments/{p.id}/lines/{line.id}/result?result=pending"
    assert f'action="{action}"' in html
    token = csrf_token(client, f"/payments/{p.id}")
    r = client.post(action, data={"csrf_token": token, f"r{line.id}-result": "paid_cash", f"r{line.id}-reason": ""})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/payments/{p.id}?result=pending#list")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Chưa có kết quả (2)" in html and f'id="l{line.id}"' not in html
    # The whole list's forms post without the filter.
    html = client.get(f"/payments/{p.id}").get_data(as_text=True)
    assert f'action="/payments/{p.id}/lines/{line.id}/result"' in html
