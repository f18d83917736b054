"""Người dùng — an admin manages the users of their area; everyone changes their own
password. The rules are ``services.users``; a user outside the admin's area is a 404."""
from flask import abort, flash, request
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from ..extensions import db
from ..services import users
from ..web import page_arg, render, roles_required, see_other
from . import bp
from .user_forms import EmptyForm, OwnPasswordForm, PasswordResetForm, UserCreateForm, UserEditForm

PER_PAGE = 50


def _refused(form, error):
    db.session.rollback()
    field = form[error.field] if error.field and error.field in form else None
    if field is None:
        flash(str(error), "error")
    else:
        field.errors = list(field.errors) + [str(error)]


def _area(form):
    """The area the form names (``None``: the whole country), or ``UserError``."""
    code = (form.area.data or "").strip()
    return users.area_by_code(code) if code else None


def _managed_or_404(user_id):
    user = users.get_managed(current_user, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/admin/users", methods=["GET", "POST"])
@roles_required("admin")
def user_list():
    """The users this admin manages (their area and below; a national admin: all), 50 a
    page by username, and the form for a new one."""
    form = UserCreateForm()
    if request.method == "GET" and current_user.area is not None:
        form.area.data = current_user.area.code
    if form.validate_on_submit():
        try:
            user = users.create(current_user, form.username.data, form.role.data, _area(form),
                                form.password.data, form.full_name.data)
        except users.UserError as e:
            _refused(form, e)
        else:
            db.session.commit()
            flash(_("Đã tạo người dùng %(name)s.", name=user.username), "success")
            return see_other("admin.user_list")
    page = page_arg(per_page=PER_PAGE)
    total = users.count_managed(current_user)
    rows = db.session.scalars(users.managed(current_user).limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render("admin/users.html", form=form, rows=rows, page=page, total=total, per_page=PER_PAGE,
                  status=422 if form.errors else 200)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def user_edit(user_id):
    """One user: role, area and name; deactivate or reactivate; reset the password."""
    user = _managed_or_404(user_id)
    form = UserEditForm(obj=user, prefix="u")
    if request.method == "GET":
        form.area.data = user.area.code if user.area is not None else ""
    reset = PasswordResetForm(prefix="p")
    if form.validate_on_submit():
        try:
            changed = users.update(current_user, user, form.role.data, _area(form), form.full_name.data)
        except users.UserError as e:
            _refused(form, e)
        else:
            db.session.commit()
            flash(_("Đã lưu.") if changed else _("Không có gì thay đổi."), "success")
            return see_other("admin.user_edit", user_id=user.id)
    return _user_page(user, form, reset)


def _user_page(user, form, reset):
    return render("admin/user.html", user=user, form=form, reset=reset, button=EmptyForm(),
                  changes=users.history(user),
                  status=422 if form.errors or reset.errors else 200)


@bp.route("/admin/users/<int:user_id>/password", methods=["POST"])
@roles_required("admin")
def user_reset_password(user_id):
    """Set the password the admin typed; the user's open sessions end."""
    user = _managed_or_404(user_id)
    reset = PasswordResetForm(prefix="p")
    if reset.validate_on_submit():
        try:
            users.reset_password(current_user, user, reset.password.data)
        except users.UserError as e:
            _refused(reset, e)
        else:
            db.session.commit()
            if user.id == current_user.id:
                login_user(user)
            flash(_("Đã đặt mật khẩu mới cho %(name)s; các phiên đăng nhập của họ đã kết thúc.",
                    name=user.username), "success")
            return see_other("admin.user_edit", user_id=user.id)
    form = UserEditForm(obj=user, prefix="u", formdata=None)
    form.area.data = user.area.code if user.area is not None else ""
    return _user_page(user, form, reset)


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@roles_required("admin")
def user_active(user_id):
    """Deactivate (``active=0``: their sessions end at once) or reactivate (``active=1``)."""
    user = _managed_or_404(user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    active = request.form.get("active") == "1"
    try:
        changed = users.set_active(current_user, user, active)
    except users.UserError as e:
        db.session.rollback()
        flash(str(e), "error")
        return see_other("admin.user_edit", user_id=user.id)
    db.session.commit()
    if changed:
        flash(_("Đã mở lại tài khoản %(name)s.", name=user.username) if active else
              _("Đã khóa tài khoản %(name)s; các phiên đăng nhập của họ đã kết thúc.", name=user.username),
              "success")
    return see_other("admin.user_edit", user_id=user.id)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def own_password():
    """Change one's own password (the current one, the new one twice): the other sessions
    end, this one stays logged in."""
    form = OwnPasswordForm()
    if form.validate_on_submit():
        try:
            users.change_own_password(current_user, form.current.data, form.password.data)
        except users.UserError as e:
            _refused(form, e)
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # the cookie names the new version
            flash(_("Đã đổi mật khẩu. Các phiên đăng nhập khác đã kết thúc."), "success")
            return see_other("admin.own_password")
    return render("admin/password.html", form=form, status=422 if form.errors else 200)
