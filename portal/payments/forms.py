from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp

from ..forms import Form


class OpenForm(Form):
    """Open a month's payment list (or a new version of a locked one)."""

    commune_id = SelectField(_l("Xã"), coerce=int, choices=[])
    month = StringField(_l("Tháng"), validators=[
        DataRequired(_l("Nhập tháng.")),
        Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Tháng dạng YYYY-MM, ví dụ 2024-05."))])
    program = SelectField(_l("Chương trình"), choices=[SelectChoice("BTXH", "BTXH"), SelectChoice("NCC", "NCC")])
    reason = StringField(_l("Lý do (khi lập lại danh sách đã khóa)"), validators=[Length(max=300)])


class ResultForm(Form):
    """The provider's answer for one line."""

    result = SelectField(_l("Kết quả"), choices=[
        SelectChoice("pending", _l("Chưa chi")), SelectChoice("paid_account", _l("Đã chi vào tài khoản")),
        SelectChoice("paid_cash", _l("Đã chi tiền mặt")), SelectChoice("failed", _l("Không thành công")),
        SelectChoice("returned", _l("Trả lại"))])
    reason = StringField(_l("Lý do"), validators=[Length(max=200)])


class HoldForm(Form):
    note = StringField(_l("Lý do tạm giữ"), validators=[Length(max=300)])
