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
import zipfile
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from portal.vn import text as vntext

__all__ = [
    "FileProblem",
    "Sheet",
    "sniff",
    "read_workbook",
]

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
}

# A commune's list is a few hundred rows, a whole province's some 50,000: anything far
# beyond is refused before it is unpacked into memory (a zip "bomb" is a few hundred kB).
MAX_ROWS = 100_000
MAX_UNPACKED_BYTES = 150 * 1024 * 1024


class FileProblem(Exception):
    """A whole file is refused; ``code`` says why, ``message`` says it in Vietnamese.

    ``code`` is one of ``"unreadable"``, ``"no_header"``, ``"not_a_beneficiary_list"``,
    ``"empty"``.
    """

    def __init__(self, code: str, message: str | None = None):
        if code not in _MESSAGES:
            raise ValueError(f"unknown FileProblem code {code!r}")
        self.code = code
        self.message = message or _MESSAGES[code]
        super().__init__(self.message)


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
    sheet hidden in Excel.
    """

    name: str | None
    rows: list[list]
    fonts: dict[tuple[int, int], str] | None = None
    encoding: str | None = None
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    hidden: bool = False

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

def read_workbook(data: bytes, filename: str | None = None) -> list[Sheet]:
    """Every sheet of the file ``data`` with cleaned cell values.

    The format comes from :func:`sniff`, never from ``filename`` (kept for callers'
    logs: an ``.xls`` that is really an xlsx, a CSV or an HTML table reads the same). Raises
    :class:`FileProblem` ``"empty"`` for an empty file (or one whose sheets hold no value)
    and ``"unreadable"`` for corrupt or unsupported data.
    """
    if data is None or not bytes(data).strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise FileProblem("empty")
    data = bytes(data)
    kind = sniff(data)
    if kind == "xlsx":
        _check_unpacked_size(data)
    if kind in ("xlsx", "xls"):
        sheets = _read_excel(data, kind)
    elif kind == "html":
        sheets = _read_markup(data)
    else:
        sheets = [_read_csv(data)]
    if not sheets or all(s.is_empty() for s in sheets):
        raise FileProblem("empty")
    return sheets


def _check_unpacked_size(data: bytes) -> None:
    """Refuse an xlsx whose parts unpack to more than ``MAX_UNPACKED_BYTES``."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise FileProblem("unreadable") from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise FileProblem("too_large")


def _read_excel(data: bytes, kind: str) -> list[Sheet]:
    import python_calamine as pc

    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # calamine raises several error kinds and plain ValueErrors
        raise FileProblem("unreadable") from exc
    sheets: list[Sheet] = []
    try:
        meta = {m.name: m for m in (wb.sheets_metadata or [])}
        for name in wb.sheet_names:
            m = meta.get(name)
            if m is not None and m.typ != pc.SheetTypeEnum.WorkSheet:
                continue
            try:
                cs = wb.get_sheet_by_name(name)
                if cs.total_height > MAX_ROWS:
                    raise FileProblem("too_large")
                raw = cs.to_python(skip_empty_area=False)
                merged = [tuple(map(tuple, r)) for r in (cs.merged_cell_ranges or [])]
            except FileProblem:
                raise
            except Exception as exc:
                raise FileProblem("unreadable") from exc
            hidden = m is not None and m.visible != pc.SheetVisibleEnum.Visible
            xlsx_data = data if kind == "xlsx" else None
            sheets.append(_finish_sheet(name, raw, merged, hidden, xlsx_data))
    finally:
        try:
            wb.close()
        except Exception:  # pragma: no cover
            pass
    return sheets


def _detection_sample(raw: list[list], limit: int = 3000) -> list[str] | None:
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


