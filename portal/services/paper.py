"""Phiếu rà soát giấy — the paper fallback of the door-to-door review.

When phones or the network fail, an officer prints a village's sheet (one line per active
beneficiary, grouped by household), fills it in on foot, and types it back later, line by
line, on the entry page. Each line is saved through :func:`portal.services.review.save_review`
(the same validation, version check and history as a visit recorded on a phone).

Line codes (mã dòng)
--------------------
A line's code is the beneficiary's id followed by one Damm check digit, printed
``4123-9``. Why this scheme:

* **stable**: the id never changes (a merged record keeps its row), so a sheet printed
  last week still names the same person, whoever joined or left the village since (a
  village-local sequence would shift);
* **short**: the id's digits plus one (5 digits in the demo district of 5,000 people, 8
  for a province of a few million records);
* **easy on a phone keypad**: digits only, typed on the numeric keypad
  (``inputmode=numeric``) with no letters to confuse (O/0, I/1, B/8); the dash, spaces
  and dots are optional when typing;
* **checked**: the Damm algorithm (H. M. Damm, 2004) detects every single mistyped digit
  and every swap of two adjacent digits, so such a typo is refused (:class:`CodeError`)
  instead of landing on another person. Anything that still lands on someone is shown by
  name for the officer to confirm, and a code of another village or outside the user's
  area is refused.

Shapes: a code is a ``str``; :func:`parse_code` returns the beneficiary id (``int``).
"""
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Beneficiary, Event, Review
from ..vn.dates import format_date
from ..vn.text import fold
from . import checks, progress, scope
from .review import ReviewError, save_review

# The quasigroup of order 10 with weak total anti-symmetry (Damm 2004, Table 5.2).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
SEPARATORS = " -.·_/"
PER_PAGE = 200  # people per HTML page of a sheet (a household is never split): ~9 kB compressed
PENDING_SHOWN = 300  # codes listed on the entry page (the rest are typed)
# Stored (not translated) at the start of the review's note and of its history event.
PAPER_MARK = "Phiếu giấy"


class CodeError(ValueError):
    """A line code that cannot be taken: ``str(e)`` is the Vietnamese message for the field."""


class LineRefused(ValueError):
    """The person may not be entered from this sheet (already reviewed on or after its date,
    or no longer paid): ``str(e)`` is the Vietnamese message; ``beneficiary`` is the record."""

    def __init__(self, message, beneficiary):
        super().__init__(str(message))
        self.message, self.beneficiary = message, beneficiary


