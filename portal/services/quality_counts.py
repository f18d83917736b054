"""The data-quality pages' counts kept by the database itself, so a district's quality page
reads a few rows per commune and a commune's worklist reads one page of an index instead
of every open finding (bench/README.md, "At province and country size": 1,648 ms and
713 ms p95 at 1,000,000 beneficiaries when counted from the findings).

What is counted is what ``checks._open_check()`` selects: findings of source ``check`` or
``police``, not resolved (``resolved_at IS NULL``), with a commune (``finding.commune_id``,
the record's). Three tables (models ``FindingCount``, ``QualityCount``, ``QualityRecord``):

- ``finding_count (commune_id, code, severity) → n``: the open findings per rule, what the
  overview's columns and a commune's "by rule" show.
- ``quality_record (beneficiary_id, commune_id) → errors, warnings, rank, name_folded``: one
  row per record with at least one open finding (deleted when its last goes), ``errors``
  its open findings of severity ``error``, ``warnings`` the others, ``rank`` 0 when it has
  an error and 1 otherwise, ``name_folded`` a copy of the record's. It is what makes exact
  distinct counts cheap to keep (a record's first error is the row's ``errors`` going 0 → 1,
  whatever the order of the writes, also for two findings inserted by one statement), and
  the worklist's order is its index ``(commune_id, rank, name_folded, beneficiary_id)``.
- ``quality_count (commune_id) → records, with_error, with_finding``: the records not merged
  registered in the commune, those with an open error (``quality_record.errors > 0``) and
  those with any open finding (the worklist's total).

Database triggers keep them, not ORM events: ``run_checks`` inserts findings with Core
multi-row INSERTs and resolves them with Core UPDATEs, and bulk UPDATEs exist elsewhere; the
bench copies findings and records with INSERT … SELECT.

- ``finding`` AFTER INSERT / UPDATE / DELETE: the rows counted before (−1) and after (+1),
  grouped; ``finding_count`` moves by the sum, ``quality_record`` by each record's sum, and
  ``quality_count.with_error`` / ``with_finding`` by the records whose ``errors`` /
  ``errors + warnings`` went from 0 to more (+1) or back (−1).
- ``beneficiary`` AFTER INSERT / DELETE, and UPDATE of ``status``, ``commune_id`` (when one
  changed): ``quality_count.records``; UPDATE of ``name_folded``: the copy in
  ``quality_record``.

On PostgreSQL every trigger is statement-level with transition tables: one grouped upsert
per statement, so a recheck that inserts or resolves 5,000 findings, or an UPDATE of 50,000
records' status, moves each counter row once, not once per row (updating one row many times
in one transaction is quadratic on PostgreSQL: each update walks the row's dead versions;
``tallies`` measured 112–152 s for a 50,000-row status UPDATE with row-level upserts). The
UPDATE triggers have no column list (transition tables allow none): the ``finding`` one
returns at once when no counted column changed, the ``beneficiary`` one (status, commune,
name) joins the old and new rows of the statement. On SQLite every trigger is row-level
(updates in place). Each upsert adds ``n = n + d``: two transactions writing the same
counter row wait for each other.

The tables have no foreign keys: a test's cleanup that empties tables one after another
(tests/conftest.py) makes the triggers write counter rows in between.

Caution: on SQLite a migration that rebuilds ``finding`` or ``beneficiary`` with
``batch_alter_table`` loses their triggers; it must make them again
(:func:`create_statements`). :func:`recount` makes every counter again from the findings
and the registry (``flask recount``; migration 0014's backfill).
"""
from sqlalchemy import text

from ..extensions import db

# What a counted finding is (``checks._open_check``), for a row ``r`` (``NEW``, ``OLD`` or an alias).
_COUNTED = "{r}.source IN ('check', 'police') AND {r}.resolved_at IS NULL AND {r}.commune_id IS NOT NULL"
_COLS = ("commune_id", "beneficiary_id", "code", "severity")
# The finding's columns whose change can move a counter.
FINDING_COLUMNS = ("resolved_at", "source", "severity", "code", "commune_id", "beneficiary_id")
TABLES = ("finding_count", "quality_record", "quality_count")


def _rows(sign, r, table=None):
    """The counted rows of a finding (``r`` ``NEW``/``OLD``) or of a table of findings, as
    source rows ``(commune_id, beneficiary_id, code, severity, s)``."""
    cols = ", ".join(f"{r}.{c} AS {c}" for c in _COLS)
    where = _COUNTED.format(r=r)
    if table is None:
        return f"SELECT {cols}, {sign} AS s WHERE {where}"
    return f"SELECT {cols}, {sign} AS s FROM {table} {r} WHERE {where}"


