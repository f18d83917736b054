""""Đúng, đủ, sạch, sống": the data-quality rules, run over records and kept as findings.

The slogan (Đề án 06) has no legal definition; these rules make it concrete
(``shared/design/domain.md`` §7). Each rule has a code, the word it serves, a severity
(``error`` blocks payment, ``warning`` needs a look), the field it is about, a message in
Vietnamese and its source. ``run_checks`` evaluates every rule on a set of records in a
few queries (duplicates through grouped, indexed look-ups, never a pairwise scan) and
keeps the open ``Finding`` rows (source ``check``) in step: new hits are added, hits that
are gone are resolved, nothing is deleted.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, exists, func, select, union_all, update
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import (Account, Area, Beneficiary, Finding, FindingCount, QualityCount, QualityRecord,
                      StandardLevel, utcnow)
from ..vn.banks import by_bin, check_account_number
from ..vn.ids import id_consistency, mask_id, province_name
from ..vn.text import nfc, proper_case, same_name
from . import clock
from .areas import member_units, subtree_ids
from .police import last_verified


@dataclass(frozen=True)
class Rule:
    code: str
    word: str  # dung / du / sach / song
    severity: str
    field: str
    message: str
    source: str


RULES = {r.code: r for r in [
    # đúng — correct
    Rule("id_sex_century_mismatch", "dung", "error", "national_id",
         "Chữ số thứ 4 của số định danh không khớp giới tính hoặc thế kỷ sinh.",
         "Thông tư 07/2016/TT-BCA Điều 7"),
    Rule("id_year_mismatch", "dung", "error", "national_id",
         "Chữ số 5–6 của số định danh không khớp năm sinh.", "Thông tư 07/2016/TT-BCA Điều 7"),
    Rule("id_unknown_province", "dung", "warning", "national_id",
         "Mã tỉnh của số định danh không có trong danh mục (số cấp sau 2024 chỉ chắc có 12 chữ số).",
         "Thông tư 07/2016/TT-BCA Phụ lục I"),
    Rule("amount_mismatch", "dung", "error", "monthly_amount",
         "Mức trợ cấp khác hệ số × mức chuẩn đang áp dụng.", "Nghị định 20/2021/NĐ-CP Điều 6"),
    Rule("account_not_digits", "dung", "error", "account",
         "Số tài khoản có ký tự không phải chữ số.", "Chỉ thị 21/CT-TTg"),
    Rule("account_bad_length", "dung", "error", "account",
         "Độ dài số tài khoản không hợp lý với ngân hàng / ví.", "Chỉ thị 21/CT-TTg"),
    Rule("account_is_card_number", "dung", "error", "account",
         "Số thẻ (16/19 số, đầu 9704) ghi vào chỗ số tài khoản.", "Chỉ thị 21/CT-TTg"),
    Rule("unknown_bank", "dung", "error", "account",
         "Tài khoản chưa rõ ngân hàng / ví (không có mã BIN).", "Chỉ thị 21/CT-TTg"),
    # đủ — complete
    Rule("missing_id", "du", "warning", "national_id", "Thiếu số định danh cá nhân.",
         "Luật Căn cước 2023 Điều 12"),
    Rule("missing_sex", "du", "warning", "sex", "Thiếu giới tính.", "Đề án 06"),
    Rule("missing_village", "du", "warning", "village_id", "Thiếu thôn.", "Đề án 06"),
    Rule("missing_category", "du", "warning", "category", "Thiếu diện đối tượng.",
         "Nghị định 20/2021/NĐ-CP Điều 5"),
    Rule("missing_amount", "du", "error", "monthly_amount", "Thiếu mức trợ cấp.",
         "Nghị định 20/2021/NĐ-CP Điều 6"),
    Rule("holder_incomplete", "du", "error", "account",
         "Tài khoản không đứng tên đối tượng: cần tên, số định danh và quan hệ của chủ tài khoản.",
         "Chỉ thị 21/CT-TTg"),
    # sạch — clean
    Rule("name_not_clean", "sach", "warning", "full_name",
         "Họ tên chưa chuẩn (Unicode dựng sẵn, một khoảng trắng, viết hoa chữ đầu).", "Đề án 06"),
    Rule("duplicate_id", "sach", "error", "national_id",
         "Số định danh có ở hồ sơ khác: nguy cơ trùng lĩnh.", "Chỉ thị 21/CT-TTg"),
    Rule("likely_duplicate", "sach", "warning", "full_name",
         "Có hồ sơ khác cùng họ tên và năm sinh trong xã, thiếu số định danh để phân biệt.", "Đề án 06"),
    Rule("area_not_in_force", "sach", "warning", "commune_id",
         "Đơn vị hành chính của hồ sơ không còn hiệu lực trong kỳ chi trả và không có đơn vị kế thừa.",
         "Nghị quyết 1677/NQ-UBTVQH15 (sắp xếp đơn vị hành chính 2025)"),
    Rule("shared_account", "sach", "warning", "account",
         "Cùng số tài khoản với đối tượng của hộ khác.", "Chỉ thị 21/CT-TTg"),
    # sống — live
    Rule("not_reviewed", "song", "warning", "reviewed_at", "Chưa rà soát trong đợt này.",
         "Chỉ thị 21/CT-TTg"),
    Rule("not_verified", "song", "warning", "national_id",
         "Chưa được công an xác minh với CSDL quốc gia về dân cư trong kỳ chi trả này.", "Đề án 06"),
    # The police's answers (services/police.py), counted with the rules' findings.
    Rule("police_mismatch", "song", "error", "national_id",
         "Công an báo sai thông tin: khác CSDL quốc gia về dân cư.", "Đề án 06"),
    Rule("police_deceased", "song", "error", "status", "Công an báo đã chết.",
         "Đề án 06; Thông tư 02/2021/TT-BLĐTBXH Điều 2 khoản 1a"),
    Rule("police_moved", "song", "warning", "village_id", "Công an báo đã chuyển khỏi địa bàn.",
         "Đề án 06"),
    Rule("police_not_found", "song", "error", "national_id",
         "Công an báo không tìm thấy trong CSDL quốc gia về dân cư.", "Đề án 06"),
    Rule("deceased_active", "song", "error", "status",
         "Đã chết nhưng vẫn đang hưởng: đề nghị thôi hưởng từ tháng sau.",
         "Thông tư 02/2021/TT-BLĐTBXH Điều 2 khoản 1a; Nghị định 20/2021/NĐ-CP Điều 8(2)"),
]}
WORDS = {"dung": "Đúng", "du": "Đủ", "sach": "Sạch", "song": "Sống"}

# Standard levels in đồng when an admin has recorded none: every level in force up to
# today. BTXH: Decree 20/2021/NĐ-CP Art. 4, Decree 76/2024/NĐ-CP from 1/7/2024. NCC (shown
# and recorded; NCC lines take their category's amount or the record's own): Decree
# 75/2021, 55/2023 from 1/7/2023, 77/2024 from 1/7/2024. HTXH (social pension): Social
# Insurance Law 2024 Art. 21–22, Decree 176/2025/NĐ-CP Art. 3, from 1/7/2025. Dated
# reference data: the table's national rows win when a program has any.
DEFAULT_STANDARD_LEVELS = {
    "BTXH": [(date(2021, 7, 1), 360_000), (date(2024, 7, 1), 500_000)],
    "NCC": [(date(2021, 9, 1), 1_624_000), (date(2023, 7, 1), 2_055_000), (date(2024, 7, 1), 2_789_000)],
    "HTXH": [(date(2025, 7, 1), 500_000)],
}
# The programs whose amount is coefficient × the standard level (Decree 20/2021 Art. 6).
COEFFICIENT_PROGRAMS = ("BTXH",)


def province_of(area):
    """The id of the province ``area`` (an ``Area``) lies in (itself if it is one), read
    from its path, or ``None``."""
    if area is None:
        return None
    if area.level == "province":
        return area.id
    ids = [int(x) for x in (area.path or "").strip("/").split("/") if x]
    if not ids:
        return None
    return db.session.scalar(select(Area.id).where(Area.id.in_(ids), Area.level == "province"))


def _at(levels, on):
    amount = None
    for since, value in sorted(levels):
        if since <= on:
            amount = value
    return amount


def standard_level(program, on, area=None):
    """The standard level (mức chuẩn, đồng) of ``program`` in force on ``on`` (a ``date``),
    or ``None``. With ``area`` (a commune or any unit, an ``Area``), a level its province
    set from a date by its own resolution (a ``StandardLevel`` row with ``area_id``) counts
    when it is in force on ``on`` and higher than the national one: a province may raise
    the level, never lower it (Decree 20/2021/NĐ-CP Art. 4(2)). The national level is the
    table's rows without an area, else ``DEFAULT_STANDARD_LEVELS``."""
    rows = db.session.execute(select(StandardLevel.valid_from, StandardLevel.amount, StandardLevel.area_id)
                              .where(StandardLevel.program == program,
                                     StandardLevel.category.is_(None))).all()
    national = [(since, value) for since, value, where in rows if where is None]
    amount = _at(national or DEFAULT_STANDARD_LEVELS.get(program, []), on)
    if area is not None and any(where is not None for *_, where in rows):
        province = province_of(area)
        own = _at([(since, value) for since, value, where in rows if where == province], on)
        if own is not None and (amount is None or own > amount):
            amount = own
    return amount


