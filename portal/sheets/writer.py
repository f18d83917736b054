"""Writing workbooks safely: text stays text.

A value typed into a name or an account number that starts with ``=``, ``+``, ``-`` or
``@`` would become a formula in Excel or LibreOffice (``=HYPERLINK(...)`` runs when the
file is opened). Every string written through :func:`cell` is stored as a string.
"""
import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.utils import get_column_letter


def cell(ws, value, number_format=None, font=None):
    """A write-only cell for ``ws``; strings are forced to the string type (never a formula)."""
    c = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        c.data_type = "s"
    if number_format:
        c.number_format = number_format
    if font is not None:
        c.font = font
    return c


def page_layout(ws, landscape, title_rows=None):
    """Print ``ws`` on A4, ``landscape`` (wide lists) or portrait (narrow ones), fitted to
    one page wide and as many pages high as it takes, with ``title_rows`` (``"3:3"``, the
    header rows) repeated on each page. On a write-only sheet call it before the first
    ``append``: the fit-to-page flag is written with the sheet's head."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if title_rows:
        ws.print_title_rows = title_rows


def print_area(ws, ncols, nrows):
    """Set the print area of ``ws`` to ``A1`` through column ``ncols``, row ``nrows`` (the
    written range; at least one row and column). Any time before the book is saved."""
    ws.print_area = f"A1:{get_column_letter(max(ncols, 1))}{max(nrows, 1)}"


def discard(wb):
    """Drop a write-only workbook that will not be saved (an export that failed half-way):
    each sheet's temporary file (as big as the rows written so far) is closed and removed
    now rather than when the process exits, as openpyxl would leave it in a long-lived
    worker. Never raises."""
    for ws in getattr(wb, "_sheets", ()):
        writer = getattr(ws, "_writer", None)
        if writer is None:
            continue
        try:
            if getattr(ws, "_rows", None) is not None:
                ws._rows.close()  # ends the rows while the file is still open
            writer.close()
            writer.cleanup()
        except Exception:  # noqa: BLE001 - best effort: the file goes at exit anyway
            pass


class FormSheet:
    """A worksheet in the administrative form (Decree 30/2020/NĐ-CP, Appendix I): Times New
    Roman throughout, the issuing body top left and the national motto top right, a title,
    bordered tables and signature blocks. Rows and columns count from 1; every string is
    stored as a string (never a formula). ``bytes()`` gives the ``.xlsx`` file.

    Printed on A4, ``landscape`` or portrait, one page wide (:func:`page_layout`); the
    first :meth:`header_row` (or :meth:`repeat_rows`) is repeated on each page and the
    print area is the written range, set when the file is written."""

    FONT = "Times New Roman"
    THIN = Side(style="thin")
    BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
    CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def __init__(self, title, widths, landscape=True):
        self.book = Workbook()
        self.ws = self.book.active
        self.ws.title = title
        self.ncols = len(widths)
        for i, w in enumerate(widths, 1):
            self.ws.column_dimensions[get_column_letter(i)].width = w
        page_layout(self.ws, landscape)

    def repeat_rows(self, first, last=None):
        """Repeat rows ``first``–``last`` (the table's header) at the top of each printed page."""
        self.ws.print_title_rows = f"{first}:{last or first}"

    def _last(self):
        """``(last column, last row)`` written."""
        return max(self.ncols, self.ws.max_column), self.ws.max_row

    def _print_area(self):
        print_area(self.ws, *self._last())

    def font(self, size=12, bold=False, italic=False):
        return Font(name=self.FONT, size=size, bold=bold, italic=italic)

    def _cell(self, row, col):
        return self.ws.cell(row=row, column=col)

    def put(self, row, col, value, bold=False, italic=False, size=12, align=None, fmt=None, box=False):
        c = self._cell(row, col)
        c.value = value
        if isinstance(value, str):
            c.data_type = "s"
        c.font = self.font(size, bold, italic)
        if align is not None:
            c.alignment = align
        if fmt:
            c.number_format = fmt
        if box:
            c.border = self.BOX
        return c

    def merged(self, row, first, last, value, align=CENTRE, **style):
        """``value`` across columns ``first``–``last`` of ``row`` (centred by default)."""
        if last > first:
            self.ws.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)
        return self.put(row, first, value, align=align, **style)

    def heading(self, issuer, title, subtitle, left=4, right_from=6):
        """The issuing body's lines (the last in bold) in columns 1–``left``, the motto from
        column ``right_from``, the title on row 5 and the subtitle on row 6. Returns the
        first free row (8)."""
        for i, text in enumerate(issuer):
            self.merged(1 + i, 1, left, text, bold=i == len(issuer) - 1 or len(issuer) == 1)
        self.merged(1, right_from, self.ncols, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True)
        self.merged(2, right_from, self.ncols, "Độc lập - Tự do - Hạnh phúc", bold=True)
        self.merged(5, 1, self.ncols, title, bold=True, size=14)
        self.merged(6, 1, self.ncols, subtitle, italic=True)
        return 8

    def header_row(self, row, headers):
        """``headers`` in bold boxes on ``row``; the first header row is repeated on each page."""
        if not self.ws.print_title_rows:
            self.repeat_rows(row)
        for i, h in enumerate(headers, 1):
            self.put(row, i, h, bold=True, align=self.CENTRE, box=True)

    def signatures(self, row, blocks):
        """``blocks``: ``[(first column, last column, title, sealed)]``: the title in bold,
        under it "(Ký, ghi rõ họ tên)", or "(Ký tên, đóng dấu)" for a ``sealed`` signer."""
        for first, last, title, sealed in blocks:
            self.merged(row, first, last, title, bold=True)
            self.merged(row + 1, first, last, "(Ký tên, đóng dấu)" if sealed else "(Ký, ghi rõ họ tên)",
                        italic=True, size=11)

    def box(self, row, col):
        """Draw the box around a cell without a value (the covered cells of a merged row)."""
        self.ws.cell(row=row, column=col).border = self.BOX

    def bytes(self):
        buf = io.BytesIO()
        self.save(buf)
        return buf.getvalue()

    def save(self, target):
        """Write the ``.xlsx`` to ``target`` (a path or a binary file object)."""
        self._print_area()
        self.book.save(target)


