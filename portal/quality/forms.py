from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import Length

from ..forms import Form

FIXABLE = ("full_name", "sex", "national_id", "category", "monthly_amount", "village")


class FixForm(Form):
    """One field of one record, corrected from the worklist."""

    version = HiddenField()
    value = StringField(_l("Giá trị đúng"), validators=[Length(max=200)])
