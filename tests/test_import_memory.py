"""An import holds bounded memory (issue 12 §4, bench/README.md "Memory"): the reading
child sends a sheet back in pieces (``reader.PIECE_ROWS`` rows a message), ``parse`` keeps a
row in a compact form, and ``imports.commit`` writes ``COMMIT_CHUNK`` rows at a time and lets
go of them; what it writes does not depend on the chunk's size."""
import gc
import pickle
import tracemalloc

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Account, Area, Beneficiary, ChangeProposal, Event, Finding, Household
from portal.services import areas, history, imports
from portal.sheets import guard, reader
from tests import filegen

ROWS = 3000
CHUNK = 250
# A chunk's records, households and accounts (3 × CHUNK), the areas and the user; one
# chunk of the whole file holds 3 × ROWS by its last row.
CEILING = 3 * CHUNK + 100
# Bytes a parsed row holds (its values, account, issues, strings), measured with tracemalloc
# on ROWS rows: about 800 (750 for the bench's 99,900 rows); 1,500 with a dict of values,
# a dict per row object and a copy of every village, category and note.
ROW_BYTES_CEILING = 1000


@pytest.fixture(scope="module")
def file_bytes():
    """A list of ``ROWS`` people with the planted problems (findings, a stated death), a
    household code shared by rows far apart (in different chunks) and a start month on
    every seventh row (increases)."""
    people = filegen.make_people(ROWS, seed=31)
    filegen.plant_problems(people)
    for i, p in enumerate(people):
        if i % 3 == 0:
            p["household"] = f"H{i % 900:03d}"  # rows i, i + 900, i + 1800, i + 2700
        if i % 7 == 0:
            p["start_month"] = "03/2024"
    return filegen.write_list(people, "xlsx_two_row", columns=(("household", "Mã hộ"),
                                                               ("start_month", "Hưởng từ tháng")))


def _plan(data):
    parsed = imports.parse(data, "ds.xlsx", "BTXH", "2024-05")
    return imports.plan(parsed, areas.find_commune("21052", "2024-05"), "BTXH")


def _written():
    """What the import wrote, with the ids of the records replaced by their rank and those
    of the villages by their names (ids are the database's: PostgreSQL's sequences do not
    roll back)."""
    bens = db.session.scalars(select(Beneficiary).order_by(Beneficiary.id)).all()
    rank = {b.id: i for i, b in enumerate(bens)}
    skip = {"id", "household_id", "created_at", "updated_at"}
    cols = [c.key for c in Beneficiary.__table__.columns if c.key not in skip]
    homes = {h.id: h for h in db.session.scalars(select(Household))}
    first_member = {}
    for b in bens:
        first_member.setdefault(b.household_id, rank[b.id])
    place = {a.id: a.name for a in db.session.scalars(select(Area))}
    records = [tuple(place.get(b.village_id) if c == "village_id" else getattr(b, c) for c in cols)
               + (first_member[b.household_id], homes[b.household_id].code,
                  homes[b.household_id].head_name, place.get(homes[b.household_id].village_id))
               for b in bens]
    accounts = sorted((rank[a.beneficiary_id], a.bank_bin, a.bank_text, a.number, a.holder_name,
                       a.recipient_type) for a in db.session.scalars(select(Account)))
    events = sorted((rank.get(e.beneficiary_id), e.user_id, e.source, e.action, e.field or "",
                     e.old_value or "", e.new_value or "") for e in db.session.scalars(select(Event)))
    findings = sorted((rank[f.beneficiary_id], f.commune_id, f.code, f.severity, f.field or "",
                       f.message, f.sheet or "", f.row or 0, f.resolved_at is None)
                      for f in db.session.scalars(select(Finding)))
    changes = sorted((rank[c.beneficiary_id], c.commune_id, c.kind, c.clause or "", c.reason,
                      c.effective_month, c.status, c.source, c.evidence or "")
                     for c in db.session.scalars(select(ChangeProposal)))
    return {"records": records, "households": len(homes), "accounts": accounts, "events": events,
            "findings": findings, "changes": changes}


