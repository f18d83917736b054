"""The campaign's indicators kept as counters by the database itself, so the overview,
commune and household pages read a few rows per commune instead of every record of the
area (bench/README.md, "At province and country size": 3.9 s for a district's overview at
1,000,000 beneficiaries when counted from the records).

``progress_count`` holds, per (commune, village, program), one column per field of
``progress.Counts`` with the very definitions of ``progress._count_live``: the records
counted are the active ones (status ``active``, not deceased); ``reviewed`` those with
``reviewed_at`` on or after the campaign start; ``with_account`` those whose
``account_status`` is ``has_account``, split by the recipient type of their ``account``
(``own`` for ``self`` or no account row, ``guardian``, ``authorised``); ``cashless`` those of
them paid by ``account``; ``opening`` / ``no_account`` / ``refuses`` by ``account_status``.
``village_id`` is 0 for a record without a village (a key column must not be NULL for the
unique key to work on both dialects).

Database triggers keep them, not ORM events: imports write with multi-row Core INSERTs,
some UPDATEs are bulk, the bench copies with INSERT … SELECT, and a trigger sees them all.

- ``beneficiary`` AFTER INSERT / DELETE: add / subtract the rows' contribution, with the
  recipient type looked up in ``account``; AFTER UPDATE OF the columns that count (and only
  when one of them changed): subtract the old row's, add the new row's.
- ``account`` AFTER INSERT / UPDATE / DELETE: its beneficiary, if counted and
  ``has_account``, moves from ``own`` (no account) to the account's type and back. Every
  order of writing keeps the counters exact: a beneficiary written before its account is
  counted ``own`` and then moved; an account written first (SQLite without foreign keys)
  finds no beneficiary and does nothing, and the beneficiary's own trigger then looks the
  account up; the same holds for deletions in either order.

On PostgreSQL the triggers on ``beneficiary`` are statement-level with transition tables
(one grouped insert per statement: a bulk UPDATE of a commune's records adds a row per key,
not per record; an UPDATE of other columns costs one aggregate of its rows, which adds
nothing), so is an INSERT or DELETE of accounts; an UPDATE of an account is row-level, only
``UPDATE OF`` its beneficiary or type and only when one changed (``UPDATE OF`` with a column
list cannot have transition tables). On SQLite every trigger is row-level, the UPDATE one
``OF`` the counted columns and only when one of them changed.

A write **adds a row** (its change, one per (commune, village, program) it touches, none
when nothing counted changed); it never updates one. Updating one counter row ``n = n + d``
(``INSERT … ON CONFLICT DO UPDATE``, the first design) cost on PostgreSQL time quadratic in
the writes of one transaction: each update leaves a row version that no one can prune
before the commit, and the next one walks them all (20,000 accounts inserted 1,000 a
statement — the driver sends one INSERT a row — 32–48 s instead of 0.6 s; an UPDATE of
50,000 records' status 112–152 s instead of 1.5 s). It also made two writers of one commune
wait for each other. Adding rows has neither cost: writers never wait for each other here.
The readers sum the rows of the communes they show; :func:`compact` folds them into one
per key (the worker every 10 minutes, ``flask recount``), so a page sums a few rows per
village plus the writes since.

The campaign start the triggers compare ``reviewed_at`` with is the ``setting`` row
:data:`START_KEY` (``YYYY-MM-DD HH:MM:SS``; compared as text on SQLite, where SQLAlchemy
stores a ``DateTime`` as ``YYYY-MM-DD HH:MM:SS.ffffff``, cast to ``timestamp`` on
PostgreSQL), else :data:`DEFAULT_START`, the default of ``CAMPAIGN_START``
(portal/config.py). The counters are read only while that basis equals the app's
``CAMPAIGN_START`` (:func:`usable`); :func:`rebuild` (``flask recount``) sets it and counts
again.

Caution: on SQLite, a migration that rebuilds ``beneficiary`` or ``account`` with
``batch_alter_table`` (copy and rename) loses their triggers; such a migration must create
them again (:func:`create_statements`).
"""
from datetime import datetime

from sqlalchemy import text

from ..extensions import db

START_KEY = "counts_campaign_start"
DEFAULT_START = "2024-01-01 00:00:00"  # config.Config.CAMPAIGN_START's default, normalised
FIELDS = ("total", "reviewed", "with_account", "own", "guardian", "authorised", "cashless",
          "opening", "no_account", "refuses")
