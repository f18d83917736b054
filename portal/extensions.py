"""Extensions, created once and bound to the app in ``create_app``."""
from flask_babel import Babel
from flask_compress import Compress
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

# Named constraints so that Alembic can alter them on SQLite and PostgreSQL alike.
metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

db = SQLAlchemy(metadata=metadata)
babel = Babel()
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
compress = Compress()
htmx = HTMX()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def sqlite_pragmas(dbapi_connection, _record):
    """A SQLite file in WAL mode: readers do not wait for a writer, and a commit does not
    sync the disk each time (``synchronous=NORMAL``: durable at checkpoints, never
    corrupted). Writers wait up to 5 s for each other instead of failing at once."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
