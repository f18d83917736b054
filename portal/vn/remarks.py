"""What a remark (ghi chú) or status cell of a commune list states about the beneficiary.

Officers write changes into the remarks column of the lists they keep: "Đã chết ngày
12/4/2024", "chuyển khẩu đi huyện khác T6/2024", "cắt từ tháng 6/2024", "tạm dừng từ
T6/2024 do không nhận 3 tháng". :func:`read_remark` turns such a remark into a
:class:`StatedChange` — the kind of change, the clause of Circular 02/2021/TT-BLĐTBXH
Art. 2, the month it takes effect and the remark quoted — which the import turns into a
proposal to decide.

It does not take every use of a word for a change. These stay at most a warning:

- "mất" meaning *lost* or part of a category: "mất giấy CCCD", "bị mất sổ", "mất sức lao
  động", "mất khả năng lao động"; "mất tích" (missing: a stop needs a court's
  declaration, cl. 1a) is a warning;
- a remark about someone else: "vợ mất năm 2019", "cha mẹ đều đã chết", "con trai chuyển
  đi TP HCM" (a relative's word stands before the verb in the same clause; "Ông"/"Bà"
  alone is the polite pronoun for the beneficiary, "ông nội", "bà ngoại" are relatives);
- "chuyển" for a switch of payment ("chuyển sang nhận qua tài khoản", "chuyển khoản"),
  a move within the commune ("chuyển về thôn Phước Hòa") or a move *in* ("chuyển đến từ
  xã Bình Thạnh");
- a negation ("chưa chết", "không chuyển đi").

Words are compared without diacritics only when the remark was typed without them ("da
chet ngay 12/4/2024"): a word written with marks must carry the right ones ("mặt" is not
"mất", "chuyện" is not "chuyển"). Dates come from :func:`portal.vn.dates.find_dates`.

Effective months (``YYYY-MM``):

- a death stops the allowance from the month after the death (Decree 20/2021/NĐ-CP Art.
  8(2); Circular 02/2021/TT-BLĐTBXH Art. 2 cl. 1a); a bare year, from January after it;
- a move away stops it in this commune from the month after the move (the new commune
  pays from then on; Decree 20/2021/NĐ-CP, change of residence);
- a stated stop or suspension takes effect in the month the remark states ("cắt từ tháng
  6/2024" → 2024-06);
- with no date at all, the month after the list's month (``list_month``), else ``None``
  for the officer to give.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from .dates import DateMention, find_dates
from .text import fold, nfc

__all__ = ["StatedChange", "RemarkReading", "read_remark", "KIND_LABELS"]

KIND_LABELS = {"death": "Chết", "move_away": "Chuyển đi nơi khác", "stop": "Thôi hưởng",
               "suspend": "Tạm dừng"}


@dataclass(frozen=True)
class StatedChange:
    """A change a remark states about the beneficiary.

    ``kind``: ``"death"``, ``"move_away"``, ``"stop"`` or ``"suspend"``; ``clause``: the
    clause of Circular 02/2021/TT-BLĐTBXH Art. 2 (``"1a"`` for a death, ``"1b"``–``"1d"``,
    ``"3a"``–``"3c"``) when the remark says the reason, else ``None``; ``effective_month``:
    ``YYYY-MM`` or ``None``; ``stated``: the date, month or year the remark gives;
    ``quote``: the remark as written (NFC).
    """

    kind: str
    clause: str | None
    effective_month: str | None
    stated: DateMention | None
    quote: str

    @property
    def label(self) -> str:
        """"Chết (12/04/2024)", "Tạm dừng (từ 06/2024)": for a preview's group."""
        when = stated_text(self.stated) if self.stated is not None else ""
        return KIND_LABELS[self.kind] + (f" ({when})" if when else "")


@dataclass(frozen=True)
class RemarkReading:
    """What :func:`read_remark` found: ``change`` (``None`` when the remark states none about
    the beneficiary) and ``warnings``: Vietnamese sentences about words that looked like a
    change but are not one (never a reason to stop a payment)."""

    change: StatedChange | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------- words

_PUNCT = set(",;.()!?\n:")
_NEGATIONS = {"khong", "chua", "chang", "khong he"}
# A relative's word before the verb: the remark is about someone else. Each folded word
# with the written forms it may have (an unaccented remark matches too).
_KIN = {"vo": "vợ", "chong": "chồng", "cha": "cha", "me": "mẹ", "bo": "bố", "ma": "má",
        "con": "con", "chau": "cháu", "anh": "anh", "chi": "chị", "em": "em",
        "giam": "giám", "nuoi": "nuôi", "than": "thân"}
