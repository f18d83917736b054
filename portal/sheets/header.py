"""Find the header of a beneficiary list and walk its rows.

Commune lists (``design/domain.md`` §9) put a title block above a header that may span
two rows (a merged parent such as "Ngày, tháng, năm sinh" over "Nam" / "Nữ"), often a row
numbering the columns, then person rows — sometimes under village sub-headings — then a
totals row and a signature block. This module maps header words to canonical fields and
classifies every row below the header.

Canonical fields: ``seq``, ``name``, ``birth``, ``birth_male``, ``birth_female``, ``sex``,
``national_id``, ``village``, ``category``, ``coefficient``, ``amount``,
``account_number``, ``bank``, ``account_holder``, ``holder_relation``, ``household``,
``payment_method``, ``phone``, ``note``, ``status`` (tình trạng: đang hưởng, đã chết…);
and, so that their columns are not mistaken for the ones above: ``proxy_name`` (người nhận thay / giám hộ / được ủy quyền),
``proxy_national_id``, ``sex_male`` / ``sex_female`` ("x" marks under a "Giới tính"
parent), ``id_issue_date``, ``id_issue_place``, ``beneficiary_code`` (mã đối tượng); ``commune`` (a "Xã", "Xã/Phường"
column naming the commune of each row), ``start_month`` ("Hưởng từ tháng", "Ngày hưởng",
"Thời điểm hưởng") and ``end_month`` ("Thôi hưởng từ").
"""
from __future__ import annotations

import datetime as _dt
import functools
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from portal.vn.text import fold

from .reader import FileProblem, Sheet, read_workbook

__all__ = [
    "FIELDS",
    "HeaderMap",
    "RowOut",
    "find_header",
    "find_lists",
    "read_lists",
    "title_text",
    "find_month",
    "iter_rows",
    "data_rows",
    "is_footer_or_total",
]

#: How many rows from the top are searched for the header.
HEADER_SCAN_ROWS = 40

FIELDS = (
    "seq", "name", "birth", "birth_male", "birth_female", "sex", "national_id", "village",
    "category", "coefficient", "amount", "account_number", "bank", "account_holder",
    "holder_relation", "household", "payment_method", "phone", "note",
    "proxy_name", "proxy_national_id", "sex_male", "sex_female", "id_issue_date",
    "id_issue_place", "beneficiary_code", "commune", "start_month", "end_month", "status",
)

#: A list needs a name column and one of these to tell people apart.
_IDENTIFYING = ("birth", "birth_male", "birth_female", "national_id")

# Person-data fields: a row holding any of these is a person, whatever its name cell says.
_PERSON_DATA = ("birth", "birth_male", "birth_female", "national_id", "sex", "sex_male",
                "sex_female", "account_number")

X, W = "exact", "words"

