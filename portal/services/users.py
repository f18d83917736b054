"""Người dùng — the rules for making and managing the people who log in, in one place:
the CLI's ``create-user`` and the admin pages (``/admin/users``, ``/account/password``) both
go through them.

- a **username** is 2–60 characters: lowercase ASCII letters, digits, ``.``, ``_``, ``-``,
  starting with a letter or digit (``USERNAME``);
- a **role** is one of ``models.PERSON_ROLES`` (``system`` is the portal's own);
- an **area** is a unit found by GSO code (the unit in force today, else the newest one),
  or ``None`` for a national user (the whole country);
- a **password** has at least ``MIN_PASSWORD`` characters, at most ``MAX_PASSWORD``, and
  does not contain the username (``check_password``).

An admin manages the users whose area lies within theirs (``scope.can_see_area``; a
national admin, area ``None``, manages every user) and gives only areas within theirs.
Every change an admin makes is an ``Event`` (source ``admin``, field ``user``) whose old and
new values are ``as_dict(user)`` (never the password hash) and whose ``subject_user_id`` is
the user changed (their history, ``history``). Deactivating a user and setting
their password move ``session_version`` on, so every open session of theirs ends at once.
Errors are ``UserError`` (a Vietnamese message and the form field it concerns).
"""
import re

from sqlalchemy import func, select

from ..extensions import db
from ..models import PERSON_ROLES, Area, User
from . import clock
from .areas import find_area, subtree_ids
from .levels import audit
from .scope import can_see_area

FIELD = "user"
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,59}")
MIN_PASSWORD = 10
MAX_PASSWORD = 128  # hashing a megabyte on every login would be a way to slow the server


class UserError(ValueError):
    """A user change refused (Vietnamese message); ``field`` names the form field."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def check_username(username):
    """``username`` stripped, or ``UserError`` (field ``username``) when it breaks the rule
    or is taken."""
    username = (username or "").strip()
    if not USERNAME.fullmatch(username):
        raise UserError("Tên đăng nhập từ 2 đến 60 ký tự: chữ thường không dấu, chữ số, dấu chấm, "
                        "gạch dưới hoặc gạch ngang, bắt đầu bằng chữ hoặc số.", "username")
    return username


def check_role(role):
    if role not in PERSON_ROLES:
        raise UserError(f"Vai trò không hợp lệ: {role}.", "role")
    return role


def check_password(password, username=""):
    """Raise ``UserError`` (field ``password``) unless ``password`` has
    ``MIN_PASSWORD``–``MAX_PASSWORD`` characters and does not contain ``username``
    (case aside)."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự.", "password")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"Mật khẩu không quá {MAX_PASSWORD} ký tự.", "password")
    if username and username.lower() in password.lower():
        raise UserError("Mật khẩu không được chứa tên đăng nhập.", "password")
    return password


def area_by_code(code):
    """The unit with GSO ``code`` in force today (else the newest with that code), or
    ``UserError`` (field ``area``)."""
    code = (code or "").strip()
    area = find_area(code, on=clock.working_day()) or find_area(code) if code else None
    if area is None:
        raise UserError(f"Không có đơn vị mã {code}.", "area")
    return area


def manages(admin, user):
    """Whether ``admin`` may manage ``user``: a national admin everyone (but the system
    user), another admin the users whose area lies within theirs."""
    if user is None or user.role == "system":
        return False
    return admin.area is None or can_see_area(admin, user.area)


def check_area_for(admin, area):
    """Raise ``UserError`` (field ``area``) unless ``admin`` may give ``area`` (``None``:
    national, only a national admin may)."""
    if admin is None or admin.area is None:
        return
    if area is None or not can_see_area(admin, area):
        raise UserError("Chỉ giao được đơn vị thuộc địa bàn của bạn.", "area")


def managed(admin):
    """A select of the users ``admin`` manages, by username."""
    q = select(User).where(User.role != "system")
    if admin.area is not None:
        q = q.where(User.area_id.in_(subtree_ids([admin.area]).scalar_subquery()))
    return q.order_by(User.username)


def count_managed(admin):
    return db.session.scalar(select(func.count()).select_from(managed(admin).order_by(None).subquery()))


