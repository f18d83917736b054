"""Browser tests in real Chromium (Debian's ``chromium`` driven by Playwright).

In CI (``CI=true``) they must run; elsewhere, without Chromium, they skip with a message.
"""
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import Area, Beneficiary
from tests.conftest import log_in_as

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def live_server(demo_app):
    server = make_server("127.0.0.1", 0, demo_app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def unreviewed_household(demo_app, skip=()):
    """A one-person Bình Chánh household not yet reviewed."""
    with demo_app.app_context():
        chanh = db.session.scalar(select(Area).where(Area.code == "21052", Area.valid_to.is_not(None)))
        for b in db.session.scalars(select(Beneficiary).where(
                Beneficiary.commune_id == chanh.id, Beneficiary.reviewed_at.is_(None))
                .order_by(Beneficiary.id)):
            if b.household_id not in skip and len(b.household.members) == 1:
                return b.household_id, b.id, chanh.id, b.program


def log_in(page, base):
    page.goto(f"{base}/login")
    page.fill("#username", "commune")
    page.fill("#password", "demo")
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_url(f"{base}/reports/ranking")  # the commune officer starts on the ranking


def cashless_value(page, commune_id, program):
    card = page.locator(f"#progress-{commune_id} .card", has_text=f"{program} ·")
    bar = card.locator("progress[aria-label='Chi trả qua tài khoản']")
    return float(bar.get_attribute("value"))


def fill_account(page, bid):
    if page.locator(f"#b{bid} details").get_attribute("open") is None:
        page.click(f"#b{bid} summary")  # native <details>: works without JavaScript
    page.select_option(f"#b{bid}-account_status", "has_account")
    page.select_option(f"#b{bid}-payment_method", "account")
    page.select_option(f"#b{bid}-bank_bin", "970405")
    page.fill(f"#b{bid}-number", "4300205123456")


def test_record_account_with_htmx_swaps_without_page_load(browser, live_server, demo_app):
    household_id, bid, commune_id, program = unreviewed_household(demo_app)
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server)
    # Navigate as a user does: commune page → village → household (boosted links).
    page.goto(f"{live_server}/households/{household_id}")
    before = cashless_value(page, commune_id, program)
    page.evaluate("window.__sameDocument = true")
    loads = []
    page.on("load", lambda: loads.append(1))
    fill_account(page, bid)
    with page.expect_response(lambda r: r.url.endswith(f"/beneficiaries/{bid}/review")) as resp:
        page.click(f"#b{bid} button:has-text('Lưu')")
    assert resp.value.status == 200
    page.locator(f"#b{bid} .tag.ok", has_text="Đã lưu").wait_for()
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert loads == []
    assert "Có tài khoản" in page.locator(f"#b{bid}").inner_text()
    after = cashless_value(page, commune_id, program)
    assert after > before, (before, after)
    context.close()


def test_record_account_without_javascript(browser, live_server, demo_app):
    first, *_ = unreviewed_household(demo_app)
    household_id, bid, commune_id, program = unreviewed_household(demo_app, skip={first})
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server)
    page.goto(f"{live_server}/households/{household_id}")
    before = cashless_value(page, commune_id, program)
    fill_account(page, bid)
    with page.expect_navigation():
        page.click(f"#b{bid} button:has-text('Lưu')")
    assert f"/households/{household_id}" in page.url
    assert "Đã lưu rà soát" in page.content()
    assert "Có tài khoản" in page.locator(f"#b{bid}").inner_text()
    assert cashless_value(page, commune_id, program) > before
    context.close()


def test_invalid_save_shows_errors_in_place_keeping_input(browser, live_server, demo_app):
    seen = set()
    for _ in range(3):
        seen.add(unreviewed_household(demo_app, skip=seen)[0])
    household_id, bid, commune_id, program = unreviewed_household(demo_app, skip=seen)
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server)
    page.goto(f"{live_server}/households/{household_id}")
    page.evaluate("window.__sameDocument = true")
    fill_account(page, bid)
    page.fill(f"#b{bid}-number", "")
    with page.expect_response(lambda r: r.url.endswith(f"/beneficiaries/{bid}/review")) as resp:
        page.click(f"#b{bid} button:has-text('Lưu')")
    assert resp.value.status == 422
    page.locator(f"#b{bid} .error-summary").wait_for()
    assert "Nhập số tài khoản" in page.locator(f"#b{bid}").inner_text()
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator(f"#b{bid}-bank_bin").input_value() == "970405"  # input kept
    context.close()