# field -> [(pattern on the folded key, mode, weight)]; weight defaults to len(pattern).
# "exact" needs the whole header to be the pattern, "words" finds it as whole words.
_PATTERNS: dict[str, list[tuple]] = {
    "seq": [("stt", X), ("tt", X), ("so tt", X), ("so thu tu", W), ("thu tu", X)],
    "name": [("ho va ten", W), ("ho ten", W), ("ho ten doi tuong", W),
             ("ho va ten doi tuong", W), ("ten doi tuong", W), ("ten", X),
             ("ho va ten nguoi huong", W), ("ho ten nguoi huong", W),
             ("ten nguoi huong", W), ("ho va ten nguoi co cong", W)],
    "birth": [("ngay sinh", W), ("ngay thang nam sinh", W), ("nam sinh", W),
              ("sinh ngay", W), ("sinh nam", W), ("ns", X), ("ngay thang sinh", W)],
    "sex": [("gioi tinh", W), ("nam nu", X), ("nam hoac nu", X), ("phai", X), ("gioi", X)],
    "national_id": [("so cccd", W), ("cccd", W), ("so dinh danh", W), ("dinh danh", W),
                    ("cmnd", W), ("so cmnd", W), ("cccd cmnd", W), ("so ddcn", W),
                    ("ddcn", W), ("can cuoc", W), ("so can cuoc", W), ("cmt", W),
                    ("ma dinh danh", W), ("so dinh danh ca nhan", W),
                    ("can cuoc cong dan", W), ("chung minh nhan dan", W)],
    "village": [("thon", W, 20), ("to dan pho", W, 20), ("thon to", W, 21), ("xom", W, 20),
                ("ap", X, 20), ("khu pho", W, 20), ("dia chi", W), ("noi o", W),
                ("noi cu tru", W), ("thuong tru", W), ("cho o", W), ("to", X),
                ("thon xom", W, 21), ("dia ban", W)],
    "category": [("doi tuong", W), ("loai doi tuong", W), ("dien", W), ("nhom doi tuong", W),
                 ("dien huong", W), ("dien doi tuong", W), ("phan loai", W),
                 ("loai", X), ("nhom", X), ("dien tro cap", W)],
    "coefficient": [("he so", W)],
    "amount": [("muc tro cap", W), ("so tien", W), ("muc huong", W), ("muc tc", W),
               ("thanh tien", W), ("so tien hang thang", W), ("tien tro cap", W),
               ("muc chi tra", W), ("so tien chi tra", W), ("so tien duoc huong", W),
               ("muc tro cap hang thang", W), ("tro cap", W), ("muc tien", W),
               ("so tien tro cap", W), ("muc uu dai", W), ("tro cap hang thang", W)],
    "account_number": [("so tai khoan", W), ("stk", W), ("so tk", W), ("tai khoan so", W),
                       ("so tai khoan vi", W), ("so vi", W), ("tk", X), ("so", X)],
    "bank": [("ngan hang", W), ("ten ngan hang", W), ("noi mo tk", W),
             ("noi mo tai khoan", W), ("ngan hang mo tk", W), ("ngan hang vi", W),
             ("to chuc cung ung", W), ("vi dien tu", W)],
    "account_holder": [("chu tai khoan", W), ("chu tk", W), ("ten chu tk", W),
                       ("ten chu tai khoan", W), ("ho ten chu tai khoan", W),
                       ("ho ten chu tk", W), ("ten tai khoan", W), ("ten tk", W)],
    "holder_relation": [("quan he", W), ("quan he voi doi tuong", W),
                        ("quan he voi nguoi huong", W), ("moi quan he", W)],
    "household": [("chu ho", W), ("ma ho", W), ("ho so", X), ("so ho", X),
                  ("ho va ten chu ho", W, 30), ("ho ten chu ho", W, 30), ("ma so ho", W)],
    "payment_method": [("hinh thuc chi tra", W), ("hinh thuc nhan", W), ("hinh thuc", W),
                       ("phuong thuc chi tra", W), ("phuong thuc nhan", W),
                       ("hinh thuc nhan tro cap", W)],
    "phone": [("so dien thoai", W), ("sdt", W), ("dien thoai", W), ("so dt", W), ("dt", X),
              ("dtdd", W)],
    "note": [("ghi chu", W)],
    # A status column ("Tình trạng": đang hưởng / đã chết / chuyển đi); not an account's.
    "status": [("tinh trang", X), ("trang thai", X), ("tinh trang huong", W), ("trang thai huong", W),
               ("tinh trang doi tuong", W), ("tinh hinh huong", W)],
    "proxy_name": [("nguoi nhan thay", W), ("nguoi duoc uy quyen", W), ("nguoi giam ho", W),
                   ("nguoi nhan ho", W), ("ho ten nguoi nhan thay", W),
                   ("nguoi uy quyen", W), ("nguoi nhan tro cap thay", W)],
    "id_issue_date": [("ngay cap", W, 30)],
    "id_issue_place": [("noi cap", W, 30)],
    # A column naming the commune of each row (not "Địa chỉ": that one is the village's).
    "commune": [("xa", X, 20), ("xa phuong", X, 20), ("phuong xa", X, 20),
                ("xa phuong thi tran", X, 20), ("xa thi tran", X, 20), ("ten xa", W, 20),
                ("xa phuong dac khu", X, 20)],
    "start_month": [("huong tu thang", W, 30), ("huong tu", W, 25), ("ngay huong", W, 30),
                    ("thoi diem huong", W, 30), ("thang bat dau huong", W, 30),
                    ("ngay bat dau huong", W, 30), ("bat dau huong", W, 30),
                    ("thoi gian bat dau huong", W, 32)],
    "end_month": [("thoi huong", W, 40), ("thoi huong tu", W, 41), ("thoi huong tu thang", W, 42),
                  ("ngay thoi huong", W, 41), ("thang thoi huong", W, 41), ("cat giam tu", W, 40),
                  ("dung huong tu", W, 40)],
    "beneficiary_code": [("ma doi tuong", W, 30), ("ma so doi tuong", W, 30),
                         ("ma nguoi co cong", W, 30)],
}

