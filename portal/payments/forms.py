from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp

from ..forms import Form
from ..services.pension import programs_in


ALL_COMMUNES = 0  # the open form's "every commune of the area" choice
ALL_PROGRAMS = "all"  # the open form's "every program of the month" choice
PROGRAMS = ("BTXH", "NCC", "HTXH")


class OpenForm(Form):
    """Open a month's payment list (or a new version of a locked one); a district user
    may choose ``ALL_COMMUNES`` to open the month for every commune at once, and anyone
    ``ALL_PROGRAMS`` to open every program paid that month together (BTXH and NCC; HTXH
    too from 07/2025, ``pension.programs_in``)."""

    commune_id = SelectField(_l("Xã"), coerce=int, choices=[])
    month = StringField(_l("Tháng"), validators=[
        DataRequired(_l("Nhập tháng.")),
        Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Tháng dạng YYYY-MM, ví dụ 2024-05."))])
    program = SelectField(_l("Chương trình"), choices=[
        SelectChoice("BTXH", "BTXH"), SelectChoice("NCC", "NCC"), SelectChoice("HTXH", _l("HTXH (từ 07/2025)")),
        SelectChoice(ALL_PROGRAMS, _l("Tất cả chương trình của tháng"))])

    def programs(self):
        """The programs chosen: one, or every program paid in the form's month."""
        if self.program.data == ALL_PROGRAMS:
            return list(programs_in(self.month.data))
        return [self.program.data]
    reason = StringField(_l("Lý do (khi lập lại danh sách đã khóa)"), validators=[Length(max=300)])


RESULT_LABELS = {"pending": _l("Chưa chi"), "paid_account": _l("Đã chi vào tài khoản"),
                 "paid_cash": _l("Đã chi tiền mặt"), "failed": _l("Không thành công"),
                 "returned": _l("Trả lại")}


class ResultForm(Form):
    """The provider's answer for one line."""

    result = SelectField(_l("Kết quả"), choices=[SelectChoice(k, v) for k, v in RESULT_LABELS.items()])
    reason = StringField(_l("Lý do"), validators=[Length(max=200)])


class HoldForm(Form):
    """Hold a blocked line out of this month's payment: the reason is required."""

    note = StringField(_l("Lý do tạm giữ"), validators=[DataRequired(_l("Ghi lý do tạm giữ.")), Length(max=300)])


class BulkHoldForm(Form):
    """Hold the blocked lines ticked on the list's page with one reason (required). The
    ticked lines come as ``bh-line`` values (line ids), read by the view."""

    note = StringField(_l("Lý do tạm giữ"), validators=[DataRequired(_l("Ghi lý do tạm giữ.")), Length(max=300)])


class ResultsUploadForm(Form):
    """The payment provider's result file (.csv or .xlsx), to preview."""

    file = FileField(_l("Tệp kết quả của đơn vị chi trả (.csv, .xlsx)"),
                     validators=[FileRequired(_l("Chọn tệp."))])


class ConfirmForm(Form):
    """A confirmation button (CSRF only)."""


class ResultsConfirmForm(Form):
    """Apply a previewed result file; the rows that overwrite a recorded result only when
    ``overwrite`` is ticked."""

    overwrite = BooleanField(_l("Ghi đè cả các kết quả đã ghi nêu trên"))
