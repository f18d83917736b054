"""No file can take the portal down: the three files that once did, the extent limits of
every reader, the reading child's ceiling, and the preview's warnings about odd cells."""
import io
import json
import re

import pytest
import xlwt
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ImportBatch
from portal.sheets import extent, guard, reader
from portal.sheets.reader import FileProblem, read_workbook, read_workbook_unguarded
from portal.services import imports

from tests.conftest import csrf_token, login
from tests import hostile
from tests.hostile import (REGRESSION_FILES, html_table, spreadsheetml, xlsx_cell, xlsx_from_sheet_xml,
                     xlsx_rows)
from tests.test_imports import upload

# A ceiling far below what any of the regression files asked for (47 GB, 2.6 GB).
TIGHT = guard.Limits(memory_mb=256, seconds=30)

EXPECTED_CELL = {"far_cell.xlsx": ("Trang «DS»", "ô XFD90000"),
                 "huge_index.xls": ("Trang «DS»", "dòng 60.000.000"),
                 "huge_span.xls": ("Bảng", "ô A1 kéo tới ô")}

HEADER = ["STT", "Họ và tên", "Ngày sinh", "Số CCCD", "Thôn", "Mức trợ cấp", "Ghi chú"]


def person_rows(n=3):
    return [[i, f"Nguyễn Văn {chr(64 + i)}", f"0{i}/03/1950", f"05119000{i:04d}", "Thôn An Thành",
             500000, ""] for i in range(1, n + 1)]


# --------------------------------------------------------------------------- the three files

@pytest.mark.parametrize("name", sorted(REGRESSION_FILES))
def test_regression_file_is_refused_naming_sheet_and_cell(name):
    data = REGRESSION_FILES[name]()
    assert len(data) < 3000  # each is tiny: the danger was never the size
    # In-process, no ceiling at all: the walk refuses before anything is allocated.
    with pytest.raises(FileProblem) as e:
        read_workbook_unguarded(data, name)
    assert e.value.code == "too_far"
    sheet, cell = EXPECTED_CELL[name]
    assert sheet in e.value.message and cell in e.value.message
    # Under a ceiling of 256 MB the reading child ends with the reader's own refusal.
    out = guard.run_limited(read_workbook_unguarded, data, name, limits=TIGHT)
    assert out.kind == "raised" and isinstance(out.value, FileProblem), out


@pytest.mark.parametrize("name", sorted(REGRESSION_FILES))
def test_regression_file_through_the_commune_upload(client, name):
    login(client, "commune")
    r = upload(client, REGRESSION_FILES[name](), name)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert EXPECTED_CELL[name][1] in html
    assert db.session.scalar(select(func.count(ImportBatch.id))) == 0


@pytest.mark.parametrize("name", sorted(REGRESSION_FILES))
def test_regression_file_through_the_cli(runner, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(REGRESSION_FILES[name]())
    r = runner.invoke(args=["import-list", str(path), "--commune", "21052", "--program", "BTXH",
                            "--month", "2024-05", "--dry-run", "--json"])
    assert r.exit_code != 0
    assert EXPECTED_CELL[name][1] in json.loads(r.output)["message"]


@pytest.mark.parametrize("name", sorted(REGRESSION_FILES))
def test_regression_file_through_the_police_and_results_uploads(client, name):
    data = REGRESSION_FILES[name]()
    login(client, "police")
    r = client.post("/police/upload", data={"csrf_token": csrf_token(client, "/police"),
                                            "file": (io.BytesIO(data), name)},
                    content_type="multipart/form-data")
    assert r.status_code == 303 and r.headers["Location"].endswith("/police")
    assert EXPECTED_CELL[name][1] in client.get("/police").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/police")})
    login(client, "payer")
    r = client.post("/payments/results", data={"csrf_token": csrf_token(client, "/payments"),
                                               "file": (io.BytesIO(data), name)},
                    content_type="multipart/form-data")
    assert r.status_code == 303
    assert EXPECTED_CELL[name][1] in client.get("/payments").get_data(as_text=True)
    assert db.session.scalar(select(func.count(ImportBatch.id))) == 0


# --------------------------------------------------------------------------- the ceiling

def _pretend_small(monkeypatch):
    """A reader bug: the walk says the far-cell sheet is one cell, so calamine is asked
    for the 47 GB grid after all."""
    monkeypatch.setattr(extent, "xlsx_extents",
                        lambda data: {"DS": extent.Extent("DS", 0, 0, 1, (0, 0))})


def test_a_reader_bug_is_stopped_by_the_ceiling(monkeypatch):
    _pretend_small(monkeypatch)
    with pytest.raises(FileProblem) as e:
        read_workbook(REGRESSION_FILES["far_cell.xlsx"](), "far_cell.xlsx", limits=TIGHT)
    assert e.value.code == "memory" and "không có gì được ghi" in e.value.message


def test_a_reader_bug_in_a_web_upload_answers_422_and_writes_nothing(client, monkeypatch):
    _pretend_small(monkeypatch)
    reader.configure(TIGHT)
    try:
        login(client, "commune")
        r = upload(client, REGRESSION_FILES["far_cell.xlsx"](), "ds.xlsx")
    finally:
        reader.configure(guard.DEFAULT)
    assert r.status_code == 422 and "quá nhiều bộ nhớ" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ImportBatch.id))) == 0


