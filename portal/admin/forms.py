from datetime import datetime

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp, ValidationError

from ..forms import Form
from ..services.levels import MAX_AMOUNT, PROGRAMS
from ..services.progress import DEFAULT_TARGETS
from ..vn.dates import format_date
from ..vn.money import format_int, parse_amount

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def target_form(current, month):
    """A form with the month the values apply from (``valid_from``, ``YYYY-MM``, default
    ``month``) and one 0–100 field per (program, indicator), named ``PROGRAM__indicator``."""

    class TargetForm(Form):
        valid_from = StringField(_l("Áp dụng từ tháng"), default=month, validators=[
            DataRequired(_l("Nhập tháng.")), Regexp(MONTH, message=_l("Tháng dạng YYYY-MM, ví dụ 2024-06."))])

    for (program, indicator) in DEFAULT_TARGETS:
        setattr(TargetForm, f"{program}__{indicator}", IntegerField(
            f"{program} {indicator}", default=current[(program, indicator)],
            validators=[InputRequired(_l("Nhập tỷ lệ.")), NumberRange(0, 100, _l("Từ 0 đến 100 phần trăm."))]))
    return TargetForm()


class AmountField(StringField):
    """Whole đồng as people type them: ``500000``, ``500.000``, ``500 000 đ``; ``data`` is an
    ``int`` (``None`` when empty or unreadable, with the error kept)."""

    def process_formdata(self, valuelist):
        self.data = None
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            return
        try:
            self.data = parse_amount(text)
        except ValueError:
            if text.lstrip().startswith(("-", "−")):
                raise ValueError(_l("Số tiền phải lớn hơn 0 và không quá 100.000.000 đồng.")) from None
            raise ValueError(_l("Số tiền ghi bằng chữ số, đơn vị đồng (ví dụ 500.000).")) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return format_int(self.data) if self.data is not None else ""


class DayField(StringField):
    """A date typed as ``dd/mm/yyyy`` (also ``d/m/yyyy``) or ISO ``yyyy-mm-dd``; ``data`` is
    a ``date``. Shown back as ``dd/mm/yyyy``."""

    FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d")

    def process_formdata(self, valuelist):
        self.data = None
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            return
        for fmt in self.FORMATS:
            try:
                self.data = datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        if self.data is None:
            raise ValueError(_l("Ngày ghi dạng dd/mm/yyyy, ví dụ 01/07/2024."))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return format_date(self.data) if self.data else ""


NATIONAL = 0  # the level form's "whole country" choice


class LevelForm(Form):
    """A standard level (category empty) or a category's fixed amount, from a date; a
    standard level is national or a province's own (``area_id``). The view fills the
    provinces in (``set_provinces``)."""

    def set_provinces(self, provinces):
        self.area_id.choices = [SelectChoice(NATIONAL, _l("Cả nước"))] + [
            SelectChoice(a.id, a.full_name) for a in provinces]

    program = SelectField(_l("Chương trình"), choices=[SelectChoice(p, p) for p in PROGRAMS],
                          validators=[DataRequired(_l("Chọn chương trình."))])
    # 0: the national level; else a province in force (its own resolution's higher level).
    area_id = SelectField(_l("Áp dụng tại"), coerce=int, choices=[], default=NATIONAL)
    category = StringField(_l("Diện đối tượng (để trống nếu là mức chuẩn)"), validators=[Length(max=200)])
    amount = AmountField(_l("Số tiền (đồng/tháng)"), validators=[InputRequired(_l("Nhập số tiền."))])
    valid_from = DayField(_l("Áp dụng từ ngày"), validators=[InputRequired(_l("Nhập ngày áp dụng."))])
    source = StringField(_l("Căn cứ pháp lý"), validators=[
        DataRequired(_l("Ghi căn cứ pháp lý, ví dụ: Nghị định 76/2024/NĐ-CP.")), Length(max=120)])

    def validate_amount(self, field):
        if field.data is not None and not 0 < field.data <= MAX_AMOUNT:
            raise ValidationError(_l("Số tiền phải lớn hơn 0 và không quá 100.000.000 đồng."))
