"""Personal identification numbers (số định danh cá nhân / CCCD, and old CMND).

Structure of the 12-digit number: ``PPP G YY NNNNNN`` — set by Decree 137/2015/NĐ-CP
Art. 13 and Circular 07/2016/TT-BCA Art. 7, kept by the Law on Identification 2023
Art. 12:

- ``PPP`` province (or centrally-run city) of birth registration, see
  ``portal/data/id_province_codes.csv`` (63 pre-2025 codes; Quảng Ngãi 051);
- ``G`` century and sex: 0 male / 1 female born 1900–1999, 2/3 born 2000–2099,
  4/5 2100–2199, 6/7 2200–2299, 8/9 2300–2399;
- ``YY`` last two digits of the birth year;
- ``NNNNNN`` random. There is **no check digit**.

The old identity card (CMND) has 9 digits (12 in 2012–2016); it is never a unique key.

What commune files do to these numbers (``shared/design/domain.md`` §6): Excel drops
the leading zero (``51190012345``), shows scientific notation (``5.11900E+10``: the
digits are lost — flag, never guess) or keeps the spaces typed by hand.
"""
from __future__ import annotations

import csv
import functools
import importlib.resources
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

from portal.vn.text import fold, mask, nfc

ID_LOST_LEADING_ZERO = "id_lost_leading_zero"
ID_SCIENTIFIC_NOTATION = "id_scientific_notation"
ID_BAD_LENGTH = "id_bad_length"
ID_NOT_DIGITS = "id_not_digits"
ID_UNKNOWN_PROVINCE = "id_unknown_province"
ID_SEX_CENTURY_MISMATCH = "id_sex_century_mismatch"
ID_YEAR_MISMATCH = "id_year_mismatch"
CMND_LEGACY = "cmnd_legacy"


@dataclass
class IdResult:
    """The outcome of reading one ID cell.

    ``value``: the normalised number to store — 12 digits (CCCD) or 9 digits (CMND) —
    or ``None`` when unusable. ``kind``: ``"cccd"``, ``"cmnd"``, ``"empty"`` or
    ``"invalid"``. ``problems``: problem codes (module constants), warnings included
    (``id_unknown_province`` and the consistency codes keep ``value``). ``raw``: the
    cell as text, for messages.
    """

    value: str | None
    kind: str
    problems: list[str] = field(default_factory=list)
    raw: str = ""


@functools.cache
def _provinces() -> dict[str, str]:
    path = importlib.resources.files("portal") / "data" / "id_province_codes.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return {row["code"].strip(): nfc(row["province"]) for row in csv.DictReader(f)}


def province_name(code3) -> str | None:
    """Name of the province whose 3-digit birth-registration code is ``code3``
    (``"051"`` → ``"Quảng Ngãi"``; an int or short string is zero-padded); ``None``
    if unknown. Codes are the 63 pre-2025 provinces (Circular 07/2016/TT-BCA, annex)."""
    if code3 is None:
        return None
    code = str(code3).strip()
    if not code.isdigit() or len(code) > 3:
        return None
    return _provinces().get(code.zfill(3))


def _norm_sex(sex):
    if sex is None:
        return None
    key = fold(str(sex))
    if key in ("m", "nam", "male"):
        return "M"
    if key in ("f", "nu", "female"):
        return "F"
    return None


def century_sex_digit(sex, birth_year: int) -> int:
    """The ``G`` digit an ID must carry for ``sex`` (``"M"``/``"F"``) born in ``birth_year``.

    0/1 for 1900–1999, 2/3 for 2000–2099, … 8/9 for 2300–2399 (male even, female odd;
    Circular 07/2016/TT-BCA Art. 7). Raises ``ValueError`` for another sex or a year
    outside 1900–2399.
    """
    s = _norm_sex(sex)
    if s is None:
        raise ValueError(f"sex must be 'M' or 'F', not {sex!r}")
    year = int(birth_year)
    if not 1900 <= year <= 2399:
        raise ValueError(f"no century digit for birth year {year} (1900–2399)")
    return 2 * (year // 100 - 19) + (1 if s == "F" else 0)


def id_consistency(national_id, sex=None, birth_year=None) -> list[str]:
    """Check a 12-digit ID against the holder's sex and birth year.

    Returns a subset of ``["id_sex_century_mismatch", "id_year_mismatch"]``: ``G``
    disagrees with sex and/or birth century (each checked when known: a year-only birth
    still checks the century and ``YY``); ``YY`` differs from the birth year's last two
    digits. Anything that is not 12 digits, or a birth year outside 1900–2399, gives
    ``[]`` (nothing to check). Rule: Decree 137/2015/NĐ-CP Art. 13.
    """
    nid = "" if national_id is None else str(national_id)
    if len(nid) != 12 or not nid.isdigit():
        return []
    g, yy = int(nid[3]), int(nid[4:6])
    s = _norm_sex(sex)
    year = None
    if birth_year is not None:
        try:
            year = int(birth_year)
        except (TypeError, ValueError):
            year = None
        if year is not None and not 1900 <= year <= 2399:
            year = None
    problems = []
    sex_ok = s is None or (g % 2 == (1 if s == "F" else 0))
    century_ok = year is None or g // 2 == year // 100 - 19
    if not (sex_ok and century_ok):
        problems.append(ID_SEX_CENTURY_MISMATCH)
    if year is not None and yy != year % 100:
        problems.append(ID_YEAR_MISMATCH)
    return problems


_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d*)?\s*[eE]\s*[+-]?\s*\d+$")
_SEPARATORS = re.compile(r"[\s.\-_/]")
_FLOAT_TEXT = re.compile(r"^\d+\.0+$")


