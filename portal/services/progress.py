"""The campaign's indicators, defined once for every page, report and export.

Counted over active beneficiaries (not stopped, suspended or deceased), per commune and
program:

- ``reviewed``: a visit or check recorded in the portal since the campaign started (an
  upload alone does not count); target 100 %.
- ``with_account``: has an account — own (``own``), a guardian's (``guardian``) or an
  authorised person's (``authorised``).
- ``cashless``: payment method ``account`` with an account; target 60 % of BTXH and 50 % of
  NCC (Bình Sơn district directive, 2024, under Directive 21/CT-TTg), and 100 % of those
  with an account (``cashless`` / ``with_account``).

Targets have effective dates. A row of ``Target`` is one version of the target of
(program, indicator, area), in force from its month ``valid_from`` (``YYYY-MM``, as every
month of the monthly cycle) until the next version; ``area`` empty means every area without
a version of its own. :func:`in_force` is the one rule: for an area and a month, the most
specific area up the tree that has a version in force by then (the area, its parent, …,
then the global versions), and of its versions the latest ``valid_from`` on or before the
month; ``DEFAULT_TARGETS`` when there is none. Every page, report and export reads targets
through it (:func:`targets`): the progress pages for the campaign's month
(``CAMPAIGN_MONTH``), a monthly report for its own month.

An admin's edit (:func:`set_target`) adds a version from a month (or replaces the one of
that month), recorded in the admin audit trail; it is refused for a month on or before
the last month whose report covering the area was made (chốt): a made report never
changes, and no version can reach back into its month.
"""
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select

from ..extensions import db
from ..models import Account, Area, Beneficiary, MonthlyReport, ProgressCount, Target, utcnow
from . import clock, months, tallies
from .areas import owners
from .pension import programs_in
from .scope import area_ids

PROGRAMS = ("BTXH", "NCC", "HTXH")  # HTXH from 07/2025 (pension.programs_in)
INDICATORS = ("reviewed", "cashless", "paid_into_account")
# HTXH's cashless target is no directive's: the social pension took over elderly BTXH
# beneficiaries in 07/2025, so it starts from BTXH's 60 % (an admin sets another).
DEFAULT_TARGETS = {
    ("BTXH", "reviewed"): 100, ("NCC", "reviewed"): 100, ("HTXH", "reviewed"): 100,
    ("BTXH", "cashless"): 60, ("NCC", "cashless"): 50, ("HTXH", "cashless"): 60,
    ("BTXH", "paid_into_account"): 100, ("NCC", "paid_into_account"): 100, ("HTXH", "paid_into_account"): 100,
}
# The month the versions that predate effective dates are in force from (migration 0009):
# before any month a report or a form can name.
EARLIEST_MONTH = "0001-01"
INDICATOR_LABELS = {"reviewed": _l("Đã rà soát"), "cashless": _l("Chi trả qua tài khoản"),
                    "paid_into_account": _l("Có TK được chi qua TK")}


@dataclass
class Counts:
    """Exact counts for one commune (or a total) and one program."""

    total: int = 0
    reviewed: int = 0
    with_account: int = 0
    own: int = 0
    guardian: int = 0
    authorised: int = 0
    cashless: int = 0
    opening: int = 0
    no_account: int = 0
    refuses: int = 0

    def add(self, other):
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def rate(self, indicator):
        """Percent (float, one decimal) of the indicator; 0 for an empty group."""
        part, whole = {"reviewed": (self.reviewed, self.total),
                       "cashless": (self.cashless, self.total),
                       "with_account": (self.with_account, self.total),
                       "paid_into_account": (self.cashless, self.with_account)}[indicator]
        return 0.0 if not whole else round(100 * part / whole, 1)


@dataclass
class CommuneProgress:
    area: Area
    programs: dict = field(default_factory=dict)  # program → Counts

    def counts(self, program):
        return self.programs.setdefault(program, Counts())

    @property
    def all(self):
        total = Counts()
        for c in self.programs.values():
            total.add(c)
        return total


