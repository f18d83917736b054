"""Areas: loading the administrative tree, finding units by code and date, villages.

Sources: the package data ``portal/data/areas_binh-son.csv`` (the 22 units of Bình Sơn
district in 2024 and the 5 communes they became on 01/07/2025, Resolution
1677/NQ-UBTVQH15), ``portal/data/communes_2025_quang-ngai.csv`` (the 96 communes of the
post-reform Tỉnh Quảng Ngãi, from the ``vietnamadminunits`` data set, MIT) and the
statistics office's export format (``Tỉnh Thành Phố, Mã TP, Quận Huyện, Mã QH, Phường Xã,
Mã PX, Cấp, Tên Tiếng Anh``; from 2025 without the district columns) as ``.csv`` or ``.xls``.

The 2025 reform (Law on the Organisation of Local Government 2025; Resolution
202/2025/QH15): from 01/07/2025 there is no district level and 63 provinces became 34.
``portal/data/provinces_2025.csv`` maps each of the 63 pre-reform province codes to the
post-reform province it became part of (``old_code, old_name, new_code, new_name``);
copied from the ``vietnamadminunits`` 1.0.4 data set (MIT, © 2025 Tran Ngoc Minh Hieu,
``data/converter_2025.json`` and ``data/dataset.db``).
"""
import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
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


def upsert_area(level, code, name, kind=None, parent=None, valid_from=None, valid_to=None):
    """Create or update the unit with this level, code and start date; return it.

    An existing unit's end date is set, or moved earlier, never removed or moved later: a
    list loaded again (the statistics office's export has no dates) must not reopen a unit
    that the reform closed. A wrong end date is corrected by hand, not by a load.
    """
    area = db.session.scalar(select(Area).where(
        Area.level == level, Area.code == code,
        Area.valid_from.is_(None) if valid_from is None else Area.valid_from == valid_from))
    if area is None:
        area = Area(level=level, code=code, valid_from=valid_from, valid_to=valid_to)
        db.session.add(area)
    else:
        end(area, valid_to)
    area.name, area.kind, area.parent = name, kind, parent
    area.name_folded = fold(name)
    _set_path(area)
    return area


def end(area, day, successor=None):
    """End ``area`` on ``day`` (a ``date``; ``None`` changes nothing) unless it already ends
    earlier; record ``successor`` when it has none yet (a commune split between two new
    ones keeps the first: the per-village choice is made elsewhere)."""
    if day is not None and (area.valid_to is None or day < area.valid_to):
        area.valid_to = day
    if successor is not None and area.successor_id is None and successor is not area:
        area.successor = successor


@dataclass
class LoadSummary:
    """What a load did, for the CLI: ``units`` every unit created or updated (successor
    provinces made from the packaged list included); ``pre_reform`` whether the list was
    taken as describing the units before 01/07/2025; ``old_communes`` the communes of a
    pre-reform statistics-office list (a mapping says which of its communes go on, so its
    open ones are not an assumption)."""

    pre_reform: bool = False
    unknown_provinces: list = field(default_factory=list)
    units: dict = field(default_factory=dict)
    old_communes: dict = field(default_factory=dict)

    def add(self, area, old_commune=False):
        self.units[id(area)] = area
        if old_commune:
            self.old_communes[id(area)] = area
        return area

    def as_dict(self):
        """``{"loaded", "ended", "open", "old_communes_open", "pre_reform",
        "unknown_provinces"}``: counts of units (``ended``: with an end date after the load;
        ``open``: without one; ``old_communes_open``: communes of a pre-reform list still
        open, which the loader assumes continue until an old→new mapping ends them), and the
        codes of a pre-reform list's provinces that are not among the 63."""
        ended = sum(1 for a in self.units.values() if a.valid_to is not None)
        return {"loaded": len(self.units), "ended": ended, "open": len(self.units) - ended,
                "old_communes_open": sum(1 for a in self.old_communes.values() if a.valid_to is None),
                "pre_reform": self.pre_reform, "unknown_provinces": self.unknown_provinces}


