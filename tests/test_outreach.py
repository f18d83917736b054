"""Outreach (truyền thông, vận động), issue 13 §2: refusal reasons and revisits on the
household page, a commune's communication sessions, a village's «who still needs a visit»
list (page, print view, workbook), and their counts on the commune page and in the monthly
report."""
import io
import re
from datetime import date, datetime

import brotli  # noqa: F401  (the compressed budgets need the encoder)
import pytest
from openpyxl import load_workbook
from sqlalchemy import event as sa_event, func, select

from portal.extensions import db
from portal.models import Area, Beneficiary, Event, OutreachSession
from portal.services import outreach, reports
from portal.services.review import ReviewError, save_review, validate
from tests.conftest import csrf_token, login, user
from tests.factories import make_user, person, visit, with_account

HX = {"HX-Request": "true"}
ENC = {"Accept-Encoding": "br, gzip"}
PAGE_BUDGET = 14_600
TODAY = date(2024, 5, 31)  # the tests' open month is 2024-05: the working day is its last


def form_of(page, prefix):
    """The review form's hidden values of one card (version, idempotency key)."""
    version = re.search(rf'name="{prefix}-version"[^>]*value="(\d+)"', page) or re.search(
        rf'value="(\d+)"[^>]*name="{prefix}-version"', page)
    return version.group(1)


def review_post(client, b, **values):
    page = client.get(f"/households/{b.household_id}").get_data(as_text=True)
    p = f"b{b.id}"
    data = {"csrf_token": csrf_token(client, f"/households/{b.household_id}"),
            f"{p}-version": form_of(page, p), f"{p}-account_status": "refuses",
            f"{p}-payment_method": "cash", f"{p}-recipient_type": "self"}
    data.update({f"{p}-{k}": v for k, v in values.items()})
    return data


@pytest.fixture
def people(app):
    """Thôn An Thành of Bình Chánh: An (not reviewed), Bích (refuses, revisit due), Cúc
    (refuses, revisit later), Dũng (has an account, reviewed), Em (no account, reviewed),
    a stopped record; Khác in another village, Cường in another commune."""
    an = person(name="Nguyễn Văn An", phone="0905123456")
    bich = person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=an.household)
    cuc = person(name="Lê Thị Cúc", sex="F", national_id="051160000222")
    dung = with_account(person(name="Phạm Văn Dũng", national_id="051045000333"))
    em = person(name="Võ Văn Em", national_id="051040000444")
    stopped = person(name="Đỗ Văn Dừng", national_id="051040000999", status="stopped")
    khac = person(name="Đỗ Văn Khác", village="Thôn Mỹ Long", national_id="051050000555")
    cuong = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường",
                   national_id="051060222333")
    db.session.commit()
    visit(bich, date(2024, 5, 2), account_status="refuses", refusal_reason="frail",
          revisit_on=date(2024, 5, 31), today=date(2024, 5, 2))
    visit(cuc, date(2024, 5, 2), account_status="refuses", refusal_reason="other",
          no_account_reason="Con cháu lo", revisit_on=date(2024, 7, 1), today=date(2024, 5, 2))
    visit(dung, date(2024, 5, 3))
    visit(em, date(2024, 5, 3), account_status="no_account", no_account_reason="Chưa mở")
    db.session.commit()
    return dict(an=an, bich=bich, cuc=cuc, dung=dung, em=em, stopped=stopped, khac=khac,
                cuong=cuong, v=an.village_id, commune=an.commune_id)


# --- codes and validation ------------------------------------------------------------------

def test_reason_codes_are_the_issues_list_with_vietnamese_labels():
    assert list(outreach.REFUSAL_REASONS) == ["frail", "no_phone", "prefers_cash", "far", "distrust", "other"]
    assert all(len(code) <= 12 for code in outreach.REFUSAL_REASONS)  # beneficiary.refusal_reason
    assert str(outreach.reason_label("prefers_cash")) == "Muốn nhận tiền mặt ở bưu điện"
    assert str(outreach.reason_label(None)) == "Chưa ghi lý do"


