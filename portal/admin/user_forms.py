"""The forms of the user pages: an admin's new user, edit, password reset; anyone's own
password. The rules themselves are ``services.users`` (the CLI's too)."""
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from ..forms import Form
from ..models import PERSON_ROLES


def role_choices():
    from ..web import ROLE_LABELS
    return [SelectChoice(r, ROLE_LABELS.get(r, r)) for r in PERSON_ROLES]


class UserEditForm(Form):
    """Role, area (a GSO code; empty: the whole country, a national admin only) and name."""

    full_name = StringField(_l("Họ tên"), validators=[Length(max=120)])
    role = SelectField(_l("Vai trò"), validators=[DataRequired(_l("Chọn vai trò."))])
    area = StringField(_l("Mã đơn vị (mã GSO)"), validators=[Length(max=10)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()


class UserCreateForm(UserEditForm):
    username = StringField(_l("Tên đăng nhập"), validators=[DataRequired(_l("Nhập tên đăng nhập.")),
                                                          Length(max=60)])
    password = PasswordField(_l("Mật khẩu ban đầu"), validators=[DataRequired(_l("Nhập mật khẩu."))])
    confirm = PasswordField(_l("Nhập lại mật khẩu"), validators=[
        EqualTo("password", _l("Hai lần nhập mật khẩu không khớp."))])


class PasswordResetForm(Form):
    password = PasswordField(_l("Mật khẩu mới"), validators=[DataRequired(_l("Nhập mật khẩu."))])
    confirm = PasswordField(_l("Nhập lại mật khẩu mới"), validators=[
        EqualTo("password", _l("Hai lần nhập mật khẩu không khớp."))])


class OwnPasswordForm(PasswordResetForm):
    current = PasswordField(_l("Mật khẩu hiện tại"), validators=[DataRequired(_l("Nhập mật khẩu hiện tại."))])


class EmptyForm(Form):
    """A POST button (deactivate, reactivate): the CSRF token only."""