_PARENT_BIRTH = re.compile(r"\b(ngay sinh|nam sinh|ngay thang nam sinh|sinh)\b")
_PARENT_SEX = re.compile(r"\b(gioi tinh|gioi)\b")
_PARENT_PROXY = re.compile(r"\b(nguoi nhan thay|nguoi duoc uy quyen|nguoi giam ho|"
                           r"nguoi nhan ho|nguoi uy quyen|nhan thay|nguoi nhan)\b")
_PARENT_ACCOUNT = re.compile(r"\b(tai khoan|tk|thong tin tai khoan|vi dien tu)\b")


def _key(value) -> str:
    """Folded header/cell text as space-separated lowercase ASCII words."""
    if value is None:
        return ""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return ""
    return _key_str(str(value))


@functools.lru_cache(maxsize=65536)
def _key_str(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", fold(s)).strip()


@functools.cache
def _pattern_index():
    """``(exact, words)``: pattern → best ``(weight, field)`` for each matching mode."""
    exact: dict[str, tuple[int, str]] = {}
    words: dict[str, tuple[int, str]] = {}
    for fld, pats in _PATTERNS.items():
        for p in pats:
            pat, mode = p[0], p[1]
            weight = p[2] if len(p) > 2 else len(pat)
            table = exact if mode == X else words
            if pat not in table or weight > table[pat][0]:
                table[pat] = (weight, fld)
    return exact, words


_MAX_PATTERN_WORDS = max(len(p[0].split()) for ps in _PATTERNS.values() for p in ps)


@functools.lru_cache(maxsize=65536)
def _match(key: str) -> tuple[int, str] | None:
    """Best ``(score, field)`` for a folded header ``key``, or ``None``.

    An exact pattern equal to the whole key scores 1000 + weight; a words pattern equal
    to the whole key 500 + weight; a words pattern found as whole words inside the key
    its weight. The best score wins.
    """
    if not key:
        return None
    exact, words = _pattern_index()
    best = None
    hit = exact.get(key)
    if hit:
        best = (1000 + hit[0], hit[1])
    parts = key.split(" ")
    n = len(parts)
    for i in range(n):
        for j in range(i + 1, min(n, i + _MAX_PATTERN_WORDS) + 1):
            hit = words.get(" ".join(parts[i:j]))
            if hit:
                score = hit[0] + (500 if (i, j) == (0, n) else 0)
                if best is None or score > best[0]:
                    best = (score, hit[1])
    return best


def _match_in_context(parent_key: str, sub_key: str) -> tuple[int, str] | None:
    """Match a sub-header under its merged parent (two-row headers)."""
    if _PARENT_BIRTH.search(parent_key) and not _PARENT_SEX.search(parent_key):
        if sub_key == "nam":
            return (2000, "birth_male")
        if sub_key == "nu":
            return (2000, "birth_female")
    if _PARENT_SEX.search(parent_key):
        if sub_key == "nam":
            return (2000, "sex_male")
        if sub_key == "nu":
            return (2000, "sex_female")
    m = _match(sub_key)
    if _PARENT_PROXY.search(parent_key):
        if m is None or m[1] == "name":
            return (1500, "proxy_name")
        if m[1] == "national_id":
            return (1500, "proxy_national_id")
        return m
    if _PARENT_ACCOUNT.search(parent_key) and m is not None:
        if m[1] == "name":
            return (1500, "account_holder")
        return m
    if m is None and parent_key:
        return _match(f"{parent_key} {sub_key}")
    return m


# --------------------------------------------------------------------------- header

@dataclass
class HeaderMap:
    """Where a list's header is and what each column holds.

    ``header_rows`` and ``first_data_row`` are 0-based row indexes into ``Sheet.rows``;
    ``columns`` maps a canonical field to its 0-based column; ``labels`` maps the field to
    the header text as shown (``"Ngày tháng năm sinh - Nam"`` for a two-row header);
    ``numbering_row`` is the 0-based index of the (1) (2) (3)… row, if any.
    """

    header_rows: tuple[int, ...]
    first_data_row: int
    columns: dict[str, int]
    labels: dict[str, str]
    numbering_row: int | None = None

    @property
    def excel_header_row(self) -> int:
        """1-based row number of the (last) header row, as Excel shows it."""
        return self.header_rows[-1] + 1


def _text(v) -> str | None:
    if isinstance(v, str):
        return v.strip() or None
    return None


_NUMBERISH = re.compile(r"^[\d\s.,/()\-+:]+$")


def _assign(candidates: list[tuple[int, int, str, str]]):
    """Greedy: best score first; each column and each field used once. A column whose
    best field is taken by a better column stays unmapped (no fallback to a weaker
    guess)."""
    columns: dict[str, int] = {}
    labels: dict[str, str] = {}
    for _score, col, fld, label in sorted(candidates, key=lambda t: (-t[0], t[1])):
        if fld in columns:
            continue
        columns[fld] = col
        labels[fld] = label
    return columns, labels


def _single_row(sheet: Sheet, r: int):
    cands = []
    for c, v in enumerate(sheet.rows[r]):
        t = _text(v)
        if not t:
            continue
        m = _match(_key(t))
        if m:
            cands.append((m[0], c, m[1], t))
    return _assign(cands)


def _parent_of(sheet: Sheet, r: int, c: int) -> str | None:
    """Parent header text above sub-header cell ``(r + 1, c)``."""
    t = _text(sheet.cell(r, c))
    if t:
        return t
    for (r0, c0), (_r1, c1) in sheet.merged:
        if r0 == r and c0 <= c <= c1:
            return _text(sheet.cell(r0, c0))
    # No merge recorded (CSV, or cells centred across without merging): carry the parent
    # rightwards over a run of sub-headers.
    k = c - 1
    while k >= 0:
        top, sub = _text(sheet.cell(r, k)), _text(sheet.cell(r + 1, k))
        if not sub:
            return None
        if top:
            return top
        k -= 1
    return None


def _is_sub_header_row(sheet: Sheet, r: int) -> bool:
    """Is row ``r + 1`` the lower half of a two-row header starting at ``r``?"""
    if r + 1 >= len(sheet.rows):
        return False
    sub = sheet.rows[r + 1]
    filled = [(c, v) for c, v in enumerate(sub) if v is not None]
    if not filled:
        return False
    known = False
    under_gap = False
    for c, v in filled:
        if not isinstance(v, str) or _NUMBERISH.match(v):
            return False
        k = _key(v)
        if k in ("nam", "nu") or _match(k):
            known = True
        if _text(sheet.cell(r, c)) is None:
            under_gap = True
    return known and under_gap


def _two_row(sheet: Sheet, r: int):
    width = max(len(sheet.rows[r]), len(sheet.rows[r + 1]))
    cands = []
    for c in range(width):
        sub = _text(sheet.cell(r + 1, c))
        top = _text(sheet.cell(r, c))
        if sub:
            parent = _parent_of(sheet, r, c)
            label = f"{parent} - {sub}" if parent else sub
            m = _match_in_context(_key(parent), _key(sub))
        elif top:
            label = top
            m = _match(_key(top))
        else:
            continue
        if m:
            cands.append((m[0], c, m[1], label))
    return _assign(cands)


def _valid(columns: dict[str, int]) -> bool:
    return "name" in columns and any(f in columns for f in _IDENTIFYING)


_NUMBERING_TOKEN = re.compile(
    r"^\(?\s*(\d{1,2}|[A-Za-z])\s*\)?(\s*[=x*+\-/:]\s*\(?\s*(\d{1,2}|[A-Za-z])\s*\)?)*$")


def _is_numbering_row(cells: list) -> bool:
    """The row numbering the columns: (1) (2) (3)…, 1 2 3…, A B C…"""
    filled = [v for v in cells if v is not None]
    if len(filled) < 2:
        return False
    for v in filled:
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            if not (0 <= v <= 100 and float(v).is_integer()):
                return False
        elif isinstance(v, str):
            if not _NUMBERING_TOKEN.match(v.strip()):
                return False
        else:
            return False
    return True


def find_header(sheet: Sheet) -> HeaderMap | None:
    """The beneficiary-list header of ``sheet``, or ``None`` if it has none.

    Scans the first ``HEADER_SCAN_ROWS`` rows for the row (or pair of rows, for a merged
    two-row header) recognising the most fields; it must recognise ``name`` and one of
    ``birth``/``birth_male``/``birth_female``/``national_id``. A column-numbering row
    right below the header is skipped.
    """
    best = None  # (score, header_rows, columns, labels)
    limit = min(len(sheet.rows), HEADER_SCAN_ROWS)
    for r in range(limit):
        if not any(isinstance(v, str) for v in sheet.rows[r]):
            continue
        columns, labels = _single_row(sheet, r)
        if _valid(columns) and (best is None or len(columns) > best[0]):
            best = (len(columns), (r,), columns, labels)
        if "name" in columns and len(columns) >= 2 and _is_sub_header_row(sheet, r):
            columns2, labels2 = _two_row(sheet, r)
            if _valid(columns2) and len(columns2) > len(columns) and (
                    best is None or len(columns2) > best[0]):
                best = (len(columns2), (r, r + 1), columns2, labels2)
    if best is None:
        return None
    _, rows, columns, labels = best
    first = rows[-1] + 1
    numbering = None
    if first < len(sheet.rows) and _is_numbering_row(sheet.rows[first]):
        numbering = first
        first += 1
    return HeaderMap(header_rows=rows, first_data_row=first, columns=columns, labels=labels,
                     numbering_row=numbering)


def _table_like_score(sheet: Sheet) -> int:
    """Most fields recognised on one row near the top (for telling 'no header' from 'not
    a beneficiary list')."""
    best = 0
    for r in range(min(len(sheet.rows), HEADER_SCAN_ROWS)):
        columns, _ = _single_row(sheet, r)
        best = max(best, len(columns))
    return best


def find_lists(sheets: Iterable[Sheet],
               include_hidden: bool = False) -> list[tuple[Sheet, HeaderMap]]:
    """Every sheet holding a beneficiary list, with its header, in workbook order.

    Sheets hidden in Excel are skipped unless ``include_hidden``.
    """
    out = []
    for s in sheets:
        if s.hidden and not include_hidden:
            continue
        h = find_header(s)
        if h is not None:
            out.append((s, h))
    return out


def read_lists(data: bytes, filename: str | None = None) -> list[tuple[Sheet, HeaderMap]]:
    """Read a file and return its beneficiary lists.

    Raises :class:`FileProblem`: ``"empty"``/``"unreadable"`` from
    :func:`~portal.sheets.reader.read_workbook`, ``"not_a_beneficiary_list"`` when a sheet
    has a table header without a name and a birth/ID column, ``"no_header"`` otherwise.
    """
    sheets = read_workbook(data, filename)
    lists = find_lists(sheets)
    if lists:
        return lists
    if any(_table_like_score(s) >= 3 for s in sheets if not s.hidden):
        raise FileProblem("not_a_beneficiary_list")
    raise FileProblem("no_header")


# --------------------------------------------------------------------------- title

def title_text(sheet: Sheet, header: HeaderMap) -> str:
    """Text of the rows above the header, one line per row (cells joined by a space)."""
    lines = []
    for r in range(header.header_rows[0]):
        parts = [v for v in sheet.rows[r] if isinstance(v, str) and v.strip()]
        if parts:
            lines.append(" ".join(parts))
    return "\n".join(lines)


def find_month(sheet: Sheet, header: HeaderMap | None) -> str | None:
    """The month a list is for, ``"YYYY-MM"``, from its title lines (then its sheet name)."""
    from portal.vn.dates import parse_month

    texts = []
    if header is not None:
        title = title_text(sheet, header)
        texts.extend(title.splitlines())
        if title:
            texts.append(title.replace("\n", " "))
    if sheet.name:
        texts.append(sheet.name)
    for t in texts:
        m = parse_month(t)
        if m:
            return m
    return None


# --------------------------------------------------------------------------- rows

@dataclass
class RowOut:
    """One row below the header.

    ``kind``: ``"person"`` (a beneficiary), ``"group"`` (a sub-heading such as
    "I. Thôn Phước Hòa"; its text in ``group_label``), ``"total"`` (the totals row, or a
    sub-total such as "Cộng thôn …"), ``"footer"`` (signature block, and everything after
    the grand total), ``"blank"``, or ``"other"`` (a repeated header, a stray note: nothing
    to import). ``excel_row`` is 1-based; ``cells`` maps each mapped field to its value.
    """

    kind: str
    excel_row: int
    cells: dict[str, object]
    group_label: str | None = None


_TOTAL = re.compile(
    r"^(tong cong|tong so|tong|cong)( (toan xa|toan phuong|toan thi tran|chung|ca))?"
    r"( (so tien|so nguoi|so doi tuong|tien|nguoi|doi tuong))?( \d[\d ]*)?"
    r"( (nguoi|doi tuong|ho|dong|d))?$")
_SUBTOTAL = re.compile(
    r"^(cong|tong cong|tong) (thon|xom|to|ap|khu|khu pho|nhom|dien|doi tuong|loai|muc|"
    r"[ivx]+|[a-h])( |$)")
_FOOTER_WORDS = (
    "nguoi lap", "lap bieu", "ke toan", "thu quy", "chu tich", "pho chu tich", "tm ubnd",
    "tm uy ban", "kt chu tich", "xac nhan", "thu truong", "truong thon", "truong ban",
    "can bo", "cong chuc", "ky ghi ro", "ky ten", "ky va ghi ro", "ky dong dau",
    "ky ho ten", "giam doc", "noi nhan", "duyet", "uy ban nhan dan", "ubnd",
    "so tien bang chu", "bang chu", "nguoi kiem tra", "nguoi duyet",
)
_DATE_LINE = re.compile(r"\bngay\b.{0,25}\bthang\b.{0,25}\bnam\b")
_GROUP_WORDS = re.compile(
    r"^(thon|xom|to dan pho|to|ap|khu pho|khu|doi tuong|dien|nhom|loai|buon|lang|"
    r"btxh|ncc|nguoi co cong|bao tro|tro cap|danh sach)\b")
_ENUMERATOR = re.compile(r"^\s*([IVXLCivxlc]+|[A-Za-z]|\d{1,3})\s*[.)/:\-]\s*")
_ROMAN_OR_LETTER = re.compile(r"^\s*([IVXLC]+|[A-Za-z])\s*[.)]?\s*$")


def _is_total_key(k: str) -> str | None:
    """``"grand"`` for a totals row, ``"sub"`` for a sub-total, else ``None``."""
    if not k:
        return None
    if _TOTAL.match(k):
        return "grand"
    if _SUBTOTAL.match(k):
        return "sub"
    return None


def _is_footer_key(k: str) -> bool:
    if not k:
        return False
    if k.startswith(_FOOTER_WORDS):
        return True
    return bool(_DATE_LINE.search(k))


def _is_int_like(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, float):
        return v.is_integer()
    if isinstance(v, str):
        return v.strip().isdigit()
    return False


def _is_header_word(v) -> bool:
    """Is the cell a header word itself ("Họ và tên", "Ngày sinh")?"""
    if not isinstance(v, str):
        return False
    m = _match(_key(v))
    return bool(m and m[0] >= 500)


def _plausible_name(v) -> bool:
    if not isinstance(v, str):
        return False
    letters = sum(ch.isalpha() for ch in v)
    if letters < 2:
        return False
    return not _is_header_word(v)


def _classify(row: list, header: HeaderMap) -> tuple[str, str | None, bool]:
    """``(kind, group_label, ends_list)`` for one row, without state."""
    filled = [(c, v) for c, v in enumerate(row) if v is not None]
    if not filled:
        return "blank", None, False
    cols = header.columns

    def get(f):
        c = cols.get(f)
        return row[c] if c is not None and c < len(row) else None

    if _is_numbering_row(row):
        return "other", None, False
    name = get("name")
    if _is_header_word(name) and sum(_is_header_word(get(f)) for f in cols) >= 2:
        return "other", None, False  # the header repeated (a printed page break)
    has_pdata = any(get(f) is not None for f in _PERSON_DATA)
    texts = [(c, v) for c, v in filled if isinstance(v, str)]
    if not has_pdata:
        lead = texts[0][1] if texts else None
        for cand in ([lead] if lead else []) + ([name] if isinstance(name, str) else []):
            t = _is_total_key(_key(cand))
            if t:
                return "total", None, t == "grand"
        named = _plausible_name(name) and not _is_footer_key(_key(name))
        if not named and any(_is_footer_key(_key(v)) for _, v in texts):
            return "footer", None, True
        seq = get("seq")
        if not (_is_int_like(seq) and _plausible_name(name)) and texts:
            label_src = [v for c, v in texts if c != cols.get("seq") or not
                         _ROMAN_OR_LETTER.match(v)]
            label = " ".join(label_src).strip()
            stripped = _ENUMERATOR.sub("", label, count=1).strip() if label else ""
            k = _key(stripped)
            groupish = (
                (isinstance(seq, str) and _ROMAN_OR_LETTER.match(seq))
                or (label and _ENUMERATOR.match(label) and not _is_int_like(label))
                or _GROUP_WORDS.match(k)
                or (len(filled) <= 2 and seq is None and stripped.upper() == stripped
                    and any(ch.isalpha() for ch in stripped))
            )
            if groupish and stripped:
                return "group", stripped, False
    if has_pdata or _plausible_name(name):
        return "person", None, False
    return "other", None, False


def is_footer_or_total(row: list, header: HeaderMap) -> bool:
    """Is ``row`` (a list of cells) a totals/sub-totals row or part of a signature block?"""
    return _classify(row, header)[0] in ("total", "footer")


def iter_rows(sheet: Sheet, header: HeaderMap) -> Iterator[RowOut]:
    """Every row from ``header.first_data_row`` down, classified (see :class:`RowOut`).

    After the grand total or the first signature line, every row is ``"footer"``.
    """
    ended = False
    cols = header.columns
    for r in range(header.first_data_row, len(sheet.rows)):
        row = sheet.rows[r]
        cells = {f: (row[c] if c < len(row) else None) for f, c in cols.items()}
        if ended:
            kind, label = "footer", None
        else:
            kind, label, ends = _classify(row, header)
            ended = ends
        yield RowOut(kind=kind, excel_row=r + 1, cells=cells, group_label=label)


def data_rows(sheet: Sheet, header: HeaderMap) -> Iterator[tuple[int, list]]:
    """``(excel_row, cells)`` of each person row (1-based row number, the raw cell list)."""
    for out in iter_rows(sheet, header):
        if out.kind == "person":
            yield out.excel_row, sheet.rows[out.excel_row - 1]
