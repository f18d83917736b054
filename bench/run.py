#!/usr/bin/env python
"""The project's benchmarks (``shared/design/budgets.md``): print figures, never assert.

    .venv/bin/python bench/run.py [--quick] [--only NAME[,NAME…]] [--seed N]

Each measurement is one JSON line on stdout, ``{"bench": NAME, …figures…}``; times are
medians of several runs unless ``runs`` says 1. Everything runs on SQLite files in a
temporary directory (never the instance database) and, for ``server``, on gunicorn bound
to 127.0.0.1, stopped at the end whatever happens.

Benchmarks: ``bytes`` (page, fragment and asset sizes per role, 5,000-person demo),
``import`` (read + validate + preview and commit of a 50,000-row list, xlsx and csv),
``overview`` (page times over 100,000 beneficiaries), ``server`` (gunicorn + wrk or a
Python client: a closed-loop sweep and 50 requests/s offered; skipped with ``--quick``),
``mixed`` (20 concurrent logged-in clients mixing the household page, the status update
and the overview; skipped with ``--quick``), ``cycle`` (the month's payment lists, results and
monthly report of the 100,000-person district, ``bench/cycle.py``). See ``bench/README.md``.
"""
import argparse
import gzip
import io
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import date
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import brotli
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))   # tests.filegen
sys.path.insert(0, str(BENCH))  # loadgen

import loadgen
import serve

from portal import create_app
from portal.extensions import db
from portal.models import Area, Beneficiary
from portal.services import areas, demo, imports
from portal.services.history import system_user

NAMES = ("bytes", "import", "overview", "server", "mixed", "cycle")
AE = {"Accept-Encoding": "br, gzip"}

# Budgets from shared/design/budgets.md (compared, never asserted).
PAGE_BUDGET = 14_600
CSS_BUDGET = 6_000
HTMX_EXPECTED = 16_000  # "~16 KB compressed", not a hard budget
FIRST_VISIT_BUDGET = 40_000
FIRST_VISIT_REQUESTS = 4
FRAGMENT_BUDGET = 2_000
IMPORT_BUDGET_S = 10.0
OVERVIEW_BUDGET_MS = 100.0
SERVER_P95_HOUSEHOLD_MS = 50.0
SERVER_P95_UPDATE_MS = 100.0
SUSTAINED_P95_MS = 200.0
OFFERED_RPS = 50


def emit(bench, **figures):
    print(json.dumps({"bench": bench, **figures}, ensure_ascii=False), flush=True)


def note(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers

_QUERIES = [0]


@event.listens_for(Engine, "before_cursor_execute")
def _count_query(*args, **kwargs):
    _QUERIES[0] += 1


def ms(seconds):
    return round(seconds * 1000, 2)


def med(values):
    return statistics.median(values) if values else None


def timed_runs(fn, reps, max_total_s):
    """Call ``fn()`` up to ``reps`` times (at least once), stopping early once the runs
    have taken ``max_total_s``. Returns (list of seconds, last result)."""
    times, result = [], None
    while len(times) < reps:
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) >= max_total_s:
            break
    return times, result


def make_app(path):
    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "WTF_CSRF_ENABLED": False})


def build_db(path, size, seed):
    """A temp SQLite file with the areas, the demo district of ``size`` and the demo users."""
    app = make_app(path)
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        db.session.commit()
        t0 = time.perf_counter()
        counts = demo.build_demo(seed=seed, size=size)
        demo.create_demo_users(fast=True, world="2024")
        db.session.commit()
        seconds = time.perf_counter() - t0
    return app, counts, seconds


def empty_db(path):
    """Areas and demo users, no beneficiaries."""
    app = make_app(path)
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        demo.create_demo_users(fast=True, world="2024")
        db.session.commit()
    return app


def focus_ids(app):
    """Bình Chánh (the demo commune officer's commune), its biggest village and household."""
    with app.app_context():
        bc = areas.find_area(demo.FOCUS_COMMUNE, "commune", on=demo.DEMO_DAY)
        n = func.count()
        village = db.session.execute(
            select(Beneficiary.village_id, n).where(Beneficiary.commune_id == bc.id,
                                                    Beneficiary.village_id.is_not(None))
            .group_by(Beneficiary.village_id).order_by(n.desc(), Beneficiary.village_id)).first()
        household = db.session.execute(
            select(Beneficiary.household_id, n).where(Beneficiary.commune_id == bc.id)
            .group_by(Beneficiary.household_id).order_by(n.desc(), Beneficiary.household_id)).first()
        ids = {"commune": bc.id, "village": village[0], "village_people": village[1],
               "household": household[0], "household_people": household[1]}
        db.session.remove()
    return ids