class TargetError(ValueError):
    """A target the admin cannot set (Vietnamese message); ``field`` names the form field."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def campaign_month():
    """The month the portal works in (``YYYY-MM``): ``clock.open_month()``."""
    return clock.open_month()


def _chain(area):
    """The ids of ``area`` and the areas above it, the most specific first."""
    if area is None:
        return []
    ids = [int(x) for x in (area.path or "").strip("/").split("/") if x] or [area.id]
    return ids[::-1]


def _versions(chain, month, program=None, indicator=None):
    """The versions (of every key, or of one) for the areas of ``chain`` and the global
    ones, in force on or before ``month``."""
    q = select(Target).where(Target.valid_from <= month,
                             or_(Target.area_id.is_(None), Target.area_id.in_(chain)) if chain
                             else Target.area_id.is_(None))
    if program is not None:
        q = q.where(Target.program == program, Target.indicator == indicator)
    return db.session.scalars(q).all()


def _pick(versions, chain):
    """Of the versions of one key in force by the month: those of the most specific area of
    ``chain`` that has any (global last), and of them the latest ``valid_from``."""
    rank = {area_id: i for i, area_id in enumerate(chain)}
    return max(versions, default=None,
               key=lambda t: (-rank.get(t.area_id, len(chain)), t.valid_from, t.id))


def in_force(program, indicator, area=None, month=None):
    """The ``Target`` version of (``program``, ``indicator``) in force for ``area`` (``None``:
    the global targets) in ``month`` (``YYYY-MM``, default the campaign's month), or
    ``None`` when only the default applies."""
    chain = _chain(area)
    return _pick(_versions(chain, month or campaign_month(), program, indicator), chain)


def target(program, indicator, area=None, month=None):
    """The target (percent) of (``program``, ``indicator``) for ``area`` in ``month``."""
    t = in_force(program, indicator, area, month)
    return t.percent if t is not None else DEFAULT_TARGETS.get((program, indicator))


def targets(area=None, month=None):
    """``{(program, indicator): percent}`` in force for ``area`` in ``month`` (default the
    campaign's month), each as :func:`in_force` picks it, else the default."""
    chain = _chain(area)
    by_key = {}
    for t in _versions(chain, month or campaign_month()):
        by_key.setdefault((t.program, t.indicator), []).append(t)
    out = dict(DEFAULT_TARGETS)
    for key, versions in by_key.items():
        out[key] = _pick(versions, chain).percent
    return out


def target_history(area=None):
    """``{(program, indicator): [Target…]}``: the versions set for ``area`` itself (``None``:
    the global ones), the latest month first."""
    q = select(Target).where(Target.area_id == area.id if area is not None else Target.area_id.is_(None))
    out = {}
    for t in db.session.scalars(q.order_by(Target.valid_from.desc(), Target.id.desc())):
        out.setdefault((t.program, t.indicator), []).append(t)
    return out


def last_made_month(area=None):
    """The last month (``YYYY-MM``) whose report was made (chốt) for an area whose targets a
    version for ``area`` would set (``None``: any area): the areas below it, itself and the
    areas above it (a commune is shown its district's made report); ``None`` if none."""
    q = select(func.max(MonthlyReport.month))
    if area is not None:
        below = select(Area.id).where(Area.path.startswith(area.path)) if area.path else select(Area.id).where(
            Area.id == area.id)
        q = q.where(or_(MonthlyReport.area_id.in_(_chain(area)), MonthlyReport.area_id.in_(below)))
    return db.session.scalar(q)


def first_open_month(area=None):
    """The first month a target for ``area`` may be set from: the month after the last made
    report's (:func:`last_made_month`), or ``None`` when any month may."""
    last = last_made_month(area)
    return months.add(last, 1) if last else None


def check_month(valid_from, area=None):
    """``valid_from`` (``YYYY-MM``) if a target for ``area`` may be set from it; raises
    ``TargetError`` (field ``valid_from``) for a bad month or one before
    :func:`first_open_month`."""
    try:
        valid_from = months.parse(valid_from)
    except ValueError as e:
        raise TargetError(str(e), "valid_from") from None
    first = first_open_month(area)
    if first and valid_from < first:
        raise TargetError(f"Báo cáo tháng {months.label(months.add(first, -1))} đã chốt và không thay đổi "
                          f"nữa: chỉ tiêu mới áp dụng từ tháng {months.label(first)} trở đi.", "valid_from")
    return valid_from


def target_dict(t):
    """A version as the audit trail stores it."""
    return {"id": t.id, "program": t.program, "indicator": t.indicator, "percent": t.percent,
            "area_id": t.area_id, "valid_from": t.valid_from}


def set_target(user, program, indicator, percent, valid_from, area=None):
    """Set the target of (``program``, ``indicator``) for ``area`` (``None``: global) to
    ``percent`` from the month ``valid_from`` (``YYYY-MM``): a new version, or the version of
    that very month changed; recorded in the audit trail (``Event``, field ``target``; the
    caller commits). Nothing is done when that value is already in force in that month
    (returns ``None``); else returns the version. Raises ``TargetError`` for an unknown
    key, a percent outside 0–100, a bad month, or a month on or before the last made report
    (:func:`first_open_month`)."""
    from .levels import audit
    if (program, indicator) not in DEFAULT_TARGETS:
        raise TargetError("Không có chỉ tiêu này.")
    if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
        raise TargetError("Từ 0 đến 100 phần trăm.", f"{program}__{indicator}")
    valid_from = check_month(valid_from, area)
    area_id = area.id if area is not None else None
    same = db.session.scalar(select(Target).where(
        Target.program == program, Target.indicator == indicator, Target.valid_from == valid_from,
        Target.area_id == area_id if area_id is not None else Target.area_id.is_(None)))
    if same is None and target(program, indicator, area, valid_from) == percent:
        return None
    if same is not None and same.percent == percent:
        return None
    before = target_dict(same) if same is not None else None
    if same is None:
        same = Target(program=program, indicator=indicator, area_id=area_id, valid_from=valid_from)
    same.percent, same.set_by_id, same.set_at = percent, user.id, utcnow()
    db.session.add(same)
    db.session.flush()
    audit(user, "update" if before else "create", before, target_dict(same), field="target")
    db.session.flush()
    return same


def campaign_day():
    """The first day of the campaign's payment month (``CAMPAIGN_MONTH``): the units in force
    then are the ones the overviews list."""
    y, m = clock.open_month().split("-")
    return date(int(y), int(m), 1)


def campaign_start():
    """When the campaign's reviews start to count (``CAMPAIGN_START``), a ``datetime``."""
    from flask import current_app
    return datetime.fromisoformat(current_app.config["CAMPAIGN_START"])


def count_rows(user=None, commune_ids=None, village_id=None, since=None):
    """Group the indicators by (commune id, program). Returns ``{(commune_id, program): Counts}``
    (only the groups with an active record).

    ``user`` scopes to their area; ``commune_ids`` / ``village_id`` narrow further;
    ``since`` is when reviews start to count (default: the configured campaign start).
    Read from the counters the database keeps (``progress_count``, services/tallies.py: a
    few rows per commune, whatever the registry's size) when they count reviews from
    ``since``; else counted from the records (:func:`_count_live`).
    """
    since = since or campaign_start()
    if not tallies.usable(since):
        return _count_live(user, commune_ids, village_id, since)
    pc = ProgressCount
    q = (select(pc.commune_id, pc.program, *[func.sum(getattr(pc, f)) for f in tallies.FIELDS])
         .group_by(pc.commune_id, pc.program).having(func.sum(pc.total) != 0))
    q = _narrow(q, pc, user, commune_ids, village_id)
    return {(cid, program): Counts(*[int(v or 0) for v in vals]) for cid, program, *vals in db.session.execute(q)}


def _narrow(q, table, user, commune_ids, village_id):
    """``q`` kept to ``user``'s area, ``commune_ids`` and ``village_id`` on ``table``'s
    ``commune_id`` / ``village_id`` columns (``None``: not narrowed)."""
    ids = area_ids(user)
    if ids is not None:
        q = q.where(table.commune_id.in_(ids))
    if commune_ids is not None:
        q = q.where(table.commune_id.in_(commune_ids))
    if village_id is not None:
        q = q.where(table.village_id == village_id)
    return q


def _count_live(user=None, commune_ids=None, village_id=None, since=None):
    """:func:`count_rows` counted from the records (every active record of the area joined
    to its account: its time grows with the registry). The reference the counters are
    tested against, and the count for another ``since`` than the counters'."""
    since = since or campaign_start()
    has = Beneficiary.account_status == "has_account"
    rtype = func.coalesce(Account.recipient_type, "self")

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    q = (select(Beneficiary.commune_id, Beneficiary.program, func.count(),
                n(Beneficiary.reviewed_at >= since), n(has),
                n(and_(has, rtype == "self")), n(and_(has, rtype == "guardian")),
                n(and_(has, rtype == "authorised")),
                n(and_(has, Beneficiary.payment_method == "account")),
                n(Beneficiary.account_status == "opening"),
                n(Beneficiary.account_status == "no_account"),
                n(Beneficiary.account_status == "refuses"))
         .outerjoin(Account, Account.beneficiary_id == Beneficiary.id)
         .where(Beneficiary.status == "active", Beneficiary.deceased.is_(False))
         .group_by(Beneficiary.commune_id, Beneficiary.program))
    q = _narrow(q, Beneficiary, user, commune_ids, village_id)
    out = {}
    for cid, program, *vals in db.session.execute(q):
        out[(cid, program)] = Counts(*[int(v or 0) for v in vals])
    return out


def village_rows(unit_ids):
    """The villages under the communes ``unit_ids`` that have active records, with
    ``(Area, records, not reviewed, without an account)`` each (the indicators'
    definitions: active records, reviewed since the campaign start), the most not reviewed
    first. Read from ``progress_count`` when it counts from the campaign start, else from
    the records."""
    villages = select(Area.id).where(Area.parent_id.in_(list(unit_ids)), Area.level == "village")
    since = campaign_start()
    if tallies.usable(since):
        pc = ProgressCount
        sums = (select(pc.village_id.label("vid"), func.sum(pc.total).label("n"),
                       func.sum(pc.total - pc.reviewed).label("nr"), func.sum(pc.total - pc.with_account).label("na"))
                .where(pc.village_id.in_(villages)).group_by(pc.village_id).having(func.sum(pc.total) != 0))
    else:
        b = Beneficiary
        sums = (select(b.village_id.label("vid"), func.count().label("n"),
                       func.sum(case((or_(b.reviewed_at.is_(None), b.reviewed_at < since), 1), else_=0)).label("nr"),
                       func.sum(case((b.account_status != "has_account", 1), else_=0)).label("na"))
                .where(b.village_id.in_(villages), b.status == "active", b.deceased.is_(False))
                .group_by(b.village_id))
    sums = sums.subquery()
    return [(a, int(n), int(nr), int(na)) for a, n, nr, na in db.session.execute(
        select(Area, sums.c.n, sums.c.nr, sums.c.na).join(sums, sums.c.vid == Area.id)
        .order_by(sums.c.nr.desc(), Area.name_folded))]


def commune_progress(user, communes, month=None):
    """One ``CommuneProgress`` per commune given, in the order given. A commune counts the
    records that belong to it in ``month`` (``YYYY-MM``, default the open month): from
    07/2025 a new commune's include those of the old communes merged into it
    (``areas.owners``)."""
    owner = owners(communes, month or campaign_month())
    rows = {}
    for (unit, p), counts in count_rows(user, commune_ids=list(owner)).items():
        rows.setdefault((owner[unit], p), Counts()).add(counts)
    result = []
    for c in communes:
        cp = CommuneProgress(c)
        for p in programs_in(month or campaign_month()):
            cp.programs[p] = rows.get((c.id, p), Counts())
        for (cid, p), counts in rows.items():
            if cid == c.id and p not in cp.programs:
                cp.programs[p] = counts
        result.append(cp)
    return result


def laggard_key(cp, goals):
    """Sort key putting the commune furthest below its targets first."""
    gaps = 0.0
    for p, counts in cp.programs.items():
        if not counts.total:
            continue
        for ind in ("reviewed", "cashless"):
            gaps += max(0.0, goals.get((p, ind), 0) - counts.rate(ind))
    return (-gaps, cp.area.code or "")


def totals(progress_list):
    """Sum of ``CommuneProgress`` by program: ``{program: Counts}``."""
    out = {}
    for cp in progress_list:
        for p, c in cp.programs.items():
            out.setdefault(p, Counts()).add(c)
    return out
