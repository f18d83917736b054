from flask_babel import lazy_gettext as _l
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from ..forms import Form
from ..services.progress import DEFAULT_TARGETS


def target_form(current):
    """A form with one 0–100 field per (program, indicator), named ``PROGRAM__indicator``."""

    class TargetForm(Form):
        pass

    for (program, indicator) in DEFAULT_TARGETS:
        setattr(TargetForm, f"{program}__{indicator}", IntegerField(
            f"{program} {indicator}", default=current[(program, indicator)],
            validators=[InputRequired(_l("Nhập tỷ lệ.")), NumberRange(0, 100, _l("Từ 0 đến 100 phần trăm."))]))
    return TargetForm()
