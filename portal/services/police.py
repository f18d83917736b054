"""The police verification round (Đề án 06): each period the commune police check the
records against the National Population Database and say, record by record: verified,
mismatch (which field, and the database's value), deceased (date), moved away, not found.

A mismatch or a death opens a finding for the commune officer; a death also marks the
record and proposes the stop from the month after (Circular 02/2021/TT-BLĐTBXH Art. 2
cl. 1a; Decree 20/2021/NĐ-CP Art. 8(2)). The round can also go through a workbook:
``workbook()`` exports the records to check, ``parse_workbook()`` reads the filled-in
copy back, matched by ID.
"""
import io
from dataclasses import dataclass, field
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Beneficiary, ChangeProposal, Finding, Verification, utcnow
from ..sheets.reader import FileProblem, read_workbook
from ..sheets.writer import cell, discard, page_layout, print_area
from ..vn.dates import parse_birth
from ..vn.ids import parse_national_id
from ..vn.text import fold, nfc
from . import history, months
from .scope import scoped

RESULTS = ("verified", "mismatch", "deceased", "moved", "not_found")
RESULT_LABELS = {"verified": "Khớp", "mismatch": "Sai thông tin", "deceased": "Đã chết",
                 "moved": "Chuyển đi", "not_found": "Không tìm thấy"}
FIELDS = {"full_name": "Họ tên", "birth_date": "Ngày sinh", "sex": "Giới tính",
          "national_id": "Số định danh", "village": "Nơi thường trú"}
FINDINGS = {  # result → (code, severity)
    "mismatch": ("police_mismatch", "error"), "deceased": ("police_deceased", "error"),
    "moved": ("police_moved", "warning"), "not_found": ("police_not_found", "error"),
}


class VerificationError(ValueError):
    """A verification that lacks what its result needs: ``errors`` maps field → message."""

    def __init__(self, errors):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _to_verify_query(user, period):
    """The select of :func:`to_verify`'s records, in its order (commune, village, name, id)."""
    done = select(Verification.beneficiary_id).where(Verification.period == period)
    q = scoped(select(Beneficiary).where(Beneficiary.status == "active", Beneficiary.id.not_in(done)),
               user, Beneficiary.commune_id)
    return q, (Beneficiary.commune_id, Beneficiary.village_id, Beneficiary.name_folded, Beneficiary.id)


