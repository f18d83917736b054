"""Small screens and the CSP (issue 13 §4) in real Chromium at 360×640 and 1366×768, on
the demo district:

- no console error and no Content-Security-Policy violation while each demo role walks
  the pages of its header (boosted clicks), the commune officer saving a household too;
- the phone header takes at most 80 px of 640;
- a boosted navigation after scrolling down lands at the top of the new page;
- at 360 px the village table, an import's issues and the ranking fit the screen: no
  sideways scroll and no cell cut (the rows are stacked cards).
"""
import re
import threading

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import Area, Beneficiary, User
from tests import filegen
from tests.conftest import log_in_as
from tests.factories import make_user
from tests.test_budgets import ROLES

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 640}
DESKTOP = {"width": 1366, "height": 768}
SIZES = [pytest.param(PHONE, id="360px"), pytest.param(DESKTOP, id="1366px")]
HEADER_MAX = 80  # px of the phone's 640

# Every CSP violation is said on the console too, where the collector hears it.
CSP_LISTENER = """document.addEventListener('securitypolicyviolation', e =>
  console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"""

# Cells wider than the screen or cut by their own box: "text of the cell (px)".
CUT_CELLS = """() => {
  const w = document.documentElement.clientWidth, out = [];
  for (const c of document.querySelectorAll('main td, main th')) {
    // A stacked table's header row: clipped to nothing, kept for screen readers.
    if (c.closest('table.stack thead') && getComputedStyle(c.closest('thead')).position === 'absolute') continue;
    const r = c.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (r.right > w + 0.5 || r.left < -0.5 || c.scrollWidth > c.clientWidth + 1)
      out.push(c.textContent.trim().slice(0, 40) + ' (' + Math.round(r.left) + '–' + Math.round(r.right) + ')');
  }
  return out;
}"""


