"""Dates as commune files write them: births (full date or year only) and list months.

A birth cell may hold an Excel date, text ``dd/mm/yyyy`` (also ``-`` or ``.``), ISO
``yyyy-mm-dd``, a bare year, ``00/00/1945`` (year only) or an Excel serial number. In a
birth column a whole number between 1880 and this year is a year, a larger one an
Excel serial date (``shared/design/domain.md`` §9).
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from portal.vn.text import decode_legacy, fold, nfc, LEGACY_TCVN3, LEGACY_VNI

BAD_BIRTH_DATE = "bad_birth_date"
MIN_BIRTH_YEAR = 1880
# Excel's day 0 (serial 1 = 1900-01-01, counting its fictitious 29/02/1900).
EXCEL_EPOCH = _dt.date(1899, 12, 30)


class BirthResult(NamedTuple):
    """A birth as read: ``date`` when the day is known, ``year`` whenever the year is
    (``date.year`` if there is a date), ``problem`` ``"bad_birth_date"`` or ``None``."""

    date: _dt.date | None
    year: int | None
    problem: str | None


_DMY = re.compile(r"^(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{4})$")
_YMD = re.compile(r"^(\d{4})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{1,2})$")
_MY = re.compile(r"^(\d{1,2})\s*[/.\-]\s*(\d{4})$")
_TIME = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")

_BAD = BirthResult(None, None, BAD_BIRTH_DATE)
_EMPTY = BirthResult(None, None, None)


def _this_year(today_year):
    return today_year if today_year is not None else _dt.date.today().year


def _check_date(d: _dt.date, today_year) -> BirthResult:
    if d.year < MIN_BIRTH_YEAR:
        return _BAD
    if today_year is not None:
        future = d.year > today_year
    else:
        future = d > _dt.date.today()
    return _BAD if future else BirthResult(d, d.year, None)


def _year_only(year: int, today_year) -> BirthResult:
    if MIN_BIRTH_YEAR <= year <= _this_year(today_year):
        return BirthResult(None, year, None)
    return _BAD


def _from_number(n: float, today_year) -> BirthResult:
    """A numeric cell: a plausible year, else an Excel serial date (day fraction ignored)."""
    if not math.isfinite(n) or n < 0:
        return _BAD
    whole = int(n)
    if n == whole and MIN_BIRTH_YEAR <= whole <= _this_year(today_year):
        return BirthResult(None, whole, None)
    if whole <= _this_year(today_year):
        return _BAD  # too small to be a serial date of a living person, not a year
    try:
        d = EXCEL_EPOCH + _dt.timedelta(days=whole)
    except OverflowError:
        return _BAD
    return _check_date(d, today_year)


def _ymd(y: int, m: int, d: int, today_year) -> BirthResult:
    if d == 0 or m == 0:
        # "00/00/1945", "00/05/1945": the day or month is unknown, the year is meant.
        if m > 12 or d > 31:
            return BirthResult(None, _year_only(y, today_year).year, BAD_BIRTH_DATE)
        return _year_only(y, today_year)
    try:
        date = _dt.date(y, m, d)
    except ValueError:
        # 31/02/1950: keep the year if it is plausible, but flag the date.
        return BirthResult(None, _year_only(y, today_year).year, BAD_BIRTH_DATE)
    return _check_date(date, today_year)


def parse_birth(value, today_year: int | None = None) -> BirthResult:
    """Read a birth cell.

    Accepts ``datetime``/``date`` cells; text ``dd/mm/yyyy``, ``d/m/yyyy``,
    ``dd-mm-yyyy``, ``dd.mm.yyyy``, ``yyyy-mm-dd`` (a trailing time is ignored),
    ``mm/yyyy``; a year as text or number (1880 … this year → year only, ``1945.0``
    too); ``00/00/1945``, ``0/0/1945``, ``00/05/1945`` → year only; a number or
    numeric text larger than this year → Excel serial date (epoch 1899-12-30).

    Problems give ``problem="bad_birth_date"``: unparseable text, a 2-digit year (never
    guessed), an impossible date such as ``31/02/1950`` (the year is kept when
    plausible), a date or year in the future or before 1880. Day-first is assumed; a
    US-style ``05/25/1965`` is impossible, not swapped. ``None``/blank →
    ``BirthResult(None, None, None)`` (missing is the caller's check).

    ``today_year`` pins "this year" (tests, replays); by default today's date is used
    and a full date after today is in the future.
    """
    if value is None:
        return _EMPTY
    if isinstance(value, bool):
        return _BAD
    if isinstance(value, _dt.datetime):
        return _check_date(value.date(), today_year)
    if isinstance(value, _dt.date):
        return _check_date(value, today_year)
    if isinstance(value, (int, float, Decimal)):
        return _from_number(float(value), today_year)

    s = nfc(str(value))
    if not s:
        return _EMPTY
    s = _TIME.sub("", s).strip()
    if _NUMBER.match(s):
        if "." in s and set(s.split(".")[1]) != {"0"} and len(s.split(".")[0]) == 4:
            return _BAD  # "1945.5"
        if len(s.split(".")[0]) == 4 and "." not in s:
            # A 4-digit text is meant as a year, whatever its value.
            return _year_only(int(s), today_year)
        return _from_number(float(s), today_year)
    m = _DMY.match(s)
    if m:
        return _ymd(int(m.group(4)), int(m.group(3)), int(m.group(1)), today_year)
    m = _YMD.match(s)
    if m:
        return _ymd(int(m.group(1)), int(m.group(3)), int(m.group(4)), today_year)
    m = _MY.match(s)
    if m:
        month, year = int(m.group(1)), int(m.group(2))
        if month > 12:
            return BirthResult(None, _year_only(year, today_year).year, BAD_BIRTH_DATE)
        return _year_only(year, today_year)
    return _BAD


_MONTH_PATTERNS = (
    # "tháng 5 năm 2024", "THÁNG 05 NĂM 2024", "tháng 5/2024", "tháng 05-2024", "tháng 5, năm 2024"
    re.compile(r"\bthang\s*(\d{1,2})\s*(?:[,;]?\s*nam\s*|[/.\-]\s*)(\d{4})\b"),
    # "T5/2024", "T.5/2024", "T05-2024"
    re.compile(r"\bt\.?\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\b"),
    # a bare "05/2024" not part of a full date such as 12/05/2024
    re.compile(r"(?<![\d/.\-])(\d{1,2})\s*[/\-]\s*(\d{4})\b(?![/.\-]\d)"),
)


def _find_month(text: str) -> str | None:
    key = fold(text)
    for pattern in _MONTH_PATTERNS:
        for m in pattern.finditer(key):
            month, year = int(m.group(1)), int(m.group(2))
            if 1 <= month <= 12 and 1900 <= year <= 2100:
                return f"{year:04d}-{month:02d}"
    return None


def parse_month(s) -> str | None:
    """Find the list's month in a title line; returns ``"YYYY-MM"`` or ``None``.

    Understands "Tháng 5 năm 2024", "THÁNG 05 NĂM 2024", "tháng 5/2024", "T5/2024",
    "tháng 05-2024", and, failing those, a bare "05/2024" that is not part of a full
    date. Text still in TCVN3 or VNI ("TH¸NG 5/2024") is tried decoded as well.
    """
    if not s:
        return None
    s = str(s)
    found = _find_month(s)
    if found:
        return found
    for encoding in (LEGACY_TCVN3, LEGACY_VNI):
        decoded = decode_legacy(s, encoding)
        if decoded != s:
            found = _find_month(decoded)
            if found:
                return found
    return None


def format_date(d) -> str:
    """``date`` → ``"dd/mm/yyyy"`` (Vietnamese order); ``None`` → ``""``."""
    if d is None:
        return ""
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def format_birth(date, year=None) -> str:
    """A birth for display: ``"15/09/1998"`` when the date is known, else ``"1945"``,
    else ``""``."""
    if date is not None:
        return format_date(date)
    return str(year) if year else ""


VIETNAM_OFFSET = _dt.timedelta(hours=7)  # Vietnam keeps UTC+7 all year (no summer time)


def vietnam_time(moment):
    """A stored naive UTC ``datetime`` as the time in Vietnam; ``None`` stays ``None``."""
    return moment + VIETNAM_OFFSET if moment is not None else None


def format_moment(moment) -> str:
    """A stored naive UTC ``datetime`` as people in Vietnam read it: ``"30/11/2026 07:05"``."""
    return "" if moment is None else vietnam_time(moment).strftime("%d/%m/%Y %H:%M")


# ---------------------------------------------------------------------- dates in remarks

@dataclass(frozen=True)
class DateMention:
    """A date, month or year written in free text (a remark), as found by :func:`find_dates`.

    ``precision`` is ``"day"`` (``day`` holds the date), ``"month"`` or ``"year"``;
    ``month`` is the ``"YYYY-MM"`` it falls in (``None`` for a bare year); ``year`` always;
    ``start``/``end`` are offsets in the folded text (:func:`portal.vn.text.fold` of the
    remark), so a caller can tell which words come before and after it.
    """

    precision: str
    year: int
    month: str | None
    day: _dt.date | None
    start: int
    end: int


_REMARK_DATE_PATTERNS = (
    # "ngày 12 tháng 4 năm 2024", "ngay 12 thang 04 nam 2024"
    ("day", re.compile(r"\bngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*(?:,\s*)?nam\s*(\d{4})\b")),
    # 12/4/2024, 12-04-2024, 12.4.2024, 12/04/24, 12-4-24
    ("day", re.compile(r"(?<![\d/.\-])(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})(?![\d/.\-])")),
    # "tháng 4/2024", "tháng 4 năm 2024", "thg 6-2024", "T6/2024", "T.06/24", "T6 2024"
    ("month", re.compile(r"\b(?:thang|thg|t\.?)\s*(\d{1,2})\s*(?:[,;]?\s*nam\s*|[/.\-]\s*|\s+)(\d{4}|\d{2})(?![\d/.\-])")),
    # a bare "6/2024" or "06-2024"
    ("month", re.compile(r"(?<![\d/.\-])(\d{1,2})\s*[/\-]\s*(\d{4})(?![\d/.\-])")),
    # "năm 2019", or a bare 19xx / 20xx
    ("year", re.compile(r"(?<![\d/.\-])((?:19|20)\d{2})(?![\d/.\-])")),
)


def _full_year(y: str) -> int:
    """A year as written: ``"2024"`` → 2024; two digits are this century's (``"24"`` →
    2024): remarks record recent events."""
    return int(y) if len(y) == 4 else 2000 + int(y)


def find_dates(text) -> list[DateMention]:
    """Every date, month and year written in ``text``, in order, none inside another.

    Understands ``d/m/yyyy``, ``dd-mm-yy``, ``d.m.yyyy``, "ngày 12 tháng 4 năm 2024",
    "tháng 4/2024", "tháng 4 năm 2024", "T6/2024", "T06-24", a bare "6/2024", "năm 2019"
    and a bare year of 1900–2099, with or without diacritics. Impossible dates
    (31/02/2024, month 13) are skipped. Never raises; ``None`` → ``[]``.
    """
    key = fold(text) if text else ""
    found: list[DateMention] = []
    taken: list[tuple[int, int]] = []
    for precision, pattern in _REMARK_DATE_PATTERNS:
        for m in pattern.finditer(key):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            g = [x for x in m.groups() if x not in ("/", ".", "-")]
            try:
                if precision == "day":
                    d = _dt.date(_full_year(g[2]), int(g[1]), int(g[0]))
                    if not 1900 <= d.year <= 2099:
                        continue
                    mention = DateMention("day", d.year, f"{d.year:04d}-{d.month:02d}", d, m.start(), m.end())
                elif precision == "month":
                    month, year = int(g[0]), _full_year(g[1])
                    if not 1 <= month <= 12 or not 1900 <= year <= 2099:
                        continue
                    mention = DateMention("month", year, f"{year:04d}-{month:02d}", None, m.start(), m.end())
                else:
                    mention = DateMention("year", int(g[0]), None, None, m.start(), m.end())
            except ValueError:
                continue
            found.append(mention)
            taken.append((m.start(), m.end()))
    return sorted(found, key=lambda d: d.start)