@lru_cache(maxsize=1)
def province_reform():
    """``{old code: (old full name, new code, new full name)}`` for the 63 pre-reform
    provinces (Resolution 202/2025/QH15; ``portal/data/provinces_2025.csv``). Codes are
    two-digit text: ``"62"`` (Tỉnh Kon Tum) → ``("Tỉnh Kon Tum", "51", "Tỉnh Quảng Ngãi")``."""
    text = (resources.files("portal") / "data" / "provinces_2025.csv").read_text("utf-8")
    return {r["old_code"].zfill(2): (r["old_name"], r["new_code"].zfill(2), r["new_name"])
            for r in csv.DictReader(io.StringIO(text))}


def _post_reform_start(code):
    """The start date of the post-reform province with ``code``: ``None`` when the reform
    kept the province under its code and name (Quảng Ngãi 51: one unit in both periods),
    ``REFORM_DAY`` when the code now names another province (52 was Bình Định and is Gia
    Lai from 01/07/2025, like the commune codes of §3 of the design)."""
    old = province_reform().get(code)
    if old is not None and old[1] == code and fold(old[0]) != fold(old[2]):
        return REFORM_DAY
    return None


def _province_survives(code):
    """Whether the pre-reform province ``code`` goes on after 01/07/2025 as the same unit."""
    old = province_reform().get(code)
    return old is not None and old[1] == code and _post_reform_start(code) is None


def reform_province(code, summary=None):
    """The post-reform province with ``code`` (one of the 34): the unit in force on
    01/07/2025, else created from ``provinces_2025.csv``. ``None`` for a code that is not
    one of the 34."""
    found = db.session.scalars(valid_on(select(Area).where(
        Area.level == "province", Area.code == code), REFORM_DAY)).first()
    if found is not None:
        return found
    names = {new_code: new_name for _, new_code, new_name in province_reform().values()}
    if code not in names:
        return None
    kind, name = split_kind(names[code])
    area = upsert_area("province", code, name, kind, valid_from=_post_reform_start(code))
    if summary is not None:
        summary.add(area)
    return area


def _pre_reform_province(code, full_name, valid_from, valid_to, summary):
    """Upsert a province of a pre-reform list. A province the reform kept stays open (a
    pre-reform list, even with ``--valid-to``, does not end it); any other ends on
    30/06/2025 at the latest; a code that is not one of the 63 is left as the list says.
    Returns ``(unit, code of the province it became part of or
    None)``."""
    kind, name = split_kind(full_name)
    if code not in province_reform():
        # Not one of the 63: what the reform did to it is unknown, so it is left as the
        # list says (open by default) and the CLI names it.
        summary.unknown_provinces.append(code)
        return summary.add(upsert_area("province", code, name, kind, None, valid_from, valid_to)), None
    if _province_survives(code):
        area = upsert_area("province", code, name, kind, None, valid_from, None)
        return summary.add(area), None
    last = min(valid_to or LAST_DAY_BEFORE_REFORM, LAST_DAY_BEFORE_REFORM)
    area = upsert_area("province", code, name, kind, None, valid_from, last)
    into = province_reform().get(code)
    return summary.add(area), (into[1] if into else None)


def _record_province_successors(dissolved, summary):
    """After a load's provinces are all in: each dissolved one gets its successor."""
    for area, into in dissolved:
        if into:
            end(area, None, reform_province(into, summary))


MAPPING_COLUMNS = ("province_code", "province_name", "district_code", "district_name", "commune_code",
                   "commune_type", "commune_name", "new_commune_code", "new_commune_name")


# The post-reform province shipped with the product: Tỉnh Quảng Ngãi (51, with former Kon
# Tum) from 01/07/2025, its 96 commune-level units in the statistics office's post-2025
# export format (``portal/data/README.md`` names the source and licence).
PACKAGED_PROVINCE = "communes_2025_quang-ngai.csv"


