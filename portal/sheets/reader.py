"""Read any commune file (xlsx, xls, Excel-HTML, CSV) into sheets of plain cell values.

Commune files are routed by their first bytes, never by their name: an ``.xls`` that is
really an xlsx, a CSV or an HTML table reads the same as the genuine article. Every
string cell is normalised to Unicode NFC at this edge, legacy TCVN3/VNI text included
(see ``design/encodings.md``), so the header finder and the importer only see Unicode.

Cell values are ``str``, ``int``, ``float`` (only when not whole), ``datetime.date`` /
``datetime.datetime`` (a datetime only when it has a time of day), ``bool`` or
``datetime.time``/``timedelta`` (rare), and ``None`` for an empty cell. CSV and HTML
cells stay text: parsing numbers, dates and money is the importer's job.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import logging
import zipfile
import re
from itertools import islice
from dataclasses import dataclass, field
from html.parser import HTMLParser

from portal.vn import text as vntext

from . import extent, guard

__all__ = [
    "FileProblem",
    "Sheet",
    "sniff",
    "read_workbook",
    "read_workbook_unguarded",
    "read_pieces",
    "configure",
]

_log = logging.getLogger(__name__)

#: How many rows at the top of a sheet have their fonts sampled (title and header live there).
FONT_SAMPLE_ROWS = 30

_MESSAGES = {
    "unreadable": "Không đọc được tệp: tệp bị hỏng, có mật khẩu hoặc không phải bảng tính "
    "Excel/CSV.",
    "empty": "Tệp không có dữ liệu.",
    "no_header": "Không tìm thấy dòng tiêu đề cột (Họ và tên, Ngày sinh, Số CCCD…) trong tệp.",
    "not_a_beneficiary_list": "Tệp có bảng dữ liệu nhưng không phải danh sách đối tượng: "
    "cần có cột Họ và tên và cột Ngày sinh hoặc Số CCCD.",
    "too_large": "Tệp quá lớn: một danh sách tối đa 100.000 dòng. Hãy chia tệp theo thôn hoặc "
    "theo chương trình.",
    "too_far": "Tệp có dữ liệu ở quá xa vùng danh sách.",
    "memory": "Tệp cần quá nhiều bộ nhớ hoặc thời gian để đọc nên bị từ chối; không có gì được "
    "ghi. Hãy xoá các ô thừa ở xa vùng danh sách, hoặc mở tệp bằng Excel, lưu lại rồi tải lên "
    "lần nữa.",
    "opendocument": "Tệp OpenDocument (.ods) chưa được hỗ trợ: hãy mở bằng LibreOffice hoặc "
    "Excel, lưu dạng Excel (.xlsx) rồi tải lên.",
    "nul": "Tệp có ký tự NUL (mã 0).",
}

# A commune's list is a few hundred rows, a whole province's some 50,000: anything far
# beyond is refused before it is unpacked into memory (a zip "bomb" is a few hundred kB).
MAX_ROWS = extent.MAX_ROWS
MAX_COLS = extent.MAX_COLS
MAX_CELLS = extent.MAX_CELLS
MAX_UNPACKED_BYTES = 150 * 1024 * 1024


class FileProblem(Exception):
    """A whole file is refused; ``code`` says why, ``message`` says it in Vietnamese.

    ``code`` is one of ``"unreadable"``, ``"no_header"``, ``"not_a_beneficiary_list"``,
    ``"empty"``, ``"too_large"`` (more rows than :data:`MAX_ROWS`), ``"too_far"`` (a value
    beyond the limits of :mod:`portal.sheets.extent`: the message names the sheet and the
    cell), ``"memory"`` (the reading process hit its memory or time ceiling, see
    :mod:`portal.sheets.guard`), ``"opendocument"`` and ``"nul"`` (a NUL character: the
    message names the row and column).
    """

    def __init__(self, code: str, message: str | None = None):
        if code not in _MESSAGES:
            raise ValueError(f"unknown FileProblem code {code!r}")
        self.code = code
        self.message = message or _MESSAGES[code]
        super().__init__(self.message)

    def __reduce__(self):  # crosses the pipe from the reading child (:mod:`.guard`)
        return (FileProblem, (self.code, self.message))


@dataclass
class Sheet:
    """One sheet of cells.

    ``rows[i]`` holds the cells of spreadsheet row ``i + 1`` (CSV: line ``i + 1``), leading
    empty rows and columns kept so that indexes match what Excel shows; rows may differ in
    length. ``fonts`` maps a 0-based ``(row, column)`` to the cell's font name for the first
    ``FONT_SAMPLE_ROWS`` rows when fonts were read (xlsx with suspected legacy text), else
    ``None``. ``encoding`` is the legacy encoding decoded (``"tcvn3"``/``"vni"``) or, for a
    CSV/HTML file, the byte encoding; ``merged`` lists merged ranges as 0-based inclusive
    ``((row0, col0), (row1, col1))`` when the format keeps them; ``hidden`` is true for a
    sheet hidden in Excel; ``uncalculated`` lists the 0-based ``(row, col, formula)`` of
    formula cells saved without a value (they read as empty: the file must be opened and
    saved in Excel first).
    """

    name: str | None
    rows: list[list]
    fonts: dict[tuple[int, int], str] | None = None
    encoding: str | None = None
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    hidden: bool = False
    uncalculated: list[tuple[int, int, str]] = field(default_factory=list)

    def cell(self, row: int, col: int):
        """Value at 0-based ``(row, col)``, ``None`` outside the data."""
        if 0 <= row < len(self.rows):
            cells = self.rows[row]
            if 0 <= col < len(cells):
                return cells[col]
        return None

    def is_empty(self) -> bool:
        return not any(v is not None for r in self.rows for v in r)


# --------------------------------------------------------------------------- sniffing

def sniff(data: bytes) -> str:
    """Real format of ``data`` from its first bytes: "xlsx", "xls", "html" or "text".

    ``"xlsx"`` covers any zip (xlsx, ods); ``"xls"`` any OLE2 container; ``"html"`` any
    markup starting with ``<`` after an optional BOM and blanks (HTML tables and XML
    Spreadsheet 2003 both saved as ``.xls``).
    """
    head = bytes(data[:1024])
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            if bom != b"\xef\xbb\xbf":
                # UTF-16: look at the text itself.
                try:
                    txt = head[2:].decode("utf-16-le" if bom == b"\xff\xfe" else "utf-16-be",
                                          errors="ignore")
                except UnicodeDecodeError:  # pragma: no cover - errors ignored
                    txt = ""
                return "html" if txt.lstrip().startswith("<") else "text"
            head = head[len(bom):]
            break
    if head.lstrip().startswith(b"<"):
        return "html"
    return "text"


# --------------------------------------------------------------------------- cell cleaning

_VIET_LATIN1 = set("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")


def _maybe_legacy(s: str) -> bool:
    """True when ``s`` could be 8-bit legacy text read as Latin-1 (all code points ≤ U+00FF
    and at least one high character that Unicode Vietnamese never uses)."""
    suspicious = False
    for ch in s:
        o = ord(ch)
        if o > 0xFF:
            return False
        if o >= 0x80 and ch not in _VIET_LATIN1:
            suspicious = True
    return suspicious


def _latin1_only(s: str) -> bool:
    return all(ord(ch) <= 0xFF for ch in s)


class _TextCleaner:
    """NFC (and legacy decoding) of string cells, memoised: lists repeat villages and categories."""

    def __init__(self, encoding: str | None = None):
        self.encoding = encoding
        self._cache: dict[tuple[str, bool], str | None] = {}

    def __call__(self, s: str, upper_font: bool = False) -> str | None:
        key = (s, upper_font)
        hit = self._cache.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        out = s
        # A cell holding characters beyond Latin-1 is already Unicode: never re-decode it
        # (a sheet can mix a Unicode title with legacy data).
        if self.encoding and (upper_font or not s.isascii()) and _latin1_only(s):
            out = vntext.decode_legacy(s, self.encoding, upper_font=upper_font)
        out = _clean_str(out)
        self._cache[key] = out
        return out


_MISSING = object()


def _clean_str(s: str) -> str | None:
    """NFC with single spaces; text without letters (numbers typed as text, IDs with
    spaces) keeps its characters and is only stripped."""
    if any(ch.isalpha() for ch in s):
        out = vntext.nfc(s)
    else:
        out = s.replace("\u00a0", " ").strip()
    return out or None


def _clean_number(v):
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _clean_value(v, clean_text: _TextCleaner, upper_font: bool = False):
    if v is None:
        return None
    if isinstance(v, str):
        if v == "":
            return None
        return clean_text(v, upper_font)
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        return _clean_number(v)
    if isinstance(v, _dt.datetime):
        if v.time() == _dt.time(0, 0) and v.tzinfo is None:
            return v.date()
        return v
    return v


# --------------------------------------------------------------------------- workbooks

_limits = guard.DEFAULT


def configure(limits: guard.Limits) -> None:
    """Set the memory and time ceiling of every :func:`read_workbook` in this process
    (``create_app`` does, from ``READER_MEMORY_MB`` and ``READER_SECONDS``)."""
    global _limits
    _limits = limits


#: Rows the reading child sends its parent in one message (:func:`read_workbook`): a
#: sheet crosses the pipe in pieces, never as one pickle of the whole sheet.
PIECE_ROWS = 2000


def read_workbook(data: bytes, filename: str | None = None,
                  limits: guard.Limits | None = None) -> list[Sheet]:
    """Every sheet of the file ``data`` with cleaned cell values, read under a ceiling.

    The format comes from :func:`sniff`, never from ``filename`` (kept for callers'
    logs: an ``.xls`` that is really an xlsx, a CSV or an HTML table reads the same). Raises
    :class:`FileProblem`: ``"empty"`` for an empty file (or one whose sheets hold no value),
    ``"unreadable"`` for corrupt or unsupported data, ``"too_large"``/``"too_far"`` when
    the limits of :mod:`portal.sheets.extent` are passed, and ``"memory"`` when reading
    passed ``limits`` (default: :func:`configure`'s) all the same: the read runs in a
    child process capped by :func:`portal.sheets.guard.run_limited`, which sends the
    sheets back in pieces (:func:`read_pieces`).
    """
    out = guard.run_limited(read_pieces, data, filename, limits=limits or _limits, stream=True)
    if out.peak_kb is not None:
        _log.debug("read %r in a child: %s, peak %d KB (%+d KB over what it shared), "
                   "largest message %d B", filename, out.kind, out.peak_kb, out.added_kb,
                   out.largest_message)
    if out.kind == "ok":
        return _assemble(out.value)
    if out.kind == "raised":
        if isinstance(out.value, FileProblem):
            raise out.value
        raise FileProblem("unreadable") from out.value
    _log.warning("reading %r passed its ceiling: %s %s", filename, out.kind, out.detail)
    raise FileProblem("memory")


def read_workbook_unguarded(data: bytes, filename: str | None = None) -> list[Sheet]:
    """:func:`read_workbook` in this process, with no ceiling (the fuzz tests run it under
    their own)."""
    return _assemble(read_pieces(data, filename))


def _assemble(pieces) -> list[Sheet]:
    """The sheets of :func:`read_pieces`' pieces, each with its rows."""
    sheets: list[Sheet] = []
    for piece in pieces:
        if isinstance(piece, Sheet):
            sheets.append(piece)
        else:
            sheets[-1].rows.extend(piece)
    return sheets


def read_pieces(data: bytes, filename: str | None = None):
    """The sheets of :func:`read_workbook` as pieces, for the reading child to send one at
    a time: each :class:`Sheet` with its ``rows`` empty, then its rows as lists of at most
    :data:`PIECE_ROWS`. An xlsx or xls sheet is taken from calamine's grid a row at a time
    (:func:`_grid`), never as a Python grid whole. Raises (possibly after some pieces) as :func:`read_workbook` does;
    ``"empty"`` comes after the last piece."""
    if data is None or not bytes(data).strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise FileProblem("empty")
    data = bytes(data)
    kind = sniff(data)
    if kind == "xlsx":
        _check_unpacked_size(data)
    if kind in ("xlsx", "xls"):
        sheets = _read_excel(data, kind)
    else:
        sheets = ((s, _taken(s)) for s in (_read_markup(data) if kind == "html" else [_read_csv(data)]))
    anything = False
    for sheet, rows in sheets:
        yield sheet
        rows = iter(rows)
        while piece := list(islice(rows, PIECE_ROWS)):
            anything = anything or any(v is not None for r in piece for v in r)
            yield piece
    if not anything:
        raise FileProblem("empty")


def _taken(sheet: Sheet) -> list[list]:
    """``sheet``'s rows, ``sheet.rows`` left empty (they go as pieces of their own)."""
    rows, sheet.rows = sheet.rows, []
    return rows


def _check_unpacked_size(data: bytes) -> None:
    """Refuse an xlsx whose parts unpack to more than ``MAX_UNPACKED_BYTES``."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise FileProblem("unreadable") from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise FileProblem("too_large", f"Tệp nén chứa quá nhiều dữ liệu: hơn {MAX_UNPACKED_BYTES // 2**20} MB "
                                       "khi giải nén (một danh sách 100.000 dòng chỉ vài chục MB). Hãy mở tệp "
                                       "bằng Excel, xoá các trang, ô hoặc hình thừa, lưu lại rồi tải lên.")


def _is_opendocument(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "content.xml" in z.namelist() and "xl/workbook.xml" not in z.namelist()
    except (zipfile.BadZipFile, ValueError):
        return False


def _extents(data: bytes, kind: str) -> dict[str, extent.Extent]:
    """Each sheet's extent, walked before calamine allocates a grid (see :mod:`.extent`)."""
    try:
        if kind == "xlsx":
            return extent.xlsx_extents(data)
        return extent.xls_extents(data)
    except extent.TooFar as exc:
        raise FileProblem("too_far", exc.message) from exc
    except extent.Encrypted as exc:
        raise FileProblem("unreadable") from exc
    except Exception as exc:  # a broken zip, OLE2 container or XML part
        raise FileProblem("unreadable") from exc


def _extent_of(extents: dict[str, extent.Extent], name: str, index: int) -> extent.Extent:
    """The walked extent of sheet ``name`` (by name, else by position: an old xls may
    spell a name in another code page). A sheet the walk did not see is refused rather
    than handed to calamine blind."""
    ext = extents.get(name)
    if ext is None and index < len(extents):
        ext = list(extents.values())[index]
    if ext is None:
        raise FileProblem("unreadable")
    return ext


def _read_excel(data: bytes, kind: str):
    """Each worksheet of an xlsx or xls as ``(Sheet, rows)``: the sheet with its ``rows``
    empty, ``rows`` an iterator of its cleaned rows (:func:`_finish_sheet`)."""
    import python_calamine as pc

    if kind == "xlsx" and _is_opendocument(data):
        raise FileProblem("opendocument")
    extents = _extents(data, kind)
    if kind == "xls":
        # calamine parses every sheet of an xls into its grid as it opens the file.
        for ext in extents.values():
            if not ext.fits_grid:
                r, c = ext.far_cell
                raise FileProblem("too_far", f"Trang «{ext.sheet}» có dữ liệu rải tới ô "
                                  f"{extent.cell_ref(r, c)}, xa vùng danh sách: hãy xoá các ô "
                                  "thừa, hoặc lưu tệp dạng Excel mới (.xlsx), rồi tải lên lần nữa.")
    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # calamine raises several error kinds and plain ValueErrors
        raise FileProblem("unreadable") from exc
    try:
        meta = {m.name: m for m in (wb.sheets_metadata or [])}
        for name in wb.sheet_names:
            m = meta.get(name)
            if m is not None and m.typ != pc.SheetTypeEnum.WorkSheet:
                continue
            ext = _extent_of(extents, name, wb.sheet_names.index(name))
            hidden = m is not None and m.visible != pc.SheetVisibleEnum.Visible
            xlsx_data = data if kind == "xlsx" else None
            if not ext.fits_grid:
                raw_rows, merged = _read_sparse_xlsx(data, name).__iter__, []
            else:
                raw_rows, merged = _grid(wb, name)
            sheet, rows = _finish_sheet(name, raw_rows, merged, hidden, xlsx_data)
            sheet.uncalculated = list(ext.uncalculated)
            yield sheet, rows
            del raw_rows, rows  # this sheet's grid, before the next one is read
    finally:
        try:
            wb.close()
        except Exception:  # pragma: no cover
            pass


def _grid(wb, name: str):
    """Sheet ``name`` of calamine's workbook ``wb``: a function giving, each time it is
    called, a fresh iterator of its rows as ``to_python(skip_empty_area=False)`` lists them
    (from cell A1), and its merged ranges. A row at a time: the sheet is never a Python grid
    whole (for 100,000 rows some 80 MB more than calamine's own). ``iter_rows`` starts at row
    1 but at the first column used."""
    try:
        cs = wb.get_sheet_by_name(name)
        merged = [tuple(map(tuple, r)) for r in (cs.merged_cell_ranges or [])]
    except Exception as exc:
        raise FileProblem("unreadable") from exc

    def rows():
        lead = [""] * (cs.start[1] if cs.start else 0)
        try:
            for r in cs.iter_rows():
                yield lead + r if lead else r
        except Exception as exc:
            raise FileProblem("unreadable") from exc
    return rows, merged


def _read_sparse_xlsx(data: bytes, name: str) -> list[list]:
    """Rows of a sparse xlsx sheet (within the limits, but too wide a grid for calamine),
    each row only as long as its last value: openpyxl's read-only reader streams the part
    and, with the declared dimensions dropped, pads nothing."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise FileProblem("unreadable") from exc
    try:
        ws = wb[name]
        ws.reset_dimensions()
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    except Exception as exc:
        raise FileProblem("unreadable") from exc
    finally:
        wb.close()
    for r in rows:
        while r and r[-1] is None:
            r.pop()
    return rows


def _detection_sample(raw, limit: int = 3000) -> list[str] | None:
    """Non-ASCII strings of a sheet for :func:`portal.vn.text.detect_legacy` (Unicode
    cells included, so that they can outvote a stray ``©``), or ``None`` when no cell
    could be legacy text at all."""
    sample: list[str] = []
    suspect = False
    for r in raw:
        for v in r:
            if isinstance(v, str) and not v.isascii():
                if len(sample) < limit:
                    sample.append(v)
                if not suspect and _maybe_legacy(v):
                    suspect = True
        if suspect and len(sample) >= limit:
            break
    return sample if suspect else None


#: Excel's own limit for one cell's text; a longer one comes from no spreadsheet a commune
#: keeps (a 140 MB shared string, say), and it would cost the web worker its memory.
MAX_CELL_CHARS = 32_767
#: The text a whole file may hold: some 2,000,000 cells of 25 characters.
MAX_TEXT_CHARS = 50_000_000


def _cell_too_long(name, r, c, n) -> FileProblem:
    where = f"Trang «{name}», ô" if name else "Ô"
    return FileProblem("too_far", f"{where} {extent.cell_ref(r, c)} có {extent.fmt_n(n)} ký tự, quá giới hạn "
                                  f"{extent.fmt_n(MAX_CELL_CHARS)} ký tự của một ô Excel. Hãy xoá nội dung thừa "
                                  "trong ô đó, lưu lại rồi tải lên.")


def _check_text(name, raw) -> None:
    """Refuse a sheet with a cell longer than :data:`MAX_CELL_CHARS` (naming the cell) or
    more text than :data:`MAX_TEXT_CHARS`, before anything is cleaned or handed back."""
    total = 0
    for r, cells in enumerate(raw):
        for c, v in enumerate(cells):
            if type(v) is str:
                n = len(v)
                total += n
                if n > MAX_CELL_CHARS:
                    raise _cell_too_long(name, r, c, n)
        if total > MAX_TEXT_CHARS:
            raise FileProblem("too_large", "Tệp quá lớn: quá nhiều chữ (hơn 50 triệu ký tự). Hãy chia tệp "
                                           "theo thôn hoặc theo chương trình.")


def _finish_sheet(name, raw_rows, merged, hidden, xlsx_data) -> tuple[Sheet, object]:
    """Check the text of the sheet's raw rows and detect its legacy encoding: the sheet
    (its ``rows`` empty) and an iterator of its cleaned rows. ``raw_rows()`` gives a fresh
    iterator of the raw rows; it is called three times (check, sample, clean), so that no
    more than a row of raw cells need be in memory."""
    _check_text(name, raw_rows())
    encoding = None
    fonts = None
    sample = _detection_sample(raw_rows())
    if sample is not None:
        encoding = vntext.detect_legacy(sample)
        if xlsx_data is not None:
            fonts = _sample_fonts(xlsx_data, name)
            if encoding is None and fonts:
                encoding = vntext.detect_legacy(sample, fonts=sorted(set(fonts.values())))
    clean = _TextCleaner(encoding)

    def rows():
        for r, cells in enumerate(raw_rows()):
            if fonts and encoding == "tcvn3" and r < FONT_SAMPLE_ROWS:
                yield [_clean_value(v, clean, vntext.is_upper_font(fonts.get((r, c))))
                       for c, v in enumerate(cells)]
            else:
                yield [_clean_value(v, clean) for v in cells]
    return Sheet(name=name, rows=[], fonts=fonts, encoding=encoding, merged=merged,
                 hidden=hidden), rows()


def _sample_fonts(data: bytes, sheet_name: str) -> dict[tuple[int, int], str] | None:
    """Font names of the non-empty cells in the first rows of ``sheet_name`` (openpyxl
    read-only, so only those rows are parsed)."""
    try:
        import openpyxl

        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        return None
    try:
        if sheet_name not in wb.sheetnames:
            return None
        ws = wb[sheet_name]
        fonts: dict[tuple[int, int], str] = {}
        for row in ws.iter_rows(min_row=1, max_row=FONT_SAMPLE_ROWS):
            for c in row:
                if getattr(c, "value", None) is None:
                    continue
                font = getattr(c, "font", None)
                if font is not None and font.name:
                    fonts[(c.row - 1, c.column - 1)] = font.name
        return fonts
    except Exception:
        return None
    finally:
        wb.close()


# --------------------------------------------------------------------------- text files

def _decode_text(data: bytes) -> tuple[str, str]:
    """Text of a CSV/HTML file and its byte encoding (:func:`portal.vn.text.decode_bytes`)."""
    return vntext.decode_bytes(data)


def _looks_binary(text: str) -> bool:
    """True for data that is no text file at all (many control characters). A stray NUL
    in otherwise plain text is not this: :func:`_read_csv` names its row and column."""
    sample = text[:8192]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n\f") or ch == "\ufffd")
    return bad > max(2, len(sample) // 50)


def _legacy_text(text: str, enc: str, data: bytes) -> tuple[str, str | None]:
    """Re-read a text file whose characters are a legacy 8-bit encoding.

    Returns the text to parse (as Latin-1 characters when legacy) and the legacy encoding.
    A Windows-1258 decoding full of Vietnamese letters is kept as it is: its bytes read
    as Latin-1 would otherwise pass for TCVN3.
    """
    def sample(t: str) -> list[str]:
        return [f for f in re.split(r"[;,\t\r\n]", t[:200_000]) if f and not f.isascii()][:2000]

    if enc.lower().replace("_", "-").startswith("utf"):
        fields = sample(text)
        if not any(_maybe_legacy(f) for f in fields):
            return text, None
        legacy = vntext.detect_legacy(fields)
        return (text, legacy) if legacy else (text, None)
    if not vntext.detect_legacy(sample(text)):
        return text, None
    raw = data.decode("latin-1")
    legacy = vntext.detect_legacy(sample(raw))
    return (raw, legacy) if legacy else (text, None)


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()][:30]
    best, best_score = ",", (-1, -1)
    for delim in (";", ",", "\t", "|"):
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        except csv.Error:  # e.g. a cell longer than the csv module takes: not this delimiter
            continue
        multi = [n for n in counts if n > 1]
        if not multi:
            continue
        mode = max(set(multi), key=multi.count)
        score = (multi.count(mode), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def _utf16_without_bom(data: bytes) -> str | None:
    """``"utf-16-le"``/``"utf-16-be"`` for text saved as UTF-16 with no byte-order mark (every
    other byte of its Latin letters and digits is NUL), else ``None``."""
    head = data[:4096]
    if len(head) < 4 or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if odd > 0.4 * len(head[1::2]) and even < 0.05 * len(head[0::2]):
        return "utf-16-le"
    if even > 0.4 * len(head[0::2]) and odd < 0.05 * len(head[1::2]):
        return "utf-16-be"
    return None


def _read_csv(data: bytes) -> Sheet:
    utf16 = _utf16_without_bom(data)
    if utf16:  # decoded with its byte-order mark put back, as Excel's "Unicode text" reads
        data = (b"\xff\xfe" if utf16 == "utf-16-le" else b"\xfe\xff") + data
    if max(data.count(b"\n"), data.count(b"\r")) > MAX_ROWS:
        raise FileProblem("too_large")
    text, enc = _decode_text(data)
    if _looks_binary(text):
        raise FileProblem("unreadable")
    text, legacy = _legacy_text(text, enc, data)
    if text.startswith("\ufeff"):
        text = text[1:]
    delim = _sniff_delimiter(text)
    clean = _TextCleaner(legacy)
    rows: list[list] = []
    cells = 0
    # Excel writes a bare CR inside quoted cells; csv handles it with newline="".
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        for rec in reader:
            if len(rec) > MAX_COLS:
                raise FileProblem("too_far", extent.far_message(None, len(rows), len(rec) - 1))
            cells += len(rec)
            if cells > MAX_CELLS:
                raise FileProblem("too_large", f"Tệp quá lớn: hơn {extent.fmt_n(MAX_CELLS)} ô (tới dòng "
                                               f"{extent.fmt_n(len(rows) + 1)}). Hãy chia tệp theo thôn hoặc "
                                               "theo chương trình.")
            for c, v in enumerate(rec):
                if len(v) > MAX_CELL_CHARS:
                    raise _cell_too_long(None, len(rows), c, len(v))
                if "\x00" in v:
                    raise FileProblem("nul", f"Dòng {len(rows) + 1}, cột {extent.col_letters(c)} "
                                             f"(cột thứ {c + 1}) có ký tự NUL (mã 0): tệp bị hỏng "
                                             f"hoặc dán từ phần mềm khác. Hãy xoá ký tự đó (mở "
                                             f"tệp bằng Excel, gõ lại ô), lưu lại rồi tải lên.")
            rows.append([clean(v) if v.strip() else None for v in rec])
    except csv.Error as exc:
        raise FileProblem("unreadable", f"Không đọc được tệp CSV từ dòng {reader.line_num}: một ô quá "
                                        f"dài hoặc dấu ngoặc kép không đóng.") from exc
    return Sheet(name=None, rows=rows, fonts=None, encoding=legacy or enc)


# --------------------------------------------------------------------------- HTML / XML

class _TableParser(HTMLParser):
    """Collects ``<tr>``/``<td>`` (Excel "Web page" .xls) or SpreadsheetML
    ``<Worksheet>/<Row>/<Cell>/<Data>`` (XML Spreadsheet 2003) into sheets.

    Sparse by construction: a sheet keeps only the rows and cells that hold something, so
    ``ss:Index="60000000"`` or ``rowspan="100000000"`` allocates nothing. Every position,
    index and span is checked against the limits of :mod:`portal.sheets.extent` before it
    is used, and :class:`~portal.sheets.extent.TooFar` names the sheet and the cell.
    Rowspans are tracked per column (the row up to which a column is covered), so a span
    costs its width, never its area.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sheets: list[dict] = []
        self._sheet = None
        self._row = None        # {col: value} of the current row
        self._cell = None       # dict while inside a cell
        self._skip = 0          # inside <style>/<script>/<head>
        self._col = 0
        self._row_index = -1
        self._xml = False

    def _ensure_sheet(self, name=None):
        if self._sheet is None:
            self._sheet = {"name": name, "rows": {}, "merged": [], "covered": {},
                           "next_row": 0, "cells": 0, "uncalculated": []}
            self.sheets.append(self._sheet)
        return self._sheet

    def _check(self, row, col, what="có dữ liệu ở"):
        if row >= extent.MAX_ROWS or col >= extent.MAX_COLS:
            raise extent.TooFar("far", extent.far_message(self._sheet["name"], row, col, what))

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in ("style", "script", "head", "title"):
            self._skip += 1
            return
        if tag == "worksheet":
            self._xml = True
            self._sheet = None
            self._ensure_sheet(a.get("ss:name"))
        elif tag == "table" and not self._xml and self._sheet is None:
            self._ensure_sheet(None)
        elif tag in ("tr", "row"):
            if self._row is not None:  # HTML lets </tr> be omitted
                self.handle_endtag(tag)
            sheet = self._ensure_sheet()
            index = _int(a.get("ss:index"), 0) if tag == "row" else 0
            self._row_index = max(index - 1, sheet["next_row"])
            if self._row_index >= extent.MAX_ROWS:
                raise extent.TooFar("far", extent.far_message(sheet["name"], self._row_index, None, "có"))
            sheet["next_row"] = self._row_index + 1
            self._row = {}
            self._col = 0
        elif tag in ("td", "th", "cell") and self._row is not None:
            if self._cell is not None:  # HTML lets </td> be omitted
                self.handle_endtag(tag)
            covered = self._sheet["covered"]
            r = self._row_index
            if tag == "cell" and a.get("ss:index"):
                self._col = max(_int(a["ss:index"], 0) - 1, self._col)
            self._check(r, self._col)
            while covered.get(self._col, -1) >= r:
                self._col += 1
                self._check(r, self._col)
            colspan = max(_int(a.get("colspan"), 1), _int(a.get("ss:mergeacross"), 0) + 1, 1)
            rowspan = max(_int(a.get("rowspan"), 1), _int(a.get("ss:mergedown"), 0) + 1, 1)
            self._check(r + rowspan - 1, self._col + colspan - 1,
                        f"có ô gộp từ ô {extent.cell_ref(r, self._col)} kéo tới")
            self._cell = {"col": self._col, "text": [], "size": 0, "type": None,
                          "colspan": colspan, "rowspan": rowspan, "formula": a.get("ss:formula")}
        elif tag == "data" and self._cell is not None:
            self._cell["type"] = a.get("ss:type", "").lower()
        elif tag == "br" and self._cell is not None:
            self._cell["text"].append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in ("td", "th", "cell"):
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)
        else:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head", "title"):
            self._skip = max(0, self._skip - 1)
            return
        if tag in ("td", "th", "cell") and self._cell is not None:
            c = self._cell
            text = "".join(c["text"])
            r0, c0 = self._row_index, c["col"]
            if text.strip() or c["colspan"] > 1 or c["rowspan"] > 1:
                self._row[c0] = _markup_value(text, c["type"])
            elif c["formula"] and len(self._sheet["uncalculated"]) < 1000:
                # SpreadsheetML keeps a formula in ss:Formula, its value in <Data>: none saved.
                self._sheet["uncalculated"].append((r0, c0, c["formula"].lstrip("=")[:200]))
            if c["colspan"] > 1 or c["rowspan"] > 1:
                self._sheet["merged"].append(
                    ((r0, c0), (r0 + c["rowspan"] - 1, c0 + c["colspan"] - 1)))
                if c["rowspan"] > 1:
                    covered = self._sheet["covered"]
                    last = r0 + c["rowspan"] - 1
                    for col in range(c0, c0 + c["colspan"]):
                        if covered.get(col, -1) < last:
                            covered[col] = last
            self._col = c0 + c["colspan"]
            self._cell = None
        elif tag in ("tr", "row") and self._row is not None:
            if self._row:
                sheet = self._sheet
                sheet["cells"] += max(self._row) + 1
                if sheet["cells"] > extent.MAX_CELLS:
                    raise extent.TooFar("big", _MESSAGES["too_large"])
                sheet["rows"][self._row_index] = self._row
            self._row = None
        elif tag == "worksheet":
            self._sheet = None

    def handle_data(self, data):
        if self._skip or self._cell is None:
            return
        cell = self._cell
        cell["size"] += len(data)
        if cell["size"] <= 32_767:  # Excel's own limit for one cell's text
            cell["text"].append(data)


