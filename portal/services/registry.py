"""The registry: corrections of a beneficiary's facts, and the records as rows for the JSON
and Excel exports (one definition for both)."""
import io
from datetime import date

from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from ..extensions import db
from ..models import Area, Beneficiary, utcnow
from ..sheets.writer import cell, discard, page_layout, print_area
from ..vn.ids import id_consistency
from ..vn.text import fold, nfc, proper_case
from . import areas, clock, history, review
from .scope import scoped

COLUMNS = [  # key, Vietnamese header, width
    ("name", "Họ và tên", 26), ("sex", "Giới tính", 8), ("birth_date", "Ngày sinh", 12),
    ("birth_year", "Năm sinh", 9), ("national_id", "Số định danh cá nhân", 16),
    ("program", "Chương trình", 10), ("commune_code", "Mã xã", 8), ("commune", "Xã", 18),
    ("village", "Thôn", 18), ("category", "Diện đối tượng", 20),
    ("monthly_amount", "Mức trợ cấp (đồng)", 14), ("account_status", "Tình trạng TK", 14),
    ("bank_bin", "Mã ngân hàng (BIN)", 10), ("account_number", "Số tài khoản", 18),
    ("account_holder", "Chủ tài khoản", 22), ("recipient_type", "Người nhận", 12),
    ("payment_method", "Hình thức chi trả", 12), ("reviewed_at", "Ngày rà soát", 12),
]


def records(user=None, area=None):
    """See :func:`records_in`; ``area`` is one unit or ``None`` (all)."""
    return records_in(user, [area] if area is not None else None)


def _in_scope(q, user, units):
    q = scoped(q.where(Beneficiary.status != "merged"), user, Beneficiary.commune_id)
    if units is not None:
        q = q.where(Beneficiary.commune_id.in_(areas.subtree_ids(units)))
    return q


def count_in(user=None, units=None):
    """How many records :func:`records_in` yields (an int), in one count."""
    return db.session.scalar(_in_scope(select(func.count(Beneficiary.id)), user, units))


def records_in(user=None, units=None):
    """Yield one dict per beneficiary in ``user``'s scope (and under ``units`` if given, or
    registered in a commune merged into one of them):
    ``name``, ``sex`` (``M``/``F``/None), ``birth_date`` (``datetime.date``/None),
    ``birth_year``, ``national_id``, ``program``, ``commune_code``, ``village``,
    ``monthly_amount`` (int, đồng), ``account_number``, ``recipient_type``,
    ``payment_method`` …, ordered by commune, village and name."""
    commune, village = aliased(Area), aliased(Area)
    q = (select(Beneficiary, commune.code, commune.name, village.kind, village.name)
         .join(commune, commune.id == Beneficiary.commune_id)
         .outerjoin(village, village.id == Beneficiary.village_id)
         .options(selectinload(Beneficiary.account))
         .order_by(commune.code, village.name_folded, Beneficiary.name_folded, Beneficiary.id))
    q = _in_scope(q, user, units)
    # yield_per as an execution option (not ``Result.yield_per``): PostgreSQL then streams
    # through a server-side cursor instead of libpq holding the whole result (1 GB at 1M).
    for b, ccode, cname, vkind, vname in db.session.execute(q.execution_options(yield_per=1000)):
        a = b.account if b.account_status == "has_account" else None
        yield {
            "id": b.id, "name": b.full_name, "sex": b.sex, "birth_date": b.birth_date,
            "birth_year": b.birth_year, "national_id": b.national_id, "program": b.program,
            "commune_code": ccode, "commune": cname,
            "village": f"{vkind} {vname}" if vkind and vname else vname, "category": b.category,
            "monthly_amount": b.monthly_amount, "account_status": b.account_status,
            "bank_bin": a.bank_bin if a else None, "account_number": a.number if a else None,
            "account_holder": a.holder_name if a else None,
            "recipient_type": (a.recipient_type if a else None) or "self",
            "payment_method": b.payment_method,
            "reviewed_at": b.reviewed_at.date() if b.reviewed_at else None,
        }


CORRECTABLE = ("full_name", "sex", "birth_date", "birth_year", "national_id", "category",
               "monthly_amount", "phone", "note")


# Import findings settled by correcting a field (Finding.code → the field it is about).
FINDINGS_OF_FIELD = {
    "national_id": ("missing_id", "id_lost_leading_zero", "id_scientific_notation", "id_bad_format",
                    "id_unknown_province", "id_sex_century_mismatch", "id_year_mismatch",
                    "cmnd_only", "duplicate_id", "duplicate_id_registry"),
    "sex": ("missing_sex", "id_sex_century_mismatch"),
    "birth_year": ("bad_birth_date", "id_sex_century_mismatch", "id_year_mismatch"),
    "birth_date": ("bad_birth_date",),
    "monthly_amount": ("bad_amount",),
}