def load_packaged_areas():
    """Load the units shipped with the product (idempotent): the Bình Sơn mapping (its 22
    units of 2024 and the 5 communes they became), then the 96 communes of the post-reform
    Tỉnh Quảng Ngãi (``PACKAGED_PROVINCE``, Resolution 1677/NQ-UBTVQH15), the 5 among them
    being the same units as the mapping's (same level, code and start day). Returns one
    ``LoadSummary`` of both."""
    data = resources.files("portal") / "data"
    summary = load_mapping_rows(csv.DictReader(io.StringIO((data / "areas_binh-son.csv").read_text("utf-8"))))
    rows = csv.reader(io.StringIO((data / PACKAGED_PROVINCE).read_text("utf-8")))
    summary.units.update(load_gso_rows(rows).units)
    return summary


def load_mapping_rows(rows):
    """Load an old→new commune mapping: dicts with ``MAPPING_COLUMNS`` (the format of
    ``portal/data/areas_binh-son.csv``, one row per pre-reform commune).

    The pre-reform units (Law on the Organisation of Local Government 2025; Resolution
    202/2025/QH15; the commune mapping of the Standing Committee's resolutions, e.g.
    1677/NQ-UBTVQH15): every district ends on 30/06/2025; a province the reform merged into
    another ends then, its successor recorded; every old commune ends then with its new
    commune as successor, except one that is its own successor (same code and name, and no
    other old commune maps into it), which goes on. New communes are valid from 01/07/2025
    under the province they belong to after the reform. Units already ended are not
    reopened. Raises ``ValueError`` (Vietnamese message) on a row without codes. Returns a
    ``LoadSummary``.
    """
    rows = list(rows)
    summary = LoadSummary(pre_reform=True)
    provinces, districts, new_communes, dissolved = {}, {}, {}, []
    into_count = {}  # new commune code → how many old communes map into it

    def cell(r, column, width):
        v = (r.get(column) or "").strip()
        return v.zfill(width) if v else ""

    for r in rows:
        if not cell(r, "province_code", 2) or not cell(r, "district_code", 3) or not cell(r, "commune_code", 5):
            raise ValueError("Bảng chuyển đổi thiếu mã tỉnh, mã huyện hoặc mã xã ở một dòng.")
        ncode = cell(r, "new_commune_code", 5)
        if ncode:
            into_count[ncode] = into_count.get(ncode, 0) + 1
    for r in rows:
        pcode = cell(r, "province_code", 2)
        if pcode not in provinces:
            provinces[pcode], into = _pre_reform_province(pcode, r["province_name"], None, None, summary)
            if into:
                dissolved.append((provinces[pcode], into))
    _record_province_successors(dissolved, summary)
    for r in rows:
        pcode, dcode = cell(r, "province_code", 2), cell(r, "district_code", 3)
        if dcode not in districts:
            kind, name = split_kind(r["district_name"])
            districts[dcode] = summary.add(upsert_area("district", dcode, name, kind, provinces[pcode],
                                                       valid_to=LAST_DAY_BEFORE_REFORM))
        code, ncode = cell(r, "commune_code", 5), cell(r, "new_commune_code", 5)
        kind, name = nfc(r["commune_type"]), nfc(r["commune_name"])
        new_kind, new_name = split_kind(r.get("new_commune_name") or "")
        # Its own successor: the reform left this commune as it was (nothing merged into it).
        own = (ncode == code and into_count.get(ncode) == 1
               and fold(f"{kind} {name}") == fold(f"{new_kind or ''} {new_name}".strip()))
        old = summary.add(upsert_area("commune", code, name, kind, districts[dcode],
                                      valid_to=None if own else LAST_DAY_BEFORE_REFORM))
        if own or not ncode:
            continue
        if ncode not in new_communes:
            into = province_reform().get(pcode)
            parent = (reform_province(into[1], summary) if into else None) or provinces[pcode]
            new_communes[ncode] = summary.add(upsert_area("commune", ncode, new_name, new_kind, parent,
                                                          valid_from=REFORM_DAY))
        end(old, LAST_DAY_BEFORE_REFORM, new_communes[ncode])
    return summary


