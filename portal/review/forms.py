from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..forms import Form, SelectField
from ..services.outreach import REFUSAL_REASONS
from ..vn.banks import all_banks


def choices(pairs):
    return [SelectChoice(value, label) for value, label in pairs]


ACCOUNT_STATUS_CHOICES = choices([
    ("", _l("— chọn —")), ("has_account", _l("Có tài khoản")), ("opening", _l("Đang mở tài khoản")),
    ("no_account", _l("Chưa có tài khoản")), ("refuses", _l("Từ chối mở tài khoản")),
])
RECIPIENT_CHOICES = choices([("self", _l("Chính chủ")), ("guardian", _l("Người giám hộ")),
                             ("authorised", _l("Người được ủy quyền"))])
REASON_CHOICES = choices([("", _l("— chọn —"))] + list(REFUSAL_REASONS.items()))
METHOD_CHOICES = choices([("cash", _l("Tiền mặt")), ("account", _l("Qua tài khoản"))])


def bank_choices():
    """The BIN list, banks then wallets (optgroups), most-used first by name."""
    banks = sorted(all_banks(), key=lambda b: (b.kind != "bank", b.short_name.lower()))
    return [SelectChoice("", _l("— chọn —"))] + [
        SelectChoice(b.bin, b.short_name, optgroup=_l("Ví điện tử") if b.kind == "wallet" else _l("Ngân hàng"))
        for b in banks]


class ReviewForm(Form):
    """One beneficiary's visit: account status, the account, the payment method."""

    # The record's version as the officer saw it: a save without it cannot be checked for
    # a conflict, so it is refused.
    version = HiddenField(validators=[DataRequired(_l("Trang đã cũ: tải lại trang rồi nhập lại."))])
    visited_on = DateField(_l("Ngày rà soát"), validators=[Optional()])
    account_status = SelectField(_l("Tài khoản"), choices=ACCOUNT_STATUS_CHOICES,
                                 validators=[DataRequired(_l("Chọn tình trạng tài khoản."))])
    no_account_reason = StringField(_l("Lý do chưa có TK"), validators=[Length(max=200)])
    # Checked by services/outreach.check_refusal (required for «Từ chối»; not in the past).
    refusal_reason = SelectField(_l("Lý do từ chối"), choices=REASON_CHOICES, validate_choice=False)
    revisit_on = DateField(_l("Hẹn vận động lại"), format=["%Y-%m-%d", "%d/%m/%Y"], validators=[Optional()])
    bank_bin = SelectField(_l("Ngân hàng / ví"), choices=[], validate_choice=False)
    number = StringField(_l("Số tài khoản"), validators=[Length(max=30)])
    recipient_type = SelectField(_l("Chủ tài khoản là"), choices=RECIPIENT_CHOICES)
    holder_name = StringField(_l("Tên chủ tài khoản"), validators=[Length(max=120)])
    holder_national_id = StringField(_l("Số định danh chủ TK"), validators=[Length(max=20)])
    payment_method = SelectField(_l("Hình thức chi trả"), choices=METHOD_CHOICES)
    note = TextAreaField(_l("Ghi chú"), validators=[Length(max=500)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bank_bin.choices = bank_choices()

    def values(self):
        return {f: (getattr(self, f).data or None) for f in (
            "account_status", "no_account_reason", "refusal_reason", "revisit_on", "bank_bin", "number", "recipient_type",
            "holder_name", "holder_national_id", "payment_method") if f in self}


class SearchForm(Form):
    class Meta:
        csrf = False

    q = StringField(_l("Tên (không cần dấu) hoặc số định danh"))


class GroupForm(Form):
    """Put another person of the village into this household."""

    beneficiary_id = SelectField(_l("Thêm người vào hộ"), coerce=int, choices=[], validate_choice=False)
