"""Every workbook the portal writes prints on A4 in a set orientation, one page wide, with
the header rows repeated and a print area that is the written range (issue 13 §5)."""
import io
from datetime import date

import pytest
from openpyxl import load_workbook
from openpyxl.utils.cell import range_boundaries

from portal.extensions import db
from portal.models import Beneficiary
from portal.services import changes, paper, payments, police, registry, reports
from portal.services.areas import find_commune
from portal.services.history import system_user
from portal.sheets.writer import FormSheet, StreamSheet
from tests.conftest import user
from tests.factories import person, with_account


@pytest.fixture
def books(app):
    """``{name: (xlsx bytes, expected orientation, expected title rows or None)}`` for
    every kind of workbook, built through the services from three people."""
    a = with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    person(name="Lê Văn Cường", national_id="051060222333")
    db.session.commit()
    commune = find_commune("21052", "2024-05")
    p = payments.build(commune, "2024-05", "BTXH", system_user())
    payments.lock(p, system_user())
    people = db.session.query(Beneficiary).order_by(Beneficiary.id).all()
    return {
        "registry": (registry.workbook(list(registry.records_in()), "DANH SÁCH"), "landscape", "2:2"),
        "police": (police.workbook(people, "BẢNG XÁC MINH"), "landscape", "3:3"),
        "administrative": (payments.administrative_workbook(p), "landscape", "7:7"),
        "provider": (payments.provider_workbook(p), "portrait", "1:1"),
        "changes": (changes.month_workbook(commune, "2024-05", [], [commune]), "landscape", "7:7"),
        "report": (reports.workbook(reports.monthly_report(commune, "2024-05")), "landscape", "9:10"),
        "paper": (paper.workbook(a.village, date(2024, 5, 20), user("commune")), "portrait", None),
    }


def _written(ws):
    """``(last column, last row)`` holding a value or a merged range."""
    cols = rows = 0
    for row in ws.iter_rows():
        for c in row:
            if c.value is not None:
                cols, rows = max(cols, c.column), max(rows, c.row)
    for m in ws.merged_cells.ranges:
        cols, rows = max(cols, m.max_col), max(rows, m.max_row)
    return cols, rows


KINDS = ("registry", "police", "administrative", "provider", "changes", "report", "paper")


@pytest.mark.parametrize("kind", KINDS)
def test_every_workbook_has_orientation_fit_and_print_area(books, kind):
    data, orientation, title_rows = books[kind]
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    assert ws.page_setup.orientation == orientation
    assert ws.page_setup.paperSize in (9, "9")  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert int(ws.page_setup.fitToWidth) == 1 and int(ws.page_setup.fitToHeight) == 0
    assert ws.print_area, kind
    first_col, first_row, last_col, last_row = range_boundaries(ws.print_area.split("!")[-1].replace("$", ""))
    cols, rows = _written(ws)
    assert (first_col, first_row) == (1, 1)
    assert last_col >= cols and last_row >= rows, (ws.print_area, cols, rows)
    assert last_row <= ws.max_row and last_col <= ws.max_column  # no blank pages after the list
    repeated = (ws.print_title_rows or "").replace("$", "")
    assert repeated == title_rows if title_rows else repeated, (kind, repeated)
    first_header = int(repeated.split(":")[0])
    assert ws.cell(row=first_header, column=1).value in ("STT", "Mã", "Mã đối tượng", "Mã hồ sơ",
                                                         "Mã BIN", "Ngân hàng (BIN)", "Họ và tên") \
        or ws.cell(row=first_header, column=1).font.b, (kind, ws.cell(row=first_header, column=1).value)


def test_the_paper_sheet_repeats_its_column_header():
    book = FormSheet("x", [10, 10], landscape=False)
    book.heading(["UBND XÃ A"], "T", "S", left=1, right_from=2)
    book.header_row(8, ["Mã", "Tên"])
    book.header_row(20, ["Mã", "Tên"])  # a second table keeps the first header as the title
    book.repeat_rows(8)
    ws = load_workbook(io.BytesIO(book.bytes())).active
    assert ws.print_title_rows == "$8:$8" and ws.page_setup.orientation == "portrait"
    assert ws.print_area.endswith("$A$1:$B$20")


def test_a_stream_sheet_sets_the_area_on_the_rows_it_wrote():
    sheet = StreamSheet("x", [10, 10, 10])
    sheet.header_row(2, ["a", "b", "c"])
    for r in range(3, 40):
        sheet.put(r, 1, r)
    sheet.put(40, 5, "far")  # a cell past the declared widths widens the area
    ws = load_workbook(io.BytesIO(sheet.bytes())).active
    assert ws.print_area.endswith("$A$1:$E$40") and ws.print_title_rows == "$2:$2"
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
