"""Fixtures in the flaskr style: ``app``, ``client``, ``runner``, ``login``; ``demo_app`` holds
the demo district, built once per run.

Tests run on in-memory SQLite by default; ``TEST_DATABASE_URL`` (a PostgreSQL URL) runs
them on PostgreSQL, each test on freshly created tables.
"""
import os
import re
import shutil

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import StaticPool

from portal import create_app
from portal.extensions import db
from portal.models import User
from portal.services import areas

PG_URL = os.environ.get("TEST_DATABASE_URL")


def _compile_translations():
    """Compile the English catalogue when its .po is newer than the .mo (as ``make`` does)."""
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    po = Path(__file__).resolve().parents[1] / "portal/translations/en/LC_MESSAGES/messages.po"
    mo = po.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        with po.open("rb") as f:
            catalog = read_po(f)
        with mo.open("wb") as f:
            write_mo(f, catalog)


_compile_translations()


def _config(url):
    cfg = {"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": True, "SERVER_NAME": None}
    if url.startswith("sqlite"):
        # One connection shared by threads (the browser tests' live server).
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"poolclass": StaticPool,
                                            "connect_args": {"check_same_thread": False}}
    return cfg


def _pg_database(suffix):
    """A fresh PostgreSQL database next to ``TEST_DATABASE_URL``'s, for the demo data."""
    base, name = PG_URL.rsplit("/", 1)
    engine = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    target = re.sub(r"\W", "", f"{name}_{suffix}")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{target}"'))
    engine.dispose()
    return f"{base}/{target}"


def fast_users():
    """Demo users with a cheap hash (tests only): scrypt would cost seconds per login."""
    from portal.services import demo
    demo.create_demo_users(fast=True, world="2024")


_pg_built = False  # the schema of this run made on TEST_DATABASE_URL, and its snapshots


def _fresh_tables():
    """The ``app`` fixture's starting point: every table, the packaged areas, the demo users.

    On SQLite (in memory) the tables are made for each test. On PostgreSQL making them costs
    about a second a test, so the run makes them once, keeps the areas and users in two
    snapshot tables, and for each later test empties every table (children first, then once
    more for rows a trigger wrote meanwhile), restarts every sequence and copies the
    snapshots back (about 40 ms). A test that dropped the tables (``db.drop_all``) gets them
    made again."""
    global _pg_built
    if PG_URL and _pg_built and db.session.scalar(text(
            "SELECT to_regclass('beneficiary') IS NOT NULL AND to_regclass('_snap_area') IS NOT NULL")):
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        for name in tables + tables:
            db.session.execute(text(f'DELETE FROM "{name}"'))
        db.session.execute(text("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"))
        for name in ("area", "user"):
            db.session.execute(text(f'INSERT INTO "{name}" SELECT * FROM "_snap_{name}"'))
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                                    f'(SELECT max(id) FROM "{name}"))'))
        db.session.commit()
        return
    db.drop_all()
    db.create_all()
    areas.load_packaged_areas()
    fast_users()
    db.session.commit()
    if PG_URL:
        for name in ("area", "user"):
            db.session.execute(text(f'DROP TABLE IF EXISTS "_snap_{name}"'))
            db.session.execute(text(f'CREATE TABLE "_snap_{name}" AS SELECT * FROM "{name}"'))
        db.session.commit()
        _pg_built = True


@pytest.fixture
def app():
    app = create_app(_config(PG_URL or "sqlite://"))
    with app.app_context():
        _fresh_tables()
        yield app
        db.session.remove()
        if not PG_URL:
            db.drop_all()
        db.engine.dispose()


@pytest.fixture
def fresh_app(tmp_path):
    """An app whose requests each run in their own app context, as under a real server
    (the ``app`` fixture keeps one context open, so ``g`` would outlive a request)."""
    app = create_app(_config(f"sqlite:///{tmp_path / 'fresh.db'}"))
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        fast_users()
        db.session.commit()
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def demo_app():
    """The demo district (about 5,000 people), built once for the whole run."""
    app = create_app(_config(_pg_database("demo") if PG_URL else "sqlite://"))
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        from portal.services import demo
        demo.build_demo()
        demo.plant_problems()
        fast_users()
        from sqlalchemy import select

        from portal.models import Beneficiary
        from portal.services import checks
        checks.recheck(select(Beneficiary.id))
        db.session.commit()
    yield app


def csrf_token(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken":"([^"]+)"', html)
    return m.group(1)


def login(client, username, password="demo"):
    token = csrf_token(client)
    resp = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    return resp


@pytest.fixture
def as_user(client):
    def _as(username):
        login(client, username)
        return client
    return _as


def user(username):
    from sqlalchemy import select
    return db.session.scalar(select(User).where(User.username == username))


CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser():
    """Real Chromium (Debian's ``chromium``) driven by Playwright. In CI (``CI=true``) it
    must be there; elsewhere, without it, the browser tests skip with a message."""
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("SKIPPED BROWSER TESTS: no Chromium found (install Debian's 'chromium')")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def log_in_as(page, base, username):
    """Log in through the login page in a Playwright ``page`` and wait until it has left it."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_url(lambda url: "/login" not in url)


def live_server(directory, fill=None, **config):
    """A portal served on a free loopback port (werkzeug, one thread) over a SQLite file in
    ``directory``, for the browser tests: the tables, the packaged areas, the demo users,
    then ``fill()`` in the app context (committed), ``config`` set on the app. A generator
    for a module fixture: yields ``(base url, app)``, stops the server after."""
    import threading

    from werkzeug.serving import make_server
    cfg = _config(f"sqlite:///{directory / 'live.db'}")
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {}
    app = create_app(cfg)
    app.config.update(config)
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        fast_users()
        if fill is not None:
            fill()
        db.session.commit()
        db.session.remove()
    srv = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", app
    finally:
        srv.shutdown()


def console_problems(page):
    """The list a Playwright ``page``'s console errors and uncaught exceptions go into."""
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    return problems