def login(app, username):
    client = app.test_client()
    resp = client.post("/login", data={"username": username, "password": "demo"})
    if resp.status_code != 303:
        raise RuntimeError(f"login as {username}: {resp.status_code}")
    return client


def decode(body, encoding):
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    return body


def fetch(client, path, method="GET", data=None, headers=None, gzip_too=True):
    """One request with ``Accept-Encoding: br, gzip``; sizes, status, queries, time."""
    h = dict(AE, **(headers or {}))
    q0 = _QUERIES[0]
    t0 = time.perf_counter()
    resp = client.open(path, method=method, data=data, headers=h)
    body = resp.get_data()
    elapsed = time.perf_counter() - t0
    enc = resp.headers.get("Content-Encoding")
    raw = decode(body, enc)
    out = {"status": resp.status_code, "raw": len(raw), "compressed": len(body),
           "encoding": enc or "identity", "queries": _QUERIES[0] - q0, "ms": ms(elapsed)}
    if gzip_too and method == "GET":
        g = client.get(path, headers={"Accept-Encoding": "gzip"})
        out["gzip"] = len(g.get_data())
    return out, raw.decode("utf-8", "replace"), resp


def page_requests(html):
    """Sub-resources a first view of ``html`` fetches (stylesheets, scripts, images, icons
    that are not ``data:``)."""
    urls = re.findall(r'<link[^>]+rel="(?:stylesheet|icon|preload|modulepreload)"[^>]*href="([^"]+)"', html)
    urls += re.findall(r'<script[^>]+src="([^"]+)"', html)
    urls += re.findall(r'<img[^>]+src="([^"]+)"', html)
    return [u for u in urls if not u.startswith("data:")]


# --------------------------------------------------------------------------- 1. bytes

def bench_bytes(args, tmp, state):
    size = 5000
    app, counts, build_s = build_db(tmp / "demo5k.db", size, args.seed)
    emit("bytes", what="dataset", size=size, build_s=round(build_s, 2), **counts)
    ids = focus_ids(app)
    pages = {
        None: [("login", "/login")],
        "commune": [("commune", f"/communes/{ids['commune']}"),
                    ("village", f"/villages/{ids['village']}"),
                    ("household", f"/households/{ids['household']}"),
                    ("search", "/search?q=nguyen")],
        "district": [("overview", "/overview")],
        "admin": [("overview", "/overview"), ("targets", "/admin/targets")],
        "payer": [("overview", "/overview")],
    }
    htmls = {}
    clients = {}
    for role, items in pages.items():
        client = app.test_client() if role is None else login(app, role)
        clients[role] = client
        for page, path in items:
            fig, html, _ = fetch(client, path)
            htmls[(role, page)] = html
            emit("bytes", role=role or "anonymous", page=page, path=path, **fig,
                 budget=PAGE_BUDGET, within=fig["compressed"] <= PAGE_BUDGET)
    extra = {"village_people": ids["village_people"], "household_people": ids["household_people"]}

    # The htmx status update: one member of the biggest household, as the commune officer.
    html = htmls[("commune", "household")]
    m = re.search(r'name="b(\d+)-version"[^>]*value="(\d+)"', html)
    if m:
        bid, version = m.group(1), m.group(2)
        p = f"b{bid}-"
        form = {p + "version": version, p + "account_status": "has_account",
                p + "payment_method": "account", p + "bank_bin": "970405",
                p + "number": "123456789012", p + "recipient_type": "self"}
        fig, frag, _ = fetch(clients["commune"], f"/beneficiaries/{bid}/review", method="POST",
                             data=form, headers={"HX-Request": "true"})
        emit("bytes", role="commune", page="status_update (htmx)",
             path=f"/beneficiaries/{bid}/review", **fig, budget=FRAGMENT_BUDGET,
             within=fig["compressed"] <= FRAGMENT_BUDGET, oob=frag.count("hx-swap-oob"))
    else:
        emit("bytes", page="status_update (htmx)", error="no review form on the household page")

    # Assets, from the household page's head.
    assets = {}
    for url in page_requests(html):
        if not url.startswith("/assets/"):
            continue
        fig, _, resp = fetch(clients["commune"], url)
        etag = resp.headers.get("ETag")
        again = clients["commune"].get(url, headers=dict(AE, **({"If-None-Match": etag} if etag else {})))
        kind = "stylesheet" if url.endswith(".css") else "htmx" if "htmx" in url else "script"
        budget = CSS_BUDGET if kind == "stylesheet" else None
        assets[url] = fig["compressed"]
        emit("bytes", page=kind, path=url, **fig, cache_control=resp.headers.get("Cache-Control"),
             revalidate_status=again.status_code, budget=budget,
             within=None if budget is None else fig["compressed"] <= budget,
             **({"expected_about": HTMX_EXPECTED} if kind == "htmx" else {}))

    # A first visit: the page plus what its head fetches (bodies only, headers not counted).
    for role, page in (("commune", "household"), (None, "login"), ("district", "overview")):
        h = htmls[(role, page)]
        subs = page_requests(h)
        html_fig, _, _ = fetch(clients[role], dict(pages[role])[page], gzip_too=False)
        total = html_fig["compressed"] + sum(assets.get(u, 0) for u in subs)
        emit("bytes", what="first_visit", role=role or "anonymous", page=page,
             requests=1 + len(subs), requests_budget=FIRST_VISIT_REQUESTS,
             total_compressed=total, budget=FIRST_VISIT_BUDGET,
             within=total <= FIRST_VISIT_BUDGET and 1 + len(subs) <= FIRST_VISIT_REQUESTS,
             unknown_assets=[u for u in subs if u not in assets] or None)
    emit("bytes", what="focus", **extra)


