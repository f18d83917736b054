"""Mức chuẩn và mức cố định — the dated reference data an admin keeps for the payment list.

Two kinds of ``StandardLevel`` rows, each in force from its ``valid_from`` until the next
row of the same kind:

- a **standard level** (mức chuẩn, ``category`` empty) per program: a BTXH line is
  coefficient × the level in force that month (Decree 20/2021/NĐ-CP Art. 4 and 6; Decree
  76/2024/NĐ-CP from 1/7/2024); an HTXH line is the level (Decree 176/2025/NĐ-CP Art. 3,
  from 1/7/2025); the NCC standard (Decrees 75/2021, 55/2023, 77/2024) is shown and kept,
  NCC lines take the category amounts below. While a program has no national row, the
  defaults of ``checks.DEFAULT_STANDARD_LEVELS`` apply; the first national row an admin
  adds copies those defaults in, so that the months before it keep their level;
- a **province's level** (a standard level with ``area_id``, a province in force): the
  level the province set by its own resolution from a date, for BTXH or HTXH; it counts
  where it is higher than the national level (``checks.standard_level``: a province may
  raise the level, never lower it, Decree 20/2021/NĐ-CP Art. 4(2)), so a lower one is
  refused;
- a **fixed amount per category** (``category`` set, matched to a record's category folded:
  case, accents and spaces aside), e.g. NCC "Thân nhân liệt sĩ" (the appendices of Decree
  55/2023/NĐ-CP and 77/2024/NĐ-CP). A record whose category has no row keeps its own
  ``monthly_amount``.

Amounts are ``int`` đồng; dates are ``datetime.date``. Every change is an ``Event``
(source ``admin``, field ``standard_level``, no beneficiary) whose old and new values are
the row as JSON, so the page can show who changed what, when, from what to what.
A list already locked keeps its amounts: only lists built afterwards use the new rows.
"""
import json
from collections import Counter
from datetime import date, datetime

from sqlalchemy import func, select

from ..extensions import db
from ..models import Area, Beneficiary, Event, StandardLevel, User
from ..vn.text import fold
from .checks import DEFAULT_STANDARD_LEVELS, standard_level

PROGRAMS = ("BTXH", "NCC", "HTXH")
# The programs a province may set a higher level of (Decree 20/2021 Art. 4(2); Decree
# 176/2025 Art. 3 lets the province add support to the social pension).
PROVINCE_PROGRAMS = ("BTXH", "HTXH")
MAX_AMOUNT = 100_000_000  # đồng: the same ceiling as an imported amount
FIELD = "standard_level"
# The legal source of each default level (shared/design/domain.md §5).
DEFAULT_SOURCES = {("BTXH", date(2021, 7, 1)): "Nghị định 20/2021/NĐ-CP Điều 4",
                   ("BTXH", date(2024, 7, 1)): "Nghị định 76/2024/NĐ-CP",
                   ("NCC", date(2021, 9, 1)): "Nghị định 75/2021/NĐ-CP",
                   ("NCC", date(2023, 7, 1)): "Nghị định 55/2023/NĐ-CP",
                   ("NCC", date(2024, 7, 1)): "Nghị định 77/2024/NĐ-CP",
                   ("HTXH", date(2025, 7, 1)): "Luật BHXH 2024 Điều 21–22; Nghị định 176/2025/NĐ-CP Điều 3"}


