"""The country overview (issue 12 §3): one row per province, for a ministry officer whose
user has no area (``scope``: a user without an area sees every area).

Provinces are the roots of the area tree (``Area.path`` ``/<province id>/…``); there is no
country unit. A province's figures are the sums of its communes' as the province's own
overview counts them (``progress.commune_progress`` for the open month, the lists' stored
figures of ``reports.progress_in`` for a past month), added up without reading the
registry: the communes in force in the month (id → province from ``path``), the units
merged into them (``areas.owners``), and the counters ``progress.count_rows`` keeps per
commune (``progress_count``, services/tallies.py) summed per province in Python. About
3,321 communes and 34 provinces after 07/2025: a handful of statements whatever the
registry's size (bench/country.py).
"""
from collections import namedtuple

from sqlalchemy import func, select

from ..extensions import db
from ..models import Area, ProgressCount
from ..vn.text import fold
from . import clock, months, progress, reports, tallies
from .areas import owners, valid_on
from .pension import programs_in
from .scope import scoped

# A commune as the sums need it: its id and the id of its province (the first of its path).
_Unit = namedtuple("_Unit", "id province_id")


def provinces_in(month):
    """The provinces (``Area`` list, by code) in force on the first day of ``month``
    (``YYYY-MM``): 34 from 07/2025, the 63 of then before."""
    return db.session.scalars(valid_on(select(Area).where(Area.level == "province"),
                                       months.start(month)).order_by(Area.code)).all()


def _root(path):
    """The province id of a unit's ``path`` (``/12/340/`` → 12), ``None`` for an empty one."""
    head = (path or "").strip("/").split("/", 1)[0]
    return int(head) if head else None


def communes_in(month):
    """``[_Unit(id, province_id)]``: every commune in force on the first day of ``month``,
    with the province at the root of its path. One query of two columns (no ORM objects)."""
    q = valid_on(select(Area.id, Area.path).where(Area.level == "commune"), months.start(month))
    return [_Unit(cid, _root(path)) for cid, path in db.session.execute(q)]


def _unit_sums(user):
    """``[(unit id, program, total, reviewed, …)]``: ``progress.count_rows``' figures as
    plain tuples (the fields of ``tallies.FIELDS`` in order), one per (commune, program)
    with records. From the counters its very statement reads (``progress_count`` grouped by
    commune in SQL) when they count from the campaign start, else from ``count_rows``
    itself. Tuples, not ``Counts``: about 10,000 groups for the country, and an object and
    an ``add`` each cost more than the SQL (bench/country.py)."""
    since = progress.campaign_start()
    if not tallies.usable(since):
        return [(unit, p, *(getattr(c, f) for f in tallies.FIELDS))
                for (unit, p), c in progress.count_rows(user, since=since).items()]
    pc = ProgressCount
    q = (select(pc.commune_id, pc.program, *[func.sum(getattr(pc, f)) for f in tallies.FIELDS])
         .group_by(pc.commune_id, pc.program).having(func.sum(pc.total) != 0))
    return db.session.execute(scoped(q, user, pc.commune_id)).all()


def province_rows(user, month, program=None, name=None):
    """The provinces in force in ``month`` (``YYYY-MM``) as ``progress.CommuneProgress``
    (``area`` the province; ``programs`` ``{program: Counts}``, every program paid in the
    month), laggards first (``progress.laggard_key`` against the national targets
    ``progress.targets(None, month)``), and those targets: ``(rows, goals)``.

    Each province's counts are the sums of its communes' (those in force in the month):
    for the open month and after, the counters (``progress.count_rows``, grouped by commune
    in SQL), a merged unit's under the commune that absorbed it (``areas.owners``); for a
    past month the final lists' stored figures (``reports.progress_in``, batched: a few
    statements for all the communes, not one per commune). ``program`` keeps that
    program's counts only (ranked on it); ``name`` keeps the provinces whose folded name or
    code contains it (``quang ngai`` finds Tỉnh Quảng Ngãi). ``user`` scopes the counters
    (``None`` or a user without an area: all)."""
    provinces = provinces_in(month)
    if name:
        key = fold(name)
        provinces = [p for p in provinces if key in (p.name_folded or "") or key in (p.code or "")]
    wanted = {p.id for p in provinces}
    communes = [c for c in communes_in(month) if c.province_id in wanted]
    province_of = {c.id: c.province_id for c in communes}
    sums = {}  # (province id, program) → Counts
    if month < clock.open_month():
        for cp in reports.progress_in(communes, month):
            for p, counts in cp.programs.items():
                sums.setdefault((cp.area.province_id, p), progress.Counts()).add(counts)
    else:
        owner = owners(communes, month)
        width = len(tallies.FIELDS)
        acc = {}  # (province id, program) → [int] * width
        for unit, p, *values in _unit_sums(user):
            commune = owner.get(unit)
            if commune is not None:
                row = acc.get((province_of[commune], p))
                if row is None:
                    row = acc[(province_of[commune], p)] = [0] * width
                for i in range(width):
                    row[i] += int(values[i] or 0)
        sums = {key: progress.Counts(*values) for key, values in acc.items()}
    paid = programs_in(month)
    rows = []
    for prov in provinces:
        cp = progress.CommuneProgress(prov)
        for p in paid:
            cp.programs[p] = sums.get((prov.id, p), progress.Counts())
        for (pid, p), counts in sums.items():  # a program not paid in the month (none today)
            if pid == prov.id and p not in cp.programs:
                cp.programs[p] = counts
        if program:
            cp.programs = {program: cp.counts(program)}
        rows.append(cp)
    goals = progress.targets(None, month)
    rows.sort(key=lambda cp: progress.laggard_key(cp, goals))
    return rows, goals