@dataclass
class Context:
    """What the cross-record rules need, gathered once per run."""

    on: date  # the payment month's first day: amounts are checked against it
    campaign_start: datetime
    id_holders: dict  # national_id → [(beneficiary id, commune name, transferred from id)] of payable records
    name_groups: dict  # (commune id, program, folded name, birth year) → [(id, national_id)]
    account_holders: dict  # account number → {household ids}
    levels: dict  # program → national standard level
    province_levels: dict = None  # (program, province id) → the province's level, when higher
    provinces: dict = None  # commune id → province id, when any province sets a level
    verified: dict = None  # beneficiary id → latest period (YYYY-MM) the police verified
    communes: dict = None  # commune id → (valid_from, valid_to, successor's name)


def _hits(b, a, ctx):
    """The codes (with a detail or ``None``) that record ``b`` (and its account ``a``) hits."""
    out = []
    nid = b.national_id
    if nid:
        for code in id_consistency(nid, b.sex, b.birth_year):
            out.append((code, None))
        if province_name(nid[:3]) is None:
            out.append(("id_unknown_province", f"Mã {nid[:3]}."))
        # A record transferred to another program (BTXH → HTXH, Decree 176/2025/NĐ-CP) is
        # the same person, not a duplicate: the payment lists keep them from being paid twice.
        # Only records that can still be paid are at risk of a double payment: a stopped,
        # moved or merged one (``UNPAYABLE``) is neither flagged nor counted as the other.
        others = [h for h in ctx.id_holders.get(nid, [])
                  if h[0] not in (b.id, b.transferred_from_id) and h[2] != b.id]
        if others and b.status not in UNPAYABLE:
            out.append(("duplicate_id", f"{mask_id(nid)} cũng có ở {others[0][1]}."))
    else:
        out.append(("missing_id", None))
    if b.sex is None:
        out.append(("missing_sex", None))
    if b.village_id is None:
        out.append(("missing_village", None))
    if not b.category:
        out.append(("missing_category", None))
    if b.monthly_amount is None:
        out.append(("missing_amount", None))
    elif b.program in ctx.levels and b.coefficient and ctx.levels[b.program]:
        level = ctx.levels[b.program]
        if ctx.province_levels:
            level = ctx.province_levels.get((b.program, (ctx.provinces or {}).get(b.commune_id)), level)
        expected = round(b.coefficient * level)
        if expected != b.monthly_amount:
            out.append(("amount_mismatch", f"{b.monthly_amount:,} ≠ {b.coefficient} × "
                        f"{level:,} = {expected:,} đồng.".replace(",", ".")))
    if b.full_name != proper_case(b.full_name) or b.full_name != nfc(b.full_name):
        out.append(("name_not_clean", f"«{b.full_name}» → «{proper_case(b.full_name)}»."))
    same = ctx.name_groups.get((b.commune_id, b.program, b.name_folded, b.birth_year), [])
    if len(same) > 1 and (not nid or any(not other_id for i, other_id in same if i != b.id)):
        out.append(("likely_duplicate", None))
    if b.account_status == "has_account" and a is not None:
        bank = by_bin(a.bank_bin) if a.bank_bin else None
        if bank is None:
            out.append(("unknown_bank", None))
        if a.number:
            for code in check_account_number(a.number, bank):
                out.append((code, None))
            if len(ctx.account_holders.get(a.number, ())) > 1:
                out.append(("shared_account", None))
        if (a.recipient_type or "self") != "self":
            if not (a.holder_name and a.holder_national_id):
                out.append(("holder_incomplete", None))
        elif a.holder_name and not same_name(a.holder_name, b.full_name):
            # "Chính chủ" but another name (folded: the bank's "NGUYEN VAN AN" is the same).
            out.append(("holder_incomplete", None))
    valid_from, valid_to, successor = (ctx.communes or {}).get(b.commune_id, (None, None, None))
    # An old commune's records belong to its successor from the reform (areas.commune_in):
    # only a unit that ended with none, or one not yet in force, leaves them without a home.
    if (valid_from and valid_from > ctx.on) or (valid_to and valid_to < ctx.on and not successor):
        out.append(("area_not_in_force", None))
    if b.reviewed_at is None or b.reviewed_at < ctx.campaign_start:
        out.append(("not_reviewed", None))
    if (ctx.verified or {}).get(b.id, "") < f"{ctx.on:%Y-%m}":
        out.append(("not_verified", None))
    if b.deceased and b.status == "active":
        out.append(("deceased_active", None))
    return out


