"""Importing a commune's list: file → rows → validated records → diff → one commit.

The road (the same for the upload page and ``flask import-list``):

1. ``parse(data, filename)`` reads every list sheet of the file (``portal.sheets``) and
   turns each person row into a ``ParsedRow`` (clean values + row-level issues). Only
   file-level problems raise ``FileProblem`` (unreadable, no header, not a list).
2. ``plan(parsed, commune, program)`` matches rows to the registry (reading only) and says
   what would be added, changed and left alone.
3. ``commit(plan, user, batch)`` writes it all in the caller's transaction; the caller
   commits once (all-or-nothing).

Matching (never merging two people): a row is the same person as a record of the same
commune and program when the national ID, the folded name and the birth year agree; or,
when either side has no ID, the folded name, birth year and village. An empty cell never
wipes a known value.
"""
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Account, Area, Beneficiary, Event, Finding, Household, ImportBatch
from ..sheets.header import find_month, iter_rows, read_lists, title_text
from ..sheets.extent import cell_ref, col_letters
from ..sheets.reader import FileProblem
from ..vn.banks import by_bin, check_account_number, normalise_account, resolve_bank
from ..vn.dates import parse_birth, parse_month
from ..vn.ids import parse_national_id
from ..vn.money import parse_amount
from ..vn.remarks import read_remark
from ..vn.text import fold, nfc, proper_case, same_name
from . import areas, clock, history, months
from .checks import UNPAYABLE
from . import changes as ledger
from .pension import FIRST_MONTH as HTXH_FIRST_MONTH
from .pension import PROGRAM as HTXH
from .pension import SOURCE as HTXH_SOURCE
from .pension import programs_in

__all__ = ["FileProblem", "ImportRefused", "Issue", "ParsedRow", "Parsed", "Plan", "NewGrant",
           "parse", "plan", "plan_for_code", "commit", "resolve_commune", "commune_facts", "check_reach",
           "check_month", "ISSUE_CODES"]

# code → (severity, what it means). Listed in the README.
ISSUE_CODES = {
    "missing_name": ("error", "Dòng không có họ tên: bỏ qua."),
    "missing_birth": ("error", "Dòng không có ngày hoặc năm sinh đọc được (hoặc năm sinh ở tương lai): bỏ qua."),
    "bad_birth_date": ("warning", "Ngày sinh không đọc được."),
    "missing_sex": ("warning", "Không rõ giới tính."),
    "missing_id": ("warning", "Thiếu số định danh cá nhân."),
    "id_lost_leading_zero": ("warning", "Số định danh mất số 0 ở đầu (Excel), đã khôi phục."),
    "id_scientific_notation": ("error", "Số định danh bị Excel đổi sang dạng số mũ, mất chữ số: không lưu."),
    "id_bad_format": ("error", "Số định danh không đúng 12 chữ số: không lưu."),
    "id_unknown_province": ("warning", "Mã tỉnh (3 số đầu) của số định danh không có trong danh mục."),
    "id_sex_century_mismatch": ("error", "Chữ số thứ 4 (thế kỷ, giới tính) của số định danh không khớp giới tính hoặc năm sinh."),
    "id_year_mismatch": ("error", "Chữ số 5–6 (năm sinh) của số định danh không khớp năm sinh."),
    "cmnd_only": ("warning", "Chỉ có số CMND cũ (9 số), chưa có số định danh 12 số."),
    "duplicate_id": ("warning", "Cùng số định danh với một dòng khác trong tệp."),
    "duplicate_id_registry": ("warning", "Số định danh đã có ở một hồ sơ khác (trùng lĩnh?)."),
    "stated_change": ("error", "Danh sách ghi một thay đổi: lập đề nghị chờ quyết định, chặn chi trả từ "
                      "tháng hiệu lực."),
    "stated_settled": ("info", "Thay đổi danh sách ghi đã được xử lý cho hồ sơ này: không lập đề nghị nữa."),
    "remark_not_a_change": ("warning", "Ghi chú có từ giống một thay đổi nhưng không phải của đối tượng: "
                            "không đề nghị, không chặn chi trả."),
    "bad_name": ("error", "Họ tên quá dài (trên 120 ký tự): bỏ qua."),
    "too_long": ("warning", "Nội dung quá dài, đã cắt bớt."),
    "bad_amount": ("error", "Mức trợ cấp không đọc được hoặc không hợp lý."),
    "unknown_bank": ("warning", "Không nhận ra ngân hàng / ví."),
    "account_not_digits": ("warning", "Số tài khoản có ký tự không phải chữ số."),
    "account_bad_length": ("warning", "Độ dài số tài khoản bất thường."),
    "account_is_card_number": ("warning", "Đây là số thẻ (16/19 số, đầu 9704), không phải số tài khoản."),
    "account_scientific_notation": ("error", "Số tài khoản bị Excel đổi sang dạng số mũ: không lưu."),
    "holder_not_self": ("info", "Tài khoản không đứng tên đối tượng."),
    "month_mismatch": ("warning", "Tháng ghi trên tiêu đề khác tháng đã chọn."),
    "file_differs": ("warning", "Tệp khác với điều cán bộ đã ghi (rà soát, sửa): giữ giá trị của cán bộ."),
    "program_mismatch": ("warning", "Chương trình ghi trên tiêu đề khác chương trình đã chọn."),
    "bad_start_month": ("warning", "Tháng bắt đầu hưởng không đọc được: người này được thêm như "
                        "đang hưởng (số dư đầu kỳ)."),
    "legacy_encoding": ("info", "Tệp dùng bảng mã cũ, đã chuyển sang Unicode."),
    "village_ambiguous": ("warning", "Tên thôn có ở nhiều xã cũ đã sáp nhập vào xã: không đoán là thôn nào."),
    "uncalculated_formula": ("error", "Ô có công thức nhưng tệp không lưu giá trị đã tính (tệp do "
                             "phần mềm không tính công thức tạo ra): ô được đọc là trống. Hãy mở "
                             "tệp bằng Excel, lưu lại rồi tải lên lần nữa."),
    "suspicious_text": ("warning", "Ô bắt đầu bằng =, +, - hoặc @, hoặc chứa mã HTML: thường do "
                        "dán nhầm. Nội dung được giữ như chữ (không chạy); hãy kiểm tra lại."),
}

LEGACY_ENCODINGS = ("tcvn3", "vni", "cp1258")
# Sizes of the registry's columns (models.py): longer text is cut with a warning.
MAX_LENGTHS = {"full_name": 120, "village": 120, "category": 200, "note": 2000, "phone": 20,
               "bank_text": 120}
# Above any monthly allowance (the largest NCC amounts are a few million đồng a month).
MAX_MONTHLY_AMOUNT = 100_000_000
FIELDS = ("full_name", "sex", "birth_date", "birth_year", "national_id", "legacy_id", "category",
          "coefficient", "monthly_amount", "phone", "note")
ACCOUNT_FIELDS = ("bank_bin", "bank_text", "number", "holder_name", "recipient_type")


class _Slots(Mapping):
    """A read-and-write mapping of a fixed set of keys (``__slots__``), a slot per key; a key
    never set is absent, as in a ``dict``. A province's file has 100,000 rows: eleven values
    take some 120 bytes so, against some 460 in a ``dict`` (issue 12 §4)."""

    __slots__ = ()

    def __init__(self, **values):
        for key, value in values.items():
            setattr(self, key, value)

    def __getitem__(self, key):
        if key in self.__slots__:
            try:
                return getattr(self, key)
            except AttributeError:
                pass
        raise KeyError(key)

    def __setitem__(self, key, value):
        if key not in self.__slots__:
            raise KeyError(key)
        setattr(self, key, value)

    def get(self, key, default=None):
        return getattr(self, key, default) if key in self.__slots__ else default

    def __iter__(self):
        return (k for k in self.__slots__ if hasattr(self, k))

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return f"{type(self).__name__}({dict(self)!r})"


class Values(_Slots):
    """A row's values, keys :data:`FIELDS` (a skipped row has only ``full_name``, ``sex``,
    ``birth_date`` and ``birth_year``)."""

    __slots__ = FIELDS


class AccountValues(_Slots):
    """A row's account: :data:`ACCOUNT_FIELDS` and ``cash`` (the file says cash)."""

    __slots__ = ACCOUNT_FIELDS + ("cash",)


def _shared(text):
    """``text`` interned: the villages, categories, banks and notes of a list repeat on
    many rows, and each row would otherwise keep its own copy."""
    return sys.intern(text) if type(text) is str else text


@dataclass
class Issue:
    sheet: str | None
    row: int
    column: str | None
    code: str
    severity: str
    message: str  # names the sheet, row and column: it is read away from the file
    text: str = ""  # the same without where, for a table that shows where in columns

    def as_dict(self):
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "code": self.code,
                "severity": self.severity, "message": self.message}


@dataclass(slots=True)
class ParsedRow:
    """One person row of the file, kept compact (slots, :class:`Values`, shared strings):
    ``parse`` holds one per row of a province's file."""

    sheet: str | None
    row: int
    values: Values
    village: str | None
    household_key: str | None
    account: AccountValues | None
    issues: list = field(default_factory=list)
    skipped: bool = False
    commune: str | None = None  # the commune the row names (a "Xã" column, an address's tail)
    start_month: str | None = None  # "Hưởng từ tháng" of the file, YYYY-MM
    stated: object = None  # a change its remark, status or end month states (vn.remarks.StatedChange)
    stated_settled: str | None = None  # why no proposal is made for it (already read, decided…)
    # What ``plan`` found the village name to be among the villages of the units whose
    # records belong to the commune that month (``areas.member_units``): the one village
    # (an ``Area``), or the several it could be (``village_choices``: issue
    # ``village_ambiguous``); neither: a new name. ``village_pinned``: the old commune the
    # row names (a "Xã" column, an address's tail) chose among several.
    village_area: object = None
    village_choices: list | tuple = ()
    village_pinned: bool = False

    @property
    def name_key(self):
        return fold(self.values["full_name"])