# --------------------------------------------------------------------------- 2. import

def _preview(data, filename, commune, parse_times, plan_times, plan_queries):
    """Read + validate (``parse``) and preview (``plan``), each timed."""
    a = time.perf_counter()
    parsed = imports.parse(data, filename)
    b = time.perf_counter()
    q0 = _QUERIES[0]
    p = imports.plan(parsed, commune, "BTXH")
    parse_times.append(b - a)
    plan_times.append(time.perf_counter() - b)
    plan_queries.append(_QUERIES[0] - q0)
    return p


def bench_import(args, tmp, state):
    from tests.filegen import make_people, write_list

    n = 10_000 if args.quick else 50_000
    reps = 3
    t0 = time.perf_counter()
    xlsx = write_list(make_people(n, args.seed), "xlsx_two_row")
    xlsx_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    csv = write_list(make_people(n, args.seed), "csv_semicolon_bom")
    csv_s = time.perf_counter() - t0
    emit("import", what="files", rows=n, xlsx_bytes=len(xlsx), xlsx_generate_s=round(xlsx_s, 2),
         csv_bytes=len(csv), csv_shape="csv_semicolon_bom", csv_generate_s=round(csv_s, 2))

    for fmt, data, filename in (("xlsx", xlsx, "ds_btxh_2024-05.xlsx"),
                                ("csv", csv, "ds_btxh_2024-05.csv")):
        app = empty_db(tmp / f"import_{fmt}.db")
        with app.app_context():
            commune = areas.find_area(demo.FOCUS_COMMUNE, "commune", on=demo.DEMO_DAY)
            commune_id = commune.id
            parse_t, plan_t, plan_q = [], [], []
            preview = partial(_preview, data, filename, commune, parse_t, plan_t, plan_q)
            times, p = timed_runs(preview, reps, max_total_s=90)
            total = med(times)
            emit("import", format=fmt, phase="read+validate+preview", rows=len(p.parsed.rows),
                 file_bytes=len(data), runs=len(times), parse_s=round(med(parse_t), 2),
                 plan_s=round(med(plan_t), 2), plan_queries=plan_q[-1], seconds=round(total, 2),
                 rows_per_s=round(len(p.parsed.rows) / total), added=len(p.added),
                 issues=len(p.parsed.issues), budget_s=IMPORT_BUDGET_S,
                 within=total <= IMPORT_BUDGET_S)
            db.session.remove()

        if fmt == "xlsx":
            # The same through the web: upload (parse + plan, store the batch), then the
            # preview page (which parses and plans again), as the commune officer.
            client = login(app, "commune")
            t0 = time.perf_counter()
            resp = client.post("/imports/new", data={
                "file": (io.BytesIO(data), filename), "commune_id": str(commune_id),
                "program": "", "month": ""}, content_type="multipart/form-data", headers=AE)
            upload_s = time.perf_counter() - t0
            location = resp.headers.get("Location", "")
            if resp.status_code == 303 and "/imports/" in location:
                fig, _, _ = fetch(client, location, gzip_too=False)
                emit("import", format=fmt, phase="web upload + preview page", rows=n, runs=1,
                     upload_s=round(upload_s, 2), preview_page_s=round(fig["ms"] / 1000, 2),
                     seconds=round(upload_s + fig["ms"] / 1000, 2),
                     preview_status=fig["status"], preview_raw=fig["raw"],
                     preview_compressed=fig["compressed"], preview_queries=fig["queries"],
                     budget_s=IMPORT_BUDGET_S,
                     within=upload_s + fig["ms"] / 1000 <= IMPORT_BUDGET_S)
            else:
                emit("import", format=fmt, phase="web upload + preview page",
                     error=f"upload answered {resp.status_code}", upload_s=round(upload_s, 2))

        with app.app_context():
            commune = db.session.get(Area, commune_id)
            p = imports.plan(imports.parse(data, filename), commune, "BTXH")
            user = system_user()
            q0 = _QUERIES[0]
            t0 = time.perf_counter()
            counts = imports.commit(p, user)
            db.session.commit()
            commit_s = time.perf_counter() - t0
            emit("import", format=fmt, phase="commit", rows=len(p.parsed.rows), runs=1,
                 seconds=round(commit_s, 2), rows_per_s=round(len(p.parsed.rows) / commit_s),
                 queries=_QUERIES[0] - q0, **counts)
            db.session.remove()

        if fmt == "csv":
            # The same file again onto the committed records: everything matches.
            with app.app_context():
                commune = db.session.get(Area, commune_id)
                parse_t, plan_t, plan_q = [], [], []
                p = _preview(data, filename, commune, parse_t, plan_t, plan_q)
                q0 = _QUERIES[0]
                t0 = time.perf_counter()
                counts = imports.commit(p, system_user())
                db.session.commit()
                commit_s = time.perf_counter() - t0
                emit("import", format=fmt, phase="re-import of the same file", rows=len(p.parsed.rows),
                     runs=1, parse_s=round(parse_t[0], 2), plan_s=round(plan_t[0], 2),
                     plan_queries=plan_q[0], preview_s=round(parse_t[0] + plan_t[0], 2),
                     budget_s=IMPORT_BUDGET_S, within=parse_t[0] + plan_t[0] <= IMPORT_BUDGET_S,
                     commit_s=round(commit_s, 2),
                     commit_queries=_QUERIES[0] - q0, **counts)
                db.session.remove()