SMALL = 500  # up to this many records, look their values up directly (an edit, a save)
# The statuses of records that no list pays any more: a national ID they hold is no
# double-payment risk (``duplicate_id``).
UNPAYABLE = ("stopped", "moved", "merged")


def _repeated(*cols):
    return (select(*cols).where(Beneficiary.status != "merged").group_by(*cols)
            .having(func.count() > 1))


def _context(on, campaign_start, records=None):
    """Gather the cross-record indexes: values held more than once, over the whole registry
    (the ID "anywhere in the system"), never by a pairwise scan. For a few ``records``
    (``[(id, national_id, name_folded, account number)]``) their own values are looked up
    through the indexes; otherwise grouped queries find every repeated value."""
    key = (Beneficiary.commune_id, Beneficiary.program, Beneficiary.name_folded, Beneficiary.birth_year)
    if records is None:
        dup_ids = (_repeated(Beneficiary.national_id).where(Beneficiary.national_id.is_not(None),
                                                             Beneficiary.status.not_in(UNPAYABLE)))
        dup_names = _repeated(*key).subquery()
        dup_numbers = (select(Account.number).join(Beneficiary, Beneficiary.id == Account.beneficiary_id)
                       .where(Account.number.is_not(None), Beneficiary.status != "merged")
                       .group_by(Account.number).having(func.count() > 1))
    else:
        dup_ids = sorted({r[1] for r in records if r[1]})
        dup_names = _repeated(*key).where(
            Beneficiary.name_folded.in_(sorted({r[2] for r in records}))).subquery()
        dup_numbers = sorted({r[3] for r in records if r[3]})
    id_holders = defaultdict(list)
    for bid, nid, cname, came_from in db.session.execute(
            select(Beneficiary.id, Beneficiary.national_id, Area.name, Beneficiary.transferred_from_id)
            .join(Area, Area.id == Beneficiary.commune_id)
            .where(Beneficiary.national_id.in_(dup_ids), Beneficiary.status.not_in(UNPAYABLE))):
        id_holders[nid].append((bid, cname, came_from))
    name_groups = defaultdict(list)
    for cid, prog, name, year, bid, nid in db.session.execute(
            select(*key, Beneficiary.id, Beneficiary.national_id)
            .join(dup_names, and_(*[dup_names.c[k.key] == k for k in key]))
            .where(Beneficiary.status != "merged")):
        name_groups[(cid, prog, name, year)].append((bid, nid))
    account_holders = defaultdict(set)
    for number, hid in db.session.execute(
            select(Account.number, Beneficiary.household_id)
            .join(Beneficiary, Beneficiary.id == Account.beneficiary_id)
            .where(Account.number.in_(dup_numbers), Beneficiary.account_status == "has_account",
                   Beneficiary.status != "merged")):
        account_holders[number].add(hid)
    levels = {p: standard_level(p, on) for p in COEFFICIENT_PROGRAMS}
    province_levels, provinces = _province_levels(on, levels)
    return Context(on, campaign_start, id_holders, name_groups, account_holders, levels,
                   province_levels=province_levels, provinces=provinces)


