#!/usr/bin/env python
"""Peak resident memory of a province's long work (issue 12 §4): prints figures, never
asserts.

    .venv/bin/python bench/memory.py [--only export,build,import,police,lists]
                                     [--size N] [--export-url URL] [--pg URL] [--keep] [--reuse]
                                     [--import-rows N] [--import-db NAME]

One JSON line per figure on stdout, ``{"bench": "memory", "what": …, "rows": N,
"peak_rss_mb": X, "budget_mb": 300, "within": …, "seconds": S, …}``; progress on stderr.

Each measurement runs in a **fresh child process** (``bench/memory.py --child …``) that
imports the app, opens its database, does the one piece of work and exits; its peak RSS is
the ``ru_maxrss`` that ``os.wait4`` returns for that child (so neither the set-up nor
another measurement inflates it). On Linux that figure is the largest of the child and the
processes it forked and waited for: an import's guarded read runs in a forked child of its
own (``portal.sheets.guard``), so the child also reports its own ``VmHWM``
(``own_peak_rss_mb``) and that reader's peak (``reader_peak_rss_mb``; its pages are shared
with its parent at the fork until written). ``start_rss_mb`` is the child's resident memory
once the app was created, before the work: the interpreter, Flask, SQLAlchemy and openpyxl;
``added_mb`` the peak above it.

- ``export``: ``registry.records_in(None)`` of the whole registry written by
  ``registry.write_workbook`` to a temporary file, from the 1,000,000-beneficiary
  database of ``bench/scale.py --size 1000000 --keep`` (``--export-url``, else the URL in
  ``/tmp/scale_1m_ready``; read only), and from this bench's own database.
- ``build``: ``payments.build_area`` of the demo district (every commune's BTXH and NCC
  list of 2024-05), then ``flush`` and a rollback (the database stays reusable).
- ``import``: a ``tests.filegen`` BTXH list of ``--import-rows`` people (default 99,900: a
  sheet is read up to row 100,000, title and header included; ``xlsx_two_row``):
  ``imports.parse`` + ``imports.plan`` + ``imports.commit`` + ``COMMIT`` into an empty
  commune (Bình Chánh) of a database with the areas only.
- ``police``: ``police.to_verify_all`` of the district's police officer written by
  ``police.write_workbook`` (the ``/police/export`` workbook), own database.
- ``lists``: the biggest list of 2024-05 of the 1M database (45,000 lines), and Bình
  Chánh's BTXH list of 2024-04 in the own database (a commune of a province: about 4,000
  lines), as the administrative workbook, the provider workbook and the provider CSV, one
  child each.

Own databases (on the server of ``--pg``): ``portal_mem_<size>`` (``create_all``, the areas,
``demo.build_demo(size=N)``, the demo users, Bình Chánh's BTXH list of 2024-04) and ``portal_mem_import``
(the areas and the users, made afresh by every run; ``--import-db`` names it). The import
file is written by a child of its own: Linux counts this process's peak at the fork/exec in
the measured child's ``ru_maxrss``. Dropped at the end unless ``--keep``;
``--reuse`` uses a kept ``portal_mem_<size>``.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

BUDGET_MB = 300
READY_FILE = Path("/tmp/scale_1m_ready")
MONTH = "2024-05"
LIST_MONTH = "2024-04"


def emit(**figures):
    print(json.dumps({"bench": "memory", **figures}, ensure_ascii=False, default=str), flush=True)


def note(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def rss_mb(field="VmRSS"):
    """This process's ``VmRSS`` (or ``VmHWM``) in MB, from ``/proc/self/status``."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


# --------------------------------------------------------------------------- children

def _app(url):
    from portal import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False})


def _write_counted(items, write_workbook, title, path):
    """``write_workbook(items, title, path)`` (a streaming writer), returning how many
    items it took."""
    counted = 0

    def each():
        nonlocal counted
        for item in items:
            counted += 1
            yield item
    write_workbook(each(), title, path)
    return counted