# --------------------------------------------------------------------------- 3. overview

def big_db(args, tmp, state):
    """The large district (built once per run, shared by ``overview`` and ``server``)."""
    if "big" in state:
        return state["big"]
    size = args.overview_size or (20_000 if args.quick else 100_000)
    path = tmp / f"district_{size}.db"
    app, counts, build_s = build_db(path, size, args.seed)
    ids = focus_ids(app)
    emit("overview", what="dataset", size=size, build_s=round(build_s, 2),
         db_bytes=path.stat().st_size, **counts,
         **({"note": "build_demo is slow at this size"} if build_s > 120 else {}))
    state["big"] = (app, path, ids, counts)
    return state["big"]


def bench_overview(args, tmp, state):
    app, _path, ids, counts = big_db(args, tmp, state)
    reps = 20
    cases = [("district", "overview", "/overview", OVERVIEW_BUDGET_MS),
             ("admin", "overview", "/overview", None),
             ("commune", "commune", f"/communes/{ids['commune']}", None),
             ("commune", "village", f"/villages/{ids['village']}", None),
             ("commune", "household", f"/households/{ids['household']}", None),
             ("commune", "search", "/search?q=nguyen", None)]
    clients = {}
    for role, page, url, budget in cases:
        client = clients.get(role) or clients.setdefault(role, login(app, role))
        for _ in range(2):  # warm-up: templates compiled, caches filled
            fig, _, _ = fetch(client, url, gzip_too=False)
        times, queries = [], set()
        deadline = time.perf_counter() + 60
        while len(times) < reps and time.perf_counter() < deadline:
            fig, _, _ = fetch(client, url, gzip_too=False)
            times.append(fig["ms"])
            queries.add(fig["queries"])
        times.sort()
        emit("overview", role=role, page=page, path=url, beneficiaries=counts["beneficiaries"],
             runs=len(times), median_ms=round(med(times), 1), min_ms=times[0],
             p90_ms=loadgen.percentile(times, 90), max_ms=times[-1],
             queries=min(queries) if len(queries) == 1 else sorted(queries),
             status=fig["status"], compressed=fig["compressed"], budget_ms=budget,
             within=None if budget is None else med(times) <= budget)


# --------------------------------------------------------------------------- 4. server

def _wrk(port, path, headers, connections, seconds):
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(BENCH / "wrk_report.lua")]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out.stdout[-500:]} {out.stderr[-500:]}")
    fig = json.loads(line[len("WRKJSON "):])
    fig["rps"] = round(fig["requests"] / fig["duration_s"], 1)
    fig["errors"] = fig["connect_errors"] + fig["read_errors"] + fig["write_errors"] + fig["timeouts"]
    return fig


