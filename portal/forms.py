"""The base of every form: WTForms' own messages in Vietnamese.

WTForms ships no Vietnamese catalogue, so its built-in messages ("Not a valid choice.")
would reach Vietnamese users in English; these are the ones our fields can raise.
"""
from flask_babel import get_locale
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_translations
from markupsafe import Markup, escape
from wtforms import fields, widgets

VI = {
    "This field is required.": "Mục này bắt buộc.",
    "Not a valid choice.": "Lựa chọn không hợp lệ.",
    "Invalid Choice: could not coerce.": "Lựa chọn không hợp lệ.",
    "Not a valid date value.": "Ngày không hợp lệ.",
    "Not a valid datetime value.": "Ngày giờ không hợp lệ.",
    "Not a valid integer value.": "Cần một số nguyên.",
    "Not a valid decimal value.": "Cần một số.",
    "Not a valid float value.": "Cần một số.",
    "Invalid input.": "Giá trị không hợp lệ.",
    "Field cannot be longer than %(max)d character.": "Không được dài quá %(max)d ký tự.",
    "Field cannot be longer than %(max)d characters.": "Không được dài quá %(max)d ký tự.",
    "Field must be at least %(min)d character long.": "Cần ít nhất %(min)d ký tự.",
    "Field must be at least %(min)d characters long.": "Cần ít nhất %(min)d ký tự.",
    "Field must be between %(min)d and %(max)d characters long.":
        "Độ dài phải từ %(min)d đến %(max)d ký tự.",
    "Number must be between %(min)s and %(max)s.": "Số phải từ %(min)s đến %(max)s.",
    "The CSRF token is missing.": "Thiếu mã CSRF: tải lại trang rồi gửi lại.",
    "The CSRF token has expired.": "Phiên làm việc đã hết hạn: tải lại trang rồi gửi lại.",
    "The CSRF token is invalid.": "Mã CSRF không hợp lệ: tải lại trang rồi gửi lại.",
    "The CSRF tokens do not match.": "Mã CSRF không khớp: tải lại trang rồi gửi lại.",
}


class _Translations:
    def gettext(self, string):
        if str(get_locale() or "vi") == "vi":
            return VI.get(string, string)
        return wtforms_translations.gettext(string)

    def ngettext(self, singular, plural, n):
        if str(get_locale() or "vi") == "vi":
            return VI.get(singular if n == 1 else plural, singular if n == 1 else plural)
        return wtforms_translations.ngettext(singular, plural, n)


class Form(FlaskForm):
    class Meta:
        def get_translations(self, form):
            return _Translations()


class QuickSelect(widgets.Select):
    """WTForms' ``<select>``, an option with no attributes of its own written with one
    escape of its value and label: WTForms writes each through ``html_params`` (about 0.1 ms
    an option, 30 ms for the 300 people of the household page's «Thêm người vào hộ» on a
    phone's request). The same markup as WTForms'."""

    @classmethod
    def render_option(cls, choice, **kwargs):
        if kwargs or choice.render_kw:
            return super().render_option(choice, **kwargs)
        value = str(choice.value) if isinstance(choice.value, bool) else choice.value
        selected = "selected " if choice.selected else ""  # html_params' order: sorted
        return Markup(f'<option {selected}value="{escape(value)}">{escape(choice.label or choice.value)}</option>')


class SelectField(fields.SelectField):
    """``wtforms.SelectField`` drawn by :class:`QuickSelect`."""

    widget = QuickSelect()