def test_the_ceiling_reports_how_the_child_ended():
    assert guard.run_limited(sum, [1, 2], limits=TIGHT).value == 3
    out = guard.run_limited(bytearray, 1024 ** 3, limits=TIGHT)  # 1 GB under 256 MB
    assert out.kind == "memory"
    out = guard.run_limited(_abort, limits=TIGHT)
    assert out.kind == "killed" and out.detail == "SIGABRT"
    out = guard.run_limited(_spin, limits=guard.Limits(memory_mb=256, seconds=1))
    assert out.kind in ("killed", "timeout")  # SIGXCPU after one second of CPU
    out = guard.run_limited(int, "x", limits=TIGHT)
    assert out.kind == "raised" and isinstance(out.value, ValueError)


def _abort():
    import os
    os.abort()


def _spin():
    while True:
        pass


def test_file_problem_crosses_the_pipe():
    out = guard.run_limited(_raise_problem, limits=TIGHT)
    assert out.kind == "raised" and out.value.code == "too_far" and out.value.message == "ô Z9"


def _raise_problem():
    raise FileProblem("too_far", "ô Z9")


# --------------------------------------------------------------------------- each reader's limits

def test_a_sparse_xlsx_within_the_limits_is_read_row_by_row():
    rows = {0: [xlsx_cell(0, c, h) for c, h in enumerate(HEADER)]}
    for i, p in enumerate(person_rows(), 1):
        rows[i] = [xlsx_cell(i, c, v) for c, v in enumerate(p)]
    rows[98_999] = [xlsx_cell(98_999, 250, "ghi chú lạc")]  # a grid of 24.8 million cells
    ext = extent.xlsx_extents(xlsx_from_sheet_xml(xlsx_rows(rows)))["DS"]
    assert not ext.fits_grid and ext.row_widths == 4 * 7 + 251
    sheet = read_workbook(xlsx_from_sheet_xml(xlsx_rows(rows)))[0]
    assert len(sheet.rows) == 99_000
    assert sheet.rows[1][:2] == [1, "Nguyễn Văn A"] and len(sheet.rows[1]) == 7
    assert sheet.rows[500] == [] and sheet.rows[98_999][250] == "ghi chú lạc"


def test_a_declared_dimension_allocates_nothing():
    data = xlsx_from_sheet_xml(xlsx_rows({0: [xlsx_cell(0, 0, "Họ và tên")]},
                                         dimension="A1:XFD1048576"))
    assert read_workbook(data)[0].rows == [["Họ và tên"]]


def test_empty_styled_cells_far_away_do_not_count():
    sheet_xml = xlsx_rows({0: [xlsx_cell(0, 0, "Họ và tên")]}).replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" s="3"/></row></sheetData>')
    assert read_workbook(xlsx_from_sheet_xml(sheet_xml))[0].rows == [["Họ và tên"]]


def test_an_xlsx_with_too_many_cells_even_sparse_is_refused():
    # Every row reaching column 256: 100,000 rows × 256 is more than MAX_CELLS.
    walk = extent._Walk("DS")
    with pytest.raises(extent.TooFar) as e:
        for r in range(0, 30_000):  # the walk stops as soon as it holds more than MAX_CELLS
            walk.value(r, 200)
    assert e.value.kind == "big" and "quá lớn" in e.value.message and r == 24_876


