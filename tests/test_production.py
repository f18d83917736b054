"""The production set-up: what ``PORTAL_ENV=production`` demands of the limiter's store,
and the README's "Running it for real" run for real — PostgreSQL, Redis, gunicorn with two
workers — with the login limit counted across both workers.

The gunicorn test needs PostgreSQL and Redis on 127.0.0.1 (5432, 6379). Without them it
skips with a message, except in CI (``CI=true``), where it fails.
"""
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from portal import create_app
from portal.extensions import limiter

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv running the tests: .venv/bin in CI
PG = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
REDIS_DB = 13  # a Redis database of its own; keys carry a per-run prefix as well
LOGIN_LIMIT = 10  # LOGIN_RATE_LIMIT's default, "10 per minute" per user name


# -- start-up checks (no server needed) -----------------------------------------------------

@pytest.fixture
def production_env(monkeypatch, tmp_path):
    """The README's production variables, minus the limiter's store."""
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    monkeypatch.delenv("RATELIMIT_STORAGE_URI", raising=False)
    monkeypatch.setenv("JOB_QUEUE_URL", f"sqlite:///{tmp_path / 'jobs.db'}")
    yield monkeypatch
    # The limiter is one object for every app: bind it to a test app's in-memory store
    # again, so that no later test counts its logins in this test's store.
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_refuses_to_start_without_a_shared_limiter_store(production_env):
    with pytest.raises(RuntimeError, match=r"RATELIMIT_STORAGE_URI is not set.*redis://.*memory://"):
        create_app()


def test_production_refuses_to_start_without_a_job_queue(production_env):
    production_env.setenv("RATELIMIT_STORAGE_URI", "memory://")
    production_env.delenv("JOB_QUEUE_URL")
    with pytest.raises(RuntimeError, match=r"JOB_QUEUE_URL is not set.*redis://.*sqlite:///"):
        create_app()


def test_production_refuses_the_demo_users(production_env):
    production_env.setenv("RATELIMIT_STORAGE_URI", "memory://")
    app = create_app()
    r = app.test_cli_runner().invoke(args=["seed-demo", "--size", "10"])
    assert r.exit_code == 2 and "mật khẩu «demo»" in r.output


def test_production_starts_with_redis_as_the_limiter_store(production_env):
    production_env.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/13")
    app = create_app()  # fails with "'redis' prerequisite not available" without the package
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/13"
    assert type(limiter.storage).__name__ == "RedisStorage"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_production_starts_when_per_process_counting_is_chosen(production_env):
    production_env.setenv("RATELIMIT_STORAGE_URI", "memory://")
    app = create_app()
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert type(limiter.storage).__name__ == "MemoryStorage"


