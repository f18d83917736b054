"""Areas: loading the administrative tree, finding units by code and date, villages.

Sources: the package data ``portal/data/areas_binh-son.csv`` (the 22 units of Bình Sơn
district in 2024 and the 5 communes they became on 01/07/2025, Resolution
1677/NQ-UBTVQH15) and the statistics office's export format (``Tỉnh Thành Phố, Mã TP,
Quận Huyện, Mã QH, Phường Xã, Mã PX, Cấp, Tên Tiếng Anh``) as ``.csv`` or ``.xls``.
"""
import csv
import io
from datetime import date
from functools import lru_cache
from importlib import resources

from sqlalchemy import or_, select

from ..extensions import db
from ..models import Area
from ..vn.text import fold, nfc

REFORM_DAY = date(2025, 7, 1)  # Law on the Organisation of Local Government 2025
LAST_DAY_BEFORE_REFORM = date(2025, 6, 30)

KINDS = ("Thành phố", "Thị trấn", "Thị xã", "Tỉnh", "Huyện", "Quận", "Phường", "Xã", "Thôn",
         "Tổ dân phố", "Đặc khu")


_FOLDED_KINDS = {fold(k): k for k in KINDS}


@lru_cache(maxsize=4096)
def split_kind(full_name, kind=None):
    """``"Thị Trấn Châu Ổ"`` → ``("Thị trấn", "Châu Ổ")``; the kind is taken from ``kind`` or
    from the name's first words (matched folded, so any case and tone placement)."""
    full_name = nfc(full_name) or ""
    folded = fold(full_name)
    candidates = ([fold(kind)] if kind else []) + list(_FOLDED_KINDS)
    for k in candidates:
        if k and folded.startswith(k + " "):
            # fold() keeps one character per letter, so the kind's length carries over.
            return _FOLDED_KINDS.get(k, nfc(kind)), full_name[len(k):].strip()
    return (_FOLDED_KINDS.get(fold(kind), nfc(kind)) if kind else None), full_name


def _set_path(area):
    db.session.flush()
    area.path = (area.parent.path if area.parent else "/") + f"{area.id}/"


def upsert_area(level, code, name, kind=None, parent=None, valid_from=None, valid_to=None,
                keep_validity=False):
    """Create or update the unit with this level, code and start date; return it.

    ``keep_validity``: an existing unit keeps its end date (a list without dates, like the
    statistics office's export, does not reopen a unit that the reform closed).
    """
    area = db.session.scalar(select(Area).where(
        Area.level == level, Area.code == code,
        Area.valid_from.is_(None) if valid_from is None else Area.valid_from == valid_from))
    if area is None:
        area = Area(level=level, code=code, valid_from=valid_from, valid_to=valid_to)
        db.session.add(area)
    elif not keep_validity:
        area.valid_to = valid_to
    area.name, area.kind, area.parent = name, kind, parent
    area.name_folded = fold(name)
    _set_path(area)
    return area


