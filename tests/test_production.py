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
    yield monkeypatch
    # The limiter is one object for every app: bind it to a test app's in-memory store
    # again, so that no later test counts its logins in this test's store.
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_refuses_to_start_without_a_shared_limiter_store(production_env):
    with pytest.raises(RuntimeError, match=r"RATELIMIT_STORAGE_URI is not set.*redis://.*memory://"):
        create_app()


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

    def request(self, method, path, form=None, cookie=None):
        """Return ``(status, headers, body)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Connection": "close"}
        if cookie:
            headers["Cookie"] = cookie
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body, headers)
            r = conn.getresponse()
            return r.status, r.headers, r.read().decode()
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


# Once per CI run, not twice: the test makes its own PostgreSQL database and sets every
# variable itself, so the PostgreSQL run (TEST_DATABASE_URL set) adds nothing to it. It runs
# with `make test`, the README's command, where PostgreSQL and Redis may be absent (a skip
# with a message; in CI, a failure).
@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                    reason="runs once, in the run without TEST_DATABASE_URL (`make test`)")
def test_readme_production_setup_shares_the_login_limit_between_workers(
        pg_database, redis_store, tmp_path):
    redis_uri, prefix = redis_store
    env = {k: v for k, v in os.environ.items()
           if k not in ("TEST_DATABASE_URL", "LOGIN_RATE_LIMIT", "LOGIN_IP_RATE_LIMIT")}
    env.update(DATABASE_URL=pg_database, SECRET_KEY=secrets.token_hex(32),
               PORTAL_ENV="production", RATELIMIT_STORAGE_URI=redis_uri,
               RATELIMIT_KEY_PREFIX=prefix)
    password = "mật-khẩu-" + secrets.token_hex(4)

    _run(["flask", "--app", "app", "setup", "--no-demo"], env)
    # The password prompt reads standard input: no terminal in a new session.
    out = _run(["flask", "--app", "app", "create-user", "tester", "--role", "commune",
                "--area", "21052"], env, input=f"{password}\n{password}\n")
    assert "tester" in out

    port = _free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as log_file:
        # The README's command, plus an access log naming the worker (%(p)s) of each request.
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", "2", "--timeout", "60", "-b", f"127.0.0.1:{port}",
             "--access-logfile", "-", "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "app:app"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        server = Server(port)
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"gunicorn stopped:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"gunicorn did not answer in 20 s:\n{log.read_text()}"
            try:
                if server.request("GET", "/login")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)

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
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

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
