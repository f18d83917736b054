from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..forms import Form


class VerifyForm(Form):
    """One record's answer from the population database."""

    result = SelectField(_l("Kết quả"), choices=[
        SelectChoice("", _l("— chọn —")), SelectChoice("verified", _l("Khớp")),
        SelectChoice("mismatch", _l("Sai thông tin")), SelectChoice("deceased", _l("Đã chết")),
        SelectChoice("moved", _l("Chuyển đi")), SelectChoice("not_found", _l("Không tìm thấy"))],
        validators=[DataRequired(_l("Chọn kết quả xác minh."))])
    field = SelectField(_l("Thông tin sai"), choices=[
        SelectChoice("", "—"), SelectChoice("full_name", _l("Họ tên")),
        SelectChoice("birth_date", _l("Ngày sinh")), SelectChoice("sex", _l("Giới tính")),
        SelectChoice("national_id", _l("Số định danh")), SelectChoice("village", _l("Nơi thường trú"))],
        default="")
    population_value = StringField(_l("Giá trị trong CSDL dân cư"), validators=[Length(max=200)])
    died_on = DateField(_l("Ngày mất"), validators=[Optional()])
    note = StringField(_l("Ghi chú"), validators=[Length(max=300)])


class UploadForm(Form):
    file = FileField(_l("Bảng xác minh đã điền (.xlsx)"), validators=[FileRequired(_l("Chọn tệp."))])
