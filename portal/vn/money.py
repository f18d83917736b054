"""Money: whole đồng (VND has no subunit in use), as files write it and as people read it.

Amounts are ``int`` đồng everywhere (``shared/design/domain.md`` §5). Vietnamese writes
thousands with ``.`` (``1.500.000 đ``); files also carry ``,`` or spaces, and
currency words ``đ``, ``đồng``, ``VNĐ``, ``VND``.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from portal.vn.text import nfc

_CURRENCY = re.compile(r"(?:vnđ|vnd|đồng|dong|đ|d)\.?", re.IGNORECASE)
_GROUPED = re.compile(r"^\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*$")
_WITH_ZERO_DECIMALS = re.compile(r"^(?P<int>[\d.,]*?\d)(?P<sep>[.,])(?P<dec>0{1,2})$")


def _strip_currency(s: str) -> str:
    s = s.strip()
    m = re.match(r"^(?:vnđ|vnd|đ)\s*", s, re.IGNORECASE)
    if m:
        s = s[m.end():]
    m = re.search(r"\s*" + _CURRENCY.pattern + r"$", s, re.IGNORECASE)
    if m and (m.start() == 0 or not s[m.start() - 1].isalpha()):
        s = s[: m.start()]
    return s.strip()


def _parse_digits(s: str, original) -> int:
    if s.isdigit() and s.isascii():
        return int(s)
    if _GROUPED.match(s):
        return int(re.sub(r"[.,]", "", s))
    m = _WITH_ZERO_DECIMALS.match(s)
    if m:
        # "540.000,00", "540000.0": zero decimals are only a number format.
        whole, sep = m.group("int"), m.group("sep")
        if sep not in whole:
            return _parse_digits(whole, original)
    raise ValueError(f"not a whole amount in đồng: {original!r}")


def parse_amount(value) -> int | None:
    """Read an amount cell as whole đồng; ``None`` for an empty cell.

    Accepts ``int``; integral ``float``/``Decimal`` (``540000.0`` → ``540000``); text
    ``"540000"``, ``"540.000"``, ``"540,000"``, ``"540 000"``, ``"540.000 đ"``,
    ``"1.500.000đ"``, ``"2.055.000 VNĐ"``, ``"540.000,00"``.

    Raises ``ValueError`` with the offending value for text that is not an amount
    (``"abc"``), a negative amount, or a fraction of a đồng (``"1,5"``,
    ``"540000,5"``, ``540000.5``): money has no decimals.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an amount in đồng: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative amount: {value!r}")
        return value
    if isinstance(value, (float, Decimal)):
        try:
            f = Decimal(str(value)) if isinstance(value, float) else value
        except InvalidOperation:  # pragma: no cover - str(float) is always valid
            raise ValueError(f"not an amount in đồng: {value!r}") from None
        if isinstance(value, float) and not math.isfinite(value) or not f.is_finite():
            raise ValueError(f"not an amount in đồng: {value!r}")
        if f < 0:
            raise ValueError(f"negative amount: {value!r}")
        rounded = f.to_integral_value()
        # Excel arithmetic (1.5 × 360000) can leave a float a hair off a whole number.
        if abs(f - rounded) > Decimal("0.000001"):
            raise ValueError(f"amount has a fraction of a đồng: {value!r}")
        return int(rounded)

    s = nfc(str(value))
    if not s:
        return None
    s = s.replace("\u202f", " ")
    if s.startswith("-") or s.startswith("(") and s.endswith(")") or s.startswith("−"):
        raise ValueError(f"negative amount: {value!r}")
    s = _strip_currency(s.lstrip("+"))
    s = s.replace(" ", "")
    if not s:
        raise ValueError(f"not an amount in đồng: {value!r}")
    return _parse_digits(s, value)


def format_int(n) -> str:
    """``1500000`` → ``"1.500.000"`` (Vietnamese thousands separator); ``None`` → ``""``."""
    if n is None:
        return ""
    n = int(n)
    sign = "-" if n < 0 else ""
    return sign + f"{abs(n):,}".replace(",", ".")


def format_vnd(n) -> str:
    """``1500000`` → ``"1.500.000 đ"``; ``None`` → ``""``."""
    if n is None:
        return ""
    return f"{format_int(n)} đ"


_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")


def _three(n: int, full: bool, odd: str) -> str:
    """Words for 0 < n < 1000; ``full`` reads the leading zeros ("không trăm lẻ năm")."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    words = []
    if hundreds or full:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if words:
                words.append(odd)
            words.append(_DIGITS[units])
        return " ".join(words)
    if tens == 1:
        words.append("mười")
    else:
        words += [_DIGITS[tens], "mươi"]
    if units == 1:
        words.append("mốt" if tens > 1 else "một")
    elif units == 5:
        words.append("lăm")
    elif units:
        words.append(_DIGITS[units])
    return " ".join(words)


def _below_billion(n: int, full: bool, odd: str) -> str:
    groups = [(n // 1_000_000, "triệu"), (n // 1000 % 1000, "nghìn"), (n % 1000, "")]
    words = []
    for value, unit in groups:
        if value:
            words.append(_three(value, full or bool(words), odd))
            if unit:
                words.append(unit)
    return " ".join(words)


def _words(n: int, full: bool, odd: str) -> str:
    if n >= 1_000_000_000:
        high, low = divmod(n, 1_000_000_000)
        text = _words(high, full, odd) + " tỷ"
        return text + (" " + _below_billion(low, True, odd) if low else "")
    return _below_billion(n, full, odd)


def amount_in_words(n, odd: str = "lẻ") -> str:
    """Vietnamese words for an amount, as written on payment lists and receipts.

    ``1500000`` → ``"Một triệu năm trăm nghìn đồng"``; ``2055000`` → ``"Hai triệu không
    trăm năm mươi lăm nghìn đồng"``; ``105`` → ``"Một trăm lẻ năm đồng"`` (pass
    ``odd="linh"`` for the northern usage); ``0`` → ``"Không đồng"``. Handles "mười",
    "mốt", "lăm" and "không trăm" in inner groups; beyond 999 tỷ the tỷ repeat ("một
    nghìn tỷ"). Raises ``ValueError`` for a negative or non-integral amount.
    """
    if isinstance(n, bool) or int(n) != n:
        raise ValueError(f"amount must be a whole number of đồng: {n!r}")
    n = int(n)
    if n < 0:
        raise ValueError(f"negative amount: {n!r}")
    if n == 0:
        return "Không đồng"
    text = _words(n, False, odd)
    return text[0].upper() + text[1:] + " đồng"
