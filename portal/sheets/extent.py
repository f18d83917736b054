"""How far a workbook's cells reach, found before any reader allocates a grid for them.

calamine (and any grid reader) allocates ``rows × columns`` cells for a sheet, from A1 to
its farthest value: two cells, at A1 and XFD90000, ask for 1.5 billion cells (47 GB). So
a workbook's parts are first walked as a stream (an xlsx: a quick look at its cell
references with regular expressions, the exact XML walk when that cannot vouch for a
sheet), at a cost bounded by the file's size, and each sheet's extent is checked against
the limits:

- a value beyond row :data:`MAX_ROWS` or column :data:`MAX_COLS` refuses the file, naming
  the sheet and the cell;
- a sheet whose grid (farthest row × farthest column) holds at most :data:`MAX_CELLS`
  cells is read as a grid (fast); a larger but sparse one is read row by row, each row
  only as wide as its own last value; one that even so holds more than
  :data:`MAX_CELLS` is refused.

The declared extent (``<dimension ref>`` in xlsx, the DIMENSIONS record in xls) is
ignored, since writers often declare more than they fill, except that an xls declaring more
than Excel 97-2003 can hold is refused: calamine reserves from that record, and a forged
one makes it abort. A reference that is no cell of Excel's (``ZZZZZZZZZZ20``, ``A0``) is
refused too.

The same walk of an xlsx finds formula cells saved without a value (software that writes
formulas but never calculates them): calamine reads them as empty cells.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass, field
from xml.parsers import expat

__all__ = ["MAX_ROWS", "MAX_COLS", "MAX_CELLS", "Extent", "TooFar", "cell_ref",
           "check_extent", "xlsx_extents", "xls_extents"]

#: A province's list is some 50,000 rows; a commune's a few hundred.
MAX_ROWS = 100_000
#: A beneficiary list has 10 to 40 columns; 256 (IV) was Excel's own limit before 2007.
MAX_COLS = 256
#: Cells a sheet may hold once read: 100,000 rows × 50 columns.
MAX_CELLS = 5_000_000


def col_letters(col: int) -> str:
    """Excel letters of the 0-based column ``col`` (0 → ``A``, 16383 → ``XFD``)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_ref(row: int, col: int) -> str:
    """Excel reference of the 0-based ``(row, col)``: ``(0, 0)`` → ``A1``."""
    return f"{col_letters(col)}{row + 1}"


@dataclass
class Extent:
    """What one sheet holds, from a walk of its cells (0-based indexes, values only).

    ``last_row``/``last_col`` are the farthest row and column holding a value (``-1`` for
    an empty sheet); ``far_cell`` is the cell that sets the grid's far corner (its row is
    ``last_row``); ``row_widths`` is the sum over rows of each row's last column + 1, the
    cells a row-by-row reading holds; ``uncalculated`` lists ``(row, col, formula)`` of
    formula cells saved without a value.
    """

    sheet: str | None
    last_row: int = -1
    last_col: int = -1
    row_widths: int = 0
    far_cell: tuple[int, int] | None = None
    uncalculated: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def grid_cells(self) -> int:
        """Cells of the grid from A1 to the farthest row and column."""
        return (self.last_row + 1) * (self.last_col + 1)

    @property
    def fits_grid(self) -> bool:
        return self.grid_cells <= MAX_CELLS


class TooFar(Exception):
    """A sheet reaches beyond the limits; ``message`` names the sheet and the cell (Vietnamese).

    ``kind`` is ``"far"`` (a value beyond :data:`MAX_ROWS`/:data:`MAX_COLS`) or ``"big"``
    (more than :data:`MAX_CELLS` cells even read row by row).
    """

    def __init__(self, kind: str, message: str):
        self.kind = kind
        self.message = message
        super().__init__(message)


def _sheet_label(sheet: str | None) -> str:
    return f"Trang «{sheet}»" if sheet else "Bảng"


def fmt_n(n: int) -> str:
    """``100000`` → ``100.000`` (Vietnamese thousands)."""
    return f"{n:,}".replace(",", ".")