def child_export(url, out_dir):
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import Beneficiary
    from portal.services import registry
    app = _app(url)
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(Beneficiary).where(Beneficiary.status != "merged"))
        start = rss_mb()
        t0 = time.perf_counter()
        path = Path(out_dir) / "registry.xlsx"
        rows = _write_counted(registry.records_in(None, None), registry.write_workbook, "DANH SÁCH ĐỐI TƯỢNG", path)
        seconds = time.perf_counter() - t0
        db.session.rollback()
        return {"rows": rows, "registry": n, "file_bytes": path.stat().st_size,
                "start_rss_mb": start, "seconds": seconds}


def child_police(url, out_dir):
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import User
    from portal.services import police
    app = _app(url)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.role == "police").order_by(User.id))
        start = rss_mb()
        t0 = time.perf_counter()
        path = Path(out_dir) / "police.xlsx"
        rows = _write_counted(police.to_verify_all(user, MONTH), police.write_workbook, "BẢNG XÁC MINH", path)
        seconds = time.perf_counter() - t0
        db.session.rollback()
        return {"rows": rows, "user": user.username, "file_bytes": path.stat().st_size,
                "start_rss_mb": start, "seconds": seconds}


def child_lists(url, out_dir, kind, month=MONTH):
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import PaymentLine, PaymentPeriod
    from portal.services import payments
    app = _app(url)
    with app.app_context():
        n = func.count(PaymentLine.id)
        pid, lines = db.session.execute(
            select(PaymentPeriod.id, n).join(PaymentLine, PaymentLine.period_id == PaymentPeriod.id)
            .where(PaymentPeriod.month == month)
            .group_by(PaymentPeriod.id).order_by(n.desc(), PaymentPeriod.id).limit(1)).one()
        period = db.session.get(PaymentPeriod, pid)
        start = rss_mb()
        t0 = time.perf_counter()
        path = Path(out_dir) / f"list.{kind}"
        name = {"administrative": "administrative_workbook", "provider_xlsx": "provider_workbook",
                "provider_csv": "provider_csv"}[kind]
        write = getattr(payments, "write_" + name, None)
        if write is not None:
            write(period, path)
        else:  # a writer that only makes bytes
            path.write_bytes(getattr(payments, name)(period))
        seconds = time.perf_counter() - t0
        db.session.rollback()
        return {"rows": lines, "period": pid, "file_bytes": path.stat().st_size,
                "start_rss_mb": start, "seconds": seconds}


def child_build(url):
    from datetime import date

    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import PaymentLine, User
    from portal.services import areas, demo, payments
    app = _app(url)
    with app.app_context():
        district = areas.find_area(demo.DISTRICT_CODE, "district", on=date(2024, 5, 1))
        user = db.session.scalar(select(User).where(User.username == "district"))
        start = rss_mb()
        t0 = time.perf_counter()
        built, skipped = payments.build_area(district, MONTH, ("BTXH", "NCC"), user)
        db.session.flush()
        seconds = time.perf_counter() - t0
        lines = db.session.scalar(select(func.count()).select_from(PaymentLine).where(
            PaymentLine.period_id.in_([p.id for p in built])))
        db.session.rollback()  # the database stays as it was: the bench can run again
        return {"rows": lines, "periods": len(built), "skipped": len(skipped),
                "start_rss_mb": start, "seconds": seconds}


def child_import(url, file):
    from portal.extensions import db
    from portal.services import areas, demo, imports
    from portal.services.history import system_user
    app = _app(url)
    with app.app_context():
        commune = areas.find_area(demo.FOCUS_COMMUNE, "commune", on=demo.DEMO_DAY)
        data = Path(file).read_bytes()
        start = rss_mb()
        t0 = time.perf_counter()
        parsed = imports.parse(data, Path(file).name)
        t1 = time.perf_counter()
        after_parse = rss_mb("VmHWM")
        p = imports.plan(parsed, commune, "BTXH")
        t2 = time.perf_counter()
        after_plan = rss_mb("VmHWM")
        counts = imports.commit(p, system_user())
        db.session.commit()
        t3 = time.perf_counter()
        reader = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {"rows": len(parsed.rows), "file_bytes": len(data), "start_rss_mb": start,
                "peak_after_parse_mb": after_parse, "peak_after_plan_mb": after_plan, "reader_peak_rss_mb": reader or None,
                "parse_s": t1 - t0, "plan_s": t2 - t1, "commit_s": t3 - t2, "seconds": t3 - t0,
                **{k: v for k, v in counts.items() if isinstance(v, int)}}