def _xls(cells):
    wb = xlwt.Workbook()
    ws = wb.add_sheet("DS")
    for (r, c), v in cells.items():
        ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xls_extent_from_its_records():
    data = _xls({(0, 0): "Họ và tên", (4, 3): 12.5, (9, 1): "x"})
    ext = extent.xls_extents(data)["DS"]
    assert (ext.last_row, ext.last_col, ext.row_widths) == (9, 3, 1 + 4 + 2)
    assert read_workbook(data)[0].rows[4][3] == 12.5


def test_a_far_xls_cell_is_refused_naming_it():
    data = _xls({(0, 0): "Họ và tên", (65_535, 255): 1})  # 16.7 million cells as a grid
    with pytest.raises(FileProblem) as e:
        read_workbook(data, "ds.xls")
    assert e.value.code == "too_far" and "IV65536" in e.value.message and "«DS»" in e.value.message


def test_spreadsheetml_index_and_merges_are_sparse():
    data = spreadsheetml([
        '<Row><Cell ss:MergeAcross="3"><Data ss:Type="String">DANH SÁCH</Data></Cell></Row>',
        '<Row ss:Index="5000"><Cell ss:Index="3"><Data ss:Type="Number">7</Data></Cell></Row>'])
    sheet = read_workbook(data)[0]
    assert len(sheet.rows) == 5000 and sheet.rows[4999] == [None, None, 7]
    assert sheet.rows[1] == [] and sheet.merged == [((0, 0), (0, 3))]


def test_spreadsheetml_cell_index_beyond_the_columns_is_refused():
    data = spreadsheetml(['<Row><Cell ss:Index="300"><Data ss:Type="String">x</Data></Cell></Row>'])
    with pytest.raises(FileProblem) as e:
        read_workbook(data)
    assert "ô KN1" in e.value.message


def test_html_rowspans_cover_their_columns_without_filling_them():
    data = html_table(['<tr><td rowspan="3">A</td><td>B</td></tr>', "<tr><td>C</td></tr>",
                       "<tr><td>D</td></tr>", "<tr><td>E</td><td>F</td></tr>"])
    sheet = read_workbook(data)[0]
    assert sheet.rows == [["A", "B"], [None, "C"], [None, "D"], ["E", "F"]]


@pytest.mark.parametrize("span", ['rowspan="100001"', 'colspan="257"', 'colspan="1e9"',
                                  'rowspan="99999999999999999999999"'])
def test_html_spans_beyond_the_limits_are_refused_or_ignored(span):
    data = html_table([f"<tr><td {span}>x</td></tr>"])
    try:
        sheet = read_workbook(data)[0]
    except FileProblem as e:
        assert e.code == "too_far" and "A1" in e.message
    else:
        assert sheet.rows == [["x"]]  # a span that is not a number is no span


def test_csv_too_wide_is_refused_naming_the_row():
    data = ("Họ và tên;" * 300 + "\n").encode()
    with pytest.raises(FileProblem) as e:
        read_workbook(data)
    assert e.value.code == "too_far" and "ô KO1" in e.value.message


def test_csv_nul_names_row_and_column():
    data = "Họ và tên;Ngày sinh;Ghi chú\nAn;1950;\nBình;1951;ab\x00c\n".encode()
    with pytest.raises(FileProblem) as e:
        read_workbook(data)
    assert e.value.code == "nul" and "Dòng 3, cột C" in e.value.message


def test_tsv_with_nul_too():
    data = "Họ và tên\tNgày sinh\nAn\x00\t1950\n".encode()
    with pytest.raises(FileProblem) as e:
        read_workbook(data)
    assert "Dòng 2, cột A" in e.value.message


def test_binary_garbage_is_still_unreadable():
    with pytest.raises(FileProblem) as e:
        read_workbook(bytes(range(256)) * 20)
    assert e.value.code == "unreadable"


def test_an_opendocument_file_is_refused_with_advice():
    buf = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    with pytest.raises(FileProblem) as e:
        read_workbook(buf.getvalue(), "ds.ods")
    assert e.value.code == "opendocument" and ".xlsx" in e.value.message


# --------------------------------------------------------------------------- preview warnings

def _list_xlsx(extra_rows=(), amount_formula=None, texts=None):
    rows = {0: [xlsx_cell(0, c, h) for c, h in enumerate(HEADER)]}
    for i, p in enumerate(person_rows(), 1):
        cells = [xlsx_cell(i, c, v) for c, v in enumerate(p)]
        if amount_formula and i == 2:
            cells[5] = xlsx_cell(i, 5, None, formula=amount_formula)
        if texts and i in texts:
            col, value = texts[i]
            cells[col] = xlsx_cell(i, col, value)
        rows[i] = cells
    return xlsx_from_sheet_xml(xlsx_rows(rows))