def _province_levels(on, levels):
    """``({(program, province id): level}, {commune id: province id})`` for the provinces
    whose own level is in force on ``on`` and higher than the national ``levels``; two
    empty dicts (and no further query) when no province sets one."""
    areas_with_rows = db.session.scalars(select(StandardLevel.area_id).where(
        StandardLevel.area_id.is_not(None), StandardLevel.category.is_(None),
        StandardLevel.program.in_(COEFFICIENT_PROGRAMS)).distinct()).all()
    if not areas_with_rows:
        return {}, {}
    out = {}
    for province_id in areas_with_rows:
        province = db.session.get(Area, province_id)
        for p in COEFFICIENT_PROGRAMS:
            level = standard_level(p, on, province)
            if level is not None and level != levels.get(p):
                out[(p, province_id)] = level
    provinces = {}
    for province_id in {pid for _p, pid in out}:
        path = db.session.get(Area, province_id).path
        for cid in db.session.scalars(select(Area.id).where(Area.level == "commune",
                                                            Area.path.startswith(path))):
            provinces[cid] = province_id
    return out, provinces


def evaluate(ids_query, on, campaign_start):
    """``{beneficiary id: [(code, detail)]}`` for the records whose ids ``ids_query`` selects."""
    few = db.session.execute(
        select(Beneficiary.id, Beneficiary.national_id, Beneficiary.name_folded, Account.number)
        .outerjoin(Account, Account.beneficiary_id == Beneficiary.id)
        .where(Beneficiary.id.in_(ids_query)).limit(SMALL + 1)).all()
    ctx = _context(on, campaign_start, few if len(few) <= SMALL else None)
    ctx.verified = last_verified(ids_query)
    successor = aliased(Area)
    ctx.communes = {cid: (vf, vt, sname) for cid, vf, vt, sname in db.session.execute(
        select(Area.id, Area.valid_from, Area.valid_to, successor.name)
        .outerjoin(successor, successor.id == Area.successor_id).where(Area.level == "commune"))}
    out = {}
    q = (select(Beneficiary, Account).outerjoin(Account, Account.beneficiary_id == Beneficiary.id)
         .where(Beneficiary.id.in_(ids_query), Beneficiary.status != "merged"))
    for b, a in db.session.execute(q).yield_per(2000):
        out[b.id] = _hits(b, a, ctx)
    return out


