#!/usr/bin/env python
"""Page times on PostgreSQL at a province's and the country's size (issue 12, §3): prints
figures, never asserts.

    .venv/bin/python bench/scale.py [--size N] [--keep] [--seed N] [--base N] [--reuse]
                                    [--build-only] [--ready-file PATH] [--skip-work]
                                    [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

One JSON line per figure on stdout, ``{"bench": "scale", …}``; progress on stderr.

1. **Build.** Database ``portal_scale_<N>`` on the server of ``--pg`` (dropped first if it
   exists, dropped at the end unless ``--keep``), its schema by the migrations
   (``flask_migrate.upgrade``, the indexes production has). The first ``--base`` people
   (default 100,000, or N if smaller) are made by the demo builder exactly as
   ``flask seed-demo --world 2024 --size B`` does: ``demo.build_demo(size=B)``,
   ``demo.plant_problems`` (which also pays January–May 2024 through the product's own
   functions: lists built, locked, results recorded), the open month set to 2024-05, the
   demo users (``create_demo_users(world="2024")``) and ``checks.recheck`` of everyone.
   Above B the district is **copied** in SQL, ``INSERT … SELECT`` with every id shifted,
   ⌈N/B⌉ − 1 times: households, beneficiaries, accounts, reviews, events, findings,
   verifications and payment lines (into the same lists), each copy into the same
   communes and villages. So 1,000,000 is Bình Sơn ten times over: 22 communes of about
   45,000 people, each commune's monthly list ten times as long. The copies are not
   re-checked (their findings are the originals'); the lists, longer now, are counted again
   (``counts.recount``). Rows/s is printed for each stage. ``--build-only`` stops here
   (the database kept); ``--ready-file`` gets ``READY <url>`` as soon as it is built.
   ``--reuse`` builds nothing: it upgrades a kept database to the migrations' head, counts
   its lists if some have no figures, and ``VACUUM ANALYZE``s it.
2. **Pages.** Each page the issue names, through the Flask test client, logged in as the
   demo's ``district`` and ``commune`` (Bình Chánh) users: 2 warm-up requests, then 20;
   p50/p95 and ``within`` (p95 ≤ 50 ms, the issue's goal at 1M on 2 cores; the
   overview's country goal of 300 ms is for 5M and not applied). Every SQL statement of
   the timed requests is timed (``before/after_cursor_execute``); the slowest one of the
   slowest request is printed with its share of that request.
3. **EXPLAIN.** For the 3 pages with the highest p95 (a page whose slowest statement is
   one already explained is skipped for the next), ``EXPLAIN (ANALYZE, BUFFERS)`` of
   that page's slowest statement with its parameters, printed on stdout (``plan``, a list
   of lines) and summarised (``top_nodes``: the plan lines with the largest actual time).
4. **Work** (unless ``--skip-work``): a month's lists for the whole district
   (``payments.build_area``, rolled back) and the district's registry export, timed once.

The machine's 1-minute load average is printed beside each figure (``load``).
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine, make_url

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402
from run import focus_ids, login  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Area, Beneficiary, PaymentLine, PaymentPeriod, User  # noqa: E402
from portal.services import areas, checks, clock, counts, demo, payments, registry  # noqa: E402

GOAL_MS = 50.0
WARMUP, RUNS = 2, 20
# Copied above the base, parents before children. Columns that point at one of these
# tables are shifted with it; the others (area, user, payment_period, import_batch) are kept.
COPIED = ("household", "beneficiary", "account", "review", "verification", "payment_line", "event", "finding")

# --------------------------------------------------------------------------- SQL capture

_CAPTURE = {"on": False, "stmts": [], "t0": None}


@event.listens_for(Engine, "before_cursor_execute")
def _before(conn, cursor, statement, parameters, context, executemany):
    conn.info["_scale_t0"] = time.perf_counter()


@event.listens_for(Engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    t0 = conn.info.pop("_scale_t0", None)
    if _CAPTURE["on"] and t0 is not None:
        _CAPTURE["stmts"].append((time.perf_counter() - t0, statement, parameters, executemany))


def emit(**figures):
    print(json.dumps({"bench": "scale", **figures}, ensure_ascii=False, default=str), flush=True)


def note(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def ms(seconds):
    return round(seconds * 1000, 1)


# --------------------------------------------------------------------------- database

def admin_conn(base_url):
    import psycopg
    url = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True)


def fresh_database(base_url, name):
    with admin_conn(base_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def drop_database(base_url, name):
    with admin_conn(base_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_app(url):
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False})


def build_base(app, size, seed):
    """The demo district of ``size`` as ``seed-demo --world 2024`` makes it; per-stage seconds."""
    from flask_migrate import upgrade
    stages = {}
    with app.app_context():
        t = time.perf_counter()
        upgrade()
        areas.load_packaged_areas()
        db.session.commit()
        stages["schema_s"] = time.perf_counter() - t
        t = time.perf_counter()
        made = demo.build_demo(seed=seed, size=size)
        db.session.commit()
        stages["build_demo_s"] = time.perf_counter() - t
        note(f"build_demo: {made} in {stages['build_demo_s']:.1f} s")
        t = time.perf_counter()
        planted = demo.plant_problems(seed)  # also demo.pay_months: January–May 2024 paid
        db.session.commit()
        stages["plant_and_pay_months_s"] = time.perf_counter() - t
        note(f"plant_problems + pay_months: {stages['plant_and_pay_months_s']:.1f} s")
        t = time.perf_counter()
        clock.set_open_month("2024-05")
        demo.create_demo_users(world="2024")
        checks.recheck(select(Beneficiary.id))
        db.session.commit()
        stages["users_and_recheck_s"] = time.perf_counter() - t
        note(f"users + recheck: {stages['users_and_recheck_s']:.1f} s")
        db.session.remove()
    return made, planted.get("paid_months"), stages


def copy_up(app, copies):
    """``copies`` more copies of every row of :data:`COPIED`, ids shifted; returns rows added."""
    added = 0
    with app.app_context():
        conn = db.session.connection()
        fks = {}  # (table, column) -> referenced table
        for t, c, ref in conn.execute(text(
                "SELECT tc.table_name, kcu.column_name, ccu.table_name FROM information_schema.table_constraints tc"
                " JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name"
                " JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name"
                " WHERE tc.constraint_type = 'FOREIGN KEY'")):
            fks[(t, c)] = ref
        top = {t: conn.execute(text(f'SELECT coalesce(max(id), 0) FROM "{t}"')).scalar() for t in COPIED}
        for i in range(1, copies + 1):
            t_copy = time.perf_counter()
            n_copy = 0
            for t in COPIED:
                cols = [r[0] for r in conn.execute(text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = :t"
                    " ORDER BY ordinal_position"), {"t": t})]
                exprs = []
                for c in cols:
                    ref = t if c == "id" else fks.get((t, c))
                    exprs.append(f'"{c}" + {i * top[ref]}' if ref in COPIED else f'"{c}"')
                names = ", ".join(f'"{c}"' for c in cols)
                n = conn.execute(text(f'INSERT INTO "{t}" ({names}) SELECT {", ".join(exprs)} FROM "{t}"'
                                      f' WHERE id <= {top[t]}')).rowcount
                n_copy += n
            db.session.commit()
            conn = db.session.connection()
            added += n_copy
            note(f"copy {i}/{copies}: {n_copy:,} rows in {time.perf_counter() - t_copy:.1f} s")
        for t in COPIED:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM \"{t}\"))"))
        db.session.commit()
        db.session.remove()
    return added


def upgrade_and_count(app):
    """A kept database to the migrations' head (``flask_migrate.upgrade``: nothing when it is
    there), and its locked lists counted (``counts.recount``) when some have no figures: a
    database built before migration 0012, or copied (a copy adds lines to the same lists).
    Returns ``{"upgrade_s", "recount_s", "lists"}``."""
    from flask_migrate import upgrade
    out = {}
    with app.app_context():
        t = time.perf_counter()
        upgrade()
        out["upgrade_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        missing = db.session.scalar(select(func.count()).select_from(PaymentPeriod).where(
            PaymentPeriod.status == "locked", PaymentPeriod.counted_at.is_(None)))
        out["lists"] = counts.recount() if missing else 0
        db.session.commit()
        out["recount_s"] = round(time.perf_counter() - t, 1)
        db.session.remove()
    return out


def analyze(url):
    with admin_conn(url) as conn:
        conn.execute("VACUUM ANALYZE")


# --------------------------------------------------------------------------- pages

def focus(app):
    """Ids the pages need: Bình Chánh, its biggest village and household (``run.focus_ids``),
    its May BTXH list and its length, and the registry's size."""
    out = focus_ids(app)
    with app.app_context():
        bc = db.session.get(Area, out["commune"])
        period = db.session.scalar(select(PaymentPeriod.id).where(
            PaymentPeriod.commune_id == bc.id, PaymentPeriod.month == "2024-05",
            PaymentPeriod.program == "BTXH").order_by(PaymentPeriod.version.desc()))
        out.update(period=period, period_lines=db.session.scalar(
            select(func.count()).select_from(PaymentLine).where(PaymentLine.period_id == period)),
            beneficiaries=db.session.scalar(select(func.count()).select_from(Beneficiary)))
        db.session.remove()
    return out


