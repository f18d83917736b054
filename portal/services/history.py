"""The history of every change: who, when, which field, the old and the new value, the source.

Events are appended and never rewritten (a past month's figures are derived from them).
"""
from datetime import date

from sqlalchemy import select

from ..extensions import db
from ..models import Beneficiary, Event, User


def system_user():
    """The user the CLI acts as (role ``system``, cannot log in), created on first use."""
    user = db.session.scalar(select(User).where(User.username == "system"))
    if user is None:
        user = User(username="system", full_name="Hệ thống (dòng lệnh)", role="system")
        db.session.add(user)
        db.session.flush()
    return user


def _text(value):
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def set_fields(obj, changes, user, source, batch=None, beneficiary_id=None):
    """Apply ``changes`` (field → new value) to ``obj``, recording one ``Event`` per field
    whose value really changes. Returns the list of fields changed."""
    changed = []
    bid = beneficiary_id if beneficiary_id is not None else (
        obj.id if isinstance(obj, Beneficiary) else None)
    for field, new in changes.items():
        old = getattr(obj, field)
        if _text(old) == _text(new):
            continue
        setattr(obj, field, new)
        changed.append(field)
        db.session.add(Event(beneficiary_id=bid, user_id=user.id, source=source, action="update",
                             field=field, old_value=_text(old), new_value=_text(new),
                             batch_id=batch.id if batch else None))
    return changed


def record_creation(beneficiary, user, source, batch=None):
    db.session.add(Event(beneficiary_id=beneficiary.id, user_id=user.id, source=source,
                         action="create", new_value=beneficiary.full_name,
                         batch_id=batch.id if batch else None))


def history_of(beneficiary_id, limit=200):
    return db.session.scalars(select(Event).where(Event.beneficiary_id == beneficiary_id)
                              .order_by(Event.at.desc(), Event.id.desc()).limit(limit)).all()