class CorrectionError(ValueError):
    """Corrected values that break a rule: ``errors`` maps field → Vietnamese message."""

    def __init__(self, errors):
        super().__init__("; ".join(str(m) for m in errors.values()))
        self.errors = errors


def check_correction(b, data):
    """Rules a correction must keep (raises ``CorrectionError``): the ID agrees with the sex
    and birth year (Circular 07/2016/TT-BCA Art. 7: the 4th digit gives century and sex,
    the 5th–6th the year) and is not another person's; the birth is not in the future."""
    errors = {}
    today = date.today()
    if data.get("birth_year") and data["birth_year"] > today.year:
        errors["birth_year"] = _l("Năm sinh ở tương lai.")
    if data.get("birth_date") and data["birth_date"] > today:
        errors["birth_date"] = _l("Ngày sinh ở tương lai.")
    nid = data.get("national_id")
    touched = any(data.get(f) != getattr(b, f) for f in ("national_id", "sex", "birth_year"))
    if nid and touched:  # a fix of another field is not blocked by a problem left as it was
        if id_consistency(nid, data.get("sex"), data.get("birth_year")):
            errors["national_id"] = _l("Số định danh không khớp giới tính hoặc năm sinh (chữ số thứ 4 "
                                       "cho thế kỷ và giới tính, chữ số 5–6 là năm sinh).")
        elif nid != b.national_id:
            other = db.session.scalar(select(Beneficiary).where(
                Beneficiary.national_id == nid, Beneficiary.id != b.id))
            if other is not None:
                errors["national_id"] = _l("Số định danh này đã có ở một hồ sơ khác (%(commune)s).",
                                           commune=other.commune.full_name)
    if data.get("village"):
        _, message = village_named(b, data["village"])
        if message:
            errors["village"] = message
    if errors:
        raise CorrectionError(errors)


def village_named(b, text, month=None):
    """The village a correction's ``text`` names for ``b``, by the import's rule
    (``areas.find_village`` among ``areas.lineage_villages``): the villages of the commune
    ``b`` belongs to in ``month`` (``YYYY-MM``, default the open month; ``areas.commune_in``)
    and of the old communes merged into it, matched folded (``thôn lệ thủy`` is Xã Bình
    Chánh's Thôn Lệ Thủy for a record of Xã Bình Sơn from 07/2025).

    Returns ``(village, message)``: ``(Area, None)`` for an existing village (the record's
    own when ``text`` bears its name, even one borne elsewhere too); ``(None, None)`` for
    an empty or new name (``correct`` creates it under the commune in force); ``(None,
    message)`` when several old communes have a village of that name and ``text`` does not
    say which (``Thôn Thuận Hòa (Xã Bình Long cũ)``, as ``areas.village_label`` writes it,
    does), or names an old commune without such a village."""
    name, said = areas.parse_village_label(text)
    if not name:
        return None, None
    month = month or clock.open_month()
    commune = areas.commune_in(b.commune, month)
    if b.village is not None and said is None and areas.village_key(name) == b.village.name_folded:
        return b.village, None
    found, _ = areas.find_village(areas.lineage_villages(commune, month), name, said)
    if said is not None:
        found = [v for v in found if areas.names_commune(said, v.parent)]
        if not found:
            return None, _l("%(commune)s không có thôn «%(village)s». Chọn một thôn trong danh sách "
                            "gợi ý; thôn mới thì chỉ ghi tên thôn.", commune=said, village=name)
    if len(found) > 1:
        labels = ", ".join(areas.village_label(v, commune) for v in found)
        return None, _l("Có %(n)s thôn tên này: %(villages)s. Chọn một thôn trong danh sách gợi ý "
                        "(ghi đúng tên kèm xã cũ như trên).", n=len(found), villages=labels)
    return (found[0] if found else None), None


def village_suggestions(b, month=None):
    """The labels (``areas.village_label``, by name) of the villages a correction of ``b``
    may choose in ``month`` (default the open month): those of its commune in force and of
    the old communes merged into it."""
    month = month or clock.open_month()
    commune = areas.commune_in(b.commune, month)
    villages = [v for vs in areas.lineage_villages(commune, month).values() for v in vs]
    return sorted((areas.village_label(v, commune) for v in villages), key=fold)


class StaleRecord(Exception):
    """The record changed since the form was opened (``theirs``: its current values)."""

    def __init__(self, theirs):
        super().__init__("record changed since the form was opened")
        self.theirs = theirs


def current_facts(b):
    """The correctable facts of ``b`` as a correction form holds them (village by name)."""
    data = {f: getattr(b, f) for f in CORRECTABLE}
    data["village"] = village_text(b)
    return data


