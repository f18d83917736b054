"""Time the "đúng, đủ, sạch, sống" checks over a generated district.

    .venv/bin/python bench/checks.py [--size 100000]

Prints JSON lines: the build of the district, then a first run of the checks (every
finding new), then a second run (nothing changes), each with seconds and counts.
Duplicate detection is grouped and indexed (``portal/services/checks.py``), so the time
grows with the number of records, not with its square.
"""
import argparse
import json
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Beneficiary  # noqa: E402
from portal.services import areas, checks, demo  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100_000)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/checks.db"})
        with app.app_context():
            db.create_all()
            areas.load_packaged_areas()
            t = time.perf_counter()
            demo.build_demo(size=opts.size)
            db.session.commit()
            print(json.dumps({"bench": "checks", "what": "build", "beneficiaries": opts.size,
                              "seconds": round(time.perf_counter() - t, 2)}), flush=True)
            ids = select(Beneficiary.id)
            for run in ("first", "second"):
                t = time.perf_counter()
                result = checks.run_checks(ids, date(2024, 5, 1), datetime(2024, 1, 1))
                db.session.commit()
                print(json.dumps({"bench": "checks", "run": run, **result,
                                  "seconds": round(time.perf_counter() - t, 2)}), flush=True)


if __name__ == "__main__":
    main()