def period():
    """``(first day of the payment month, campaign start)`` from the configuration
    (``CAMPAIGN_MONTH``, ``CAMPAIGN_START``)."""
    from flask import current_app
    month = clock.open_month()
    return (date(int(month[:4]), int(month[5:7]), 1),
            datetime.fromisoformat(current_app.config["CAMPAIGN_START"]))


def recheck(ids_query):
    """``run_checks`` for the configured payment month and campaign."""
    return run_checks(ids_query, *period())


def run_checks(ids_query, on, campaign_start):
    """Evaluate the rules and keep the open ``check`` findings in step (caller commits).

    ``ids_query``: a select of beneficiary ids (an area's, or the records an edit touched);
    ``on``: the first day of the payment month (``date``); ``campaign_start``: reviews from
    this ``datetime`` count. Returns ``{"records": n, "clean": n, "added": n, "resolved": n}``
    where ``clean`` counts records without an error.
    """
    hits = evaluate(ids_query, on, campaign_start)
    open_rows = defaultdict(dict)
    for f in db.session.scalars(select(Finding).where(
            Finding.beneficiary_id.in_(ids_query), Finding.source == "check",
            Finding.resolved_at.is_(None))):
        open_rows[f.beneficiary_id][f.code] = f
    added = 0
    now = utcnow()
    new = []
    gone = []  # findings to resolve: one UPDATE per 5,000 (the counters' triggers run once for each)
    for bid in set(open_rows) - set(hits):  # merged away: nothing is checked on it any more
        gone.extend(open_rows[bid].values())
    for bid, found in hits.items():
        current = open_rows.get(bid, {})
        seen = set()
        for code, detail in found:
            seen.add(code)
            rule = RULES[code]
            message = rule.message + (f" {detail}" if detail else "")
            if code in current:
                current[code].message = message
            else:
                new.append({"beneficiary_id": bid, "code": code, "severity": rule.severity,
                            "field": rule.field, "message": message, "source": "check",
                            "created_at": now})
        gone.extend(finding for code, finding in current.items() if code not in seen)
    for i in range(0, len(gone), 5000):
        chunk = gone[i:i + 5000]
        db.session.execute(update(Finding).where(Finding.id.in_([f.id for f in chunk])).values(resolved_at=now),
                           execution_options={"synchronize_session": False})
        for finding in chunk:
            set_committed_value(finding, "resolved_at", now)
    resolved = len(gone)
    if new:
        commune = {}
        bids = sorted({row["beneficiary_id"] for row in new})
        for i in range(0, len(bids), 5000):
            commune.update(db.session.execute(select(Beneficiary.id, Beneficiary.commune_id)
                                              .where(Beneficiary.id.in_(bids[i:i + 5000]))).all())
        for row in new:
            row["commune_id"] = commune[row["beneficiary_id"]]
        db.session.execute(Finding.__table__.insert(), new)
        added = len(new)
    clean = sum(1 for found in hits.values() if not any(RULES[c].severity == "error" for c, _ in found))
    return {"records": len(hits), "clean": clean, "added": added, "resolved": resolved}