def test_outside_production_the_store_defaults_to_memory(production_env):
    production_env.delenv("PORTAL_ENV")
    app = create_app()
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.parametrize("proxies, third_client", [(1, 422), (0, 429)])
def test_behind_a_proxy_each_client_has_its_own_address_limit(proxies, third_client):
    """Two failed logins from one office through the proxy use up its address's limit;
    another office is still heard with ``PROXY_COUNT=1``, and is not without it (every
    request then comes from the proxy's address)."""
    from portal.extensions import db
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "WTF_CSRF_ENABLED": False,
                      "PROXY_COUNT": proxies, "LOGIN_IP_RATE_LIMIT": "2 per minute"})
    with app.app_context():
        db.create_all()
    client = app.test_client()

    def fail(office, n):
        return client.post("/login", data={"username": f"x{n}", "password": "wrong"},
                           headers={"X-Forwarded-For": office},
                           environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code

    assert [fail("10.0.0.1", n) for n in range(3)] == [422, 422, 429]
    assert fail("10.0.0.2", 3) == third_client


# -- gunicorn, PostgreSQL and Redis, as the README runs them ---------------------------------

def _unavailable(reason):
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (required in CI: .ci/run starts PostgreSQL and Redis)")
    pytest.skip(f"SKIPPED PRODUCTION TEST: {reason}")


@pytest.fixture
def pg_database():
    """A fresh, empty PostgreSQL database; its URL as the README writes it. Dropped after."""
    import psycopg
    name = f"portal_prodtest_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        _unavailable(f"no PostgreSQL at 127.0.0.1:5432 as user postgres ({e})")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_store():
    """(URI, key prefix) of a Redis database; the prefix's keys are deleted after."""
    import redis
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=3,
                         socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as e:
        _unavailable(f"no Redis at 127.0.0.1:6379 ({e})")
    prefix = f"portal-test-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        yield f"redis://127.0.0.1:6379/{REDIS_DB}", prefix
    finally:
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
        client.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """Plain HTTP to the server, one fresh connection per request (so that gunicorn hands
    each to whichever worker takes it). Cookies are sent by hand: see ``cookie``."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, form=None, cookie=None, headers=None):
        """Return ``(status, headers, body)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Connection": "close", **(headers or {})}
        if cookie:
            headers["Cookie"] = cookie
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body, headers)
            r = conn.getresponse()
            return r.status, r.headers, r.read().decode(errors="replace")  # a file: its bytes do not matter here
        finally:
            conn.close()

    @staticmethod
    def cookie(headers):
        """The session cookie of a response, as a ``Cookie`` header value.

        In production the cookie is ``Secure``: a cookie jar that respects it would not send
        it back over this plain-HTTP connection (a TLS proxy sits in front in production).
        We send it ourselves, after checking that it is marked so.
        """
        set_cookie = [v for k, v in headers.items() if k.lower() == "set-cookie"
                      and v.startswith("session=")]
        assert set_cookie, headers
        assert "; Secure" in set_cookie[0]
        return set_cookie[0].split(";", 1)[0]

    def login_form(self):
        """GET /login: (session cookie, CSRF token)."""
        status, headers, body = self.request("GET", "/login")
        assert status == 200
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body) or \
            re.search(r'value="([^"]+)"[^>]*name="csrf_token"', body)
        assert token, body[:500]
        return self.cookie(headers), token.group(1)


def _run(args, env, **kw):
    """Run a README command; fail with its output when it fails."""
    r = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=90, start_new_session=True, **kw)
    assert r.returncode == 0, f"{' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _production(pg_database, redis_store):
    """The README's production environment on this run's database and Redis prefix."""
    redis_uri, prefix = redis_store
    env = {k: v for k, v in os.environ.items()
           if k not in ("TEST_DATABASE_URL", "LOGIN_RATE_LIMIT", "LOGIN_IP_RATE_LIMIT",
                        "CAMPAIGN_MONTH")}
    env.update(DATABASE_URL=pg_database, SECRET_KEY=secrets.token_hex(32),
               PORTAL_ENV="production", RATELIMIT_STORAGE_URI=redis_uri,
               RATELIMIT_KEY_PREFIX=prefix, JOB_QUEUE_URL=redis_uri, JOB_QUEUE_NAME=prefix)
    return env


def _set_up(env, password):
    """The README's ``setup --no-demo`` and ``create-user tester`` (commune 21052)."""
    _run(["flask", "--app", "app", "setup", "--no-demo"], env)
    # The password prompt reads standard input: no terminal in a new session.
    out = _run(["flask", "--app", "app", "create-user", "tester", "--role", "commune",
                "--area", "21052"], env, input=f"{password}\n{password}\n")
    assert "tester" in out


def _gunicorn(env, port, log, workers=2):
    """Start the README's gunicorn on ``port``; an access log naming the worker (%(p)s) of
    each request goes to ``log``. ``_wait_until_up`` waits for it."""
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", str(workers), "--timeout", "60", "-b", f"127.0.0.1:{port}",
             "--access-logfile", "-", "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "app:app"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    return proc