def pages(ids):
    """``(user, page, path)`` of every page the issue lists."""
    return [
        ("district", "overview (district)", "/overview"),
        ("district", "data quality (district)", "/quality"),
        ("district", "monthly report (district)", "/reports/monthly?month=2024-05"),
        ("district", "payment lists index", "/payments"),
        ("district", "payment list page (Bình Chánh BTXH 05/2024)", f"/payments/{ids['period']}"),
        ("commune", "ranking (commune officer's first page)", "/reports/ranking"),
        ("commune", "commune", f"/communes/{ids['commune']}"),
        ("commune", "village (biggest)", f"/villages/{ids['village']}"),
        ("commune", "household (biggest)", f"/households/{ids['household']}"),
        ("commune", "search 'nguyen van'", "/search?q=nguyen+van"),
        ("commune", "search 'nguyen'", "/search?q=nguyen"),
        ("commune", "data quality (commune)", f"/quality/communes/{ids['commune']}"),
        ("commune", "monthly report (commune)", "/reports/monthly?month=2024-05"),
        ("commune", "payment list page (commune)", f"/payments/{ids['period']}"),
    ]


def one(client, path):
    _CAPTURE["stmts"] = []
    _CAPTURE["on"] = True
    t0 = time.perf_counter()
    resp = client.get(path, headers={"Accept-Encoding": "br, gzip"})
    resp.get_data()
    elapsed = time.perf_counter() - t0
    _CAPTURE["on"] = False
    return elapsed, resp.status_code, list(_CAPTURE["stmts"])


