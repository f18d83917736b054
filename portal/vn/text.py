"""Vietnamese text: normalisation to NFC, legacy encodings, folding for search.

Text reaches the portal in five forms (see ``shared/design/encodings.md``): Unicode NFC,
Unicode NFD, "Unicode tổ hợp" (precomposed vowel + combining tone), the 8-bit font
encodings TCVN3 (ABC, fonts ``.VnTime``) and VNI (fonts ``VNI-Times``) read back as
Latin-1/cp1252 characters, and Windows-1258 bytes (base letter + combining tone byte).
Everything is normalised to NFC once, at the edge, with the functions here.

The legacy tables are built from ``portal/data/vietnamese_legacy_encodings.csv`` (146
letters), reading the ``*_bytes`` columns so that an editor stripping the invisible
soft hyphen (TCVN3 ``ư`` = 0xAD) cannot corrupt them.
"""
from __future__ import annotations

import csv
import functools
import importlib.resources
import re
import unicodedata
from collections.abc import Iterable

LEGACY_TCVN3 = "tcvn3"
LEGACY_VNI = "vni"


# --------------------------------------------------------------------------- basics


def nfc(s):
    """Return ``s`` as NFC with spaces collapsed; ``None`` stays ``None``.

    No-break spaces (U+00A0) and every run of whitespace become one space; the result
    is stripped. NFC also recomposes NFD text and UniKey's "Unicode tổ hợp" form
    (precomposed ``ê`` + combining tilde → ``ễ``). Non-strings are passed through ``str``.
    """
    if s is None:
        return None
    return " ".join(unicodedata.normalize("NFC", str(s)).replace("\u00a0", " ").split())


def fold(s):
    """Search key: lowercase ASCII, marks removed, đ→d, single spaces ('' for None).

    ``đ``/``Đ`` are mapped explicitly (they have no canonical decomposition). Old and
    new tone placement fold alike: ``fold("Thủy") == fold("Thuỷ") == "thuy"``,
    ``fold("Đặng") == fold("Dang") == "dang"``.
    """
    if not s:
        return ""
    s = unicodedata.normalize("NFD", nfc(s).casefold().replace("đ", "d"))
    return " ".join("".join(c for c in s if not unicodedata.combining(c)).split())


def same_name(a, b):
    """Whether two personal names are the same for matching an account holder to a
    beneficiary: equal after :func:`fold` (case, tone and vowel marks, ``Đ``/``đ``→``d``,
    NFC/NFD, extra spaces). ``"NGUYEN VAN AN"`` is ``"Nguyễn Văn An"``; ``"Trần Văn An"``
    is not. An empty or ``None`` name is never the same as anything.

    Folding also merges names that differ only in their marks (``"Nguyễn Văn Ân"`` and
    ``"Nguyễn Văn An"``). That is accepted: banks and e-wallets write the holder in
    capitals without diacritics (the card and the core-banking field are ASCII), so the
    marks cannot tell two holders apart anyway; the account number and the national ID
    do that. Only the comparison folds: the name is stored and shown as written."""
    fa = fold(a)
    return bool(fa) and fa == fold(b)


_WORD_START = re.compile(r"(^|[\s\-'’(/])(\w)")


def proper_case(s):
    """Title-case a Vietnamese personal or place name: ``"NGUYỄN VĂN AN"`` → ``"Nguyễn Văn An"``.

    NFC and space-collapsing first (:func:`nfc`), then each word is lowercased and its
    first letter uppercased. A word starts after a space, a hyphen, an apostrophe, an
    opening parenthesis or a slash, so ethnic-minority names keep their shape
    (``"h'hen niê"`` → ``"H'Hen Niê"``). ``None`` → ``""``.
    """
    s = nfc(s)
    if not s:
        return ""
    return _WORD_START.sub(lambda m: m.group(1) + m.group(2).upper(), s.lower())


# ----------------------------------------------------------------- legacy encodings


@functools.cache
def _encoding_rows() -> tuple[dict[str, str], ...]:
    path = importlib.resources.files("portal") / "data" / "vietnamese_legacy_encodings.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return tuple(csv.DictReader(f))


def _chars(hex_bytes: str) -> str:
    return bytes.fromhex(hex_bytes).decode("cp1252") if hex_bytes.strip() else ""


