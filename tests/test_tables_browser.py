"""The wider tables at 360 px (issue 13 §4), in real Chromium at 360 px and 1366 px over the
demo district: the payments (the lists, a list's lines and the payer's page), the changes
(the proposals and the month's), the admin's (targets, levels), the data quality
overview, a commune's page and the monthly report, for every role that sees them. No element is wider than the screen and nothing
scrolls sideways; at 360 px every table of these pages is stacked (``table.stack``) and each
of its cells says what its value is (``data-label``, shown before the value)."""
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Area, PaymentPeriod
from tests.test_screens_browser import CUT_CELLS, DESKTOP, PHONE, live, open_page  # noqa: F401

pytestmark = pytest.mark.browser

SIZES = [pytest.param(PHONE, id="360px"), pytest.param(DESKTOP, id="1366px")]

# Elements of main wider than the screen, or reaching past its right edge (a stacked
# table's header row is clipped to nothing, kept for screen readers: not counted).
WIDE = """() => {
  const w = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll('main *')) {
    if (e.closest('table.stack thead') && getComputedStyle(e.closest('thead')).position === 'absolute') continue;
    const r = e.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (r.right > w + 0.5 || r.left < -0.5) out.push(e.tagName + ' ' + e.textContent.trim().slice(0, 30) + ' (' + Math.round(r.left) + '–' + Math.round(r.right) + ')');
  }
  return out.slice(0, 10);
}"""
UNLABELLED = """() => [...document.querySelectorAll('main table.stack tbody td:not([data-label])')]
  .map(c => c.textContent.trim().slice(0, 30))"""
NOT_STACKED = "() => document.querySelectorAll('main table:not(.stack)').length"


def _period(demo_app):
    with demo_app.app_context():
        chanh = select(Area.id).where(Area.code == "21052").scalar_subquery()
        pid = db.session.scalar(select(PaymentPeriod.id).where(PaymentPeriod.commune_id.in_(chanh))
                                .order_by(PaymentPeriod.id.desc()).limit(1))
        db.session.remove()
    return pid


def _commune(demo_app):
    with demo_app.app_context():
        cid = db.session.scalar(select(Area.id).where(Area.code == "21052"))
        db.session.remove()
    return cid


PAGES = [("commune", "commune"), ("district", "commune"), ("district", "/reports/monthly"),
         ("commune", "/payments"), ("commune", "period"), ("commune", "/changes"),
         ("commune", "/changes/month"),
         ("district", "/payments"), ("district", "period"), ("district", "/changes"),
         ("district", "/changes/month"), ("district", "/quality"),
         ("payer", "/payments"), ("payer", "period"),
         ("admin", "/admin/targets"), ("admin", "/admin/levels"), ("admin", "/changes/month")]


@pytest.mark.parametrize("viewport", SIZES)
@pytest.mark.parametrize("role,path", PAGES, ids=[f"{r}{p}" for r, p in PAGES])
def test_wide_tables_stack_and_nothing_is_cut(live, demo_app, open_page, viewport, role, path):  # noqa: F811
    page = open_page(live, role, viewport)
    url = {"period": lambda: f"/payments/{_period(demo_app)}",
           "commune": lambda: f"/communes/{_commune(demo_app)}"}.get(path, lambda: path)()
    response = page.goto(f"{live}{url}")
    assert response.status == 200, url
    assert page.locator("main table").count(), f"no table on {url}"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{url} scrolls sideways: {width} px"
    assert page.evaluate(NOT_STACKED) == 0, f"{url}: a table is not stacked"
    assert page.evaluate(UNLABELLED) == [], url
    if viewport["width"] == PHONE["width"]:
        wide = page.evaluate(WIDE)
        assert not wide, f"{url}: wider than the screen:\n" + "\n".join(wide)
        cut = page.evaluate(CUT_CELLS)
        assert not cut, f"{url}: cells cut:\n" + "\n".join(cut)
        labelled = page.locator("main table.stack tbody td[data-label]:not([data-label=''])")
        if labelled.count():
            first = labelled.first
            caption = first.evaluate("c => getComputedStyle(c, '::before').content")
            assert caption.strip('"') == first.get_attribute("data-label")
    assert not page.problems, "\n".join(page.problems)
