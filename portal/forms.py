"""The base of every form: WTForms' own messages in Vietnamese.

WTForms ships no Vietnamese catalogue, so its built-in messages ("Not a valid choice.")
would reach Vietnamese users in English; these are the ones our fields can raise.
"""
from flask_babel import get_locale
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_translations

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
