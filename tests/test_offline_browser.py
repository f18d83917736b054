"""A dropped connection in real Chromium: saves queued on the device, replayed once.

The server is really cut (stopped, its port closed), not emulated: Playwright's offline
mode does not cover a service worker's requests. It comes back on the same port, so the
origin (cookies, localStorage, the service worker) is the same.
"""
import json
from datetime import date
import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import Area, Beneficiary, Event, Household, Review, User
from portal.services.review import save_review
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, log_in_as

pytestmark = pytest.mark.browser
OFFLINE = "Mất kết nối — đã lưu trên máy, sẽ gửi khi có mạng"


class Server:
    """A live server that can be stopped and started again on the same port."""

    def __init__(self, app):
        self.app, self.port = app, 0
        self.start()

    def start(self):
        self.httpd = make_server("127.0.0.1", self.port, self.app, threaded=False)
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()  # connections are refused, not left waiting
        self.thread.join()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def server(demo_app):
    s = Server(demo_app)
    yield s
    s.stop()


@pytest.fixture
def live(server):
    yield server
    if not server.thread.is_alive():
        server.start()


_taken = set()


def household(demo_app):
    """A one-person Bình Chánh household not yet reviewed (another one on each call):
    ``(household_id, beneficiary_id, village_id)``."""
    with demo_app.app_context():
        chanh = db.session.scalar(select(Area).where(Area.code == "21052", Area.valid_to.is_not(None)))
        for b in db.session.scalars(select(Beneficiary).where(
                Beneficiary.commune_id == chanh.id, Beneficiary.reviewed_at.is_(None),
                Beneficiary.village_id.is_not(None)).order_by(Beneficiary.id.desc())):
            if b.household_id not in _taken and len(b.household.members) == 1:
                _taken.add(b.household_id)
                return b.household_id, b.id, b.village_id


def counts(demo_app, bid):
    """(reviews, review events per field) of a beneficiary."""
    with demo_app.app_context():
        reviews = db.session.scalar(select(func.count()).select_from(Review).where(Review.beneficiary_id == bid))
        events = dict(db.session.execute(
            select(Event.field, func.count()).where(Event.beneficiary_id == bid, Event.source == "review")
            .group_by(Event.field)).all())
        return reviews, events


def beneficiary(demo_app, bid):
    with demo_app.app_context():
        b = db.session.get(Beneficiary, bid)
        return {"account_status": b.account_status, "number": b.account.number if b.account else None,
                "version": b.version}


def open_worklist(page, base, village_id, household_id):
    """Open the village, then the household, online, as an officer does on the first day:
    the service worker arrives with the village page and keeps it."""
    page.goto(f"{base}/villages/{village_id}")
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    page.wait_for_function("caches.match(location.href).then(Boolean)")
    page.click(f"a[href='/households/{household_id}']")
    page.wait_for_url(f"**/households/{household_id}")


def fill_account(page, bid, number="4300205123456"):
    if page.locator(f"#b{bid} details").get_attribute("open") is None:
        page.click(f"#b{bid} summary")
    page.select_option(f"#b{bid}-account_status", "has_account")
    page.select_option(f"#b{bid}-payment_method", "account")
    page.select_option(f"#b{bid}-bank_bin", "970405")
    page.fill(f"#b{bid}-number", number)


def officer_on_worklist(browser, live, demo_app):
    """A commune officer in a new browser context, on a demo household's page opened online
    (the village's worklist first). Returns ``(context, page, household, person, village)``."""
    household_id, bid, village_id = household(demo_app)
    context = browser.new_context()
    page = context.new_page()
    log_in_as(page, live.url, "commune")
    open_worklist(page, live.url, village_id, household_id)
    return context, page, household_id, bid, village_id


def save_account(page, bid):
    fill_account(page, bid)
    page.click(f"#b{bid} button:has-text('Lưu')")


def outbox(page):
    return json.loads(page.evaluate("localStorage.getItem('outbox') || '[]'"))


def back_online(page):
    page.evaluate("dispatchEvent(new Event('online'))")


