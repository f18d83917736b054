"""A background job's page in real Chromium (issue 12 §1), at 360 px and at 1366 px.

With JavaScript, the htmx poll of the progress fragment moves the bar without a reload, and
the job's end takes the browser to its result (``HX-Redirect``, with a message saying what it did) or reloads the page to show
the error (``HX-Refresh``), from which «Thử lại» queues it again. Without JavaScript the
page reloads itself every 5 s (``<noscript>`` refresh) until the job is over. No page logs
a console error or a Content-Security-Policy violation. And a district officer makes a big
export through the pages, as a user does, and downloads its workbook.

The server runs over a small world of its own (a SQLite file, read and written by the
server's thread and the test's): three people of Bình Chánh (21052). The queue runs each
job inside the request that submits it (``JOB_QUEUE_URL=memory://``); the test plays the
worker of a running job by writing its row and its progress, as tests/test_jobs.py does.
"""
import threading
import time

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import update
from werkzeug.serving import make_server

from portal import create_app, queue
from portal.extensions import db
from portal.models import Job, utcnow
from portal.services import areas, jobs
from tests.conftest import _config, fast_users, log_in_as, user

pytestmark = pytest.mark.browser

SIZES = [pytest.param({"width": 360, "height": 740}, id="360px"),
         pytest.param({"width": 1366, "height": 768}, id="1366px")]
PEOPLE = ("Nguyễn Văn Tải", "Trần Thị Xuất", "Lê Văn Tệp")
RETRY_KIND = "test_browser_retry"  # a job kind of these tests only: done when run again
POLL_WAIT = 8000  # ms: four polls (every 2 s) to see a change
REFRESH_WAIT = 12_000  # ms: two no-JS refreshes (every 5 s)