def _apply(source, dialect):
    """The statements moving the counters by the source rows ``source`` (a query of
    ``commune_id, beneficiary_id, code, severity, s``; ``s`` +1 for a finding counted from
    now on, −1 for one no longer counted).

    Every read of a large table is by key: the record's name by its primary key (a
    correlated subquery, never a join the planner could turn into a scan of the registry),
    the per-record rows by theirs. On PostgreSQL the records' new counts come back from the
    upsert (``RETURNING``) to move ``quality_count``, and the records left with none are
    deleted by id (``= ANY`` of an array); on SQLite (one finding per trigger) they are read
    back by primary key."""
    pg = dialect == "postgresql"
    order = lambda keys: f" ORDER BY {keys}" if pg else ""  # noqa: E731 (the same lock order everywhere)
    err = "CASE WHEN d.severity = 'error' THEN d.s ELSE 0 END"
    warn = "CASE WHEN d.severity = 'error' THEN 0 ELSE d.s END"
    per = (f"SELECT d.commune_id, d.beneficiary_id, SUM({err}) AS de, SUM({warn}) AS dw FROM ({source}) AS d "
           f"GROUP BY d.commune_id, d.beneficiary_id HAVING SUM({err}) <> 0 OR SUM({warn}) <> 0")
    codes = (f"INSERT INTO finding_count (commune_id, code, severity, n) "
             f"SELECT d.commune_id, d.code, d.severity, SUM(d.s) FROM ({source}) AS d WHERE true "
             f"GROUP BY d.commune_id, d.code, d.severity HAVING SUM(d.s) <> 0{order('1, 2, 3')} "
             f"ON CONFLICT (commune_id, code, severity) DO UPDATE SET n = finding_count.n + excluded.n")
    records = (f"INSERT INTO quality_record (beneficiary_id, commune_id, name_folded, errors, warnings, rank) "
               f"SELECT p.beneficiary_id, p.commune_id, "
               f"(SELECT b.name_folded FROM beneficiary b WHERE b.id = p.beneficiary_id), p.de, p.dw, "
               f"CASE WHEN p.de > 0 THEN 0 ELSE 1 END FROM {'p' if pg else f'({per}) AS p'} WHERE true{order('1, 2')} "
               f"ON CONFLICT (beneficiary_id, commune_id) DO UPDATE SET "
               f"errors = quality_record.errors + excluded.errors, "
               f"warnings = quality_record.warnings + excluded.warnings, "
               f"rank = CASE WHEN quality_record.errors + excluded.errors > 0 THEN 0 ELSE 1 END")
    # The records whose errors (or any finding) went from none to some (+1), or back (−1).
    moves = ("SUM(CASE WHEN q.errors > 0 THEN 1 ELSE 0 END - CASE WHEN q.errors - p.de > 0 THEN 1 ELSE 0 END), "
             "SUM(CASE WHEN q.errors + q.warnings > 0 THEN 1 ELSE 0 END "
             "- CASE WHEN q.errors + q.warnings - p.de - p.dw > 0 THEN 1 ELSE 0 END)")
    communes = ("INSERT INTO quality_count (commune_id, records, with_error, with_finding) "
                "SELECT q.commune_id, 0, {moves} FROM {rows} WHERE true GROUP BY q.commune_id{order} "
                "ON CONFLICT (commune_id) DO UPDATE SET with_error = quality_count.with_error + excluded.with_error, "
                "with_finding = quality_count.with_finding + excluded.with_finding")
    if pg:
        return [
            codes,
            f"WITH p AS ({per}), q AS ({records} RETURNING beneficiary_id, commune_id, errors, warnings), "
            "c AS (" + communes.format(moves=moves, order=order("1"), rows="q JOIN p ON p.beneficiary_id = "
                                       "q.beneficiary_id AND p.commune_id = q.commune_id") + ") "
            "SELECT array_agg(q.beneficiary_id) INTO gone FROM q WHERE q.errors = 0 AND q.warnings = 0",
            "IF gone IS NOT NULL THEN DELETE FROM quality_record WHERE beneficiary_id = ANY (gone) "
            "AND errors = 0 AND warnings = 0; END IF",
        ]
    return [
        codes, records,
        communes.format(moves=moves, order="", rows=f"({per}) AS p JOIN quality_record q "
                        "ON q.beneficiary_id = p.beneficiary_id AND q.commune_id = p.commune_id"),
        f"DELETE FROM quality_record WHERE errors = 0 AND warnings = 0 AND beneficiary_id IN "
        f"(SELECT d.beneficiary_id FROM ({source}) AS d)",
    ]