@pytest.mark.parametrize("status, reason, text, revisit, field", [
    ("refuses", None, None, None, "refusal_reason"),
    ("refuses", "bogus", None, None, "refusal_reason"),
    ("refuses", "other", None, None, "no_account_reason"),
    ("refuses", "far", None, date(2024, 5, 30), "revisit_on"),
    ("no_account", "far", None, date(2024, 1, 1), "revisit_on"),
])
def test_check_refusal_rejects(status, reason, text, revisit, field):
    errors = outreach.check_refusal(status, reason, text, revisit, TODAY)
    assert set(errors) == {field}


@pytest.mark.parametrize("status, reason, text, revisit, stored", [
    ("refuses", "far", None, TODAY, None),            # today is not the past
    ("refuses", "other", "Con cháu lo", None, None),
    ("no_account", None, None, None, None),           # a reason is optional without an account
    ("refuses", "frail", None, date(2024, 5, 2), date(2024, 5, 2)),  # an old revisit kept as it was
    ("has_account", None, None, date(2020, 1, 1), None),  # cleared, not checked
])
def test_check_refusal_accepts(status, reason, text, revisit, stored):
    assert outreach.check_refusal(status, reason, text, revisit, TODAY, stored) == {}


def test_validate_clears_reason_and_revisit_for_another_status(app):
    clean = validate({"account_status": "opening", "refusal_reason": "far", "revisit_on": date(2024, 6, 1),
                      "payment_method": "cash", "today": TODAY})
    assert clean["refusal_reason"] is None and clean["revisit_on"] is None
    with app.test_request_context(), pytest.raises(ReviewError) as e:  # its messages are translated
        validate({"account_status": "refuses", "refusal_reason": None, "payment_method": "cash", "today": TODAY})
    assert "refusal_reason" in e.value.errors


def test_a_save_writes_one_event_per_changed_field_and_a_paper_line_keeps_them(app, people):
    bich = people["bich"]
    events = db.session.execute(select(Event.field, Event.new_value).where(
        Event.beneficiary_id == bich.id, Event.field.in_(("refusal_reason", "revisit_on")))).all()
    assert sorted(events) == [("refusal_reason", "frail"), ("revisit_on", "2024-05-31")]
    # A save without the reason's key (the paper sheet's line) leaves a refusal's reason alone …
    save_review(bich, user("commune"), {"account_status": "refuses", "payment_method": "cash"},
                bich.version, visited_on=date(2024, 5, 20))
    assert bich.refusal_reason == "frail"
    # … and an account found clears it, with its events.
    save_review(bich, user("commune"), {"account_status": "opening", "payment_method": "cash"},
                bich.version, visited_on=date(2024, 5, 21))
    db.session.commit()
    assert bich.refusal_reason is None and bich.revisit_on is None
    last = db.session.scalar(select(Event).where(Event.beneficiary_id == bich.id, Event.field == "refusal_reason")
                             .order_by(Event.id.desc()).limit(1))
    assert last.old_value == "frail" and last.new_value is None


# --- the household page ----------------------------------------------------------------------

def test_household_page_records_a_refusal_with_reason_no_js(client, people):
    login(client, "commune")
    an = people["an"]
    page = client.get(f"/households/{an.household_id}")
    html = page.get_data(as_text=True)
    assert f'name="b{an.id}-refusal_reason"' in html and f'name="b{an.id}-revisit_on"' in html
    data = review_post(client, an, refusal_reason="prefers_cash", revisit_on="2024-06-15")
    resp = client.post(f"/beneficiaries/{an.id}/review", data=data)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/households/{an.household_id}#b{an.id}")
    db.session.refresh(an)
    assert (an.account_status, an.refusal_reason, an.revisit_on) == ("refuses", "prefers_cash", date(2024, 6, 15))
    shown = client.get(f"/households/{an.household_id}").get_data(as_text=True)
    assert "Muốn nhận tiền mặt ở bưu điện" in shown and "15/06/2024" in shown


def test_household_page_refusal_without_reason_is_422_with_the_summary(client, people):
    login(client, "commune")
    an = people["an"]
    resp = client.post(f"/beneficiaries/{an.id}/review", data=review_post(client, an))
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Có lỗi cần sửa" in html and f'href="#b{an.id}-refusal_reason"' in html
    assert "Chọn lý do từ chối mở tài khoản." in html
    resp = client.post(f"/beneficiaries/{an.id}/review", headers=HX,
                       data=review_post(client, an, refusal_reason="far", revisit_on="2024-05-01"))
    assert resp.status_code == 422 and "<html" not in resp.get_data(as_text=True)
    assert "Ngày hẹn vận động lại không thể ở quá khứ." in resp.get_data(as_text=True)
    db.session.refresh(an)
    assert an.refusal_reason is None


