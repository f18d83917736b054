"""Accessibility in real Chromium: axe-core (the pinned PyPI package
``axe-playwright-python``) on every kind of page of every role, the GOV.UK error pattern
on one form per blueprint, and the household page on a cheap phone (360×640).

The pages come from the byte-budget walker (tests/test_budgets.py): each role's walk on
the demo district, one page of each kind (endpoint) per role, and the login page.
"""
import threading

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import Area, Beneficiary
from tests.conftest import log_in_as, login
from tests.test_budgets import ROLES, walk

pytestmark = pytest.mark.browser

SERIOUS = ("serious", "critical")


@pytest.fixture(scope="module")
def live(demo_app):
    server = make_server("127.0.0.1", 0, demo_app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def kinds(demo_app):
    """role → ``[url]``: the first page of each kind the role's walk reached, and pages no
    link leads to: search results and a page that does not exist."""
    out = {}
    for role in ROLES:
        client = demo_app.test_client()
        login(client, role)
        first = {}
        for p in walk(client, "/")["pages"]:
            first.setdefault(p["kind"], p["url"])
        out[role] = list(first.values()) + ["/search?q=nguyen", "/no-such-page"]
    return out


def axe_problems(page):
    """``["rule (impact): target …"]`` for each serious or critical axe violation on the
    page as it is now."""
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {', '.join(t for n in v['nodes'] for t in n['target'])} — {v['help']}"
            for v in results.response["violations"] if v["impact"] in SERIOUS]


def test_axe_finds_a_serious_violation_when_there_is_one(browser, live):
    """The check can fail: an image without a text alternative and an unlabelled input."""
    page = browser.new_page()
    page.set_content('<!doctype html><html lang="vi"><title>t</title><main><input id="x">'
                     '<img src="data:,"></main></html>')
    problems = axe_problems(page)
    assert any(p.startswith("image-alt (critical)") for p in problems), problems
    assert any(p.startswith("label (critical)") for p in problems), problems
    page.close()


def test_login_page_has_no_serious_axe_violation(browser, live):
    page = browser.new_page()
    page.goto(f"{live}/login")
    assert axe_problems(page) == []
    page.close()


@pytest.mark.parametrize("role", ROLES)
def test_every_kind_of_page_has_no_serious_axe_violation(browser, live, kinds, role):
    context = browser.new_context()
    page = context.new_page()
    log_in_as(page, live, role)
    found = []
    for url in kinds[role]:
        page.goto(f"{live}{url}")
        found += [f"{role} {url}: {p}" for p in axe_problems(page)]
    print(f"\n{role}: axe on {len(kinds[role])} kinds of page")
    context.close()
    assert not found, "\n".join(found)


# The GOV.UK error pattern (style.md): after a plain POST (JavaScript off) with a mistake,
# the page answers 4xx, its title starts with "Lỗi:", an error summary (role=alert) sits
# above the fields with a link to each, and each field named there carries
# aria-invalid="true" and aria-describedby naming a message placed next to it that says
# the same; the input is kept.
GOVUK_CHECK = """() => {
  const out = [];
  const summary = document.querySelector('.error-summary');
  if (!document.title.startsWith('Lỗi:')) out.push('title without "Lỗi:": ' + document.title);
  if (!summary) return out.concat(['no error summary']);
  if (summary.getAttribute('role') !== 'alert') out.push('summary without role=alert');
  const links = [...summary.querySelectorAll('a[href^="#"]')];
  if (!links.length) out.push('summary without links to the fields');
  for (const a of links) {
    const id = a.getAttribute('href').slice(1);
    const f = document.getElementById(id);
    if (!f) { out.push('link to a missing #' + id); continue; }
    if (!['INPUT', 'SELECT', 'TEXTAREA'].includes(f.tagName)) { out.push('#' + id + ' is not a field'); continue; }
    if (document.querySelectorAll('[id="' + id + '"]').length > 1) out.push('#' + id + ' twice');
    if (!(summary.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING)) out.push('summary after #' + id);
    if (f.getAttribute('aria-invalid') !== 'true') out.push('#' + id + ' without aria-invalid');
    const described = (f.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean)
      .map(d => document.getElementById(d)).filter(Boolean);
    const msg = described.find(d => d.textContent.includes(a.textContent.trim()));
    if (!msg) { out.push('#' + id + ': no aria-describedby message saying «' + a.textContent.trim() + '»'); continue; }
    const near = f.closest('.field, form');
    if (!near || !near.contains(msg)) out.push('#' + id + ': its message is not next to it');
  }
  return out;
}"""


def _first(demo_app, query):
    """The first row of ``query`` on the demo data (a value when it has one column)."""
    with demo_app.app_context():
        row = tuple(db.session.execute(query).first())
        db.session.remove()
        return row[0] if len(row) == 1 else row


def _chanh_person(demo_app):
    chanh = select(Area.id).where(Area.code == "21052", Area.valid_to.is_not(None)).scalar_subquery()
    return _first(demo_app, select(Beneficiary.id).where(Beneficiary.commune_id == chanh,
                                                         Beneficiary.status == "active").order_by(Beneficiary.id))


def _unreviewed(demo_app):
    chanh = select(Area.id).where(Area.code == "21052", Area.valid_to.is_not(None)).scalar_subquery()
    return _first(demo_app, select(Beneficiary.id, Beneficiary.household_id).where(
        Beneficiary.commune_id == chanh, Beneficiary.reviewed_at.is_(None)).order_by(Beneficiary.id.desc()))