def ids_in_area(area, month=None):
    """A select of the ids of the beneficiaries (not merged) that belong to ``area`` in
    ``month`` (``YYYY-MM``, default the open month): a commune's own and those of the old
    communes the 2025 reform merged into it by then (``areas.member_units``); a larger
    unit's, registered under it or under a unit merged into it (``areas.subtree_ids``)."""
    if area.level == "commune":
        units = member_units(area, month or clock.open_month())
    else:
        units = subtree_ids([area])
    return select(Beneficiary.id).where(Beneficiary.status != "merged", Beneficiary.commune_id.in_(units))


def ids_touching(beneficiary):
    """The record and every record that shares its ID or account number (their duplicate
    findings change with it)."""
    q = select(Beneficiary.id).where(Beneficiary.id == beneficiary.id)
    parts = [q]
    if beneficiary.national_id:
        parts.append(select(Beneficiary.id).where(Beneficiary.national_id == beneficiary.national_id))
    if beneficiary.account is not None and beneficiary.account.number:
        parts.append(select(Account.beneficiary_id).where(Account.number == beneficiary.account.number))
    ids = set()
    for p in parts:
        ids.update(db.session.scalars(p))
    return select(Beneficiary.id).where(Beneficiary.id.in_(sorted(ids)))


def open_findings(ids_query):
    """The open check findings of the selected records as dicts: ``national_id``,
    ``commune_code``, ``rule``, ``severity``, ``field``, ``message`` (for ``check-data``)."""
    q = (select(Beneficiary.national_id, Area.code, Finding.code, Finding.severity, Finding.field,
                Finding.message, Beneficiary.id)
         .join(Beneficiary, Beneficiary.id == Finding.beneficiary_id)
         .join(Area, Area.id == Beneficiary.commune_id)
         .where(Finding.beneficiary_id.in_(ids_query), _open_check())
         .order_by(Area.code, Beneficiary.id, Finding.code))
    return [{"national_id": nid, "commune_code": ccode, "rule": code, "severity": sev,
             "field": fld, "message": msg, "beneficiary_id": bid, "source": RULES[code].source}
            for nid, ccode, code, sev, fld, msg, bid in db.session.execute(q)]


def summary(ids_query):
    """Open check findings by rule, ``[(code, severity, count)]``, for the data-quality pages."""
    return db.session.execute(
        select(Finding.code, Finding.severity, func.count())
        .where(Finding.beneficiary_id.in_(ids_query), Finding.source == "check",
               Finding.resolved_at.is_(None))
        .group_by(Finding.code, Finding.severity)).all()


def _open_check():
    """Open findings the quality pages count: the rules' and the police's."""
    return and_(Finding.source.in_(("check", "police")), Finding.resolved_at.is_(None))


