"""The migrations build exactly the schema the models describe."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from portal import create_app
from portal.extensions import db


def test_migrations_match_the_models(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}"})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        downgrade(revision="base")


def test_migrations_match_the_models_on_postgresql():
    """The same on PostgreSQL (``TEST_DATABASE_URL``), its own indexes apart (0012: the
    search's trigram index, ``models.POSTGRESQL_ONLY_INDEXES``), which the migration makes."""
    import pytest
    from sqlalchemy import text

    from portal.models import include_name
    from tests.conftest import PG_URL, _pg_database
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    app = create_app({"SQLALCHEMY_DATABASE_URI": _pg_database("models")})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}),
                                    db.metadata)
            assert conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                     "'ix_beneficiary_name_trgm'")).scalar().endswith(
                "USING gin (name_folded gin_trgm_ops)")
        assert diff == []
        downgrade(revision="base")


def test_a_sqlite_file_runs_in_wal_mode(tmp_path):
    """Readers do not wait for a writer, and commits do not sync the disk each time: the
    status update stays within its budget at 50 saves/s (bench/run.py --only server)."""
    from sqlalchemy import text
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'w.db'}"})
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_targets_become_versions_and_back(tmp_path):
    """0009: the targets already set become versions in force from 0001-01 (every past month
    keeps today's figures); downgrading keeps the latest version of each target. On
    PostgreSQL too when ``TEST_DATABASE_URL`` is set."""
    from sqlalchemy import text

    from tests.conftest import PG_URL, _pg_database
    url = _pg_database("targets") if PG_URL else f"sqlite:///{tmp_path / 't.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(revision="0008_idempotency_keys")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO target (program, indicator, percent) VALUES "
                              "('BTXH', 'cashless', 70), ('NCC', 'cashless', 55)"))
        upgrade()
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT program, percent, valid_from, set_by_id FROM target ORDER BY id")).all() == [
                ("BTXH", 70, "0001-01", None), ("NCC", 55, "0001-01", None)]
            conn.execute(text("INSERT INTO target (program, indicator, percent, valid_from) VALUES "
                              "('BTXH', 'cashless', 80, '2024-06'), ('BTXH', 'cashless', 75, '2024-03')"))
        downgrade(revision="0008_idempotency_keys")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT program, percent FROM target ORDER BY program")).all() == [
                ("BTXH", 80), ("NCC", 55)]
        upgrade()
        downgrade(revision="base")