def load_packaged_areas():
    """Load the Bình Sơn units shipped with the product (idempotent). Returns the count."""
    text = (resources.files("portal") / "data" / "areas_binh-son.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    count = 0
    provinces, districts, new_communes = {}, {}, {}
    for r in rows:
        pcode = r["province_code"].zfill(2)
        if pcode not in provinces:
            kind, name = split_kind(r["province_name"])
            provinces[pcode] = upsert_area("province", pcode, name, kind)
            count += 1
        dcode = r["district_code"].zfill(3)
        if dcode not in districts:
            kind, name = split_kind(r["district_name"])
            districts[dcode] = upsert_area("district", dcode, name, kind, provinces[pcode],
                                           valid_to=LAST_DAY_BEFORE_REFORM)
            count += 1
        ncode = r["new_commune_code"].zfill(5)
        if ncode and ncode not in new_communes:
            kind, name = split_kind(r["new_commune_name"])
            new_communes[ncode] = upsert_area("commune", ncode, name, kind, provinces[pcode],
                                              valid_from=REFORM_DAY)
            count += 1
    for r in rows:
        old = upsert_area("commune", r["commune_code"].zfill(5), nfc(r["commune_name"]),
                          nfc(r["commune_type"]), districts[r["district_code"].zfill(3)],
                          valid_to=LAST_DAY_BEFORE_REFORM)
        old.successor = new_communes.get(r["new_commune_code"].zfill(5))
        count += 1
    return count


GSO_COLUMNS = ("Tỉnh Thành Phố", "Mã TP", "Quận Huyện", "Mã QH", "Phường Xã", "Mã PX", "Cấp")


def load_gso_rows(rows, valid_from=None, valid_to=None):
    """Load units from the statistics office's export, given as rows of cells with the
    header first. Codes are zero-padded (province 2, district 3, commune 5 digits).

    Raises ``ValueError`` (Vietnamese message) when the header is not the GSO one.
    Returns the number of units created or updated.
    """
    rows = [list(r) for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise ValueError("Tệp trống.")
    header = [fold(str(c or "")) for c in rows[0]]
    try:
        idx = [header.index(fold(c)) for c in GSO_COLUMNS]
    except ValueError:
        raise ValueError("Không phải tệp danh mục đơn vị hành chính của Tổng cục Thống kê "
                         "(cần các cột: " + ", ".join(GSO_COLUMNS) + ").") from None
    provinces, districts, count = {}, {}, 0
    keep = valid_from is None and valid_to is None

    def code(v, width):
        if v in (None, ""):
            return ""
        if isinstance(v, float):
            v = int(v)
        return str(v).strip().zfill(width)

    for r in rows[1:]:
        r = r + [None] * (len(header) - len(r))
        pname, pcode, dname, dcode, cname, ccode, ckind = (r[i] for i in idx)
        pcode, dcode, ccode = code(pcode, 2), code(dcode, 3), code(ccode, 5)
        if not pcode:
            continue
        if pcode not in provinces:
            kind, name = split_kind(pname)
            provinces[pcode] = upsert_area("province", pcode, name, kind, None, valid_from, valid_to,
                                           keep)
            count += 1
        parent = provinces[pcode]
        if dcode:
            if dcode not in districts:
                kind, name = split_kind(dname)
                districts[dcode] = upsert_area("district", dcode, name, kind, parent,
                                               valid_from, valid_to, keep)
                count += 1
            parent = districts[dcode]
        if ccode:
            kind, name = split_kind(cname, ckind)
            upsert_area("commune", ccode, name, kind, parent, valid_from, valid_to, keep)
            count += 1
    return count


def valid_on(query, on):
    """Restrict an ``Area`` select to units in force on date ``on``."""
    return query.where(or_(Area.valid_from.is_(None), Area.valid_from <= on),
                       or_(Area.valid_to.is_(None), Area.valid_to >= on))


def find_area(code, level=None, on=None):
    """The unit with GSO ``code`` in force on ``on`` (default: any, the newest first)."""
    q = select(Area).where(Area.code == str(code))
    if level:
        q = q.where(Area.level == level)
    if on:
        q = valid_on(q, on)
    return db.session.scalars(q.order_by(Area.valid_from.desc().nulls_last())).first()


def find_commune(code, month=None):
    """The commune with ``code`` in force in ``month`` (``YYYY-MM``; default: the newest)."""
    on = date(int(month[:4]), int(month[5:7]), 1) if month else None
    return find_area(code, "commune", on) or (find_area(code, "commune") if on else None)


def get_or_create_village(commune, name):
    """The village (thôn) named ``name`` under ``commune``, created when new.

    Names are matched folded, so ``Thôn Phước Hòa`` and ``thôn phước hoà`` are one village.
    Returns ``None`` for an empty name.
    """
    name = nfc(name)
    if not name:
        return None
    kind, bare = split_kind(name)
    bare = bare or name
    key = fold(bare)
    village = db.session.scalar(select(Area).where(
        Area.parent_id == commune.id, Area.level == "village", Area.name_folded == key))
    if village is None:
        village = Area(level="village", name=bare[:1].upper() + bare[1:], kind=kind or "Thôn",
                       parent=commune, name_folded=key)
        db.session.add(village)
        _set_path(village)
    return village


def area_paths(area):
    """The path prefixes an area covers: its own, and those of the units the 2025 reform
    merged into it or into a unit below it (their records belong to it now)."""
    below = select(Area.id).where(Area.path.startswith(area.path))
    merged = db.session.scalars(select(Area.path).where(Area.successor_id.in_(below))).all()
    return [area.path] + [p for p in merged if not p.startswith(area.path)]


def subtree_ids(units):
    """A select of the ids of every unit below ``units`` (themselves included), and below
    the units that the 2025 reform merged into them (``area_paths``)."""
    paths = [p for u in units for p in area_paths(u)]
    return select(Area.id).where(or_(*[Area.path.startswith(p) for p in paths]))


def communes_below(area, on=None):
    """The communes in ``area``'s subtree (itself if it is a commune), by code."""
    q = select(Area).where(Area.level == "commune", Area.path.startswith(area.path))
    if on:
        q = valid_on(q, on)
    return db.session.scalars(q.order_by(Area.code)).all()