def _summaries(commune_ids, owner, count):
    """Add up per commune what ``count(units)`` returns for the units ``owner`` names,
    ``(records, findings, with_error)``: rows ``(unit, n)``, ``(unit, code, severity, n)``
    and ``(unit, n)``; see :func:`commune_summaries`."""
    wanted = set(commune_ids)
    owner = {u: cid for u, cid in (owner or {cid: cid for cid in wanted}).items() if cid in wanted}
    out = {cid: {"records": 0, "with_error": 0, "errors": 0, "warnings": 0, "by_rule": {}}
           for cid in commune_ids}
    records, findings, with_error = count(sorted(owner))
    for unit, n in records:
        out[owner[unit]]["records"] += n
    for unit, code, severity, n in findings:
        s = out[owner[unit]]
        s["by_rule"][code] = s["by_rule"].get(code, 0) + n
        s["errors" if severity == "error" else "warnings"] += n
    for unit, n in with_error:
        out[owner[unit]]["with_error"] += n  # a record lies in one unit: the sum is exact
    for s in out.values():
        s["clean"] = s["records"] - s["with_error"]
        s["clean_rate"] = round(100 * s["clean"] / s["records"], 1) if s["records"] else 100.0
    return out


def commune_summaries(commune_ids, owner=None):
    """``{commune id: {"records", "with_error", "clean", "clean_rate", "errors", "warnings",
    "by_rule": {code: n}}}``: exact counts of the open check and police findings per
    commune (``_open_check``), read from the counters the database keeps
    (``services/quality_counts.py``: a few rows per commune, whatever the registry's size).
    ``records``: the records not merged; ``with_error``: those with an open error.

    ``owner`` (``{unit id: commune id}``, ``areas.owners`` of the communes in a month) adds
    the records of each unit up under the commune it belongs to then: from 07/2025 a new
    commune counts those of the old communes merged into it. Without it each commune
    counts the records registered in it."""
    def count(units):
        kept = db.session.execute(select(QualityCount.commune_id, QualityCount.records, QualityCount.with_error)
                                  .where(QualityCount.commune_id.in_(units))).all()
        findings = db.session.execute(
            select(FindingCount.commune_id, FindingCount.code, FindingCount.severity, FindingCount.n)
            .where(FindingCount.commune_id.in_(units), FindingCount.n != 0)).all()
        return [(u, n) for u, n, _e in kept], findings, [(u, e) for u, _n, e in kept]
    return _summaries(commune_ids, owner, count)


def _summaries_live(commune_ids, owner=None):
    """:func:`commune_summaries` counted from the findings and the registry (the reference
    the counters are tested against; linear in the open findings of the communes)."""
    def count(units):
        records = db.session.execute(
            select(Beneficiary.commune_id, func.count()).where(Beneficiary.commune_id.in_(units),
                                                               Beneficiary.status != "merged")
            .group_by(Beneficiary.commune_id)).all()
        # Finding.commune_id is the record's commune: no join to the registry (ix_finding_commune_open).
        findings = db.session.execute(
            select(Finding.commune_id, Finding.code, Finding.severity, func.count())
            .where(Finding.commune_id.in_(units), _open_check())
            .group_by(Finding.commune_id, Finding.code, Finding.severity)).all()
        with_error = db.session.execute(
            select(Finding.commune_id, func.count(func.distinct(Finding.beneficiary_id)))
            .where(Finding.commune_id.in_(units), _open_check(), Finding.severity == "error")
            .group_by(Finding.commune_id)).all()
        return records, findings, with_error
    return _summaries(commune_ids, owner, count)


_ORDER = (QualityRecord.rank, QualityRecord.name_folded, QualityRecord.beneficiary_id)
# A rule hit by fewer than this share of a commune's flagged records is listed from its
# findings; a commoner one by walking the worklist's order until a page is full.
RARE = 20


def _ordered_ids(units, where, offset, limit):
    """The ids of one page of ``quality_record`` rows of ``units`` meeting ``where``, worst
    first (an error), then by folded name, then id. Each unit is read in the order of
    ``ix_quality_record_worklist`` (at most ``offset + limit`` rows of it); several units'
    first rows are merged by the database."""
    if len(units) == 1:
        return db.session.scalars(select(QualityRecord.beneficiary_id)
                                  .where(QualityRecord.commune_id == units[0], *where)
                                  .order_by(*_ORDER).offset(offset).limit(limit)).all()
    parts = [select(QualityRecord.beneficiary_id, QualityRecord.rank, QualityRecord.name_folded)
             .where(QualityRecord.commune_id == unit, *where).order_by(*_ORDER).limit(offset + limit).subquery()
             for unit in units]
    merged = union_all(*[select(p) for p in parts]).subquery()
    return db.session.scalars(select(merged.c.beneficiary_id)
                              .order_by(merged.c.rank, merged.c.name_folded, merged.c.beneficiary_id)
                              .offset(offset).limit(limit)).all()


