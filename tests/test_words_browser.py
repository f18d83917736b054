"""Words (issue 13 §5), in real Chromium at 360 px and 1366 px over the demo district: the
English option covers the whole shell (the header, and the column heads, labels, buttons
and menus of the working pages, the new outreach and filter pages included) and the
switch and back work from the header. A text left in Vietnamese is one the English page
shows as the Vietnamese page does (a person's or a place's name is data: it shows in
both, inside different words)."""
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Area
from tests.test_screens_browser import SIZES, _chanh_household, live, open_page  # noqa: F401

pytestmark = pytest.mark.browser

# Letters only Vietnamese uses (and its tone marks): none may remain in the English shell.
VIETNAMESE = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]")
SHELL = """() => [...document.querySelectorAll(
  'header.top nav a, header.top .who button, main th, main label, main button, main summary, main caption')]
  .map(e => e.textContent.trim()).filter(t => t)"""


def _commune(demo_app):
    with demo_app.app_context():
        cid = db.session.scalar(select(Area.id).where(Area.code == "21052"))
        db.session.remove()
    return cid


@pytest.mark.parametrize("viewport", SIZES)
def test_the_english_option_covers_the_shell(live, demo_app, open_page, viewport):  # noqa: F811
    household, village, _bid = _chanh_household(demo_app)
    commune = _commune(demo_app)
    page = open_page(live, "commune", viewport)
    urls = (f"/communes/{commune}", f"/villages/{village}", f"/villages/{village}?show=not_visited",
                f"/households/{household}", f"/communes/{commune}/people", f"/communes/{commune}/outreach",
                f"/villages/{village}/visits", f"/quality/communes/{commune}", "/payments", "/changes",
                "/reports/monthly", "/imports/new", "/account/password")
    vietnamese = {}
    for url in urls:
        assert page.goto(f"{live}{url}").status == 200, url
        vietnamese[url] = set(page.evaluate(SHELL))
        assert any(VIETNAMESE.search(t) for t in vietnamese[url]), url  # the check has words to catch
    page.locator("header.top .lang button").click()
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.lang") == "en"
    for url in urls:
        assert page.goto(f"{live}{url}").status == 200, url
        left = [t for t in page.evaluate(SHELL) if VIETNAMESE.search(t) and t in vietnamese[url]]
        assert not left, f"{url}: Vietnamese left in the English shell: {left[:8]}"
    # And back: the button says so in Vietnamese, and the shell is Vietnamese again.
    back = page.locator("header.top .lang button")
    assert back.inner_text() == "Tiếng Việt"
    back.click()
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.lang") == "vi"
    assert "Thoát" in page.locator("header.top .who button").inner_text()
    assert not page.problems, "\n".join(page.problems)
