"""The people filters in real Chromium at 360 px and 1366 px (issue 13 §3): a commune
officer opens the commune's people list from the commune page, picks a filter (a boosted
link: the list, the counts and the address change), goes to the next page keeping the
filter, and filters a village; nothing scrolls sideways, no console error or CSP violation.

The server runs over a small world of its own (a SQLite file): commune 21052 with 55 people
never reviewed, one with no account, one who refuses, one blocked by a data error."""
from datetime import datetime

import pytest

from portal.extensions import db
from portal.models import Area, Finding
from tests.conftest import console_problems, live_server, log_in_as

pytestmark = pytest.mark.browser

SIZES = [pytest.param({"width": 360, "height": 740}, id="360px"),
         pytest.param({"width": 1366, "height": 768}, id="1366px")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tests.factories import person

    def fill():
        seen = datetime(2024, 3, 5, 9)
        for i in range(55):
            person(name=f"Nguyễn Văn Thứ {i:02d}", national_id=f"0510501{i:05d}")
        person(name="Lê Văn Không", national_id="051050200001", reviewed_at=seen, account_status="no_account")
        person(name="Phạm Thị Từ", national_id="051150200002", reviewed_at=seen, account_status="refuses",
               village="Thôn Phú Lễ")
        b = person(name="Võ Văn Chặn", national_id="051050200003", reviewed_at=seen, account_status="has_account")
        db.session.add(Finding(beneficiary_id=b.id, code="id_year_mismatch", severity="error",
                               message="Số định danh không khớp năm sinh.", source="check"))

    yield from live_server(tmp_path_factory.mktemp("people"), fill)


def _ids(app):
    with app.app_context():
        commune = db.session.query(Area).filter_by(code="21052", level="commune").one()
        village = db.session.query(Area).filter_by(parent_id=commune.id, level="village", name="Thôn An Thành").first() \
            or db.session.query(Area).filter(Area.parent_id == commune.id, Area.level == "village").first()
        out = commune.id, village.id
        db.session.remove()
    return out


def _no_sideways(page, viewport):
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


@pytest.mark.parametrize("viewport", SIZES)
def test_filter_people_of_the_commune_and_a_village(world, browser, viewport):
    base, app = world
    commune_id, village_id = _ids(app)
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems = console_problems(page)
    try:
        log_in_as(page, base, "commune")
        page.goto(f"{base}/communes/{commune_id}")
        page.click("a:has-text('Danh sách người hưởng')")
        page.wait_for_url(f"**/communes/{commune_id}/people")
        nav = page.locator("#filters")
        assert "Chưa rà soát" in nav.inner_text() and "55" in nav.inner_text()
        _no_sideways(page, viewport)
        nav.locator("a:has-text('Từ chối mở tài khoản')").click()
        page.wait_for_url("**show=refuses")
        assert page.locator("tbody tr").count() == 1 and "Phạm Thị Từ" in page.locator("tbody").inner_text()
        assert page.locator("#filters [aria-current]").inner_text().startswith("Từ chối")
        _no_sideways(page, viewport)
        page.locator("#filters a:has-text('Chưa rà soát')").click()
        page.wait_for_url("**show=not_visited")
        assert page.locator("tbody tr").count() == 50 and "Trang 1/2" in page.locator(".pager").inner_text()
        _no_sideways(page, viewport)
        page.click(".pager a:has-text('Trang sau')")
        page.wait_for_url("**page=2**")
        assert "show=not_visited" in page.url and page.locator("tbody tr").count() == 5
        page.goto(f"{base}/villages/{village_id}")
        page.locator("#filters a:has-text('Bị chặn chi trả')").click()
        page.wait_for_url("**show=blocked")
        assert page.locator("tbody tr").count() == 1 and "Võ Văn Chặn" in page.locator("tbody").inner_text()
        _no_sideways(page, viewport)
        page.click("tbody a:has-text('Võ Văn Chặn')")
        page.wait_for_url("**/households/*")
        # A full load (not boosted): the browser lands on the person's card, :target.
        assert page.evaluate("document.querySelector(':target') && document.querySelector(':target').id") \
            == "b" + page.url.rsplit("#b", 1)[1]
        assert "Võ Văn Chặn" in page.locator(":target").inner_text()
        assert problems == [], problems
    finally:
        context.close()
