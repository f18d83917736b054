"""The people of a village or a commune still to work on (issue 13 §3): "filter a village's
people and the commune's lists by: not visited, no account, refuses, blocked".

The people counted are those the progress counts (``progress.count_rows``): active records
(``status`` ``active``), not deceased, of the units given, that ``user`` may see
(``scope.visible``). A filter (``show``) is one of :data:`FILTERS`:

- ``not_visited``: not reviewed since the campaign start (``reviewed_at`` empty or before
  ``progress.campaign_start()``), as the progress bars count "reviewed";
- ``no_account``: ``account_status`` ``no_account`` (the progress' "chưa có tài khoản"; a
  record never reviewed, ``unknown``, is under ``not_visited``);
- ``refuses``: ``account_status`` ``refuses``;
- ``blocked``: an open finding of severity ``error`` (``quality_record.rank`` 0, kept by the
  database's triggers, services/quality_counts.py): the payment list blocks its line.

Two statements per page, whatever the commune's size (up to ~15,000 people): the counts of
every filter in one grouped read (``ix_beneficiary_progress``, the ``quality_record`` key),
and one page of people in name order (``ix_beneficiary_commune_name``).
"""
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Beneficiary, QualityRecord
from .scope import visible

FILTERS = ("not_visited", "no_account", "refuses", "blocked")


def _blocked():
    return exists().where(QualityRecord.beneficiary_id == Beneficiary.id, QualityRecord.rank == 0)


def condition(show, since):
    """The WHERE clause on ``Beneficiary`` of filter ``show`` (one of :data:`FILTERS`);
    ``since`` (``datetime``) is when reviews start to count. ``KeyError`` for another."""
    b = Beneficiary
    return {"not_visited": lambda: or_(b.reviewed_at.is_(None), b.reviewed_at < since),
            "no_account": lambda: b.account_status == "no_account",
            "refuses": lambda: b.account_status == "refuses",
            "blocked": _blocked}[show]()


def _base(user, unit_ids=None, village_id=None):
    b = Beneficiary
    where = [b.status == "active", b.deceased.is_(False), visible(user)]
    if unit_ids is not None:
        where.append(b.commune_id.in_(list(unit_ids)))
    if village_id is not None:
        where.append(b.village_id == village_id)
    return and_(*where)


def counts(user, since, unit_ids=None, village_id=None):
    """``{"all": n, "not_visited": n, "no_account": n, "refuses": n, "blocked": n}``: the
    people of the communes ``unit_ids`` (ids) and/or the village ``village_id`` that
    ``user`` may see, in all and under each filter. One statement."""
    def n(cond):
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)
    blocked = QualityRecord.beneficiary_id.is_not(None)
    q = (select(func.count(), *[n(condition(f, since)) for f in FILTERS[:3]], n(blocked))
         .select_from(Beneficiary)
         .outerjoin(QualityRecord, and_(QualityRecord.beneficiary_id == Beneficiary.id, QualityRecord.rank == 0))
         .where(_base(user, unit_ids, village_id)))
    row = db.session.execute(q).one()
    return dict(zip(("all",) + FILTERS, (int(v or 0) for v in row)))


def people(user, since, show, page=1, per_page=50, unit_ids=None, village_id=None):
    """One page (``page`` from 1, ``per_page`` rows) of the people :func:`counts` counts
    under filter ``show`` (``None``: all), by name then id, each ``Beneficiary`` with its
    village loaded. ``KeyError`` for an unknown ``show``."""
    q = select(Beneficiary).where(_base(user, unit_ids, village_id))
    if show is not None:
        q = q.where(condition(show, since))
    q = (q.options(joinedload(Beneficiary.village))
         .order_by(Beneficiary.name_folded, Beneficiary.id).limit(per_page).offset((page - 1) * per_page))
    return db.session.scalars(q).all()