GSO_COLUMNS = ("Tỉnh Thành Phố", "Mã TP", "Quận Huyện", "Mã QH", "Phường Xã", "Mã PX", "Cấp")
# The post-2025 export has no district level: these two columns may be absent.
GSO_DISTRICT_COLUMNS = ("Quận Huyện", "Mã QH")


def load_gso_rows(rows, valid_from=None, valid_to=None, pre_reform=False):
    """Load units from the statistics office's export, given as rows of cells with the
    header first (``GSO_COLUMNS``; the post-2025 export has no ``GSO_DISTRICT_COLUMNS``).
    Codes are zero-padded (province 2, district 3, commune 5 digits).

    The list is taken as pre-reform (before 01/07/2025) when any row has a district code
    (the post-reform export has no district level: Law on the Organisation of Local
    Government 2025), when ``pre_reform`` is true, or when ``valid_to`` is on or before
    30/06/2025. Then, by Resolution 202/2025/QH15: its districts end on 30/06/2025; its
    provinces that are not among the 34 (or whose code now names another province) end
    then, with the post-reform province as successor (``provinces_2025.csv``; created when
    missing); the 34 that the reform kept stay open. Its communes keep ``valid_to`` (default
    open): which of them the reform merged is known only from an old→new mapping
    (``load_mapping_rows``), so until one is loaded they stay open and are counted in
    ``old_communes_open``.

    A post-reform list leaves its units open (unless ``valid_to``); its communes start on
    01/07/2025 unless ``valid_from`` says otherwise, so that a code reused by a new commune
    (21040: Châu Ổ, then Xã Bình Sơn) does not rename the old one.

    Loading never reopens a unit already ended (``upsert_area``). Raises ``ValueError``
    (Vietnamese message) when the header is not the GSO one. Returns a ``LoadSummary``.
    """
    rows = [list(r) for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise ValueError("Tệp trống.")
    header = [fold(str(c or "")) for c in rows[0]]
    idx = [header.index(fold(c)) if fold(c) in header else None for c in GSO_COLUMNS]
    if any(i is None for i, c in zip(idx, GSO_COLUMNS) if c not in GSO_DISTRICT_COLUMNS):
        raise ValueError("Không phải tệp danh mục đơn vị hành chính của Tổng cục Thống kê "
                         "(cần các cột: " + ", ".join(GSO_COLUMNS) + "; danh mục từ 01/07/2025 "
                         "không có " + ", ".join(GSO_DISTRICT_COLUMNS) + ").")

    def code(v, width):
        if v in (None, ""):
            return ""
        if isinstance(v, float):
            v = int(v)
        return str(v).strip().zfill(width)

    parsed = []
    for r in rows[1:]:
        r = r + [None] * (len(header) - len(r))
        pname, pcode, dname, dcode, cname, ccode, ckind = (None if i is None else r[i] for i in idx)
        pcode, dcode, ccode = code(pcode, 2), code(dcode, 3), code(ccode, 5)
        if pcode:
            parsed.append((pname, pcode, dname, dcode, cname, ccode, ckind))
    pre = bool(pre_reform or any(p[3] for p in parsed)
               or (valid_to is not None and valid_to <= LAST_DAY_BEFORE_REFORM))
    summary = LoadSummary(pre_reform=pre)
    district_end = min(valid_to or LAST_DAY_BEFORE_REFORM, LAST_DAY_BEFORE_REFORM)
    provinces, districts, dissolved = {}, {}, []
    for pname, pcode, dname, dcode, cname, ccode, ckind in parsed:
        if pcode not in provinces:
            if pre:
                provinces[pcode], into = _pre_reform_province(pcode, pname, valid_from, valid_to, summary)
                if into:
                    dissolved.append((provinces[pcode], into))
            else:
                kind, name = split_kind(pname)
                start = valid_from if valid_from is not None else _post_reform_start(pcode)
                provinces[pcode] = summary.add(upsert_area("province", pcode, name, kind, None, start,
                                                           valid_to))
        parent = provinces[pcode]
        if dcode:
            if dcode not in districts:
                kind, name = split_kind(dname)
                districts[dcode] = summary.add(upsert_area(
                    "district", dcode, name, kind, parent, valid_from, district_end if pre else valid_to))
            parent = districts[dcode]
        if ccode:
            kind, name = split_kind(cname, ckind)
            start = valid_from if valid_from is not None or pre else REFORM_DAY
            summary.add(upsert_area("commune", ccode, name, kind, parent, start, valid_to), old_commune=pre)
    _record_province_successors(dissolved, summary)
    return summary


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


@lru_cache(maxsize=4096)
def village_key(name):
    """The key a village name is matched by: its bare name folded, as
    :func:`get_or_create_village` stores it (``Thôn Phước Hòa``, ``thôn phước hoà`` and
    ``Phước Hòa`` → ``phuoc hoa``); ``""`` for an empty name."""
    if not name:
        return ""
    return fold(split_kind(name)[1] or name)


def lineage_villages(commune, month):
    """``{village_key: [village Area, …]}`` (each list by id) of the villages under the
    units whose records belong to ``commune`` in ``month`` (``YYYY-MM``;
    :func:`member_units`): its own and, from 07/2025, those of the old communes merged into
    it (Thôn Lệ Thủy of Xã Bình Chánh is Xã Bình Sơn's). The index :func:`find_village`
    looks names up in; one query."""
    out = {}
    for v in db.session.scalars(select(Area).where(
            Area.parent_id.in_(member_units(commune, month)), Area.level == "village").order_by(Area.id)):
        out.setdefault(v.name_folded, []).append(v)
    return out


def find_village(index, name, commune_named=None):
    """Which existing villages the village name ``name`` may be, among ``index``
    (:func:`lineage_villages`), matched folded (:func:`village_key`). Returns ``(villages,
    pinned)``: ``[]`` for a name none bears (a new village); one village; or, when several
    bear it (two old communes merged into one each had a Thôn Thuận Hòa), all of them —
    the portal does not guess — unless ``commune_named`` (a "Xã" column, an address's
    tail ``xã Bình Long``, the old commune of a label ``Thôn Thuận Hòa (Xã Bình Long cũ)``)
    names the commune of exactly one: then that one, and ``pinned`` is ``True``. The import
    (``imports.plan``) and the correction form (``registry.correct``) both place names so."""
    found = index.get(village_key(name), []) if name else []
    if len(found) > 1 and commune_named:
        named = [v for v in found if names_commune(commune_named, v.parent)]
        if len(named) == 1:
            return named, True
    return list(found), False


def names_commune(text, area):
    """Whether ``text`` (``xã Bình Long``, ``Bình Long``, any case and tone placement)
    names the unit ``area``."""
    said = {fold(text), fold(split_kind(text)[1])}
    return bool(said & {fold(area.name), fold(f"{area.kind or ''} {area.name}")})


OLD_MARK = "cũ"  # a village label's mark of an old commune: ``(Xã Bình Chánh cũ)``


def village_label(village, commune):
    """How a form names ``village`` among the villages of ``commune`` (the commune in
    force): ``Thôn Lệ Thủy`` when it lies under ``commune``, ``Thôn Lệ Thủy (Xã Bình Chánh
    cũ)`` when under an old commune merged into it. :func:`parse_village_label` reads it
    back."""
    if commune is None or village.parent_id == commune.id or village.parent is None:
        return village.full_name
    return f"{village.full_name} ({village.parent.full_name} {OLD_MARK})"


_LABEL = re.compile(r"^(.*\S)\s*\(([^()]*\S)\s+c[uũ]\s*\)\s*$", re.IGNORECASE)


def parse_village_label(text):
    """``"Thôn Thuận Hòa (Xã Bình Long cũ)"`` → ``("Thôn Thuận Hòa", "Xã Bình Long")``; a
    name without an old commune's mark → ``(name, None)`` (:func:`village_label`)."""
    text = (nfc(text) or "").strip()
    m = _LABEL.match(text)
    return (m.group(1), m.group(2).strip()) if m else (text, None)


def _first_day(month):
    return date(int(month[:4]), int(month[5:7]), 1)


def commune_in(commune, month):
    """The commune (an ``Area``) that the records registered in ``commune`` belong to in
    ``month`` (``YYYY-MM``): ``commune`` itself while it is in force, else its successor's,
    followed as far as needed (Xã Bình Chánh 21052 until 06/2025 → Xã Bình Sơn 21040 from
    07/2025; Law on the Organisation of Local Government 2025, Resolution 1677/NQ-UBTVQH15).
    A record keeps the commune it was registered in (``Beneficiary.commune_id``); the
    history before the reform stays under it."""
    on, seen = _first_day(month), set()
    while (commune.valid_to is not None and commune.valid_to < on and commune.successor_id is not None
           and commune.id not in seen):
        seen.add(commune.id)
        commune = commune.successor
    return commune


def member_units(commune, month):
    """The ids (``list``, ``commune.id`` first) of the units whose records belong to
    ``commune`` in ``month`` (``YYYY-MM``): itself, and every unit whose successor chain
    reaches it and that had ended before that month (the old communes the 2025 reform
    merged into it, from 07/2025 on). The inverse of :func:`commune_in`."""
    return [unit for unit, owner in owners([commune], month).items() if owner == commune.id]


def owners(communes, month):
    """``{unit id: commune id}`` for the communes given (``Area`` list) in ``month``: each
    unit whose records belong to one of them then (:func:`member_units`), so that counts
    grouped by ``Beneficiary.commune_id`` can be added up under the commune in force. One
    query, whatever the number of communes."""
    out = {c.id: c.id for c in communes}
    merged = defaultdict(list)  # successor id → the units that had ended into it by then
    for unit, successor in db.session.execute(select(Area.id, Area.successor_id).where(
            Area.successor_id.is_not(None), Area.valid_to < _first_day(month))):
        merged[successor].append(unit)
    frontier = list(out)
    while frontier:
        nxt = []
        for owner_unit in frontier:
            for unit in merged.get(owner_unit, ()):
                if unit not in out:
                    out[unit] = out[owner_unit]
                    nxt.append(unit)
        frontier = nxt
    return out


def successors_of(ids):
    """``ids`` (commune ids) and every unit their successor chains reach, as a ``set``: the
    communes whose lists may pay a record registered in one of them."""
    out, frontier = set(i for i in ids if i is not None), [i for i in ids if i is not None]
    while frontier:
        frontier = [s for s in db.session.scalars(select(Area.successor_id).where(
            Area.id.in_(frontier), Area.successor_id.is_not(None))) if s not in out]
        out.update(frontier)
    return out


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


def parent_in(area, month):
    """The unit above ``area`` as a page or a report of ``month`` (``YYYY-MM``) names it:
    its parent, except a district that had ended by then (from 07/2025 there is no
    district: the province above it). ``None`` for a root."""
    parent = area.parent
    if (parent is not None and parent.level == "district" and parent.valid_to is not None
            and parent.valid_to < _first_day(month)):
        parent = parent.parent
    return parent


def communes_below(area, on=None):
    """The communes in ``area``'s subtree (itself if it is a commune), by code."""
    q = select(Area).where(Area.level == "commune", Area.path.startswith(area.path))
    if on:
        q = valid_on(q, on)
    return db.session.scalars(q.order_by(Area.code)).all()