# The beneficiary's columns the counters read: an update of another column does nothing.
COUNTED_COLUMNS = ("status", "deceased", "commune_id", "village_id", "program", "reviewed_at",
                   "account_status", "payment_method")
_ROW = ("commune_id", "village_id", "program", "status", "deceased", "reviewed_at", "account_status",
        "payment_method")


def normalise(start):
    """The campaign start (a ``datetime`` or an ISO string) as stored: ``YYYY-MM-DD HH:MM:SS``
    (microseconds dropped: a start with them never matches, and the pages count live)."""
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    return start.strftime("%Y-%m-%d %H:%M:%S")


def _start(dialect):
    value = (f"(SELECT COALESCE(MAX(value), '{DEFAULT_START}') FROM setting WHERE key = '{START_KEY}')")
    return f"CAST({value} AS timestamp)" if dialect == "postgresql" else value


def _add(source, dialect):
    """``INSERT … SELECT … GROUP BY`` adding to ``progress_count`` one row per (commune,
    village, program) of the contribution of ``source`` (none when it is all zero): a query
    of the columns ``sign`` (+1 to add, -1 to subtract), the beneficiary's :data:`_ROW` and
    ``r``, its account's recipient type (``self`` when it has none)."""
    has = "s.account_status = 'has_account'"
    cond = {"total": None, "reviewed": f"s.reviewed_at >= {_start(dialect)}", "with_account": has,
            "own": f"{has} AND s.r = 'self'", "guardian": f"{has} AND s.r = 'guardian'",
            "authorised": f"{has} AND s.r = 'authorised'",
            "cashless": f"{has} AND s.payment_method = 'account'",
            "opening": "s.account_status = 'opening'", "no_account": "s.account_status = 'no_account'",
            "refuses": "s.account_status = 'refuses'"}
    sums = ["SUM(s.sign)" if c is None else f"SUM(CASE WHEN {c} THEN s.sign ELSE 0 END)"
            for c in (cond[f] for f in FIELDS)]
    return (f"INSERT INTO progress_count (commune_id, village_id, program, {', '.join(FIELDS)}) "
            f"SELECT s.commune_id, COALESCE(s.village_id, 0), s.program, {', '.join(sums)} FROM ({source}) AS s "
            f"WHERE s.status = 'active' AND NOT s.deceased "
            f"GROUP BY s.commune_id, COALESCE(s.village_id, 0), s.program "
            f"HAVING {' OR '.join(f'{x} <> 0' for x in sums)}")


def _rtype(beneficiary_id):
    return (f"COALESCE((SELECT a.recipient_type FROM account a WHERE a.beneficiary_id = {beneficiary_id}), "
            f"'self')")


def _record(sign, row, r):
    """One beneficiary row of a trigger (``OLD`` / ``NEW``) as a source row."""
    cols = ", ".join(f"{row}.{c} AS {c}" for c in _ROW)
    return f"SELECT {sign} AS sign, {cols}, {r} AS r"


def _records(sign, table, r="COALESCE(a.recipient_type, 'self')", join="LEFT JOIN account a ON a.beneficiary_id = b.id"):
    """The rows of ``table`` (``beneficiary`` or a transition table of it) as source rows."""
    cols = ", ".join(f"b.{c} AS {c}" for c in _ROW)
    return f"SELECT {sign} AS sign, {cols}, {r} AS r FROM {table} b {join}"


def _moved(sign, r, beneficiary_id):
    """The beneficiary of an account (``beneficiary_id`` an expression), counted with the
    recipient type ``r``, as a source row (none when it does not exist)."""
    cols = ", ".join(f"b.{c} AS {c}" for c in _ROW)
    return f"SELECT {sign} AS sign, {cols}, {r} AS r FROM beneficiary b WHERE b.id = {beneficiary_id}"


def _account_moves(*moves):
    """Source rows for an account's change: ``moves`` of (sign, ``r``, beneficiary id)."""
    return " UNION ALL ".join(_moved(*m) for m in moves)


def backfill_sql(dialect):
    """Count every record into ``progress_count``, one row per (commune, village, program)
    (it must be empty, or the counts add up)."""
    return _add(_records(1, "beneficiary"), dialect)


def _changed(columns, dialect):
    op = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    return " OR ".join(f"OLD.{c} {op} NEW.{c}" for c in columns)


OLD_R, NEW_R, SELF = "COALESCE(OLD.recipient_type, 'self')", "COALESCE(NEW.recipient_type, 'self')", "'self'"


