from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ..forms import Form

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
MONTH_MESSAGE = _l("Tháng dạng YYYY-MM, ví dụ 2024-06.")

KIND_LABELS = {"new": _l("Hưởng mới"), "resume": _l("Tiếp tục hưởng"), "move_in": _l("Chuyển đến"),
               "stop": _l("Thôi hưởng"), "suspend": _l("Tạm dừng"), "move_out": _l("Chuyển đi")}
STATUS_LABELS = {"proposed": _l("Chờ quyết định"), "approved": _l("Đã duyệt"), "rejected": _l("Không duyệt"),
                 "withdrawn": _l("Đã rút")}
# Circular 02/2021/TT-BLĐTBXH Art. 2, as services.changes.CLAUSES words it (a test keeps them equal).
CLAUSE_LABELS = {
    "1a": _l("Chết hoặc bị tuyên bố mất tích"),
    "1b": _l("Không còn đủ điều kiện hưởng (Nghị định 20/2021/NĐ-CP Điều 5)"),
    "1c": _l("Đang chấp hành án phạt tù, hoặc cơ quan có thẩm quyền quyết định thôi hưởng"),
    "1d": _l("Từ chối nhận trợ cấp"),
    "1đ": _l("Sau 3 tháng tạm dừng vẫn không thực hiện yêu cầu"),
    "2a": _l("Người được chăm sóc hoặc người nhận chăm sóc chết, mất tích"),
    "2b": _l("Người được chăm sóc không còn đủ điều kiện hưởng"),
    "2c": _l("Người nhận chăm sóc không còn đủ điều kiện (Nghị định 20/2021/NĐ-CP Điều 22–23)"),
    "2d": _l("Trường hợp khác về kinh phí chăm sóc"),
    "3a": _l("Không nhận trợ cấp từ 3 tháng liên tục trở lên"),
    "3b": _l("Không thực hiện yêu cầu xác định lại điều kiện hưởng"),
    "3c": _l("Bị tạm giam từ 1 tháng trở lên"),
}


class ProposeForm(Form):
    """A proposal for one beneficiary: a stop or suspension with its clause of Circular
    02/2021 Art. 2, a resumption (with or without arrears), or a move to another commune."""

    kind = SelectField(_l("Loại"), choices=[], validators=[DataRequired(_l("Chọn loại phát sinh."))])
    clause = SelectField(_l("Lý do (Thông tư 02/2021/TT-BLĐTBXH Điều 2)"), choices=[], default="")
    effective_month = StringField(_l("Từ tháng"), validators=[
        DataRequired(_l("Nhập tháng.")), Regexp(MONTH, message=MONTH_MESSAGE)])
    note = TextAreaField(_l("Ghi chú"), validators=[Length(max=1000)])
    evidence = StringField(_l("Căn cứ, giấy tờ kèm theo"), validators=[Length(max=300)])
    arrears = BooleanField(_l("Truy lĩnh những tháng tạm dừng"), default=True)
    arrears_from = StringField(_l("Truy lĩnh từ tháng (để trống: từ tháng tạm dừng)"), validators=[
        Optional(), Regexp(MONTH, message=MONTH_MESSAGE)])
    to_commune_id = SelectField(_l("Chuyển đến xã"), coerce=int, choices=[], default=0)


class CandidateForm(Form):
    """The one-click proposal of a case the portal found."""

    kind = StringField(validators=[DataRequired()])
    month = StringField(validators=[DataRequired(), Regexp(MONTH)])


class DecideForm(Form):
    """Approve (decision number and date) or reject (a note) one proposal."""

    decision_number = StringField(_l("Số quyết định"), validators=[Length(max=60)])
    decision_date = DateField(_l("Ngày quyết định"), validators=[Optional()])
    note = StringField(_l("Ghi chú (bắt buộc khi không duyệt)"), validators=[Length(max=500)])


class DismissForm(Form):
    """Dismiss a change read from a list (a remark that did not mean it), with the reason."""

    reason = StringField(_l("Lý do bỏ qua"), validators=[DataRequired(message=_l("Ghi lý do bỏ qua.")),
                                                         Length(max=500)])


class WithdrawForm(Form):
    """The officer's withdrawal of their own proposal (the CSRF token only)."""
