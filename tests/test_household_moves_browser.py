"""Splitting a household in real Chromium at 360 px and 1366 px (issue 13 §4): the split
button opens a confirmation that says who moves where; confirming splits; «Hoàn tác» puts
the person back and the new household is gone. The same with JavaScript off. Nothing
scrolls sideways, no console error.

The record merge asks the same way («Xác nhận gộp», its table stacked at 360 px) and is
undone from the record's page.

The server runs over a small world of its own: one household of two in commune 21052, and
one person recorded twice.
"""
import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Beneficiary, Household
from tests.conftest import console_problems, live_server, log_in_as

pytestmark = pytest.mark.browser

SIZES = [pytest.param({"width": 360, "height": 640}, id="360px"),
         pytest.param({"width": 1366, "height": 768}, id="1366px")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tests.factories import person

    def fill():
        a = person(name="Nguyễn Văn An")
        person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=a.household)
        for _ in range(2):  # one person recorded twice: the record merge's pair
            person(name="Lê Văn Cường", national_id="051060222333")

    yield from live_server(tmp_path_factory.mktemp("moves"), fill)


def _state(app):
    with app.app_context():
        hid = {b.full_name: b.household_id for b in db.session.scalars(select(Beneficiary))}
        n = db.session.scalar(select(func.count()).select_from(Household))
        db.session.remove()
    return hid, n


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("viewport", SIZES)
def test_split_asks_then_undo(world, browser, viewport, js):
    base, app = world
    before, households = _state(app)
    context = browser.new_context(viewport=viewport, java_script_enabled=js)
    page = context.new_page()
    problems = console_problems(page)
    log_in_as(page, base, "commune")
    page.goto(f"{base}/households/{before['Nguyễn Văn An']}")
    page.click("main button:has-text('Tách Trần Thị Bích thành hộ riêng')")
    page.wait_for_url(re.compile(r"/split\??$"))  # a GET form without fields adds "?"
    page.wait_for_load_state()
    assert "ra khỏi hộ Nguyễn Văn An" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert _state(app) == (before, households)  # asked, nothing moved
    page.click("main button:has-text('Xác nhận tách hộ')")
    page.wait_for_url("**moved=*")
    page.wait_for_load_state()
    after, n = _state(app)
    assert after["Trần Thị Bích"] != before["Trần Thị Bích"] and n == households + 1
    assert "Đã tách Trần Thị Bích thành hộ riêng" in page.inner_text("main")
    undo = page.locator("#moved button:has-text('Hoàn tác')")
    assert undo.is_visible()
    box = undo.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    undo.click()
    page.wait_for_url(f"**/households/{before['Nguyễn Văn An']}")
    page.wait_for_load_state()
    assert "Đã hoàn tác: Trần Thị Bích trở lại hộ Nguyễn Văn An" in page.inner_text("main")
    assert _state(app) == (before, households)
    assert not problems, problems
    context.close()


def _records(app):
    with app.app_context():
        out = {b.id: b.status for b in db.session.scalars(
            select(Beneficiary).where(Beneficiary.full_name == "Lê Văn Cường").order_by(Beneficiary.id))}
        db.session.remove()
    return out


@pytest.mark.parametrize("viewport", SIZES)
def test_merge_asks_then_undo(world, browser, viewport):
    base, app = world
    (a, b), = [tuple(_records(app))]
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems = console_problems(page)
    log_in_as(page, base, "commune")
    page.goto(f"{base}/beneficiaries/{a}/merge/{b}")
    assert page.locator("main table.stack").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.locator("main a:has-text('Hủy')").is_visible()
    assert _records(app) == {a: "active", b: "active"}  # asked, nothing merged
    page.click("main button:has-text('Xác nhận gộp')")
    page.wait_for_url(re.compile(rf"/beneficiaries/{a}(#merge\d+)?$"))
    page.wait_for_load_state()
    assert _records(app)[b] == "merged"
    undo = page.locator("main form button:has-text('Hoàn tác')")
    assert undo.is_visible()
    undo.click()
    page.wait_for_load_state()
    page.wait_for_function("() => document.body.innerText.includes('Đã hoàn tác lần gộp')")
    assert _records(app) == {a: "active", b: "active"}
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert not problems, problems
    context.close()