class LevelError(ValueError):
    """A change the reference data refuses (Vietnamese message); ``field`` names the form
    field it concerns."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def _clean_category(category):
    category = " ".join((category or "").split())
    return category or None


def as_dict(row):
    """The row as stored in the audit trail: ``{"id", "program", "category", "amount",
    "valid_from" (ISO), "source"}``, and for a province's level ``"area_id"`` and
    ``"area"`` (its name)."""
    out = {"id": row.id, "program": row.program, "category": row.category, "amount": row.amount,
           "valid_from": row.valid_from.isoformat(), "source": row.source}
    if row.area_id is not None:
        area = row.area if row.area is not None else db.session.get(Area, row.area_id)
        out |= {"area_id": row.area_id, "area": area.full_name if area is not None else None}
    return out


def audit(user, action, old=None, new=None, field=FIELD, subject=None):
    """Record an admin's change of reference data (``field``: ``standard_level``, ``target``,
    ``user``) as an ``Event`` with the values before and after as JSON; ``subject`` is the
    ``User`` a change of a user concerns (``Event.subject_user_id``)."""
    db.session.add(Event(beneficiary_id=None, user_id=user.id, source="admin", action=action,
                         field=field, subject_user_id=subject.id if subject else None,
                         old_value=json.dumps(old, ensure_ascii=False) if old else None,
                         new_value=json.dumps(new, ensure_ascii=False) if new else None))


def standard_rows(program):
    """The national standard-level rows of ``program`` (no area), oldest first."""
    return db.session.scalars(select(StandardLevel).where(
        StandardLevel.program == program, StandardLevel.category.is_(None),
        StandardLevel.area_id.is_(None))
        .order_by(StandardLevel.valid_from, StandardLevel.id)).all()


def province_rows(program):
    """The provinces' own levels of ``program``, by province then date."""
    return db.session.scalars(select(StandardLevel).join(Area, Area.id == StandardLevel.area_id).where(
        StandardLevel.program == program, StandardLevel.category.is_(None))
        .order_by(Area.name, StandardLevel.valid_from, StandardLevel.id)).all()


def provinces(on):
    """The provinces in force on ``on`` (a ``date``), by name: the ones a level may be set
    for."""
    from .areas import valid_on
    return db.session.scalars(valid_on(select(Area).where(Area.level == "province"), on)
                              .order_by(Area.name)).all()


def category_rows():
    """The fixed amounts per category, by program, category and date."""
    return db.session.scalars(select(StandardLevel).where(StandardLevel.category.is_not(None))
                              .order_by(StandardLevel.program, StandardLevel.category_folded,
                                        StandardLevel.valid_from)).all()


def defaults(program):
    """``[(valid_from, amount, source)]``: the levels that apply while ``program`` has no row."""
    return [(since, amount, DEFAULT_SOURCES.get((program, since), ""))
            for since, amount in DEFAULT_STANDARD_LEVELS.get(program, [])]


def in_force(rows, on):
    """The row of ``rows`` (one kind, oldest first) in force on ``on``, or ``None``."""
    current = None
    for r in rows:
        if r.valid_from <= on:
            current = r
    return current


def matching_records(program):
    """``{folded category: number of records}`` of ``program`` (merged records aside): how
    many records each category row would pay."""
    out = Counter()
    for category, n in db.session.execute(
            select(Beneficiary.category, func.count()).where(
                Beneficiary.program == program, Beneficiary.status != "merged",
                Beneficiary.category.is_not(None)).group_by(Beneficiary.category)):
        out[fold(category)] += n
    return out


def known_categories(limit=60):
    """The categories the registry's records carry, per program (for the form's list)."""
    out = {}
    for program, category in db.session.execute(
            select(Beneficiary.program, Beneficiary.category).where(Beneficiary.category.is_not(None))
            .group_by(Beneficiary.program, Beneficiary.category)
            .order_by(Beneficiary.program, Beneficiary.category).limit(limit)):
        out.setdefault(program, []).append(category)
    return out


HTXH_FROM = date(2025, 7, 1)  # Social Insurance Law 2024, in force from 1/7/2025


