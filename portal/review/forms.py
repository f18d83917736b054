from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..vn.banks import all_banks

def choices(pairs):
    return [SelectChoice(value, label) for value, label in pairs]


ACCOUNT_STATUS_CHOICES = choices([
    ("", "— chọn —"), ("has_account", "Có tài khoản"), ("opening", "Đang mở tài khoản"),
    ("no_account", "Chưa có tài khoản"), ("refuses", "Từ chối mở tài khoản"),
])
RECIPIENT_CHOICES = choices([("self", "Chính chủ"), ("guardian", "Người giám hộ"),
                             ("authorised", "Người được ủy quyền")])
METHOD_CHOICES = choices([("cash", "Tiền mặt"), ("account", "Qua tài khoản")])


def bank_choices():
    """The BIN list, banks then wallets (optgroups), most-used first by name."""
    banks = sorted(all_banks(), key=lambda b: (b.kind != "bank", b.short_name.lower()))
    return [SelectChoice("", "— chọn —")] + [
        SelectChoice(b.bin, b.short_name, optgroup="Ví điện tử" if b.kind == "wallet" else "Ngân hàng")
        for b in banks]


class ReviewForm(FlaskForm):
    """One beneficiary's visit: account status, the account, the payment method."""

    version = HiddenField()
    visited_on = DateField("Ngày rà soát", validators=[Optional()])
    account_status = SelectField("Tài khoản", choices=ACCOUNT_STATUS_CHOICES,
                                 validators=[DataRequired("Chọn tình trạng tài khoản.")])
    no_account_reason = StringField("Lý do chưa có TK", validators=[Length(max=200)])
    bank_bin = SelectField("Ngân hàng / ví", choices=[], validate_choice=False)
    number = StringField("Số tài khoản", validators=[Length(max=30)])
    recipient_type = SelectField("Chủ tài khoản là", choices=RECIPIENT_CHOICES)
    holder_name = StringField("Tên chủ tài khoản", validators=[Length(max=120)])
    holder_national_id = StringField("Số định danh chủ TK", validators=[Length(max=20)])
    payment_method = SelectField("Hình thức chi trả", choices=METHOD_CHOICES)
    note = TextAreaField("Ghi chú", validators=[Length(max=500)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bank_bin.choices = bank_choices()

    def values(self):
        return {f: (getattr(self, f).data or None) for f in (
            "account_status", "no_account_reason", "bank_bin", "number", "recipient_type",
            "holder_name", "holder_national_id", "payment_method")}


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Tên (không cần dấu) hoặc số định danh")


class GroupForm(FlaskForm):
    """Put another person of the village into this household."""

    beneficiary_id = SelectField("Thêm người vào hộ", coerce=int, choices=[], validate_choice=False)
