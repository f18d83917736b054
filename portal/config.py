"""Configuration from the environment.

``DATABASE_URL`` selects the database (default: SQLite in the instance folder);
``SECRET_KEY`` signs sessions and CSRF tokens. Outside production a missing key is
generated once into ``instance/secret_key``; with ``PORTAL_ENV=production`` a missing
key stops start-up. ``RATELIMIT_STORAGE_URI`` is where failed logins are counted: in
production it must be set (a shared store, or ``memory://`` chosen knowingly).
"""
import os
import secrets
from pathlib import Path


def _database_url(instance_path):
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{Path(instance_path) / 'portal.db'}"
    # Heroku-style URLs name the old driver; we use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def is_production():
    return os.environ.get("PORTAL_ENV", "").strip().lower() in ("production", "prod")


def secret_key(instance_path):
    """Return the secret key: ``SECRET_KEY``, else the instance file, else a new one.

    Raises ``RuntimeError`` in production (``PORTAL_ENV=production``) when no key is set.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if is_production():
        raise RuntimeError("SECRET_KEY is not set (required when PORTAL_ENV=production)")
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _shared(name, default, why):
    """The setting ``name`` from the environment, else ``default`` outside production; in
    production (``PORTAL_ENV=production``) a missing one raises ``RuntimeError`` saying
    ``why``: a store that several processes must share is never left to a default."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if is_production():
        raise RuntimeError(f"{name} is not set (required when PORTAL_ENV=production): {why}")
    return default


def ratelimit_storage_uri():
    """Return the login limiter's store: ``RATELIMIT_STORAGE_URI``, else ``memory://``.

    Raises ``RuntimeError`` in production (``PORTAL_ENV=production``) when it is not set.
    The in-memory store lives in each gunicorn worker, so with ``-w 2`` a name gets twice
    the failed logins it should; an operator who accepts that (one worker, say) writes
    ``memory://`` explicitly, and the default is never taken for a choice.
    """
    return _shared("RATELIMIT_STORAGE_URI", "memory://",
                   "set it to a store the gunicorn workers share, e.g. redis://127.0.0.1:6379, so that "
                   "they count failed logins together; or to memory:// to accept that each worker counts alone")


def job_queue_url(instance_path):
    """Return where the job queue lives (``portal/queue.py``): ``JOB_QUEUE_URL``, else a
    SQLite file ``instance/jobs.db``.

    Raises ``RuntimeError`` in production (``PORTAL_ENV=production``) when it is not set:
    the file is seen only by the app servers and workers of one machine, and a second
    server elsewhere would queue jobs that no worker takes; an operator with one machine
    writes ``sqlite:///…`` explicitly."""
    return _shared("JOB_QUEUE_URL", f"sqlite:///{Path(instance_path) / 'jobs.db'}",
                   "set it to a queue every app server and worker shares, e.g. redis://127.0.0.1:6379/1, "
                   "or to sqlite:////path/jobs.db when the servers and the worker run on one machine")