def _finish_sheet(name, raw, merged, hidden, xlsx_data) -> Sheet:
    """Detect a legacy encoding for this sheet and clean every cell."""
    encoding = None
    fonts = None
    sample = _detection_sample(raw)
    if sample is not None:
        encoding = vntext.detect_legacy(sample)
        if xlsx_data is not None:
            fonts = _sample_fonts(xlsx_data, name)
            if encoding is None and fonts:
                encoding = vntext.detect_legacy(sample, fonts=sorted(set(fonts.values())))
    clean = _TextCleaner(encoding)
    rows = []
    for r, cells in enumerate(raw):
        if fonts and encoding == "tcvn3" and r < FONT_SAMPLE_ROWS:
            rows.append([
                _clean_value(v, clean, vntext.is_upper_font(fonts.get((r, c))))
                for c, v in enumerate(cells)
            ])
        else:
            rows.append([_clean_value(v, clean) for v in cells])
    return Sheet(name=name, rows=rows, fonts=fonts, encoding=encoding, merged=merged,
                 hidden=hidden)


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
    sample = text[:8192]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n\f") or ch == "\ufffd")
    return "\x00" in sample or bad > max(2, len(sample) // 50)


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


def _read_csv(data: bytes) -> Sheet:
    if data.count(b"\n") > MAX_ROWS:
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
    # Excel writes a bare CR inside quoted cells; csv handles it with newline="".
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        for rec in reader:
            rows.append([clean(v) if v.strip() else None for v in rec])
    except csv.Error as exc:
        raise FileProblem("unreadable", f"Không đọc được tệp CSV từ dòng {reader.line_num}: một ô quá "
                                        f"dài hoặc dấu ngoặc kép không đóng.") from exc
    return Sheet(name=None, rows=rows, fonts=None, encoding=legacy or enc)


# --------------------------------------------------------------------------- HTML / XML

class _TableParser(HTMLParser):
    """Collects ``<tr>``/``<td>`` (Excel "Web page" .xls) or SpreadsheetML
    ``<Worksheet>/<Row>/<Cell>/<Data>`` (XML Spreadsheet 2003) into sheets."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sheets: list[dict] = []
        self._sheet = None
        self._row = None        # list of (col, value) in the current row
        self._cell = None       # dict while inside a cell
        self._skip = 0          # inside <style>/<script>/<head>
        self._pending = {}      # (row, col) -> True for cells covered by a rowspan
        self._col = 0
        self._row_index = -1
        self._xml = False

    # sheet helpers
    def _ensure_sheet(self, name=None):
        if self._sheet is None:
            self._sheet = {"name": name, "rows": [], "merged": [], "pending": {}}
            self.sheets.append(self._sheet)
        return self._sheet

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
            if tag == "row" and a.get("ss:index", "").isdigit():
                while len(sheet["rows"]) < int(a["ss:index"]) - 1:
                    sheet["rows"].append([])
            self._row = {}
            self._row_index = len(sheet["rows"])
            self._col = 0
        elif tag in ("td", "th", "cell") and self._row is not None:
            if self._cell is not None:  # HTML lets </td> be omitted
                self.handle_endtag(tag)
            sheet = self._sheet
            if tag == "cell" and a.get("ss:index", "").isdigit():
                self._col = int(a["ss:index"]) - 1
            while (self._row_index, self._col) in sheet["pending"]:
                self._col += 1
            colspan = _int(a.get("colspan") or (int(a.get("ss:mergeacross", "0") or 0) + 1), 1)
            rowspan = _int(a.get("rowspan") or (int(a.get("ss:mergedown", "0") or 0) + 1), 1)
            self._cell = {"col": self._col, "text": [], "type": None,
                          "colspan": max(colspan, 1), "rowspan": max(rowspan, 1)}
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
            value = _markup_value(text, c["type"])
            self._row[c["col"]] = value
            r0, c0 = self._row_index, c["col"]
            if c["colspan"] > 1 or c["rowspan"] > 1:
                self._sheet["merged"].append(
                    ((r0, c0), (r0 + c["rowspan"] - 1, c0 + c["colspan"] - 1)))
                for dr in range(c["rowspan"]):
                    for dc in range(c["colspan"]):
                        if dr or dc:
                            self._sheet["pending"][(r0 + dr, c0 + dc)] = True
            self._col = c0 + c["colspan"]
            self._cell = None
        elif tag in ("tr", "row") and self._row is not None:
            width = max(self._row) + 1 if self._row else 0
            self._sheet["rows"].append([self._row.get(i) for i in range(width)])
            self._row = None
        elif tag == "worksheet":
            self._sheet = None
        elif tag == "table" and not self._xml:
            pass

    def handle_data(self, data):
        if self._skip:
            return
        if self._cell is not None:
            self._cell["text"].append(data)


def _int(v, default):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


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
    except Exception as exc:  # html.parser is lenient; anything raised means garbage
        raise FileProblem("unreadable") from exc
    sheets = []
    for s in parser.sheets:
        raw = s["rows"]
        sample = _detection_sample(raw)
        legacy = vntext.detect_legacy(sample) if sample is not None else None
        clean = _TextCleaner(legacy)
        rows = [[_clean_value(v, clean) for v in r] for r in raw]
        sheets.append(Sheet(name=s["name"], rows=rows, fonts=None, encoding=legacy or enc,
                            merged=s["merged"]))
    return sheets