def far_message(sheet: str | None, row: int, col: int | None, what: str = "có dữ liệu ở") -> str:
    """The refusal for a value at 0-based ``(row, col)`` beyond the limits. ``what`` reads
    before the cell's reference; with ``col`` ``None`` the row alone is named."""
    where = f"dòng {fmt_n(row + 1)}" if col is None else f"ô {cell_ref(row, col)}"
    return (f"{_sheet_label(sheet)} {what} {where}, ngoài giới hạn của một danh sách "
            f"({fmt_n(MAX_ROWS)} dòng × {MAX_COLS} cột, tới ô {cell_ref(MAX_ROWS - 1, MAX_COLS - 1)}). "
            "Hãy xoá các ô thừa ở xa vùng danh sách (hoặc chia tệp), lưu lại rồi tải lên lần nữa.")


def check_position(sheet: str | None, row: int, col: int) -> None:
    """Raise :class:`TooFar` when the 0-based ``(row, col)`` is beyond the limits."""
    if row >= MAX_ROWS or col >= MAX_COLS or row < 0 or col < 0:
        raise TooFar("far", far_message(sheet, row, col))


def check_extent(ext: Extent) -> None:
    """Raise :class:`TooFar` when ``ext`` cannot be read within :data:`MAX_CELLS` cells."""
    if not ext.fits_grid and ext.row_widths > MAX_CELLS:
        r, c = ext.far_cell or (ext.last_row, ext.last_col)
        raise TooFar("big", f"{_sheet_label(ext.sheet)} quá lớn: dữ liệu tới ô {cell_ref(r, c)}, "
                            f"hơn {fmt_n(MAX_CELLS)} ô. Hãy chia tệp theo thôn hoặc theo chương trình.")


class _Walk:
    """Running extent of one sheet as its cells arrive in order (row by row)."""

    def __init__(self, sheet):
        self.ext = Extent(sheet)
        self._row = -1
        self._row_last = -1

    def row(self, r: int):
        self._close_row()
        self._row = r
        self._row_last = -1

    def value(self, r: int, c: int):
        check_position(self.ext.sheet, r, c)
        if r != self._row:
            self.row(r)
        if c > self._row_last:
            self._row_last = c
        e = self.ext
        if r > e.last_row or (r == e.last_row and c > (e.far_cell or (0, -1))[1]):
            e.far_cell = (r, c)
        if r > e.last_row:
            e.last_row = r
        if c > e.last_col:
            e.last_col = c

    def _close_row(self):
        if self._row_last >= 0:
            self.ext.row_widths += self._row_last + 1
            self._row_last = -1
            if self.ext.row_widths > MAX_CELLS:  # more than any reading may hold: stop here
                check_extent(self.ext)

    def finish(self) -> Extent:
        self._close_row()
        return self.ext


# --------------------------------------------------------------------------- xlsx

#: Excel's own grid (XFD1048576): a reference beyond it is no spreadsheet's, and calamine
#: can panic on it (positions are 32-bit there).
EXCEL_ROWS, EXCEL_COLS = 1_048_576, 16_384
_REF = re.compile(r"^([A-Za-z]{1,3})([0-9]{1,7})$")


def _parse_ref(ref: str, sheet=None) -> tuple[int, int]:
    """0-based ``(row, col)`` of an A1 reference. Raises :class:`TooFar` naming the
    reference when it is not one or lies beyond Excel's own grid."""
    m = _REF.match(ref)
    if m:
        col = 0
        for ch in m.group(1).upper():
            col = col * 26 + (ord(ch) - 64)
        row = int(m.group(2))
        if 1 <= row <= EXCEL_ROWS and col <= EXCEL_COLS:
            return row - 1, col - 1
    shown = ref if len(ref) <= 30 else ref[:30] + "…"
    raise TooFar("far", f"{_sheet_label(sheet)} có một ô ghi địa chỉ «{shown}», không phải ô nào của "
                        "Excel (tệp hỏng hoặc do phần mềm lạ tạo ra). Hãy mở tệp bằng Excel, lưu lại rồi tải lên.")


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1].rsplit("}", 1)[-1]