# Every CSP violation is also said on the console, where the collector below hears it
# (Chromium's own «Refused to …» message is a console error too).
CSP_LISTENER = """document.addEventListener('securitypolicyviolation', e =>
  console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """``(app, base URL)``: the server, its export made by a job (``JOB_ROWS = 1``), and a
    page ``/_csp_probe`` that breaks the CSP twice (an inline script, an outside image), to
    show the console check can fail."""
    from tests.factories import person
    cfg = _config(f"sqlite:///{tmp_path_factory.mktemp('jobs') / 'jobs.db'}")
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {}  # a connection per thread, not one shared
    app = create_app(cfg)
    app.config["JOB_ROWS"] = 1

    @app.route("/_csp_probe")
    def csp_probe():
        return ('<!doctype html><html lang="vi"><title>csp</title><p>probe</p>'
                '<script>document.title = "ran"</script><img src="http://127.0.0.2:9/x.png" alt="x">')

    @jobs.handler(RETRY_KIND)
    def run_again(job, progress):
        progress(1, 1, "Chạy lại")
        return {"message": f"Chạy lại lần {job.attempts}."}

    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        fast_users()
        for i, name in enumerate(PEOPLE):
            person(name=name, national_id=f"05105000040{i}")
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    jobs.HANDLERS.pop(RETRY_KIND)


@pytest.fixture
def open_page(browser):
    """``open_page(base, username, viewport, js=True)``: a logged-in page; its console
    errors, uncaught exceptions and CSP violations gather in ``page.problems``."""
    contexts = []

    def open_as(base, username, viewport, js=True):
        context = browser.new_context(viewport=viewport, java_script_enabled=js)
        contexts.append(context)
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.problems = []
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(f"uncaught: {e}"))
        log_in_as(page, base, username)
        return page
    yield open_as
    for c in contexts:
        c.close()


def running_job(app, username, done, total, kind="import_read", title="Đọc danh sách ds.xlsx"):
    """A job of ``username`` being run, ``done`` of ``total`` rows through. Returns its id."""
    with app.app_context():
        job = Job(kind=kind, title=title, user_id=user(username).id, params={"batch_id": 0},
                  status="running", attempts=1, created_at=utcnow(), started_at=utcnow())
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        db.session.remove()
    progress(app, job_id, done, total)
    return job_id


def progress(app, job_id, done, total, stage="Ghi vào sổ"):
    """Report progress as the worker does (``jobs.Progress``)."""
    app.extensions["huey"].put(queue.key(job_id), {"done": done, "total": total, "stage": stage,
                                                   "owner": "test", "at": time.time()})


def finish(app, job_id, **values):
    """End the job as the worker does: ``status`` and ``result`` or ``error``."""
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == job_id).values(finished_at=utcnow(), **values))
        db.session.commit()
        db.session.remove()


def bar_fits(page, width):
    """The progress bar is shown whole inside the viewport, and nothing scrolls sideways."""
    bar = page.locator("#job progress")
    expect(bar).to_be_visible()
    box = bar.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_console_check_hears_a_csp_violation(world, open_page):
    """The check can fail: a page with an inline script and an outside image is heard (the
    image without JavaScript too, where no script is run to be refused)."""
    app, base = world
    for js in (True, False):
        page = open_page(base, "commune", {"width": 1366, "height": 768}, js=js)
        page.goto(f"{base}/_csp_probe")
        page.wait_for_timeout(300)
        assert page.title() == "csp"  # the inline script did not run
        assert any("script-src" in p for p in page.problems) == js, (js, page.problems)
        assert any("img-src" in p for p in page.problems), (js, page.problems)


@pytest.mark.parametrize("viewport", SIZES)
def test_the_bar_moves_by_polling_then_the_browser_goes_to_the_result(world, open_page, viewport):
    app, base = world
    job_id = running_job(app, "commune", 1000, 4000)
    page = open_page(base, "commune", viewport)
    polls = []
    page.on("response", lambda r: r.url.endswith(f"/jobs/{job_id}") and r.request.headers.get("hx-request")
            and polls.append(r))
    page.goto(f"{base}/jobs/{job_id}")
    status = page.locator("#job")
    expect(status).to_contain_text("Ghi vào sổ: 1.000/4.000 (25 %)")
    expect(page.locator("#job progress")).to_have_attribute("value", "25")
    bar_fits(page, viewport["width"])
    page.evaluate("window.__sameDocument = true")

    progress(app, job_id, 3000, 4000)
    expect(status).to_contain_text("3.000/4.000 (75 %)", timeout=POLL_WAIT)
    expect(page.locator("#job progress")).to_have_attribute("value", "75")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded, not polled"
    bar_fits(page, viewport["width"])
    fragments = [r for r in polls if r.status == 200]
    assert fragments and all(len(r.body()) <= 300 for r in fragments), [len(r.body()) for r in fragments]

    finish(app, job_id, status="done", result={"endpoint": "jobs.index", "args": {}, "message": "Ghi 4.000 dòng."})
    page.wait_for_url(f"{base}/jobs", timeout=POLL_WAIT)
    expect(page.locator("h1")).to_have_text("Việc nền của tôi")
    expect(page.locator(f"a[href='/jobs/{job_id}']")).to_be_visible()
    # What the job did, said on the result page once.
    expect(page.locator(".flash.success")).to_contain_text("Ghi 4.000 dòng.")
    assert any(r.status == 204 and r.headers.get("hx-redirect") == "/jobs" for r in polls)
    assert page.evaluate("window.__sameDocument") is None  # a full load of the result page (HX-Redirect)
    page.wait_for_timeout(2500)  # a poll would have fired by now: the old bar polls no more
    assert sum(r.status == 204 for r in polls) == 1
    assert page.problems == []


@pytest.mark.parametrize("viewport", SIZES)
def test_a_failed_job_shows_its_error_and_is_run_again(world, open_page, viewport):
    app, base = world
    job_id = running_job(app, "commune", 10, 200, kind=RETRY_KIND, title="Việc thử chạy lại")
    page = open_page(base, "commune", viewport)
    page.goto(f"{base}/jobs/{job_id}")
    expect(page.locator("#job")).to_contain_text("10/200 (5 %)")
    bar_fits(page, viewport["width"])
    page.evaluate("window.__sameDocument = true")

    finish(app, job_id, status="failed", error="Tệp hỏng: thiếu cột Họ tên.")
    error = page.locator(".flash.error")
    expect(error).to_have_text("Tệp hỏng: thiếu cột Họ tên.", timeout=POLL_WAIT)
    assert page.evaluate("window.__sameDocument") is None  # reloaded (HX-Refresh)
    expect(page.locator("#job")).to_have_count(0)
    button = page.get_by_role("button", name="Thử lại")
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box["x"] + box["width"] <= viewport["width"]

    button.click()
    expect(page.locator(".flash.success")).to_contain_text("Đã xong")
    expect(page.locator(".flash.success")).to_contain_text("Chạy lại lần 2.")
    assert page.url == f"{base}/jobs/{job_id}"
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert (job.status, job.attempts, job.error) == ("done", 2, None)
        db.session.remove()
    assert page.problems == []


@pytest.mark.parametrize("viewport", SIZES)
def test_without_javascript_the_page_refreshes_until_the_job_is_done(world, open_page, viewport):
    app, base = world
    job_id = running_job(app, "commune", 1000, 4000)
    page = open_page(base, "commune", viewport, js=False)
    page.goto(f"{base}/jobs/{job_id}")
    assert page.evaluate("typeof window.htmx") == "undefined"  # no script runs
    expect(page.locator("#job")).to_contain_text("1.000/4.000 (25 %)")
    # (Playwright's text and role look-ups skip what is inside <noscript>: a CSS path here.)
    expect(page.locator("main noscript p")).to_be_visible()
    expect(page.locator("main noscript p")).to_contain_text("Trang tự tải lại sau 5 giây.")
    bar_fits(page, viewport["width"])
    loads = []
    page.on("load", lambda: loads.append(page.url))

    progress(app, job_id, 2000, 4000)
    expect(page.locator("#job")).to_contain_text("2.000/4.000 (50 %)", timeout=REFRESH_WAIT)
    assert loads and set(loads) == {f"{base}/jobs/{job_id}"}

    finish(app, job_id, status="done", result={"endpoint": "jobs.index", "args": {},
                                               "message": "Đã đọc 4.000 dòng."})
    expect(page.locator(".flash.success")).to_contain_text("Đã xong", timeout=REFRESH_WAIT)
    expect(page.locator(".flash.success")).to_contain_text("Đã đọc 4.000 dòng.")
    link = page.get_by_role("link", name="Xem kết quả")
    expect(link).to_have_attribute("href", "/jobs")
    assert page.locator("meta[http-equiv=refresh]").count() == 0  # over: no more reloads
    with page.expect_navigation():
        link.click()
    expect(page.locator("h1")).to_have_text("Việc nền của tôi")
    assert page.problems == []


@pytest.mark.parametrize("viewport", SIZES)
def test_a_district_officer_exports_the_registry_through_a_job(world, open_page, viewport, tmp_path):
    app, base = world
    page = open_page(base, "district", viewport)
    page.goto(f"{base}/export")
    make = page.get_by_role("button", name="Tạo tệp .xlsx")
    expect(make).to_be_visible()
    make.click()
    page.wait_for_url(lambda url: "/jobs/" in url)
    job_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator(".flash.success")).to_contain_text("Đã xong")  # run at once (memory://)
    expect(page.locator(".flash.success")).to_contain_text("3 hồ sơ.")
    get = page.get_by_role("link", name="Tải tệp")
    expect(get).to_be_visible()
    with page.expect_download() as info:
        get.click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    ws = load_workbook(path).active
    assert ws["A1"].value.startswith("DANH SÁCH ĐỐI TƯỢNG — Huyện Bình Sơn")
    assert {row[0] for row in ws.iter_rows(min_row=3, values_only=True)} == set(PEOPLE)
    # The page that started it lists it.
    page.goto(f"{base}/export")
    expect(page.locator(f".jobs a[href='/jobs/{job_id}']")).to_be_visible()
    assert page.problems == []