@dataclass
class Parsed:
    rows: list
    issues: list  # every issue, file-level and row-level, in file order
    month: str | None
    program: str | None
    encoding: str | None = None
    title: str = ""
    title_program: str | None = None
    title_row: tuple = (None, 1)  # (sheet, row) where the file's title block is
    title_month: str | None = None  # the month the title names (``month`` may be the chosen one)

    @property
    def people(self):
        return [r for r in self.rows if not r.skipped]


@dataclass
class Plan:
    parsed: Parsed
    commune: Area
    program: str
    added: list = field(default_factory=list)      # ParsedRow
    changed: list = field(default_factory=list)    # (ParsedRow, Beneficiary, {field: (old, new)})
    unchanged: list = field(default_factory=list)  # (ParsedRow, Beneficiary)
    new_villages: list = field(default_factory=list)  # names of villages to be created
    # The new village names that need the officer's confirmation: those of a commune that
    # already has villages (a first import creates its villages freely).
    villages_to_confirm: list = field(default_factory=list)
    # Across the 2025 reform (``resolve_commune``): the unit chosen, how ``commune`` was
    # found (``title``, ``rows``, ``chosen``, ``month``) and the file's words that named it;
    # ``units`` the ids of ``commune``'s lineage, whose records the rows were matched with.
    chosen: Area | None = None
    commune_source: str = "chosen"
    commune_named: str | None = None
    units: list = field(default_factory=list)

    def record_ids(self):
        """A select of the ids of the records the plan may touch (its units'), for the
        checks to run again after the commit."""
        return select(Beneficiary.id).where(Beneficiary.status != "merged",
                                            Beneficiary.commune_id.in_(self.units or [self.commune.id]))

    def groups(self):
        """How the people added will count (``design/domain.md`` §4): ``catch_up``, those
        with no start month in the file — the registry's opening balance, not increases,
        unless the officer records them as new grants from a month (``NewGrant``);
        ``starts``, ``{month: n}`` of those whose start month the file states — increases
        of that month."""
        starts = {}
        for r in self.added:
            if r.start_month:
                starts[r.start_month] = starts.get(r.start_month, 0) + 1
        return {"catch_up": sum(1 for r in self.added if not r.start_month),
                "starts": dict(sorted(starts.items()))}

    def stated(self):
        """``(ParsedRow, Beneficiary or None)`` of every person whose row states a change
        (``None``: a person the import adds)."""
        return ([(r, None) for r in self.added if r.stated]
                + [(r, b) for r, b, _ in self.changed if r.stated and not r.stated_settled]
                + [(r, b) for r, b in self.unchanged if r.stated and not r.stated_settled])

    def stated_groups(self):
        """The changes the list states, grouped for the preview: ``[{"kind", "change",
        "effective_month", "count"}]`` (``kind`` as :mod:`portal.vn.remarks` names it,
        ``change`` the ledger's kind), in the order death, move away, stop, suspension."""
        groups = {}
        for r, _ in self.stated():
            key = (r.stated.kind, r.stated.effective_month or "")
            groups[key] = groups.get(key, 0) + 1
        order = ("death", "move_away", "stop", "suspend")
        return [{"kind": kind, "change": ledger.STATED_KINDS[kind][0], "effective_month": month or None,
                 "count": n} for (kind, month), n in sorted(groups.items(),
                                                            key=lambda kv: (order.index(kv[0][0]), kv[0][1]))]

    def snapshot(self, limit=200):
        """The report plus the first ``limit`` added and changed rows, JSON-ready: what the
        preview page shows (kept on the ``ImportBatch`` so the page needs no re-reading)."""
        def text(v):
            return v.isoformat() if isinstance(v, date) else v
        out = self.report()
        out["issues"] = [dict(i.as_dict(), text=i.text) for i in self.parsed.issues]
        out["added_rows"] = [
            {"row": r.row, "sheet": r.sheet, "name": r.values["full_name"],
             "birth": text(r.values.get("birth_date")) or r.values.get("birth_year"),
             "village": None if r.village_choices else r.village, "amount": r.values.get("monthly_amount")}
            for r in self.added[:limit]]
        out["changed_rows"] = [
            {"row": r.row, "sheet": r.sheet, "name": b.full_name,
             "changes": [[f.split(".")[-1], text(old), text(new)] for f, (old, new) in changes.items()]}
            for r, b, changes in self.changed[:limit]]
        return out

    def report(self):
        """The ``--json`` report: rows, added, changed, unchanged, skipped, issues; the
        commune the records go to (``commune``: ``commune_facts``), the one chosen
        (``commune_chosen``, the same shape), how it was found and the file's words
        (``commune_source``, ``commune_named``: ``resolve_commune``)."""
        p = self.parsed
        chosen = self.chosen or self.commune
        return {"rows": len(p.rows), "added": len(self.added), "changed": len(self.changed),
                "unchanged": len(self.unchanged), "skipped": sum(r.skipped for r in p.rows),
                "month": p.month, "program": self.program,
                "commune": commune_facts(self.commune),
                "commune_chosen": commune_facts(chosen),
                "commune_source": self.commune_source, "commune_named": self.commune_named,
                "new_villages": self.new_villages, "villages_to_confirm": self.villages_to_confirm,
                "groups": self.groups(), "stated_groups": self.stated_groups(),
                "stated_changes": [
                    {"sheet": r.sheet, "row": r.row, "name": r.values["full_name"], "kind": r.stated.kind,
                     "change": ledger.STATED_KINDS[r.stated.kind][0], "clause": r.stated.clause,
                     "effective_month": r.stated.effective_month, "quote": r.stated.quote}
                    for r, _ in self.stated()],
                "issues": [i.as_dict() for i in p.issues]}


def _issue(sheet, row, column, code, detail=None):
    severity, message = ISSUE_CODES[code]
    where = f"{sheet + ', ' if sheet else ''}dòng {row}" + (f", cột «{column}»" if column else "")
    text = message + (f" {detail}" if detail else "")
    return Issue(sheet, row, column, code, severity, f"{where}: {text}", text)


# HTXH first: "trợ cấp hưu trí xã hội" also holds the words of BTXH's "trợ cấp xã hội".
PROGRAM_WORDS = {"HTXH": ("huu tri xa hoi", "htxh"),
                 "NCC": ("nguoi co cong", "uu dai", "thuong binh", "liet si", "ncc"),
                 "BTXH": ("bao tro xa hoi", "tro cap xa hoi", "btxh", "tro giup xa hoi")}
# Categories (diện đối tượng) that only one program has: Decree 20/2021 Art. 5 for BTXH,
# Ordinance 02/2020/UBTVQH14 for NCC.
CATEGORY_WORDS = {"NCC": ("thuong binh", "benh binh", "liet si", "co cong", "khang chien",
                          "chat doc hoa hoc", "me viet nam anh hung", "cach mang"),
                  "BTXH": ("khuyet tat", "cao tuoi", "mo coi", "don than", "hiv", "ho ngheo",
                           "tre em")}


def guess_program(text):
    """``HTXH``/``NCC``/``BTXH`` from a list's title (or file name), or ``None``."""
    t = fold(text).replace("_", " ").replace("-", " ")
    for program, words in PROGRAM_WORDS.items():
        if any(re.search(rf"\b{w}\b", t) for w in words):
            return program
    return None


def program_from_categories(categories):
    """The program most categories belong to, or ``None`` when they do not tell."""
    votes = {"NCC": 0, "BTXH": 0}
    for c in categories:
        c = fold(c)
        for program, words in CATEGORY_WORDS.items():
            if any(w in c for w in words):
                votes[program] += 1
                break
    best = max(votes, key=votes.get)
    return best if votes[best] > 2 * votes[min(votes, key=votes.get)] else None


_ADDRESS_TAIL = re.compile(r",\s*(xa|phuong|thi tran|huyen|tinh|tp|thanh pho)\b.*$")


def clean_village(text):
    """``"Thôn Phước Hòa, xã Bình Chánh"`` → ``"Thôn Phước Hòa"``; group labels like
    ``"I. Thôn An Thành"`` → ``"Thôn An Thành"``."""
    text = nfc(text)
    if not text:
        return None
    text = re.sub(r"^\s*([IVXLC]+|\d+)[.)]\s*", "", text)
    folded = fold(text)
    m = _ADDRESS_TAIL.search(folded)
    if m:
        # fold() keeps lengths for Vietnamese letters, so the cut falls at the same place.
        text = text[: m.start()].strip(" ,") if len(folded) == len(text) else text.split(",")[0]
    return text or None


_ADDRESS_COMMUNE = re.compile(r",\s*((?:xa|phuong|thi tran|dac khu)\s[^,]+)")


def commune_in_address(text):
    """The commune an address names after a comma: ``"Thôn Phước Hòa, xã Bình Chánh,
    huyện Bình Sơn"`` → ``"xã Bình Chánh"``; ``None`` when it names none."""
    text = nfc(text)
    if not text:
        return None
    folded = fold(text)
    m = _ADDRESS_COMMUNE.search(folded)
    if not m or len(folded) != len(text):
        return None
    return text[m.start(1):m.end(1)].strip() or None


