"""Banks and e-wallets that receive allowances, and account-number plausibility.

The list (Napas BIN as used by VietQR, short name, kind, Vietnamese name, aliases) is
``portal/data/banks.csv``. There is no official machine-readable list and no
account-number checksum in Vietnam, so the list is editable data and the checks here
are plausibility checks only (``shared/design/domain.md`` §7–8; wallet BINs unverified).
"""
from __future__ import annotations

import csv
import functools
import importlib.resources
import math
import re
from dataclasses import dataclass

from portal.vn.text import fold, mask, nfc

ACCOUNT_NOT_DIGITS = "account_not_digits"
ACCOUNT_BAD_LENGTH = "account_bad_length"
ACCOUNT_IS_CARD_NUMBER = "account_is_card_number"

BANK_ACCOUNT_LENGTHS = range(6, 20)  # 6–19 digits
WALLET_ACCOUNT_LENGTH = 10  # a mobile number, 0xxxxxxxxx
NAPAS_CARD_PREFIX = "9704"


@dataclass(frozen=True)
class Bank:
    """Ngân hàng / ví điện tử — a payment provider.

    ``bin``: 6-digit Napas BIN (``"970405"``); ``short_name``: as staff say it
    (``"Agribank"``); ``kind``: ``"bank"`` or ``"wallet"``; ``name_vi``: full
    Vietnamese name (the short name when the list has none); ``aliases``: other ways
    files write it.
    """

    bin: str
    short_name: str
    kind: str
    name_vi: str
    aliases: tuple[str, ...] = ()


@functools.cache
def _banks() -> tuple[Bank, ...]:
    path = importlib.resources.files("portal") / "data" / "banks.csv"
    banks = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            short = nfc(row["short_name"])
            aliases = tuple(a for a in (nfc(x) for x in (row.get("aliases") or "").split("|")) if a)
            banks.append(
                Bank(
                    bin=row["bin"].strip(),
                    short_name=short,
                    kind=row["kind"].strip(),
                    name_vi=nfc(row.get("name_vi")) or short,
                    aliases=aliases,
                )
            )
    return tuple(banks)


def all_banks() -> list[Bank]:
    """Every bank and wallet in ``portal/data/banks.csv``, in file order."""
    return list(_banks())


def by_bin(bin) -> Bank | None:
    """The bank with this Napas BIN (``"970405"`` or ``970405``), or ``None``."""
    if bin is None:
        return None
    key = str(bin).strip()
    return next((b for b in _banks() if b.bin == key), None)


# Words that say "a bank" without saying which one.
_GENERIC = re.compile(
    r"^(?:ngan hang|nh|nhtm|nhtmcp|tmcp|thuong mai co phan|ngan hang tmcp|ngan hang thuong mai co phan)\s+"
)


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(text))


def _keys(text: str) -> set[str]:
    """The compact search keys of a name: as written, and without "Ngân hàng", "NH", "TMCP"."""
    folded = fold(text)
    keys = {_compact(folded)}
    stripped = folded
    while True:
        new = _GENERIC.sub("", stripped)
        if new == stripped:
            break
        stripped = new
        keys.add(_compact(stripped))
    keys.discard("")
    return keys


@functools.cache
def _index() -> tuple[tuple[Bank, frozenset[str]], ...]:
    out = []
    for bank in _banks():
        keys: set[str] = {bank.bin}
        for name in (bank.short_name, bank.name_vi, *bank.aliases):
            keys |= _keys(name)
        out.append((bank, frozenset(keys)))
    return tuple(out)


