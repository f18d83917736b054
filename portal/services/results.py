"""The payment provider's result file (kết quả chi trả): read, matched, previewed, applied.

After paying a locked list, the payment provider (the post office or a bank) sends back a
file that says, line by line, what happened: paid into the account, paid in cash, failed
(with a reason, e.g. a closed account or a wrong holder) or returned (Directive
21/CT-TTg; issue 4 item 3). The ``payer`` user uploads it; this module reads it into a
:class:`Plan`, which the portal shows as a preview and applies all or nothing.

The file
    ``.csv`` (``;`` or ``,``, UTF-8 with or without BOM, or a legacy encoding), ``.xlsx``
    or ``.xls``, read by :func:`portal.sheets.reader.read_workbook`. The first sheet with a
    header row (among its first :data:`HEADER_SCAN` rows) holding a reference column and a
    result column is read; the provider file the portal writes (``provider_csv`` /
    ``provider_workbook``) with a result column added is such a file. Columns, matched on
    the folded header text (any case, with or without Vietnamese marks, a trailing
    ``(…)`` ignored):

    - reference (required): «Noi dung», «Nội dung», «Mã tham chiếu», «Reference», «Mã GD»…
      The cell may hold more text around our reference (``CK 21052-202405-BTXH-17 TRO
      CAP``): the reference is picked out of it.
    - result (required): «Kết quả», «Trạng thái», «Status»… (see :data:`RESULT_WORDS`).
    - reason (optional): «Lý do», «Ghi chú», «Reason»…; needed for a failure or a return.
    - amount (optional): «Số tiền», «Amount»…; when given it must equal the line's amount
      plus its arrears (whole đồng).

Matching
    A reference names one beneficiary in one commune, month and program; every version of
    that list carries it. It is matched to the line of the latest *locked* version among
    the lists of the user's area (or of the one list the file was uploaded for), since
    that version is the final list the reports count.

Errors (each names the row as Excel numbers it and the column as the file heads it)
    unknown reference, a reference outside the user's area, a line not on a locked list
    (or on a superseded version, or on another list than the one chosen), a line held
    or blocked, a missing or unknown result, a failure or return without a reason, an
    account payment for a cash line, an amount that differs, an unreadable amount, a
    reason longer than 200 characters, a reference twice in the file. A single error
    blocks the whole file: nothing is written until the file is clean.

Idempotence
    A row whose result and reason are already the line's is ``unchanged`` and not
    applied again (``payments.record_result`` writes nothing for it either), so uploading
    the same file twice changes nothing the second time.

Overwrites
    A row that would replace a result already recorded (not ``pending``) by a different
    one is an ``overwrite``: shown apart in the preview as a warning ("ghi đè kết quả đã
    ghi: … → …") and applied only when the user ticks the confirm-overwrite box
    (:func:`apply` with ``overwrite=True``); otherwise those lines keep their result.
"""
import re
from dataclasses import asdict, dataclass, field

from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import PaymentLine, PaymentPeriod
from ..sheets.reader import FileProblem, read_workbook
from ..vn.money import format_vnd, parse_amount
from ..vn.text import fold, nfc
from . import months, payments
from .areas import area_paths
from .scope import can_see_area

#: How many rows at the top of a sheet are searched for the header row.
HEADER_SCAN = 20
#: Longest reason the payment line keeps (``PaymentLine.result_reason``).
REASON_MAX = 200
#: How many row errors a plan keeps (the count is always exact).
ERRORS_KEPT = 1000

# Folded header texts per column; a header also matches when it starts with one of
# these followed by a space ("Trạng thái giao dịch", "Nội dung chuyển khoản").
HEADERS = {
    "reference": ("noi dung", "ma tham chieu", "so tham chieu", "tham chieu", "reference", "ref",
                  "ma gd", "ma giao dich", "so giao dich", "transaction id", "description"),
    "result": ("ket qua", "trang thai", "status", "result"),
    "reason": ("ly do", "ghi chu", "reason", "note", "mo ta loi", "nguyen nhan"),
    "amount": ("so tien", "amount", "thanh tien"),
}
# What the portal calls a column when the file has none (messages only).
COLUMN_NAMES = {"reference": "Nội dung", "result": "Kết quả", "reason": "Lý do", "amount": "Số tiền"}