class StreamSheet(FormSheet):
    """:class:`FormSheet`'s layout in a write-only workbook: the same cells, styles and
    merged ranges, written as the rows come so that a list of 45,000 lines does not hold
    45,000 rows of cells. Rows are kept until a cell is put :data:`WINDOW` rows further
    down (the heading fills its rows out of order), then written; putting a cell in a row
    already written raises ``ValueError``. ``save(target)`` writes the file (a path or a
    binary file object); ``discard()`` drops an unfinished one."""

    WINDOW = 8

    def __init__(self, title, widths, landscape=True):
        self.book = Workbook(write_only=True)
        self.ws = self.book.create_sheet(title)
        self.ncols = len(widths)
        for i, w in enumerate(widths, 1):
            self.ws.column_dimensions[get_column_letter(i)].width = w
        page_layout(self.ws, landscape)  # before the first row: the head is written with it
        self._next = 1  # the first row not written yet
        self._rows = {}  # row -> {col: WriteOnlyCell}
        self._max_col = self.ncols

    def _last(self):
        return self._max_col, self._next - 1

    def _cell(self, row, col):
        if row < self._next:
            raise ValueError(f"row {row} is already written")
        self._flush(row - self.WINDOW)
        cells = self._rows.setdefault(row, {})
        self._max_col = max(self._max_col, col)
        if col not in cells:
            cells[col] = WriteOnlyCell(self.ws)
        return cells[col]

    def _flush(self, below):
        """Write every row before ``below`` (empty ones too: rows are positional)."""
        while self._next < below:
            cells = self._rows.pop(self._next, {})
            self.ws.append([cells.get(c) for c in range(1, max(cells, default=0) + 1)])
            self._next += 1

    def merged(self, row, first, last, value, align=FormSheet.CENTRE, **style):
        if last > first:
            self.ws.merged_cells.add(CellRange(min_col=first, min_row=row, max_col=last, max_row=row))
        return self.put(row, first, value, align=align, **style)

    def box(self, row, col):
        self._cell(row, col).border = self.BOX

    def bytes(self):
        buf = io.BytesIO()
        self.save(buf)
        return buf.getvalue()

    def save(self, target):
        try:
            self._flush(max(self._rows, default=0) + 1)
            self._print_area()
            self.book.save(target)
        except BaseException:
            self.discard()
            raise

    def discard(self):
        discard(self.book)


def issuer_lines(level, full_name, office=None):
    """The issuing body of an area's paper (Decree 30/2020/NĐ-CP, Appendix I): its People's
    Committee (``full_name`` like "Huyện Bình Sơn"), and for a ``level`` ``district`` or
    ``province`` the Labour office that issues it (before the 2025 reform). ``office``
    names another office under the Committee (upper case); ``""`` none: the Committee itself
    issues it."""
    name = f"UBND {full_name.upper()}"
    if office is not None:
        return [name, office] if office else [name]
    if level == "district":
        return [name, "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI"]
    if level == "province":
        return [name, "SỞ LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI"]
    return [name]