def get_managed(admin, user_id):
    """The user ``admin`` manages with id ``user_id``, else ``None`` (views answer 404)."""
    user = db.session.get(User, user_id)
    return user if manages(admin, user) else None


def as_dict(user):
    """The user as the audit trail keeps them: ``{"id", "username", "full_name", "role",
    "area" (GSO code or None), "area_name", "active"}``; never the password hash."""
    area = user.area if user.area is not None or user.area_id is None else db.session.get(Area, user.area_id)
    return {"id": user.id, "username": user.username, "full_name": user.full_name, "role": user.role,
            "area": area.code if area is not None else None,
            "area_name": area.full_name if area is not None else None, "active": user.active}


def end_sessions(user):
    """End every open session of ``user`` (their login cookies name the old version)."""
    user.session_version = (user.session_version or 0) + 1


def create(admin, username, role, area, password, full_name=""):
    """A new user, or ``UserError``. ``admin`` is the acting user (``None``: the CLI, no
    audit and no area bound). Flushes; the caller commits."""
    username = check_username(username)
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"Tên đăng nhập {username} đã có.", "username")
    check_role(role)
    check_area_for(admin, area)
    check_password(password, username)
    user = User(username=username, role=role, area=area, full_name=(full_name or "").strip()[:120],
                active=True, session_version=0)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    if admin is not None:
        audit(admin, "create", None, as_dict(user), field=FIELD, subject=user)
    return user


def update(admin, user, role, area, full_name):
    """Change ``user``'s role, area and full name; returns whether anything changed. A
    change of role or area ends their sessions (what they may see changed)."""
    check_role(role)
    check_area_for(admin, area)
    before = as_dict(user)
    if user.id == admin.id and role != user.role:
        raise UserError("Bạn không thể đổi vai trò của chính mình.", "role")
    if user.id == admin.id and area is not user.area:
        raise UserError("Bạn không thể đổi địa bàn của chính mình.", "area")
    moved = role != user.role or area is not user.area
    user.role, user.area, user.full_name = role, area, (full_name or "").strip()[:120]
    db.session.flush()
    after = as_dict(user)
    if after == before:
        return False
    if moved:
        end_sessions(user)
    audit(admin, "update", before, after, field=FIELD, subject=user)
    return True


def set_active(admin, user, active):
    """Deactivate (their sessions end at once) or reactivate ``user``; an admin cannot
    deactivate themselves. Returns whether it changed."""
    if user.id == admin.id and not active:
        raise UserError("Bạn không thể tự khóa tài khoản của mình.")
    if user.active == active:
        return False
    before = as_dict(user)
    user.active = active
    end_sessions(user)
    audit(admin, "activate" if active else "deactivate", before, as_dict(user), field=FIELD, subject=user)
    return True


def reset_password(admin, user, password):
    """Set ``user``'s password to the one ``admin`` typed; their sessions end."""
    check_password(password, user.username)
    user.set_password(password)
    end_sessions(user)
    audit(admin, "password", as_dict(user), as_dict(user), field=FIELD, subject=user)


def change_own_password(user, current, new):
    """``user`` changes their own password (``current`` checked, field ``current``); every
    session of theirs ends: the view logs the current one in again."""
    if not user.check_password(current or ""):
        raise UserError("Mật khẩu hiện tại không đúng.", "current")
    check_password(new, user.username)
    if new == current:
        raise UserError("Mật khẩu mới phải khác mật khẩu hiện tại.", "password")
    user.set_password(new)
    end_sessions(user)
    audit(user, "own_pw", as_dict(user), as_dict(user), field=FIELD, subject=user)


def history(user, limit=20):
    """The audit entries about ``user``, newest first: ``[{"at", "by", "action", "old",
    "new"}]`` (``old``/``new`` as ``as_dict`` gave them, or ``None``)."""
    import json

    from ..models import Event
    by = User.__table__.alias("by")
    rows = db.session.execute(
        select(Event, by.c.username).join(by, by.c.id == Event.user_id)
        .where(Event.subject_user_id == user.id, Event.field == FIELD)
        .order_by(Event.id.desc()).limit(limit)).all()
    return [{"at": e.at, "by": name, "action": e.action,
             "old": json.loads(e.old_value) if e.old_value else None,
             "new": json.loads(e.new_value) if e.new_value else None} for e, name in rows]