def _month_of(value):
    """A start or end month as a file writes it (a date cell, ``01/03/2024``, ``3/2024``,
    ``Tháng 3/2024``) as ``YYYY-MM``, or ``None``."""
    if isinstance(value, (date, datetime)):
        return f"{value.year:04d}-{value.month:02d}"
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{int(m.group(3)):04d}-{int(m.group(2)):02d}"
    m = re.fullmatch(r"(\d{4})-(\d{2})", text)
    month = f"{m.group(1)}-{m.group(2)}" if m else parse_month(text)
    try:
        return months.parse(month) if month else None
    except ValueError:
        return None


RELATIONS = {"self": ("ban than", "chinh chu", "chu ho", "doi tuong"),
             "guardian": ("giam ho", "cha", "me", "bo", "ong", "ba", "con", "vo", "chong",
                          "anh", "chi", "em", "chau", "nguoi nuoi duong", "nguoi cham soc"),
             "authorised": ("uy quyen", "nhan thay")}


def recipient_from(relation, holder, name):
    """``self``/``guardian``/``authorised`` from a relation cell and the holder's name."""
    r = fold(relation)
    if r:
        if any(w in r for w in RELATIONS["authorised"]):
            return "authorised"
        for kind in ("self", "guardian"):
            if any(r == w or r.startswith(w + " ") for w in RELATIONS[kind]):
                return kind
        return "authorised"
    if holder and not same_name(holder, name):
        return "authorised"
    return "self"


def _sex(cells):
    if cells.get("birth_male") not in (None, ""):
        return "M"
    if cells.get("birth_female") not in (None, ""):
        return "F"
    s = fold(str(cells.get("sex") or ""))
    if s in ("nam", "m", "male", "trai"):
        return "M"
    if s in ("nu", "f", "female", "gai"):
        return "F"
    return None


def _coefficient(v):
    if v in (None, ""):
        return None
    try:
        return round(float(str(v).replace(",", ".")), 2)
    except ValueError:
        return None


# Free-text columns where a leading =, +, - or @, or markup, is a pasting accident (a
# formula or a web page pasted as text). Phone numbers (+84…) and numbers are not text.
TEXT_FIELDS = ("name", "note", "category", "village", "account_holder", "proxy_name", "bank",
               "holder_relation", "household")
_MARKUP = re.compile(r"<(?:/?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>|!--)")
_SIGNED_NUMBER = re.compile(r"^[-+]?\s*[\d.,\s]+$")


def suspicious_text(value) -> bool:
    """True for a text cell that starts like a formula (``=``, ``+``, ``@``; ``-`` not followed
    by a space, which is a bullet: "- Đã chuyển đi") or holds markup such as ``<script>``.

    Such a cell is kept as plain text, escaped on every page and neutralised in every
    export; the preview only warns, since it is almost always a pasting accident.
    """
    if not isinstance(value, str):
        return False
    t = value.strip()
    if not t or _SIGNED_NUMBER.match(t):
        return False
    if t[0] in "=+@" or (t[0] == "-" and len(t) > 1 and not t[1].isspace() and t[1] != "-"):
        return True
    return _MARKUP.search(t) is not None


def parse_row(sheet_name, excel_row, cells, labels, group_label=None, list_month=None):
    """Turn one person row's cells (field → raw value) into a ``ParsedRow``. ``list_month``
    (``YYYY-MM``): the list's month, from which a change a remark states without a date
    takes effect the month after (:func:`portal.vn.remarks.read_remark`)."""
    issues = []

    def add(field_name, code, detail=None):
        issues.append(_issue(sheet_name, excel_row, labels.get(field_name), code, detail))

    for fld in TEXT_FIELDS:
        if suspicious_text(cells.get(fld)):
            shown = str(cells[fld]).strip()
            add(fld, "suspicious_text", f"Giá trị: «{shown[:60]}{'…' if len(shown) > 60 else ''}».")

    name = proper_case(nfc(str(cells.get("name") or ""))) if cells.get("name") not in (None, "") else ""
    sex = _sex(cells)
    birth_raw = next((cells.get(k) for k in ("birth", "birth_male", "birth_female")
                      if cells.get(k) not in (None, "")), None)
    birth_field = next((k for k in ("birth", "birth_male", "birth_female")
                        if cells.get(k) not in (None, "")), "birth")
    birth = parse_birth(birth_raw) if birth_raw is not None else None
    values = Values(full_name=name, sex=sex, birth_date=birth.date if birth else None,
                    birth_year=birth.year if birth else None)
    row = ParsedRow(sheet_name, excel_row, values, None, None, None, issues)
    if not name:
        add("name", "missing_name")
        row.skipped = True
        return row
    if len(name) > MAX_LENGTHS["full_name"]:
        add("name", "bad_name")
        row.skipped = True
        return row
    if not values["birth_year"]:
        add(birth_field, "missing_birth",
            f"Giá trị: «{birth_raw}»." if birth_raw not in (None, "") else None)
        row.skipped = True
        return row
    if birth and birth.problem:
        add(birth_field, "bad_birth_date", f"Giá trị: «{birth_raw}».")
    has_sex_column = any(k in labels for k in ("sex", "birth_male", "birth_female"))
    if sex is None and has_sex_column:
        add("sex" if "sex" in labels else birth_field, "missing_sex")

    raw_id = cells.get("national_id")
    idr = parse_national_id(raw_id, sex, values["birth_year"])
    if sex is None and not has_sex_column and idr.kind == "cccd":
        # A list without a sex column: the ID's 4th digit says it (even male, odd female;
        # Circular 07/2016/TT-BCA Art. 7), so nothing is left to compare it with.
        sex = values["sex"] = "M" if int(idr.value[3]) % 2 == 0 else "F"
    values["national_id"] = idr.value if idr.kind == "cccd" else None
    values["legacy_id"] = idr.value if idr.kind == "cmnd" else None
    problems = set(idr.problems)
    if idr.kind == "empty":
        add("national_id", "missing_id")
    if "id_lost_leading_zero" in problems:
        add("national_id", "id_lost_leading_zero", f"«{raw_id}» → {idr.value}.")
    if "id_scientific_notation" in problems:
        add("national_id", "id_scientific_notation", f"Giá trị: «{raw_id}».")
    elif idr.kind == "invalid" or problems & {"id_bad_length", "id_not_digits"}:
        add("national_id", "id_bad_format", f"Giá trị: «{raw_id}».")
    if "cmnd_legacy" in problems or idr.kind == "cmnd":
        add("national_id", "cmnd_only")
    if "id_unknown_province" in problems:
        add("national_id", "id_unknown_province", f"Mã {str(idr.value or '')[:3]}.")
    if "id_sex_century_mismatch" in problems:
        add("national_id", "id_sex_century_mismatch",
            f"Số {idr.value}, {'nam' if sex == 'M' else 'nữ'} sinh năm {values['birth_year']}.")
    if "id_year_mismatch" in problems:
        add("national_id", "id_year_mismatch", f"Số {idr.value}, sinh năm {values['birth_year']}.")

    values["category"] = _shared(nfc(str(cells["category"]))) if cells.get("category") not in (None, "") else None
    values["coefficient"] = _coefficient(cells.get("coefficient"))
    values["monthly_amount"] = None
    if cells.get("amount") not in (None, ""):
        try:
            amount = parse_amount(cells["amount"])
        except ValueError:
            amount = -1
        if amount is not None and not 0 <= amount <= MAX_MONTHLY_AMOUNT:
            add("amount", "bad_amount", f"Giá trị: «{cells['amount']}».")
        else:
            values["monthly_amount"] = amount
    values["phone"] = normalise_account(cells.get("phone")) if cells.get("phone") not in (None, "") else None
    note = _shared(nfc(str(cells["note"]))) if cells.get("note") not in (None, "") else None
    values["note"] = note
    _read_stated(row, cells, list_month, add)

    row.village = clean_village(str(cells["village"])) if cells.get("village") not in (None, "") \
        else clean_village(group_label)
    for key, column in (("category", "category"), ("note", "note"), ("phone", "phone")):
        if values.get(key) and len(values[key]) > MAX_LENGTHS[key]:
            add(column, "too_long")
            values[key] = values[key][:MAX_LENGTHS[key]]
    if row.village and len(row.village) > MAX_LENGTHS["village"]:
        add("village", "too_long")
        row.village = row.village[:MAX_LENGTHS["village"]]
    row.village = _shared(row.village)
    if cells.get("household") not in (None, ""):
        row.household_key = fold(str(cells["household"]))
    if cells.get("commune") not in (None, ""):
        row.commune = _shared(nfc(str(cells["commune"]))) or None
    elif cells.get("village") not in (None, ""):
        row.commune = _shared(commune_in_address(str(cells["village"])))
    if cells.get("start_month") not in (None, ""):
        row.start_month = _shared(_month_of(cells["start_month"]))
        if row.start_month is None:
            add("start_month", "bad_start_month", f"Giá trị: «{cells['start_month']}».")

    raw_number = cells.get("account_number")
    if raw_number not in (None, ""):
        number = normalise_account(raw_number)
        bank_text = nfc(str(cells.get("bank") or "")) or None
        bank = resolve_bank(bank_text) if bank_text else None
        holder = nfc(str(cells.get("account_holder") or cells.get("proxy_name") or "")) or None
        relation = cells.get("holder_relation")
        method = fold(str(cells.get("payment_method") or ""))
        if number is None:
            add("account_number", "account_scientific_notation", f"Giá trị: «{raw_number}».")
        else:
            for code in check_account_number(number, bank):
                add("account_number", code, f"Số {number}.")
            if bank_text and bank is None:
                add("bank", "unknown_bank", f"«{bank_text}».")
            holder = holder[:MAX_LENGTHS["full_name"]] if holder else holder
            bank_text = bank_text[:MAX_LENGTHS["bank_text"]] if bank_text else bank_text
            rtype = recipient_from(relation, holder, name)
            # The holder is kept as the list writes it (often the bank's "NGUYEN VAN AN").
            row.account = AccountValues(bank_bin=bank.bin if bank else None, bank_text=_shared(bank_text),
                                        number=number, holder_name=holder or name,
                                        recipient_type=rtype, cash="tien mat" in method)
            if rtype != "self":
                add("account_holder", "holder_not_self", f"Chủ tài khoản: {holder or '?'}.")
    return row


