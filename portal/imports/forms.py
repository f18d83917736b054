from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import Optional, Regexp

from ..forms import Form


class UploadForm(Form):
    """A commune's list: the file, the commune, the program and the month."""

    file = FileField(_l("Tệp danh sách (.xlsx, .xls, .csv)"), validators=[
        FileRequired(_l("Chọn tệp danh sách.")),
        FileAllowed(["xlsx", "xls", "csv", "xlsm", "txt"], _l("Chỉ nhận tệp .xlsx, .xls hoặc .csv."))])
    commune_id = SelectField(_l("Xã"), coerce=int, choices=[])
    program = SelectField(_l("Chương trình"), choices=[
        SelectChoice("", _l("Theo tiêu đề tệp")), SelectChoice("BTXH", _l("BTXH — bảo trợ xã hội")),
        SelectChoice("NCC", _l("NCC — người có công"))])
    month = StringField(_l("Tháng của danh sách"), validators=[
        Optional(), Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Tháng dạng YYYY-MM, ví dụ 2024-05."))])


class ConfirmForm(Form):
    pass
