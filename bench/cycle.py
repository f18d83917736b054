#!/usr/bin/env python
"""The monthly cycle at district scale: the payment lists and the monthly report of a
district of 100,000 beneficiaries (``shared/design/budgets.md``). Prints figures, never
asserts.

    .venv/bin/python bench/cycle.py [--size N] [--seed N] [--month YYYY-MM]
    .venv/bin/python bench/run.py --only cycle        # the same inside the bench suite

One JSON line per figure on stdout, ``{"bench": "cycle", …}``; progress on stderr. The
district is the demo's Bình Sơn (``build_demo(size=N)``: 22 communes, no payment yet) in a
SQLite file in a temporary directory. Measured, in order:

1. ``payments.build_area`` for the month, both programs (every commune's BTXH and NCC
   list), then ``COMMIT``;
2. ``payments.lock`` of every list;
3. a result for every line (``demo.record_results``, the bulk form of
   ``payments.record_result``): paid into the account or in cash, about 1 % failed
   (closed account, with its finding) and 1 % returned, answered on the 6th–20th;
4. ``reports.monthly_report`` for the district, live (the lines' current results) and
   ``as_of`` now, after the results (each line's result recounted from its events),
   median of 5 runs each, with the number of SQL statements;
5. the district report as ``.xlsx`` (``reports.workbook``), and for scale the biggest
   commune's list as the administrative workbook and as the provider's CSV.
"""
import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Beneficiary, PaymentLine, PaymentPeriod, User, utcnow  # noqa: E402
from portal.services import areas, demo, payments, reports  # noqa: E402

REPORT_RUNS = 5

_QUERIES = [0]


@event.listens_for(Engine, "before_cursor_execute")
def _count_query(*args, **kwargs):
    _QUERIES[0] += 1


def _emit(**figures):
    print(json.dumps({"bench": "cycle", **figures}, ensure_ascii=False, default=str), flush=True)