@pytest.fixture(scope="module")
def live(demo_app):
    server = make_server("127.0.0.1", 0, demo_app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def open_page(browser):
    """``open_page(base, username, viewport)``: a logged-in page whose console errors,
    uncaught exceptions and CSP violations gather in ``page.problems``."""
    contexts = []

    def open_as(base, username, viewport):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.problems = []
        page.on("console", lambda m: m.type == "error" and page.problems.append(f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: page.problems.append(f"{page.url}: uncaught {e}"))
        log_in_as(page, base, username)
        return page
    yield open_as
    for c in contexts:
        c.close()


def follow(page, selector):
    """Click the link ``selector`` and wait until htmx has swapped and settled the new page
    (or the browser has loaded it, for a link that is not boosted)."""
    page.evaluate("""() => { window.__settled = false;
      document.addEventListener('htmx:afterSettle', () => { window.__settled = true; }, {once: true}); }""")
    page.locator(selector).first.click()
    page.wait_for_function("() => window.__settled !== false")
    page.wait_for_load_state()


def _chanh_household(demo_app):
    """``(household id, its village id, a beneficiary of it)`` in Bình Chánh, the biggest."""
    with demo_app.app_context():
        chanh = select(Area.id).where(Area.code == "21052", Area.valid_to.is_not(None)).scalar_subquery()
        hh = db.session.execute(
            select(Beneficiary.household_id, func.min(Beneficiary.village_id), func.min(Beneficiary.id))
            .where(Beneficiary.commune_id == chanh, Beneficiary.status == "active")
            .group_by(Beneficiary.household_id).order_by(func.count().desc()).limit(1)).first()
        db.session.remove()
    return tuple(hh)


def test_the_console_check_can_fail(browser, live, open_page):
    """An inline style is refused by the CSP and the collector hears it."""
    page = open_page(live, "commune", PHONE)
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<style>p{color:red}</style>')")
    page.wait_for_timeout(100)
    assert any("CSP violation: style-src" in p for p in page.problems), page.problems


@pytest.mark.parametrize("viewport", SIZES)
@pytest.mark.parametrize("role", ROLES)
def test_no_console_error_or_csp_violation(live, demo_app, open_page, role, viewport):
    page = open_page(live, role, viewport)
    links = page.eval_on_selector_all("header.top nav a", "as => as.map(a => a.getAttribute('href'))")
    assert links, "no navigation in the header"
    for href in links:
        follow(page, f"header.top nav a[href='{href}']")
        inner = page.eval_on_selector_all(
            "main a[href^='/']:not([download]):not([href*='.xlsx'])", "as => as.map(a => a.getAttribute('href'))")
        if inner:
            follow(page, f"main a[href='{inner[0]}']")
    if role == "commune":
        household, _village, bid = _chanh_household(demo_app)
        page.goto(f"{live}/households/{household}")
        summary = page.locator(f"#b{bid} details:not([open]) > summary")
        if summary.count():
            summary.first.click()
        page.select_option(f"#b{bid}-account_status", "no_account")
        page.select_option(f"#b{bid}-payment_method", "cash")
        page.fill(f"#b{bid}-no_account_reason", "Chưa có CCCD gắn chip")
        page.fill(f"#b{bid}-visited_on", "2024-05-10")
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/review")) as saved:
            follow(page, f"#b{bid} form button:has-text('Lưu')")
        assert saved.value.status == 200, saved.value.text()[:300]
    assert not page.problems, "\n".join(page.problems)


LONG_NAME = "canbo-vanhoa-xa-binhson-ten-dai"  # a user name the form allows (up to 60)


@pytest.mark.parametrize("role", [*ROLES, LONG_NAME])
def test_the_phone_header_takes_at_most_80px(live, demo_app, open_page, role):
    if role == LONG_NAME:  # a long name is cut short, «Thoát» stays on the screen
        with demo_app.app_context():
            if db.session.scalar(select(User.id).where(User.username == LONG_NAME)) is None:
                make_user(LONG_NAME, "commune", "21052")
            db.session.remove()
    page = open_page(live, role, PHONE)
    height = page.evaluate("document.querySelector('header.top').getBoundingClientRect().height")
    assert height <= HEADER_MAX, f"the header is {height} px high"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Nothing in the row shrinks under its text or overlaps the next (the brand did, under
    # «English»), and the way out is on the screen before any sideways scroll.
    boxes = sorted(page.eval_on_selector_all("header.top > *", """els => els.map(e => {
        const r = e.getBoundingClientRect(); return [r.x, r.x + r.width, e.scrollWidth - e.clientWidth]; })"""))
    assert all(cut <= 1 for *_, cut in boxes), boxes
    assert all(a[1] <= b[0] + 1 for a, b in zip(boxes, boxes[1:])), boxes
    out = page.locator("header.top .who button").bounding_box()
    assert out["x"] + out["width"] <= PHONE["width"], out
    # Every link and button is still there, 44 px high, reachable on the screen (in the
    # header's own sideways row, or by opening a menu if there is one).
    menu = page.locator("header.top details > summary")
    if menu.count():
        menu.click()
    for link in page.locator("header.top nav a, header.top button").all():
        link.scroll_into_view_if_needed()  # the header's row scrolls sideways on its own
        assert link.is_visible(), link.get_attribute("href")
        box = link.bounding_box()
        assert box["height"] >= 44 and box["x"] >= -1 and box["x"] + box["width"] <= PHONE["width"] + 1


@pytest.mark.parametrize("viewport", SIZES)
def test_a_boosted_navigation_starts_at_the_top(live, demo_app, open_page, viewport):
    _household, village, _bid = _chanh_household(demo_app)
    page = open_page(live, "commune", viewport)
    page.goto(f"{live}/villages/{village}")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert page.evaluate("window.scrollY") > 0, "the page is too short to scroll"
    href = page.locator("main tbody a").last.get_attribute("href")
    follow(page, f"main tbody a[href='{href}']")
    assert page.url.endswith(href)
    assert page.evaluate("document.body.hasAttribute('hx-boost')")
    assert page.evaluate("window.scrollY") == 0
    assert not page.problems, "\n".join(page.problems)


def _upload_with_issues(page, live, tmp_path):
    """An uploaded list with problems planted: the import's preview page."""
    people = filegen.make_people(12, seed=77)
    filegen.plant_problems(people)
    path = tmp_path / "ds-loi.csv"
    filegen.write_list(people, "csv_semicolon_bom", path, program="BTXH", month="2024-05")
    page.goto(f"{live}/imports/new")
    page.set_input_files("#file", str(path))
    page.select_option("#program", "BTXH")
    page.fill("#month", "2024-05")
    page.click("main button:has-text('Xem trước')")
    page.wait_for_url(re.compile(r"/imports/\d+$"))
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("viewport", SIZES)
@pytest.mark.parametrize("which", ["village", "import issues", "ranking"])
def test_no_table_is_cut(live, demo_app, open_page, viewport, which, tmp_path):
    page = open_page(live, "district" if which == "ranking" else "commune", viewport)
    if which == "village":
        page.goto(f"{live}/villages/{_chanh_household(demo_app)[1]}")
    elif which == "ranking":
        page.goto(f"{live}/reports/ranking")
    else:
        _upload_with_issues(page, live, tmp_path)
        assert page.locator("main td .tag").count(), "no issue in the table"
    assert page.locator("main tbody tr").count() >= 2
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"scrolls sideways: {width} px"
    cut = page.evaluate(CUT_CELLS)
    assert not cut, "cells cut:\n" + "\n".join(cut)
    if viewport["width"] == PHONE["width"]:  # stacked: each caption says what its value is
        cells = page.locator("main tbody td[data-label]")
        assert cells.count(), "no data-label on the cells"
        caption = page.evaluate("getComputedStyle(document.querySelector('main tbody td[data-label]'), '::before').content")
        assert caption.strip('"') == cells.first.get_attribute("data-label")
    assert not page.problems, "\n".join(page.problems)
