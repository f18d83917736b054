from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from ..forms import Form


class MakeForm(Form):
    """Make (chốt) the report shown: its month and area travel as hidden fields."""

    month = HiddenField(validators=[DataRequired(), Regexp(r"^\d{4}-(0[1-9]|1[0-2])$")])
    area = HiddenField(validators=[DataRequired(), Regexp(r"^\d+$")])
    reason = StringField(_l("Lý do chốt lại"), validators=[Length(max=300)])