def _records(source, dialect):
    """The statement moving ``quality_count.records`` by ``source`` (``commune_id, status, s``)."""
    order = " ORDER BY 1" if dialect == "postgresql" else ""
    return (f"INSERT INTO quality_count (commune_id, records, with_error, with_finding) "
            f"SELECT d.commune_id, SUM(d.s), 0, 0 FROM ({source}) AS d "
            f"WHERE d.status <> 'merged' AND d.commune_id IS NOT NULL "
            f"GROUP BY d.commune_id HAVING SUM(d.s) <> 0{order} "
            f"ON CONFLICT (commune_id) DO UPDATE SET records = quality_count.records + excluded.records")


def _person(sign, r, table=None):
    cols = f"{r}.commune_id AS commune_id, {r}.status AS status, {sign} AS s"
    return f"SELECT {cols}" + (f" FROM {table} {r}" if table else "")


def _changed(columns, dialect, old="OLD", new="NEW"):
    op = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    return " OR ".join(f"{old}.{c} {op} {new}.{c}" for c in columns)


_NAME = "UPDATE quality_record SET name_folded = NEW.name_folded WHERE beneficiary_id = NEW.id"

# (name, table, event): every trigger made, in order.
TRIGGERS = (
    ("finding_count_insert", "finding"), ("finding_count_update", "finding"),
    ("finding_count_delete", "finding"),
    ("quality_count_beneficiary_insert", "beneficiary"), ("quality_count_beneficiary_update", "beneficiary"),
    ("quality_count_beneficiary_delete", "beneficiary"), ("quality_count_beneficiary_name", "beneficiary"),
)


def create_statements(dialect):
    """The DDL (a list of statements) making the triggers of ``dialect`` (``postgresql`` or
    ``sqlite``); idempotent (``CREATE OR REPLACE``, ``IF NOT EXISTS``)."""
    of_f = ", ".join(FINDING_COLUMNS)
    if dialect == "sqlite":
        moved = _changed(("status", "commune_id"), dialect)
        person_update = _records(f"{_person(-1, 'OLD')} UNION ALL {_person(1, 'NEW')}", dialect)
        def trigger(name, when, table, body, cond=None):
            cond = f" WHEN {cond}" if cond else ""
            return (f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {when} ON {table}{cond} "
                    f"BEGIN {'; '.join(body)}; END")
        f_update = _apply(f"{_rows(-1, 'OLD')} UNION ALL {_rows(1, 'NEW')}", dialect)
        return [
            trigger("finding_count_insert", "INSERT", "finding", _apply(_rows(1, "NEW"), dialect),
                    _COUNTED.format(r="NEW")),
            trigger("finding_count_update", f"UPDATE OF {of_f}", "finding", f_update,
                    _changed(FINDING_COLUMNS, dialect)),
            trigger("finding_count_delete", "DELETE", "finding", _apply(_rows(-1, "OLD"), dialect),
                    _COUNTED.format(r="OLD")),
            trigger("quality_count_beneficiary_insert", "INSERT", "beneficiary",
                    [_records(_person(1, "NEW"), dialect)]),
            trigger("quality_count_beneficiary_update", "UPDATE OF status, commune_id", "beneficiary",
                    [person_update], moved),
            trigger("quality_count_beneficiary_delete", "DELETE", "beneficiary",
                    [_records(_person(-1, "OLD"), dialect)]),
            trigger("quality_count_beneficiary_name", "UPDATE OF name_folded", "beneficiary", [_NAME],
                    _changed(("name_folded",), dialect)),
        ]
    old, new = "finding_count_old", "finding_count_new"
    relevant = _changed(FINDING_COLUMNS, dialect, "o", "n")
    bodies = {
        "finding_count_insert": _apply(_rows(1, "f", new), dialect),
        "finding_count_delete": _apply(_rows(-1, "f", old), dialect),
        "finding_count_update": [
            f"IF NOT EXISTS (SELECT 1 FROM {old} o JOIN {new} n ON n.id = o.id WHERE {relevant}) "
            f"THEN RETURN NULL; END IF"] + _apply(f"{_rows(-1, 'f', old)} UNION ALL {_rows(1, 'f', new)}", dialect),
        "quality_count_beneficiary_insert": [_records(_person(1, "b", "quality_count_new"), dialect)],
        "quality_count_beneficiary_delete": [_records(_person(-1, "b", "quality_count_old"), dialect)],
        "quality_count_beneficiary_update": [
            _records("SELECT x.commune_id, x.status, x.s FROM quality_count_old o "
                     "JOIN quality_count_new n ON n.id = o.id CROSS JOIN LATERAL "
                     "(VALUES (o.commune_id, o.status, -1), (n.commune_id, n.status, 1)) AS x (commune_id, status, s) "
                     f"WHERE {_changed(('status', 'commune_id'), dialect, 'o', 'n')}", dialect),
            "UPDATE quality_record SET name_folded = n.name_folded FROM quality_count_new n "
            "JOIN quality_count_old o ON o.id = n.id WHERE quality_record.beneficiary_id = n.id "
            f"AND {_changed(('name_folded',), dialect, 'o', 'n')}"],
    }
    out = [f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
           f"DECLARE gone integer[]; BEGIN {'; '.join(body)}; RETURN NULL; END $$" for name, body in bodies.items()]

    def trigger(name, when, table, spec):
        return f"CREATE OR REPLACE TRIGGER {name} AFTER {when} ON {table} {spec} EXECUTE FUNCTION {name}()"
    return out + [
        trigger("finding_count_insert", "INSERT", "finding",
                f"REFERENCING NEW TABLE AS {new} FOR EACH STATEMENT"),
        trigger("finding_count_update", "UPDATE", "finding",
                f"REFERENCING OLD TABLE AS {old} NEW TABLE AS {new} FOR EACH STATEMENT"),
        trigger("finding_count_delete", "DELETE", "finding",
                f"REFERENCING OLD TABLE AS {old} FOR EACH STATEMENT"),
        trigger("quality_count_beneficiary_insert", "INSERT", "beneficiary",
                "REFERENCING NEW TABLE AS quality_count_new FOR EACH STATEMENT"),
        trigger("quality_count_beneficiary_update", "UPDATE", "beneficiary",
                "REFERENCING OLD TABLE AS quality_count_old NEW TABLE AS quality_count_new FOR EACH STATEMENT"),
        trigger("quality_count_beneficiary_delete", "DELETE", "beneficiary",
                "REFERENCING OLD TABLE AS quality_count_old FOR EACH STATEMENT"),
    ]


