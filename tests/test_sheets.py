"""Reading commune files: sniffing, cell values, legacy text, header detection, row kinds.

Every fixture file is made by ``tests/filegen.py`` (invented people); each test says which
real-world shape it stands for (design/domain.md §9).
"""
import datetime as dt
import io
import random
import unicodedata

import openpyxl
import pytest

from tests import filegen
from portal.sheets.header import (
    HeaderMap,
    data_rows,
    find_header,
    find_lists,
    find_month,
    is_footer_or_total,
    iter_rows,
    read_lists,
    title_text,
)
from portal.sheets.reader import FileProblem, Sheet, read_workbook, sniff

ALL_SHAPES = sorted(filegen.SHAPES)
# The name each shape is uploaded under: several lie about the format.
FILENAMES = {
    "xlsx_as_xls": "danh_sach.xls",
    "xlsx_as_csv": "danh_sach.csv",
    "csv_as_xls": "danh_sach.xls",
    "csv_semicolon_bom": "danh_sach.csv",
    "csv_comma": "danh_sach.csv",
    "csv_cp1258": "danh_sach.csv",
    "html_xls": "danh_sach.xls",
    "xls": "danh_sach.xls",
}


def build(shape, n=40, seed=11, program="BTXH", problems=True, **kw):
    """People, file bytes and layout info for one shape."""
    people = filegen.make_people(n, seed, program=program)
    if problems:
        filegen.plant_problems(people)
    info = {}
    data = filegen.write_list(people, shape, program=program, info=info, **kw)
    return people, data, info


def read(data, shape=None):
    return read_workbook(data, FILENAMES.get(shape, "danh_sach.xlsx"))


def rows_by_kind(sheet, header):
    out = {}
    for r in iter_rows(sheet, header):
        out.setdefault(r.kind, []).append(r)
    return out


# --------------------------------------------------------------------------- every shape

@pytest.fixture(scope="module", params=ALL_SHAPES)
def shape_case(request):
    shape = request.param
    people, data, info = build(shape)
    sheets = read(data, shape)
    return shape, people, info, sheets, find_lists(sheets)


def test_every_person_row_found_at_its_row(shape_case):
    shape, people, info, sheets, lists = shape_case
    found = {(s.name, r.excel_row) for s, h in lists for r in iter_rows(s, h)
             if r.kind == "person"}
    expected = {(p["sheet"], p["row"]) for p in people}
    assert found == expected


def test_every_cell_value_read_back(shape_case):
    shape, people, info, sheets, lists = shape_case
    got = {(s.name, r.excel_row): r.cells for s, h in lists for r in iter_rows(s, h)}
    mismatches = [(p["row"], f, got[(p["sheet"], p["row"])].get(f), want)
                  for p in people for f, want in p["cells"].items()
                  if got[(p["sheet"], p["row"])].get(f) != want]
    assert mismatches == []


def test_header_rows_and_first_data_row(shape_case):
    shape, people, info, sheets, lists = shape_case
    by_name = {s.name: h for s, h in lists}
    for name, layout in info["sheets"].items():
        h = by_name[name]
        assert tuple(r + 1 for r in h.header_rows) == layout["header_rows"]
        assert h.first_data_row + 1 == layout["first_data_row"]


def test_totals_footer_and_groups_are_not_people(shape_case):
    shape, people, info, sheets, lists = shape_case
    for s, h in lists:
        layout = info["sheets"][s.name]
        kinds = {r.excel_row: r for r in iter_rows(s, h)}
        if layout.get("total_row"):
            assert kinds[layout["total_row"]].kind == "total"
        for row in layout.get("footer_rows", []):
            assert kinds[row].kind == "footer"
        for row in layout.get("subtotal_rows", []):
            assert kinds[row].kind == "total"
        for row, label in layout.get("group_rows", {}).items():
            assert (kinds[row].kind, kinds[row].group_label) == ("group", label)


def test_every_string_is_nfc(shape_case):
    shape, people, info, sheets, lists = shape_case
    for s in sheets:
        for row in s.rows:
            for v in row:
                if isinstance(v, str):
                    assert unicodedata.is_normalized("NFC", v), v
                    assert v == v.strip() and v != ""