@functools.cache
def _tcvn3_tables():
    """(single: legacy char → letter, pairs: (capital, toned code) → letter, encode map)."""
    single: dict[str, str] = {}
    pairs: dict[str, str] = {}
    encode: dict[str, str] = {}
    for row in _encoding_rows():
        letter = row["unicode"]
        code = _chars(row["tcvn3_abc_bytes"])
        if not code:
            continue  # plain ASCII vowel
        if len(code) == 1:
            single[code] = letter
            encode[letter] = code
        else:
            # The CSV writes a toned capital as "plain capital + lowercase toned code"
            # (Á = "A¸"); real files use the lowercase code alone (TCVN3 has no toned
            # capitals), which is what encoding produces.
            pairs[code] = letter
    for row in _encoding_rows():
        letter = row["unicode"]
        if letter not in encode:
            encode[letter] = encode.get(letter.lower(), letter)
    return single, pairs, encode


@functools.cache
def _vni_tables():
    """(decode: legacy string of 1–2 chars → letter, encode: letter → legacy string)."""
    decode: dict[str, str] = {}
    encode: dict[str, str] = {}
    for row in _encoding_rows():
        letter = row["unicode"]
        code = _chars(row["vni_windows_bytes_cp1252"])
        encode[letter] = code
        if code != letter or len(code) > 1:
            decode[code] = letter
        elif not code.isascii():
            decode[code] = letter  # í, ì, Í, Ì: the same code point in both
    return decode, encode


@functools.cache
def _vni_marks() -> frozenset[str]:
    """The second characters of VNI two-character letters (tone/shape marks)."""
    return frozenset(code[1] for code in _vni_tables()[0] if len(code) == 2)


@functools.cache
def _viet_latin1_letters() -> frozenset[str]:
    """Vietnamese NFC letters that are themselves Latin-1 characters (à, á, â, ã, …)."""
    return frozenset(r["unicode"] for r in _encoding_rows() if 0x80 <= ord(r["unicode"]) <= 0xFF)


