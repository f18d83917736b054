"""An upload whose month is missing, in real Chromium at 360 px and 1366 px (issue 13 §4):
the form comes back saying the file is kept, the user types the month only and sends it
again, and the preview opens; nothing scrolls sideways, no console error."""
import re

import pytest

from tests import filegen
from tests.conftest import console_problems, live_server, log_in_as

pytestmark = pytest.mark.browser

SIZES = [pytest.param({"width": 360, "height": 640}, id="360px"),
         pytest.param({"width": 1366, "height": 768}, id="1366px")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from live_server(tmp_path_factory.mktemp("kept"))


@pytest.mark.parametrize("viewport", SIZES)
def test_fix_the_month_without_choosing_the_file_again(world, browser, viewport, tmp_path):
    base, _app = world
    path = tmp_path / "ds-khong-thang.csv"
    path.write_bytes(filegen.write_list(filegen.make_people(8, seed=5), "csv_comma"))  # no title: no month
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems = console_problems(page)
    log_in_as(page, base, "commune")
    page.goto(f"{base}/imports/new")
    page.set_input_files("#file", str(path))
    page.select_option("#program", "BTXH")
    page.click("main button:has-text('Xem trước')")
    page.wait_for_load_state()
    kept = page.locator("#kept-file")
    assert kept.is_visible() and "ds-khong-thang.csv" in kept.inner_text()
    assert "không cần chọn lại" in kept.inner_text()
    assert page.locator("#month-error").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.locator("main button:has-text('Chọn tệp khác')").is_visible()
    page.fill("#month", "2024-05")  # the file input is empty: the kept file is read
    assert page.eval_on_selector("#file", "f => f.files.length") == 0
    page.click("main button:has-text('Xem trước')")
    page.wait_for_url(re.compile(r"/imports/\d+$"))
    assert "ds-khong-thang.csv" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    # The form sent back with its error is a 422, which the console reports; nothing else.
    assert [p for p in problems if "status of 422" not in p] == [], problems
    context.close()
