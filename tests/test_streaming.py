"""Exports that stream (issue 12 §4): the writers to a file give the workbook the download
gives, cell for cell; the record generators read in batches, never everything at once."""
import io
import math
import os
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import Area, User, Verification
from portal.services import payments, police, registry
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.factories import person, with_account


def cells(source):
    """Every cell of the first sheet as ``(coordinate, value, type, number format, bold, size)``."""
    wb = load_workbook(source if not isinstance(source, bytes) else io.BytesIO(source))
    ws = wb.active
    out = [(c.coordinate, c.value, c.data_type, c.number_format, bool(c.font.b), c.font.sz)
           for row in ws.iter_rows() for c in row if c.value is not None]
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    return ws.title, out, widths


class Statements:
    """Counts the SQL statements sent while in the ``with`` block."""

    def __enter__(self):
        self.n = 0
        event.listen(db.engine, "before_cursor_execute", self._count)
        return self

    def _count(self, *args):
        self.n += 1

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._count)


@pytest.fixture
def people(app):
    """Eight records of Bình Chánh over three villages (one without a village), one of them
    verified in 2024-05 and one merged; one record of another commune."""
    out = []
    for i, (village, name) in enumerate([("Thôn An Thành", "Trần Văn Bảy"), ("Thôn An Thành", "Lê Thị Ba"),
                                         ("Thôn Phước Hòa", "Nguyễn Văn Một"), ("Thôn An Thành", "Lê Thị Ba"),
                                         ("Thôn Phước Hòa", "Võ Văn Năm"), ("Thôn Bình Trung", "Đỗ Thị Sáu"),
                                         ("Thôn Bình Trung", "Phạm Văn Tư"), ("Thôn An Thành", "Huỳnh Văn Tám")]):
        b = person(village=village, name=name, national_id=f"0510501234{i:02d}", sex="MF"[i % 2],
                   birth=date(1950 + i, 1 + i, 2 + i), program="NCC" if i in (3, 6) else "BTXH",
                   monthly_amount=540_000 + 1000 * i)
        out.append(b)
    out[5].village_id = None
    with_account(out[0], number="0071000123456")
    with_account(out[2], number="4300205123456", recipient="guardian", holder="Lê Thị Hoa")
    db.session.add(Verification(beneficiary_id=out[1].id, period="2024-05", result="verified",
                                user_id=system_user().id))
    out[7].status = "merged"
    person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường", national_id="051060222333")
    db.session.commit()
    return out


# ---------------------------------------------------------------------------- registry

def test_registry_workbook_to_a_file_is_the_download_cell_for_cell(people, tmp_path):
    rows = list(registry.records(None, find_commune("21052", "2024-05")))
    assert len(rows) == 7  # the merged record is not exported
    path = tmp_path / "registry.xlsx"
    assert registry.write_workbook(iter(rows), "DANH SÁCH", path) is None
    buf = io.BytesIO()
    registry.write_workbook(iter(rows), "DANH SÁCH", buf)
    downloaded = cells(registry.workbook(rows, "DANH SÁCH"))
    assert cells(str(path)) == cells(buf.getvalue()) == downloaded
    title, found, widths = downloaded
    assert title == "Danh sách"
    assert widths["A"] == 26 and widths["N"] == 18  # the widths of registry.COLUMNS
    at = {coord: rest for coord, *rest in found}
    assert at["A1"] == ["DANH SÁCH", "s", "General", True, 13]
    assert at["A2"] == ["Họ và tên", "s", "General", True, None] and at["E2"][0] == "Số định danh cá nhân"
    header = [v for coord, v, *_ in found if coord.endswith("2") and coord[1:] == "2"]
    assert header == [h for _, h, _ in registry.COLUMNS]
    by_name = {}
    for coord, value, *_ in found:
        if coord[0] == "A" and int(coord[1:]) > 2:
            by_name.setdefault(value, int(coord[1:]))
    row = by_name["Trần Văn Bảy"]
    assert at[f"E{row}"] == ["051050123400", "s", "@", False, 11]  # the ID as text
    assert at[f"N{row}"] == ["0071000123456", "s", "@", False, 11]  # the leading zero kept
    assert at[f"C{row}"][1:3] == ["d", "DD/MM/YYYY"] and at[f"C{row}"][0].date() == date(1950, 1, 2)
    assert at[f"K{row}"] == [540_000, "n", "#,##0", False, 11]
    assert at[f"B{row}"][0] == "Nam" and at[f"L{row}"][0] == "Có tài khoản"
    assert at[f"P{row}"][0] == "Chính chủ" and at[f"Q{row}"][0] == "Qua tài khoản"
    assert at[f"P{by_name['Nguyễn Văn Một']}"][0] == "Người giám hộ"


