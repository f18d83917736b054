"""Outreach in real Chromium at 360 px and 1366 px (issue 13 §2): a refusal recorded with
its reason and revisit on the household page, a communication session added on the
commune's page, the village's «who still needs a visit» list and its print view (printed
on A4: no header, nothing wider than the page). Nothing scrolls sideways, no console error.

The server runs over a small world of its own: a household of two in commune 21052.
"""
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Beneficiary, OutreachSession
from tests.conftest import console_problems, live_server, log_in_as

pytestmark = pytest.mark.browser

SIZES = [pytest.param({"width": 360, "height": 640}, id="360px"),
         pytest.param({"width": 1366, "height": 768}, id="1366px")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tests.factories import person

    def fill():
        a = person(name="Nguyễn Văn An", phone="0905123456")
        person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=a.household)

    yield from live_server(tmp_path_factory.mktemp("outreach"), fill)


def _people(app):
    with app.app_context():
        out = {b.full_name: (b.id, b.household_id, b.village_id, b.commune_id, b.account_status,
                             b.refusal_reason, b.revisit_on and b.revisit_on.isoformat())
               for b in db.session.scalars(select(Beneficiary))}
        n = db.session.scalar(select(func.count()).select_from(OutreachSession))
        db.session.remove()
    return out, n


def _fits(page, width):
    return page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("viewport", SIZES)
def test_refusal_session_and_visit_list(world, browser, viewport):
    base, app = world
    people, sessions = _people(app)
    an_id, household, village, commune = people["Nguyễn Văn An"][:4]
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems = console_problems(page)
    log_in_as(page, base, "commune")

    # 1. A refusal with its reason and a revisit, saved through htmx.
    page.goto(f"{base}/households/{household}")
    card = f"#b{an_id}"
    if page.locator(f"{card} details").get_attribute("open") is None:  # reviewed: the form is folded
        page.click(f"{card} summary")
    page.select_option(f"{card} select[name='b{an_id}-account_status']", "refuses")
    page.select_option(f"{card} select[name='b{an_id}-refusal_reason']", "far")
    page.fill(f"{card} input[name='b{an_id}-revisit_on']", "2024-06-15")
    assert _fits(page, viewport["width"])
    page.click(f"{card} button:has-text('Lưu')")
    page.wait_for_selector(f"{card} [role=status]:has-text('Đã lưu')")
    assert "Xa ATM" in page.inner_text(card) and "15/06/2024" in page.inner_text(card)
    after, _n = _people(app)
    assert after["Nguyễn Văn An"][4:] == ("refuses", "far", "2024-06-15")

    # 2. A session added on the commune's outreach page (linked from the commune page).
    page.goto(f"{base}/communes/{commune}")
    page.click("main a:has-text('Các buổi truyền thông')")
    page.wait_for_url(f"**/communes/{commune}/outreach")
    if page.locator("#sessions details").get_attribute("open") is None:
        page.click("#sessions summary")
    place = f"Nhà văn hóa {viewport['width']}"
    page.fill("input[name='s-held_on']", "2024-05-20")
    page.fill("input[name='s-place']", place)
    page.fill("input[name='s-attendees']", "35")
    page.fill("textarea[name='s-topic']", "Lợi ích của nhận trợ cấp qua tài khoản")
    page.click("#sessions button:has-text('Ghi')")
    page.wait_for_selector(f"#sessions td:has-text('{place}')")
    assert _people(app)[1] == sessions + 1
    assert _fits(page, viewport["width"])

    # 3. Who still needs a visit: Bích (not reviewed), not An (revisit in June).
    page.goto(f"{base}/villages/{village}")
    page.click("main a:has-text('Danh sách cần đến vận động')")
    page.wait_for_url(f"**/villages/{village}/visits")
    main = page.inner_text("main")
    assert "Trần Thị Bích 1950" in main and "Nguyễn Văn An 1950" not in main and "051155000111" not in main
    assert _fits(page, viewport["width"])
    page.click("main a:has-text('Bản in')")
    page.wait_for_url("**print=1*")
    page.emulate_media(media="print")
    assert page.locator(".top").first.is_hidden() and page.locator(".noprint").first.is_hidden()
    assert page.locator(".sheet-title").is_visible()
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    assert _fits(page, 794)
    assert not problems, problems
    context.close()