def _read_stated(row, cells, list_month, add):
    """The change the row's remark, status or end-month cell states (``row.stated``), as an
    issue ``stated_change``; words that only look like one (a relative's death, a lost
    card, a switch of payment) as ``remark_not_a_change``. An end month the file states
    ("Thôi hưởng từ" 6/2024) is a stop from that month."""
    texts = [(f, nfc(str(cells[f]))) for f in ("note", "status") if cells.get(f) not in (None, "")]
    if cells.get("end_month") not in (None, ""):
        end = cells["end_month"]
        end = f"{end:%m/%Y}" if isinstance(end, date) else str(end)
        texts.append(("end_month", f"Thôi hưởng từ {end}"))
    for fld, text in texts:
        reading = read_remark(text, list_month)
        if reading.change is not None and row.stated is None:
            row.stated = reading.change
            c = reading.change
            verb = {"death": "đã chết", "move_away": "đã chuyển đi nơi khác", "stop": "thôi hưởng",
                    "suspend": "tạm dừng"}[c.kind]
            add(fld, "stated_change",
                f"«{c.quote[:120]}»: {verb}, đề nghị {ledger.KIND_LABELS[ledger.STATED_KINDS[c.kind][0]].lower()}"
                + (f" từ {months.label(c.effective_month)}." if c.effective_month else " (chọn tháng).")
                + "".join(f" {w}" for w in reading.warnings))
        elif reading.change is None:
            for warning in reading.warnings:
                add(fld, "remark_not_a_change", f"«{text[:120]}»: {warning}")


def parse(data, filename=None, program=None, month=None):
    """Read a commune list's bytes into a ``Parsed`` (no database access).

    ``program`` (``BTXH``/``NCC``) and ``month`` (``YYYY-MM``) override what the title says.
    Raises ``FileProblem`` for a file that cannot be read or holds no beneficiary list.
    """
    lists = read_lists(data, filename)
    rows, issues = [], []
    title_month, title_program, encoding, titles = None, None, None, []
    for sheet, header in lists:
        title = title_text(sheet, header)
        titles.append(title)
        title_month = title_month or find_month(sheet, header)
        title_program = title_program or guess_program(title + " " + (sheet.name or ""))
        if sheet.encoding in LEGACY_ENCODINGS:
            encoding = sheet.encoding
        formulas = _uncalculated_by_row(sheet, header)
        for out in iter_rows(sheet, header):
            sheet.rows[out.excel_row - 1] = None  # its cells are in ``out``: let the raw row go
            if out.kind != "person":
                continue
            r = parse_row(sheet.name, out.excel_row, out.cells, header.labels, out.group_label,
                          list_month=month or title_month)
            for column, ref, formula in formulas.get(out.excel_row, ()):
                r.issues.append(_issue(sheet.name, out.excel_row, column, "uncalculated_formula",
                                       f"Ô {ref}: ={formula}." if formula else f"Ô {ref}."))
            rows.append(r)
    if not rows:
        raise FileProblem("not_a_beneficiary_list", "Tệp có tiêu đề cột nhưng không có dòng đối tượng nào.")
    first = lists[0]
    if encoding:
        issues.append(_issue(first[0].name, first[1].header_rows[0] + 1, None, "legacy_encoding",
                             f"({encoding.upper()})"))
    if program and title_program and program != title_program:
        issues.append(_issue(first[0].name, first[1].header_rows[0], None, "program_mismatch",
                             f"Tiêu đề: {title_program}, đã chọn: {program}."))
    if month and title_month and month != title_month:
        issues.append(_issue(first[0].name, first[1].header_rows[0], None, "month_mismatch",
                             f"Tiêu đề: {title_month}, đã chọn: {month}."))
    # The same ID on two rows of the file: both rows are reported (never merged).
    by_id = {}
    for r in rows:
        if not r.skipped and r.values.get("national_id"):
            by_id.setdefault(r.values["national_id"], []).append(r)
    for nid, same in by_id.items():
        if len(same) > 1:
            for r in same:
                others = ", ".join(f"dòng {o.row}" for o in same if o is not r)
                r.issues.append(_issue(r.sheet, r.row, None, "duplicate_id", f"Số {nid}, trùng với {others}."))
    for r in rows:
        issues.extend(r.issues)
    program = (program or title_program
               or program_from_categories(r.values.get("category") or "" for r in rows)
               or guess_program(filename or ""))
    return Parsed(rows, issues, month or title_month, program, encoding, " ".join(titles),
                  title_program, (first[0].name, first[1].header_rows[0]), title_month)


def _uncalculated_by_row(sheet, header):
    """Formula cells saved without a value, by 1-based row: ``(column label, cell ref,
    formula)`` (the label of the mapped column, else the cell's letters)."""
    field_of = {col: fld for fld, col in header.columns.items()}
    out = {}
    for r, c, formula in sheet.uncalculated:
        fld = field_of.get(c)
        label = header.labels.get(fld) if fld else None
        out.setdefault(r + 1, []).append((label or col_letters(c), cell_ref(r, c), formula))
    return out


def _place_village(r, index):
    """Which existing village row ``r``'s village name is (``index``:
    ``areas.lineage_villages``, the rule ``areas.find_village``): sets ``r.village_area``
    when one bears it, ``r.village_choices`` when several do (two old communes merged into
    one each had a Thôn Thuận Hòa). Among several, the old commune the row names (a "Xã"
    column, an address ``Thôn Thuận Hòa, xã Bình Long``) chooses (``r.village_pinned``);
    nothing else does: the portal does not guess."""
    r.village_area, r.village_choices = None, ()
    found, r.village_pinned = areas.find_village(index, r.village, r.commune)
    if len(found) == 1:
        r.village_area = found[0]
    elif found:
        r.village_choices = found


def _village_issue(parsed, r, outcome):
    """The ``village_ambiguous`` warning of row ``r``: the units whose villages bear its
    name, what became of the record (``outcome``) and how to say which one."""
    units = ", ".join(f"«{v.full_name}» của {_period_name(v.parent)}" for v in r.village_choices)
    first = r.village_choices[0].parent
    issue = _issue(r.sheet, r.row, None, "village_ambiguous", (
        f"«{r.village}»: {units}. Danh sách không ghi xã cũ nên {outcome}. Ghi rõ xã cũ trong "
        f"cột thôn (ví dụ «{r.village}, {(first.kind or 'xã').lower()} {first.name}») hoặc cột Xã "
        f"rồi tải lên lại."))
    r.issues.append(issue)
    parsed.issues.append(issue)


class ImportRefused(ValueError):
    """A file refused as a whole before anything is written (Vietnamese ``message``);
    ``code``: ``commune_mismatch`` (the file is another commune's list),
    ``commune_ambiguous`` (which unit of the chosen commune's lineage the list is of cannot
    be told: choose the old commune, or split the file; ``field`` ``commune_id``),
    ``commune_out_of_reach`` (the list is of a commune outside the user's area),
    ``villages_not_confirmed`` (new village names not confirmed), ``bad_new_grant`` (the
    "new from month" option is incomplete or out of range), ``month_in_future`` and
    ``program_not_paid`` (``check_month``; ``field`` ``month``, ``program``)."""

    def __init__(self, code, message, field=None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def check_program(month, program):
    """``ImportRefused`` (``program_not_paid``, field ``program``) when ``program`` was not
    paid in ``month`` (``YYYY-MM``; ``pension.programs_in``): the social pension HTXH only
    from 07/2025 (Social Insurance Law 2024 Art. 21–22, Decree 176/2025/NĐ-CP). Nothing to
    check without a month."""
    if not month or not program or program in programs_in(month):
        return
    since = (f" Chương trình {HTXH} (trợ cấp hưu trí xã hội) chi trả từ tháng "
             f"{months.label(HTXH_FIRST_MONTH)} ({HTXH_SOURCE})." if program == HTXH else "")
    raise ImportRefused("program_not_paid", (
        f"Tháng {months.label(month)} không có chi trả {program}: không nhận danh sách {program} "
        f"tháng {months.label(month)}.{since} Kiểm tra lại chương trình và tháng của danh sách "
        f"(tiêu đề tệp hoặc ô đã chọn). Không có gì được ghi."), "program")


def check_month(month, program):
    """Refuse (``ImportRefused``) a list the portal cannot take for its month (``YYYY-MM``,
    the list's): ``month_in_future`` (field ``month``) for a month after the one that
    follows the open month (``clock.open_month``: a list may be made a month ahead, never
    more; every past month is taken, old lists are uploaded today), then
    ``program_not_paid`` (``check_program``). The upload page and ``import-list`` ask it
    before ``plan``, which checks the program itself."""
    if month:
        last = months.add(clock.open_month(), 1)
        if month > last:
            raise ImportRefused("month_in_future", (
                f"Danh sách tháng {months.label(month)} ở sau tháng đang làm việc "
                f"({months.label(clock.open_month())}): chỉ nhận danh sách đến tháng "
                f"{months.label(last)}. Kiểm tra lại tháng của danh sách (tiêu đề tệp hoặc ô "
                f"«Tháng của danh sách»). Không có gì được ghi."), "month")
    check_program(month, program)


def _lineage(commune):
    """The ids of the units that are ``commune`` across the 2025 reform: itself, its
    successors, and every unit merged into it, directly or not (Xã Bình Sơn 21040 from
    01/07/2025 took in Thị trấn Châu Ổ, 21040 until 30/06/2025, and Bình Chánh …): a file
    naming one of them is not another commune's. The other units merged into its successor
    are: Bình Dương is not Bình Chánh."""
    ids = {commune.id}
    a = commune
    while a.successor_id is not None and a.successor_id not in ids:
        ids.add(a.successor_id)
        a = a.successor
    frontier, seen = {commune.id}, {commune.id}
    while frontier:
        frontier = set(db.session.scalars(select(Area.id).where(
            Area.successor_id.in_(frontier), Area.id.not_in(seen))))
        seen |= frontier
    return ids | seen


def _spoken(text):
    """Text compared with its marks (Bình Thanh and Bình Thạnh are two communes): NFC,
    lower case, single spaces."""
    return " ".join(nfc(text or "").lower().split())


def _named_in(text, candidates, key=None):
    """``[(area, start, end)]``: the ``candidates`` named with their kind in ``text``
    (compared as ``key`` makes them, default ``_spoken``), whole words, a name inside a
    longer one dropped (Bình Tân in Bình Tân Phú)."""
    key = key or _spoken
    found = []
    for a in candidates:
        needle = key(f"{a.kind or ''} {a.name}")
        for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text):
            found.append((a, m.start(), m.end()))
    return [f for f in found if not any(o is not f and o[1] <= f[1] and f[2] <= o[2]
                                        and o[2] - o[1] > f[2] - f[1] for o in found)]