def to_verify(user, period, page=1, per_page=30):
    """Active records in ``user``'s area not yet verified in ``period`` (``YYYY-MM``), by
    commune, village and name. Returns ``(beneficiaries, total)``."""
    q, order = _to_verify_query(user, period)
    total = db.session.scalar(select(func.count()).select_from(q.subquery()))
    rows = db.session.scalars(q.order_by(*order).limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total


def to_verify_all(user, period, batch=1000):
    """Yield every record :func:`to_verify` would list, all pages, in the same order, with
    its village loaded (for :func:`write_workbook`). First the ids, in order (one column:
    about 36 B a record); then the records ``batch`` at a time by id (one query per batch,
    its villages in one more). Only the current batch's records are held, whatever the
    size of the area; a record gone since the ids were read is left out. Works across a
    commit between batches (no open cursor)."""
    q, order = _to_verify_query(user, period)
    ids = db.session.scalars(q.with_only_columns(Beneficiary.id).order_by(*order)).all()
    for k in range(0, len(ids), batch):
        chunk = ids[k:k + batch]
        found = {b.id: b for b in db.session.scalars(
            select(Beneficiary).where(Beneficiary.id.in_(chunk)).options(selectinload(Beneficiary.village)))}
        for bid in chunk:
            if bid in found:  # gone since the ids were read: left out
                yield found[bid]
        del found


def done_in(user, period):
    """How many records of the area were verified in ``period``, and how many there are."""
    base = scoped(select(Beneficiary.id).where(Beneficiary.status == "active"), user,
                  Beneficiary.commune_id)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    done = db.session.scalar(select(func.count(func.distinct(Verification.beneficiary_id))).where(
        Verification.period == period, Verification.beneficiary_id.in_(base)))
    return done, total


def validate(result, field_name=None, population_value=None, died_on=None):
    errors = {}
    if result not in RESULTS:
        errors["result"] = "Chọn kết quả xác minh."
    if result == "mismatch":
        if field_name not in FIELDS:
            errors["field"] = "Chọn thông tin bị sai."
        if not nfc(population_value):
            errors["population_value"] = "Ghi giá trị trong CSDL quốc gia về dân cư."
    if result == "deceased":
        if died_on is None:
            errors["died_on"] = "Ghi ngày mất."
        elif died_on > date.today():
            errors["died_on"] = "Ngày mất không thể ở tương lai."
    if errors:
        raise VerificationError(errors)


def record(b, user, period, result, field_name=None, population_value=None, died_on=None, note=None):
    """Record one verification of ``b`` in ``period`` and its effects (caller commits).

    Raises ``VerificationError``. Returns the ``Verification``.
    """
    validate(result, field_name, population_value, died_on)
    if result == "deceased" and b.birth_year and died_on.year < b.birth_year:
        raise VerificationError({"died_on": "Ngày mất trước năm sinh của đối tượng."})
    v = Verification(beneficiary_id=b.id, period=period, result=result, user_id=user.id,
                     field=field_name if result == "mismatch" else None,
                     population_value=nfc(population_value) if result == "mismatch" else None,
                     died_on=died_on if result == "deceased" else None, note=nfc(note) or None)
    db.session.add(v)
    now = utcnow()
    for f in b.findings:  # a new answer replaces the police's earlier ones
        if f.resolved_at is None and f.source == "police":
            f.resolved_at = now
    if result in FINDINGS:
        code, severity = FINDINGS[result]
        message = {
            "mismatch": f"Công an báo sai thông tin: {FIELDS.get(field_name, field_name)} trong CSDL quốc gia "
                        f"về dân cư là «{v.population_value}».",
            "deceased": f"Công an báo đã chết ngày {died_on:%d/%m/%Y}" if died_on else "",
            "moved": "Công an báo đã chuyển khỏi địa bàn.",
            "not_found": "Công an báo không tìm thấy trong CSDL quốc gia về dân cư.",
        }[result]
        db.session.add(Finding(beneficiary_id=b.id, code=code, severity=severity,
                               field=field_name if result == "mismatch" else None,
                               message=message + (f" ({v.note})" if v.note else ""),
                               source="police"))
    if result == "deceased":
        history.set_fields(b, {"deceased": True}, user, "police")
        effective = months.after(died_on)
        if not db.session.scalar(select(ChangeProposal.id).where(
                ChangeProposal.beneficiary_id == b.id, ChangeProposal.kind == "stop",
                ChangeProposal.status == "proposed")):
            db.session.add(ChangeProposal(
                beneficiary_id=b.id, commune_id=b.commune_id, kind="stop", clause="1a",
                effective_month=effective,
                source="police", user_id=user.id,
                reason=f"Chết ngày {died_on:%d/%m/%Y} (công an báo khi xác minh). Thôi hưởng từ tháng "
                       f"{effective[5:]}/{effective[:4]} (Thông tư 02/2021/TT-BLĐTBXH Điều 2 "
                       f"khoản 1a; Nghị định 20/2021/NĐ-CP Điều 8 khoản 2)."))
    db.session.flush()
    return v


def last_verified(ids_query):
    """``{beneficiary id: latest period (YYYY-MM) the police answered for it}``: any answer
    counts as checked; what it found is a finding of its own."""
    return dict(db.session.execute(
        select(Verification.beneficiary_id, func.max(Verification.period))
        .where(Verification.beneficiary_id.in_(ids_query))
        .group_by(Verification.beneficiary_id)).all())


# ---------------------------------------------------------------- the round as a workbook

COLUMNS = [("id", "Mã hồ sơ", 10), ("name", "Họ và tên", 26), ("birth", "Ngày sinh", 12),
           ("sex", "Giới tính", 9), ("national_id", "Số định danh", 16), ("village", "Thôn", 18),
           ("result", "Kết quả", 16), ("field", "Thông tin sai", 16),
           ("population_value", "Giá trị trong CSDL dân cư", 26), ("died_on", "Ngày mất", 12),
           ("note", "Ghi chú", 24)]
HELP = ("Cột Kết quả ghi một trong: " + ", ".join(RESULT_LABELS.values()) +
        ". «Sai thông tin»: ghi Thông tin sai (" + ", ".join(FIELDS.values()) +
        ") và giá trị trong CSDL. «Đã chết»: ghi ngày mất (dd/mm/yyyy).")


def workbook(beneficiaries, title):
    """The records to check as ``.xlsx`` bytes (:func:`write_workbook` into memory)."""
    buf = io.BytesIO()
    write_workbook(beneficiaries, title, buf)
    return buf.getvalue()


def write_workbook(beneficiaries, title, target):
    """Write the records to check as ``.xlsx`` to ``target`` (a path or a binary file object
    open for writing; returns nothing), with blank answer columns; IDs as text.

    ``beneficiaries`` (an iterable of ``Beneficiary``, e.g. :func:`to_verify_all`) are
    consumed one at a time and written at once (openpyxl's write-only mode): memory does
    not grow with their number."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Xác minh")
    for i, (_, _, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    page_layout(ws, landscape=True, title_rows="3:3")  # eleven columns; the header on each page
    rows = 3
    try:
        ws.append([cell(ws, title, font=Font(bold=True, size=13))])
        ws.append([cell(ws, HELP)])
        ws.append([cell(ws, h, font=Font(bold=True)) for _, h, _ in COLUMNS])
        for b in beneficiaries:
            rows += 1
            ws.append([cell(ws, b.id), cell(ws, b.full_name),
                       cell(ws, b.birth_date, "DD/MM/YYYY") if b.birth_date else cell(ws, b.birth_year),
                       cell(ws, {"M": "Nam", "F": "Nữ"}.get(b.sex, "")),
                       cell(ws, b.national_id or "", "@"), cell(ws, b.village.full_name if b.village else ""),
                       None, None, None, None, None])
        print_area(ws, len(COLUMNS), rows)
        wb.save(target)
    except BaseException:
        discard(wb)  # a failed export leaves no temporary file behind
        raise


@dataclass
class Answer:
    row: int
    beneficiary: Beneficiary
    result: str
    field: str | None = None
    population_value: str | None = None
    died_on: date | None = None
    note: str | None = None


@dataclass
class Parsed:
    answers: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # (row, message)
    blank: int = 0


_RESULTS_BY_WORD = {fold(v): k for k, v in RESULT_LABELS.items()} | {
    "dung": "verified", "khop": "verified", "sai": "mismatch", "chet": "deceased",
    "da mat": "deceased", "chuyen di": "moved", "khong tim thay": "not_found"}
_FIELDS_BY_WORD = {fold(v): k for k, v in FIELDS.items()} | {"ten": "full_name", "ho ten": "full_name",
                                                             "cccd": "national_id", "thon": "village"}


def parse_workbook(data, user, filename=None):
    """Read a filled-in verification workbook: every answered row matched to a record of
    ``user``'s area by its ID number (or, without one, by the «Mã hồ sơ»). Raises
    ``FileProblem`` when the file is not such a workbook. Rows without an answer are
    counted as ``blank``; every row that cannot be used is a problem (row, message)."""
    sheets = read_workbook(data, filename)
    out = Parsed()
    for sheet in sheets:
        header_row = next((i for i, r in enumerate(sheet.rows[:10])
                           if {"ket qua", "so dinh danh"} <= {fold(str(c or "")) for c in r}), None)
        if header_row is None:
            continue
        cols = {fold(str(c or "")): j for j, c in enumerate(sheet.rows[header_row])}
        col = {key: cols.get(fold(label)) for key, label, _ in COLUMNS}
        for i, r in enumerate(sheet.rows[header_row + 1:], start=header_row + 2):
            def get(key):
                j = col.get(key)
                return r[j] if j is not None and j < len(r) else None
            answer = fold(str(get("result") or ""))
            if not answer:
                if any(v not in (None, "") for v in r):
                    out.blank += 1
                continue
            result = _RESULTS_BY_WORD.get(answer)
            if result is None:
                out.problems.append((i, f"Kết quả «{get('result')}» không rõ: ghi một trong "
                                        + ", ".join(RESULT_LABELS.values()) + "."))
                continue
            b = _match(user, get("national_id"), get("id"))
            if isinstance(b, str):
                out.problems.append((i, b))
                continue
            died = parse_birth(get("died_on")).date if get("died_on") not in (None, "") else None
            a = Answer(i, b, result, _FIELDS_BY_WORD.get(fold(str(get("field") or ""))),
                       nfc(str(get("population_value") or "")) or None, died,
                       nfc(str(get("note") or "")) or None)
            try:
                validate(a.result, a.field, a.population_value, a.died_on)
            except VerificationError as e:
                out.problems.append((i, " ".join(e.errors.values())))
                continue
            out.answers.append(a)
        return out
    raise FileProblem("no_header", "Không phải bảng xác minh: cần các cột «Số định danh» và «Kết quả».")


def _match(user, national_id, record_id):
    """The record in ``user``'s area a row is about, or a Vietnamese message saying why not."""
    nid = parse_national_id(national_id).value if national_id not in (None, "") else None
    q = scoped(select(Beneficiary), user, Beneficiary.commune_id)
    if nid:
        found = db.session.scalars(q.where(Beneficiary.national_id == nid)).all()
        if len(found) == 1:
            try:
                rid = int(float(record_id)) if record_id not in (None, "") else None
            except (TypeError, ValueError):
                rid = None
            if rid is not None and rid != found[0].id:
                return (f"Mã hồ sơ {rid} và số định danh {nid} chỉ hai hồ sơ khác nhau: "
                        "kiểm tra lại dòng này.")
            return found[0]
        if len(found) > 1:
            return f"Số định danh {nid} có ở {len(found)} hồ sơ: ghi rõ Mã hồ sơ và xử lý trùng trước."
    if record_id not in (None, ""):
        try:
            b = db.session.scalar(q.where(Beneficiary.id == int(float(record_id))))
        except (TypeError, ValueError):
            b = None
        if b is not None and (not nid or not b.national_id):
            return b
    return "Không khớp hồ sơ nào của địa bàn (theo số định danh hoặc mã hồ sơ)."


def apply(parsed, user, period):
    """Record every answer of a parsed workbook (caller commits: all or nothing)."""
    for a in parsed.answers:
        record(a.beneficiary, user, period, a.result, a.field, a.population_value, a.died_on, a.note)
    return len(parsed.answers)


def proposals_for(beneficiary_id):
    return db.session.scalars(select(ChangeProposal).where(
        ChangeProposal.beneficiary_id == beneficiary_id).order_by(ChangeProposal.id)).all()
