from urllib.parse import urlsplit

from flask_babel import gettext as _
from flask import current_app, redirect, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db, limiter
from ..models import User
from ..web import render, see_other
from . import bp
from .forms import LoginForm


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _ip_limit():
    return current_app.config["LOGIN_IP_RATE_LIMIT"]


def start_page(user):
    """The URL of the page ``user`` starts their day on (by role and area)."""
    area = user.area
    if user.role == "police":
        return url_for("police.worklist")
    if user.role == "payer":
        return url_for("payments.index")
    if user.role == "commune":  # where the commune stands this month, and what is left
        return url_for("reports.ranking")
    if area is not None and area.level == "commune":
        return url_for("progress.commune", area_id=area.id)
    return url_for("progress.overview")


@bp.route("/")
def home():
    """Send each user to the page they start their day on."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(start_page(current_user))


def _failed(response):
    """Only failed logins count against the limits (staff share one office address)."""
    return response.status_code != 303


def _username():
    return "user:" + (request.form.get("username") or "").strip().lower()


# Hashed once: checked when the name is unknown, so that a wrong name takes as long as a
# wrong password and does not tell which names exist.
_DUMMY_HASH = generate_password_hash("not a password")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_ip_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed, key_func=_username)
def login():
    """The login form; a wrong name or password gets one message that says which is not told."""
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        if user is None or not user.password_hash:
            check_password_hash(_DUMMY_HASH, form.password.data)
        elif user.is_active and user.check_password(form.password.data):
            login_user(user)
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
                target = start_page(user)  # straight there: one round trip fewer on a slow link
            return redirect(target, code=303)
        form.password.errors.append(_("Tên đăng nhập hoặc mật khẩu không đúng."))
    status = 422 if form.errors else 200
    return render("auth/login.html", form=form, status=status)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out: the session cookie, and any copy of it, stops working (on every device)."""
    current_user.session_version += 1
    db.session.commit()
    logout_user()
    return see_other("auth.login")
