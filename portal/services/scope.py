"""Area scoping, in one place: a user sees their area and what lies below it.

Every service that lists or fetches records goes through these helpers, so a commune
user asking for another commune's beneficiary, household, list or export gets nothing.
"""
from sqlalchemy import select, true

from ..extensions import db
from ..models import Area, Beneficiary, Household, ImportBatch, PaymentPeriod
from .areas import area_paths, subtree_ids


# The largest id or count a query may name: SQLite's INTEGER and PostgreSQL's BIGINT are
# 64-bit, and a larger Python int sent to either raises (OverflowError in sqlite3,
# NumericValueOutOfRange in psycopg) instead of matching nothing.
MAX_ID = 2**63 - 1


class OutOfScope(LookupError):
    """The record does not exist or lies outside the user's area (views answer 404)."""


def area_ids(user):
    """A subquery of the ids of the areas the user may see; ``None`` means all (CLI)."""
    if user is None or user.role == "system" or user.area is None:
        return None
    return subtree_ids([user.area]).scalar_subquery()


def scoped(query, user, column):
    """Add ``column IN (the user's areas)`` to a select."""
    ids = area_ids(user)
    return query if ids is None else query.where(column.in_(ids))


def visible(user):
    """A WHERE clause on ``Beneficiary``: the records ``user`` may see (registered in a
    commune of their area, ``area_ids``); ``true()`` for all. A household, a village or a
    sheet in the user's area may hold records of a commune outside it (a household of Xã
    Bình Chánh, ended 30/06/2025, with an HTXH record of Xã Bình Sơn registered since
    07/2025, seen by the former district): every list of members goes through this."""
    ids = area_ids(user)
    return true() if ids is None else Beneficiary.commune_id.in_(ids)


def beneficiaries(user):
    return scoped(select(Beneficiary), user, Beneficiary.commune_id)


def get_in_scope(model, ident, user):
    """Fetch one ``Beneficiary``, ``Household``, ``ImportBatch`` or ``Area`` the user may
    see; raises ``OutOfScope`` otherwise (also for an ``ident`` that is not an id:
    below 1, above 2**63 - 1, not an int)."""
    column = {Beneficiary: Beneficiary.commune_id, Household: Household.commune_id,
              ImportBatch: ImportBatch.commune_id, PaymentPeriod: PaymentPeriod.commune_id,
              Area: Area.id}[model]
    if not isinstance(ident, int) or not 0 < ident <= MAX_ID:
        # An id no row can have (a typed line code of 25 digits): asking the database would
        # overflow its 64-bit integers instead of finding nothing.
        raise OutOfScope(f"{model.__name__} {ident}")
    obj = db.session.scalar(scoped(select(model).where(model.id == ident), user, column))
    if obj is None:
        raise OutOfScope(f"{model.__name__} {ident}")
    return obj


def can_see_area(user, area):
    return area is not None and (user.area is None or user.role == "system"
                                 or any(area.path.startswith(p) for p in area_paths(user.area)))