def _in_force(area, month):
    """Whether ``area`` is in force in ``month`` (``YYYY-MM``: on its first day; an old
    commune ends on 30/06/2025, its successor starts on 01/07/2025)."""
    day = months.start(month)
    return ((area.valid_from is None or area.valid_from <= day)
            and (area.valid_to is None or area.valid_to >= day))


def _known_communes(commune, same):
    """The communes whose names a file is compared with: those of ``commune``'s province
    (its path's top unit) and the units of its lineage ``same`` (ids), wherever they hang
    (a Kon Tum commune merged into a Quảng Ngãi one)."""
    path = (commune.path or "").strip("/")
    q = select(Area).where(Area.level == "commune")
    if path:
        q = q.where(or_(Area.path.startswith(f"/{path.split('/')[0]}/"), Area.id.in_(list(same))))
    return db.session.scalars(q.order_by(Area.code, Area.valid_from)).all()


def _title_named(parsed, candidates):
    """The ``candidates`` the title names, in the title's order: ``[(area, shown, issuer)]``,
    ``shown`` the title's own words (``UBND XÃ BÌNH CHÁNH``), ``issuer`` whether it follows
    ``UBND`` (the body that issued the list). The district's name is not a commune's: the
    kind is part of the name (``Huyện Bình Sơn`` is not ``Xã Bình Sơn``)."""
    title = " ".join(nfc(parsed.title or "").split())
    # A title typed without marks ("UBND XA BINH DUONG") is compared without them: Bình
    # Thanh and Bình Thạnh then read alike, and naming either is naming the chosen one.
    key = fold if title.isascii() else _spoken
    spoken = key(title)
    out = []
    for area, start, end in sorted(_named_in(spoken, candidates, key), key=lambda f: f[1]):
        shown = title[start:end] if len(title) == len(spoken) else area.full_name
        issuer = spoken[:start].endswith("ubnd ")
        if issuer and len(title) == len(spoken):
            shown = title[start - 5:end]
        out.append((area, shown, issuer))
    return out


def _rows_named(parsed, candidates):
    """What the rows name (a "Xã" column, an address's tail): ``[(areas, rows)]``, one item
    per distinct text, ``areas`` the candidates it can mean (empty: no known commune)."""
    by_name = {}
    for a in candidates:
        by_name.setdefault(_spoken(a.name), []).append(a)
        by_name.setdefault(_spoken(f"{a.kind or ''} {a.name}"), []).append(a)
    rows = {}
    for r in parsed.people:
        if r.commune:
            rows.setdefault(_spoken(r.commune), []).append(r)
    return [(by_name.get(key) or by_name.get(_spoken(areas.split_kind(group[0].commune)[1]), []), group)
            for key, group in rows.items()]


def _where_rows(group):
    first = group[0]
    return f"Tệp ({len(group)} dòng, từ {first.sheet + ', ' if first.sheet else ''}dòng {first.row})"


def foreign_commune(parsed, commune, chosen=None):
    """Refuse (``ImportRefused``, code ``commune_mismatch``) a file that names another
    commune than ``commune``: its title (``UBND XÃ BÌNH DƯƠNG`` without the chosen commune
    named) or its rows (a "Xã" column, or an address ending ``…, xã Bình Dương``).

    Only the communes of the same province are known names; a unit merged into ``commune``
    by the 2025 reform, or its successor, is the same commune (``_lineage``). A title
    naming only the district or the province, or no commune, and rows naming no known
    commune, pass. ``chosen``: the commune the user chose, when the file's own names led
    to ``commune`` (``resolve_commune``); the message then says so."""
    same = _lineage(commune)
    candidates = _known_communes(commune, same)
    target = commune.full_name
    if chosen is None or chosen.id == commune.id:
        why = f"đã chọn {target}"
    else:
        why = f"tệp là danh sách của {target} (đã chọn {chosen.full_name})"

    def refuse(named_as, other, where):
        raise ImportRefused("commune_mismatch", (
            f"{where} ghi «{named_as}» nhưng {why}: danh sách của {other.full_name} "
            f"không được nhập vào {target}, không có gì được ghi. Nếu tệp đúng là của "
            f"{other.full_name}, cán bộ huyện, tỉnh chọn {other.full_name} rồi tải lên lại; nếu "
            f"không, hãy tải đúng danh sách của {target}."))

    named = _title_named(parsed, candidates)
    if named and not any(a.id in same for a, _, _ in named):
        refuse(named[0][1], named[0][0], "Tệp")
    for areas_named, group in _rows_named(parsed, candidates):
        if areas_named and not any(a.id in same for a in areas_named):
            refuse(group[0].commune, areas_named[0], _where_rows(group))


def _ambiguous(message):
    return ImportRefused("commune_ambiguous", message + " Không có gì được ghi.", "commune_id")


def resolve_commune(parsed, chosen):
    """The commune a list's records are registered in, across the 2025 reform: ``(area,
    source, named_as)``, ``area`` an ``Area``, ``source`` one of ``title``, ``rows`` (the
    file names it), ``chosen`` (the unit chosen, in force in the list's month), ``month``
    (the only unit of the lineage in force in the list's month), ``named_as`` the file's
    words or ``None``.

    The candidates are the chosen commune's lineage (``_lineage``: the unit chosen, the
    units the reform merged into it, its successor); the month is the list's (``YYYY-MM``,
    chosen or from the title):

    1. The unit the title names (a 2024 list titled ``UBND XÃ BÌNH CHÁNH`` with Xã Bình Sơn
       21040 chosen goes to Xã Bình Chánh 21052, until 30/06/2025; one titled ``UBND XÃ
       BÌNH SƠN`` for 08/2025 with Bình Chánh chosen goes to Xã Bình Sơn). A name borne in
       two periods (Xã Bình Minh 21085 before and after 01/07/2025) is the unit in force in
       the title's month, else in the list's month; of two units named, the one after
       ``UBND`` first, else the first named.
    2. Else the unit the rows name (a "Xã" column, an address's tail), when it was in force
       in the list's month: an address still naming an old commune in a list of 08/2025 is
       the person's address, not the list's commune. Two such units (Bình Chánh and Bình
       Dương rows in one list of 05/2024): ``ImportRefused`` ``commune_ambiguous``, split
       the file.
    3. Else the chosen unit, when in force in the list's month (or the month is unknown);
       else the one unit of the lineage in force then (Bình Chánh chosen for 08/2025: Xã
       Bình Sơn); when there are several (Xã Bình Sơn chosen for a list of 05/2024 that
       names no commune: seven units were in force then), ``ImportRefused``
       ``commune_ambiguous`` asking to choose the old commune — a guess would register
       the people in the wrong unit, and the history of 2024 stays under the old units.

    A name outside the lineage refuses the file (``commune_mismatch``, ``foreign_commune``):
    first against the chosen commune, then against the unit found. Reads only. Source:
    Law on the Organisation of Local Government 2025; Resolution 1677/NQ-UBTVQH15 (Bình
    Sơn's units and the communes they became)."""
    same = _lineage(chosen)
    candidates = _known_communes(chosen, same)
    month = parsed.month
    title = _title_named(parsed, candidates)
    ours = [t for t in title if t[0].id in same]
    if title and not ours:
        foreign_commune(parsed, chosen)  # raises: the title names another commune
    if ours:
        when = parsed.title_month or month
        pick = ([t for t in ours if _in_force(t[0], when)] if when else []) or ours
        pick = [t for t in pick if t[2]] or pick
        area, shown, _ = pick[0]
        return _checked(parsed, area, chosen, "title", shown)

    by_unit = {}  # area id → [area, words, rows]
    for named, group in _rows_named(parsed, candidates):
        ours = {a.id: a for a in named if a.id in same and (month is None or _in_force(a, month))}
        for a in ours.values():
            by_unit.setdefault(a.id, [a, group[0].commune, 0])[2] += len(group)
    if len(by_unit) == 1:
        area, words, _ = next(iter(by_unit.values()))
        return _checked(parsed, area, chosen, "rows", words)
    if by_unit:
        listed = ", ".join(f"{a.full_name} ({n} dòng)" for a, _, n in by_unit.values())
        raise _ambiguous(f"Tệp ghi người của nhiều xã: {listed}; tháng {months.label(month)} mỗi xã "
                         "có danh sách riêng. Hãy tách tệp theo từng xã rồi tải lên lại.")

    if month is None or _in_force(chosen, month):
        return _checked(parsed, chosen, chosen, "chosen", None)
    units = [a for a in db.session.scalars(select(Area).where(Area.id.in_(same))
                                           .order_by(Area.code, Area.valid_from))
             if _in_force(a, month)]
    if not units:
        return _checked(parsed, chosen, chosen, "chosen", None)
    if len(units) == 1:
        return _checked(parsed, units[0], chosen, "month", None)
    names = ", ".join(f"{a.full_name} ({a.code})" for a in units)
    raise _ambiguous(
        f"Danh sách tháng {months.label(month)} không ghi tên xã, mà {_period_name(chosen)} "
        f"không có hiệu lực tháng đó; khi đó là {len(units)} đơn vị, nay thuộc {chosen.full_name}: "
        f"{names}. Hãy chọn đúng xã cũ của danh sách rồi tải lên lại.")