def create_statements(dialect):
    """The DDL (a list of statements) making the triggers of ``dialect`` (``postgresql`` or
    ``sqlite``); idempotent (``CREATE OR REPLACE``, ``IF NOT EXISTS``)."""
    bupdate = _add(" UNION ALL ".join((_record(-1, "OLD", _rtype("OLD.id")),
                                          _record(1, "NEW", _rtype("NEW.id")))), dialect)
    aupdate = _add(_account_moves((-1, OLD_R, "OLD.beneficiary_id"), (1, SELF, "OLD.beneficiary_id"),
                                     (-1, SELF, "NEW.beneficiary_id"), (1, NEW_R, "NEW.beneficiary_id")), dialect)
    bwhen, awhen = _changed(COUNTED_COLUMNS, dialect), _changed(("beneficiary_id", "recipient_type"), dialect)
    of_b, of_a = ", ".join(COUNTED_COLUMNS), "beneficiary_id, recipient_type"
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS progress_count_beneficiary_insert AFTER INSERT ON beneficiary "
            f"BEGIN {_add(_record(1, 'NEW', _rtype('NEW.id')), dialect)}; END",
            f"CREATE TRIGGER IF NOT EXISTS progress_count_beneficiary_update AFTER UPDATE OF {of_b} ON beneficiary "
            f"WHEN {bwhen} BEGIN {bupdate}; END",
            f"CREATE TRIGGER IF NOT EXISTS progress_count_beneficiary_delete AFTER DELETE ON beneficiary "
            f"BEGIN {_add(_record(-1, 'OLD', _rtype('OLD.id')), dialect)}; END",
            f"CREATE TRIGGER IF NOT EXISTS progress_count_account_insert AFTER INSERT ON account "
            f"BEGIN {_add(_account_moves((-1, SELF, 'NEW.beneficiary_id'), (1, NEW_R, 'NEW.beneficiary_id')), dialect)}; END",
            f"CREATE TRIGGER IF NOT EXISTS progress_count_account_update AFTER UPDATE OF {of_a} ON account "
            f"WHEN {awhen} BEGIN {aupdate}; END",
            f"CREATE TRIGGER IF NOT EXISTS progress_count_account_delete AFTER DELETE ON account "
            f"BEGIN {_add(_account_moves((-1, OLD_R, 'OLD.beneficiary_id'), (1, SELF, 'OLD.beneficiary_id')), dialect)}; END",
        ]
    # PostgreSQL: statement-level INSERT / DELETE over the transition tables.
    acc = "COALESCE(a.recipient_type, 'self')"
    joined = "JOIN beneficiary b ON b.id = a.beneficiary_id"

    def accounts(sign, table, r):
        cols = ", ".join(f"b.{c} AS {c}" for c in _ROW)
        return f"SELECT {sign} AS sign, {cols}, {r} AS r FROM {table} a {joined}"

    bodies = {
        "beneficiary_insert": _add(_records(1, "progress_count_new"), dialect),
        "beneficiary_delete": _add(_records(-1, "progress_count_old"), dialect),
        "beneficiary_update": _add(_records(-1, "progress_count_old") + " UNION ALL "
                                   + _records(1, "progress_count_new"), dialect),
        "account_insert": _add(accounts(-1, "progress_count_new", "'self'") + " UNION ALL "
                                  + accounts(1, "progress_count_new", acc), dialect),
        "account_delete": _add(accounts(-1, "progress_count_old", acc) + " UNION ALL "
                                  + accounts(1, "progress_count_old", "'self'"), dialect),
        "account_update": aupdate,
    }
    out = [f"CREATE OR REPLACE FUNCTION progress_count_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
           f"BEGIN {body}; RETURN NULL; END $$" for name, body in bodies.items()]
    for table in ("beneficiary", "account"):
        out += [
            f"CREATE OR REPLACE TRIGGER progress_count_{table}_insert AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS progress_count_new FOR EACH STATEMENT "
            f"EXECUTE FUNCTION progress_count_{table}_insert()",
            f"CREATE OR REPLACE TRIGGER progress_count_{table}_delete AFTER DELETE ON {table} "
            f"REFERENCING OLD TABLE AS progress_count_old FOR EACH STATEMENT "
            f"EXECUTE FUNCTION progress_count_{table}_delete()",
        ]
    out += [  # a bulk UPDATE of records adds one row per key it moves, not one per record
        "CREATE OR REPLACE TRIGGER progress_count_beneficiary_update AFTER UPDATE ON beneficiary "
        "REFERENCING OLD TABLE AS progress_count_old NEW TABLE AS progress_count_new FOR EACH STATEMENT "
        "EXECUTE FUNCTION progress_count_beneficiary_update()",
        f"CREATE OR REPLACE TRIGGER progress_count_account_update AFTER UPDATE OF {of_a} ON account "
        f"FOR EACH ROW WHEN ({awhen}) EXECUTE FUNCTION progress_count_account_update()",
    ]
    return out