def test_save_while_server_is_down_is_queued_survives_reload_and_is_applied_once(browser, live, demo_app):
    context, page, household_id, bid, village_id = officer_on_worklist(browser, live, demo_app)

    live.stop()
    save_account(page, bid)
    banner = page.locator("#outbox")
    expect(banner).to_contain_text(OFFLINE)
    expect(banner).to_contain_text("1 thay đổi chờ gửi")
    expect(page.locator(f"#b{bid} [data-q]")).to_have_text("Chờ gửi")
    assert page.locator(f"#b{bid}-number").input_value() == "4300205123456"  # what was typed stays
    assert len(outbox(page)) == 1
    assert counts(demo_app, bid)[0] == 0
    # No visit date typed: the queue keeps the day of the save, not the day it will be sent.
    assert dict(outbox(page)[0]["f"])[f"b{bid}-visited_on"] == date.today().isoformat()

    # Reloading with the server still down: the service worker's copy, the entry restored.
    page.reload()
    expect(page.locator("#outbox")).to_contain_text(OFFLINE)
    assert page.locator(f"#b{bid}-number").input_value() == "4300205123456"
    assert page.locator(f"#b{bid}-account_status").input_value() == "has_account"
    expect(page.locator(f"#b{bid} [data-q]")).to_be_visible()
    # The village's worklist opens offline too.
    page.goto(f"{live.url}/villages/{village_id}")
    expect(page.locator(f"a[href='/households/{household_id}']")).to_be_visible()
    page.goto(f"{live.url}/households/{household_id}")
    expect(page.locator("#outbox")).to_contain_text("1 thay đổi chờ gửi")
    # A household never opened online says so plainly, not with the browser's error page.
    with demo_app.app_context():
        unopened = db.session.scalar(select(Household.id).where(Household.village_id == village_id,
                                                                Household.id != household_id))
    page.goto(f"{live.url}/households/{unopened}")
    expect(page.locator("h1")).to_have_text("Mất kết nối")
    page.goto(f"{live.url}/households/{household_id}")

    live.start()
    back_online(page)
    expect(page.locator(f"#b{bid} .tag.ok", has_text="Đã lưu")).to_be_visible()
    expect(page.locator("#outbox")).to_contain_text("Đã gửi 1 thay đổi")
    assert outbox(page) == []
    reviews, events = counts(demo_app, bid)
    assert reviews == 1
    assert events and set(events.values()) == {1}, events  # each field changed once
    assert beneficiary(demo_app, bid)["number"] == "4300205123456"

    # Another reload (and another 'online') sends nothing again.
    page.reload()
    back_online(page)
    expect(page.locator("#outbox")).to_have_count(0)
    assert counts(demo_app, bid) == (reviews, events)
    context.close()


def test_save_whose_answer_is_lost_is_replayed_not_applied_twice(browser, live, demo_app):
    context, page, household_id, bid, village_id = officer_on_worklist(browser, live, demo_app)

    def lose_answer(route):
        route.fetch()  # the server gets the save and applies it …
        route.abort("connectionreset")  # … and the phone never hears back

    page.route(f"**/beneficiaries/{bid}/review", lose_answer)
    save_account(page, bid)
    expect(page.locator("#outbox")).to_contain_text("1 thay đổi chờ gửi")
    applied = counts(demo_app, bid)
    assert applied[0] == 1  # it was applied once, though the page could not know

    page.unroute(f"**/beneficiaries/{bid}/review")
    with page.expect_response(lambda r: r.url.endswith(f"/beneficiaries/{bid}/review")) as replay:
        back_online(page)
    assert replay.value.status == 200
    assert replay.value.headers.get("idempotent-replayed") == "true"
    expect(page.locator(f"#b{bid} .tag.ok", has_text="Đã lưu")).to_be_visible()
    assert outbox(page) == []
    assert counts(demo_app, bid) == applied
    context.close()


def test_conflicting_save_by_another_officer_is_shown_not_overwritten(browser, live, demo_app):
    context, page, household_id, bid, village_id = officer_on_worklist(browser, live, demo_app)

    live.stop()
    save_account(page, bid)
    expect(page.locator("#outbox")).to_contain_text(OFFLINE)
    # Meanwhile another officer records a refusal for the same person.
    with demo_app.app_context():
        b = db.session.get(Beneficiary, bid)
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        save_review(b, admin, {"account_status": "refuses", "payment_method": "cash"}, b.version)
        db.session.commit()
    live.start()
    back_online(page)

    conflict = page.locator(f"#b{bid} .conflict")
    expect(conflict).to_contain_text("Người khác vừa lưu hồ sơ này")
    status_row = conflict.locator("tr", has_text="Tình trạng tài khoản")
    expect(status_row.locator("td").nth(1)).to_have_text("Từ chối")  # theirs …
    expect(status_row.locator("td").nth(2)).to_have_text("Có tài khoản")  # … and mine
    expect(page.locator("#outbox")).to_contain_text("trùng với thay đổi của người khác")
    assert beneficiary(demo_app, bid)["account_status"] == "refuses"  # not overwritten
    assert counts(demo_app, bid)[0] == 1
    assert page.locator(f"#b{bid}-number").input_value() == "4300205123456"  # mine kept in the form

    # Still shown after a reload, until the officer decides.
    page.reload()
    expect(page.locator(f"#b{bid} .conflict")).to_contain_text("Người khác vừa lưu hồ sơ này")
    with page.expect_response(lambda r: r.url.endswith(f"/beneficiaries/{bid}/review")) as resp:
        page.click(f"#b{bid} button:has-text('Lưu')")  # knowingly, over theirs
    assert resp.value.status == 200
    expect(page.locator(f"#b{bid} .tag.ok", has_text="Đã lưu")).to_be_visible()
    assert beneficiary(demo_app, bid)["account_status"] == "has_account"
    assert counts(demo_app, bid)[0] == 2
    assert outbox(page) == []
    context.close()


