from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import Optional, Regexp


class UploadForm(FlaskForm):
    """A commune's list: the file, the commune, the program and the month."""

    file = FileField("Tệp danh sách (.xlsx, .xls, .csv)", validators=[
        FileRequired("Chọn tệp danh sách."),
        FileAllowed(["xlsx", "xls", "csv", "xlsm", "txt"], "Chỉ nhận tệp .xlsx, .xls hoặc .csv.")])
    commune_id = SelectField("Xã", coerce=int, choices=[])
    program = SelectField("Chương trình", choices=[
        SelectChoice("", "Theo tiêu đề tệp"), SelectChoice("BTXH", "BTXH — bảo trợ xã hội"),
        SelectChoice("NCC", "NCC — người có công")])
    month = StringField("Tháng của danh sách", validators=[
        Optional(), Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message="Tháng dạng YYYY-MM, ví dụ 2024-05.")])


class ConfirmForm(FlaskForm):
    pass