_KIN_AFTER_ONG_BA = {"noi", "ngoai", "ba", "ong", "co", "chu", "bac", "di", "thim", "cau", "mo"}
_LOST_AFTER_MAT = {"giay", "cccd", "cmnd", "so", "the", "suc", "kha", "tri", "nang", "lien", "viec",
                   "nha", "dien", "ho", "tien", "tai", "dat", "con", "ban", "ten", "tich", "dau",
                   "ngu", "ngon", "mau", "vi", "ket", "quyen", "hang", "tinh"}
_TIME_AFTER_MAT = {"ngay", "nam", "thang", "luc", "vao", "hom", "do", "vi", "tai", "sau", "roi", "khi",
                   "tu", "thg", "t"}
_PAYMENT_WORDS = {"khoan", "tai", "tien", "nhan", "hinh", "phuong", "ngan", "the", "tk", "atm", "vi",
                  "mat", "buu", "chi"}
_VILLAGE_WORDS = {"thon", "xom", "to", "ap", "khu", "doi", "lang", "ban", "buon", "khoi", "cum"}
_COMMUNE_WORDS = {"xa", "phuong", "thi", "huyen", "quan", "tinh", "tp", "tx", "thanh", "noi", "dia",
                  "ngoai", "khac", "tphcm", "hcm", "ha", "da", "sai", "mien"}


@dataclass
class _Tok:
    folded: str          # a folded word, a punctuation mark, or "<date>"
    written: str         # the word as written, lowercased ("" for a date or a mark)
    date: DateMention | None = None


def _tokens(text: str) -> list[_Tok]:
    """Words, clause marks and dates of a remark, in order; a date is one token."""
    written_text = nfc(text).lower()
    key = fold(text)
    written_words = re.findall(r"\w+", written_text)
    folded_words = re.findall(r"\w+", key)
    aligned = len(written_words) == len(folded_words)
    dates = find_dates(text)
    out: list[_Tok] = []
    word_index = 0
    d = 0
    for m in re.finditer(r"\w+|[,;.()!?\n:]", key):
        while d < len(dates) and dates[d].end <= m.start():
            d += 1
        inside = d < len(dates) and dates[d].start <= m.start() < dates[d].end
        is_word = m.group().isalnum() or "_" in m.group() or m.group()[0].isalnum()
        if inside:
            if not out or out[-1].date is not dates[d]:
                out.append(_Tok("<date>", "", dates[d]))
        elif is_word:
            written = written_words[word_index] if aligned else m.group()
            out.append(_Tok(m.group(), written))
        else:
            out.append(_Tok(m.group(), ""))
        if is_word:
            word_index += 1
    return out


def _is(tok: _Tok, written: str) -> bool:
    """``tok`` is the word ``written`` (lowercase, with its marks): folded alike, and
    written exactly so or with no marks at all."""
    return tok.folded == fold(written) and (tok.written == written or tok.written.isascii())


def _clauses(tokens: list[_Tok]) -> list[list[_Tok]]:
    out, cur = [], []
    for t in tokens:
        if t.folded in _PUNCT:
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append(cur)
    return out


def _words(clause, i, n):
    return [t.folded for t in clause[i:i + n]]


def _negated(clause, i) -> bool:
    prev = [t.folded for t in clause[max(0, i - 2):i]]
    return bool(prev) and (prev[-1] in _NEGATIONS or " ".join(prev) in _NEGATIONS)


def _kin_before(clause, i) -> str | None:
    """The relative a clause names before position ``i``, or ``None``."""
    for j in range(i):
        t = clause[j]
        if t.folded in ("ong", "ba") and (_is(t, "ông") or _is(t, "bà")):
            nxt = clause[j + 1] if j + 1 < i else None
            if nxt is not None and nxt.folded in _KIN_AFTER_ONG_BA:
                return f"{t.written} {nxt.written}"
            continue
        form = _KIN.get(t.folded)
        if form and _is(t, form):
            if t.folded in ("giam", "nuoi", "than"):
                if j and clause[j - 1].folded in ("nguoi", "than"):
                    return f"{clause[j - 1].written} {t.written}"
                continue
            return t.written
    return None


def _date_for(clause, i, all_tokens) -> DateMention | None:
    """The date a verb at ``clause[i]`` refers to: the first after it in its clause, else
    the last before it in its clause, else the first anywhere after it."""
    after = [t.date for t in clause[i + 1:] if t.date]
    if after:
        return after[0]
    before = [t.date for t in clause[:i] if t.date]
    if before:
        return before[-1]
    seen = False
    for t in all_tokens:
        if t is clause[i]:
            seen = True
        elif seen and t.date:
            return t.date
    return None


