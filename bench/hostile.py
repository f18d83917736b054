#!/usr/bin/env python
"""Peak memory of the web worker while it reads hostile files (issue 15).

    .venv/bin/python bench/hostile.py [--rows 30000]

Each file is uploaded as the commune officer to ``/imports/new``, through the Flask app in
this process: the same code path as a gunicorn worker (the request reads the file in a
forked child capped by ``READER_MEMORY_MB``). Printed per file, as JSON lines:

- ``status``: the page's HTTP status (422: refused with a message, 303: a preview);
- ``worker_peak_mb`` / ``worker_added_mb``: this process's peak resident memory during the
  upload (``VmHWM``, reset before each file through ``/proc/self/clear_refs``) and how
  much that peak is above its resident memory before the upload;
- ``reader_peak_mb`` / ``reader_added_mb``: the reading child's peak (``ru_maxrss``) and
  how much it added to what it shared with the worker at the fork;
- ``message``: the start of the refusal shown.

For comparison, a well-formed list of ``--rows`` rows goes through the same road.
Before issue 15, the three regression files cost: an abort (calamine asked for 47 GB),
a MemoryError (a 16-million-cell row), and 2.6 GB in 10–23 s.
"""
import argparse
import io
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Area  # noqa: E402
from portal.services import areas, demo  # noqa: E402
from tests import filegen  # noqa: E402
from tests.hostile import REGRESSION_FILES, xlsx_cell, xlsx_from_sheet_xml, xlsx_rows  # noqa: E402


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
    except OSError:
        pass


class ChildPeaks(logging.Handler):
    """Keeps the reading child's peak the reader logs (``portal.sheets.reader``, DEBUG)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.last = None

    def emit(self, record):
        m = re.search(r"peak (\d+) KB \(([+-]\d+) KB", record.getMessage())
        if m:
            self.last = (int(m.group(1)), int(m.group(2)))


def sparse_xlsx():
    """A list in A1:G4 and one stray value at IU99000: read row by row."""
    rows = {0: [xlsx_cell(0, c, h) for c, h in enumerate(["STT", "Họ và tên", "Ngày sinh"])],
            1: [xlsx_cell(1, 0, 1), xlsx_cell(1, 1, "Nguyễn Văn An"), xlsx_cell(1, 2, "1950")],
            98_999: [xlsx_cell(98_999, 254, "ghi chú lạc")]}
    return xlsx_from_sheet_xml(xlsx_rows(rows))


def many_cells_without_references(rows=99_990, cols=60):
    """6 million cells that do not name their place (``<c><v>1</v></c>``): the sheet the
    trial of issue 15 took 85 s to refuse. Written streaming, about 350 kB zipped."""
    import zipfile
    buf = io.BytesIO()
    one = xlsx_from_sheet_xml(b"")
    with zipfile.ZipFile(io.BytesIO(one)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                z.writestr(item, src.read(item))
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            f.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                    b'spreadsheetml/2006/main"><sheetData>')
            row = b"<row>" + b"<c><v>1</v></c>" * cols + b"</row>"
            for _ in range(rows):
                f.write(row)
            f.write(b"</sheetData></worksheet>")
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=30_000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-hostile-")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                      "WTF_CSRF_ENABLED": False})
    peaks = ChildPeaks()
    log = logging.getLogger("portal.sheets.reader")
    log.setLevel(logging.DEBUG)
    log.addHandler(peaks)
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        demo.create_demo_users(fast=True, world="2024")
        db.session.commit()
        commune_id = db.session.scalar(select(Area.id).where(Area.code == "21052", Area.level == "commune")
                                       .order_by(Area.valid_from))
    client = app.test_client()
    r = client.post("/login", data={"username": "commune", "password": "demo"})
    assert r.status_code == 303, r.status_code
    files = {name: make() for name, make in REGRESSION_FILES.items()}
    files["sparse.xlsx"] = sparse_xlsx()
    files["6M_cells_no_refs.xlsx"] = many_cells_without_references()
    people = filegen.make_people(args.rows, seed=15)
    files[f"list_{args.rows}.xlsx"] = filegen.write_list(people, "xlsx_two_row")
    for name, data in files.items():
        peaks.last = None
        reset_peak()
        before = status_kb("VmRSS")
        t0 = time.perf_counter()
        r = client.post("/imports/new", data={"commune_id": commune_id, "program": "BTXH",
                                              "month": "2024-05", "file": (io.BytesIO(data), name)},
                        content_type="multipart/form-data")
        seconds = time.perf_counter() - t0
        peak = status_kb("VmHWM")
        html = r.get_data(as_text=True)
        m = re.search(r"((?:Trang «|Bảng |Tệp cần )[^<]{0,200})", html)
        print(json.dumps({
            "bench": "hostile_upload", "file": name, "bytes": len(data), "status": r.status_code,
            "seconds": round(seconds, 3),
            "worker_peak_mb": round(peak / 1024, 1), "worker_added_mb": round((peak - before) / 1024, 1),
            "reader_peak_mb": round(peaks.last[0] / 1024, 1) if peaks.last else None,
            "reader_added_mb": round(peaks.last[1] / 1024, 1) if peaks.last else None,
            "message": re.sub(r"<[^>]+>|\s+", " ", m.group(1)).strip()[:110] if m else None,
        }, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
