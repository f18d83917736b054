"""The portal's working month and day: the month the officers work in, never a demo's
wall clock.

``open_month()`` (``YYYY-MM``) is, in order: the configuration ``CAMPAIGN_MONTH`` when it
is set (an operator pins it; the tests of the 2024 world do), else the setting
``open_month`` stored in the database (the demo data set writes the month it is open at:
``2026-12``), else the calendar month. ``working_day()`` is the day forms propose by
default (a visit's date, a decision's date): today, moved into the open month when the
clock lies outside it, so that a demo opened in 2027 still proposes a day of its month.
"""
from contextlib import contextmanager
from datetime import date

from flask import current_app, g, has_app_context

from ..extensions import db
from ..models import Setting
from . import months

OPEN_MONTH = "open_month"


def open_month():
    """The month the portal works in (``YYYY-MM``); read once per request."""
    if has_app_context() and g.get("pinned_month"):
        return g.pinned_month
    configured = current_app.config.get("CAMPAIGN_MONTH")
    if configured:
        return configured
    if has_app_context() and "open_month" in g:
        return g.open_month
    row = db.session.get(Setting, OPEN_MONTH)
    value = row.value if row is not None else months.of(date.today())
    g.open_month = value
    return value


def set_open_month(month):
    """Store ``month`` (``YYYY-MM``; ``ValueError`` otherwise) as the month the data set is
    open at (the demo does). The caller commits."""
    month = months.parse(month)
    row = db.session.get(Setting, OPEN_MONTH)
    if row is None:
        db.session.add(Setting(key=OPEN_MONTH, value=month))
    else:
        row.value = month
    g.pop("open_month", None)
    db.session.flush()


def working_day(today=None):
    """Today (``date``), or the nearest day of the open month when today lies outside it."""
    today = today or date.today()
    month = open_month()
    return min(max(today, months.start(month)), months.end(month))


@contextmanager
def pinned(month):
    """Work as if ``month`` (``YYYY-MM``) were the open month inside the block, whatever the
    configuration says: the demo replays its past months through the product's functions
    (who decides, which months a change may take, which changes are due)."""
    before = g.get("pinned_month")
    g.pinned_month = months.parse(month)
    try:
        yield
    finally:
        g.pinned_month = before