def test_registry_rows_are_consumed_as_they_are_written(people, tmp_path):
    """``write_workbook`` takes a generator and asks for one row at a time; when the rows
    fail half-way, the export's temporary file is removed at once."""
    seen = []

    def rows():
        for r in registry.records(None, None):
            seen.append(r["name"])
            if len(seen) == 3:
                raise RuntimeError("stop")
            yield r
    from openpyxl.worksheet._writer import ALL_TEMP_FILES
    before = list(ALL_TEMP_FILES)
    with pytest.raises(RuntimeError):
        registry.write_workbook(rows(), "X", tmp_path / "x.xlsx")
    assert len(seen) == 3
    # The sheet's temporary file is gone now, not at the worker's exit.
    assert ALL_TEMP_FILES == before and not any(p.startswith("openpyxl.") for p in os.listdir(tmp_path))
    assert all(os.path.exists(p) for p in ALL_TEMP_FILES)


def test_registry_records_read_in_batches_of_yield_per(people, monkeypatch):
    """``records_in`` reads the records as one streamed select and their accounts per batch:
    the number of statements grows with the batches, not the records."""
    import portal.services.registry as reg

    captured = []
    original = db.session.execute

    def spy(statement, *args, **kwargs):
        captured.append(statement)
        return original(statement, *args, **kwargs)
    monkeypatch.setattr(db.session, "execute", spy)
    with Statements() as s:
        n = sum(1 for _ in reg.records_in(None, None))
    assert n == 8  # 7 of Bình Chánh and Lê Văn Cường
    assert captured[0].get_execution_options().get("yield_per") == 1000  # streamed (server-side on PG)
    assert s.n <= 3  # the records, their accounts (one batch), at most one look-up of the scope


# ---------------------------------------------------------------------------- police

def _police():
    return db.session.scalar(select(User).where(User.username == "police"))


def test_to_verify_all_yields_every_page_of_to_verify_in_order(people):
    user = _police()
    rows, total = police.to_verify(user, "2024-05", 1, per_page=100_000)
    assert total == 6 and len(rows) == 6  # not verified, not merged, Bình Chánh only
    pages = [b.id for page in range(1, 4) for b in police.to_verify(user, "2024-05", page, per_page=2)[0]]
    everything = [b.id for b in police.to_verify_all(user, "2024-05", batch=4)]
    assert everything == pages == [b.id for b in rows]
    assert people[1].id not in everything and people[7].id not in everything
    # By commune, village and name; two namesakes in one village by id.
    names = [db.session.get(type(people[0]), i).full_name for i in everything]
    assert names.index("Lê Thị Ba") < names.index("Trần Văn Bảy")
    assert [b.id for b in police.to_verify_all(user, "2024-06", batch=1)] == \
        [b.id for b in police.to_verify(user, "2024-06", 1, per_page=100)[0]]


@pytest.mark.parametrize("batch", [1, 2, 4, 100])
def test_to_verify_all_reads_a_batch_at_a_time(people, batch):
    """The scope, one statement for the ids, then per batch one for the records and at most
    one for their villages: the count follows the batches; the workbook reads nothing more."""
    user = _police()
    assert user.area is not None  # loaded: the scope then costs one statement (the merged units)
    with Statements() as s:
        got = list(police.to_verify_all(user, "2024-06", batch=batch))
    batches = math.ceil(len(got) / batch)
    assert len(got) == 7
    assert 2 + batches <= s.n <= 2 + 2 * batches
    with Statements() as s:
        for b in got:
            assert b.village is None or b.village.full_name  # loaded with the batch
    assert s.n == 0