def _next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def _month_after(stated: DateMention | None, list_month: str | None) -> str | None:
    if stated is None:
        return _next_month(list_month) if list_month else None
    if stated.precision == "year":
        return f"{stated.year + 1:04d}-01"
    return _next_month(stated.month)


def _month_of(stated: DateMention | None, list_month: str | None) -> str | None:
    if stated is None or stated.precision == "year":
        return _next_month(list_month) if list_month else None
    return stated.month


# ---------------------------------------------------------------------- finders
# Each looks at one clause and returns ("change", kind, index) / ("warning", text, index)
# / None.

def _death(clause):
    for i, t in enumerate(clause):
        nxt = clause[i + 1] if i + 1 < len(clause) else None
        hit = None
        if _is(t, "chết"):
            hit = i
        elif nxt is not None and ((_is(t, "từ") and _is(nxt, "trần")) or (_is(t, "qua") and _is(nxt, "đời"))
                                  or (_is(t, "tử") and _is(nxt, "vong"))):
            hit = i
        elif _is(t, "mất"):
            prev = clause[i - 1] if i else None
            if nxt is not None and nxt.folded == "tich":
                return ("warning", "Ghi chú nói «mất tích»: chỉ thôi hưởng khi có quyết định tuyên bố mất "
                                   "tích của Tòa án (Thông tư 02/2021/TT-BLĐTBXH Điều 2 khoản 1a).", i)
            if prev is not None and prev.folded == "bi":
                continue  # "bị mất sổ": lost
            if nxt is None or nxt.date is not None or nxt.folded in _TIME_AFTER_MAT:
                hit = i
            elif nxt.folded in _LOST_AFTER_MAT:
                continue
            elif prev is not None and _is(prev, "đã") and nxt.folded not in _LOST_AFTER_MAT:
                hit = i if nxt.folded.isdigit() else None
        if hit is None:
            continue
        if _negated(clause, i):
            continue
        kin = _kin_before(clause, i)
        if kin:
            return ("warning", f"Ghi chú nói về người khác («{kin}»), không phải đối tượng: không đề xuất "
                               f"thôi hưởng.", i)
        return ("change", "death", i)
    return None


def _move_away(clause):
    for i, t in enumerate(clause):
        if _is(t, "cắt") and i + 1 < len(clause) and clause[i + 1].folded in ("khau", "ho"):
            return None if _negated(clause, i) else ("change", "move_away", i)
        if not _is(t, "chuyển"):
            continue
        after = _words(clause, i + 1, 6)
        if not after:
            continue
        if any(w in _PAYMENT_WORDS for w in after[:3]):
            return None  # a switch of payment: "chuyển sang nhận qua tài khoản"
        if after[0] in ("den", "ve", "sang", "toi") and "tu" in after[1:3]:
            return None  # a move in: "chuyển đến từ xã Bình Thạnh"
        away = after[0] in ("di", "khau") or after[:2] == ["ho", "khau"] or after[:2] == ["noi", "o"] \
            or after[:2] == ["cu", "tru"] or after[0] in ("den", "ve", "sang", "toi", "ra")
        if not away:
            continue
        first_village = next((k for k, w in enumerate(after) if w in _VILLAGE_WORDS), None)
        first_commune = next((k for k, w in enumerate(after) if w in _COMMUNE_WORDS), None)
        if first_village is not None and (first_commune is None or first_village < first_commune):
            return ("warning", "Ghi chú nói chuyển trong xã (thôn/tổ): cập nhật thôn khi rà soát, không "
                               "dừng chi trả.", i)
        if after[0] in ("den", "ve", "sang", "toi", "ra") and first_commune is None:
            continue  # "chuyển về ở với con": not a move away that the remark states
        if _negated(clause, i):
            return None
        kin = _kin_before(clause, i)
        if kin:
            return ("warning", f"Ghi chú nói về người khác («{kin}») chuyển đi, không phải đối tượng.", i)
        return ("change", "move_away", i)
    return None


def _suspend(clause):
    for i, t in enumerate(clause):
        nxt = clause[i + 1] if i + 1 < len(clause) else None
        if nxt is not None and _is(t, "tạm") and (_is(nxt, "dừng") or _is(nxt, "ngừng") or _is(nxt, "đình")
                                                 or _is(nxt, "cắt")):
            return None if _negated(clause, i) else ("change", "suspend", i)
    return None


