"""Byte and request budgets (budgets.md), asserted on the demo district for each role's
pages: every HTML page ≤ 14,600 B compressed, an htmx status update ≤ 2,000 B, the
stylesheet ≤ 6,000 B, at most 4 requests per first page view, the assets fingerprinted,
pre-compressed and cached immutable.

:func:`walk` logs nothing in: given a logged-in test client it visits every page reachable
from a start page by same-origin links, breadth-first, and measures each; the browser tests
(tests/test_a11y_browser.py) reuse its list of pages.
"""
import gzip
import hashlib
import re
from collections import Counter, deque
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import brotli
import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from portal.extensions import db
from portal.models import Area, Beneficiary
from tests.conftest import csrf_token, login

PAGE_BUDGET = 14_600
UPDATE_BUDGET = 2_000
CSS_BUDGET = 6_000
ENC = {"Accept-Encoding": "br, gzip"}


def compressed_size(resp):
    assert resp.headers.get("Content-Encoding") in ("br", "gzip"), "response not compressed"
    return len(resp.data)


ROLES = ["admin", "district", "commune", "police", "payer"]
PAGE_LIMIT = 150  # pages walked per role at most
# Never followed: leaving (POST anyway), the language switch, assets, and downloads.
SKIP_PREFIXES = ("/logout", "/lang", "/assets/", "/static/")
DOWNLOAD = re.compile(r"\.(xlsx|xls|csv|json|pdf|zip)$")


class _PageLinks(HTMLParser):
    """The ``<a href>`` of a page (downloads apart) and whether it has htmx targets."""

    def __init__(self):
        super().__init__()
        self.links, self.htmx = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if any(k in attrs for k in ("hx-target", "hx-get", "hx-swap-oob")):
            self.htmx = True
        if tag == "a" and attrs.get("href") and "download" not in attrs:
            self.links.append(attrs["href"])


def normalise(href, base="http://localhost/"):
    """A link as the walker keys it: ``/path?a=1&b=2`` (same origin, query sorted, empty
    values and the fragment dropped), or None for what is not a page to walk."""
    url = urlsplit(urljoin(base, href))
    if url.scheme not in ("http", "https") or url.netloc not in ("localhost", urlsplit(base).netloc):
        return None
    if url.path.startswith(SKIP_PREFIXES) or DOWNLOAD.search(url.path):
        return None
    query = sorted((k, v) for k, v in parse_qsl(url.query) if v)
    if any(k == "format" for k, _ in query):  # ?format=xlsx: a download
        return None
    return url.path + (f"?{urlencode(query)}" if query else "")


def wire_size(resp):
    """Bytes of the body as sent (compressed when the server compressed it)."""
    return len(resp.get_data())


def decoded(body, encoding):
    """The text of a body sent with ``Content-Encoding: encoding`` (br, gzip or none)."""
    if encoding == "br":
        body = brotli.decompress(body)
    elif encoding == "gzip":
        body = gzip.decompress(body)
    return body.decode()


def walk(client, start, limit=PAGE_LIMIT):
    """Visit the pages reachable from ``start`` by same-origin GET links, as the logged-in
    ``client`` sees them, with ``Accept-Encoding: br, gzip``.

    Breadth-first within each kind of page (its endpoint), taking kinds in turn, the least
    visited first, so that ``limit`` pages cover every kind before a 13th household. A page
    with htmx targets is also fetched as a plain htmx request (``HX-Request: true``, the
    fragment). Redirects are followed as links.

    Returns ``{"pages": [{"url", "kind", "size", "encoding", "htmx_size"}], "broken":
    [(url, status)], "left": n}``: sizes in bytes on the wire, ``htmx_size`` None without
    htmx targets, ``left`` the links found but not walked because of ``limit``.
    """
    adapter = client.application.url_map.bind("localhost")

    def kind_of(url):
        try:
            return adapter.match(urlsplit(url).path, method="GET")[0]
        except HTTPException:
            return "?"

    queues, seen, visited = {}, set(), Counter()
    seq = 0

    def push(href, base):
        nonlocal seq
        url = normalise(href, base)
        if url and url not in seen:
            seen.add(url)
            seq += 1
            queues.setdefault(kind_of(url), deque()).append((seq, url))

    push(start, "http://localhost/")
    pages, broken = [], []
    while len(pages) < limit and any(queues.values()):
        kind = min((k for k, q in queues.items() if q), key=lambda k: (visited[k], queues[k][0][0]))
        _, url = queues[kind].popleft()
        visited[kind] += 1
        resp = client.get(url, headers=ENC)
        if resp.status_code in (301, 302, 303, 307, 308):
            push(resp.headers["Location"], "http://localhost" + url)
            continue
        if resp.status_code != 200:
            broken.append((url, resp.status_code))
            continue
        if resp.mimetype != "text/html":
            continue
        encoding = resp.headers.get("Content-Encoding")
        body = resp.get_data()
        html = decoded(body, encoding)
        parser = _PageLinks()
        parser.feed(html)
        htmx_size = None
        if parser.htmx:
            fragment = client.get(url, headers={**ENC, "HX-Request": "true"})
            assert fragment.status_code == 200, (url, fragment.status_code)
            htmx_size = wire_size(fragment)
        pages.append({"url": url, "kind": kind, "size": len(body), "encoding": encoding,
                      "htmx_size": htmx_size})
        for href in parser.links:
            push(href, "http://localhost" + url)
    return {"pages": pages, "broken": broken, "left": sum(len(q) for q in queues.values())}