def _wait_until_up(proc, port, log):
    """The ``Server`` on ``port`` once it answers; fails after 20 s or if gunicorn stops."""
    server = Server(port)
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, f"gunicorn stopped:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"gunicorn did not answer in 20 s:\n{log.read_text()}"
        try:
            if server.request("GET", "/login")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)


def _stop(proc):
    """TERM the server's process group (master and workers), KILL it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


# Once per CI run, not twice: the test makes its own PostgreSQL database and sets every
# variable itself, so the PostgreSQL run (TEST_DATABASE_URL set) adds nothing to it. It runs
# with `make test`, the README's command, where PostgreSQL and Redis may be absent (a skip
# with a message; in CI, a failure).
once = pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                          reason="runs once, in the run without TEST_DATABASE_URL (`make test`)")


@once
def test_readme_production_setup_shares_the_login_limit_between_workers(
        pg_database, redis_store, tmp_path):
    env = _production(pg_database, redis_store)
    prefix = redis_store[1]
    password = "mật-khẩu-" + secrets.token_hex(4)
    _set_up(env, password)

    port = _free_port()
    log = tmp_path / "gunicorn.log"
    proc = _gunicorn(env, port, log)
    try:
        server = _wait_until_up(proc, port, log)

        # Log in: straight to the commune officer's start page, which then answers.
        cookie, token = server.login_form()
        status, headers, _ = server.request("POST", "/login", cookie=cookie, form={
            "csrf_token": token, "username": "tester", "password": password})
        assert status == 303
        assert urlsplit(headers["Location"]).path == "/reports/ranking"
        assert server.request("GET", "/reports/ranking")[0] == 302  # not without the login
        status, _, body = server.request("GET", "/reports/ranking", cookie=server.cookie(headers))
        assert status == 200
        assert "Bình Chánh" in body

        # Wrong passwords, each on a new connection: 10 refused (422), then 429.
        cookie, token = server.login_form()
        statuses = [server.request("POST", "/login", cookie=cookie, form={
            "csrf_token": token, "username": "tester", "password": "wrong"})[0]
            for _ in range(LOGIN_LIMIT + 2)]
        assert statuses == [422] * LOGIN_LIMIT + [429, 429]
    finally:
        _stop(proc)

    posts = [line.split() for line in log.read_text().splitlines()
             if re.fullmatch(r"<\d+> POST /login \d+", line)]
    assert [int(s) for _, _, _, s in posts] == [303] + statuses, log.read_text()
    # One worker alone stops at 10 with any store, and which worker accepts a connection is
    # the kernel's choice (an idle machine may give them all to one). What makes the count
    # shared is where it lives: in Redis, where both workers read it, not in a worker.
    import redis
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=3)
    try:
        counts = [int(client.get(k)) for k in client.scan_iter(match=f"*{prefix}*user:tester*")]
    finally:
        client.close()
    assert counts and max(counts) >= LOGIN_LIMIT, counts


# -- two app servers on one PostgreSQL and one Redis -----------------------------------------

SEED = """
from portal import create_app
from portal.extensions import db
from tests.factories import person
app = create_app()
with app.app_context():
    a = person(name="Nguyễn Văn An")
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=a.household)
    db.session.commit()
    print(a.id, a.household_id)
"""
HX = {"HX-Request": "true"}


class Browser:
    """One officer's browser: the session cookie, kept across servers (``on``)."""

    def __init__(self):
        self.cookie = None

    def on(self, server, method, path, form=None, headers=None):
        status, resp_headers, body = server.request(method, path, form=form, cookie=self.cookie,
                                                    headers=headers)
        if any(k.lower() == "set-cookie" and v.startswith("session=") for k, v in resp_headers.items()):
            self.cookie = Server.cookie(resp_headers)
        return status, resp_headers, body