MONTH_SHAPES = ["xlsx_two_row", "xlsx_one_row", "xlsx_grouped", "xlsx_tcvn3", "xlsx_vni",
                "xlsx_nfd", "csv_semicolon_bom", "csv_cp1258", "xls", "html_xls",
                "xlsx_multi_sheet"]


@pytest.mark.parametrize("shape", MONTH_SHAPES)
def test_month_found_in_title(shape):
    _, data, _ = build(shape, n=14, month="2024-05")
    lists = find_lists(read(data, shape))
    assert lists
    assert {find_month(s, h) for s, h in lists} == {"2024-05"}


def test_no_month_without_title():
    _, data, _ = build("csv_comma", n=14)
    [(s, h)] = find_lists(read(data))
    assert title_text(s, h) == ""
    assert find_month(s, h) is None


def test_month_from_sheet_name_when_title_has_none():
    sheet = Sheet("BTXH T6-2024", [["STT", "Họ và tên", "Ngày sinh"], [1, "Lê Văn Tâm", "1950"]])
    assert find_month(sheet, find_header(sheet)) == "2024-06"


# --------------------------------------------------------------------------- sniffing

@pytest.mark.parametrize("shape, kind", [
    ("xlsx_one_row", "xlsx"), ("xlsx_as_xls", "xlsx"), ("xlsx_as_csv", "xlsx"),
    ("xls", "xls"), ("html_xls", "html"), ("csv_semicolon_bom", "text"),
    ("csv_as_xls", "text"), ("csv_comma", "text"), ("csv_cp1258", "text"),
])
def test_sniff_by_content(shape, kind):
    _, data, _ = build(shape, n=3, problems=False)
    assert sniff(data) == kind


@pytest.mark.parametrize("head, kind", [
    (b"\xef\xbb\xbf  <table>", "html"), (b"\n\t<?xml version='1.0'?>", "html"),
    (b"STT;Ho ten", "text"), (b"", "text"), ("<html>".encode("utf-16"), "html"),
])
def test_sniff_small_cases(head, kind):
    assert sniff(head) == kind


def test_extension_lies_read_the_same():
    people, data, _ = build("xlsx_one_row", n=14)
    for name in ("list.xls", "list.csv", None, "list.xlsx"):
        [(s, h)] = find_lists(read_workbook(data, name))
        assert [r for r, _ in data_rows(s, h)] == [p["row"] for p in people]


# --------------------------------------------------------------------------- cell values

def test_planted_problem_cells_keep_their_raw_shape():
    people, data, _ = build("xlsx_two_row")
    [(s, h)] = find_lists(read(data))
    cells = {r.excel_row: r.cells for r in iter_rows(s, h)}

    def c(i, f):
        return cells[people[i]["row"]][f]

    def birth(i):
        f = "birth_male" if people[i]["sex"] == "M" else "birth_female"
        return c(i, f)

    assert c(1, "national_id") == int(people[1]["national_id"])  # lost its leading zero
    assert isinstance(c(1, "national_id"), int) and len(str(c(1, "national_id"))) == 11
    assert c(2, "national_id") == f"{int(people[2]['national_id']):.5E}"
    assert "E+" in c(2, "national_id")
    assert c(3, "national_id").count(" ") == 2
    assert c(4, "national_id") == c(5, "national_id")
    assert c(6, "note") == "Đã chết ngày 02/04/2024"
    assert birth(7) == "00/00/1945"
    assert isinstance(birth(8), int) and birth(8) > 2100  # an Excel serial
    assert birth(9) == people[9]["birth_year"]  # a bare year
    assert birth(10) == people[10]["birth_date"].strftime("%d/%m/%Y")
    assert isinstance(birth(0), dt.date) or people[0]["birth_date"] is None
    assert c(11, "national_id") is None


def test_csv_cells_stay_text():
    people, data, _ = build("csv_semicolon_bom")
    [(s, h)] = find_lists(read(data))
    cells = {r.excel_row: r.cells for r in iter_rows(s, h)}
    first = cells[people[0]["row"]]
    assert all(v is None or isinstance(v, str) for v in first.values())
    assert first["amount"] == f"{people[0]['amount']:,}".replace(",", ".")
    assert cells[people[1]["row"]]["national_id"] == str(int(people[1]["national_id"]))