def village_text(b, month=None):
    """``b``'s village as the correction form shows it (``areas.village_label``: with the
    old commune when it lies under one merged into the commune in force); ``""`` for none."""
    if b.village is None:
        return ""
    return areas.village_label(b.village, areas.commune_in(b.commune, month or clock.open_month()))


def correct(b, user, data, expected_version):
    """Apply a correction to ``b``'s facts, one ``Event`` per changed field (source
    ``correction``); ``data['village']`` is a village name or label, placed by
    ``village_named`` (an existing village of the commune's lineage; a name several old
    communes bear is refused with ``CorrectionError``), else created under the commune ``b``
    belongs to in the open month (``areas.commune_in``). An empty value clears a field only
    when the officer empties it on purpose here.

    Raises ``StaleRecord`` when ``expected_version`` is not the record's version. Returns
    the changed fields; the caller commits.
    """
    if expected_version is not None and str(expected_version) != str(b.version):
        raise StaleRecord({f: getattr(b, f) for f in CORRECTABLE})
    check_correction(b, data)
    values = {f: data.get(f) or None for f in CORRECTABLE}
    values["full_name"] = proper_case(nfc(values["full_name"]))
    values["note"] = nfc(values["note"])
    changed = history.set_fields(b, values, user, "correction")
    if "full_name" in changed:
        b.name_folded = fold(b.full_name)
    village = None
    if data.get("village"):
        village, _ = village_named(b, data["village"])
        if village is None:
            village = areas.get_or_create_village(areas.commune_in(b.commune, clock.open_month()),
                                                  data["village"])
    if village is not None and village.id != b.village_id:
        changed += history.set_fields(b, {"village_id": village.id}, user, "correction")
        # The household moves with a person living alone; otherwise the person leaves it.
        if len(b.household.members) == 1:
            b.household.village_id = village.id
        else:
            review.split_household(b, user)
    settle = {code for f in changed for code in FINDINGS_OF_FIELD.get(f, ())}
    if settle:
        for finding in b.findings:
            if finding.resolved_at is None and finding.code in settle:
                finding.resolved_at = utcnow()
    return changed


def to_json_rows(rows):
    for r in rows:
        r = dict(r)
        r["birth_date"] = r["birth_date"].isoformat() if r["birth_date"] else None
        r["reviewed_at"] = r["reviewed_at"].isoformat() if r["reviewed_at"] else None
        yield r


def workbook(rows, title):
    """The registry as ``.xlsx`` bytes (:func:`write_workbook` into memory): for a download
    of a commune or a district; a province's export is a job that writes to a file."""
    buf = io.BytesIO()
    write_workbook(rows, title, buf)
    return buf.getvalue()


def write_workbook(rows, title, target):
    """Write the registry as ``.xlsx`` to ``target`` (a path or a binary file object open
    for writing; returns nothing): Vietnamese headers, IDs and account numbers as text,
    dates as dates (dd/mm/yyyy), money as whole đồng; no cell is ever a formula.

    ``rows`` (dicts as :func:`records_in` yields them) are consumed one at a time and
    written at once (openpyxl's write-only mode keeps the sheet in a temporary file), so
    memory does not grow with the number of rows."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Danh sách")
    for i, (_, _, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    page_layout(ws, landscape=True, title_rows="2:2")  # a wide list; the header on each page
    bold = Font(bold=True)
    written = 2
    try:
        ws.append([cell(ws, title, font=Font(bold=True, size=13))])
        ws.append([cell(ws, h, font=bold) for _, h, _ in COLUMNS])
        for r in rows:
            written += 1
            out = []
            for key, _, _ in COLUMNS:
                v = r.get(key)
                if v is None:
                    out.append(None)
                elif key in TEXT_KEYS:
                    out.append(cell(ws, str(v), "@"))
                elif key in DATE_KEYS:
                    out.append(cell(ws, v, "DD/MM/YYYY"))
                elif key == "monthly_amount":
                    out.append(cell(ws, int(v), "#,##0"))
                else:
                    out.append(cell(ws, LABELS.get(key, {}).get(v, v)))
            ws.append(out)
        print_area(ws, len(COLUMNS), written)
        wb.save(target)
    except BaseException:
        discard(wb)  # a failed export leaves no temporary file behind
        raise


TEXT_KEYS = ("national_id", "account_number", "bank_bin", "commune_code")
DATE_KEYS = ("birth_date", "reviewed_at")
LABELS = {
    "sex": {"M": "Nam", "F": "Nữ"},
    "recipient_type": {"self": "Chính chủ", "guardian": "Người giám hộ", "authorised": "Người được ủy quyền"},
    "payment_method": {"account": "Qua tài khoản", "cash": "Tiền mặt"},
    "account_status": {"unknown": "Chưa rà soát", "has_account": "Có tài khoản",
                       "opening": "Đang mở", "no_account": "Chưa có", "refuses": "Từ chối"},
}