def resolve_bank(text) -> Bank | None:
    """Find the bank however staff wrote it; ``None`` if unknown or ambiguous.

    Matching ignores case, diacritics, spaces and punctuation (``"NHNo&PTNT"``,
    ``"Agri"``, ``"LienVietPostBank"``, ``"Viettinbank"``, ``"NH Nông nghiệp"``,
    ``"Ngân hàng Nông nghiệp và PTNT"``, ``"970405"``) and leading "Ngân hàng"/"NH"/
    "TMCP". First an exact match of any name, alias or BIN; then the longest name that
    the text contains (``"Agribank CN Bình Sơn"``) or that starts with / contains the
    text (``"Viettin"``), from 4 characters up. Two banks matching equally well →
    ``None``.
    """
    if text is None:
        return None
    wanted = _keys(str(text))
    if not wanted:
        return None
    exact = {bank for bank, keys in _index() if keys & wanted}
    if len(exact) == 1:
        return exact.pop()
    if exact:
        return None
    best: dict[Bank, int] = {}
    for bank, keys in _index():
        score = 0
        for w in wanted:
            for k in keys:
                if len(k) >= 4 and k in w:
                    score = max(score, len(k))
                elif len(w) >= 4 and k.startswith(w) or len(w) >= 6 and w in k:
                    score = max(score, len(w))
        if score:
            best[bank] = score
    if not best:
        return None
    top = max(best.values())
    winners = [b for b, s in best.items() if s == top]
    return winners[0] if len(winners) == 1 else None


_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+$")
_FLOAT_TEXT = re.compile(r"^\d+\.0$")
_SEPARATORS = re.compile(r"[\s.\-_]")


def normalise_account(raw) -> str | None:
    """An account-number cell as a string of its characters, or ``None``.

    Spaces, dots and dashes are removed, a leading ``'`` dropped; a numeric cell gives
    its integer digits (``1234567890123.0`` → ``"1234567890123"``). Scientific notation
    (``"9.70415E+15"``, or a float whose repr has an exponent) loses digits → ``None``;
    blank → ``None``. Other characters are kept so that
    :func:`check_account_number` can report them. Note that a numeric cell has already
    lost any leading zero: that cannot be repaired here.
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw) or "e" in repr(raw) or not raw.is_integer() or raw < 0:
            return None
        return str(int(raw))
    if isinstance(raw, int):
        return str(raw) if raw >= 0 else None
    s = nfc(str(raw)).lstrip("'").strip()
    if not s or _SCIENTIFIC.match(s.replace(" ", "")):
        return None
    if _FLOAT_TEXT.match(s):
        s = s[:-2]
    return _SEPARATORS.sub("", s) or None


def check_account_number(number, bank: Bank | None = None) -> list[str]:
    """Plausibility problems of an account number for its bank or wallet.

    Returns problem codes: ``account_not_digits``; ``account_bad_length`` (banks take
    6–19 digits; wallets a 10-digit mobile number starting with 0);
    ``account_is_card_number`` (16 or 19 digits starting with 9704: a domestic Napas
    card number written instead of the account). ``[]`` when plausible or blank
    (missing is the caller's check). No bank (unknown) is checked as a bank. There is no
    checksum to verify (``shared/design/domain.md`` §8).
    """
    s = normalise_account(number) if not isinstance(number, str) else _SEPARATORS.sub("", nfc(number).lstrip("'"))
    if not s:
        return []
    if not (s.isdigit() and s.isascii()):
        return [ACCOUNT_NOT_DIGITS]
    problems = []
    if len(s) in (16, 19) and s.startswith(NAPAS_CARD_PREFIX):
        problems.append(ACCOUNT_IS_CARD_NUMBER)
    if bank is not None and bank.kind == "wallet":
        if len(s) != WALLET_ACCOUNT_LENGTH or not s.startswith("0"):
            problems.append(ACCOUNT_BAD_LENGTH)
    elif len(s) not in BANK_ACCOUNT_LENGTHS:
        problems.append(ACCOUNT_BAD_LENGTH)
    return problems


def mask_account(s) -> str:
    """A account number for lists: all but the last 4 characters hidden (see :func:`portal.vn.text.mask`)."""
    return mask(s)