def test_session_ended_during_the_outage_asks_to_log_in_and_keeps_the_queue(browser, live, demo_app):
    context, page, household_id, bid, village_id = officer_on_worklist(browser, live, demo_app)

    live.stop()
    save_account(page, bid)
    expect(page.locator("#outbox")).to_contain_text(OFFLINE)
    with demo_app.app_context():  # the session ends (as after a logout on another device)
        db.session.execute(update(User).where(User.username == "commune")
                           .values(session_version=User.session_version + 1))
        db.session.commit()
    live.start()
    back_online(page)

    banner = page.locator("#outbox")
    expect(banner).to_contain_text("Phiên đăng nhập đã hết")
    assert len(outbox(page)) == 1
    assert counts(demo_app, bid)[0] == 0
    banner.get_by_role("link", name="Đăng nhập lại").click()
    page.wait_for_url("**/login**")
    page.fill("#username", "commune")
    page.fill("#password", "demo")
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_url(f"**/households/{household_id}")
    expect(page.locator(f"#b{bid} .tag.ok", has_text="Đã lưu")).to_be_visible()
    assert outbox(page) == []
    assert counts(demo_app, bid)[0] == 1
    assert beneficiary(demo_app, bid)["number"] == "4300205123456"
    context.close()


def test_offline_page_queues_without_trying_and_sends_when_back(browser, live, demo_app):
    context, page, household_id, bid, village_id = officer_on_worklist(browser, live, demo_app)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    context.set_offline(True)  # the phone knows it is offline: nothing is even tried
    save_account(page, bid)
    expect(page.locator("#outbox")).to_contain_text(OFFLINE)
    assert posts == [] and len(outbox(page)) == 1

    context.set_offline(False)  # the 'online' event sends it
    expect(page.locator(f"#b{bid} .tag.ok", has_text="Đã lưu")).to_be_visible()
    assert posts == [f"{live.url}/beneficiaries/{bid}/review"]
    assert counts(demo_app, bid)[0] == 1
    context.close()


def test_closing_the_browser_keeps_the_queue(browser, live, demo_app, tmp_path):
    """A real browser profile, closed and opened again while the server is still down."""
    household_id, bid, village_id = household(demo_app)

    def launch():
        return browser.browser_type.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

    context = launch()
    page = context.pages[0] if context.pages else context.new_page()
    log_in_as(page, live.url, "commune")
    open_worklist(page, live.url, village_id, household_id)
    live.stop()
    save_account(page, bid)
    expect(page.locator("#outbox")).to_contain_text(OFFLINE)
    context.close()  # the browser is closed …

    context = launch()  # … and opened again, the server still down
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{live.url}/households/{household_id}")  # the service worker's copy
    expect(page.locator("#outbox")).to_contain_text("1 thay đổi chờ gửi")
    assert page.locator(f"#b{bid}-number").input_value() == "4300205123456"

    live.start()
    back_online(page)
    # The session cookie went with the browser: log in again, then it is sent.
    expect(page.locator("#outbox")).to_contain_text("Phiên đăng nhập đã hết")
    page.locator("#outbox").get_by_role("link", name="Đăng nhập lại").click()
    page.wait_for_url("**/login**")
    page.fill("#username", "commune")
    page.fill("#password", "demo")
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_url(f"**/households/{household_id}")
    expect(page.locator(f"#b{bid} .tag.ok", has_text="Đã lưu")).to_be_visible()
    assert counts(demo_app, bid)[0] == 1
    context.close()


def test_a_gateway_error_queues_the_save_too(browser, live, demo_app):
    """A 502–504 from a proxy on a weak link: the save may or may not have arrived."""
    context, page, household_id, bid, village_id = officer_on_worklist(browser, live, demo_app)
    page.route(f"**/beneficiaries/{bid}/review", lambda route: route.fulfill(status=504, body="Gateway Timeout"))
    save_account(page, bid)
    expect(page.locator("#outbox")).to_contain_text(OFFLINE)
    assert len(outbox(page)) == 1 and counts(demo_app, bid)[0] == 0
    page.unroute(f"**/beneficiaries/{bid}/review")
    back_online(page)
    expect(page.locator(f"#b{bid} .tag.ok", has_text="Đã lưu")).to_be_visible()
    assert counts(demo_app, bid)[0] == 1 and outbox(page) == []
    context.close()