def test_to_verify_all_holds_one_batch(people):
    """The generator keeps no reference to the records of the batches before."""
    import gc
    import weakref

    db.session.expunge_all()  # the fixture's records: loaded afresh, held by nobody but the generator
    user = _police()
    gen = police.to_verify_all(user, "2024-06", batch=2)
    first = weakref.ref(next(gen))
    next(gen)
    next(gen)  # the second batch
    gc.collect()
    assert first() is None


def test_police_workbook_is_the_same_from_the_generator_and_the_page(people, tmp_path, client):
    user = _police()
    rows, _ = police.to_verify(user, "2024-05", 1, per_page=100_000)
    before = cells(police.workbook(rows, "BẢNG XÁC MINH"))
    path = tmp_path / "police.xlsx"
    assert police.write_workbook(police.to_verify_all(user, "2024-05", batch=2), "BẢNG XÁC MINH", path) is None
    assert cells(str(path)) == before
    title, found, widths = before
    at = {coord: rest for coord, *rest in found}
    assert title == "Xác minh" and widths["B"] == 26
    assert at["A1"][0] == "BẢNG XÁC MINH" and at["A1"][3:] == [True, 13]
    assert at["E4"][2] == "@" and at["E4"][1] == "s"
    assert any(v == "Thôn An Thành" for _, v, *_ in found)
    # The route gives the same rows (its own title).
    from tests.conftest import login
    login(client, "police")
    r = client.get("/police/export")
    assert r.status_code == 200
    _, served, _ = cells(r.data)
    assert [x for x in served if x[0] not in ("A1",)] == [x for x in found if x[0] not in ("A1",)]


# ---------------------------------------------------------------------------- payment lists

@pytest.fixture
def period(people):
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    return p


def test_provider_files_to_a_file_are_the_downloads(period, tmp_path):
    csv_path, xlsx_path = tmp_path / "p.csv", tmp_path / "p.xlsx"
    assert payments.write_provider_csv(period, csv_path) is None
    assert csv_path.read_bytes() == payments.provider_csv(period)
    buf = io.BytesIO()
    payments.write_provider_csv(period, buf)
    assert buf.getvalue() == csv_path.read_bytes() and not buf.closed  # the caller's file stays open
    text = csv_path.read_bytes()
    assert text.startswith(b"\xef\xbb\xbfBIN;So tai khoan") and text.count(b"\r\n") == 3  # header + 2 accounts
    lines = [line for line in period.lines if line.status == "listed" and line.method == "account"]
    expected = [f"{line.bank_bin};{line.account_number};{line.holder_name};{line.amount + line.arrears};"
                f"{line.reference}" for line in lines]
    assert text.decode("utf-8-sig").splitlines()[1:] == expected
    payments.write_provider_workbook(period, xlsx_path)
    assert cells(str(xlsx_path)) == cells(payments.provider_workbook(period))
    _, found, _ = cells(str(xlsx_path))
    at = {coord: rest for coord, *rest in found}
    assert at["B2"][:3] == [lines[0].account_number, "s", "@"] and at["D2"][:3] == [lines[0].amount, "n", "#,##0"]


def test_account_payments_are_read_a_batch_at_a_time(period):
    n = len([line for line in period.lines if line.status == "listed" and line.method == "account"])
    assert n == 2
    with Statements() as s:
        got = list(payments._account_payments(period, batch=1))
    assert len(got) == 2 and s.n == 3  # two full batches and the empty one that ends
    with Statements() as s:
        assert list(payments._account_payments(period, batch=5)) == got
    assert s.n == 1
    assert all(isinstance(x, tuple) for x in got)  # rows, no ORM object