def test_a_formula_without_its_value_is_named_in_the_preview():
    parsed = imports.parse(_list_xlsx(amount_formula="1500000*1"), "ds.xlsx", "BTXH", "2024-05")
    found = [i for i in parsed.issues if i.code == "uncalculated_formula"]
    assert len(found) == 1
    i = found[0]
    assert i.row == 3 and i.column == "Mức trợ cấp" and i.severity == "error"
    assert "Ô F3: =1500000*1" in i.message and "lưu lại" in i.message


def test_a_formula_with_its_saved_value_reads_the_value():
    rows = {0: [xlsx_cell(0, 0, "x"), xlsx_cell(0, 1, 1500000, formula="1500000*1")]}
    sheet = read_workbook(xlsx_from_sheet_xml(xlsx_rows(rows)))[0]
    assert sheet.rows == [["x", 1500000]] and sheet.uncalculated == []


def test_a_formula_without_value_shows_on_the_upload_preview(client):
    login(client, "commune")
    r = upload(client, _list_xlsx(amount_formula="1500000*1"), "ds.xlsx", program="BTXH",
               month="2024-05")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Ô F3: =1500000*1" in html


@pytest.mark.parametrize("value,warned", [
    ("=HYPERLINK(\"http://x\",\"An\")", True), ("+Nguyễn Văn An", True), ("@SUM(A1)", True),
    ("-Nguyễn Văn An", True), ("Nguyễn <script>alert(1)</script>", True), ("<b>An</b>", True),
    ("- Đã chuyển đi", False), ("Nguyễn Văn An", False), ("-1", False), ("a < b > c", False),
    ("Con <5 tuổi", False)])
def test_suspicious_text_is_warned_in_the_preview(value, warned):
    assert imports.suspicious_text(value) is warned
    parsed = imports.parse(_list_xlsx(texts={1: (6, value)}), "ds.xlsx", "BTXH", "2024-05")
    found = [i for i in parsed.issues if i.code == "suspicious_text"]
    assert bool(found) is warned
    if warned:
        assert found[0].row == 2 and found[0].column == "Ghi chú" and value[:20] in found[0].message


def test_a_phone_number_with_a_plus_is_not_suspicious():
    assert not imports.suspicious_text(84912345678)
    assert "phone" not in imports.TEXT_FIELDS


def test_issue_codes_of_this_file_are_in_the_readme():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for code in ("uncalculated_formula", "suspicious_text"):
        assert re.search(rf"\| `{code}` \|", readme)


def test_cells_without_their_place_are_walked_quickly():
    rows = "".join("<row>" + "".join(f"<c><v>{c}</v></c>" for c in range(12)) + "</row>"
                   for _ in range(3000))
    part = (f'<?xml version="1.0"?><worksheet {hostile.SHEET_NS.decode()}><sheetData>{rows}'
            "</sheetData></worksheet>").encode()
    quick = extent._quick_xlsx_extent(io.BytesIO(part), "DS")
    assert (quick.last_row, quick.last_col) == (2999, 11)
    sheet = read_workbook(xlsx_from_sheet_xml(part))[0]
    assert len(sheet.rows) == 3000 and sheet.rows[-1][-1] == 11


@pytest.mark.parametrize("ref", ["ZZZZZZZZZZ20", "A99999999999999999999999", "A0", "XFE1", "1A", "A1048577"])
def test_a_reference_that_is_no_cell_of_excel_is_refused_naming_it(ref):
    part = xlsx_rows({0: [xlsx_cell(0, 0, "Họ và tên")]}).replace(
        b"</sheetData>", f'<row r="2"><c r="{ref}"><v>1</v></c></row></sheetData>'.encode())
    with pytest.raises(FileProblem) as e:
        read_workbook_unguarded(xlsx_from_sheet_xml(part))
    assert e.value.code == "too_far" and ref[:20] in e.value.message