def _period_name(area):
    """``Xã Bình Sơn (từ 01/07/2025)``, ``Xã Bình Chánh (đến 30/06/2025)``."""
    if area.valid_to is not None:
        return f"{area.full_name} (đến {area.valid_to:%d/%m/%Y})"
    if area.valid_from is not None:
        return f"{area.full_name} (từ {area.valid_from:%d/%m/%Y})"
    return area.full_name


def _checked(parsed, area, chosen, source, named_as):
    """``area`` found for the file: the names the file gives must be of its lineage too
    (rows naming Bình Dương in a list whose title names Bình Chánh)."""
    foreign_commune(parsed, area, chosen)
    return area, source, named_as


def commune_facts(area):
    """``{"code", "name", "valid_to", "successor"}`` of a commune for the preview and
    ``import-list --json``: ``valid_to`` ISO (``2025-06-30``) or ``None``, ``successor``
    ``{"code", "name"}`` of the unit it belongs to now (the end of its successor chain:
    Xã Bình Chánh → Xã Bình Sơn) or ``None``."""
    now, seen = area, {area.id}
    while now.successor_id is not None and now.successor_id not in seen:
        now = now.successor
        seen.add(now.id)
    return {"code": area.code, "name": area.full_name,
            "valid_to": area.valid_to.isoformat() if area.valid_to else None,
            "successor": {"code": now.code, "name": now.full_name} if now is not area else None}


def check_reach(p, user):
    """``ImportRefused`` (``commune_out_of_reach``) when the commune plan ``p`` registers
    its records in lies outside ``user``'s area (``scope.can_see_area``): a user writes
    only where they work. Xã Bình Sơn's list of 08/2025 chosen as Bình Chánh by Bình
    Chánh's former officer goes to Xã Bình Sơn, which that account does not cover: its
    officer, or the level above, uploads it. Xã Bình Sơn's officer covers Bình Chánh, merged
    into it, and uploads its 2024 lists."""
    from . import scope
    if scope.can_see_area(user, p.commune):
        return
    named = f" (tệp ghi «{p.commune_named}»)" if p.commune_named else ""
    raise ImportRefused("commune_out_of_reach", (
        f"Tệp là danh sách của {_period_name(p.commune)}{named}, ngoài địa bàn của tài khoản "
        f"này ({user.area.full_name if user.area else '—'}): không có gì được ghi. Cán bộ của "
        f"{p.commune.full_name}, hoặc cấp trên, tải danh sách này lên."))


def plan(parsed, commune, program=None):
    """Match ``parsed`` rows to the registry of the commune they belong to and ``program``;
    reads only.

    ``commune`` is the unit chosen (the user's, or ``--commune``); the plan's own
    ``commune`` is the one the file names within its lineage across the 2025 reform
    (``resolve_commune``: a 2024 list titled ``UBND XÃ BÌNH CHÁNH`` with Xã Bình Sơn chosen
    goes to Xã Bình Chánh), and new records are registered there. Rows match the records of
    that unit's whole lineage (``Plan.units``): a list of Xã Bình Sơn for 08/2025 finds the
    people registered in Bình Chánh in 2024, who keep the unit they were registered in.

    A row's village is one of the commune's villages in the list's month when one bears its
    name (folded), under the commune or under an old commune merged into it
    (``areas.member_units``: Thôn Tân Hy of Bình Chánh in Xã Bình Sơn's list of 11/2026);
    only a name none bears is new (``new_villages``, to be confirmed when the commune has
    villages). A name borne in two old communes is not guessed (``village_ambiguous``):
    the old commune the row names chooses; else a record found keeps its village and a
    person added has none (``missing_village``).

    Also reports IDs already held by records elsewhere (``duplicate_id_registry``), except
    by records no list pays any more (``checks.UNPAYABLE``: stopped, moved, merged) and by
    the matched record's transfer to or from another program (``transferred_from_id``).
    Raises ``ValueError`` when the program is unknown, ``ImportRefused``
    (``program_not_paid``: ``check_program``; ``commune_mismatch``, ``commune_ambiguous``)
    as ``resolve_commune`` says.
    """
    program = program or parsed.program
    if program not in ("BTXH", "NCC", "HTXH"):
        raise ValueError("Chưa rõ danh sách thuộc chương trình nào: chọn BTXH, NCC hoặc HTXH.")
    check_program(parsed.month, program)
    area, source, named_as = resolve_commune(parsed, commune)
    units = sorted(_lineage(area))
    result = Plan(parsed, area, program, chosen=commune, commune_source=source,
                  commune_named=named_as, units=units)
    commune = area
    existing = db.session.scalars(
        select(Beneficiary).where(Beneficiary.commune_id.in_(units),
                                  Beneficiary.program == program)
        .options(selectinload(Beneficiary.account))).all()
    # A village name is one of the commune's villages that month: those of the units whose
    # records belong to it then (itself and, from 07/2025, the old communes merged into it:
    # Thôn Tân Hy of Bình Chánh is Xã Bình Sơn's). Only a name none of them bears is new.
    index = areas.lineage_villages(commune, parsed.month or clock.open_month())
    villages_here = bool(index)
    for r in parsed.people:
        _place_village(r, index)
    # The villages of every unit of the lineage, to compare a record's village with the
    # row's; new villages are created under the plan's commune only.
    villages = {v.id: v.name_folded for v in db.session.scalars(
        select(Area).where(Area.parent_id.in_(units), Area.level == "village"))}
    by_id, by_name = {}, {}
    for b in existing:
        if b.national_id:
            by_id.setdefault((b.national_id, b.name_folded, b.birth_year), []).append(b)
        by_name.setdefault((b.name_folded, b.birth_year), []).append(b)
    taken = set()
    people = parsed.people
    officer = _officer_history(units, program)

    # IDs held elsewhere in the registry: other communes, or another person here.
    ids = sorted({r.values["national_id"] for r in people if r.values.get("national_id")})
    holders = {}
    for chunk in range(0, len(ids), 500):
        for b in db.session.scalars(select(Beneficiary).where(
                Beneficiary.national_id.in_(ids[chunk:chunk + 500]))):
            holders.setdefault(b.national_id, []).append(b)

    for r in people:
        v = r.values
        match = None
        nid = v.get("national_id")
        if nid:
            match = next((b for b in by_id.get((nid, r.name_key, v["birth_year"]), [])
                          if b.id not in taken), None)
        if match is None and nid and nid in officer.old_ids:
            # The file still carries an ID an officer has since corrected.
            b = officer.old_ids[nid]
            if b.id not in taken and b.name_folded == r.name_key and b.birth_year == v["birth_year"]:
                match = b
        if match is None:
            vkey = areas.village_key(r.village)
            # A record left without a village by an ambiguous name (``village_ambiguous``)
            # is found again by the same name.
            match = next((b for b in by_name.get((r.name_key, v["birth_year"]), [])
                          if b.id not in taken and (not nid or not b.national_id)
                          and (vkey in {villages.get(b.village_id, "")}
                               | {villages.get(old, "") for old in officer.old_villages.get(b.id, ())}
                               or (r.village_choices and b.village_id is None))), None)
        if nid:
            for other in holders.get(nid, []):
                if other is match or (other.commune_id in units and any(
                        i.code == "duplicate_id" for i in r.issues)):
                    continue
                if other.status in UNPAYABLE or (match is not None and (
                        other.transferred_from_id == match.id or match.transferred_from_id == other.id)):
                    continue  # no longer paid, or the same person moved to another program
                where = ("cùng xã" if other.commune_id == commune.id
                         else f"{other.commune.full_name} (cùng xã qua sắp xếp năm 2025)"
                         if other.commune_id in units else f"xã khác ({other.commune.full_name})")
                issue = _issue(r.sheet, r.row, None, "duplicate_id_registry",
                               f"Số {nid} đã có ở {where}, chương trình {other.program}.")
                r.issues.append(issue)
                parsed.issues.append(issue)
                break
        if match is None:
            result.added.append(r)
            if r.village_choices:
                _village_issue(parsed, r, "người này được thêm chưa có thôn")
            continue
        taken.add(match.id)
        changes = _changes(match, r, villages)
        if "village" in changes and r.village_choices:
            del changes["village"]  # which of the villages is not for the file to guess
            _village_issue(parsed, r, f"hồ sơ giữ thôn đang ghi ({match.village.full_name})"
                           if match.village else "hồ sơ vẫn chưa có thôn")
        kept = {f: c for f, c in changes.items() if f.split(".")[-1].replace("village", "village_id")
                in officer.fields.get(match.id, ())}
        if kept:
            # What an officer recorded (a visit, a correction) is newer than the file.
            for f in kept:
                del changes[f]
            detail = "; ".join(f"{f.split('.')[-1]}: tệp ghi «{new}», hồ sơ giữ «{old}»"
                               for f, (old, new) in kept.items())
            issue = _issue(r.sheet, r.row, None, "file_differs", detail + ".")
            r.issues.append(issue)
            parsed.issues.append(issue)
        if changes:
            result.changed.append((r, match, changes))
        else:
            result.unchanged.append((r, match))
    # The village names the commit would create: those of the people added and of the
    # records whose village changes, not yet under the plan's commune.
    creating = {id(r) for r in result.added} | {id(r) for r, _, ch in result.changed if "village" in ch}
    for r in people:
        key = areas.village_key(r.village)
        if key and key not in index and id(r) in creating:
            index[key] = []
            result.new_villages.append(r.village)
    if villages_here:
        result.villages_to_confirm = list(result.new_villages)
    _settled_stated(result)
    parsed.issues.sort(key=lambda i: (i.sheet or "", i.row))
    return result