PACED_RUNS, PACED_SECONDS = 3, 10


def paced_runs(port, make_request, server_pid=None):
    """``PACED_RUNS`` open-loop runs at ``OFFERED_RPS``: the median of each figure, and
    every run's p95 (the machine is shared; tails vary from run to run) with the CPU
    that other work on the machine took during that run (``others_cores_each``)."""
    runs, others, cpu_ms = [], [], []
    for _ in range(PACED_RUNS):
        meter = serve.CpuMeter(server_pid) if server_pid else None
        runs.append(loadgen.paced(port, make_request, rate=OFFERED_RPS, duration=PACED_SECONDS))
        cpu = meter.stop() if meter else {}
        others.append(cpu.get("others_cores"))
        cpu_ms.append(round(1000 * cpu["server_cpu_s"] / runs[-1]["requests"], 1)
                      if cpu and runs[-1]["requests"] else None)
    out = {"runs": len(runs), "seconds_each": PACED_SECONDS, "offered_rps": OFFERED_RPS}
    for k in ("requests", "ok", "non_2xx_3xx", "errors"):
        out[k] = sum(r[k] for r in runs)
    for k in ("rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "client_lag_p95_ms",
              "from_send_p95_ms"):
        vals = [r[k] for r in runs if r[k] is not None]
        out[k] = round(med(vals), 2) if vals else None
    out["p95_ms_each"] = [r["p95_ms"] for r in runs]
    out["others_cores_each"] = others
    out["server_cpu_ms_per_request_each"] = cpu_ms
    return out


def own_account_people(con, commune_id):
    """``[(beneficiary id, version)]`` of a commune's people whose account, if any, is
    their own (the posted form says "own account", which the portal rightly refuses for a
    guardian's account), by id."""
    return con.execute(
        "SELECT b.id, b.version FROM beneficiary b LEFT JOIN account a ON a.beneficiary_id = b.id "
        "WHERE b.commune_id = ? AND coalesce(a.recipient_type, 'self') = 'self' ORDER BY b.id",
        (commune_id,)).fetchall()


def bench_server(args, tmp, state):
    app, path, ids, counts = big_db(args, tmp, state)
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(path) as con:
        # People whose account, if any, is their own: the posted form says "own account",
        # which the portal rightly refuses for a guardian's account.
        bids = own_account_people(con, ids["commune"])
    server = None
    try:
        with serve.gunicorn(path, workers=2, log_path=tmp / "gunicorn.log") as server:
            _server_runs(server.port, ids, counts, bids, server.proc.pid)
    finally:
        if server is not None:
            emit("server", what="gunicorn stopped", returncode=server.returncode,
                 log_errors=len(server.log_errors),
                 first_error=server.log_errors[0] if server.log_errors else None)