TRIGGERS = tuple(f"progress_count_{t}_{op}" for t in ("beneficiary", "account")
                 for op in ("insert", "update", "delete"))


def drop_statements(dialect):
    """The DDL dropping what :func:`create_statements` makes."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS]
    return ([f"DROP TRIGGER IF EXISTS {name} ON {name.split('_')[2]}" for name in TRIGGERS]
            + [f"DROP FUNCTION IF EXISTS {name}()" for name in TRIGGERS])


def compact_sql(dialect):
    """The statements (a list) folding the rows of ``progress_count`` into one per (commune,
    village, program), the all-zero ones dropped. On PostgreSQL one statement (``DELETE …
    RETURNING`` feeding the ``INSERT``): a row a concurrent writer commits meanwhile is not
    seen, so it stays as it is, and two compactions never count a row twice (the second
    waits, then skips the rows the first deleted). On SQLite (one writer at a time) the rows
    up to the largest id are summed, then deleted, in the caller's transaction."""
    fields = ", ".join(FIELDS)
    sums = [f"SUM({f})" for f in FIELDS]
    grouped = (f"SELECT commune_id, village_id, program, {', '.join(sums)} FROM {{src}} "
               f"GROUP BY commune_id, village_id, program HAVING {' OR '.join(f'{x} <> 0' for x in sums)}")
    insert = f"INSERT INTO progress_count (commune_id, village_id, program, {fields}) "
    if dialect == "postgresql":
        return [f"WITH gone AS (DELETE FROM progress_count RETURNING commune_id, village_id, program, {fields}) "
                + insert + grouped.format(src="gone")]
    last = "(SELECT MAX(id) FROM progress_count)"
    return ["CREATE TEMP TABLE IF NOT EXISTS progress_count_last (id INTEGER)",
            "DELETE FROM progress_count_last",
            f"INSERT INTO progress_count_last SELECT {last}",
            insert + grouped.format(src="progress_count WHERE id <= (SELECT id FROM progress_count_last)"),
            "DELETE FROM progress_count WHERE id <= (SELECT id FROM progress_count_last)"]


def compact():
    """Fold ``progress_count`` into one row per (commune, village, program) (:func:`compact_sql`):
    the writes add a row each, so the pages' sums grow with the writes until this runs (the
    worker, every 10 minutes; ``flask recount``). Returns the rows left. The caller commits."""
    for statement in compact_sql(db.engine.dialect.name):
        db.session.execute(text(statement))
    return int(db.session.execute(text("SELECT COUNT(*) FROM progress_count")).scalar())


def basis():
    """The campaign start the counters count reviews from (``YYYY-MM-DD HH:MM:SS``)."""
    value = db.session.execute(text("SELECT value FROM setting WHERE key = :k"), {"k": START_KEY}).scalar()
    return value or DEFAULT_START


def usable(start):
    """Whether the counters count reviews from ``start`` (a ``datetime``)."""
    return datetime.fromisoformat(basis()) == start


def rebuild(start):
    """Count ``progress_count`` again from the registry, reviews from ``start`` (a
    ``datetime``, the app's ``CAMPAIGN_START``), stored as the basis. Returns the number of
    records counted. Locks the table for the transaction on PostgreSQL (a write meanwhile
    would be counted twice or lost); the caller commits."""
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        db.session.execute(text("LOCK TABLE progress_count, beneficiary, account IN SHARE ROW EXCLUSIVE MODE"))
    # In SQL: models imports this module (its create_all makes the triggers).
    db.session.execute(text("DELETE FROM setting WHERE key = :k"), {"k": START_KEY})
    db.session.execute(text("INSERT INTO setting (key, value) VALUES (:k, :v)"),
                       {"k": START_KEY, "v": normalise(start)})
    db.session.execute(text("DELETE FROM progress_count"))
    db.session.execute(text(backfill_sql(dialect)))
    return int(db.session.execute(text("SELECT COALESCE(SUM(total), 0) FROM progress_count")).scalar())