# Capital codes TCVN3 does have: Ă Â Ê Ô Ơ Ư Đ.
_TCVN3_CAPITALS = frozenset("\u00a1\u00a2\u00a3\u00a4\u00a5\u00a6\u00a7")
_CP1252_SPECIALS = frozenset(bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore"))


def _is_unicode_vietnamese(c: str) -> bool:
    """A letter or combining mark beyond Latin-1: cannot come from an 8-bit legacy cell."""
    return ord(c) > 0xFF and c not in _CP1252_SPECIALS and unicodedata.category(c)[0] in "LM"


def _already_unicode(s: str) -> bool:
    return any(_is_unicode_vietnamese(c) for c in s)


def _decode_tcvn3(s: str) -> str:
    single, pairs, _ = _tcvn3_tables()
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        pair = s[i : i + 2]
        if len(pair) == 2 and pair in pairs:
            # "A¸" → Á only where "Aá" cannot be a real spelling: doubled vowels do not
            # occur in Vietnamese except "oo" (xoong, moóc), so O pairs only at word start.
            prev = s[i - 1] if i else " "
            at_start = not (prev.isascii() and prev.isalpha()) and prev not in single
            if c != "O" or at_start:
                out.append(pairs[pair])
                i += 2
                continue
        out.append(single.get(c, c))
        i += 1
    return _restore_tcvn3_case(s, "".join(out))


_ASCII_UPPER = re.compile(r"[A-Z]")
_ASCII_LOWER = re.compile(r"[a-z]")


def _restore_tcvn3_case(raw: str, decoded: str) -> str:
    """Uppercase what the writer typed in capitals (TCVN3 has no toned capitals).

    A word counts as typed in capitals when it has two or more capitals (ASCII or the
    Ă Â Ê Ô Ơ Ư Đ codes) and no lowercase ASCII letter (``"TH¸NG"`` → ``"THÁNG"``).
    When more than half of a cell's words are such words (a title such as
    ``"UBND X· B×NH D¦¥NG"``), every word without a lowercase ASCII letter is
    uppercased too (``"X·"`` → ``"XÃ"``); otherwise only the capital words are.
    """
    raw_words = raw.split(" ")
    dec_words = decoded.split(" ")
    if len(raw_words) != len(dec_words):  # pragma: no cover - pairs never span a space
        return decoded
    single = _tcvn3_tables()[0]
    kinds = []  # "caps", "maybe" (no lowercase ASCII), "lower", None (no letters)
    for rw in raw_words:
        letters = [c for c in rw if (c.isascii() and c.isalpha()) or c in single]
        if not letters:
            kinds.append(None)
        elif _ASCII_LOWER.search(rw):
            kinds.append("lower")
        else:
            caps = len(_ASCII_UPPER.findall(rw)) + sum(c in _TCVN3_CAPITALS for c in rw)
            kinds.append("caps" if caps >= 2 else "maybe")
    worded = [k for k in kinds if k]
    title = worded and 2 * kinds.count("caps") > len(worded)
    upper = {"caps", "maybe"} if title else {"caps"}
    return " ".join(dw.upper() if k in upper else dw for k, dw in zip(kinds, dec_words, strict=False))


def _decode_vni(s: str) -> str:
    table, _ = _vni_tables()
    marks = _vni_marks()
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        pair = s[i : i + 2]
        if len(pair) == 2 and pair[1] in marks:
            if pair in table:
                out.append(table[pair])
                i += 2
                continue
            # Hand-typed title case mixes cases ("Aùnh" for "AÙnh"): the base decides.
            alt = pair[0] + (pair[1].upper() if pair[0].isupper() else pair[1].lower())
            if alt in table:
                out.append(table[alt])
                i += 2
                continue
        c = s[i]
        out.append(table.get(c, c))
        i += 1
    return "".join(out)


def decode_legacy(s, encoding, upper_font=False):
    """Decode one cell from TCVN3 or VNI to NFC Unicode.

    ``s`` is the cell as read by openpyxl/calamine/xlrd: the legacy bytes appear as
    Latin-1/cp1252 characters (``"NguyÔn V¨n An"`` in TCVN3, ``"Nguyeãn Vaên An"`` in
    VNI). ``encoding`` is :data:`LEGACY_TCVN3` or :data:`LEGACY_VNI`.

    TCVN3 has no toned capitals, so toned letters decode lowercase; case is restored
    where the writer evidently typed capitals (an all-capitals cell or word), and
    ``upper_font=True`` (the cell's font is an uppercase font such as ``.VnTimeH``)
    uppercases the whole result. The CSV's notation for toned capitals (``"A¸"`` = Á)
    is also accepted. VNI is decoded longest match first (base letter + mark char, or a
    single char for ư ơ đ ĩ ỉ ị ỵ …).

    A cell that already holds Vietnamese letters beyond Latin-1 (ư, ơ, ạ …, or combining
    marks) cannot be legacy text and is returned NFC-normalised unchanged. ``None`` →
    ``None``. Whitespace is kept as it is (use :func:`nfc` to collapse it).

    Raises ``ValueError`` for an unknown ``encoding``.
    """
    if encoding not in (LEGACY_TCVN3, LEGACY_VNI):
        raise ValueError(f"unknown legacy encoding {encoding!r}: expected 'tcvn3' or 'vni'")
    if s is None:
        return None
    s = str(s)
    if _already_unicode(s):
        out = s
    elif encoding == LEGACY_TCVN3:
        out = _decode_tcvn3(s)
    else:
        out = _decode_vni(s)
    out = unicodedata.normalize("NFC", out)
    return out.upper() if upper_font else out


def encode_legacy(s, encoding):
    """Encode NFC Unicode text as TCVN3 or VNI legacy characters (a ``str`` of Latin-1 chars).

    The inverse of :func:`decode_legacy`, for test fixtures that write legacy files:
    ``encode_legacy("Nguyễn", "tcvn3") == "NguyÔn"``. TCVN3 toned capitals, which have no
    code, get the lowercase code (``"Á"`` → ``"¸"``), as real files do. Characters that
    are not Vietnamese letters pass through unchanged. Raises ``ValueError`` for an
    unknown ``encoding``.
    """
    if encoding == LEGACY_TCVN3:
        table = _tcvn3_tables()[2]
    elif encoding == LEGACY_VNI:
        table = _vni_tables()[1]
    else:
        raise ValueError(f"unknown legacy encoding {encoding!r}: expected 'tcvn3' or 'vni'")
    s = unicodedata.normalize("NFC", str(s))
    return "".join(table.get(c, c) for c in s)


def font_encoding(font_name):
    """The legacy encoding a font name implies: ``.VnTime``/``.VnTimeH`` → ``"tcvn3"``,
    ``VNI-Times`` → ``"vni"``, anything else (Times New Roman, Calibri, ``None``) → ``None``."""
    name = (font_name or "").strip().lower()
    if name.startswith(".vn"):
        return LEGACY_TCVN3
    if name.startswith("vni"):
        return LEGACY_VNI
    return None


def is_upper_font(font_name) -> bool:
    """True for TCVN3 uppercase fonts (``.VnTimeH``, ``.VnArialH``: the name ends in ``H``)."""
    name = (font_name or "").strip()
    return font_encoding(name) == LEGACY_TCVN3 and name.endswith("H")


@functools.cache
def _tcvn3_evidence_chars() -> frozenset[str]:
    """TCVN3 codes that are neither VNI characters nor Vietnamese Unicode letters."""
    single = _tcvn3_tables()[0]
    vni_chars = {c for code in _vni_tables()[0] for c in code}
    return frozenset(c for c in single if c not in vni_chars and c not in _viet_latin1_letters())


# Letter pairs that VNI uses but that are also real NFC Vietnamese: hoà, hoá, HOÀ …
_UNICODE_BIGRAMS = frozenset({"oà", "oá", "oã", "OÀ", "OÁ", "OÃ", "Oà", "Oá", "Oã"})


# TCVN3 codes for letters that never end a Vietnamese word (ă, â, đ, Ă, Â, Đ): as
# evidence they must be followed by a letter, so "© 2024" or "Brand®" do not count.
_NEVER_FINAL = frozenset("\u00a8\u00a9\u00ae\u00a1\u00a2\u00a7")
_GUILLEMET_QUOTE = re.compile(r"(?:^|\s)\u00ab\w.*\w\u00bb(?:\s|$|[.,;:!?])")


def _legacy_scores(text: str) -> tuple[int, int, int]:
    """(TCVN3 evidence, VNI evidence, Unicode evidence) counted in one string."""
    single = _tcvn3_tables()[0]
    vni = _vni_tables()[0]
    marks = _vni_marks()
    t_only = _tcvn3_evidence_chars()
    viet = _viet_latin1_letters()
    quoted = bool(_GUILLEMET_QUOTE.search(text))

    def is_letter(ch: str) -> bool:
        return ch.isalpha() or ch in single

    t = v = u = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        pair = text[i : i + 2]
        if len(pair) == 2 and pair[1] in marks and pair in vni and pair not in _UNICODE_BIGRAMS:
            v += 1
            i += 2
            continue
        if _is_unicode_vietnamese(c):
            u += 1
        elif not c.isascii():
            prev = text[i - 1] if i else ""
            nxt = text[i + 1] if i + 1 < n else ""
            if c in t_only:
                if quoted and c in "\u00ab\u00bb":
                    pass
                elif c in _NEVER_FINAL:
                    t += is_letter(nxt)
                elif is_letter(prev) or is_letter(nxt):
                    t += 1
            elif c in single and c not in viet and c not in vni:
                # A TCVN3 code that VNI could only use as a mark, with no vowel before it
                # ("Bïi" = Bùi): TCVN3.
                t += 1
        i += 1
    return t, v, u


def detect_legacy(texts: Iterable[str], fonts: Iterable[str | None] = ()):
    """Decide whether a whole file or column is TCVN3, VNI or Unicode.

    ``texts``: a sample of cell strings as read from the file (non-strings are ignored);
    ``fonts``: optional font names of those cells. Returns :data:`LEGACY_TCVN3`,
    :data:`LEGACY_VNI` or ``None`` (Unicode or plain ASCII: nothing to decode).

    Evidence is counted over the whole sample, never letter by letter
    (``shared/design/encodings.md`` §4): TCVN3-only codes such as ``¨ © ª « ¬ ­ ® µ ¸``
    next to letters; VNI letter pairs such as ``aø eâ oâ``; and Vietnamese letters
    beyond Latin-1 or combining marks (NFC, NFD, Unicode tổ hợp), which mean Unicode.
    Unicode evidence outweighing the legacy evidence gives ``None``. A legacy font name
    (``.VnTime*`` → TCVN3, ``VNI-*`` → VNI) decides between the two encodings, and
    alone decides when the text has no evidence either way and no Unicode letters.
    """
    t = v = u = 0
    for text in texts:
        if isinstance(text, str) and text:
            dt, dv, du = _legacy_scores(text)
            t, v, u = t + dt, v + dv, u + du
    font_votes = {LEGACY_TCVN3: 0, LEGACY_VNI: 0}
    for font in fonts:
        enc = font_encoding(font)
        if enc:
            font_votes[enc] += 1
    by_font = None
    if font_votes[LEGACY_TCVN3] != font_votes[LEGACY_VNI]:
        by_font = max(font_votes, key=font_votes.get)
    if u > t + v:
        return None
    if t + v == 0:
        return by_font if u == 0 else None
    if by_font:
        return by_font
    return LEGACY_TCVN3 if t >= v else LEGACY_VNI


# ------------------------------------------------------------------------ raw bytes


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a CSV/text file's bytes to NFC text; returns ``(text, encoding_name)``.

    Tried in order: UTF-8 with BOM (BOM stripped, ``"utf-8-sig"``), UTF-16 with BOM
    (Excel's "Unicode text" export, ``"utf-16"``), UTF-8 (``"utf-8"``), then
    Windows-1258 (``"cp1258"``: Vietnamese-locale Excel's CSV, base letter + combining
    tone byte, composed to NFC). Never raises: undefined cp1258 bytes become U+FFFD.
    """
    data = bytes(data)
    if data.startswith(b"\xef\xbb\xbf"):
        text, name = data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, name = data.decode("utf-16", errors="replace"), "utf-16"
    else:
        try:
            text, name = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, name = data.decode("cp1258", errors="replace"), "cp1258"
    return unicodedata.normalize("NFC", text), name


def encode_cp1258(s: str) -> bytes:
    """Encode text as Windows-1258 the way Excel does (for fixtures).

    Letters with a code of their own (``ê``, ``ơ``, ``đ``, ``á``) keep it; other toned
    letters become base + combining tone byte (``ễ`` → ``ê`` + 0xDE). Raises
    ``UnicodeEncodeError`` for characters cp1258 cannot express.
    """
    out = bytearray()
    for c in unicodedata.normalize("NFC", s):
        try:
            out += c.encode("cp1258")
        except UnicodeEncodeError:
            base, *marks = unicodedata.normalize("NFD", c)
            # Recompose the shape marks (circumflex, breve, horn) onto the base, keep the tone apart.
            tones = [m for m in marks if m in "\u0300\u0301\u0303\u0309\u0323"]
            shape = unicodedata.normalize("NFC", base + "".join(m for m in marks if m not in tones))
            out += (shape + "".join(tones)).encode("cp1258")
    return bytes(out)


# ---------------------------------------------------------------------- remarks


# Death phrases as folded words. A word written with diacritics must carry the right
# ones ("da mặt", "chét" are other words); "đã mất" must not go on with an object
# ("đã mất CCCD": lost the card), only with a date or time word.
_DEATH_PHRASES = (("chet",), ("tu", "tran"), ("qua", "doi"), ("tu", "vong"), ("mat", "ngay"), ("da", "mat"))
_ACCENTED = {
    "chet": "chết", "tu": "từ tử", "tran": "trần", "doi": "đời", "mat": "mất",
    "ngay": "ngày", "da": "đã", "qua": "qua", "vong": "vong",
}
_AFTER_DA_MAT = frozenset("ngay nam thang luc vao tai do hom tu roi hoi sau ke khi".split())


def mentions_death(remark) -> bool:
    """True if a remark (ghi chú) reports a death: "Đã chết ngày 12/3/2024", "chết",
    "đã mất", "mất ngày …", "từ trần", "qua đời", "đã tử vong", in any case, in NFC or
    NFD, with the right diacritics or none ("da chet"). Matching is on whole words:
    "chết" inside another word, "da mặt" or "đã mất CCCD" do not count.

    A death stops the allowance from the following month (Circular 02/2021/TT-BLĐTBXH
    Art. 2 cl. 1a; Decree 20/2021/NĐ-CP Art. 8(2)).
    """
    words = re.findall(r"\w+", nfc(remark).lower()) if remark else []
    folded = [fold(w) for w in words]
    for i in range(len(words)):
        for phrase in _DEATH_PHRASES:
            span = words[i : i + len(phrase)]
            if tuple(folded[i : i + len(phrase)]) != phrase:
                continue
            if not all(w == f or w in _ACCENTED[f].split() for w, f in zip(span, phrase, strict=False)):
                continue
            if phrase == ("da", "mat"):
                after = folded[i + 2] if i + 2 < len(folded) else None
                if after is not None and not after[0].isdigit() and after not in _AFTER_DA_MAT:
                    continue
            return True
    return False


def mask(s, keep=4) -> str:
    """Hide all but the last ``keep`` characters, for lists: ``"051190012345"`` →
    ``"••••••••2345"``; ``keep`` characters or fewer are hidden entirely; ``None``/``""`` → ``""``."""
    if not s:
        return ""
    s = str(s)
    if len(s) <= keep:
        return "•" * len(s)
    return "•" * (len(s) - keep) + s[-keep:]