def _server_runs(port, ids, counts, bids, server_pid):
    """The closed-loop sweep and the open-loop runs of ``server`` on a started gunicorn."""
    jar = loadgen.login(port, "commune")
    cookie = loadgen.cookie_header(jar)
    household = f"/households/{ids['household']}"
    get_headers = {"Cookie": cookie, **AE}
    status, headers, body = loadgen.request(port, "GET", household, get_headers)
    body = decode(body, {k.lower(): v for k, v in headers}.get("content-encoding"))
    m = re.search(rb'"X-CSRFToken":"([^"]+)"', body)
    if status != 200 or not m:
        raise RuntimeError(f"household page answered {status} without a CSRF token")
    token = m.group(1).decode()
    emit("server", what="setup", workers=2, worker_class="sync", database="sqlite",
         beneficiaries=counts["beneficiaries"], household=household,
         household_people=ids["household_people"], cpus=os.cpu_count(),
         load_generator="wrk" if shutil.which("wrk") else "python (closed loop)")

    # Highest throughput: closed loop at rising concurrency.
    sweep = []
    for c in (1, 2, 4, 8, 16):
        meter = serve.CpuMeter(server_pid)
        if shutil.which("wrk"):
            fig = _wrk(port, household, get_headers, c, 10)
            fig["concurrency"] = c
        else:
            fig = loadgen.closed(port, lambda i: ("GET", household, get_headers, None),
                                 concurrency=c, duration=10, max_requests=1000)
        sweep.append(fig)
        emit("server", page="household", mode="closed loop", tool="wrk" if shutil.which("wrk") else "python",
             **{k: fig[k] for k in ("concurrency", "requests", "duration_s", "rps", "p50_ms",
                                    "p90_ms", "p95_ms", "p99_ms", "max_ms", "errors",
                                    "non_2xx_3xx")}, **meter.stop())
    good = [f for f in sweep if f["p95_ms"] <= SUSTAINED_P95_MS and not f["errors"] and not f["non_2xx_3xx"]]
    best = max(good, key=lambda f: f["rps"]) if good else None
    emit("server", page="household", what="highest sustained throughput with p95 <= 200 ms",
         rps=best["rps"] if best else None, concurrency=best["concurrency"] if best else None,
         p95_ms=best["p95_ms"] if best else None)

    # The budgeted figures: p95 at an offered 50 requests/s (open loop), 3 runs.
    fig = paced_runs(port, lambda i: ("GET", household, get_headers, None), server_pid)
    emit("server", page="household", mode="open loop", tool="python", **fig,
         budget_p95_ms=SERVER_P95_HOUSEHOLD_MS, within=fig["p95_ms"] is not None
         and fig["p95_ms"] <= SERVER_P95_HOUSEHOLD_MS and not fig["errors"])

    post_headers = {"Cookie": cookie, "X-CSRFToken": token, "HX-Request": "true",
                    "Content-Type": "application/x-www-form-urlencoded", **AE}

    versions = dict(bids)  # each save carries the version it saw, as the form does
    bids = [bid for bid, _ in bids]

    def status_update(i):
        bid = bids[i % len(bids)]
        p = f"b{bid}-"
        version = versions[bid]
        versions[bid] += 1  # every save moves it by exactly one
        body = urlencode({p + "version": version,
                          p + "account_status": "has_account", p + "payment_method": "account",
                          p + "bank_bin": "970405", p + "number": f"1234{i:08d}",
                          p + "recipient_type": "self",
                          # a fresh key per save, as each rendered form carries one
                          "idempotency_key": secrets.token_urlsafe(16)})
        return "POST", f"/beneficiaries/{bid}/review", post_headers, body

    fig = paced_runs(port, status_update, server_pid)
    emit("server", page="status_update (htmx POST)", mode="open loop", tool="python",
         distinct_beneficiaries=min(len(bids), int(OFFERED_RPS * PACED_SECONDS)), **fig,
         budget_p95_ms=SERVER_P95_UPDATE_MS, within=fig["p95_ms"] is not None
         and fig["p95_ms"] <= SERVER_P95_UPDATE_MS and not fig["errors"] and not fig["non_2xx_3xx"])


# --------------------------------------------------------------------------- 5. mixed

MIX_CLIENTS = 20
MIX_SECONDS = 30
MIX_WARMUP_S = 3
MIX_MAX_REQUESTS = 20_000
MIX_WEIGHTS = {"household": 6, "status_update": 3, "overview": 1}
VERSION_RE = re.compile(rb'name="b(\d+)-version"[^>]*value="(\d+)"')
TOKEN_RE = re.compile(rb'"X-CSRFToken":"([^"]+)"')


class MixClient:
    """One closed-loop client of ``mixed``: a commune officer's session and a district
    session of its own, each with its CSRF token; picks its next request at random with
    ``weights`` (its own seeded generator)."""

    def __init__(self, port, n, seed, households, people, versions, lock, samples,
                 weights=MIX_WEIGHTS):
        import random
        self.rng = random.Random(seed * 1000 + n)
        self.households, self.people = households, people
        self.versions, self.lock = versions, lock
        self.samples = samples
        self.kinds = [k for k, w in weights.items() if w > 0]
        self.weights = [weights[k] for k in self.kinds]
        self.commune = self._session(port, "commune", f"/households/{households[0]}")
        self.district = self._session(port, "district", "/overview")
        self.i = 0

    @staticmethod
    def _session(port, username, page):
        jar = loadgen.login(port, username)
        cookie = loadgen.cookie_header(jar)
        status, headers, body = loadgen.request(port, "GET", page, {"Cookie": cookie})
        m = TOKEN_RE.search(body)
        if status != 200 or not m:
            raise RuntimeError(f"{page} as {username} answered {status} without a CSRF token")
        return {"Cookie": cookie, "token": m.group(1).decode()}

    def next(self):
        self.i += 1
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "household":
            path = f"/households/{self.rng.choice(self.households)}"
            return kind, "GET", path, {"Cookie": self.commune["Cookie"], **AE}, None
        if kind == "overview":
            return kind, "GET", "/overview", {"Cookie": self.district["Cookie"], **AE}, None
        bid = self.rng.choice(self.people)
        with self.lock:
            version = self.versions[bid]
        p = f"b{bid}-"
        body = urlencode({p + "version": version, p + "account_status": "has_account",
                          p + "payment_method": "account", p + "bank_bin": "970405",
                          p + "number": f"43{self.rng.randrange(10**10, 10**11)}",
                          p + "recipient_type": "self",
                          # a fresh key per save, as each rendered form carries one
                          "idempotency_key": secrets.token_urlsafe(16)})
        headers = {"Cookie": self.commune["Cookie"], "X-CSRFToken": self.commune["token"],
                   "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded", **AE}
        return kind, "POST", f"/beneficiaries/{bid}/review", headers, body

    def done(self, kind, status, headers, body):
        """After a save (saved: 200, or a conflict: 409), keep the version the answered
        card carries, as the page would; keep the first answer of any other status."""
        if status not in (200, 409):
            with self.lock:
                if (kind, status) not in self.samples:
                    text = decode(body, {k.lower(): v for k, v in headers}.get("content-encoding"))
                    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text.decode("utf-8", "replace")))
                    self.samples[(kind, status)] = text.strip()[:300]
            return
        if kind != "status_update":
            return
        body = decode(body, {k.lower(): v for k, v in headers}.get("content-encoding"))
        for bid, version in VERSION_RE.findall(body):
            with self.lock:
                self.versions[int(bid)] = max(self.versions.get(int(bid), 0), int(version))


