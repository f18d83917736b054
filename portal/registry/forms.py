from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..forms import Form
from ..vn.ids import parse_national_id


class CorrectionForm(Form):
    """Correct a beneficiary's facts (source ``correction`` in the history)."""

    version = HiddenField()
    full_name = StringField(_l("Họ và tên"), validators=[DataRequired(_l("Nhập họ tên.")), Length(max=120)])
    sex = SelectField(_l("Giới tính"), choices=[SelectChoice("", "—"), SelectChoice("M", _l("Nam")),
                                            SelectChoice("F", _l("Nữ"))])
    birth_date = DateField(_l("Ngày sinh"), validators=[Optional()])
    birth_year = IntegerField(_l("Năm sinh"), validators=[
        DataRequired(_l("Nhập năm sinh.")), NumberRange(1880, 2100, _l("Năm sinh không hợp lệ."))])
    national_id = StringField(_l("Số định danh cá nhân"), validators=[Optional(), Length(max=20)])
    village = StringField(_l("Thôn"), validators=[Length(max=120)])
    category = StringField(_l("Diện đối tượng"), validators=[Length(max=200)])
    monthly_amount = IntegerField(_l("Mức trợ cấp (đồng)"), validators=[
        Optional(), NumberRange(0, 100_000_000, _l("Mức trợ cấp không hợp lệ."))])
    phone = StringField(_l("Điện thoại"), validators=[Length(max=20)])
    note = TextAreaField(_l("Ghi chú"), validators=[Length(max=1000)])

    def validate_national_id(self, field):
        if field.data:
            r = parse_national_id(field.data)
            if r.kind != "cccd":
                raise ValidationError(_l("Số định danh phải gồm đúng 12 chữ số."))
            field.data = r.value

    def validate_birth_date(self, field):
        if field.data and self.birth_year.data and field.data.year != self.birth_year.data:
            raise ValidationError(_l("Ngày sinh và năm sinh không khớp nhau."))