def test_police_marks_deceased_and_the_commune_officer_sees_it(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("#username", "police")
    page.fill("#password", "demo")
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_url(f"{live_server}/police")
    card = page.locator("article.person").first
    bid = card.get_attribute("id")[1:]
    name = card.locator("h3 a").inner_text()
    page.select_option(f"#v{bid}-result", "deceased")
    page.fill(f"#v{bid}-died_on", "2024-05-03")
    with page.expect_response(lambda r: r.url.endswith(f"/police/{bid}")) as resp:
        card.locator("button:has-text('Ghi')").click()
    assert resp.value.status == 200
    page.locator(f"#v{bid} .tag.ok", has_text="Đã chết").wait_for()
    context.close()

    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server)
    page.goto(f"{live_server}/beneficiaries/{bid}")
    text = page.locator("main").inner_text()
    assert name in text
    assert "Công an báo đã chết ngày 03/05/2024" in text
    assert "Thôi hưởng" in text and "06/2024" in text
    context.close()


@pytest.fixture
def paid_list_server(fresh_app):
    """A server over a small world of its own (not the demo's): Bình Chánh's BTXH list for
    May 2024, locked, two people paid into their accounts and one in cash, through the
    product's functions. Yields ``(base URL, period id, line id of the second account)``."""
    from portal.services import payments
    from portal.services.areas import find_commune
    from tests.conftest import user
    from tests.factories import person, with_account
    with fresh_app.app_context():
        one = with_account(person(name="Vũ Văn Một", national_id="051050000201", coefficient=1.5),
                           number="4300205000201")
        two = with_account(person(name="Vũ Văn Hai", national_id="051050000202", coefficient=2.0),
                           number="4300205000202")
        three = person(name="Vũ Văn Ba", national_id="051050000203", coefficient=1.0)
        period = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", user("district"))
        payments.lock(period, user("district"))
        results = {one.id: "paid_account", two.id: "paid_account", three.id: "paid_cash"}
        for line in period.lines:
            payments.record_result(line, user("payer"), results[line.beneficiary_id])
        db.session.commit()
        ids = period.id, next(x.id for x in period.lines if x.beneficiary_id == two.id)
        db.session.remove()
    server = make_server("127.0.0.1", 0, fresh_app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield (f"http://127.0.0.1:{server.server_port}", *ids)
    server.shutdown()


def chanh_btxh_cells(page):
    """The cells of Bình Chánh's row in the BTXH table of the report page."""
    table = page.locator("table").first
    return table.locator("tr", has_text="Xã Bình Chánh").locator("td").all_inner_texts()


def test_a_failed_payment_changes_the_district_report(browser, paid_list_server):
    base, period_id, line_id = paid_list_server
    district = browser.new_context().new_page()
    log_in_as(district, base, "district")
    district.goto(f"{base}/reports/monthly?month=2024-05")
    before = chanh_btxh_cells(district)
    assert before[1] == "3" and before[4].startswith("2\n")  # paid; paid cashless (and the amount)
    assert "66,7" in before[6]

    payer = browser.new_context().new_page()
    log_in_as(payer, base, "payer")
    payer.goto(f"{base}/payments/{period_id}")
    payer.select_option(f"#r{line_id}-result", "failed")
    payer.fill(f"#r{line_id}-reason", "Tài khoản đã đóng")
    with payer.expect_response(lambda r: r.url.endswith(f"/lines/{line_id}/result")) as resp:
        payer.click(f"#l{line_id} button:has-text('Ghi')")
    assert resp.value.status == 200
    payer.locator("#rec dd").nth(3).filter(has_text="1").wait_for()  # failed: 1, swapped in place

    district.reload()
    after = chanh_btxh_cells(district)
    assert after[1] == "2" and after[4].startswith("1\n")  # one paid cashless fewer
    assert "33,3" in after[6]
    assert "không thành công hoặc trả lại 1" in district.locator("main").inner_text()
    district.context.close()
    payer.context.close()