def parse_mix(text):
    """``"household=6,status_update=3,overview=1"`` → ``{"household": 6, …}`` (the
    kinds of ``MIX_WEIGHTS``; a kind left out weighs 0). Raises ``ValueError``."""
    if not text:
        return dict(MIX_WEIGHTS)
    out = {k: 0 for k in MIX_WEIGHTS}
    for part in text.split(","):
        k, _, v = part.partition("=")
        if k.strip() not in out:
            raise ValueError(f"--mix: unknown request kind {k!r}; one of {', '.join(MIX_WEIGHTS)}")
        out[k.strip()] = float(v)
    if not any(out.values()):
        raise ValueError("--mix: every weight is 0")
    return out


def bench_mixed(args, tmp, state):
    """20 concurrent clients (closed loop) on gunicorn -w 2 over the large district: the
    household page, the status update and the overview, mixed; figures per request."""
    import threading
    app, path, ids, counts = big_db(args, tmp, state)
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(path) as con:
        households = [r[0] for r in con.execute(
            "SELECT DISTINCT household_id FROM beneficiary WHERE commune_id = ? ORDER BY 1",
            (ids["commune"],))]
        people = own_account_people(con, ids["commune"])
    versions = dict(people)
    people = [bid for bid, _ in people]
    if args.update_pool:  # a few people saved over and over: conflicts become likely
        people = people[:args.update_pool]
    lock = threading.Lock()
    weights = parse_mix(args.mix)
    journal = None
    if args.sqlite_wal:  # an experiment: the portal itself leaves SQLite's default journal
        with sqlite3.connect(path) as con:
            journal = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    server = None
    try:
        with serve.gunicorn(path, workers=2, log_path=tmp / "gunicorn-mixed.log") as server:
            samples = {}  # (kind, status) -> the first such answer's text (not 200 nor 409)
            clients = [MixClient(server.port, n, args.seed, households, people, versions, lock,
                                 samples, weights) for n in range(args.clients)]
            emit("mixed", what="setup", workers=2, worker_class="sync", database="sqlite",
                 beneficiaries=counts["beneficiaries"], commune_households=len(households),
                 commune_people_updated=len(people), clients=len(clients),
                 sessions="each client: its own commune and district session",
                 weights=weights, seconds=args.mix_seconds,
                 sqlite_journal=journal or "default (rollback journal, as the portal runs it)", warmup_s=MIX_WARMUP_S,
                 max_requests=MIX_MAX_REQUESTS, cpus=os.cpu_count(), load_generator="python threads",
                 loadavg_before=[round(x, 2) for x in os.getloadavg()])
            # Warm-up (not counted): templates compiled, caches filled, both workers busy.
            loadgen.closed_mix(server.port, clients, duration=MIX_WARMUP_S,
                               max_requests=MIX_MAX_REQUESTS)
            meter = serve.CpuMeter(server.proc.pid)
            fig = loadgen.closed_mix(server.port, clients, duration=args.mix_seconds,
                                     max_requests=MIX_MAX_REQUESTS)
            cpu = meter.stop()
            if cpu and fig["total"]["requests"]:
                cpu["server_cpu_ms_per_request"] = round(
                    1000 * cpu["server_cpu_s"] / fig["total"]["requests"], 1)
            for label, f in fig["labels"].items():
                sc = f.pop("status_counts")
                ok = sc.get("200", 0)
                conflicts = sc.get("409", 0)
                emit("mixed", endpoint=label, path={
                    "household": "GET /households/<random Bình Chánh household>",
                    "status_update": "POST /beneficiaries/<random>/review (htmx, CSRF, version)",
                    "overview": "GET /overview (district)"}.get(label, label),
                     requests=f["requests"], ok_200=ok, conflicts_409=conflicts,
                     other_status={k: v for k, v in sc.items() if k not in ("200", "409")},
                     other_first_answer={str(st): txt for (k, st), txt in samples.items()
                                         if k == label} or None,
                     errors=f["errors"], rps=f["rps"], p50_ms=f["p50_ms"], p90_ms=f["p90_ms"],
                     p95_ms=f["p95_ms"], p99_ms=f["p99_ms"], max_ms=f["max_ms"])
            t = fig["total"]
            emit("mixed", endpoint="all", concurrency=t["concurrency"], requests=t["requests"],
                 errors=t["errors"], non_2xx_3xx=t["non_2xx_3xx"], duration_s=t["duration_s"],
                 rps=t["rps"], p50_ms=t["p50_ms"], p95_ms=t["p95_ms"], p99_ms=t["p99_ms"],
                 max_ms=t["max_ms"], cpu=cpu)
    finally:
        if server is not None:
            emit("mixed", what="gunicorn stopped", returncode=server.returncode,
                 log_errors=len(server.log_errors),
                 first_error=server.log_errors[0] if server.log_errors else None)