class _SheetXml:
    """expat handlers for one worksheet part: row and cell positions, values, formulas.

    A cell counts when it holds a value (``<v>`` or an inline string): calamine skips the
    empty, styled-only cells that writers leave in far rows and columns. Positions follow
    the format: a ``<row>`` or ``<c>`` without ``r`` comes right after the previous one.
    """

    def __init__(self, sheet):
        self.walk = _Walk(sheet)
        self.row = -1
        self.col = -1
        self.cell = None        # [row, col, has_value, formula or None]
        self.text = None        # collecting <f> or <v> text
        self.in_sheet_data = False

    def start(self, name, attrs):
        tag = _local(name)
        if tag == "sheetData":
            self.in_sheet_data = True
        elif not self.in_sheet_data:
            return
        elif tag == "row":
            self.row = _row_attr(attrs.get("r") or None, self.row, self.walk.ext.sheet)
            self.col = -1
        elif tag == "c":
            if attrs.get("r"):
                self.row, self.col = _parse_ref(attrs["r"], self.walk.ext.sheet)
            else:
                self.col += 1
            self.cell = [self.row, self.col, False, None]
        elif self.cell is not None:
            if tag in ("v", "f"):
                self.text = [tag]
            elif tag == "is":
                self.cell[2] = True

    def end(self, name):
        tag = _local(name)
        if tag == "sheetData":
            self.in_sheet_data = False
        elif self.cell is None:
            return
        elif tag in ("v", "f") and self.text is not None:
            text = "".join(self.text[1:])
            if tag == "v" and text:
                self.cell[2] = True
            elif tag == "f":
                self.cell[3] = text
            self.text = None
        elif tag == "c":
            r, c, has_value, formula = self.cell
            if has_value:
                self.walk.value(r, c)
            elif (formula is not None and r < MAX_ROWS and c < MAX_COLS
                  and len(self.walk.ext.uncalculated) < 1000):
                self.walk.ext.uncalculated.append((r, c, formula))
            self.cell = None

    def chars(self, data):
        if self.text is not None and sum(map(len, self.text)) < 4096:
            self.text.append(data)


def _refuse_dtd(*args):
    raise ValueError("DTD in a worksheet part")


def _walk_xml(stream, handler) -> None:
    """Feed an XML stream to expat in 1 MB pieces; a DOCTYPE (entity tricks) is refused."""
    parser = expat.ParserCreate()
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.chars
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.buffer_text = True
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _xlsx_sheet_parts(z: zipfile.ZipFile) -> list[tuple[str, str]]:
    """``(sheet name, part path)`` of each worksheet, in workbook order."""
    names = set(z.namelist())

    def read_xml(path):
        class Collect:
            def __init__(self):
                self.items = []

            def start(self, name, attrs):
                self.items.append((_local(name), {_local(k): v for k, v in attrs.items()}))

            def end(self, name):
                pass

            def chars(self, data):
                pass

        c = Collect()
        with z.open(path) as f:
            _walk_xml(f, c)
        return c.items

    wb_path = "xl/workbook.xml"
    if wb_path not in names:
        return []
    rels = {}
    rels_path = "xl/_rels/workbook.xml.rels"
    if rels_path in names:
        for tag, a in read_xml(rels_path):
            if tag == "Relationship" and a.get("Id") and a.get("Target"):
                target = a["Target"].lstrip("/")
                if not target.startswith("xl/"):
                    target = "xl/" + target
                rels[a["Id"]] = target
    parts = []
    for tag, a in read_xml(wb_path):
        if tag == "sheet":
            target = rels.get(a.get("id", ""))
            if target and target in names:
                parts.append((a.get("name"), target))
    return parts