class Config:
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024  # a commune list is well under this
    # The ceiling of the child process that reads each uploaded file (portal/sheets/guard.py):
    # address space it may add, in MB (0: read in-process, no ceiling — for debugging only),
    # and seconds (CPU and wall clock). 20 s reads a 100,000-row list; it must stay well
    # under the web worker's own timeout (gunicorn --timeout), or the worker is killed first.
    READER_MEMORY_MB = int(os.environ.get("READER_MEMORY_MB", "1024"))
    READER_SECONDS = int(os.environ.get("READER_SECONDS", "20"))
    COMPRESS_ALGORITHM = ["br", "gzip"]
    # Brotli 7, not Flask-Compress's 4: a status update ~9 % smaller (1,980 → 1,806 B) for
    # ~0.15 ms more per response (levels 9+ cost milliseconds).
    COMPRESS_BR_LEVEL = 7
    COMPRESS_MIMETYPES = ["text/html", "text/css", "application/javascript", "text/javascript",
                          "application/json", "text/csv"]
    COMPRESS_MIN_SIZE = 300
    # How many reverse proxies stand in front (their X-Forwarded-For/-Proto are trusted).
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT") or 0)
    # Two portals sharing one Redis keep their counts apart with a prefix each.
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "")
    RATELIMIT_HEADERS_ENABLED = False
    # Failed logins allowed per user name, and per address (a commune office shares one).
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    LOGIN_IP_RATE_LIMIT = os.environ.get("LOGIN_IP_RATE_LIMIT", "50 per minute")
    WTF_CSRF_TIME_LIMIT = 8 * 3600  # a working day in the field
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PAGE_SIZE = 50
    # The UI speaks Vietnamese; English is an option each user picks (a cookie).
    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).parent / "translations")
    LANGUAGES = ("vi", "en")
    # The campaign the progress pages count reviews in (visits recorded from this date).
    CAMPAIGN_START = os.environ.get("CAMPAIGN_START", "2024-01-01")
    # The month the portal works in (YYYY-MM). Unset: the month the data set says it is open
    # at (the demo: 2026-12), else the calendar month (portal/services/clock.py).
    CAMPAIGN_MONTH = os.environ.get("CAMPAIGN_MONTH") or None
    # Who decides stops, suspensions and resumptions, from which day: the district Labour
    # division until the 2025 reform, the commune chairman after (Decree 147/2025/NĐ-CP).
    DECIDING_ROLES = [("2000-01-01", "district"), ("2025-07-01", "chairman")]
    # Whom the monthly report is sent to (Kính gửi), per program, from which day: before the
    # 2025 reform the district Labour division reports to the province's Department of Labour;
    # from 1/7/2025 the commune People's Committee reports to the province department that took
    # over the program (social protection: Sở Y tế; people with meritorious services: Sở Nội
    # vụ) — unverified (design/domain.md §0), hence configuration. ``{province}`` is the
    # province as written in a sentence ("tỉnh Quảng Ngãi"), ``{province_name}`` its full name.
    REPORT_ADDRESSEES = [
        ("2000-01-01", {"BTXH": "Sở LĐ-TB&XH {province_name}", "NCC": "Sở LĐ-TB&XH {province_name}",
                        "HTXH": "Sở LĐ-TB&XH {province_name}"}),
        ("2025-07-01", {"BTXH": "Sở Y tế {province}", "HTXH": "Sở Y tế {province}",
                        "NCC": "Sở Nội vụ {province}"}),
    ]

    # Background jobs (portal/queue.py). The queue's key prefix (two portals on one Redis
    # take a name each); the worker threads of ``flask worker`` (SQLite takes one writer at
    # a time: more threads would only wait); a list or export longer than this many rows is
    # made by a job, not inside the request ("a few thousand rows", issue 12).
    JOB_QUEUE_NAME = os.environ.get("JOB_QUEUE_NAME", "portal")
    JOB_WORKERS = int(os.environ.get("JOB_WORKERS") or 0)  # 0: 1 on SQLite, 2 otherwise
    JOB_ROWS = int(os.environ.get("JOB_ROWS") or 3000)
    # An upload bigger than this (bytes) is read by a job: about 2,000–4,000 rows of .xlsx,
    # 1,500 of .csv. Its rows are not known before it is read.
    JOB_IMPORT_BYTES = int(os.environ.get("JOB_IMPORT_BYTES") or 200_000)

    def __init__(self, instance_path):
        self.SQLALCHEMY_DATABASE_URI = _database_url(instance_path)
        self.JOB_QUEUE_URL = job_queue_url(instance_path)
        self.SECRET_KEY = secret_key(instance_path)
        self.RATELIMIT_STORAGE_URI = ratelimit_storage_uri()
        self.SESSION_COOKIE_SECURE = is_production()


class TestConfig(Config):
    TESTING = True
    LOGIN_RATE_LIMIT = LOGIN_IP_RATE_LIMIT = "1000 per minute"
    RATELIMIT_STORAGE_URI = "memory://"  # each test counts alone, whatever the environment
    # The tests of the 2024 world work in May 2024; those of today's world set their month.
    CAMPAIGN_MONTH = "2024-05"

    def __init__(self, instance_path):
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
        self.SECRET_KEY = "test"
        self.SESSION_COOKIE_SECURE = False
        self.JOB_QUEUE_URL = "memory://"  # a job runs inside the request that submits it