def _check(program, category, amount, valid_from, source, area=None, exclude_id=None):
    if program not in PROGRAMS:
        raise LevelError("Chọn chương trình.", "program")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        raise LevelError("Số tiền phải là số nguyên đồng lớn hơn 0 và không quá 100.000.000.", "amount")
    if not isinstance(valid_from, date) or isinstance(valid_from, datetime):
        raise LevelError("Nhập ngày áp dụng.", "valid_from")
    if not (source or "").strip():
        raise LevelError("Ghi căn cứ pháp lý.", "source")
    if program == "HTXH" and valid_from < HTXH_FROM:
        raise LevelError("Trợ cấp hưu trí xã hội áp dụng từ ngày 01/07/2025 (Luật Bảo hiểm xã hội 2024).",
                         "valid_from")
    if area is not None:
        if area.level != "province":
            raise LevelError("Chọn một tỉnh.", "area_id")
        if category:
            raise LevelError("Mức của tỉnh là mức chuẩn: để trống diện đối tượng.", "category")
        if program not in PROVINCE_PROGRAMS:
            raise LevelError(f"Tỉnh chỉ đặt được mức cao hơn cho {' và '.join(PROVINCE_PROGRAMS)}.", "program")
        national = standard_level(program, valid_from)
        if national is not None and amount <= national:
            raise LevelError(f"Mức của tỉnh phải cao hơn mức chuẩn chung đang áp dụng ngày "
                             f"{valid_from:%d/%m/%Y} ({national:,} đồng).".replace(",", "."), "amount")
    folded = fold(category) if category else None
    q = select(StandardLevel).where(StandardLevel.program == program,
                                    StandardLevel.valid_from == valid_from,
                                    StandardLevel.area_id == area.id if area is not None
                                    else StandardLevel.area_id.is_(None))
    q = q.where(StandardLevel.category_folded == folded if folded else StandardLevel.category.is_(None))
    if exclude_id is not None:
        q = q.where(StandardLevel.id != exclude_id)
    if db.session.scalars(q).first() is not None:
        what = f"diện «{category}»" if category else "mức chuẩn"
        where = f" tại {area.full_name}" if area is not None else ""
        raise LevelError(f"Đã có {what} của {program}{where} áp dụng từ ngày {valid_from:%d/%m/%Y}: "
                         "sửa dòng đó thay vì thêm dòng mới.", "valid_from")
    return folded


def add(user, program, amount, valid_from, source, category=None, area=None):
    """Add a row (the caller commits); ``area``: a province (``Area``) for its own level,
    ``None`` for the national one. The first national standard-level row of a program
    that has defaults also adds those defaults (except one on the same date), each
    recorded, so that earlier months keep their level. Returns ``(row, [copied default
    rows])``. Raises ``LevelError`` on a bad value, a row already there for the same
    program, category, area and date, an HTXH row before 1/7/2025, or a province's level
    not above the national one in force on its date."""
    category = _clean_category(category)
    folded = _check(program, category, amount, valid_from, source, area)
    copied = []
    if category is None and area is None and not standard_rows(program):
        for since, value, src in defaults(program):
            if since != valid_from:
                copied.append(StandardLevel(program=program, amount=value, valid_from=since,
                                            source=src or "Mức mặc định"))
    row = StandardLevel(program=program, category=category, category_folded=folded, amount=amount,
                        valid_from=valid_from, source=source.strip(),
                        area_id=area.id if area is not None else None)
    for r in copied + [row]:
        db.session.add(r)
    db.session.flush()
    for r in copied + [row]:
        audit(user, "create", new=as_dict(r))
    db.session.flush()
    return row, copied


def update(row, user, program, amount, valid_from, source, category=None, area=None):
    """Change a row (the caller commits); recorded with its values before and after.
    Returns ``True`` when anything changed. Raises ``LevelError`` as :func:`add`."""
    category = _clean_category(category)
    folded = _check(program, category, amount, valid_from, source, area, exclude_id=row.id)
    before = as_dict(row)
    row.program, row.category, row.category_folded = program, category, folded
    row.amount, row.valid_from, row.source = amount, valid_from, source.strip()
    row.area_id = area.id if area is not None else None
    row.area = area
    after = as_dict(row)
    if after == before:
        return False
    audit(user, "update", before, after)
    db.session.flush()
    return True


def delete(row, user):
    """Delete a row (the caller commits); recorded with its values. When a program's last
    standard-level row goes, the defaults apply again."""
    audit(user, "delete", old=as_dict(row))
    db.session.delete(row)
    db.session.flush()


def changes(field=FIELD, limit=20):
    """The latest audit entries of ``field``, newest first: ``[{"at", "user", "action",
    "old", "new"}]`` (``old``/``new`` as dicts, or ``None``)."""
    rows = db.session.execute(
        select(Event, User.username).join(User, User.id == Event.user_id)
        .where(Event.source == "admin", Event.field == field, Event.beneficiary_id.is_(None))
        .order_by(Event.id.desc()).limit(limit)).all()
    return [{"at": e.at, "user": name, "action": e.action,
             "old": json.loads(e.old_value) if e.old_value else None,
             "new": json.loads(e.new_value) if e.new_value else None} for e, name in rows]

