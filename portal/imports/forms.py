from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import Length, Optional, Regexp

from ..forms import Form


class UploadForm(Form):
    """A commune's list: the file, the commune, the program and the month. ``kept``: the id
    of the file uploaded with a form that came back with an error (kept on the server, so
    the file need not be chosen again); a new file, when one is chosen, replaces it."""

    file = FileField(_l("Tệp danh sách (.xlsx, .xls, .csv)"), validators=[
        FileRequired(_l("Chọn tệp danh sách.")),
        FileAllowed(["xlsx", "xls", "csv", "tsv", "xlsm", "txt"], _l("Chỉ nhận tệp .xlsx, .xls, .csv hoặc .tsv."))])
    commune_id = SelectField(_l("Xã"), coerce=int, choices=[])
    program = SelectField(_l("Chương trình"), choices=[
        SelectChoice("", _l("Theo tiêu đề tệp")), SelectChoice("BTXH", _l("BTXH — bảo trợ xã hội")),
        SelectChoice("NCC", _l("NCC — người có công")),
        SelectChoice("HTXH", _l("HTXH — hưu trí xã hội (từ 07/2025)"))])
    month = StringField(_l("Tháng của danh sách"), validators=[
        Optional(), Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Tháng dạng YYYY-MM, ví dụ 2024-05."))])
    kept = HiddenField()


class ConfirmForm(Form):
    """The confirmation of a previewed list: the new villages (when the commune has villages
    already), and whether the people added without a start month in the file are the
    registry's opening balance (default) or new grants from a month by a decision."""

    create_villages = BooleanField(_l("Tạo các thôn mới"))
    new_grant = BooleanField(_l("Hưởng mới từ tháng ghi dưới đây theo quyết định: tính là phát sinh tăng"))
    new_from = StringField(_l("Hưởng mới từ tháng"), validators=[
        Optional(), Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Tháng dạng YYYY-MM, ví dụ 2024-05."))])
    decision_number = StringField(_l("Số quyết định"), validators=[Length(max=60)])
    decision_date = DateField(_l("Ngày quyết định"), format=["%Y-%m-%d", "%d/%m/%Y"],
                              validators=[Optional()])