#: Folded cell text → result. ``paid`` is a success that follows the line's method (an
#: account line paid into its account, a cash line paid in cash); ``pending`` leaves the
#: line as it is.
RESULT_WORDS = {
    **dict.fromkeys(("thanh cong", "giao dich thanh cong", "success", "successful", "succeeded",
                     "ok", "00", "paid", "da chi", "da chi tra", "da thanh toan", "hoan thanh",
                     "completed"), "paid"),
    **dict.fromkeys(("da chi vao tai khoan", "chuyen khoan thanh cong", "paid account",
                     "paid_account"), "paid_account"),
    **dict.fromkeys(("tien mat", "cash", "da chi tien mat", "chi tien mat", "paid cash",
                     "paid_cash", "paid in cash"), "paid_cash"),
    **dict.fromkeys(("khong thanh cong", "that bai", "giao dich that bai", "failed", "fail",
                     "failure", "loi", "giao dich loi", "error"), "failed"),
    **dict.fromkeys(("tra lai", "bi tra lai", "hoan tra", "hoan lai", "returned", "return"),
                    "returned"),
    **dict.fromkeys(("cho xu ly", "dang xu ly", "pending", "processing", "chua chi"), "pending"),
}
RESULT_LABELS = {"pending": "Chưa chi", "paid_account": "Đã chi vào tài khoản",
                 "paid_cash": "Đã chi tiền mặt", "failed": "Không thành công", "returned": "Trả lại"}
_ACCEPTED = "Thành công, Không thành công, Trả lại, Tiền mặt"

# Our references: commune code, YYYYMM, program, beneficiary id ("21052-202405-BTXH-17").
_REFERENCE = re.compile(r"\b[0-9A-Z]{2,10}-\d{6}-[A-Z]{2,6}-\d+\b")
_PARENTHESES = re.compile(r"\(.*?\)|\[.*?\]")


@dataclass
class Change:
    """One row of the file that will be recorded on a payment line.

    ``result`` is one of ``payments.RESULTS``; ``old_result``/``old_reason`` are the
    line's now; ``amount`` is the line's amount plus arrears (đồng); ``changes`` is false
    when the line already holds this result and reason (nothing will be written);
    ``overwrite`` is true when it replaces a recorded result (not ``pending``) by another
    one (applied only when the user confirms the overwrite)."""

    row: int
    reference: str
    line_id: int
    period_id: int
    name: str
    commune: str
    month: str
    program: str
    amount: int
    result: str
    reason: str | None
    old_result: str
    old_reason: str | None
    changes: bool = True
    overwrite: bool = False


@dataclass
class Plan:
    """What a result file says, matched to the lines of the user's locked lists.

    ``rows``: the :class:`Change` per usable row, in file order; ``errors``: dicts
    ``{"row": int, "column": str, "message": str, "text": str}`` (``column`` is the
    file's header and its letter, ``text`` the whole Vietnamese sentence; at most
    :data:`ERRORS_KEPT`, ``error_count`` is exact); ``blank``: rows with a reference and
    no result, and ``pending``: rows whose result says "not yet" (both left alone);
    ``columns``: key → the header as written in the file; ``sheet``: the sheet's name
    (``None`` for a CSV)."""

    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    error_count: int = 0
    blank: int = 0
    pending: int = 0
    columns: dict = field(default_factory=dict)
    sheet: str | None = None

    @property
    def to_change(self):
        """The rows that change their line, overwrites included."""
        return [r for r in self.rows if r.changes]

    @property
    def overwrites(self):
        """The rows that would replace a result already recorded by a different one."""
        return [r for r in self.rows if r.changes and r.overwrite]

    @property
    def ok(self):
        """True when the file can be applied (no row error)."""
        return self.error_count == 0

    def counts(self):
        """``{"rows", "change", "overwrite", "unchanged", "errors", "blank", "pending"}``
        (``change``: rows recorded on confirm without more ado, ``overwrite``: rows that
        replace a recorded result, written only when confirmed) and, per result, how many
        ``change`` rows will be set to it (``"paid_account"``…)."""
        plain = [c for c in self.to_change if not c.overwrite]
        out = {"rows": len(self.rows), "change": len(plain), "overwrite": len(self.overwrites),
               "unchanged": len(self.rows) - len(self.to_change), "errors": self.error_count,
               "blank": self.blank, "pending": self.pending}
        for r in payments.RESULTS:
            out[r] = sum(1 for c in plain if c.result == r)
        return out

    def snapshot(self):
        """The plan as JSON (kept on the ``ImportBatch`` for the preview page):
        ``changes`` the plain changes, ``overwrites`` the overwriting ones."""
        return {"counts": self.counts(), "errors": self.errors, "columns": self.columns,
                "sheet": self.sheet, "changes": [asdict(c) for c in self.to_change if not c.overwrite],
                "overwrites": [asdict(c) for c in self.overwrites]}

    def _error(self, row, column, message):
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"row": row, "column": column, "message": message,
                                "text": f"Dòng {row}, cột {column}: {message}"})