def time_pages(app, ids, size):
    clients, rows = {}, []
    for user, page, path in pages(ids):
        client = clients.get(user) or clients.setdefault(user, login(app, user))
        for _ in range(WARMUP):
            one(client, path)
        times, worst = [], None
        for _ in range(RUNS):
            s, status, stmts = one(client, path)
            times.append(s * 1000)
            if worst is None or s > worst[0]:
                worst = (s, status, stmts)
        times.sort()
        s, status, stmts = worst
        sql_s = sum(x[0] for x in stmts)
        slow = max(stmts, key=lambda x: x[0]) if stmts else None
        row = {"size": size, "user": user, "page": page, "path": path, "status": status, "runs": len(times),
               "p50_ms": round(statistics.median(times), 1), "p95_ms": round(loadgen.percentile(times, 95), 1),
               "max_ms": round(times[-1], 1), "queries": len(stmts),
               "sql_ms_of_slowest_request": ms(sql_s),
               "slowest_statement_ms": ms(slow[0]) if slow else None,
               "slowest_statement": " ".join(slow[1].split())[:300] if slow else None,
               "goal_p95_ms": GOAL_MS, "load": round(os.getloadavg()[0], 2)}
        row["verdict"] = "within" if row["p95_ms"] <= GOAL_MS else "over"
        emit(**row)
        rows.append((row, slow))
    return rows


def time_work(app, ids):
    """The long work of the issue, timed once each: a month's lists for the whole district
    (``payments.build_area``, June 2024 after May's, then rolled back: the database stays
    as built) and the district's registry export (``registry.records_in`` → the workbook,
    as the tree has it: ``write_workbook`` into a temporary file when there is one, else
    ``workbook``'s bytes)."""
    import tempfile
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "district"))
        t = time.perf_counter()
        built, skipped = payments.build_area(user.area, "2024-06", ("BTXH", "NCC"), user)
        db.session.flush()
        s = time.perf_counter() - t
        lines = db.session.scalar(select(func.count()).select_from(PaymentLine).where(
            PaymentLine.period_id.in_([p.id for p in built])))
        db.session.rollback()
        emit(what="work", work="payments.build_area (district, 2024-06, BTXH + NCC), rolled back",
             lists=len(built), skipped=len(skipped), lines=lines, seconds=round(s, 1),
             lines_per_s=round(lines / s) if s else None, load=os.getloadavg()[0])
        db.session.remove()
    with app.app_context(), tempfile.TemporaryDirectory() as tmp:
        user = db.session.scalar(select(User).where(User.username == "district"))
        t = time.perf_counter()
        rows = registry.records_in(user=user)
        path = Path(tmp) / "registry.xlsx"
        if hasattr(registry, "write_workbook"):
            registry.write_workbook(rows, "Danh sách đối tượng", path)
            size = path.stat().st_size
        else:
            size = len(registry.workbook(list(rows), "Danh sách đối tượng"))
        s = time.perf_counter() - t
        emit(what="work", work="registry export (district: records_in → xlsx)", records=ids["beneficiaries"],
             bytes=size, seconds=round(s, 1), records_per_s=round(ids["beneficiaries"] / s),
             load=os.getloadavg()[0])
        db.session.remove()


