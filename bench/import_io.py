"""Bytes written by a command-line import (``flask --app app import-list``), per row.

    .venv/bin/python bench/import_io.py                       # 30,000 rows, xlsx_two_row, SQLite
    .venv/bin/python bench/import_io.py --rows 5000 --shape csv_semicolon_bom
    .venv/bin/python bench/import_io.py --database-url postgresql://user@host/db   # also PostgreSQL
    .venv/bin/python bench/import_io.py --stages              # also the writes of each stage

What it does, on a fresh database in a temporary directory (removed at the end):

1. writes a commune list of ``--rows`` people with ``tests/filegen.py`` (``make_people`` +
   ``plant_problems``, so the file carries the problems real files carry);
2. sets the database up as ``flask --app app setup --no-demo`` does (that command, as a
   subprocess, with ``DATABASE_URL``);
3. runs ``flask --app app import-list PATH --commune 21052 --program BTXH --json`` in a child
   process through a small launcher (this file with ``--child``) that reads
   ``/proc/self/io`` when the command has finished (``atexit``): so every byte the import
   process wrote is counted, up to its last ``COMMIT`` and the close of its connection.

``/proc/<pid>/io`` fields (Linux): ``wchar`` counts the bytes passed to ``write()``/
``pwrite()`` (whatever becomes of them: page cache, pipes, the terminal); ``write_bytes``
counts the bytes the process caused to be sent to the block device (a page dirtied twice
before it is flushed counts once; data written on a tmpfs counts zero; a dirty page whose
file is truncated or deleted first is also counted in ``cancelled_write_bytes``). The
stdout JSON is a few kB of ``wchar``. A child process's figures are added to its parent's
when it is reaped, so the sheet reader's forked child is counted: the 2 MB of ``wchar`` in
``parse`` are the rows it sends back through a pipe (``strace -f``); it writes no file.

Only JSON goes to stdout, one object per line: ``{"bench": "import_io", ...}`` with ``rows``,
``file_bytes``, ``db_bytes_before`` / ``db_bytes_after`` / ``db_growth`` (the SQLite file
plus its ``-wal``, or ``pg_database_size``), ``write_bytes`` / ``wchar`` (the import process,
bytes), the same ``_per_row`` (bytes per file row), ``write_vs_growth`` (``write_bytes`` /
``db_growth``), ``seconds`` (wall time of the import process, start-up included) and
``import_seconds`` (the command's own time, without Python's start-up), ``cpu_seconds``
(user + system CPU of the import process after start-up: far less noisy than the wall
time on a shared machine), ``reader_cpu_seconds`` (the sheet reader's child process) and
``load_avg_1min`` (how busy the machine was). On PostgreSQL the
client writes almost nothing itself; the server's writes (cluster-wide, after a
``CHECKPOINT`` before and after the import) are ``server_wal_bytes`` (``pg_stat_wal``, 14+),
``server_buffer_write_bytes`` (data pages written, ``pg_stat_bgwriter``) and, on 16+,
``server_io_write_bytes`` (``pg_stat_io``); ``server`` says what they include. The
PostgreSQL size is ``pg_database_size`` (whole 8 kB pages, free space in them included). With ``--stages``, a second line per database gives each
stage's ``wchar`` / ``write_bytes`` / seconds (read + validate, plan, commit, the checks,
the final ``COMMIT``) and the number of flushes. Benchmarks never assert.
"""
import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMUNE = "21052"  # Bình Chánh, in the packaged areas


def read_io(pid="self"):
    """``/proc/<pid>/io`` as ``{field: int}`` (bytes and counts)."""
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            out[k] = int(v)
    return out


def emit(**fields):
    print(json.dumps({"bench": "import_io", **fields}, ensure_ascii=False), flush=True)


# --------------------------------------------------------------------------- child