class ResultsError(ValueError):
    """A plan that cannot be applied (it has errors, or a line changed meanwhile)."""


# ------------------------------------------------------------------------------- reading

def _header_key(value):
    """The column a header cell names (``"reference"``, ``"result"``…) or ``None``."""
    if not isinstance(value, str):
        return None
    text = fold(_PARENTHESES.sub(" ", value))
    text = " ".join(re.sub(r"[^a-z0-9_ ]", " ", text).split())
    for key, words in HEADERS.items():
        for w in words:
            if text == w or text.startswith(w + " "):
                return key
    return None


def _find_header(sheet):
    """``(row index, {key: column index})`` of the sheet's header row, or ``None``.
    The leftmost column wins when two name the same thing."""
    for i, row in enumerate(sheet.rows[:HEADER_SCAN]):
        cols = {}
        for j, value in enumerate(row):
            key = _header_key(value)
            if key and key not in cols:
                cols[key] = j
        if "reference" in cols and "result" in cols:
            return i, cols
    return None


def _text(value):
    """A cell as stripped text (``None`` and ``""`` for nothing); whole numbers without
    ``.0``; an Excel number 0 read as the provider code ``"00"``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if float(value).is_integer():
            return f"{int(value):02d}"
        return str(value)
    return nfc(str(value)).strip()


def _reference(value):
    """Our reference inside a cell (upper case), or the whole cell when none is found."""
    text = _text(value).upper()
    m = _REFERENCE.search(text)
    return m.group(0) if m else text.lstrip("'").strip()


def read(data, user, period=None, filename=None, month=None, area=None):
    """Read a provider result file and match it to ``user``'s locked lists.

    ``data``: the file's bytes; ``user``: the ``payer`` (their area bounds the lines that
    can be matched); ``period``: a ``PaymentPeriod`` when the file was uploaded for that
    one list (a reference of another list is then an error), else ``None`` (every locked
    list of the area). ``month`` (``YYYY-MM``) and ``area`` (an ``Area``), when given,
    narrow the lists further (the CLI's ``--month`` and ``--area``): a reference of another
    month, or of a commune outside ``area``, is then an error. Returns a :class:`Plan`;
    writes nothing. Raises ``FileProblem``
    when the file cannot be read or has no reference and result columns, ``"empty"``
    when it has no data row.
    """
    sheets = read_workbook(data, filename)
    found = None
    for sheet in sheets:
        found = _find_header(sheet)
        if found:
            break
    if not found:
        raise FileProblem("no_header", "Không tìm thấy dòng tiêu đề có cột mã tham chiếu («Nội dung», "
                                       "«Mã tham chiếu») và cột «Kết quả» trong tệp.")
    header_row, cols = found
    plan = Plan(sheet=sheet.name)
    header = sheet.rows[header_row]
    names = {k: f"«{_text(header[j])}» ({get_column_letter(j + 1)})" for k, j in cols.items()}
    plan.columns = {k: _text(header[j]) for k, j in cols.items()}

    def column(key):
        return names.get(key) or f"«{COLUMN_NAMES[key]}» (không có trong tệp)"

    def get(row, key):
        j = cols.get(key)
        return row[j] if j is not None and j < len(row) else None

    entries = []  # (row number, reference, result word, reason, amount cell)
    for i, row in enumerate(sheet.rows[header_row + 1:], start=header_row + 2):
        ref, said = _reference(get(row, "reference")), _text(get(row, "result"))
        answer = fold(said)
        if not ref and not answer:
            continue
        if not answer:
            plan.blank += 1
            continue
        if not ref:
            plan._error(i, column("reference"), "thiếu mã tham chiếu của dòng chi trả.")
            continue
        entries.append((i, ref, said, _text(get(row, "reason")) or None, get(row, "amount")))
    if not entries and not plan.blank and not plan.error_count:
        raise FileProblem("empty", "Tệp không có dòng kết quả nào dưới dòng tiêu đề.")

    lines = _lines_for({ref for _, ref, *_ in entries})
    first_row, newer = {}, {}
    bounds = (month, area_paths(area) if area is not None else None, area)
    for i, ref, said, reason, amount_cell in entries:
        if ref in first_row:
            plan._error(i, column("reference"), f"mã tham chiếu {ref} trùng với dòng {first_row[ref]}.")
            continue
        first_row[ref] = i
        result = RESULT_WORDS.get(fold(said))
        if result is None:
            plan._error(i, column("result"), f"«{said}» không phải kết quả chi trả: ghi một trong "
                                             f"{_ACCEPTED}.")
            continue
        line = _match(plan, i, column("reference"), ref, lines.get(ref, ()), user, period, newer, bounds)
        if line is None:
            continue
        if result == "pending":
            plan.pending += 1
            continue
        if result == "paid":
            result = "paid_account" if line.method == "account" else "paid_cash"
        if result == "paid_account" and line.method != "account":
            plan._error(i, column("result"), "dòng này chi tiền mặt, không qua tài khoản.")
            continue
        if result in ("failed", "returned") and not reason:
            plan._error(i, column("reason"), f"«{RESULT_LABELS[result]}» cần ghi lý do (ví dụ: tài "
                                             "khoản đã đóng, sai tên chủ tài khoản).")
            continue
        if reason and len(reason) > REASON_MAX:
            plan._error(i, column("reason"), f"lý do dài quá {REASON_MAX} ký tự.")
            continue
        due = line.amount + line.arrears
        if amount_cell not in (None, ""):
            try:
                amount = parse_amount(amount_cell)
            except ValueError:
                plan._error(i, column("amount"), f"số tiền «{_text(amount_cell)}» không đọc được.")
                continue
            if amount != due:
                plan._error(i, column("amount"), f"số tiền {format_vnd(amount)} khác số tiền của dòng "
                                                 f"trong danh sách ({format_vnd(due)}).")
                continue
        p = line.period
        plan.rows.append(Change(
            row=i, reference=ref, line_id=line.id, period_id=p.id, name=line.beneficiary.full_name,
            commune=p.commune.name, month=p.month, program=p.program, amount=due, result=result,
            reason=reason, old_result=line.result, old_reason=line.result_reason,
            changes=(result, reason) != (line.result, line.result_reason),
            overwrite=line.result not in ("pending", result)))
    return plan


def _lines_for(references):
    """``{reference: [lines carrying it, any list, any area]}``, with their periods."""
    out = {}
    refs = sorted(references)
    for k in range(0, len(refs), 500):
        for line in db.session.scalars(
                select(PaymentLine).where(PaymentLine.reference.in_(refs[k:k + 500]))
                .options(joinedload(PaymentLine.period).joinedload(PaymentPeriod.commune),
                         joinedload(PaymentLine.beneficiary))):
            out.setdefault(line.reference, []).append(line)
    return out


def _match(plan, row, column, ref, lines, user, period, newer, bounds=(None, None, None)):
    """The line a row's reference names, or ``None`` after recording why not. ``newer``:
    ``{(commune id, month, program): its newest version}``, filled as lists are met;
    ``bounds``: ``(month, the area's paths, the area)`` that narrow the lists (``None``:
    any)."""
    if not lines:
        plan._error(row, column, f"mã tham chiếu {ref} không có trong danh sách chi trả nào.")
        return None
    mine = [line for line in lines if can_see_area(user, line.period.commune)]
    if not mine:
        plan._error(row, column, f"mã tham chiếu {ref} thuộc danh sách ngoài địa bàn của anh/chị.")
        return None
    month, paths, area = bounds
    if month is not None or paths is not None:
        inside = [line for line in mine if (month is None or line.period.month == month) and (
            paths is None or any(line.period.commune.path.startswith(p) for p in paths))]
        if not inside:
            p = mine[0].period
            wanted = " và ".join(([f"tháng {months.label(month)}"] if month else [])
                                 + ([area.full_name] if area is not None else []))
            plan._error(row, column, f"mã tham chiếu {ref} thuộc danh sách {p.commune.name}, tháng "
                                     f"{months.label(p.month)}, không thuộc {wanted}.")
            return None
        mine = inside
    locked = [line for line in mine if line.period.status == "locked"]
    if not locked:
        plan._error(row, column, f"mã tham chiếu {ref} thuộc danh sách đang soạn, chưa khóa: chỉ ghi "
                                 "kết quả cho danh sách đã khóa.")
        return None
    line = max(locked, key=lambda x: x.period.version)
    p = line.period
    key = (p.commune_id, p.month, p.program)
    if key not in newer:
        newer[key] = payments.last_version(*key)
    last = newer[key]
    if last.version > p.version:  # superseded by a version this reference is not on (yet)
        plan._error(row, column, f"danh sách của mã {ref} đã thay bằng lần {last.version}"
                                 + (", đang soạn: ghi kết quả khi lần đó đã khóa." if last.status == "draft"
                                    else ", không còn dòng này: không ghi kết quả vào lần cũ."))
        return None
    if period is not None and line.period_id != period.id:
        if any(x.period_id == period.id for x in locked):
            plan._error(row, column, f"danh sách này đã có phiên bản mới hơn (lần {line.period.version}): "
                                     "ghi kết quả vào phiên bản đó.")
        else:
            p = line.period
            plan._error(row, column, f"mã tham chiếu {ref} thuộc danh sách khác ({p.commune.name}, "
                                     f"{p.program}, tháng {p.month[5:]}/{p.month[:4]}).")
        return None
    if line.status != "listed":
        why = "đang tạm giữ" if line.status == "held" else "bị chặn vì lỗi dữ liệu"
        plan._error(row, column, f"dòng {ref} {why}, không có trong danh sách chi trả.")
        return None
    return line


# ------------------------------------------------------------------------------- applying

def apply(plan, user, overwrite=False):
    """Record every changing row of a clean plan through ``payments.record_result`` (the
    result ``Event``, and the ``payment_failed`` finding for a failed account payment);
    the rows that overwrite a recorded result only with ``overwrite`` (else those lines
    are left as they are). The caller commits, or rolls back on ``ResultsError`` /
    ``payments.PeriodError``: nothing of the file may be kept then. Returns how many
    lines changed."""
    if not plan.ok:
        raise ResultsError(f"Tệp còn {plan.error_count} lỗi: chưa ghi gì. Sửa tệp rồi tải lên lại.")
    n = 0
    for c in plan.to_change:
        if c.overwrite and not overwrite:
            continue
        line = db.session.get(PaymentLine, c.line_id)
        if (line.result, line.result_reason) != (c.old_result, c.old_reason):
            raise ResultsError(f"Dòng {c.row} ({c.name}) vừa được ghi kết quả khác: tải tệp lên lại "
                               "để xem trước lần nữa.")
        payments.record_result(line, user, c.result, c.reason)
        n += 1
    return n