def _auth(page, base, app):
    page.goto(f"{base}/login")
    page.fill("#username", "")
    page.click("main button")


def _imports(page, base, app):
    page.goto(f"{base}/imports/new")
    page.click("main form button")


def _registry(page, base, bid):
    page.goto(f"{base}/beneficiaries/{bid}/edit")
    page.fill("#national_id", "12345")
    page.click("main form button")


def _quality(page, base, app):
    page.goto(f"{base}/quality")
    field = page.locator("input[id$='-national_id-value']").first
    field.fill("12345")
    field.locator("xpath=ancestor::form").locator("button").click()


def _police(page, base, app):
    page.goto(f"{base}/police")
    page.locator("article.person form button").first.click()  # no result chosen


def _payments(page, base, app):
    page.goto(f"{base}/payments")
    page.fill("#month", "2024-13")
    page.click("main form button")


def _admin(page, base, app):
    page.goto(f"{base}/admin/targets")
    page.locator("main input[type=number]").first.fill("150")
    page.click("main form button")


def _changes(page, base, bid):
    page.goto(f"{base}/changes/new/{bid}")
    page.fill("#effective_month", "")
    page.click("main form button")


def _reports(page, base, app):
    page.goto(f"{base}/reports/monthly?month=2024-13")


def _review(page, base, bid, household):
    page.goto(f"{base}/households/{household}")
    page.select_option(f"#b{bid}-account_status", "has_account")
    page.select_option(f"#b{bid}-payment_method", "account")
    page.fill(f"#b{bid}-number", "")
    page.click(f"#b{bid} form button")


FORMS = {  # blueprint → (user, how to make a mistake)
    "auth": (None, _auth),
    "imports": ("commune", _imports),
    "registry": ("commune", lambda page, base, app: _registry(page, base, _chanh_person(app))),
    "quality": ("commune", _quality),
    "police": ("police", _police),
    "payments": ("commune", _payments),
    "admin": ("admin", _admin),
    "changes": ("commune", lambda page, base, app: _changes(page, base, _chanh_person(app))),
    "reports": ("district", _reports),
    "review": ("commune", lambda page, base, app: _review(page, base, *_unreviewed(app))),
}


@pytest.mark.parametrize("blueprint", list(FORMS))
def test_form_errors_follow_the_govuk_pattern(browser, live, demo_app, blueprint):
    username, mistake = FORMS[blueprint]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    if username:
        log_in_as(page, live, username)
    documents = []
    page.on("response", lambda r: documents.append(r) if r.request.resource_type == "document" else None)
    mistake(page, live, demo_app)
    page.wait_for_load_state()
    assert documents and 400 <= documents[-1].status < 500, [r.status for r in documents]
    problems = page.evaluate(GOVUK_CHECK)
    html, url = page.content(), page.url
    context.close()
    problems += [f"axe: {p}" for p in axe_on(browser, url, html)]
    assert not problems, f"{blueprint}: " + "\n".join(problems)


def axe_on(browser, url, html):
    """axe on ``html`` as if served at ``url`` (axe needs scripts, which the page with the
    error was shown without): the same markup, with the site's stylesheet."""
    context = browser.new_context()
    page = context.new_page()
    page.route(url, lambda route: route.fulfill(status=200, body=html, content_type="text/html"))
    page.goto(url)
    problems = axe_problems(page)
    context.close()
    return problems


# Every visible control at least 44×44 CSS px (WCAG 2.5.5), except a link that is inline
# text in a sentence (a paragraph, list item, cell or heading with other text); a checkbox
# or radio counts by the label around it.
TOUCH_CHECK = """() => {
  const small = [];
  const visible = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !el.closest('[hidden]'); };
  const inlineText = el => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
    const block = el.closest('p, li, td, dd, dt, h1, h2, h3, h4, span.muted');
    return block && block.textContent.trim().length > el.textContent.trim().length;
  };
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className ? '.' + String(el.className).split(' ').join('.') : '') + ' «' + (el.textContent || el.name || '').trim().slice(0, 30) + '»';
  for (let el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')) {
    if (!visible(el) || inlineText(el)) continue;
    if (el.matches('input[type=checkbox], input[type=radio]')) el = el.closest('label') || (el.labels && el.labels[0]) || el;
    const r = el.getBoundingClientRect();
    if (r.width < 44 || r.height < 44) small.push(describe(el) + ' ' + Math.round(r.width) + '×' + Math.round(r.height));
  }
  return small;
}"""


def test_household_page_on_a_cheap_phone(browser, live, demo_app):
    """At 360×640: no horizontal scrolling and touch targets of at least 44 px, on a
    household of several people, each with the form open."""
    with demo_app.app_context():
        chanh = select(Area.id).where(Area.code == "21052", Area.valid_to.is_not(None)).scalar_subquery()
        household = db.session.execute(
            select(Beneficiary.household_id, func.count()).where(Beneficiary.commune_id == chanh)
            .group_by(Beneficiary.household_id).order_by(func.count().desc()).limit(1)).first()[0]
        db.session.remove()
    context = browser.new_context(viewport={"width": 360, "height": 640}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in_as(page, live, "commune")
    page.goto(f"{live}/households/{household}")
    for summary in page.locator("details:not([open]) > summary").all():
        summary.click()  # every person's form open
    width = page.evaluate("document.documentElement.scrollWidth")
    small = page.evaluate(TOUCH_CHECK)
    context.close()
    assert width <= 360, f"scrolls sideways: {width} px"
    assert not small, "touch targets under 44×44 px:\n" + "\n".join(small)