def over_budget(pages, budget=PAGE_BUDGET):
    """``[(url, variant, size)]`` of the walked pages over ``budget`` bytes (variant
    ``page`` or ``htmx``)."""
    out = []
    for p in pages:
        if p["size"] > budget:
            out.append((p["url"], "page", p["size"]))
        if p["htmx_size"] is not None and p["htmx_size"] > budget:
            out.append((p["url"], "htmx", p["htmx_size"]))
    return out


@pytest.fixture
def demo_client(demo_app):
    with demo_app.app_context():
        yield demo_app.test_client()


def main_pages(role):
    chanh = db.session.scalar(select(Area).where(Area.code == "21052", Area.level == "commune",
                                                 Area.valid_to.is_not(None)))
    village = db.session.execute(
        select(Beneficiary.village_id, func.count()).where(Beneficiary.commune_id == chanh.id)
        .group_by(Beneficiary.village_id).order_by(func.count().desc()).limit(1)).first()[0]
    household = db.session.execute(
        select(Beneficiary.household_id, func.count()).where(Beneficiary.commune_id == chanh.id)
        .group_by(Beneficiary.household_id).order_by(func.count().desc()).limit(1)).first()[0]
    commune_pages = [f"/communes/{chanh.id}", f"/villages/{village}", f"/households/{household}",
                     "/search?q=nguyen", "/export", f"/quality/communes/{chanh.id}"]
    return {
        "commune": commune_pages + ["/imports/new", "/payments"],
        "police": [p for p in commune_pages if p != "/export"] + ["/police"],
        "district": ["/overview", f"/communes/{chanh.id}", "/search?q=tran", "/imports/new", "/quality"],
        "admin": ["/overview", "/admin/targets", "/quality"],
        "payer": ["/overview", "/payments"],
    }[role]


def test_login_page_budget(demo_client):
    r = demo_client.get("/login", headers=ENC)
    assert compressed_size(r) <= PAGE_BUDGET


@pytest.mark.parametrize("role", ["commune", "police", "district", "admin", "payer"])
def test_main_pages_within_budget(demo_client, role):
    login(demo_client, role)
    for url in main_pages(role):
        r = demo_client.get(url, headers=ENC)
        assert r.status_code == 200, url
        size = compressed_size(r)
        assert size <= PAGE_BUDGET, f"{role} {url}: {size} B compressed"
        html = brotli.decompress(r.data).decode() if r.headers["Content-Encoding"] == "br" else None
        if html:
            # HTML + stylesheet + htmx: no fonts, images or other scripts; the favicon inline.
            assets = set(re.findall(r'(?:src|href)="(/assets/[^"]+)"', html))
            assert len(assets) + 1 <= 4, assets
            assert not re.search(r'<img|<link[^>]+font|https?://', html.split("</head>")[0])


def test_stylesheet_budget(demo_client):
    login(demo_client, "commune")
    html = demo_client.get("/search").get_data(as_text=True)
    css = re.search(r'href="(/assets/app\.[0-9a-f]+\.css)"', html).group(1)
    assert compressed_size(demo_client.get(css, headers=ENC)) <= CSS_BUDGET


def test_status_update_budget(demo_client):
    login(demo_client, "commune")
    chanh = db.session.scalar(select(Area).where(Area.code == "21052", Area.valid_to.is_not(None)))
    b = db.session.scalars(select(Beneficiary).where(Beneficiary.commune_id == chanh.id,
                                                     Beneficiary.account_status != "has_account")).first()
    page = demo_client.get(f"/households/{b.household_id}").get_data(as_text=True)
    version = re.search(rf'name="b{b.id}-version"[^>]*value="(\d+)"', page).group(1)
    data = {"csrf_token": csrf_token(demo_client, f"/households/{b.household_id}"),
            f"b{b.id}-version": version, f"b{b.id}-account_status": "has_account",
            f"b{b.id}-payment_method": "account", f"b{b.id}-bank_bin": "970449",
            f"b{b.id}-number": "123456789012", f"b{b.id}-recipient_type": "self"}
    r = demo_client.post(f"/beneficiaries/{b.id}/review", data=data, headers={**ENC, "HX-Request": "true"})
    assert r.status_code == 200
    size = compressed_size(r)
    assert size <= UPDATE_BUDGET, f"status update response {size} B"