def child(report_path, stages, flask_args):
    """Run ``flask`` with ``flask_args`` in this process; at exit write ``/proc/self/io``,
    the command's time and (with ``stages``) the per-stage figures to ``report_path``."""
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    io_start = read_io()
    marks = []  # (stage, "start"/"end", seconds since start, io)

    def done():
        # Close the pooled connections first: SQLite's last close checkpoints the WAL into
        # the database file, and those writes belong to the import.
        for engine in list(engines):
            engine.dispose()
        t = os.times()
        report = {"io_start": io_start, "io_end": read_io(),
                  "seconds": time.perf_counter() - t_start, "stages": [],
                  "cpu_seconds": t.user + t.system - cpu_start,
                  "children_cpu_seconds": t.children_user + t.children_system}
        opened = {}
        for name, edge, t, cpu, io in marks:
            if edge == "start":
                opened[name] = (t, cpu, io)
            elif name in opened:
                t0, cpu0, io0 = opened.pop(name)
                report["stages"].append({
                    "stage": name, "seconds": round(t - t0, 3), "cpu_seconds": round(cpu - cpu0, 3),
                    "wchar": io["wchar"] - io0["wchar"],
                    "write_bytes": io["write_bytes"] - io0["write_bytes"],
                    "syscw": io["syscw"] - io0["syscw"]})
        report["flushes"] = counters["flushes"]
        Path(report_path).write_text(json.dumps(report))

    counters = {"flushes": 0}
    engines = set()
    atexit.register(done)
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import event as sa_event
    from sqlalchemy.engine import Engine

    @sa_event.listens_for(Engine, "engine_connect")
    def _seen(conn):
        engines.add(conn.engine)
    if stages:
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        from portal.services import checks, imports

        def wrap(module, attr, name):
            inner = getattr(module, attr)

            def timed(*a, **kw):
                marks.append((name, "start", time.perf_counter() - t_start, time.process_time(), read_io()))
                try:
                    return inner(*a, **kw)
                finally:
                    marks.append((name, "end", time.perf_counter() - t_start, time.process_time(), read_io()))
            setattr(module, attr, timed)

        wrap(imports, "parse", "parse (read + validate)")
        wrap(imports, "plan", "plan (match to the registry)")
        wrap(imports, "commit", "imports.commit (rows, events, findings; flushed)")
        wrap(checks, "recheck", "checks.recheck (the commune's findings; flushed)")
        wrap(Session, "commit", "COMMIT (the rest of the flush, then the transaction)")

        @event.listens_for(Session, "after_flush")
        def _count(*_):
            counters["flushes"] += 1

    from flask.cli import main
    sys.argv = ["flask", *flask_args]
    main()


# --------------------------------------------------------------------------- parent

def db_size(url, sqlite_path):
    """Bytes the database takes: the SQLite file and its ``-wal``, or ``pg_database_size``."""
    if sqlite_path is not None:
        return sum(p.stat().st_size for p in (sqlite_path, Path(f"{sqlite_path}-wal")) if p.exists())
    return pg_scalar(url, "select pg_database_size(current_database())")


def pg_connect(url):
    import psycopg
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def pg_scalar(url, sql):
    with pg_connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def pg_server_writes(url, checkpoint=False):
    """The server's cumulative write figures (cluster-wide, bytes): ``wal_bytes``
    (``pg_stat_wal``, 14+); ``buffer_write_bytes``, the data pages the checkpointer, the
    background writer and the backends wrote (``pg_stat_bgwriter``, × the block size); on
    16+ ``io_write_bytes`` (``pg_stat_io`` writes and extends). ``None`` for what this server
    lacks. With ``checkpoint`` a ``CHECKPOINT`` first (superuser or ``pg_checkpoint``), so
    that the pages an import dirtied are written and counted; ``checkpoint`` in the answer
    says whether it ran."""
    out = {"wal_bytes": None, "buffer_write_bytes": None, "io_write_bytes": None,
           "checkpoint": False}
    with pg_connect(url) as conn:
        if checkpoint:
            try:
                conn.execute("checkpoint")
                out["checkpoint"] = True
            except Exception:  # noqa: BLE001 - not allowed for this user
                pass
        block = int(conn.execute("select current_setting('block_size')").fetchone()[0])
        queries = {
            "wal_bytes": "select wal_bytes from pg_stat_wal",
            "buffer_write_bytes": "select (buffers_checkpoint + buffers_clean + buffers_backend)"
                                  f" * {block} from pg_stat_bgwriter",
            "io_write_bytes": "select coalesce(sum((writes + extends) * op_bytes), 0) from pg_stat_io",
        }
        for k, sql in queries.items():
            try:
                out[k] = int(conn.execute(sql).fetchone()[0])
            except Exception:  # noqa: BLE001 - older server: not available
                pass
    return out


def pg_fresh_database(url, name):
    """Create (dropping it first) database ``name`` on ``url``'s server; return its URL."""
    from sqlalchemy.engine import make_url
    base = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)
                    if url.startswith("postgresql://") else url)
    with pg_connect(base.render_as_string(hide_password=False)) as conn:
        conn.execute(f'drop database if exists "{name}"')
        conn.execute(f'create database "{name}"')
    return base.set(database=name).render_as_string(hide_password=False)