def _card(browser, server, household_id, bid):
    """The fields of a person's review form as ``server`` renders the household page, with
    a visit filled in (an account at Agribank, BIN 970405)."""
    status, _, html = browser.on(server, "GET", f"/households/{household_id}")
    assert status == 200, html[:500]
    form = re.search(rf'<form[^>]*action="/beneficiaries/{bid}/review".*?</form>', html, re.S).group(0)
    data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    data.update({f"b{bid}-account_status": "has_account", f"b{bid}-payment_method": "account",
                 f"b{bid}-bank_bin": "970405", f"b{bid}-number": "300717151681",
                 f"b{bid}-recipient_type": "self"})
    return data


def _applied(pg_url, bid):
    """(reviews, review events, version) of a beneficiary, read in PostgreSQL itself."""
    import psycopg
    with psycopg.connect(pg_url, connect_timeout=3) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM review WHERE beneficiary_id = %(b)s),"
            " (SELECT count(*) FROM event WHERE beneficiary_id = %(b)s AND source = 'review'),"
            " (SELECT version FROM beneficiary WHERE id = %(b)s)", {"b": bid}).fetchone()


@once
def test_two_app_servers_share_sessions_saves_keys_conflicts_and_the_login_limit(
        pg_database, redis_store, tmp_path):
    """Two gunicorn servers, as the README starts a second one: same DATABASE_URL,
    SECRET_KEY, RATELIMIT_STORAGE_URI and RATELIMIT_KEY_PREFIX, other ports. Nothing is
    lost or doubled between them, and a background job started on one is seen on the
    other and done by the worker (``flask worker``) on the same Redis queue."""
    env = _production(pg_database, redis_store) | {"JOB_ROWS": "1"}
    password = "mật-khẩu-" + secrets.token_hex(4)
    _set_up(env, password)
    a, household = map(int, _run(["python", "-c", SEED], env).split())

    procs, logs = [], []
    try:
        for name in "AB":
            logs.append(tmp_path / f"gunicorn-{name}.log")
            port = _free_port()
            procs.append((_gunicorn(env, port, logs[-1]), port))
        A, B = (_wait_until_up(proc, port, log) for (proc, port), log in zip(procs, logs))
        assert A.port != B.port

        # (a) A login on A gives a cookie that B accepts: sessions are signed cookies, and
        # both servers sign with the one SECRET_KEY (and so check each other's CSRF tokens).
        officer = Browser()
        status, _, html = officer.on(A, "GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        status, headers, _ = officer.on(A, "POST", "/login", form={
            "csrf_token": token, "username": "tester", "password": password})
        assert status == 303 and urlsplit(headers["Location"]).path == "/reports/ranking"
        assert B.request("GET", f"/households/{household}")[0] == 302  # B wants a login...
        seen_on_b = _card(officer, B, household, a)                    # ...and has this one
        assert seen_on_b[f"b{a}-version"] == "1"

        # (b) A save on A (the card as A renders it) is what B shows next.
        save = _card(officer, A, household, a)
        status, headers, first = officer.on(A, "POST", f"/beneficiaries/{a}/review", form=save,
                                            headers=HX)
        assert status == 200 and "Idempotent-Replayed" not in headers, first[:500]
        assert "Đã lưu" in first
        after_save = _applied(pg_database, a)
        assert after_save == (1, 6, 2)  # one visit: status, method, bank, number, holder, date
        status, _, html = officer.on(B, "GET", f"/households/{household}")
        card_on_b = re.search(rf'<article class="person" id="b{a}">.*?</article>', html, re.S).group(0)
        assert "Đã rà soát" in card_on_b and "Có tài khoản" in card_on_b, card_on_b[:800]
        assert _card(officer, B, household, a)[f"b{a}-version"] == "2"

        # (c) The same request (same idempotency key) arriving again on B gets A's stored
        # answer, and nothing is applied twice.
        status, headers, again = officer.on(B, "POST", f"/beneficiaries/{a}/review", form=save,
                                            headers=HX)
        assert status == 200 and headers["Idempotent-Replayed"] == "true"
        strip = lambda h: re.sub(r'(name="(?:idempotency_key|csrf_token)" value=")[^"]+', r"\1", h)
        assert strip(again) == strip(first)
        assert _applied(pg_database, a) == after_save

        # (d) A save on B from the card as it was before A's save (version 1), with a key of
        # its own, is a conflict: A's visit is not overwritten.
        stale = {**seen_on_b, f"b{a}-number": "300717151682"}
        assert stale[f"b{a}-version"] == "1" and stale["idempotency_key"] != save["idempotency_key"]
        status, _, body = officer.on(B, "POST", f"/beneficiaries/{a}/review", form=stale, headers=HX)
        assert status == 409 and "Người khác vừa lưu" in body, body[:500]
        assert _applied(pg_database, a) == after_save

        # (f) A job (the registry's workbook, made in the background above JOB_ROWS=1) started
        # on A is seen on B, outlives A's restart while no worker runs, and is done by the
        # worker once it starts; its file is sent by either server.
        status, _, html = officer.on(A, "GET", "/export")
        assert status == 200 and "Tạo tệp .xlsx" in html, html[:500]
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        status, headers, _ = officer.on(A, "POST", "/export", form={"csrf_token": token})
        assert status == 303 and re.fullmatch(r"/jobs/\d+", urlsplit(headers["Location"]).path)
        job = urlsplit(headers["Location"]).path
        status, _, fragment = officer.on(B, "GET", job, headers=HX)
        assert status == 200 and "Đang chờ" in fragment and len(fragment.encode()) <= 300, fragment
        (proc_a, _), log_a = procs[0], logs[0]
        _stop(proc_a)
        port = _free_port()
        procs[0] = (_gunicorn(env, port, log_a), port)
        A = _wait_until_up(procs[0][0], port, log_a)
        status, _, html = officer.on(A, "GET", job)
        assert status == 200 and "Đang chờ" in html
        worker_log = tmp_path / "worker.log"
        with worker_log.open("w") as out:
            worker = subprocess.Popen([str(BIN / "flask"), "--app", "app", "worker"], cwd=ROOT, env=env,
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append((worker, None))
        deadline = time.monotonic() + 60
        while (answer := officer.on(B, "GET", job, headers=HX))[0] == 200:
            assert worker.poll() is None, worker_log.read_text()
            assert time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.3)
        assert answer[0] == 204 and answer[1]["HX-Refresh"] == "true"  # over: the page reloads
        status, _, html = officer.on(B, "GET", job)
        assert "Đã xong" in html and "2 hồ sơ" in html, html[:2000]
        status, headers, _ = officer.on(A, "GET", job + "/file")
        assert status == 200 and headers["Content-Type"].startswith(
            "application/vnd.openxmlformats") and int(headers["Content-Length"]) > 1000

        # (e) Failed logins for one name, split between the servers, count together in Redis:
        # after LOGIN_LIMIT of them the next is refused on either server.
        stranger = Browser()
        status, _, html = stranger.on(A, "GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        statuses = [stranger.on(server, "POST", "/login", form={
            "csrf_token": token, "username": "tester", "password": "wrong"})[0]
            for server in [A, B] * (LOGIN_LIMIT // 2)]
        assert statuses == [422] * LOGIN_LIMIT
        assert [stranger.on(server, "POST", "/login", form={
            "csrf_token": token, "username": "tester", "password": password})[0]
            for server in (A, B)] == [429, 429]  # even with the right password
    finally:
        for proc, _ in procs:
            _stop(proc)

    # Each server answered its own share: the access logs name the requests.
    for log in logs:
        lines = log.read_text().splitlines()
        assert sum(bool(re.fullmatch(r"<\d+> POST /login 422", x)) for x in lines) == LOGIN_LIMIT // 2
        assert sum(bool(re.fullmatch(r"<\d+> POST /login 429", x)) for x in lines) == 1