@pytest.fixture(scope="module")
def walks(demo_app):
    """Each role's walk from its landing page (``/``), done once for the module."""
    out = {}
    for role in ROLES:  # no app context held open: each request gets its own, as when served
        client = demo_app.test_client()
        login(client, role)
        out[role] = walk(client, "/")
    return out


def budget_failures(role, result):
    """What is wrong with a role's walk, one line each: ``role URL (page|htmx): N B
    compressed`` for a page over budget, a link that does not answer 200, a large page
    sent uncompressed."""
    out = [f"{role} {url} ({variant}): {size} B compressed" for url, variant, size in over_budget(result["pages"])]
    out += [f"{role} {url}: status {status}" for url, status in result["broken"]]
    out += [f"{role} {p['url']}: {p['size']} B not compressed" for p in result["pages"]
            if p["size"] > 1000 and p["encoding"] not in ("br", "gzip")]
    return out


@pytest.mark.parametrize("role", ROLES)
def test_every_reachable_page_within_budget(walks, role):
    result = walks[role]
    pages = result["pages"]
    largest = max(pages, key=lambda p: p["size"])
    print(f"\n{role}: {len(pages)} pages walked, {len({p['kind'] for p in pages})} kinds, "
          f"{result['left']} links left; largest {largest['url']} {largest['size']} B")
    assert len(pages) == PAGE_LIMIT or result["left"] == 0
    # The walk went well past the landing page (the post office reads its lists and reports only).
    assert len({p["kind"] for p in pages}) >= (6 if role == "payer" else 8), pages
    failures = budget_failures(role, result)
    assert not failures, "\n".join(failures)


def test_the_walker_reports_a_page_over_budget(fresh_app):
    """A test of the test: on an app with a test-only page of 40 kB of random text
    (incompressible), the walk finds it through a link and reports it, page and fragment,
    and nothing else."""
    import base64
    import os

    from flask import render_template_string, request
    from flask_login import login_required

    noise = base64.b64encode(os.urandom(30_000)).decode()
    page = ('{% extends "base.html" %}{% block title %}t{% endblock %}{% block content %}'
            '{{ body|safe }}{% endblock %}')

    @login_required
    def start():
        links = ('<a href="/t/big">big</a> <a href="/t/big#x">again</a> <a href="/t/small?b=2&a=1">s</a> '
                 '<a href="/t/small?a=1&b=2&c=">same</a> <a href="/t/file.xlsx">xlsx</a> '
                 '<a href="/t/gone" download>download</a> <a href="https://example.org/">away</a>')
        return render_template_string(page, body=links)

    @login_required
    def big():
        body = f'<p id="x" hx-get="/t/big" hx-target="#x">{noise}</p>'
        return render_template_string(page if not request.headers.get("HX-Request") else "{{ body|safe }}",
                                      body=body)

    def small():
        return render_template_string(page, body="<p>small</p>")

    def fail():
        raise AssertionError("the walker followed a download")

    fresh_app.add_url_rule("/t/start", "t_start", start)
    fresh_app.add_url_rule("/t/big", "t_big", big)
    fresh_app.add_url_rule("/t/small", "t_small", small)
    fresh_app.add_url_rule("/t/file.xlsx", "t_file", fail)
    fresh_app.add_url_rule("/t/gone", "t_gone", fail)
    client = fresh_app.test_client()
    login(client, "commune")
    result = walk(client, "/t/start")
    walked = [p["url"] for p in result["pages"]]
    assert [u for u in walked if u.startswith("/t/")] == ["/t/start", "/t/big", "/t/small?a=1&b=2"]
    assert "/search" in walked  # and the pages of the navigation, which are small
    failures = budget_failures("commune", result)
    assert [f.rsplit(":", 1)[0] for f in failures] == ["commune /t/big (page)", "commune /t/big (htmx)"]
    assert all(int(f.split(": ")[1].split(" ")[0]) > PAGE_BUDGET for f in failures)
    with pytest.raises(AssertionError, match="/t/big"):
        assert not failures, "\n".join(failures)


