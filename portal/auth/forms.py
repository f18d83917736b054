from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from ..forms import Form


class LoginForm(Form):
    username = StringField(_l("Tên đăng nhập"), validators=[DataRequired(_l("Nhập tên đăng nhập."))])
    password = PasswordField(_l("Mật khẩu"), validators=[DataRequired(_l("Nhập mật khẩu."))])
