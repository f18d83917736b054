from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from ..forms import Form
from ..review.forms import ReviewForm


class CodeForm(Form):
    """One line's code, to open that line (a GET: nothing changes)."""

    class Meta:
        csrf = False

    code = StringField(_l("Mã dòng"), validators=[Length(max=20)])


class LineForm(ReviewForm):
    """One line of the sheet: the door-to-door review's fields (same bank list, same
    checks in the service), the line's code and the date written on the sheet (typed once,
    then carried from line to line)."""

    code = HiddenField()
    visited_on = DateField(_l("Ngày ghi trên phiếu"),
                           validators=[InputRequired(_l("Nhập ngày ghi trên phiếu."))])
    note = TextAreaField(_l("Ghi chú trên phiếu"), validators=[Length(max=400)])
    # The sheet has no box for a refusal's coded reason or a revisit: a line leaves them as
    # they are (services/review.validate), the household page records them.
    refusal_reason = None
    revisit_on = None
