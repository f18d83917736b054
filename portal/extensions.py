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
    corrupted). Writers wait up to 5 s for each other instead of failing at once.

    Temporary files in memory (``temp_store=MEMORY``): in a long transaction SQLite gives
    every statement that may abort halfway (each ORM ``INSERT … RETURNING``) a statement
    journal holding the pages it touches; once one of them passes 64 KiB the journal moves
    to a file in /var/tmp and, for the rest of the transaction, every statement writes its
    pages there again. A 30,000-row import wrote 1.49 GB (50 kB a row) into that file
    (``bench/import_io.py``). In memory a statement's journal lives only as long as the
    statement: a few pages for a row's insert, at most the pages one statement changes.
    Sorts and temporary indexes also stay in memory: a few MB at our sizes."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()
