from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Regexp

from ..forms import Form

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class TransferForm(Form):
    """One person's move to the social pension from ``month``, by the deciding level's
    decision (number and date)."""

    month = HiddenField(validators=[DataRequired(), Regexp(MONTH)])
    decision_number = StringField(_l("Số quyết định"), validators=[
        DataRequired(_l("Ghi số quyết định.")), Length(max=60)])
    decision_date = DateField(_l("Ngày quyết định"), format=["%Y-%m-%d", "%d/%m/%Y"], validators=[
        InputRequired(_l("Ghi ngày quyết định (dd/mm/yyyy)."))])