def plan_for_code(parsed, code, program=None):
    """``plan`` for the commune chosen by its GSO ``code`` (``import-list --commune``);
    ``None`` when no commune bears it.

    The code names the unit in force in the list's month (``areas.find_commune``). A code
    borne by two units (21040: Thị trấn Châu Ổ until 30/06/2025, Xã Bình Sơn after) names
    either: a file refused (``commune_mismatch``) as the first is tried as the other, newest
    first, so that ``--commune 21040`` takes Bình Chánh's 2024 list (Xã Bình Sơn's lineage)
    as the web does for Xã Bình Sơn's officer. Raises what ``plan`` raises, the first
    refusal when every unit refuses the file."""
    first = areas.find_commune(code, parsed.month)
    if first is None:
        return None
    try:
        return plan(parsed, first, program)
    except ImportRefused as refused:
        if refused.code != "commune_mismatch":
            raise
        others = db.session.scalars(select(Area).where(
            Area.level == "commune", Area.code == first.code, Area.id != first.id)
            .order_by(Area.valid_from.desc().nulls_last())).all()
        for other in others:
            try:
                return plan(parsed, other, program)
            except ImportRefused as e:
                if e.code != "commune_mismatch":
                    raise
        raise refused


def _settled_stated(p):
    """Leave out of the proposals a change a list states that is already settled for its
    record: the same change read from a list before (proposed, decided or dismissed — a
    dismissal is not undone by uploading the list again), or one the record cannot take in
    its month (already stopped, another proposal waiting). Each is said on its row
    (``stated_settled``); reads only."""
    ids = [b.id for r, b in p.stated() if b is not None]
    known = ledger.stated_known(ids)
    for r, b in p.stated():
        if b is None:
            continue
        kind = ledger.STATED_KINDS[r.stated.kind][0]
        why = known.get((b.id, kind, r.stated.effective_month))
        if why is None:
            why = ledger.cannot_take(b, kind, r.stated.effective_month)
        if why:
            r.stated_settled = why
            issue = _issue(r.sheet, r.row, None, "stated_settled", why)
            r.issues.append(issue)
            p.parsed.issues.append(issue)


@dataclass
class _Officer:
    fields: dict  # beneficiary id → {fields an officer has set}
    old_ids: dict  # an ID an officer corrected away → the record
    old_villages: dict  # beneficiary id → {village ids an officer moved the record from}


OFFICER_SOURCES = ("review", "correction", "merge", "police", "household")


def _officer_history(units, program):
    """What officers changed on the records of ``program`` registered in ``units`` (area
    ids), from the history: a re-uploaded file must match those records and must not undo
    what they recorded."""
    ids = select(Beneficiary.id).where(Beneficiary.commune_id.in_(units),
                                       Beneficiary.program == program)
    rows = db.session.execute(
        select(Event.beneficiary_id, Event.field, Event.old_value)
        .where(Event.beneficiary_id.in_(ids), Event.source.in_(OFFICER_SOURCES),
               Event.field.is_not(None))).all()
    out = _Officer({}, {}, {})
    old_ids = {}
    for bid, f, old in rows:
        out.fields.setdefault(bid, set()).add(f)
        if f == "national_id" and old:
            old_ids[old] = bid
        if f == "village_id" and old and old.isdigit():
            out.old_villages.setdefault(bid, set()).add(int(old))
    if old_ids:
        by_id = {b.id: b for b in db.session.scalars(select(Beneficiary).where(
            Beneficiary.id.in_(set(old_ids.values()))))}
        out.old_ids = {nid: by_id[bid] for nid, bid in old_ids.items()}
    return out


def _changes(b, r, villages):
    """``{field: (old, new)}`` for the values the row would change (never to empty)."""
    out = {}
    for f in FIELDS:
        new = r.values.get(f)
        if f == "full_name" or new in (None, ""):
            continue
        old = getattr(b, f)
        if old != new:
            out[f] = (old, new)
    vkey = areas.village_key(r.village)
    # Another name; or the same name in the other old commune, which the row names.
    if vkey and (villages.get(b.village_id, "") != vkey
                 or (r.village_pinned and r.village_area.id != b.village_id)):
        out["village"] = (b.village.full_name if b.village else None, r.village)
    if r.account:
        a = b.account
        for f in ACCOUNT_FIELDS:
            new = r.account.get(f)
            old = getattr(a, f) if a else None
            if new not in (None, "") and old != new:
                out["account." + f] = (old, new)
    return out


# Who decides a grant in a month (``changes.deciding_role``), as the decision names it.
DECIDING_LEVELS = ledger.DECIDING_LEVELS


@dataclass
class NewGrant:
    """The officer's "hưởng mới từ tháng …" for the people an import adds: they are new
    grants from ``month`` by the decision ``number`` of ``day`` (a ``date``), increases of
    that month, instead of the registry's opening balance."""
    month: str
    number: str
    day: date

    def check(self):
        """The month in ``changes.effective_window``, a number, a decision date neither in
        the future nor over a year before the month; ``ImportRefused`` (``bad_new_grant``,
        with the field) else. Returns ``self``."""
        self.number = (self.number or "").strip()
        try:
            self.month = ledger.check_effective_month(self.month)
            if not self.number:
                raise ledger.ChangeError("Ghi số quyết định hưởng mới.", "decision_number")
            if self.day is None:
                raise ledger.ChangeError("Ghi ngày quyết định hưởng mới (dd/mm/yyyy).", "decision_date")
            ledger.check_decision_date(self.day, self.month)
        except ledger.ChangeError as e:
            raise ImportRefused("bad_new_grant", str(e), {"effective_month": "new_from"}.get(
                e.field, e.field)) from None
        return self

    def as_dict(self):
        return {"month": self.month, "number": self.number, "date": self.day.isoformat()}

    @classmethod
    def from_dict(cls, d):
        """The inverse of :meth:`as_dict` (a job's parameters)."""
        return cls(d["month"], d["number"], date.fromisoformat(d["date"]))


def check_villages(p, create_villages):
    """``ImportRefused`` (``villages_not_confirmed``) when plan ``p`` would create villages
    in a commune that has villages already and the officer has not confirmed them."""
    if p.villages_to_confirm and not create_villages:
        raise ImportRefused("villages_not_confirmed", (
            f"Tệp có {len(p.villages_to_confirm)} thôn chưa có ở {p.commune.full_name}: "
            f"{', '.join(p.villages_to_confirm)}. Nếu đúng là thôn mới, đánh dấu «Tạo các thôn "
            f"mới» rồi xác nhận; nếu là thôn đã có viết khác đi, hãy sửa tệp rồi tải lên lại. "
            f"Chưa có gì được ghi."), "create_villages")