def test_records_of_another_area_stay_out(people):
    """Scoped as before: a commune's police never see another commune's record."""
    user = _police()
    other = db.session.scalar(select(Area).where(Area.code == "21046"))
    assert all(b.commune_id != other.id for b in police.to_verify_all(user, "2024-06"))


def full_cells(source):
    """Every cell of the first sheet with its whole style, the merged ranges and the widths."""
    ws = load_workbook(io.BytesIO(source) if isinstance(source, bytes) else source).active
    out = []
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column):
        for c in row:
            b = c.border
            out.append((c.coordinate, c.value, c.data_type, c.number_format, c.font.name, c.font.sz,
                        bool(c.font.b), bool(c.font.i), c.alignment.horizontal, bool(c.alignment.wrap_text),
                        tuple(getattr(b, side).style for side in ("left", "right", "top", "bottom"))))
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    return ws.title, out, sorted(str(r) for r in ws.merged_cells.ranges), widths


def test_administrative_workbook_streamed_is_the_in_memory_form(period, tmp_path):
    """The streamed list (``StreamSheet``) is the workbook ``FormSheet`` makes of the same
    layout: every cell, value, type, font, alignment, border, merged range and width."""
    from portal.sheets.writer import FormSheet

    form = FormSheet(f"T{period.month[5:]}-{period.month[:4]}", payments.ADMINISTRATIVE_WIDTHS)
    payments._fill_administrative(period, form)
    path = tmp_path / "list.xlsx"
    assert payments.write_administrative_workbook(period, path) is None
    streamed = full_cells(str(path))
    assert streamed == full_cells(form.bytes()) == full_cells(payments.administrative_workbook(period))
    title, found, merged, widths = streamed
    listed = [line for line in period.lines if line.status == "listed"]
    assert len(listed) == 5  # the BTXH records but the merged one
    assert "A1:D1" in merged and "F1:L1" in merged and "A5:L5" in merged
    at = {c[0]: c[1:] for c in found}
    assert at["A8"][0] == 1 and at["B8"][0] == listed[0].beneficiary.full_name
    assert at["F8"][2] == "#,##0" and at["D8"][2] == "@" and at["D8"][3] == "Times New Roman"
    total_row = 8 + len(listed)
    assert at[f"A{total_row}"][0] == "Tổng cộng"
    assert at[f"H{total_row}"][0] == sum(line.amount + line.arrears for line in listed)
    assert at[f"J{total_row}"][-1] == ("thin", "thin", "thin", "thin")  # an empty cell of the row boxed


def test_stream_sheet_refuses_a_row_already_written(tmp_path):
    from portal.sheets.writer import StreamSheet

    sheet = StreamSheet("T", [10, 10])
    sheet.put(1, 1, "a")
    sheet.put(20, 1, "b")  # row 1 is written now
    with pytest.raises(ValueError, match="already written"):
        sheet.put(1, 2, "c")
    sheet.save(tmp_path / "t.xlsx")
    ws = load_workbook(tmp_path / "t.xlsx").active
    assert ws["A1"].value == "a" and ws["A20"].value == "b" and ws.max_row == 20


def test_listed_lines_are_read_a_batch_at_a_time(period):
    listed = [line.id for line in period.lines if line.status == "listed"]
    with Statements() as s:
        got = list(payments._listed_lines(period, batch=4))
    assert [r.id for r in got] == listed and s.n == math.ceil((len(listed) + 1) / 4)


def test_cli_export_writes_the_registry_workbook_to_the_file(people, runner, tmp_path):
    path = tmp_path / "registry.xlsx"
    r = runner.invoke(args=["export-registry", "--format", "xlsx", "--output", str(path)])
    assert r.exit_code == 0, r.output
    assert cells(str(path)) == cells(registry.workbook(registry.records_in(None, None), "DANH SÁCH ĐỐI TƯỢNG"))
    assert len(cells(str(path))[1]) > 8 * 10  # every record, not just the title and header