def test_commit_holds_one_chunk_and_writes_the_same(app, file_bytes, monkeypatch):
    user = history.system_user()
    db.session.commit()  # the user outlives the rollback below
    # One chunk of the whole file: what commit wrote before it wrote in chunks.
    monkeypatch.setattr(imports, "COMMIT_CHUNK", 10**6)
    whole = imports.commit(_plan(file_bytes), user)
    once = _written()
    db.session.rollback()
    assert db.session.scalar(select(Beneficiary.id)) is None

    monkeypatch.setattr(imports, "COMMIT_CHUNK", CHUNK)
    seen = []  # the session's identity map at every record's creation event (after a flush)
    record_creation = history.record_creation

    def probe(b, *args, **kwargs):
        seen.append(len(db.session.identity_map))
        return record_creation(b, *args, **kwargs)
    monkeypatch.setattr(history, "record_creation", probe)
    chunked = imports.commit(_plan(file_bytes), user)

    assert len(seen) == ROWS
    assert max(seen) <= CEILING, max(seen)
    assert chunked == whole
    assert whole["added"] == ROWS and whole["increases"] == len(range(0, ROWS, 7))
    assert whole["proposed"] == 1
    again = _written()
    assert again == once
    # A household named again in a later chunk is the one written before (rows i and
    # i + 900 of the same village): the records' first member is in an earlier chunk.
    assert any(r[-4] <= i - CHUNK for i, r in enumerate(again["records"]))
    assert again["households"] < ROWS
    assert len(again["findings"]) > 10 and len(again["accounts"]) > ROWS // 3


def test_the_reader_sends_a_sheet_in_pieces(file_bytes, monkeypatch):
    """No message from the reading child holds the whole sheet: each holds at most
    ``PIECE_ROWS`` rows, and the pieces make the same sheets as a read in-process."""
    monkeypatch.setattr(reader, "PIECE_ROWS", 500)  # the forked child reads it too
    out = guard.run_limited(reader.read_pieces, file_bytes, "ds.xlsx", limits=guard.DEFAULT, stream=True)
    assert out.kind == "ok", (out.kind, out.value, out.detail)
    whole = reader.read_workbook_unguarded(file_bytes, "ds.xlsx")
    assert len(whole[0].rows) > 6 * reader.PIECE_ROWS
    sheets = [p for p in out.value if isinstance(p, reader.Sheet)]
    pieces = [p for p in out.value if not isinstance(p, reader.Sheet)]
    assert len(sheets) == len(whole) and max(map(len, pieces)) == reader.PIECE_ROWS
    assert out.largest_message * 4 < len(pickle.dumps(whole))
    assert reader.read_workbook(file_bytes, "ds.xlsx") == whole


def test_the_reader_streams_its_refusals_too():
    """A refusal found after pieces were sent is still the whole answer (nothing of the file
    comes back), in the child as in-process."""
    data = filegen.write_list(filegen.make_people(5, seed=3), "csv_comma")
    blank = b" ,\n" * 3
    for limits in (guard.DEFAULT, guard.Limits(memory_mb=0)):
        out = guard.run_limited(reader.read_pieces, blank, None, limits=limits, stream=True)
        assert out.kind == "raised" and out.value.code == "empty"
        out = guard.run_limited(reader.read_pieces, data, None, limits=limits, stream=True)
        assert out.kind == "ok" and isinstance(out.value[0], reader.Sheet)


def _parsed_bytes(data):
    """Bytes the ``Parsed`` of ``data`` holds once the sheet is let go (tracemalloc)."""
    imports.parse(data, "ds.xlsx", "BTXH", "2024-05")  # caches warmed: not counted
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        parsed = imports.parse(data, "ds.xlsx", "BTXH", "2024-05")
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return parsed, held


def test_parsed_rows_stay_compact(app, file_bytes):
    parsed, held = _parsed_bytes(file_bytes)
    assert len(parsed.rows) == ROWS
    print(f"{held / ROWS:.0f} B a parsed row")
    assert held / ROWS < ROW_BYTES_CEILING, held / ROWS
    r = parsed.rows[1]
    assert not hasattr(r, "__dict__")
    # The values read like the dict they were: absent keys absent, equal to a dict.
    assert dict(r.values) == {f: r.values[f] for f in imports.FIELDS}
    assert r.values == dict(r.values) and list(r.values) == list(imports.FIELDS)
    skipped = imports.parse_row("S", 9, {"name": "An"}, {})
    assert skipped.skipped and "national_id" not in skipped.values
    assert skipped.values.get("national_id") is None and len(skipped.values) == 4
    with pytest.raises(KeyError):
        skipped.values["national_id"]
    with pytest.raises(KeyError):
        skipped.values["nonsense"] = 1
    # A village named on many rows is one string, not a copy a row.
    villages = {}
    for row in parsed.rows:
        if row.village:
            villages.setdefault(row.village, set()).add(id(row.village))
    assert villages and all(len(ids) == 1 for ids in villages.values())