def _note(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def _timed(fn):
    q0, t0 = _QUERIES[0], time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, _QUERIES[0] - q0


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _results(month, seed):
    """A result for every listed line of ``month``: ``[{"line_id", "result", "reason", "at"}]``."""
    rng = random.Random(seed)
    first = date(int(month[:4]), int(month[5:]), 1)
    out = []
    for line_id, method in db.session.execute(
            select(PaymentLine.id, PaymentLine.method)
            .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
            .where(PaymentPeriod.month == month, PaymentLine.status == "listed").order_by(PaymentLine.id)):
        draw = rng.random()
        at = datetime(first.year, first.month, rng.randint(6, 20), rng.randint(8, 16), rng.randint(0, 59))
        if draw < 0.01:
            result, reason = ("failed", "Tài khoản đã đóng") if method == "account" else (
                "returned", "Đối tượng đi vắng, không nhận tiền")
        elif draw < 0.02:
            result, reason = "returned", "Sai tên chủ tài khoản, ngân hàng trả lại" if method == "account" \
                else "Đối tượng đi vắng, không nhận tiền"
        else:
            result, reason = ("paid_account" if method == "account" else "paid_cash"), None
        out.append({"line_id": line_id, "result": result, "reason": reason, "at": at})
    return out


def measure(app, month="2024-05", seed=2024, emit=_emit):
    """Run the measurements on ``app``'s database (the demo district built, no list yet for
    ``month``). Emits the figures; returns them as a dict."""
    figures = {}
    with app.app_context():
        district = areas.find_area(demo.DISTRICT_CODE, "district", on=date(2024, 5, 1))
        preparer, payer = _user("district"), _user("payer")
        n = db.session.scalar(select(func.count()).select_from(Beneficiary).where(
            Beneficiary.commune_id.in_([c.id for c in areas.communes_below(district)])))

        def build():
            built, _ = payments.build_area(district, month, ("BTXH", "NCC"), preparer)
            db.session.commit()
            return built
        built, seconds, queries = _timed(build)
        ids = [p.id for p in built]
        lines = dict(db.session.execute(select(PaymentLine.status, func.count()).where(
            PaymentLine.period_id.in_(ids)).group_by(PaymentLine.status)).all())
        by_method = dict(db.session.execute(select(PaymentLine.method, func.count()).where(
            PaymentLine.period_id.in_(ids), PaymentLine.status == "listed").group_by(PaymentLine.method)).all())
        figures["build"] = seconds
        emit(step="payments.build_area", month=month, programs=["BTXH", "NCC"], beneficiaries=n,
             periods=len(built), lines=sum(lines.values()), listed=lines.get("listed", 0),
             blocked=lines.get("blocked", 0), account=by_method.get("account", 0),
             cash=by_method.get("cash", 0), seconds=round(seconds, 2), queries=queries,
             lines_per_s=round(sum(lines.values()) / seconds))

        def lock():
            for p in db.session.scalars(select(PaymentPeriod).where(PaymentPeriod.id.in_(ids))):
                for line in p.lines:
                    if line.status == "blocked":
                        payments.hold(line, "Chờ bổ sung hồ sơ (bench)")
                payments.lock(p, preparer)
            db.session.commit()
        _, seconds, queries = _timed(lock)
        figures["lock"] = seconds
        emit(step="payments.lock (every list, blocked lines held)", periods=len(ids),
             seconds=round(seconds, 2), queries=queries)

        results = _results(month, seed)

        def record():
            done = demo.record_results(results, payer)
            db.session.commit()
            return done
        done, seconds, queries = _timed(record)
        figures["results"] = seconds
        emit(step="record results (demo.record_results, bulk)", lines=done,
             failed=sum(r["result"] == "failed" for r in results),
             returned=sum(r["result"] == "returned" for r in results), seconds=round(seconds, 2),
             queries=queries, lines_per_s=round(done / seconds) if seconds else None)
        db.session.remove()

    with app.app_context():
        district = areas.find_area(demo.DISTRICT_CODE, "district", on=date(2024, 5, 1))
        as_of = utcnow()  # after the lists were locked and every result recorded
        reports.monthly_report(district, month)  # warm-up: statements compiled, pages cached
        for label, kwargs in (("live", {}), ("as_of", {"as_of": as_of})):
            times, queries, report = [], None, None
            for _ in range(REPORT_RUNS):
                report, seconds, queries = _timed(lambda: reports.monthly_report(district, month, **kwargs))
                times.append(seconds)
            t = report["total"]
            figures[f"report_{label}"] = statistics.median(times)
            emit(step=f"reports.monthly_report ({label})", area=district.code, month=month,
                 **({"as_of": as_of.isoformat()} if kwargs else {}), runs=len(times),
                 median_ms=round(1000 * statistics.median(times), 1), min_ms=round(1000 * min(times), 1),
                 max_ms=round(1000 * max(times), 1), queries=queries, rows=len(report["rows"]),
                 listed=t["listed"], paid=t["paid"], paid_cashless=t["paid_cashless"],
                 paid_cash=t["paid_cash"], failed=t["failed"], returned=t["returned"], pending=t["pending"])
            figures[f"total_{label}"] = {k: t[k] for k in reports.KEYS + reports.EXTRA_KEYS}
        emit(step="as_of equals live", same=figures["total_as_of"] == figures["total_live"])
        data, seconds, queries = _timed(lambda: reports.workbook(report))
        emit(step="reports.workbook (.xlsx of the district report)", rows=len(report["rows"]),
             bytes=len(data), seconds=round(seconds, 2), queries=queries, budget_s=2.0, within=seconds <= 2.0)

        biggest = db.session.scalars(
            select(PaymentPeriod).join(PaymentLine, PaymentLine.period_id == PaymentPeriod.id)
            .where(PaymentPeriod.month == month).group_by(PaymentPeriod.id)
            .order_by(func.count().desc())).first()
        rows = len(biggest.lines)
        for label, fn in (("administrative workbook (.xlsx)", payments.administrative_workbook),
                          ("provider file (.csv)", payments.provider_csv)):
            data, seconds, queries = _timed(lambda: fn(biggest))
            emit(step=label, commune=biggest.commune.code, program=biggest.program, rows=rows,
                 bytes=len(data), seconds=round(seconds, 2), queries=queries)
        db.session.remove()
    return figures


def build_district(path, size, seed):
    """A SQLite file with the areas, the demo district of ``size`` (no payment yet) and the
    demo users. Returns ``(app, seconds)``."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "WTF_CSRF_ENABLED": False})
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        t0 = time.perf_counter()
        demo.build_demo(seed=seed, size=size)
        demo.create_demo_users(fast=True, world="2024")
        db.session.commit()
        seconds = time.perf_counter() - t0
        db.session.remove()
    return app, seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=100_000, help="beneficiaries in the district")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--month", default="2024-05")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="portal-cycle-") as tmp:
        path = Path(tmp) / f"district_{args.size}.db"
        _note(f"building the district of {args.size:,} beneficiaries")
        app, seconds = build_district(path, args.size, args.seed)
        _emit(step="dataset", size=args.size, build_demo_s=round(seconds, 2), db_bytes=path.stat().st_size)
        started = time.perf_counter()
        measure(app, args.month, args.seed)
        with app.app_context():
            db.engine.dispose()
        _emit(step="elapsed", seconds=round(time.perf_counter() - started, 1))


if __name__ == "__main__":
    main()
