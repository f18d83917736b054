from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp

from ..forms import Form


ALL_COMMUNES = 0  # the open form's "every commune of the area" choice
BOTH_PROGRAMS = "both"  # the open form's "both programs" choice
PROGRAMS = ("BTXH", "NCC")


class OpenForm(Form):
    """Open a month's payment list (or a new version of a locked one); a district user
    may choose ``ALL_COMMUNES`` to open the month for every commune at once, and anyone
    ``BOTH_PROGRAMS`` to open BTXH and NCC together."""

    commune_id = SelectField(_l("Xã"), coerce=int, choices=[])
    month = StringField(_l("Tháng"), validators=[
        DataRequired(_l("Nhập tháng.")),
        Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Tháng dạng YYYY-MM, ví dụ 2024-05."))])
    program = SelectField(_l("Chương trình"), choices=[SelectChoice("BTXH", "BTXH"), SelectChoice("NCC", "NCC"),
                                                       SelectChoice(BOTH_PROGRAMS, _l("Cả hai chương trình"))])

    def programs(self):
        """The programs chosen: ``["BTXH"]``, ``["NCC"]`` or both."""
        return list(PROGRAMS) if self.program.data == BOTH_PROGRAMS else [self.program.data]
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