def damm(digits):
    """The Damm check digit (``int`` 0–9) of a string of decimal digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim


def code_for(beneficiary_id):
    """``4123`` → ``"4123-9"``: the id and its check digit."""
    digits = str(int(beneficiary_id))
    return f"{digits}-{damm(digits)}"


def parse_code(text):
    """The beneficiary id a typed code names: ``"4123-9"``, ``"41239"``, ``" 4123 9 "`` → 4123.

    Raises :class:`CodeError` for an empty code, a character other than a digit or a
    separator, a code too short, or a wrong check digit (a typo)."""
    raw = (text or "").strip()
    if not raw:
        raise CodeError(_l("Nhập mã dòng in ở cột đầu của phiếu, ví dụ 1234-5."))
    digits = "".join(ch for ch in raw if ch not in SEPARATORS)
    if not digits.isascii() or not digits.isdigit():
        raise CodeError(_l("Mã dòng chỉ gồm chữ số (dấu gạch có thể bỏ), ví dụ 1234-5."))
    if len(digits) < 2 or digits[0] == "0":
        raise CodeError(_l("Mã dòng không đúng: xem lại mã in ở cột đầu của phiếu."))
    if damm(digits) != 0:
        raise CodeError(_l("Mã %(code)s sai (số kiểm tra không khớp): có thể gõ nhầm một chữ số; "
                           "xem lại mã trên phiếu.", code=raw))
    return int(digits[:-1])


def short_id(national_id):
    """The last 4 digits of a personal ID for a printed sheet: ``"…3456"`` (``""`` if none)."""
    return f"…{national_id[-4:]}" if national_id and len(national_id) > 4 else ""


@dataclass
class Sheet:
    """One HTML page of a village's sheet: ``households`` is a list of
    ``(household, [beneficiary, …])`` in print order; ``people`` counts the whole village."""

    households: list
    people: int
    page: int = 1
    pages: int = 1
    first: int = 1  # the running number of this page's first line
    codes: dict = field(default_factory=dict)  # beneficiary id → code


def village_people(village, user=None):
    """The active, living beneficiaries of ``village`` that ``user`` may see
    (``scope.visible``; all when ``None``) in print order: households by their head's name,
    members in the order they were added. Returns a list of ``Beneficiary`` (``household``
    and ``account`` loaded)."""
    q = (select(Beneficiary)
         .where(Beneficiary.village_id == village.id, Beneficiary.status == "active",
                Beneficiary.deceased.is_(False), scope.visible(user))
         .options(selectinload(Beneficiary.household), selectinload(Beneficiary.account)))
    # Sorted here on the folded name: a database sorts "Đ" after "Z".
    return sorted(db.session.scalars(q), key=lambda b: (fold(b.household.head_name), b.household_id, b.id))


def sheet(village, page=1, per_page=PER_PAGE, user=None):
    """The sheet of ``village`` (the people ``user`` may see, ``village_people``) cut into
    pages of at most ``per_page`` people (a household larger than that gets a page of its
    own). ``page`` counts from 1; past the last page gives the last."""
    groups = []
    for b in village_people(village, user):
        if groups and groups[-1][0].id == b.household_id:
            groups[-1][1].append(b)
        else:
            groups.append((b.household, [b]))
    pages, current, size = [], [], 0
    for g in groups:
        if current and size + len(g[1]) > per_page:
            pages.append(current)
            current, size = [], 0
        current.append(g)
        size += len(g[1])
    pages.append(current)
    page = min(max(page, 1), len(pages))
    first = 1 + sum(len(m) for p in pages[:page - 1] for _, m in p)
    chosen = pages[page - 1]
    return Sheet(households=chosen, people=sum(len(m) for _, m in groups), page=page,
                 pages=len(pages), first=first,
                 codes={b.id: code_for(b.id) for _, m in chosen for b in m})


def pending(village, since, user=None):
    """The lines of ``village`` (those ``user`` may see) not yet reviewed on or after
    ``since`` (a ``date``, the sheet's date or the campaign's start): ``[(code,
    beneficiary), …]`` by name."""
    return [(code_for(b.id), b) for b in sorted(village_people(village, user), key=lambda b: b.name_folded)
            if b.reviewed_at is None or b.reviewed_at.date() < since]


STATUS_TEXT = {"unknown": "Chưa rà soát", "has_account": "Có TK", "opening": "Đang mở TK",
               "no_account": "Chưa có TK", "refuses": "Từ chối"}


def workbook(village, printed_on, user=None):
    """The whole sheet of ``village`` (the people ``user`` may see) as ``.xlsx`` bytes, for a commune office that prints
    from a spreadsheet: the same lines and blanks as the HTML sheet, households as merged
    rows, A4 portrait fitted to the page width with the header row repeated on each page."""
    from openpyxl.styles import Alignment

    from ..sheets.writer import FormSheet, issuer_lines
    from .areas import commune_in, village_label
    commune = commune_in(village.parent, f"{printed_on:%Y-%m}")  # an old commune's village: the new one's
    book = FormSheet("Phieu ra soat", [9, 22, 6, 8, 12, 19, 14, 20, 18, 13, 9, 20], landscape=False)
    r = book.heading(issuer_lines("commune", commune.full_name), "PHIẾU RÀ SOÁT TÀI KHOẢN NHẬN TRỢ CẤP",
                     f"{village_label(village, commune)}, {commune.full_name} · in ngày {format_date(printed_on)}")
    book.merged(r - 1, 1, book.ncols, "Ngày rà soát: ......./......./20.......     Cán bộ rà soát: "
                "..............................................     Ký tên: ..............................",
                align=None)
    book.header_row(r, ["Mã", "Họ và tên", "Năm sinh", "ĐD (4 số cuối)", "Hiện tại", "Tài khoản",
                        "Ngân hàng, ví", "Số tài khoản", "Chủ tài khoản", "Là", "Chi trả", "Ghi chú"])
    header = r
    top = Alignment(vertical="top", wrap_text=True)
    blanks = ["□ Có TK   □ Đang mở\n□ Chưa có   □ Từ chối", "", "", "",
              "□ chính chủ\n□ giám hộ\n□ ủy quyền", "□ TK\n□ TM", ""]
    for household, members in sheet(village, per_page=10**9, user=user).households:
        if len(members) > 1:
            r += 1
            book.merged(r, 1, book.ncols, f"Hộ {household.head_name}", align=None, bold=True, size=10, box=True)
        for b in members:
            r += 1
            status = STATUS_TEXT.get(b.account_status, b.account_status)
            if b.account_status == "has_account" and b.account is not None and b.account.number:
                status += f" …{b.account.number[-4:]}"
            values = [code_for(b.id), b.full_name, b.birth_year, short_id(b.national_id), status] + blanks
            for col, value in enumerate(values, 1):
                book.put(r, col, value, size=10, align=top, box=True, bold=col == 1)
            book.ws.row_dimensions[r].height = 48
    book.repeat_rows(header)
    return book.bytes()


def find_line(user, village, text):
    """The beneficiary a typed code names, for entering ``village``'s sheet.

    Raises :class:`CodeError` for a malformed or mistyped code, a code of nobody the user
    may see, or a person of another village (the message names that village)."""
    bid = parse_code(text)
    try:
        b = scope.get_in_scope(Beneficiary, bid, user)
    except scope.OutOfScope:
        raise CodeError(_l("Không có ai mang mã %(code)s trong địa bàn của bạn: xem lại mã trên phiếu.",
                           code=text.strip())) from None
    if b.village_id != village.id:
        other = b.village.full_name if b.village else _l("không rõ thôn")
        raise CodeError(_l("Mã %(code)s là của %(name)s ở %(village)s, không phải thôn này: nhập ở phiếu "
                           "của thôn đó.", code=text.strip(), name=b.full_name, village=other))
    return b


def refusal(b, sheet_date):
    """Why ``b`` cannot be entered from a sheet dated ``sheet_date``, or ``None``.

    Refused: a record no longer paid (stopped, suspended, merged, deceased), and a record
    reviewed on or after the sheet's date: what the sheet says is older (or, the same day,
    probably entered already) and must not overwrite it; the household page edits it."""
    if b.status != "active" or b.deceased:
        return _l("%(name)s không còn trong danh sách đang hưởng: không nhập từ phiếu.", name=b.full_name)
    if b.reviewed_at is not None and sheet_date is not None:
        seen = b.reviewed_at.date()
        if seen > sheet_date:
            return _l("%(name)s đã được rà soát ngày %(seen)s, sau ngày ghi trên phiếu (%(day)s): thông tin "
                      "trên phiếu cũ hơn nên không ghi đè. Nếu cần sửa, mở trang hộ.",
                      name=b.full_name, seen=format_date(seen), day=format_date(sheet_date))
        if seen == sheet_date:
            return _l("%(name)s đã được rà soát cùng ngày %(day)s: có thể dòng này đã được nhập. Nếu cần "
                      "sửa, mở trang hộ.", name=b.full_name, day=format_date(sheet_date))
    return None


def paper_note(code, sheet_date, remarks=None):
    """The review's note: ``"Phiếu giấy 10/05/2024, mã 4123-9: không nghe máy"``."""
    text = f"{PAPER_MARK} {format_date(sheet_date)}, mã {code}"
    remarks = (remarks or "").strip()
    return f"{text}: {remarks}" if remarks else text