def _stop(clause):
    for i, t in enumerate(clause):
        nxt = clause[i + 1] if i + 1 < len(clause) else None
        if nxt is None and not _is(t, "cắt"):
            continue
        prev = clause[i - 1] if i else None
        if prev is not None and _is(prev, "tạm"):
            continue
        if _is(t, "thôi") and nxt is not None and (_is(nxt, "hưởng") or _is(nxt, "trợ") or _is(nxt, "chi")):
            hit = True
        elif (_is(t, "dừng") or _is(t, "ngừng")) and nxt is not None and (
                _is(nxt, "hưởng") or _is(nxt, "trợ") or _is(nxt, "chi")):
            hit = True
        elif _is(t, "cắt") and (nxt is None or nxt.date is not None or nxt.folded in (
                "tu", "thang", "thg", "tro", "huong", "che", "chi", "t")):
            hit = True
        else:
            hit = False
        if hit:
            return None if _negated(clause, i) else ("change", "stop", i)
    for i, t in enumerate(clause[1:], 1):  # "đi tù", "ở tù", "phạt tù": serving a sentence (cl. 1c)
        if _is(t, "tù") and (_is(clause[i - 1], "đi") or _is(clause[i - 1], "ở") or _is(clause[i - 1], "phạt")):
            return None if _negated(clause, i - 1) else ("change", "stop", i)
    return None


_STOP_REASONS = (("1c", ("phat tu", "chap hanh an", "o tu", "di tu")),
                 ("1d", ("tu choi",)),
                 ("1b", ("khong du dieu kien", "het dieu kien", "khong con du", "du tuoi", "du 16",
                         "du 18", "co luong", "huong luong", "huong bhxh", "co viec lam")))
_SUSPEND_REASONS = (("3c", ("tam giam",)),
                    ("3b", ("xac dinh lai", "danh gia lai", "khong thuc hien")),
                    ("3a", ("khong nhan", "khong linh", "3 thang", "ba thang", "khong den nhan")))


def _clause_for(kind: str, text_key: str) -> str | None:
    if kind == "death":
        return "1a"
    table = _STOP_REASONS if kind == "stop" else _SUSPEND_REASONS if kind == "suspend" else ()
    for clause, phrases in table:
        if any(p in text_key for p in phrases):
            return clause
    return None


def _dt_first(stated: DateMention) -> date:
    """The first day a month or year mention covers."""
    if stated.precision == "year":
        return date(stated.year, 1, 1)
    return date(stated.year, int(stated.month[5:]), 1)


def stated_text(s: DateMention) -> str:
    """A date mention as written in Vietnamese order: 12/04/2024, 06/2024, 2019."""
    return (f"{s.day:%d/%m/%Y}" if s.precision == "day" else
            f"{s.month[5:]}/{s.month[:4]}" if s.precision == "month" else str(s.year))


def read_remark(text, list_month: str | None = None, today=None) -> RemarkReading:
    """What the remark ``text`` states about the beneficiary.

    ``list_month`` (``YYYY-MM``) is the month of the list the remark came in: a change
    with no date takes effect the month after it. A date after ``today`` (default: the
    clock's) is a typing error: the change counts as undated, with a warning. A remark
    stating several changes gives the gravest (death, then move away, then stop, then
    suspension). Never raises; ``None`` or ``""`` → an empty :class:`RemarkReading`.
    """
    if text is None or not str(text).strip():
        return RemarkReading()
    quote = nfc(str(text))
    tokens = _tokens(quote)
    clauses = _clauses(tokens)
    warnings: list[str] = []
    for finder in (_death, _move_away, _stop, _suspend):
        for clause in clauses:
            found = finder(clause)
            if found is None:
                continue
            what, value, i = found
            if what == "warning":
                if value not in warnings:
                    warnings.append(value)
                continue
            stated = _date_for(clause, i, tokens)
            today = today or date.today()
            if stated is not None and (stated.day or _dt_first(stated)) > today:
                warnings.append(f"Ngày ghi trong danh sách ({stated_text(stated)}) ở tương lai: coi như không "
                                "ghi ngày.")
                stated = None
            if value in ("death", "move_away"):
                effective = _month_after(stated, list_month)
            else:
                effective = _month_of(stated, list_month)
            change = StatedChange(value, _clause_for(value, fold(quote)), effective, stated, quote)
            return RemarkReading(change, tuple(warnings))
    return RemarkReading(None, tuple(warnings))