# --------------------------------------------------------------------------- 6. cycle

def bench_cycle(args, tmp, state):
    """The payment lists and the monthly report of the large district (``bench/cycle.py``):
    run last, since it adds a month of lists and results to the shared district."""
    import cycle
    app, _path, _ids, _counts = big_db(args, tmp, state)
    cycle.measure(app, seed=args.seed, emit=lambda **f: emit("cycle", **f))


# --------------------------------------------------------------------------- main

BENCHES = {"bytes": bench_bytes, "import": bench_import, "overview": bench_overview,
           "server": bench_server, "mixed": bench_mixed, "cycle": bench_cycle}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smaller sizes (import 10,000 rows, district 20,000), no server or mixed bench")
    ap.add_argument("--only", action="append", default=[],
                    help=f"run only these (repeatable or comma-separated): {', '.join(NAMES)}")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--overview-size", type=int, default=None,
                    help="beneficiaries in the overview/server district (default 100,000; quick 20,000)")
    ap.add_argument("--clients", type=int, default=MIX_CLIENTS,
                    help=f"concurrent clients of the mixed bench (default {MIX_CLIENTS})")
    ap.add_argument("--mix-seconds", type=float, default=MIX_SECONDS,
                    help=f"measured seconds of the mixed bench (default {MIX_SECONDS}, after "
                         f"{MIX_WARMUP_S} s of warm-up)")
    ap.add_argument("--update-pool", type=int, default=None,
                    help="the mixed bench's saves pick from the commune's first N people only "
                         "(default: all of them); a small pool makes conflicts (409) likely")
    ap.add_argument("--mix", default=None,
                    help="the mixed bench's weights, e.g. household=6,status_update=3,overview=1 "
                         "(the default)")
    ap.add_argument("--sqlite-wal", action="store_true",
                    help="experiment: switch the mixed bench's SQLite file to WAL first")
    args = ap.parse_args(argv)
    only = [n.strip() for o in args.only for n in o.split(",") if n.strip()]
    unknown = set(only) - set(NAMES)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; one of {', '.join(NAMES)}")
    selected = [n for n in NAMES if (n in only if only else
                                     not (args.quick and n in ("server", "mixed")))]

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=False).stdout.strip() or None
    except OSError:
        commit = None
    emit("meta", date=date.today().isoformat(), git=commit, python=platform.python_version(),
         sqlite=sqlite3.sqlite_version, cpus=os.cpu_count(), machine=platform.machine(),
         loadavg=[round(x, 2) for x in os.getloadavg()],
         quick=args.quick, seed=args.seed, benches=selected)
    started = time.perf_counter()
    state = {}
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        for name in selected:
            t0 = time.perf_counter()
            try:
                BENCHES[name](args, Path(tmp), state)
            except Exception as e:  # noqa: BLE001  (a benchmark reports, it does not stop the others)
                traceback.print_exc()
                emit(name, error=f"{type(e).__name__}: {e}")
            emit(name, what="elapsed", seconds=round(time.perf_counter() - t0, 1))
        if "big" in state:
            with state["big"][0].app_context():
                db.engine.dispose()
    emit("meta", what="total elapsed", seconds=round(time.perf_counter() - started, 1))


if __name__ == "__main__":
    main()