def test_household_page_htmx_save_returns_the_card(client, people):
    login(client, "commune")
    an = people["an"]
    resp = client.post(f"/beneficiaries/{an.id}/review", headers=HX,
                       data=review_post(client, an, refusal_reason="distrust"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "<html" not in html and "Chưa tin tưởng" in html


def test_household_page_stays_within_budget(client, people):
    login(client, "commune")
    resp = client.get(f"/households/{people['an'].household_id}", headers=ENC)
    assert resp.headers.get("Content-Encoding") in ("br", "gzip")
    assert len(resp.data) <= PAGE_BUDGET


# --- sessions ----------------------------------------------------------------------------------

def session_data(client, commune, **values):
    url = f"/communes/{commune}/outreach"
    page = client.get(url).get_data(as_text=True)
    data = {"csrf_token": csrf_token(client, url), "s-village_id": "", "s-held_on": "2024-05-20",
            "s-place": "Nhà văn hóa thôn", "s-attendees": "35", "s-topic": "Lợi ích của nhận trợ cấp qua tài khoản"}
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    if key:
        data["idempotency_key"] = key.group(1)
    data.update(values)
    return data


def test_commune_officer_adds_a_session_no_js_with_its_event(client, people):
    login(client, "commune")
    c = people["commune"]
    resp = client.post(f"/communes/{c}/outreach", data=session_data(client, c, **{"s-village_id": str(people["v"])}))
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/communes/{c}/outreach")
    s = db.session.scalar(select(OutreachSession))
    assert (s.commune_id, s.village_id, s.held_on, s.attendees) == (c, people["v"], date(2024, 5, 20), 35)
    ev = db.session.scalar(select(Event).where(Event.source == "outreach"))
    assert ev.beneficiary_id is None and ev.action == "create" and "Nhà văn hóa thôn" in ev.new_value
    page = client.get(f"/communes/{c}/outreach").get_data(as_text=True)
    assert "20/05/2024" in page and "Thôn An Thành, Nhà văn hóa thôn" in page


def test_session_htmx_returns_the_list_fragment(client, people):
    login(client, "commune")
    c = people["commune"]
    resp = client.post(f"/communes/{c}/outreach", data=session_data(client, c), headers=HX)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "<html" not in html and 'id="sessions"' in html and "Đã ghi buổi truyền thông." in html
    boosted = client.get(f"/communes/{c}/outreach", headers={**HX, "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)
    assert "HX-Request" in boosted.headers.get("Vary", "")


@pytest.mark.parametrize("values, message", [
    ({"s-held_on": ""}, "Nhập ngày (dd/mm/yyyy)."),
    ({"s-held_on": "2024-06-02"}, "Ngày tổ chức không thể ở tương lai."),
    ({"s-place": ""}, "Nhập địa điểm."),
    ({"s-attendees": "-3"}, "Số người dự là số từ 0 đến 100.000."),
    ({"s-topic": ""}, "Nhập nội dung."),
])
def test_session_bad_input_is_422_with_summary(client, people, values, message):
    login(client, "commune")
    c = people["commune"]
    resp = client.post(f"/communes/{c}/outreach", data=session_data(client, c, **values))
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Có lỗi cần sửa" in html and message in html and "<title>Lỗi:" in html
    assert db.session.scalar(select(func.count()).select_from(OutreachSession)) == 0


def test_session_in_a_village_of_another_commune_is_refused(client, people):
    login(client, "commune")
    c = people["commune"]
    other_village = db.session.get(Beneficiary, people["cuong"].id).village_id
    resp = client.post(f"/communes/{c}/outreach", data=session_data(client, c, **{"s-village_id": str(other_village)}))
    assert resp.status_code == 422 and "Chọn một thôn của xã." in resp.get_data(as_text=True)


def test_session_post_needs_csrf(client, people):
    login(client, "commune")
    c = people["commune"]
    data = session_data(client, c)
    data.pop("csrf_token")
    resp = client.post(f"/communes/{c}/outreach", data=data)
    assert resp.status_code in (400, 422)
    assert db.session.scalar(select(func.count()).select_from(OutreachSession)) == 0


def test_sessions_roles_and_scope(client, people):
    c = people["commune"]
    other = people["cuong"].commune_id
    login(client, "police")  # outreach is not the police's work
    assert client.get(f"/communes/{c}/outreach").status_code == 403
    assert client.get(f"/villages/{people['v']}/visits").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, f"/communes/{c}")})
    make_user("chu-tich", "chairman", "21052")
    login(client, "chu-tich")  # reads, does not write
    page = client.get(f"/communes/{c}/outreach")
    assert page.status_code == 200 and 'name="s-place"' not in page.get_data(as_text=True)
    assert client.post(f"/communes/{c}/outreach", data=session_data(client, c)).status_code == 403
    assert client.get(f"/communes/{other}/outreach").status_code == 404  # outside their commune
    assert client.get(f"/communes/{people['v']}/outreach").status_code == 404  # a village
    client.post("/logout", data={"csrf_token": csrf_token(client, f"/communes/{c}/outreach")})
    login(client, "commune")
    assert client.post(f"/communes/{other}/outreach", data=session_data(client, c)).status_code == 404
    login(client, "district")  # sees every commune of the district, writes none
    assert client.get(f"/communes/{other}/outreach").status_code == 200


def test_sessions_are_listed_newest_first_and_paginated(app, client, people):
    c = db.session.get(Area, people["commune"])
    for day in range(1, 23):
        outreach.add_session(c, user("commune"), date(2024, 5, day), f"Điểm {day}", day, "Chủ đề")
    db.session.commit()
    rows, total = outreach.sessions_page(c.id)
    assert total == 22 and len(rows) == outreach.SESSIONS_PER_PAGE
    assert [r.held_on.day for r in rows[:3]] == [22, 21, 20]
    login(client, "commune")
    page2 = client.get(f"/communes/{c.id}/outreach?page=2").get_data(as_text=True)
    assert "02/05/2024" in page2 and "22/05/2024" not in page2


# --- who still needs a visit -------------------------------------------------------------------

def test_needs_visit_lists_the_right_people_grouped_by_household(app, people):
    from portal.services import progress, scope
    groups, total = outreach.needs_visit(people["v"], scope.visible(None), progress.campaign_start(), TODAY)
    names = [[b.full_name for b in members] for _h, members in groups]
    # An (not reviewed) and Bích (revisit due today) share a household; Em has no account;
    # Cúc's revisit is in July, Dũng has an account, the stopped record is not active.
    assert sorted(n for g in names for n in g) == ["Nguyễn Văn An", "Trần Thị Bích", "Võ Văn Em"]
    assert total == 3 and ["Nguyễn Văn An", "Trần Thị Bích"] in names
    # Later, Cúc's revisit is due too.
    _g, total = outreach.needs_visit(people["v"], scope.visible(None), progress.campaign_start(), date(2024, 7, 1))
    assert total == 4


def test_visits_page_print_view_and_budget(client, people):
    login(client, "commune")
    v = people["v"]
    resp = client.get(f"/villages/{v}/visits", headers=ENC)
    assert resp.status_code == 200 and len(resp.data) <= PAGE_BUDGET
    html = client.get(f"/villages/{v}/visits").get_data(as_text=True)
    assert "Trần Thị Bích" in html and "Lê Thị Cúc" not in html and "Phạm Văn Dũng" not in html
    assert "051155000111" not in html and "0111" in html  # masked IDs
    assert "Già yếu" in html and "0905123456" in html and "31/05/2024" in html
    assert f'href="/villages/{v}/visits?print=1' in html
    printed = client.get(f"/villages/{v}/visits?print=1").get_data(as_text=True)
    assert 'class="sheet-title"' in printed and "Trưởng thôn" in printed
    village_page = client.get(f"/villages/{v}").get_data(as_text=True)
    assert f"/villages/{v}/visits" in village_page


def test_visits_workbook_has_the_list_and_print_setup(client, people):
    login(client, "commune")
    resp = client.get(f"/villages/{people['v']}/visits?format=xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(resp.data)).active
    cells = [c.value for row in ws.iter_rows() for c in row if c.value is not None]
    assert "Trần Thị Bích" in cells and "Lê Thị Cúc" not in cells and "051155000111" not in cells
    assert ws.print_area and ws.page_setup.orientation == "landscape" and ws.print_title_rows


def test_visits_scope(client, people):
    login(client, "commune")
    other_village = people["cuong"].village_id
    assert client.get(f"/villages/{other_village}/visits").status_code == 404
    assert client.get(f"/villages/{other_village}/visits?format=xlsx").status_code == 404
    assert client.get(f"/villages/{people['commune']}/visits").status_code == 404  # a commune


# --- counts --------------------------------------------------------------------------------------

def test_commune_page_counts_refusals_by_reason_and_sessions(client, people):
    c = db.session.get(Area, people["commune"])
    outreach.add_session(c, user("commune"), date(2024, 5, 10), "UBND xã", 40, "Chủ đề")
    outreach.add_session(c, user("commune"), date(2024, 3, 10), "Thôn", 12, "Chủ đề")
    khac = people["khac"]
    khac.account_status = "refuses"  # a refusal recorded before the codes
    db.session.commit()
    assert outreach.refusals_by_reason([c.id]) == [("frail", outreach.reason_label("frail"), 1),
                                                  ("other", outreach.reason_label("other"), 1),
                                                  ("none", outreach.reason_label(None), 1)]
    assert outreach.session_totals(c.id, "2024-05", date(2024, 1, 1)) == {
        "month_sessions": 1, "month_attendees": 40, "sessions": 2, "attendees": 52}
    login(client, "commune")
    html = client.get(f"/communes/{c.id}").get_data(as_text=True)
    assert "Già yếu, ốm đau" in html and "Chưa ghi lý do" in html
    assert "tháng này: 1 (40 người dự)" in html and "cả đợt: 2 (52 người dự)" in html
    assert f"/communes/{c.id}/outreach" in html


def test_refusals_are_one_statement_for_many_communes(app, people):
    communes = db.session.scalars(select(Area).where(Area.level == "commune")).all()
    statements = []

    def count(*args):
        statements.append(args[2])
    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        outreach.refusals_by_reason([c.id for c in communes])
        assert len(statements) == 1
        statements.clear()
        outreach.month_figures(communes, "2024-05")
        assert len(statements) == 3  # merged units, sessions, reasons: whatever the number of communes
        statements.clear()
        outreach.month_figures(communes, "2024-05", as_of=datetime(2030, 1, 1))
        assert len(statements) == 3  # a made report's, from the history: the same
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)


def test_month_figures_reproduce_a_made_report_from_the_history(app, people):
    c = people["commune"]
    commune = db.session.get(Area, c)
    outreach.add_session(commune, user("commune"), date(2024, 5, 10), "UBND xã", 40, "Chủ đề")
    outreach.add_session(commune, user("commune"), date(2024, 4, 10), "Thôn", 12, "Chủ đề")
    db.session.commit()
    may = outreach.month_figures([commune], "2024-05")[c]
    assert (may["sessions"], may["attendees"]) == (1, 40)
    assert may["reasons"] == {"frail": 1, "other": 1}
    april = outreach.month_figures([commune], "2024-04")[c]
    assert (april["sessions"], april["attendees"]) == (1, 12)
    made_at = datetime(2030, 1, 1)  # as of a moment after all of it (a made report's)
    for e in db.session.scalars(select(Event).where(Event.field == "refusal_reason")):
        e.at = datetime(2029, 12, 31)
    db.session.commit()
    # A change after the report was made does not move it; the live figures follow it.
    bich = people["bich"]
    before = db.session.scalar(select(func.max(Event.id)))
    save_review(bich, user("commune"), {"account_status": "opening", "payment_method": "cash"}, bich.version,
                visited_on=date(2024, 5, 30))
    late = db.session.get(Area, c)
    db.session.add(OutreachSession(commune_id=late.id, held_on=date(2024, 5, 30), place="Chợ", attendees=9,
                                   topic="Chủ đề", user_id=user("commune").id, created_at=datetime(2030, 2, 1)))
    for e in db.session.scalars(select(Event).where(Event.beneficiary_id == bich.id, Event.id > before)):
        e.at = datetime(2030, 2, 1)  # the visit after the report: its status and its cleared reason
    db.session.commit()
    frozen = outreach.month_figures([commune], "2024-05", as_of=made_at)[c]
    assert (frozen["sessions"], frozen["attendees"], frozen["reasons"]) == (1, 40, {"frail": 1, "other": 1})
    now = outreach.month_figures([commune], "2024-05")[c]
    assert (now["sessions"], now["attendees"], now["reasons"]) == (2, 49, {"other": 1})
    # Nothing recorded yet at that moment: nothing counted.
    assert outreach.month_figures([commune], "2024-05", as_of=datetime(2020, 1, 1))[c] == {
        "sessions": 0, "attendees": 0, "reasons": {}}


def test_monthly_report_shows_outreach_and_a_report_made_before_it_does_not(client, people):
    from portal.models import Setting
    c = db.session.get(Area, people["commune"])
    outreach.add_session(c, user("commune"), date(2024, 5, 10), "UBND xã", 40, "Chủ đề")
    db.session.commit()
    report = reports.monthly_report(c, "2024-05")
    row = report["outreach"]["rows"][0]
    assert (row["commune_id"], row["sessions"], row["attendees"]) == (c.id, 1, 40)
    assert row["reasons"] == {"frail": 1, "other": 1}
    assert report["outreach"]["total"]["sessions"] == 1
    assert "outreach" not in reports.as_json(report)  # the published shape is unchanged
    login(client, "commune")
    html = client.get(f"/reports/monthly?area={c.id}&month=2024-05").get_data(as_text=True)
    assert "Truyền thông, vận động" in html and "Già yếu" in html and "1 buổi truyền thông" in html
    record = reports.make(c, "2024-05", user("commune"))
    db.session.commit()
    made_report, made = reports.report_for(c, "2024-05")
    assert made.id == record.id and made_report["outreach"]["total"]["attendees"] == 40
    live = reports.workbook(made_report)
    cells = [x.value for row in load_workbook(io.BytesIO(live)).active.iter_rows() for x in row]
    assert "TRUYỀN THÔNG, VẬN ĐỘNG" in cells and "Từ chối: Già yếu, ốm đau" in cells
    # Outreach counted only since migration 0015 ran: a report made before shows no section.
    db.session.add(Setting(key=outreach.SINCE_SETTING, value=datetime(2099, 1, 1).isoformat()))
    db.session.commit()
    made_report, made = reports.report_for(c, "2024-05")
    assert made.id == record.id and made_report["outreach"] is None
    html = client.get(f"/reports/monthly?area={c.id}&month=2024-05").get_data(as_text=True)
    assert "Truyền thông, vận động" not in html
    cells = [x.value for row in load_workbook(io.BytesIO(reports.workbook(made_report))).active.iter_rows()
             for x in row]
    assert "TRUYỀN THÔNG, VẬN ĐỘNG" not in cells
    live_report, _none = reports.report_for(c, "2024-05", live=True)  # the live figures still show it
    assert live_report["outreach"]["total"]["sessions"] == 1


# --- migration 0015 ------------------------------------------------------------------------------

def test_migration_0015_up_and_down_keeps_the_counters_triggers(tmp_path):
    """0015 adds the columns without rebuilding ``beneficiary`` (its counters' triggers
    stay), creates ``outreach_session``, records when outreach began to be counted; the
    downgrade takes all of it away. On PostgreSQL too when ``TEST_DATABASE_URL`` is set."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, text

    from portal import create_app
    from tests.conftest import PG_URL, _pg_database
    url = _pg_database("outreach") if PG_URL else f"sqlite:///{tmp_path / 'o.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    trigger_sql = ("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'beneficiary'"
                   if not PG_URL else
                   "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'beneficiary'::regclass AND NOT tgisinternal")
    with app.app_context():
        upgrade(revision="0014")
        with db.engine.connect() as conn:
            triggers = conn.execute(text(trigger_sql)).scalar()
        assert triggers > 0
        upgrade(revision="0015")
        with db.engine.connect() as conn:
            assert conn.execute(text(trigger_sql)).scalar() == triggers
            assert conn.execute(text("SELECT value FROM setting WHERE key = 'outreach_since'")).scalar()
        names = {c["name"] for c in inspect(db.engine).get_columns("beneficiary")}
        assert {"refusal_reason", "revisit_on"} <= names
        assert "ix_outreach_session_commune_held" in {i["name"] for i in inspect(db.engine).get_indexes("outreach_session")}
        downgrade(revision="0014")
        inspector = inspect(db.engine)
        assert "outreach_session" not in inspector.get_table_names()
        assert not {"refusal_reason", "revisit_on"} & {c["name"] for c in inspector.get_columns("beneficiary")}
        with db.engine.connect() as conn:
            assert conn.execute(text(trigger_sql)).scalar() == triggers
            assert conn.execute(text("SELECT count(*) FROM setting WHERE key = 'outreach_since'")).scalar() == 0
        downgrade(revision="base")


def test_the_history_names_the_reason_and_the_revisit(client, people):
    login(client, "commune")
    html = client.get(f"/beneficiaries/{people['bich'].id}").get_data(as_text=True)
    assert "Lý do từ chối, chưa có TK" in html and "Già yếu, ốm đau" in html
    assert "Hẹn vận động lại" in html and "31/05/2024" in html


def test_a_card_with_an_account_asks_for_the_reason_when_refusing(client, people):
    """The saved card of a person with an account leaves the reason and revisit out (the
    status update's bytes); choosing «Từ chối» there answers 422 with them."""
    login(client, "commune")
    dung = people["dung"]
    page = client.get(f"/households/{dung.household_id}").get_data(as_text=True)
    assert f'name="b{dung.id}-refusal_reason"' not in page
    assert f'name="b{people["dung"].id}-account_status"' in page
    resp = client.post(f"/beneficiaries/{dung.id}/review", headers=HX, data=review_post(client, dung))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and f'name="b{dung.id}-refusal_reason"' in html
    assert "Chọn lý do từ chối mở tài khoản." in html


def test_a_stopped_record_is_shown_as_stopped_and_takes_no_visit(client, people):
    """A stopped record in a household (found by the new user's day): marked «Thôi hưởng»
    with no review form, and a forged save is refused (422) without a change."""
    stopped = people["stopped"]
    stopped.household_id = people["an"].household_id
    db.session.commit()
    login(client, "commune")
    page = client.get(f"/households/{stopped.household_id}").get_data(as_text=True)
    card = page[page.index(f'id="b{stopped.id}"'):]
    card = card[:card.index("</article>")]
    assert "Thôi hưởng</span>" in card and "<form" not in card and "Chưa rà soát</span>" not in card
    assert f"/beneficiaries/{stopped.id}/split" not in page  # nor split off: it is not paid any more
    assert f"/beneficiaries/{people['an'].id}/split" in page
    token = csrf_token(client, f"/households/{stopped.household_id}")
    r = client.post(f"/beneficiaries/{stopped.id}/review", data={
        "csrf_token": token, f"b{stopped.id}-version": stopped.version, f"b{stopped.id}-account_status": "refuses",
        f"b{stopped.id}-refusal_reason": "frail", f"b{stopped.id}-recipient_type": "self",
        f"b{stopped.id}-payment_method": "cash"})
    assert r.status_code == 422 and "đã thôi hưởng" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Beneficiary, stopped.id).account_status == "unknown"


def test_the_months_reasons_count_only_active_records_still_without_an_account(app, people):
    """Found by the second trial: a stopped refuser and a person who has an account since
    (their old reason left on the record, as the demo's later openings leave it) were counted."""
    commune = db.session.get(Area, people["commune"])
    stopped, em = people["stopped"], people["em"]
    for b, reason in ((stopped, "distrust"), (em, "no_phone")):
        b.status = "active"
        db.session.commit()
        visit(b, date(2024, 5, 20), account_status="refuses", refusal_reason=reason,
              revisit_on=date(2024, 5, 31), today=date(2024, 5, 20))
        db.session.commit()
    stopped.status = "stopped"  # a stop decided since
    em.account_status = "has_account"  # an account opened since, its old reason left on the record
    db.session.commit()
    reasons = outreach.month_figures([commune], "2024-05")[commune.id]["reasons"]
    assert reasons == {"frail": 1, "other": 1}
    assert {code: n for code, _label, n in outreach.refusals_by_reason([commune.id])} == reasons