def commit(p, user, batch=None, create_villages=False, new_grant=None):
    """Write plan ``p`` (in the caller's transaction): new records with their households,
    villages and accounts, changed fields, findings for every row issue, history events
    (source ``import``). Returns ``{"added": n, "changed": n, "unchanged": n, "increases": n}``.

    New villages in a commune that has villages already need ``create_villages``
    (``check_villages``). An import is never an increase by itself: the people it adds are
    the registry's opening balance (số dư đầu kỳ), except a person whose start month the
    file states (an increase of that month, ``changes.record_new``) and, with
    ``new_grant`` (``NewGrant``), the others, recorded as new grants from its month by its
    decision: an approved ``new`` change each (``changes.propose`` and ``changes.decide``,
    by ``user`` when their role decides, ``changes.deciding_role``, else by the system
    user, the decision's note naming the deciding level and who recorded it).

    A change a row states (a death in the remarks, an end month…) becomes a proposal
    (``changes.propose_stated``) that blocks the person's lines from its month. The lists
    sit above the imports: the caller refreshes the drafts from ``refresh_from`` (the
    earliest month a grant or a stated change touches, or ``None``) with
    ``payments.refresh_drafts``. The result also counts ``proposed`` and lists
    ``not_proposed`` (``{"row", "name", "message"}``).

    Memory is bounded by ``COMMIT_CHUNK``, not by the file: the people added are written
    that many at a time (flushed, then let go of from the session), the other rows flushed
    as often; nothing is committed here."""
    check_villages(p, create_villages)
    if new_grant is not None:
        new_grant.check()
    commune = p.commune
    created = {}

    def village_for(r):
        """The row's village as the plan found it (``_place_village``): an existing one,
        none when the name is ambiguous, else a new one under the plan's commune."""
        if r.village_area is not None or r.village_choices:
            return r.village_area
        key = areas.village_key(r.village)
        if not key:
            return None
        if key not in created:
            created[key] = areas.get_or_create_village(commune, r.village)
        return created[key]

    # Bounded memory (bench/README.md, "Memory"): the rows are written COMMIT_CHUNK at a
    # time, flushed, and the new records of a chunk let go of (``_release``); only ids are
    # kept for later rows (a household named by several rows) and for the stated changes.
    households = {}  # (village id, household key) → Household of this chunk, or its id once written
    stated = {}  # id(ParsedRow) → id of the record added, for the rows that state a change
    increases = 0
    open_codes = _open_codes([b.id for _, b, _ in p.changed] + [b.id for _, b in p.unchanged])
    for start in range(0, len(p.added), COMMIT_CHUNK):
        added, made = [], []
        for r in p.added[start:start + COMMIT_CHUNK]:
            v = village_for(r)
            hkey = (v.id if v else None, r.household_key) if r.household_key else None
            h = households.get(hkey) if hkey else None
            if h is None:
                h = Household(commune_id=commune.id, village_id=v.id if v else None,
                              head_name=r.values["full_name"], code=r.household_key)
                db.session.add(h)
                made.append(h)
                if hkey:
                    households[hkey] = h
            b = Beneficiary(program=p.program, commune_id=commune.id, village_id=v.id if v else None,
                            name_folded=r.name_key, **{f: r.values.get(f) for f in FIELDS})
            if isinstance(h, int):
                b.household_id = h
            else:
                b.household = h
            # Every record names these columns (their defaults when the file has no usable
            # account), so the unit of work inserts a chunk in a few multi-row statements.
            b.account_status, b.payment_method = "unknown", "cash"
            if r.account:
                b.account = Account(**{f: r.account.get(f) for f in ACCOUNT_FIELDS})
                made.append(b.account)
                if _usable(r.account):
                    b.account_status = "has_account"
                    b.payment_method = "cash" if r.account.get("cash") else "account"
            db.session.add(b)
            made.append(b)
            added.append((r, b))
        db.session.flush()
        for r, b in added:
            history.record_creation(b, user, "import", batch)
            _findings(b, r, batch, set())
            if r.stated:
                stated[id(r)] = b.id
        increases += _record_starts(added, user, batch, new_grant)
        db.session.flush()
        for hkey, h in households.items():
            if isinstance(h, Household):
                households[hkey] = h.id
        del added
        _release(made)
    for i, (r, b, changes) in enumerate(p.changed):
        simple = {f: new for f, (old, new) in changes.items() if "." not in f and f != "village"}
        history.set_fields(b, simple, user, "import", batch)
        if "village" in changes:
            v = village_for(r)
            history.set_fields(b, {"village_id": v.id}, user, "import", batch)
        acc = {f.split(".", 1)[1]: new for f, (old, new) in changes.items() if f.startswith("account.")}
        if acc:
            if b.account is None:
                b.account = Account(recipient_type="self")
                db.session.add(b.account)
            history.set_fields(b.account, acc, user, "import", batch, beneficiary_id=b.id)
            if b.account_status == "unknown" and _usable(r.account):
                history.set_fields(b, {"account_status": "has_account",
                                       "payment_method": "cash" if r.account.get("cash") else "account"},
                                   user, "import", batch)
        _findings(b, r, batch, open_codes.get(b.id, set()))
        if i % COMMIT_CHUNK == COMMIT_CHUNK - 1:
            db.session.flush()
    for i, (r, b) in enumerate(p.unchanged):
        _findings(b, r, batch, open_codes.get(b.id, set()))
        if i % COMMIT_CHUNK == COMMIT_CHUNK - 1:
            db.session.flush()
    db.session.flush()
    stated = _propose_stated(p, stated, user, batch)
    froms = [m for m in (stated["from"], new_grant.month if new_grant is not None else None) if m]
    return {"added": len(p.added), "changed": len(p.changed), "unchanged": len(p.unchanged),
            "increases": increases, "proposed": stated["proposed"], "not_proposed": stated["not_proposed"],
            "refresh_from": min(froms) if froms else None}


#: Rows ``commit`` writes per flush: its memory grows with this, not with the file. A flush
#: of 1,000 new records (with their households, accounts, events and findings) took some
#: 45 MB more resident memory on PostgreSQL (the multi-row statements and their parameters,
#: the unit of work); 250 take some 15, in the same time (bench/README.md, "Memory").
COMMIT_CHUNK = 250


def _release(objects):
    """Let go of written objects no later row needs: expired (which drops their references
    to one another, household ↔ members ↔ account, so they are freed without waiting for
    the cycle collector) and taken out of the session. They stay written; a later read
    loads them again."""
    for o in objects:
        if o in db.session:
            db.session.expire(o)
            db.session.expunge(o)


def _propose_stated(p, added, user, batch):
    """A proposal for each change the list states (``changes.propose_stated``): it blocks
    the person's lines from its month until decided or dismissed. ``added``: ``{id(row):
    id of the record added}`` for the rows of ``p.added`` that state one. A person who cannot take
    it (already stopped, another proposal waiting: a second import of the same list) is
    reported, not proposed. Returns ``{"proposed": n, "not_proposed": [{"row", "name",
    "message"}], "from": the earliest effective month or None}``."""
    proposed, skipped, first = 0, [], None
    for r, b in p.stated():
        b = b if b is not None else db.session.get(Beneficiary, added[id(r)])
        where = f"{batch.filename + ', ' if batch is not None and batch.filename else ''}" \
                f"{r.sheet + ', ' if r.sheet else ''}dòng {r.row}"
        try:
            ledger.propose_stated(b, r.stated, user, where)
        except ledger.ChangeError as e:
            skipped.append({"row": r.row, "name": r.values["full_name"], "message": str(e)})
            continue
        proposed += 1
        first = min(first or r.stated.effective_month, r.stated.effective_month)
    return {"proposed": proposed, "not_proposed": skipped, "from": first}


def _record_starts(added, user, batch, new_grant):
    """The increases among the people just added (``commit``); returns their number."""
    n = 0
    grants = []
    for r, b in added:
        if r.start_month:
            ledger.record_new(b, r.start_month, user, source="import",
                              reason=f"Hưởng từ tháng {months.label(r.start_month)} (theo danh sách của xã)")
            n += 1
        elif new_grant is not None:
            grants.append(b)
    if not grants:
        return n
    level = ledger.deciding_role(months.start(new_grant.month))
    decider = user if user.role in (ledger.deciding_role(), "system") else history.system_user()
    evidence = f"Quyết định số {new_grant.number} ngày {new_grant.day:%d/%m/%Y}"
    note = (f"{evidence} của {DECIDING_LEVELS.get(level, level)}; "
            f"{user.full_name or user.username} ghi khi nhập danh sách"
            f"{' ' + batch.filename if batch is not None else ''}.")
    for b in grants:
        change = ledger.propose(b, "new", user, new_grant.month, source="import",
                                reason=f"Hưởng mới từ tháng {months.label(new_grant.month)}",
                                evidence=evidence)
        ledger.decide(change, decider, True, new_grant.number, new_grant.day, note=note)
    return n + len(grants)


def _open_codes(ids):
    """``{beneficiary id: {codes of its open findings}}``, in chunks."""
    out = {}
    for i in range(0, len(ids), 500):
        for bid, code in db.session.execute(select(Finding.beneficiary_id, Finding.code).where(
                Finding.beneficiary_id.in_(ids[i:i + 500]), Finding.resolved_at.is_(None))):
            out.setdefault(bid, set()).add(code)
    return out


def _usable(account):
    """An account from a file counts as an account only with a known bank and a plausible
    number; otherwise it waits for the officer's visit (its problems are findings)."""
    bank = by_bin(account.get("bank_bin")) if account.get("bank_bin") else None
    return bank is not None and not check_account_number(account.get("number"), bank)


def _findings(b, r, batch, open_codes):
    """One open finding per (record, code): importing the same file twice adds none."""
    for i in r.issues:
        # The ledger opens the stated change's finding with its proposal (propose_stated);
        # a settled one is the preview's news, not the record's.
        if i.code in open_codes or i.code in ("legacy_encoding", "stated_change", "stated_settled"):
            continue
        open_codes.add(i.code)
        db.session.add(Finding(beneficiary_id=b.id, commune_id=b.commune_id, code=i.code,
                               severity=i.severity, field=i.column, message=i.message, source="import",
                               batch_id=batch.id if batch else None, sheet=i.sheet, row=i.row))


def claim(batch, status):
    """Move ``batch`` out of ``preview`` into ``status`` within this transaction, or say no
    (and roll back). The conditional UPDATE takes the row's write lock, so of two requests
    sent at once (a double tap, a retry on a weak link, a cancel racing a confirm) exactly
    one goes through."""
    try:
        moved = db.session.execute(
            update(ImportBatch).where(ImportBatch.id == batch.id, ImportBatch.status == "preview")
            .values(status=status).execution_options(synchronize_session=False)).rowcount
    except OperationalError:  # SQLite: the other request holds the lock
        moved = 0
    if moved != 1:
        db.session.rollback()
        return False
    return True
