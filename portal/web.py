"""What every view shares: one page-or-fragment decision, filters, headers, login, roles."""
from functools import wraps

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError

from .extensions import db, htmx, login_manager
from .models import User
from .vn.banks import mask_account
from .vn.dates import format_birth, format_date
from .vn.ids import mask_id
from .vn.money import format_int, format_vnd


def wants_fragment():
    """True for an htmx request that is neither boosted nor a history restore: only then
    does a view answer with a fragment; any URL htmx pushes returns a full page."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(template_name, fragment=None, status=200, **context):
    """Render ``template_name`` (a full page) or, for a plain htmx request, ``fragment``."""
    template = fragment if fragment and wants_fragment() else template_name
    return render_template(template, **context), status


def see_other(endpoint, **values):
    """Redirect after a successful POST (303 See Other)."""
    return redirect(url_for(endpoint, **values), code=303)


def roles_required(*roles):
    """Allow only users whose role is one of ``roles`` (admin always passes)."""
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles and current_user.role != "admin":
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


ACCOUNT_STATUS_LABELS = {
    "unknown": "Chưa rà soát", "has_account": "Có tài khoản", "opening": "Đang mở tài khoản",
    "no_account": "Chưa có tài khoản", "refuses": "Từ chối",
}
RECIPIENT_LABELS = {"self": "Chính chủ", "guardian": "Người giám hộ", "authorised": "Người được ủy quyền"}
METHOD_LABELS = {"account": "Qua tài khoản", "cash": "Tiền mặt"}
ROLE_LABELS = {"admin": "Quản trị", "district": "Phòng LĐ-TB&XH", "commune": "Công chức xã",
               "police": "Công an xã", "payer": "Bưu điện", "system": "Hệ thống"}
SEX_LABELS = {"M": "Nam", "F": "Nữ"}
SEVERITY_LABELS = {"error": "Lỗi", "warning": "Cảnh báo", "info": "Ghi chú"}
SOURCE_LABELS = {"import": "Tải danh sách", "review": "Rà soát", "correction": "Sửa",
                 "household": "Hộ gia đình"}
FIELD_LABELS = {
    "full_name": "Họ tên", "sex": "Giới tính", "birth_date": "Ngày sinh", "birth_year": "Năm sinh",
    "national_id": "Số định danh", "legacy_id": "CMND", "village_id": "Thôn", "category": "Diện",
    "coefficient": "Hệ số", "monthly_amount": "Mức trợ cấp", "phone": "Điện thoại", "note": "Ghi chú",
    "account_status": "Tình trạng tài khoản", "no_account_reason": "Lý do chưa có TK",
    "payment_method": "Hình thức chi trả", "bank_bin": "Ngân hàng", "number": "Số tài khoản",
    "holder_name": "Chủ tài khoản", "holder_national_id": "Số định danh chủ TK",
    "recipient_type": "Người nhận", "household_id": "Hộ", "reviewed_at": "Ngày rà soát",
    "status": "Trạng thái", "bank_text": "Ngân hàng (ghi trong tệp)",
}


def percent(part, whole):
    return 0 if not whole else round(100 * part / whole, 1)


def init_app(app):
    @login_manager.user_loader
    def load_user(user_id):
        return db.session.get(User, int(user_id))

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Vui lòng đăng nhập."
    login_manager.login_message_category = "info"

    @app.after_request
    def headers(resp):
        resp.vary.add("HX-Request")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if resp.mimetype == "text/html":
            # htmx needs no inline script; our one script and htmx come from our origin.
            resp.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                "script-src 'self'; form-action 'self'; frame-ancestors 'none'")
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        message = ("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ (thiếu mã CSRF). "
                   "Dữ liệu chưa được lưu: vui lòng tải lại trang và gửi lại.")
        if wants_fragment():
            # Shown above the page; the form and what the user typed stay as they are.
            return render_template("_flash_error.html", message=message), 400, {
                "HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
        return render_template("errors.html", code=400, message=message,
                               back=request.referrer), 400

    filters = {
        "vnd": lambda n: "" if n is None else format_vnd(n),
        "num": lambda n: "" if n is None else format_int(n),
        "dmy": lambda d: "" if d is None else format_date(d),
        "birth": lambda b: format_birth(b.birth_date, b.birth_year),
        "mask_id": mask_id,
        "mask_account": mask_account,
        "account_status": lambda s: ACCOUNT_STATUS_LABELS.get(s, s),
        "recipient": lambda s: RECIPIENT_LABELS.get(s, s),
        "method": lambda s: METHOD_LABELS.get(s, s),
        "role": lambda s: ROLE_LABELS.get(s, s),
        "sex": lambda s: SEX_LABELS.get(s, ""),
        "severity": lambda s: SEVERITY_LABELS.get(s, s),
        "source": lambda s: SOURCE_LABELS.get(s, s),
        "field": lambda s: FIELD_LABELS.get(s, s),
        "pct": lambda x: f"{x:.1f}".replace(".", ",") + " %",
    }
    app.jinja_env.filters.update(filters)
    app.jinja_env.globals["percent"] = percent
    app.jinja_env.globals["wants_fragment"] = wants_fragment
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