def test_assets_fingerprinted_precompressed_immutable(demo_client):
    from portal import assets
    login(demo_client, "commune")
    html = demo_client.get("/search").get_data(as_text=True)
    head = html.split("</head>")[0]
    urls = re.findall(r'(?:src|href)="(/assets/[^"]+)"', head)
    # The stylesheet, htmx and at most one script of ours: nothing else to fetch.
    assert len(urls) <= 3 and sum(u.endswith(".css") for u in urls) == 1, urls
    assert re.search(r'<script defer src="/assets/htmx\.min\.[0-9a-f]{12}\.js"></script>', head)
    assert all(re.search(rf'<script defer src="{re.escape(u)}"', head) for u in urls if u.endswith(".js"))
    files = assets._files()
    for url in urls:
        base, digest, ext = url.rsplit("/", 1)[1].rsplit(".", 2)
        data, mime, real, encoded = files[f"{base}.{ext}"]
        assert digest == hashlib.sha256(data).hexdigest()[:12]  # the URL names the content
        for enc, unpack in (("br", brotli.decompress), ("gzip", gzip.decompress)):
            r = demo_client.get(url, headers={"Accept-Encoding": enc})
            assert r.status_code == 200 and r.headers["Content-Encoding"] == enc
            assert r.get_data() == encoded[enc]  # compressed once, ahead of the request
            assert unpack(r.get_data()) == data
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert "Accept-Encoding" in r.headers["Vary"]
        stale = url.replace(digest, "0" * 12)
        assert demo_client.get(stale).status_code == 404  # an old fingerprint is not served


def test_htmx_pinned_2x(demo_client):
    import tomllib
    from pathlib import Path

    from portal import assets
    data = assets._files()["htmx.min.js"][0].decode()
    version = re.search(r'version:"([^"]+)"', data).group(1)
    assert version.startswith("2."), version
    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("django-js-lib-htmx"))
    assert re.fullmatch(r"django-js-lib-htmx==2\.\d+\.\d+(\.\d+)?", pin), pin
    assert pin.split("==")[1].startswith(version)


@pytest.fixture(scope="module")
def counted_server(demo_app):
    """A live server over the demo data that notes the path of every request it gets:
    what really crossed the network, whatever the browser reports."""
    import threading

    from werkzeug.serving import make_server
    hits = []

    def counting(environ, start_response):
        hits.append(environ["PATH_INFO"])
        return demo_app(environ, start_response)

    server = make_server("127.0.0.1", 0, counting, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def network_log(context, page):
    """Every request the page makes (Playwright's request events), each as ``[request,
    from_cache]``: ``from_cache`` is True when Chromium answered it from its own cache
    (CDP ``Network.responseReceived``), so nothing crossed the network."""
    log, by_url = [], {}
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")

    def on_request(request):
        log.append([request, False])
        by_url.setdefault(request.url, []).append(log[-1])

    def on_response(event):
        r = event["response"]
        if r.get("fromDiskCache") or r.get("fromMemoryCache") or r.get("fromPrefetchCache"):
            for entry in by_url.get(r["url"], []):
                entry[1] = True

    page.on("request", on_request)
    cdp.on("Network.responseReceived", on_response)
    return log


@pytest.mark.browser
def test_first_view_four_requests_and_a_repeat_visit_one(browser, counted_server, demo_app):
    from tests.conftest import log_in_as
    base, hits = counted_server
    with demo_app.app_context():
        household = main_pages("commune")[2]
    context = browser.new_context()
    page = context.new_page()
    log = network_log(context, page)
    hits.clear()
    page.goto(f"{base}/login", wait_until="load")
    kinds = [(urlsplit(r.url).path, r.resource_type) for r, _ in log]
    # The page, the stylesheet, htmx and at most one script of ours: no favicon, font or image.
    assert len(log) <= 4, kinds
    assert [k for _, k in kinds][:2] == ["document", "stylesheet"], kinds
    assert {k for _, k in kinds[2:]} <= {"script"} and any("/htmx.min." in u for u, _ in kinds), kinds
    total = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r, _ in log)
    print(f"\nfirst visit: {len(log)} requests, {total} B")
    assert total <= 40_000
    # The server saw the same, and the service worker's script if the page registers one.
    assert [h for h in hits if h != "/sw.js"] == [urlsplit(r.url).path for r, _ in log], hits
    log_in_as(page, base, "commune")

    # A repeat visit: another tab of the same browser opens a page.
    again = context.new_page()
    log = network_log(context, again)
    hits.clear()
    again.goto(f"{base}{household}", wait_until="load")
    # budgets.md allows the browser's own revalidation of a service worker, if there is one.
    sent = [r.url for r, cached in log if not cached and not r.url.endswith("/sw.js")]
    assert sent == [f"{base}{household}"], [(r.url, cached) for r, cached in log]
    # The server agrees: the assets came from the cache.
    assert [h for h in hits if h != "/sw.js"] == [household], hits
    assert log[0][0].sizes()["responseBodySize"] <= PAGE_BUDGET
    context.close()
