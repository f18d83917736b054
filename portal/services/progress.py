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

Targets are rows of ``Target`` an admin can change; ``DEFAULT_TARGETS`` fill the gaps.
"""
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select

from ..extensions import db
from ..models import Account, Area, Beneficiary, Target
from .scope import area_ids

PROGRAMS = ("BTXH", "NCC")
INDICATORS = ("reviewed", "cashless", "paid_into_account")
DEFAULT_TARGETS = {
    ("BTXH", "reviewed"): 100, ("NCC", "reviewed"): 100,
    ("BTXH", "cashless"): 60, ("NCC", "cashless"): 50,
    ("BTXH", "paid_into_account"): 100, ("NCC", "paid_into_account"): 100,
}
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


def targets(area=None):
    """``{(program, indicator): percent}``: an area's own rows, else global rows, else defaults."""
    out = dict(DEFAULT_TARGETS)
    rows = db.session.scalars(select(Target)).all()
    for t in sorted(rows, key=lambda t: t.area_id is not None):  # global first, then the area's
        if t.area_id is None or (area is not None and t.area_id == area.id):
            out[(t.program, t.indicator)] = t.percent
    return out


def campaign_day():
    """The first day of the campaign's payment month (``CAMPAIGN_MONTH``): the units in force
    then are the ones the overviews list."""
    from flask import current_app
    y, m = current_app.config["CAMPAIGN_MONTH"].split("-")
    return date(int(y), int(m), 1)


def campaign_start():
    """When the campaign's reviews start to count (``CAMPAIGN_START``), a ``datetime``."""
    from flask import current_app
    return datetime.fromisoformat(current_app.config["CAMPAIGN_START"])


def count_rows(user=None, commune_ids=None, village_id=None, since=None):
    """Group the indicators by (commune id, program). Returns ``{(commune_id, program): Counts}``.

    ``user`` scopes to their area; ``commune_ids`` / ``village_id`` narrow further;
    ``since`` is when reviews start to count (default: the configured campaign start).
    """
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
    ids = area_ids(user)
    if ids is not None:
        q = q.where(Beneficiary.commune_id.in_(ids))
    if commune_ids is not None:
        q = q.where(Beneficiary.commune_id.in_(commune_ids))
    if village_id is not None:
        q = q.where(Beneficiary.village_id == village_id)
    out = {}
    for cid, program, *vals in db.session.execute(q):
        out[(cid, program)] = Counts(*[int(v or 0) for v in vals])
    return out


def commune_progress(user, communes):
    """One ``CommuneProgress`` per commune given, in the order given."""
    rows = count_rows(user, commune_ids=[c.id for c in communes])
    result = []
    for c in communes:
        cp = CommuneProgress(c)
        for p in PROGRAMS:
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