def _int(v, default):
    """``v`` as an int, ``default`` when it is not one. More than 12 digits reads as
    10**12 (beyond every limit) without converting a million digits."""
    if v is None:
        return default
    t = str(v).strip()
    if len(t) > 12:
        return 10**12 if t.lstrip("+").isdigit() else default
    try:
        return int(t)
    except ValueError:
        return default


def _dense_rows(rows: dict[int, dict[int, object]]) -> list[list]:
    """Sparse ``{row: {col: value}}`` → rows of cells, each as long as its last value."""
    if not rows:
        return []
    out: list[list] = [[] for _ in range(max(rows) + 1)]
    for r, cells in rows.items():
        out[r] = [cells.get(i) for i in range(max(cells) + 1)]
    return out


def _markup_value(text: str, typ: str | None):
    if typ == "number":
        try:
            return _clean_number(float(text))
        except ValueError:
            return text
    if typ == "datetime":
        try:
            return _clean_value(_dt.datetime.fromisoformat(text.strip()[:19]), None)
        except ValueError:
            return text
    return text


_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)
_XML_ENC = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_\-]+)""", re.I)


def _read_markup(data: bytes) -> list[Sheet]:
    head = data[:4096]
    m = _XML_ENC.search(head) or _CHARSET.search(head)
    text = enc = None
    if m and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = m.group(1).decode("ascii")
        try:
            text = data.decode(enc)
            if text.startswith("\ufeff"):
                text = text[1:]
        except (LookupError, UnicodeDecodeError):
            text = None
    if text is None:
        text, enc = _decode_text(data)
    parser = _TableParser()
    try:
        parser.feed(text)
        parser.close()
    except extent.TooFar as exc:
        raise FileProblem("too_far" if exc.kind == "far" else "too_large", exc.message) from exc
    except Exception as exc:  # html.parser is lenient; anything raised means garbage
        raise FileProblem("unreadable") from exc
    sheets = []
    for s in parser.sheets:
        raw = _dense_rows(s["rows"])
        _check_text(s["name"], raw)
        sample = _detection_sample(raw)
        legacy = vntext.detect_legacy(sample) if sample is not None else None
        clean = _TextCleaner(legacy)
        rows = [[_clean_value(v, clean) for v in r] for r in raw]
        sheets.append(Sheet(name=s["name"], rows=rows, fonts=None, encoding=legacy or enc,
                            merged=s["merged"], uncalculated=s["uncalculated"]))
    return sheets