def save_line(b, user, data, expected_version, sheet_date, remarks=None, earliest=None):
    """Record the sheet's line for ``b`` as a visit on ``sheet_date`` through
    :func:`save_review` (same validation, version check, history events of source
    ``review``), with the note saying it came from the paper sheet, as the ``Review``'s note
    and as one more ``review`` event (field ``review_note``), then re-run the data checks
    of the records it touches.

    ``data``: the review fields (see :func:`portal.services.review.validate`);
    ``sheet_date``: the ``date`` written on the sheet (required; from ``earliest``, by
    default the campaign's start, to today).
    Raises :class:`LineRefused`, ``ReviewError`` or ``Conflict``; the caller commits.
    Returns the list of changed fields.
    """
    if sheet_date is None:
        raise ReviewError({"visited_on": _l("Nhập ngày ghi trên phiếu.")})
    reason = refusal(b, sheet_date)
    if reason is not None:
        raise LineRefused(reason, b)
    note = paper_note(code_for(b.id), sheet_date, remarks)
    changed = save_review(b, user, data, expected_version, visited_on=sheet_date, note=note,
                          earliest=earliest or progress.campaign_start().date())
    db.session.add(Event(beneficiary_id=b.id, user_id=user.id, source="review", action="update",
                         field="review_note", new_value=note))
    db.session.flush()
    checks.recheck(checks.ids_touching(b))
    return changed


def entered(village, sheet_date=None, limit=50, user=None):
    """The lines of ``village`` entered from paper (dated ``sheet_date`` if given; those
    ``user`` may see), latest first: ``[(review, beneficiary, code), …]``."""
    q = (select(Review, Beneficiary).join(Beneficiary, Review.beneficiary_id == Beneficiary.id)
         .where(Beneficiary.village_id == village.id, Review.note.startswith(PAPER_MARK),
                scope.visible(user))
         .order_by(Review.id.desc()).limit(limit))
    if sheet_date is not None:
        q = q.where(Review.visited_on == sheet_date)
    return [(r, b, code_for(b.id)) for r, b in db.session.execute(q)]