def child_main(args):
    out = {"export": lambda: child_export(args.url, args.out_dir),
           "police": lambda: child_police(args.url, args.out_dir),
           "build": lambda: child_build(args.url),
           "import": lambda: child_import(args.url, args.file)}
    if args.child.startswith("lists:"):
        _, kind, month = args.child.split(":")
        result = child_lists(args.url, args.out_dir, kind, month)
    else:
        result = out[args.child]()
    result["hwm_mb"] = rss_mb("VmHWM")
    print("RESULT " + json.dumps(result, default=str), flush=True)


# --------------------------------------------------------------------------- parent

def load():
    """The machine's load: 1-minute load average and the number of cores."""
    return {"loadavg_1m": os.getloadavg()[0], "cores": os.cpu_count()}


def measure(what, child, url, **extra):
    """Run ``bench/memory.py --child child`` and emit its figures with its own peak RSS."""
    with tempfile.TemporaryDirectory(prefix="portal_mem_") as tmp:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", child, "--url", url,
               "--out-dir", tmp] + [x for k, v in extra.items() for x in (f"--{k.replace('_', '-')}", str(v))]
        before = load()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out = proc.stdout.read()
        proc.stdout.close()
        wall = time.perf_counter() - t0
    result = next((json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")), None)
    peak = usage.ru_maxrss / 1024
    if result is None:
        emit(what=what, error=f"child exited {proc.returncode}", peak_rss_mb=round(peak, 1), child_wall_s=round(wall, 1))
        return None
    r = {k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}
    emit(what=what, rows=r.pop("rows"), peak_rss_mb=round(peak, 1), budget_mb=BUDGET_MB,
         within=peak <= BUDGET_MB, seconds=r.pop("seconds"), own_peak_rss_mb=r.pop("hwm_mb"),
         start_rss_mb=r.pop("start_rss_mb"),
         added_mb=round(peak - result["start_rss_mb"], 1), child_cpu_s=round(usage.ru_utime + usage.ru_stime, 1),
         load_before=round(before["loadavg_1m"], 2), load_after=round(os.getloadavg()[0], 2),
         cores=before["cores"], **r)
    return r


def admin(base_url):
    import psycopg
    from sqlalchemy.engine import make_url
    url = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True)


def db_url(base_url, name):
    from sqlalchemy.engine import make_url
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def fresh(base_url, name):
    with admin(base_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return db_url(base_url, name)


def drop(base_url, name):
    with admin(base_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_child(url, size, seed):
    """In a child: the schema of the models (``create_all``), the areas, the demo of ``size``
    (0: none), the users."""
    from portal.extensions import db
    from portal.services import areas, demo
    app = _app(url)
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        db.session.commit()
        counts = demo.build_demo(seed=seed, size=size) if size else {}
        demo.create_demo_users(fast=True, world="2024")
        db.session.commit()
        if size:
            counts["list_lines"] = own_list()
    print("RESULT " + json.dumps(counts), flush=True)


def own_list():
    """Bình Chánh's BTXH list of :data:`LIST_MONTH` (a draft, committed): the ``lists``
    measurement's list in the own database (the ``build`` one builds :data:`MONTH`)."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import PaymentLine, User
    from portal.services import areas, demo, payments
    commune = areas.find_area(demo.FOCUS_COMMUNE, "commune", on=demo.DEMO_DAY)
    user = db.session.scalar(select(User).where(User.username == "district"))
    period = payments.build(commune, LIST_MONTH, "BTXH", user)
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(PaymentLine).where(PaymentLine.period_id == period.id))


def setup(base_url, name, size, seed):
    url = fresh(base_url, name)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--setup", str(size), "--seed", str(seed),
                          "--url", url], stdout=subprocess.PIPE, text=True, check=True).stdout
    counts = next(json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT "))
    emit(what="dataset", database=name, size=size, seconds=round(time.perf_counter() - t0, 1), **counts)
    with admin(url) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def export_url(arg):
    if arg:
        return arg
    if READY_FILE.exists():
        text = READY_FILE.read_text().split()
        if len(text) >= 2 and text[0] == "READY":
            return text[1]
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="export,build,import,police,lists")
    ap.add_argument("--size", type=int, default=100_000, help="own database and import file (default 100,000)")
    ap.add_argument("--import-rows", type=int, default=99_900, help="people in the import file (default 99,900)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--export-url", help="the 1M database (default: the URL in /tmp/scale_1m_ready)")
    ap.add_argument("--no-1m", action="store_true", help="leave out the 1M database's measurements")
    ap.add_argument("--import-db", default="portal_mem_import",
                    help="name of the import's own database (default portal_mem_import)")
    ap.add_argument("--keep", action="store_true", help="keep the own databases")
    ap.add_argument("--reuse", action="store_true", help="use kept own databases")
    # internal
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--setup", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args)
    if args.setup is not None:
        return setup_child(args.url, args.setup, args.seed)

    only = set(args.only.split(","))
    started = time.perf_counter()
    own_name, import_name = f"portal_mem_{args.size}", args.import_db
    own = import_db = None
    made = []  # the databases this run created (dropped at the end unless --keep)
    try:
        if only & {"export", "build", "police", "lists"}:
            if args.reuse:
                own = db_url(args.pg, own_name)
            else:
                made.append(own_name)
                own = setup(args.pg, own_name, args.size, args.seed)
        big = None if args.no_1m else export_url(args.export_url)
        if "export" in only:
            if big:
                measure("registry export, 1M database, xlsx to a file", "export", big)
            elif not args.no_1m:
                emit(what="registry export, 1M database, xlsx to a file",
                     error="the 1M database is not ready (/tmp/scale_1m_ready)")
            measure(f"registry export, {args.size:,} database, xlsx to a file", "export", own)
        if "police" in only:
            measure(f"police export (to_verify_all), {args.size:,} database, xlsx to a file", "police", own)
        if "build" in only:
            measure(f"payments.build_area, district of {args.size:,}, {MONTH} BTXH+NCC", "build", own)
        if "lists" in only:
            if big:
                for kind in ("administrative", "provider_xlsx", "provider_csv"):
                    measure(f"payment list {kind}, biggest list of {MONTH} in the 1M database",
                            f"lists:{kind}:{MONTH}", big)
            elif not args.no_1m:
                emit(what="payment lists", error="the 1M database is not ready (/tmp/scale_1m_ready)")
            for kind in ("administrative", "provider_xlsx", "provider_csv"):
                measure(f"payment list {kind}, Bình Chánh BTXH {LIST_MONTH} in the {args.size:,} database",
                        f"lists:{kind}:{LIST_MONTH}", own)
        if "import" in only:
            made.append(import_name)
            import_db = setup(args.pg, import_name, 0, args.seed)  # always fresh: the import writes
            with tempfile.TemporaryDirectory(prefix="portal_mem_") as tmp:
                path = Path(tmp) / f"ds_btxh_{MONTH}.xlsx"
                t0 = time.perf_counter()
                # Written by a child of its own: the measured child is started from this
                # process, and Linux counts the parent's peak at the fork/exec in the child's
                # ru_maxrss (writing 99,900 rows here made that 641 MB).
                subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                "from tests.filegen import make_people, write_list; "
                                "write_list(make_people(int(sys.argv[2]), int(sys.argv[3])), "
                                "'xlsx_two_row', sys.argv[4])",
                                str(ROOT), str(args.import_rows), str(args.seed), str(path)], check=True)
                note(f"import file: {path.stat().st_size:,} B in {time.perf_counter() - t0:.1f} s")
                measure(f"import of a {args.import_rows:,}-row xlsx (parse + plan + commit)", "import", import_db,
                        file=path)
    finally:
        if not args.keep:
            for name in made:
                drop(args.pg, name)
    emit(what="elapsed", seconds=round(time.perf_counter() - started, 1))


if __name__ == "__main__":
    main()