@pytest.mark.parametrize("cells", [
    {0: [xlsx_cell(0, 0, "Họ và tên"), xlsx_cell(0, 5, 1)], 7: [xlsx_cell(7, 2, "x")]},
    {0: [xlsx_cell(0, 0, "a")], 3: [xlsx_cell(3, 1, None, formula="B1*2"), xlsx_cell(3, 2, 5, formula="1+4")]},
    {0: [xlsx_cell(0, 0, None, formula="SUM(A2:A9)")]},
])
def test_the_quick_look_and_the_exact_walk_agree(cells):
    import zipfile
    part = xlsx_rows(cells)
    quick = extent._quick_xlsx_extent(io.BytesIO(part), "DS")
    exact = extent._SheetXml("DS")
    extent._walk_xml(io.BytesIO(part), exact)
    exact = exact.walk.finish()
    assert quick is not None and quick.uncalculated == exact.uncalculated
    # The quick look counts every cell, valued or not: never less than the exact walk.
    assert quick.last_row >= exact.last_row and quick.last_col >= exact.last_col
    # A cell without its reference: the tags are walked, unless a formula's place is needed,
    # which sends the sheet to the exact walk; both find the same.
    no_ref = part.replace(b'<c r="A1"', b"<c", 1)
    assert (extent._quick_xlsx_extent(io.BytesIO(no_ref), "DS") is None) == (b"<f>" in part)
    assert extent.xlsx_extents(xlsx_from_sheet_xml(no_ref))["DS"].uncalculated == exact.uncalculated


def _patch_dimensions(data: bytes, rows: int, cols: int) -> bytes:
    """An xls whose DIMENSIONS record declares ``rows`` × ``cols`` (a forged header)."""
    import struct

    import olefile
    stream = olefile.OleFileIO(data).openstream("Workbook").read()
    pos = 0
    while pos + 4 <= len(stream):
        rtype, length = struct.unpack_from("<HH", stream, pos)
        if rtype == 0x0200:
            record = stream[pos:pos + 4 + length]
            break
        pos += 4 + length
    out = bytearray(data)
    at = data.find(record)
    struct.pack_into("<IIHH", out, at + 4, 0, rows, 0, cols)
    return bytes(out)


@pytest.mark.parametrize("rows,cols,refused", [(4_294_967_295, 65_535, True), (100_000_000, 256, True),
                                               (65_536, 256, False)])
def test_a_forged_xls_size_is_refused_before_calamine(rows, cols, refused):
    data = _patch_dimensions(_xls({(0, 0): "Họ và tên", (1, 1): 2}), rows, cols)
    if refused:
        with pytest.raises(FileProblem) as e:
            read_workbook_unguarded(data)  # in-process: calamine would abort the process
        assert e.value.code == "too_far" and "97–2003" in e.value.message
    else:
        assert read_workbook_unguarded(data)[0].rows[1][1] == 2


def test_a_cell_longer_than_excel_allows_is_refused_naming_it():
    part = xlsx_rows({0: [xlsx_cell(0, 0, "Họ và tên")], 19: [xlsx_cell(19, 1, "A" * 40_000)]})
    with pytest.raises(FileProblem) as e:
        read_workbook(xlsx_from_sheet_xml(part))
    assert "ô B20 có 40.000 ký tự" in e.value.message
    with pytest.raises(FileProblem) as e:
        read_workbook(("Họ và tên;Ghi chú\nAn;" + "x" * 40_000 + "\n").encode())
    assert "Ô B2 có 40.000 ký tự" in e.value.message


def test_a_spreadsheetml_formula_without_its_value_is_named():
    data = spreadsheetml([
        "<Row>" + "".join(f'<Cell><Data ss:Type="String">{h}</Data></Cell>' for h in HEADER) + "</Row>",
        "<Row>" + "".join(f'<Cell><Data ss:Type="String">{v}</Data></Cell>' for v in person_rows(1)[0][:5])
        + '<Cell ss:Formula="=1500000*1"/><Cell><Data ss:Type="String"></Data></Cell></Row>'])
    parsed = imports.parse(data, "ds.xls", "BTXH", "2024-05")
    found = [i for i in parsed.issues if i.code == "uncalculated_formula"]
    assert len(found) == 1 and "Ô F2: =1500000*1" in found[0].message


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_its_byte_order_mark_reads(encoding):
    sheet = read_workbook("Họ và tên\tNgày sinh\nNguyễn Văn An\t1950\n".encode(encoding))[0]
    assert sheet.rows[1] == ["Nguyễn Văn An", "1950"]


def test_a_zip_bomb_says_what_it_is():
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("docProps/junk.bin", b"\0" * (200 * 1024 * 1024))
    with pytest.raises(FileProblem) as e:
        read_workbook(buf.getvalue())
    assert e.value.code == "too_large" and "giải nén" in e.value.message