def _xlsx(rows_at, fonts=None, title="Sheet1"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for (r, c), v in rows_at.items():
        ws.cell(row=r, column=c, value=v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_cell_types_and_leading_empty_rows_kept():
    data = _xlsx({
        (4, 3): "STT", (4, 4): "Họ và tên", (4, 5): "Ngày sinh", (4, 6): "Hệ số",
        (4, 7): "Ghi chú",
        (5, 3): 1, (5, 4): "  Lê\u00a0 Văn  Tâm ", (5, 5): dt.datetime(1950, 3, 2),
        (5, 6): 1.5, (5, 7): "",
        (6, 3): 2.0, (6, 4): "Võ Thị Hoa", (6, 5): dt.datetime(1960, 1, 1, 10, 30), (6, 6): 2,
    })
    [sheet] = read_workbook(data)
    assert sheet.rows[0] == [] or all(v is None for v in sheet.rows[0])
    assert sheet.rows[4][2:7] == [1, "Lê Văn Tâm", dt.date(1950, 3, 2), 1.5, None]
    assert type(sheet.rows[4][2]) is int and type(sheet.rows[4][5]) is float
    assert sheet.rows[5][2:6] == [2, "Võ Thị Hoa", dt.datetime(1960, 1, 1, 10, 30), 2]
    h = find_header(sheet)
    assert h.header_rows == (3,) and h.columns["name"] == 3 and h.first_data_row == 4
    assert [r for r, _ in data_rows(sheet, h)] == [5, 6]


def test_merged_header_value_only_in_top_left():
    _, data, info = build("xlsx_two_row", n=14)
    [(s, h)] = find_lists(read(data))
    top = h.header_rows[0]
    assert s.rows[top][3] is None  # the merged "Ngày, tháng, năm sinh" spans C:D
    assert h.labels == info["labels"]
    assert h.labels["birth_male"] == "Ngày, tháng, năm sinh - Nam"
    assert h.labels["birth_female"] == "Ngày, tháng, năm sinh - Nữ"
    assert h.labels["account_number"] == "Tài khoản - Số TK"
    assert h.labels["account_holder"] == "Tài khoản - Chủ TK"
    assert h.numbering_row == h.header_rows[-1] + 1


def test_one_row_header_short_synonyms():
    _, data, info = build("xlsx_one_row", n=14, program="NCC")
    [(s, h)] = find_lists(read(data))
    assert h.labels == info["labels"]
    assert set(h.columns) >= {"seq", "name", "birth", "sex", "national_id", "village",
                              "amount", "account_number", "bank", "account_holder", "note"}
    assert h.numbering_row is not None


def test_names_in_capitals_are_kept_as_typed():
    people, data, _ = build("xlsx_one_row", n=14, program="NCC")
    [(s, h)] = find_lists(read(data))
    names = {r.excel_row: r.cells["name"] for r in iter_rows(s, h) if r.kind == "person"}
    assert names[people[2]["row"]] == people[2]["name"].upper()
    assert names[people[0]["row"]] == people[0]["name"]


# --------------------------------------------------------------------------- legacy text

@pytest.mark.parametrize("shape, encoding", [("xlsx_tcvn3", "tcvn3"), ("xlsx_vni", "vni")])
def test_legacy_workbook_decoded(shape, encoding):
    people, data, _ = build(shape)
    [sheet] = read(data)
    assert sheet.encoding == encoding
    [(s, h)] = find_lists([sheet])
    names = [r.cells["name"] for r in iter_rows(s, h) if r.kind == "person"]
    assert names == [p["name"] for p in people]
    title = title_text(s, h)
    assert "UBND XÃ BÌNH CHÁNH" in title
    assert "DANH SÁCH CHI TRẢ TRỢ CẤP XÃ HỘI THÁNG 5 NĂM 2024" in title


def test_tcvn3_fonts_sampled():
    _, data, _ = build("xlsx_tcvn3", n=14)
    [sheet] = read(data)
    assert sheet.fonts[(0, 0)] == ".VnTimeH"
    assert ".VnTime" in set(sheet.fonts.values())


def test_unicode_workbook_reads_no_fonts():
    _, data, _ = build("xlsx_two_row", n=14)
    [sheet] = read(data)
    assert sheet.fonts is None and sheet.encoding is None


def test_unicode_cells_in_a_legacy_sheet_left_alone():
    from portal.vn.text import encode_legacy
    rows = {(1, 1): "Danh sách đối tượng tháng 5/2024",
            (2, 1): "STT", (2, 2): encode_legacy("Họ và tên", "tcvn3"),
            (2, 3): encode_legacy("Ngày sinh", "tcvn3")}
    names = ["Nguyễn Thị Hằng", "Trương Văn Lực", "Đỗ Thị Phượng", "Huỳnh Ngọc Dung"]
    for i, n in enumerate(names):
        rows[(3 + i, 1)] = i + 1
        rows[(3 + i, 2)] = encode_legacy(n, "tcvn3")
        rows[(3 + i, 3)] = "01/01/1950"
    [sheet] = read_workbook(_xlsx(rows))
    assert sheet.encoding == "tcvn3"
    assert sheet.rows[0][0] == "Danh sách đối tượng tháng 5/2024"
    [(s, h)] = find_lists([sheet])
    assert [c[1] for _, c in data_rows(s, h)] == names


def test_stray_symbol_does_not_make_a_unicode_sheet_legacy():
    people, data, _ = build("xlsx_two_row", n=14)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active["A3"] = "Mẫu số 01"
    wb.active["B3"] = "©Ng«n § 2 ¸ch"
    buf = io.BytesIO()
    wb.save(buf)
    [sheet] = read_workbook(buf.getvalue())
    assert sheet.encoding is None
    [(s, h)] = find_lists([sheet])
    assert [r.cells["name"] for r in iter_rows(s, h) if r.kind == "person"] == \
        [p["name"] for p in people]


def test_nfd_text_normalised():
    people, data, _ = build("xlsx_nfd", n=14)
    raw = openpyxl.load_workbook(io.BytesIO(data)).active
    assert any(isinstance(c.value, str) and not unicodedata.is_normalized("NFC", c.value)
               for row in raw.iter_rows() for c in row)
    [(s, h)] = find_lists(read(data))
    assert [r.cells["name"] for r in iter_rows(s, h) if r.kind == "person"] == \
        [p["name"] for p in people]


def test_legacy_csv_decoded():
    from portal.vn.text import encode_legacy
    people, data, _ = build("csv_comma", n=14)
    legacy = encode_legacy(data.decode("utf-8"), "tcvn3").encode("latin-1")
    [sheet] = read_workbook(legacy)
    assert sheet.encoding == "tcvn3"
    [(s, h)] = find_lists([sheet])
    assert [r.cells["village"] for r in iter_rows(s, h) if r.kind == "person"] == \
        [p["cells"]["village"] for p in people]


# --------------------------------------------------------------------------- CSV

def test_semicolon_csv_with_commas_inside_cells():
    text = ("STT;Họ và tên;Ngày sinh;Địa chỉ;Mức trợ cấp\r\n"
            "1;Lê Văn Tâm;02/03/1950;Thôn An Thành, xã Bình An;540.000\r\n"
            "2;Võ Thị Hoa;1948;Thôn Tân Hy, xã Bình An;1.080.000\r\n")
    [s] = read_workbook(text.encode("utf-8"))
    assert s.rows[1] == ["1", "Lê Văn Tâm", "02/03/1950", "Thôn An Thành, xã Bình An", "540.000"]


def test_comma_csv_with_quoted_cells():
    people, data, _ = build("csv_comma", n=14)
    assert b'"' in data  # addresses with commas are quoted
    [(s, h)] = find_lists(read(data))
    assert h.columns["village"] == 5
    assert len(list(data_rows(s, h))) == 14


def test_tab_separated_utf16_unicode_text():
    text = "STT\tHọ và tên\tNăm sinh\tCCCD\r\n1\tLê Văn Tâm\t1950\t051050000001\r\n"
    [s] = read_workbook(text.encode("utf-16"))
    assert s.rows[1] == ["1", "Lê Văn Tâm", "1950", "051050000001"]
    assert find_header(s).columns == {"seq": 0, "name": 1, "birth": 2, "national_id": 3}


def test_csv_multiline_quoted_cell_keeps_line_numbers_of_records():
    text = ('STT;Họ và tên;Ngày sinh\r\n1;"Lê Văn\nTâm";1950\r\n2;Võ Thị Hoa;1948\r\n')
    [s] = read_workbook(text.encode("utf-8"))
    # Records, not physical lines: the quoted line break stays inside the cell.
    assert s.rows[1][1] == "Lê Văn Tâm" and s.rows[2][1] == "Võ Thị Hoa"


# --------------------------------------------------------------------------- HTML

def test_html_table_with_rowspan_and_colspan_header():
    page = """<html><head><meta charset="utf-8"><style>td{}</style></head><body><table>
    <tr><td colspan=5>DANH SÁCH THÁNG 5/2024</td></tr>
    <tr><th rowspan=2>STT</th><th rowspan=2>Họ và tên</th><th colspan=2>Ngày sinh</th>
        <th rowspan=2>Số CCCD</th></tr>
    <tr><th>Nam</th><th>Nữ</th></tr>
    <tr><td>1</td><td>Lê Văn&nbsp;Tâm</td><td>02/03/1950</td><td></td><td>051050000001</td></tr>
    <tr><td>2</td><td>Võ Thị Hoa</td><td></td><td>1948</td><td>051148000002</td></tr>
    <tr><td colspan=2>Tổng cộng</td></tr>
    </table></body></html>"""
    [s] = read_workbook(page.encode("utf-8"), "ds.xls")
    h = find_header(s)
    assert h.header_rows == (1, 2)
    assert h.columns == {"seq": 0, "name": 1, "birth_male": 2, "birth_female": 3,
                         "national_id": 4}
    assert [(r.kind, r.excel_row) for r in iter_rows(s, h)] == [
        ("person", 4), ("person", 5), ("total", 6)]
    assert s.rows[3][1] == "Lê Văn Tâm"
    assert find_month(s, h) == "2024-05"


def test_xml_spreadsheet_2003():
    xml = """<?xml version="1.0" encoding="utf-8"?>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">
 <Worksheet ss:Name="BTXH"><Table>
  <Row><Cell><Data ss:Type="String">STT</Data></Cell><Cell><Data ss:Type="String">Họ và tên</Data></Cell>
   <Cell><Data ss:Type="String">Ngày sinh</Data></Cell><Cell ss:Index="5"><Data ss:Type="String">Ghi chú</Data></Cell></Row>
  <Row><Cell><Data ss:Type="Number">1</Data></Cell><Cell><Data ss:Type="String">Lê Văn Tâm</Data></Cell>
   <Cell><Data ss:Type="DateTime">1950-03-02T00:00:00.000</Data></Cell></Row>
 </Table></Worksheet></Workbook>"""
    [s] = read_workbook(xml.encode("utf-8"))
    assert s.name == "BTXH"
    assert s.rows[0] == ["STT", "Họ và tên", "Ngày sinh", None, "Ghi chú"]
    assert s.rows[1] == [1, "Lê Văn Tâm", dt.date(1950, 3, 2)]


# --------------------------------------------------------------------------- several sheets

def test_several_sheets_one_list_each_and_hidden_copy_skipped():
    people, data, info = build("xlsx_multi_sheet")
    sheets = read(data)
    lists = find_lists(sheets)
    assert [s.name for s, _ in lists] == list(info["sheets"])
    assert "Hướng dẫn" not in {s.name for s, _ in lists}
    hidden = [s for s in sheets if s.hidden]
    assert [s.name for s in hidden] == [info["hidden_sheet"]]
    assert len(find_lists(sheets, include_hidden=True)) == len(lists) + 1
    for s, h in lists:
        villages = {r.cells["village"] for r in iter_rows(s, h) if r.kind == "person"}
        assert len(villages) == 1


def test_group_rows_report_their_village():
    people, data, _ = build("xlsx_grouped")
    [(s, h)] = find_lists(read(data))
    current, seen = None, {}
    for r in iter_rows(s, h):
        if r.kind == "group":
            current = r.group_label
        elif r.kind == "person":
            seen[r.excel_row] = current
    assert seen == {p["row"]: p["group"] for p in people}
    assert all(p["group"] == p["village"] for p in people)


# --------------------------------------------------------------------------- header words

def header_of(*cells):
    sheet = Sheet("t", [list(cells), [1, "Lê Văn Tâm"] + [None] * (len(cells) - 2)])
    return find_header(sheet)


@pytest.mark.parametrize("cells, expected", [
    (["TT", "HỌ TÊN ĐỐI TƯỢNG", "Ngày sinh", "CCCD/CMND", "Thôn (tổ dân phố)",
      "Loại đối tượng", "Mức TC", "Số TK", "Nơi mở TK", "Tên chủ TK",
      "Quan hệ với đối tượng", "Mã hộ", "Hình thức nhận", "SĐT", "Ghi chú"],
     ["seq", "name", "birth", "national_id", "village", "category", "amount",
      "account_number", "bank", "account_holder", "holder_relation", "household",
      "payment_method", "phone", "note"]),
    (["STT", "Họ và\ntên", "Ngày, tháng,\nnăm sinh", "Số ĐDCN", "Nơi ở", "Diện hưởng",
      "Hệ số", "Số tiền hàng tháng", "Số tài khoản", "Ngân hàng", "Chủ tài khoản"],
     ["seq", "name", "birth", "national_id", "village", "category", "coefficient",
      "amount", "account_number", "bank", "account_holder"]),
    (["Số TT", "Tên đối tượng", "Năm sinh", "Nam/Nữ", "Số định danh", "Thôn, tổ",
      "Nhóm đối tượng", "Thành tiền", "STK", "Tên ngân hàng", "Chủ hộ", "Số điện thoại"],
     ["seq", "name", "birth", "sex", "national_id", "village", "category", "amount",
      "account_number", "bank", "household", "phone"]),
    (["STT", "Họ tên", "Ngày sinh", "Giới tính", "CMND", "Địa chỉ", "Diện", "Mức hưởng",
      "Hình thức chi trả", "Quan hệ"],
     ["seq", "name", "birth", "sex", "national_id", "village", "category", "amount",
      "payment_method", "holder_relation"]),
])
def test_header_synonyms(cells, expected):
    h = header_of(*cells)
    assert h is not None
    assert [f for f, _ in sorted(h.columns.items(), key=lambda kv: kv[1])] == expected


def test_header_most_specific_wins_and_field_used_once():
    h = header_of("STT", "Họ và tên", "Ngày sinh", "Số CCCD", "Ngày cấp CCCD",
                  "Nơi cấp", "Họ và tên chủ hộ", "Số điện thoại", "Đối tượng",
                  "Mã đối tượng", "Ghi chú", "Ghi chú")
    assert h.columns["name"] == 1 and h.columns["national_id"] == 3
    assert h.columns["household"] == 6 and h.columns["phone"] == 7
    assert h.columns["category"] == 8 and h.columns["note"] == 10
    assert h.columns["id_issue_date"] == 4 and h.columns["beneficiary_code"] == 9
    assert list(h.columns.values()).count(11) == 0


def test_header_needs_name_and_birth_or_id():
    assert header_of("STT", "Họ và tên", "Thôn", "Số tiền") is None
    assert header_of("STT", "Thôn", "Ngày sinh", "Số CCCD") is None
    assert header_of("STT", "Họ và tên", "Số CCCD").columns["national_id"] == 2


def test_numbering_row_variants_skipped():
    for numbering in (["(1)", "(2)", "(3)", "(4)=(2)x(3)"], [1, 2, 3, 4], ["A", "B", "C", "D"]):
        sheet = Sheet("t", [["STT", "Họ và tên", "Ngày sinh", "Số tiền"], numbering,
                            [1, "Lê Văn Tâm", "1950", 360000]])
        h = find_header(sheet)
        assert (h.numbering_row, h.first_data_row) == (1, 2)
        assert [r for r, _ in data_rows(sheet, h)] == [3]


def test_title_row_above_is_not_a_parent_header():
    sheet = Sheet("t", [["DANH SÁCH ĐỐI TƯỢNG HƯỞNG TRỢ CẤP THÁNG 5/2024"],
                        ["STT", "Họ và tên", "Ngày sinh", "Ghi chú"],
                        [1, "Lê Văn Tâm", "1950", None]])
    h = find_header(sheet)
    assert h.header_rows == (1,) and h.labels["name"] == "Họ và tên"


def test_two_row_header_without_merge_information():
    # A CSV export of a two-row header: the parent sits over its first sub-column only.
    sheet = Sheet(None, [
        ["STT", "Họ và tên", "Ngày sinh", None, "Người nhận thay", None, "Tài khoản", None],
        [None, None, "Nam", "Nữ", "Họ và tên", "Quan hệ", "Số", "Ngân hàng"],
        ["1", "Lê Văn Tâm", "1950", None, "Lê Văn Hòa", "Con", "123456789", "BIDV"],
    ])
    h = find_header(sheet)
    assert h.header_rows == (0, 1)
    assert h.columns == {"seq": 0, "name": 1, "birth_male": 2, "birth_female": 3,
                         "proxy_name": 4, "holder_relation": 5, "account_number": 6,
                         "bank": 7}
    assert h.labels["holder_relation"] == "Người nhận thay - Quan hệ"


# --------------------------------------------------------------------------- row kinds

H = HeaderMap(header_rows=(0,), first_data_row=1,
              columns={"seq": 0, "name": 1, "birth": 2, "national_id": 3, "amount": 4,
                       "note": 5},
              labels={})


@pytest.mark.parametrize("row, expected", [
    (["Tổng cộng", None, None, None, 1080000, None], True),
    ([None, "Cộng", None, None, 1080000, None], True),
    (["TỔNG CỘNG: 3 người", None, None, None, None, None], True),
    ([None, "Cộng thôn An Thành", None, None, 720000, None], True),
    ([None, "Người lập biểu", None, None, "CHỦ TỊCH", None], True),
    ([None, None, None, None, "Bình An, ngày 25 tháng 5 năm 2024", None], True),
    ([None, "(Ký, ghi rõ họ tên)", None, None, None, None], True),
    ([None, "TM. UBND XÃ", None, None, None, None], True),
    ([3, "Tống Văn Cộng", "1950", "051050000001", 360000, None], False),
    ([4, "Lê Thị Tổng", None, "051150000002", 360000,
      "Đã chết ngày 2 tháng 4 năm 2024"], False),
    ([5, "Võ Văn Kế", "1950", None, 360000, "Kế toán xác nhận"], False),
    ([6, "Võ Văn Kế", None, None, 360000, "Cán bộ xác nhận ngày 2 tháng 5 năm 2024"], False),
    ([None, "NGUYỄN VĂN CÔNG", None, None, 360000, None], False),
])
def test_is_footer_or_total(row, expected):
    assert is_footer_or_total(row, H) is expected


def test_iter_rows_kinds_and_everything_after_total_is_footer():
    sheet = Sheet("t", [
        ["STT", "Họ và tên", "Ngày sinh", "Số CCCD", "Số tiền", "Ghi chú"],
        ["I", "Thôn Phước Hòa", None, None, None, None],
        [1, "Lê Văn Tâm", "1950", "051050000001", 360000, None],
        [None, None, None, None, None, None],
        ["II. Thôn An Thành", None, None, None, None, None],
        [2, "Võ Thị Hoa", None, "051148000002", 360000, "Đã chết ngày 02/04/2024"],
        [3, "Trần Văn Bình", None, None, None, None],
        [None, "Cộng thôn An Thành", None, None, 720000, None],
        ["Tổng cộng", None, None, None, 1080000, None],
        [None, "Lê Văn Tâm", "1950", "051050000001", None, None],
        [None, "Người lập biểu", None, None, None, None],
    ])
    h = find_header(sheet)
    got = [(r.kind, r.excel_row, r.group_label) for r in iter_rows(sheet, h)]
    assert got == [
        ("group", 2, "Thôn Phước Hòa"), ("person", 3, None), ("blank", 4, None),
        ("group", 5, "Thôn An Thành"), ("person", 6, None), ("person", 7, None),
        ("total", 8, None), ("total", 9, None), ("footer", 10, None), ("footer", 11, None),
    ]


def test_row_with_id_but_no_name_is_still_a_person():
    sheet = Sheet("t", [["STT", "Họ và tên", "Ngày sinh", "Số CCCD"],
                        [1, None, "1950", "051050000001"],
                        [None, "Họ và tên", "Ngày sinh", "Số CCCD"]])
    h = find_header(sheet)
    assert [r.kind for r in iter_rows(sheet, h)] == ["person", "other"]


# --------------------------------------------------------------------------- refusals

def garbage(n=5000, seed=3):
    return random.Random(seed).randbytes(n)


@pytest.mark.parametrize("data", [
    garbage(), b"PK\x03\x04" + garbage(), b"\xd0\xcf\x11\xe0" + garbage(),
    b"\x00\x01\x02\x03" * 100,
], ids=["random", "zip-like", "ole-like", "binary"])
def test_garbage_is_unreadable(data):
    with pytest.raises(FileProblem) as exc:
        read_workbook(data, "ds.xlsx")
    assert exc.value.code == "unreadable"
    assert "Không đọc được" in exc.value.message


@pytest.mark.parametrize("data", [b"", b"   \r\n", b"\xef\xbb\xbf", b";;;\r\n;;\r\n"])
def test_empty_files(data):
    with pytest.raises(FileProblem) as exc:
        read_workbook(data, "ds.csv")
    assert exc.value.code == "empty"


def test_empty_workbook():
    buf = io.BytesIO()
    openpyxl.Workbook().save(buf)
    with pytest.raises(FileProblem) as exc:
        read_lists(buf.getvalue())
    assert exc.value.code == "empty"


def test_workbook_without_header():
    data = _xlsx({(1, 1): "Báo cáo tiến độ", (2, 1): "Xã Bình An", (2, 2): 42})
    with pytest.raises(FileProblem) as exc:
        read_lists(data)
    assert exc.value.code == "no_header"
    assert "tiêu đề" in exc.value.message


def test_table_that_is_not_a_beneficiary_list():
    data = _xlsx({(1, 1): "STT", (1, 2): "Thôn", (1, 3): "Số tiền", (1, 4): "Số tài khoản",
                  (1, 5): "Ngân hàng", (2, 1): 1, (2, 2): "Thôn An Thành", (2, 3): 360000})
    with pytest.raises(FileProblem) as exc:
        read_lists(data)
    assert exc.value.code == "not_a_beneficiary_list"


def test_read_lists_returns_lists():
    people, data, _ = build("xls", n=14)
    [(s, h)] = read_lists(data, "ds.xls")
    assert [r for r, _ in data_rows(s, h)] == [p["row"] for p in people]


def test_file_problem_codes_checked():
    with pytest.raises(ValueError):
        FileProblem("nope")


# --------------------------------------------------------------------------- generator

def test_generator_is_deterministic_and_invented():
    a = filegen.make_people(30, 5)
    b = filegen.make_people(30, 5)
    assert a == b
    assert a != filegen.make_people(30, 6)
    for p in a:
        assert p["name"].split()[0] in filegen.SURNAMES
        if p["national_id"]:
            assert len(p["national_id"]) == 12 and p["national_id"].startswith("051")
    assert filegen.write_list(a, "csv_comma") == filegen.write_list(b, "csv_comma")


def test_generator_cp1258_bytes_are_not_utf8():
    _, data, _ = build("csv_cp1258", n=14)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    [s] = read(data)
    assert s.encoding == "cp1258"


def test_generator_writes_to_path(tmp_path):
    people = filegen.make_people(3, 1)
    path = tmp_path / "ds.xls"
    data = filegen.write_list(people, "xls", path)
    assert path.read_bytes() == data