def run_one(args, tmp, path, url, label):
    sqlite_path = None
    if url is None:
        sqlite_path = tmp / "portal.db"
        url = f"sqlite:///{sqlite_path}"
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY="bench", PYTHONPATH=str(ROOT))
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    r = subprocess.run([*flask, "setup", "--no-demo"], cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode:
        emit(database=label, error="setup failed", stderr=r.stderr[-2000:])
        return
    before = db_size(url, sqlite_path)
    server0 = pg_server_writes(url, checkpoint=True) if sqlite_path is None else None
    report_path = tmp / f"io_{label}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(report_path),
           *(["--stages"] if args.stages else []), "--",
           "--app", "app", "import-list", str(path), "--commune", COMMUNE, "--program", "BTXH", "--json"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode:
        emit(database=label, error=f"import exited {r.returncode}", stderr=r.stderr[-2000:])
        return
    result = json.loads(r.stdout.strip().splitlines()[-1])
    rep = json.loads(report_path.read_text())
    after = db_size(url, sqlite_path)
    wb = rep["io_end"]["write_bytes"] - rep["io_start"]["write_bytes"]
    wc = rep["io_end"]["wchar"] - rep["io_start"]["wchar"]
    rows = result["rows"]
    growth = after - before
    fig = dict(database=label, rows=rows, added=result["added"], file_bytes=path.stat().st_size,
               shape=args.shape, db_bytes_before=before, db_bytes_after=after, db_growth=growth,
               db_growth_per_row=round(growth / rows), write_bytes=wb,
               write_bytes_per_row=round(wb / rows), wchar=wc, wchar_per_row=round(wc / rows),
               syscw=rep["io_end"]["syscw"] - rep["io_start"]["syscw"],
               cancelled_write_bytes=(rep["io_end"]["cancelled_write_bytes"]
                                      - rep["io_start"]["cancelled_write_bytes"]),
               write_vs_growth=round(wb / growth, 2) if growth > 0 else None,
               wchar_vs_growth=round(wc / growth, 2) if growth > 0 else None,
               seconds=round(seconds, 2), import_seconds=round(rep["seconds"], 2),
               cpu_seconds=round(rep["cpu_seconds"], 2),
               reader_cpu_seconds=round(rep["children_cpu_seconds"], 2),
               load_avg_1min=round(os.getloadavg()[0], 2))
    if server0 is not None:
        server1 = pg_server_writes(url, checkpoint=True)
        fig["server"] = ("cluster-wide figures: other sessions' writes are included"
                         + ("" if server1["checkpoint"] else
                            "; no CHECKPOINT allowed, so data pages still dirty are not counted"))
        for k in ("wal_bytes", "buffer_write_bytes", "io_write_bytes"):
            if server0[k] is None:
                fig["server_" + k] = None
            else:
                d = server1[k] - server0[k]
                fig["server_" + k] = d
                fig["server_" + k + "_per_row"] = round(d / rows)
        if server0["io_write_bytes"] is None:
            fig["server"] += "; no pg_stat_io before PostgreSQL 16"
        if server0["wal_bytes"] is not None and server0["buffer_write_bytes"] is not None:
            total = fig["server_wal_bytes"] + fig["server_buffer_write_bytes"]
            fig["server_write_bytes_per_row"] = round(total / rows)
            fig["server_write_vs_growth"] = round(total / growth, 2) if growth > 0 else None
    emit(**fig)
    if args.stages:
        emit(database=label, what="stages", flushes=rep["flushes"], stages=rep["stages"])


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        report, rest = sys.argv[2], sys.argv[3:]
        stages = bool(rest) and rest[0] == "--stages"
        rest = rest[1:] if stages else rest
        return child(report, stages, rest[1:] if rest[:1] == ["--"] else rest)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--shape", default="xlsx_two_row", help="a tests/filegen.py shape")
    ap.add_argument("--database-url", help="also run on this PostgreSQL server (a fresh "
                    "database bench_import_io is created next to the URL's and dropped after)")
    ap.add_argument("--no-sqlite", action="store_true", help="only the PostgreSQL run")
    ap.add_argument("--stages", action="store_true", help="also each stage's writes")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.filegen import make_people, plant_problems, write_list

    tmp = Path(tempfile.mkdtemp(prefix="import_io_"))
    try:
        people = make_people(args.rows, args.seed)
        plant_problems(people)
        ext = "csv" if args.shape.startswith("csv") else ("xls" if args.shape in ("xls", "html_xls") else "xlsx")
        path = tmp / f"ds_btxh_2024-05.{ext}"
        write_list(people, args.shape, path)
        if not args.no_sqlite:
            (tmp / "sqlite").mkdir()
            run_one(args, tmp / "sqlite", path, None, "sqlite")
        if args.database_url:
            url = pg_fresh_database(args.database_url, "bench_import_io")
            try:
                (tmp / "pg").mkdir()
                run_one(args, tmp / "pg", path, url, "postgresql")
            finally:
                from sqlalchemy.engine import make_url
                base = make_url(args.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
                with pg_connect(base.render_as_string(hide_password=False)) as conn:
                    conn.execute('drop database if exists "bench_import_io"')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