def drop_statements(dialect):
    """The DDL dropping what :func:`create_statements` makes."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name, _table in TRIGGERS]
    return ([f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in TRIGGERS]
            + [f"DROP FUNCTION IF EXISTS {name}()" for name, _table in TRIGGERS])


# Every counter made again from the findings and the registry (the tables must be empty).
RECOUNT_SQL = (
    "INSERT INTO finding_count (commune_id, code, severity, n) "
    "SELECT f.commune_id, f.code, f.severity, COUNT(*) FROM finding f WHERE "
    + _COUNTED.format(r="f") + " GROUP BY f.commune_id, f.code, f.severity",
    "INSERT INTO quality_record (beneficiary_id, commune_id, name_folded, errors, warnings, rank) "
    "SELECT p.beneficiary_id, p.commune_id, b.name_folded, p.e, p.w, CASE WHEN p.e > 0 THEN 0 ELSE 1 END "
    "FROM (SELECT f.beneficiary_id, f.commune_id, SUM(CASE WHEN f.severity = 'error' THEN 1 ELSE 0 END) AS e, "
    "SUM(CASE WHEN f.severity = 'error' THEN 0 ELSE 1 END) AS w FROM finding f WHERE "
    + _COUNTED.format(r="f") + " GROUP BY f.beneficiary_id, f.commune_id) AS p "
    "LEFT JOIN beneficiary b ON b.id = p.beneficiary_id",
    "INSERT INTO quality_count (commune_id, records, with_error, with_finding) "
    "SELECT u.commune_id, SUM(u.records), SUM(u.with_error), SUM(u.with_finding) FROM ("
    "SELECT b.commune_id AS commune_id, COUNT(*) AS records, 0 AS with_error, 0 AS with_finding "
    "FROM beneficiary b WHERE b.status <> 'merged' AND b.commune_id IS NOT NULL GROUP BY b.commune_id "
    "UNION ALL SELECT q.commune_id, 0, SUM(CASE WHEN q.errors > 0 THEN 1 ELSE 0 END), COUNT(*) "
    "FROM quality_record q GROUP BY q.commune_id) AS u GROUP BY u.commune_id",
)


def recount_quality():
    """Make every counter again from the open findings and the registry (``flask recount``).
    Locks ``finding`` and ``beneficiary`` against writes for the transaction on PostgreSQL
    (a write meanwhile would be counted twice or lost); the caller commits. Returns
    ``{"findings": n, "records": n}``: the open findings and the records counted."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE finding, beneficiary, finding_count, quality_record, quality_count "
                                "IN SHARE ROW EXCLUSIVE MODE"))
    for table in TABLES:
        db.session.execute(text(f"DELETE FROM {table}"))
    for statement in RECOUNT_SQL:
        db.session.execute(text(statement))
    return {"findings": int(db.session.scalar(text("SELECT COALESCE(SUM(n), 0) FROM finding_count"))),
            "records": int(db.session.scalar(text("SELECT COALESCE(SUM(records), 0) FROM quality_count")))}