def flagged_in(units):
    """How many records registered in ``units`` (commune ids) have an open check or police
    finding: the worklist's total, read from ``quality_count.with_finding`` (one query)."""
    return db.session.scalar(select(func.coalesce(func.sum(QualityCount.with_finding), 0))
                             .where(QualityCount.commune_id.in_(list(units))))


def worklist(units, rule=None, page=1, per_page=30):
    """Records with open check findings registered in ``units`` (a commune id, or the list
    of ``areas.member_units``: a new commune and the old communes merged into it), worst
    first (an error, then by name, then id), optionally only those hitting ``rule``. Returns
    ``(rows, total)``; each row is ``(beneficiary, [findings])``, the beneficiary's village
    and commune loaded.

    Read from the counters (``services/quality_counts.py``): the total from
    ``quality_count.with_finding`` or, for a rule, ``finding_count`` (a record has at most
    one open finding per code: ``run_checks`` keys them by code, the police's answer
    resolves its earlier ones); the page in the order of ``ix_quality_record_worklist``.
    The first page costs the same at any size of the registry; page ``p`` reads about
    ``p × per_page`` index entries per unit (OFFSET). A rule hit by few records
    (:data:`RARE`) is listed from its findings instead."""
    units = [units] if isinstance(units, int) else list(units)
    if not units:
        return [], 0
    offset = (page - 1) * per_page
    flagged = flagged_in(units)
    where = []
    if rule:
        by_severity = dict(db.session.execute(
            select(FindingCount.severity, func.sum(FindingCount.n))
            .where(FindingCount.commune_id.in_(units), FindingCount.code == rule, FindingCount.n != 0)
            .group_by(FindingCount.severity)).all())
        total = sum(by_severity.values())
        if total * RARE < flagged:
            where.append(QualityRecord.beneficiary_id.in_(select(Finding.beneficiary_id).where(
                Finding.commune_id.in_(units), Finding.resolved_at.is_(None),
                Finding.source.in_(("check", "police")), Finding.severity.in_(sorted(by_severity)),
                Finding.code == rule)))
        else:
            where.append(exists().where(Finding.beneficiary_id == QualityRecord.beneficiary_id,
                                        Finding.code == rule, _open_check()))
    else:
        total = flagged
    ids = _ordered_ids(units, where, offset, per_page) if total else []
    people = {b.id: b for b in db.session.scalars(select(Beneficiary).where(Beneficiary.id.in_(ids))
                                                  .options(selectinload(Beneficiary.village),
                                                           selectinload(Beneficiary.commune)))}
    found = defaultdict(list)
    for f in db.session.scalars(select(Finding).where(Finding.beneficiary_id.in_(ids), _open_check())
                                .order_by(Finding.severity, Finding.code)):
        found[f.beneficiary_id].append(f)
    return [(people[i], found[i]) for i in ids], total


def _worklist_live(units, rule=None, page=1, per_page=30):
    """``(ids of the page, total)`` of :func:`worklist` counted from the findings (the
    reference its counters are tested against)."""
    units = [units] if isinstance(units, int) else list(units)
    worst = func.max(case((Finding.severity == "error", 1), else_=0))
    mine = [Finding.commune_id.in_(units), _open_check()]
    if rule:
        mine.append(Finding.beneficiary_id.in_(select(Finding.beneficiary_id).where(
            Finding.code == rule, Finding.commune_id.in_(units), _open_check())))
    total = db.session.scalar(select(func.count(func.distinct(Finding.beneficiary_id))).where(*mine))
    q = (select(Beneficiary.id).join(Finding, Finding.beneficiary_id == Beneficiary.id).where(*mine)
         .group_by(Beneficiary.id, Beneficiary.name_folded))
    ids = db.session.scalars(q.order_by(worst.desc(), Beneficiary.name_folded, Beneficiary.id)
                             .limit(per_page).offset((page - 1) * per_page)).all()
    return ids, total


def findings_of(beneficiary_id):
    """The open check findings of one record, errors first."""
    return db.session.scalars(select(Finding).where(Finding.beneficiary_id == beneficiary_id,
                                                    _open_check())
                              .order_by(Finding.severity, Finding.code)).all()