def _raw_text(raw) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer() and "e" not in repr(raw):
        return str(int(raw))
    return str(raw)


def parse_national_id(raw, sex=None, birth_year=None) -> IdResult:
    """Read an ID cell as a commune file holds it; never guesses lost digits.

    ``raw``: ``str``, ``int``, ``float`` or ``None``. Spaces, dots, dashes inside are
    removed (``"051 190 012 345"``); a numeric cell gives its integer digits
    (``51190012345.0`` → ``"51190012345"``), a leading ``'`` is dropped.

    - 12 digits → ``kind="cccd"``; ``id_unknown_province`` if ``PPP`` is not a known
      code, plus :func:`id_consistency` against ``sex``/``birth_year``.
    - 10 or 11 digits (Excel dropped the leading zeros) → restored to 12 and reported
      ``id_lost_leading_zero`` only if the restored ``PPP`` is a known code and ``G``/``YY``
      agree with ``sex``/``birth_year`` (those given); otherwise ``id_bad_length``.
    - 9 digits → ``kind="cmnd"``, ``cmnd_legacy``.
    - Scientific notation (text with ``E+``, or a float whose ``repr`` has an exponent)
      → ``value=None``, ``id_scientific_notation``.
    - other lengths → ``id_bad_length``; letters or signs → ``id_not_digits``.
    - ``None``/blank → ``kind="empty"``, no problems.
    """
    text = _raw_text(raw)
    if raw is None or (isinstance(raw, str) and not nfc(raw)):
        return IdResult(None, "empty", [], text)
    if isinstance(raw, bool):
        return IdResult(None, "invalid", [ID_NOT_DIGITS], text)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return IdResult(None, "invalid", [ID_NOT_DIGITS], text)
        if "e" in repr(raw):
            return IdResult(None, "invalid", [ID_SCIENTIFIC_NOTATION], text)
        if not raw.is_integer() or raw < 0:
            return IdResult(None, "invalid", [ID_NOT_DIGITS], text)
        digits = str(int(raw))
    elif isinstance(raw, int):
        if raw < 0:
            return IdResult(None, "invalid", [ID_NOT_DIGITS], text)
        digits = str(raw)
    elif isinstance(raw, Decimal):
        if not raw.is_finite() or raw != raw.to_integral_value() or raw < 0:
            return IdResult(None, "invalid", [ID_NOT_DIGITS], text)
        digits = str(int(raw))
    else:
        s = nfc(raw).lstrip("'").strip()
        if _SCIENTIFIC.match(s.replace(" ", "")):
            return IdResult(None, "invalid", [ID_SCIENTIFIC_NOTATION], text)
        if _FLOAT_TEXT.match(s):
            s = s.split(".")[0]
        digits = _SEPARATORS.sub("", s)
        if not digits.isdigit() or not digits.isascii():
            return IdResult(None, "invalid", [ID_NOT_DIGITS], text)

    if len(digits) == 12:
        problems = []
        if province_name(digits[:3]) is None:
            problems.append(ID_UNKNOWN_PROVINCE)
        problems += id_consistency(digits, sex, birth_year)
        return IdResult(digits, "cccd", problems, text)
    if len(digits) in (10, 11):
        restored = digits.zfill(12)
        if province_name(restored[:3]) and not id_consistency(restored, sex, birth_year):
            return IdResult(restored, "cccd", [ID_LOST_LEADING_ZERO], text)
        return IdResult(None, "invalid", [ID_BAD_LENGTH], text)
    if len(digits) == 9:
        return IdResult(digits, "cmnd", [CMND_LEGACY], text)
    return IdResult(None, "invalid", [ID_BAD_LENGTH], text)


def mask_id(s) -> str:
    """A personal ID for lists: all but the last 4 characters hidden (see :func:`portal.vn.text.mask`)."""
    return mask(s)