def explain(app, rows, top=3):
    ranked = sorted(rows, key=lambda r: -r[0]["p95_ms"])
    seen = set()
    done = 0
    for row, slow in ranked:
        if done >= top or slow is None:
            continue
        key = " ".join(slow[1].split())
        if key in seen:  # two pages sharing their slowest statement: explained once, next page
            emit(what="explain", page=row["page"], p95_ms=row["p95_ms"], same_statement_as_above=True)
            continue
        seen.add(key)
        _, statement, params, executemany = slow
        with app.app_context():
            conn = db.session.connection()
            plan = [r[0] for r in conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, params)]
            db.session.rollback()
            db.session.remove()
        nodes = []
        for line in plan:
            if "actual time=" in line:
                try:
                    total = float(line.split("actual time=")[1].split("..")[1].split()[0])
                except (IndexError, ValueError):
                    continue
                nodes.append((total, line.strip()))
        nodes.sort(reverse=True)
        emit(what="explain", page=row["page"], p95_ms=row["p95_ms"], statement=key[:2000],
             params=params, top_nodes=[f"{t:.1f} ms: {ln}" for t, ln in nodes[:6]], plan=plan)
        done += 1


# --------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=100_000, help="beneficiaries (default 100,000)")
    ap.add_argument("--base", type=int, default=100_000,
                    help="people made by the demo builder; above it the district is copied (default 100,000)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                    help="a database on the server to use (the bench creates its own beside it)")
    ap.add_argument("--keep", action="store_true", help="keep the database at the end")
    ap.add_argument("--reuse", action="store_true", help="time the pages of a kept database, no build")
    ap.add_argument("--skip-work", action="store_true",
                    help="time no list building and no registry export (only the pages)")
    ap.add_argument("--build-only", action="store_true", help="build (and keep) the database, time no page")
    ap.add_argument("--ready-file", help="write 'READY <database url>' into this file once the database is built")
    args = ap.parse_args(argv)
    name = f"portal_scale_{args.size}"
    base = min(args.base, args.size)
    copies = max(0, -(-args.size // base) - 1)
    started = time.perf_counter()
    url = make_url(args.pg).set(database=name).render_as_string(hide_password=False) if args.reuse \
        else fresh_database(args.pg, name)
    app = make_app(url)
    try:
        if not args.reuse:
            note(f"building {name}: demo builder {base:,}, then {copies} SQL copies")
            t = time.perf_counter()
            built, paid, stages = build_base(app, base, args.seed)
            base_s = time.perf_counter() - t
            emit(what="build", stage="demo builder (seed-demo --world 2024)", beneficiaries=built.get("beneficiaries"),
                 households=built.get("households"), paid_months=paid, seconds=round(base_s, 1),
                 beneficiaries_per_s=round(built.get("beneficiaries", 0) / base_s),
                 **{k: round(v, 1) for k, v in stages.items()})
            if copies:
                t = time.perf_counter()
                rows = copy_up(app, copies)
                s = time.perf_counter() - t
                emit(what="build", stage=f"INSERT … SELECT, {copies} copies", rows=rows, seconds=round(s, 1),
                     rows_per_s=round(rows / s), beneficiaries_per_s=round(copies * built["beneficiaries"] / s))
                with app.app_context():  # the copies' lines went into the same lists: count them again
                    t = time.perf_counter()
                    n = counts.recount()
                    db.session.commit()
                    db.session.remove()
                emit(what="build", stage="counts.recount (every locked list)", lists=n,
                     seconds=round(time.perf_counter() - t, 1))
            t = time.perf_counter()
            analyze(url)
            emit(what="build", stage="VACUUM ANALYZE", seconds=round(time.perf_counter() - t, 1))
            if args.ready_file:
                Path(args.ready_file).write_text(f"READY {url}\n")
        if args.reuse:
            done = upgrade_and_count(app)
            t = time.perf_counter()
            analyze(url)  # an upgrade rewrites rows (finding.commune_id): the visibility map again
            emit(what="reuse", vacuum_analyze_s=round(time.perf_counter() - t, 1), **done)
        ids = focus(app)
        with admin_conn(url) as conn:
            db_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            version = conn.execute("SHOW server_version").fetchone()[0]
        emit(what="dataset", database=name, server_version=version, db_bytes=db_bytes,
             build_total_s=round(time.perf_counter() - started, 1), **ids)
        if args.build_only:
            return
        rows = time_pages(app, ids, ids["beneficiaries"])
        over = [r["page"] for r, _ in rows if r["verdict"] == "over"]
        emit(what="summary", size=ids["beneficiaries"], pages=len(rows), within=len(rows) - len(over),
             over=over)
        explain(app, rows)
        if not args.skip_work:
            time_work(app, ids)
    finally:
        with app.app_context():
            db.engine.dispose()
        if not (args.keep or args.build_only or args.reuse):
            drop_database(args.pg, name)
            note(f"dropped {name}")
    emit(what="elapsed", seconds=round(time.perf_counter() - started, 1))


if __name__ == "__main__":
    main()
