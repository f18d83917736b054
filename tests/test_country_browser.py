"""The country overview in real Chromium at 360 px and 1366 px: a national admin sees the
provinces, nothing scrolls sideways, and a province's link leads to its communes'
overview (``?area=``), with no console error or CSP violation.

The server runs over a small world of its own (a SQLite file): the packaged areas, a second
province (Thành phố Hà Nội, two wards) and a few people in each, open month 08/2025.
"""
import pytest

from portal.services import areas
from tests.conftest import console_problems, live_server, log_in_as
from tests.test_country import HANOI, MONTH, national

pytestmark = pytest.mark.browser

SIZES = [pytest.param({"width": 360, "height": 740}, id="360px"),
         pytest.param({"width": 1366, "height": 768}, id="1366px")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.factories import person, with_account

    def fill():
        areas.load_gso_rows(HANOI)
        with_account(person("21052", name="Nguyễn Văn An", national_id="051050000001"))
        person("00004", village="Tổ 1", name="Phạm Văn Dũng", national_id="001050000005")
        national()

    for base, _app in live_server(tmp_path_factory.mktemp("country"), fill, CAMPAIGN_MONTH=MONTH):
        yield base  # the server stops when the loop ends


@pytest.mark.parametrize("viewport", SIZES)
def test_the_country_overview_fits_and_drills_down(server, browser, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems = console_problems(page)
    try:
        log_in_as(page, server, "bo")
        page.goto(f"{server}/overview")
        rows = page.locator("section.commune-row h2 a")
        # Laggards first: Hà Nội's one person has no account, Quảng Ngãi's is paid into one.
        assert rows.all_inner_texts() == ["Thành phố Hà Nội", "Tỉnh Quảng Ngãi"]
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.click("text=Thành phố Hà Nội")
        page.wait_for_url(lambda url: "area=" in url)
        assert page.locator("h1").inner_text().startswith("Thành phố Hà Nội")
        assert sorted(page.locator("section.commune-row h2 a").all_inner_texts()) == ["Phường Ba Đình",
                                                                                      "Phường Ngọc Hà"]
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.fill("#q", "ba dinh")
        page.click("form.search button")
        page.wait_for_url(lambda url: "q=ba" in url and "area=" in url)
        assert page.locator("section.commune-row h2 a").all_inner_texts() == ["Phường Ba Đình"]
        page.click("text=‹ Cả nước")
        page.wait_for_url(lambda url: "area=" not in url)
        assert page.locator("section.commune-row").count() == 2
        assert problems == []
    finally:
        context.close()