# The quick look: every cell tag, and the cell references among them, found by regular
# expressions at C speed. When every cell names its position and even counting the empty,
# styled cells the grid fits, the sheet is safe to hand to calamine, and only formula cells
# need a closer look. Otherwise the exact walk (expat, a Python call per element: about
# ten times slower) decides.
_CELL_TAG = re.compile(rb"<(?:[\w.-]+:)?c[\s/>]")
_CELL_REF = re.compile(rb"<(?:[\w.-]+:)?c\s[^>]*?\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_FORMULA = re.compile(rb"<(?:[\w.-]+:)?f\b[^>]*?(?:/>|>([^<]*)</(?:[\w.-]+:)?f>)")
_VALUE = re.compile(rb"<(?:[\w.-]+:)?v>[^<]")
_CELL_END = re.compile(rb"</(?:[\w.-]+:)?c>")
_LAST_CELL_REF = re.compile(rb'.*<(?:[\w.-]+:)?c\s[^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"', re.S)
_ROW_END = re.compile(rb"row>")


def _col_index(letters: bytes) -> int:
    col = 0
    for ch in letters:
        col = col * 26 + (ch - 64)
    return col - 1


_TAG = re.compile(rb"<(?:[\w.-]+:)?(row|c)(?=[\s/>])([^>]*)>")
_R_ATTR = re.compile(rb'(?:^|\s)r="([^"]*)"')
_FORMULA_TAG = re.compile(rb"<(?:[\w.-]+:)?f[\s/>]")


def _row_attr(value: str, previous: int, sheet) -> int:
    """0-based row of a ``<row r="…">`` (``value`` ``None``: the next row). Raises
    :class:`TooFar` for a number that is no row of Excel's."""
    if value is None:
        return previous + 1
    if value.isdigit() and len(value) <= 7 and 1 <= int(value) <= EXCEL_ROWS:
        return int(value) - 1
    return _parse_ref(f"A{value}", sheet)[0]  # raises, naming it


def _quick_xlsx_extent(stream, sheet) -> Extent | None:
    """The extent of a worksheet part, counting every cell (valued or not), or ``None``
    when the quick look cannot vouch for it (the grid too large counting empty cells, or
    formulas in cells that do not name their place: the exact walk then decides).

    Cut into pieces at row ends, so no cell is split. Where every cell names its place
    (``r="B7"``), the references are read at C speed; otherwise the row and cell tags are
    walked (positions follow the format: no ``r``, right after the previous one)."""
    ext = Extent(sheet)
    rest = b""
    row, col = -1, -1
    while True:
        chunk = stream.read(4 << 20)
        buf = rest + chunk
        if chunk:
            cut = buf.rfind(b"row>") + 4
            if cut < 4:
                rest = buf
                continue
            buf, rest = buf[:cut], buf[cut:]
        refs = _CELL_REF.findall(buf)
        if len(refs) == len(_CELL_TAG.findall(buf)):
            if refs:
                numbers = list(map(int, (r for _, r in refs)))
                if min(numbers) < 1:
                    return None  # "A0": the exact walk names it
                last_row = max(numbers) - 1
                last_col = max(map(_col_index, set(c for c, _ in refs)))
                ext.last_row, ext.last_col = max(ext.last_row, last_row), max(ext.last_col, last_col)
                row, col = int(refs[-1][1]) - 1, _col_index(refs[-1][0])
        else:
            if _FORMULA_TAG.search(buf):
                return None  # a formula's place needs the exact walk
            for m in _TAG.finditer(buf):
                attr = _R_ATTR.search(m.group(2))
                value = attr.group(1).decode("latin-1") if attr else None
                if m.group(1) == b"row":
                    row, col = _row_attr(value, row, sheet), -1
                    continue
                if value is not None:
                    row, col = _parse_ref(value, sheet)
                else:
                    col += 1
                if row > ext.last_row:
                    ext.last_row = row
                if col > ext.last_col:
                    ext.last_col = col
        if ext.last_row >= MAX_ROWS or ext.last_col >= MAX_COLS or not ext.fits_grid:
            return None
        if b"f" in buf:
            _uncalculated(buf, ext)
        if not chunk:
            break
    ext.far_cell = (ext.last_row, ext.last_col)
    ext.row_widths = ext.grid_cells
    return ext


def _uncalculated(buf: bytes, ext: Extent) -> None:
    """Formula cells of ``buf`` with no saved value: ``(row, col, formula)`` into ``ext``."""
    for m in _FORMULA.finditer(buf):
        end = _CELL_END.search(buf, m.end())
        if end is None or _VALUE.search(buf, m.end(), end.start()):
            continue
        start = buf.rfind(b"<", 0, m.start())
        ref = _LAST_CELL_REF.match(buf, max(0, start - 512), m.start())
        if ref and len(ext.uncalculated) < 1000:
            r, c = int(ref.group(2)) - 1, _col_index(ref.group(1))
            formula = (m.group(1) or b"").decode("utf-8", "replace")
            ext.uncalculated.append((r, c, formula))


def xlsx_extents(data: bytes) -> dict[str, Extent]:
    """Extent of every worksheet of the xlsx ``data``, by sheet name.

    Streams each worksheet part (memory bounded by the piece read), first quickly, then,
    when the quick look cannot vouch for the part, exactly. Raises :class:`TooFar` at the
    first value beyond the limits and ``ValueError`` / ``zipfile.BadZipFile`` /
    ``expat.ExpatError`` for a part that is not a worksheet.
    """
    out: dict[str, Extent] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name, path in _xlsx_sheet_parts(z):
            with z.open(path) as f:
                ext = _quick_xlsx_extent(f, name)
            if ext is None:
                handler = _SheetXml(name)
                with z.open(path) as f:
                    _walk_xml(f, handler)
                ext = handler.walk.finish()
                check_extent(ext)
            out[name] = ext
    return out


# --------------------------------------------------------------------------- xls (BIFF)

# BIFF8 records that hold a cell value: row and column are the record's first two u16s.
_VALUE_RECORDS = {
    0x0203,  # NUMBER
    0x027E,  # RK
    0x00FD,  # LABELSST
    0x0204,  # LABEL
    0x00D6,  # RSTRING
    0x0205,  # BOOLERR
    0x0006,  # FORMULA
}
_MULRK = 0x00BD          # row, first column, n × 6-byte RK, last column
_BOF = 0x0809
_EOF = 0x000A
_BOUNDSHEET = 0x0085
_FILEPASS = 0x002F
_DIMENSIONS = 0x0200


class Encrypted(Exception):
    """The xls is password-protected (a FILEPASS record)."""


def xls_extents(data: bytes) -> dict[str, Extent]:
    """Extent of every sheet of the BIFF8 (``.xls``) ``data``, by sheet name.

    Reads the OLE2 container with ``olefile`` and walks the Workbook stream's records
    (4-byte headers, no value decoded). Raises :class:`TooFar`, :class:`Encrypted` for a
    password-protected file, and ``OSError``/``ValueError`` for a broken container.
    """
    import olefile

    ole = olefile.OleFileIO(data)
    try:
        stream_name = next((n for n in ("Workbook", "Book", "WORKBOOK", "BOOK")
                            if ole.exists(n)), None)
        if stream_name is None:
            raise ValueError("no Workbook stream")
        if ole.get_size(stream_name) > 200 * 1024 * 1024:
            raise ValueError("Workbook stream too large")
        stream = ole.openstream(stream_name).read()
    finally:
        ole.close()
    names: dict[int, str] = {}
    walks: list[_Walk] = []
    walk = None
    pos = 0
    n = len(stream)
    unpack = struct.unpack_from
    while pos + 4 <= n:
        rtype, length = unpack("<HH", stream, pos)
        body = pos + 4
        if rtype == _BOF:
            # The globals come first; every later BOF opens a sheet, named by BOUNDSHEET.
            walk = _Walk(names.get(pos, f"Sheet{len(walks) + 1}")) if names or walks else None
            if walk is not None:
                walks.append(walk)
        elif rtype == _FILEPASS:
            raise Encrypted()
        elif rtype == _BOUNDSHEET and length >= 8:
            offset = unpack("<I", stream, body)[0]
            cch, flags = stream[body + 6], stream[body + 7]
            raw = stream[body + 8: body + 8 + (cch * 2 if flags & 1 else cch)]
            names[offset] = raw.decode("utf-16-le" if flags & 1 else "latin-1", "replace")
        elif rtype == _DIMENSIONS and walk is not None and length >= 14:
            # The declared size: calamine reserves from it, and a forged one (rows past
            # 65,536, columns past 256: beyond Excel 97-2003) makes it abort.
            last_row, last_col = unpack("<I", stream, body + 4)[0], unpack("<H", stream, body + 10)[0]
            if last_row > 65_536 or last_col > 256:
                raise TooFar("far", f"{_sheet_label(walk.ext.sheet)} khai báo kích thước {fmt_n(last_row)} dòng × "
                                    f"{fmt_n(last_col)} cột, quá giới hạn của tệp Excel 97–2003 (.xls): tệp hỏng. "
                                    "Hãy mở tệp bằng Excel, lưu lại (nên lưu dạng .xlsx) rồi tải lên.")
        elif walk is not None and length >= 4 and (rtype in _VALUE_RECORDS or rtype == _MULRK):
            row, col = unpack("<HH", stream, body)
            last = col
            if rtype == _MULRK and length >= 6:
                last = unpack("<H", stream, body + length - 2)[0]
            walk.value(row, max(col, last))
        pos = body + length
    out = {}
    for w in walks:
        ext = w.finish()
        check_extent(ext)
        out[ext.sheet] = ext
    return out
