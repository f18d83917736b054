from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from ..vn.ids import parse_national_id


class CorrectionForm(FlaskForm):
    """Correct a beneficiary's facts (source ``correction`` in the history)."""

    version = HiddenField()
    full_name = StringField("Họ và tên", validators=[DataRequired("Nhập họ tên."), Length(max=120)])
    sex = SelectField("Giới tính", choices=[SelectChoice("", "—"), SelectChoice("M", "Nam"),
                                            SelectChoice("F", "Nữ")])
    birth_date = DateField("Ngày sinh", validators=[Optional()])
    birth_year = IntegerField("Năm sinh", validators=[
        DataRequired("Nhập năm sinh."), NumberRange(1880, 2100, "Năm sinh không hợp lệ.")])
    national_id = StringField("Số định danh cá nhân", validators=[Optional(), Length(max=20)])
    village = StringField("Thôn", validators=[Length(max=120)])
    category = StringField("Diện đối tượng", validators=[Length(max=200)])
    monthly_amount = IntegerField("Mức trợ cấp (đồng)", validators=[
        Optional(), NumberRange(0, 100_000_000, "Mức trợ cấp không hợp lệ.")])
    phone = StringField("Điện thoại", validators=[Length(max=20)])
    note = TextAreaField("Ghi chú", validators=[Length(max=1000)])

    def validate_national_id(self, field):
        if field.data:
            r = parse_national_id(field.data)
            if r.kind != "cccd":
                raise ValidationError("Số định danh phải gồm đúng 12 chữ số.")
            field.data = r.value

    def validate_birth_date(self, field):
        if field.data and self.birth_year.data and field.data.year != self.birth_year.data:
            raise ValidationError("Ngày sinh và năm sinh không khớp nhau.")
