from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..forms import Form, SelectField


class SessionForm(Form):
    """One communication session: where (the commune or one of its villages), when, how
    many came, about what (services/outreach.add_session checks the rest)."""

    village_id = SelectField(_l("Ở thôn"), choices=[], validate_choice=False,
                             coerce=lambda v: int(v) if v not in (None, "") and str(v).isdigit() else None)
    held_on = DateField(_l("Ngày"), format=["%Y-%m-%d", "%d/%m/%Y"],
                        validators=[DataRequired(_l("Nhập ngày (dd/mm/yyyy)."))])
    place = StringField(_l("Địa điểm"), validators=[DataRequired(_l("Nhập địa điểm.")), Length(max=200)])
    attendees = IntegerField(_l("Số người dự"), validators=[
        Optional(), NumberRange(0, 100_000, _l("Số người dự là số từ 0 đến 100.000."))])
    topic = TextAreaField(_l("Nội dung"), validators=[DataRequired(_l("Nhập nội dung.")), Length(max=2000)])
