"""What every view shares: one page-or-fragment decision, filters, headers, login, roles."""
import re
from datetime import date
from functools import wraps
from urllib.parse import urlsplit

from flask_babel import gettext as _, lazy_gettext as _l
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import NotFound, UnprocessableEntity
from werkzeug.routing import IntegerConverter

from .extensions import db, htmx, login_manager
from .models import User
from .services import clock, months
from .services.areas import commune_in, parent_in, village_label
from .services.scope import MAX_ID
from .vn.banks import by_bin, mask_account
from .vn.dates import format_birth, format_date, format_moment
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


def get_or_404(model, ident, **expected):
    """The record the current user may see (their area and below), else 404: the one way
    views fetch a beneficiary, household, area or import by id. ``expected``: attributes the
    record must have, else 404 too (``level="village"``, ``kind="police"``)."""
    from .services import scope
    try:
        record = scope.get_in_scope(model, ident, current_user)
    except scope.OutOfScope:
        abort(404)
    if any(getattr(record, name) != value for name, value in expected.items()):
        abort(404)
    return record


# The largest id or count a query may name (defined with the scoping, which views import:
# services never import the views' helpers).
MAX_INT = MAX_ID
_WHOLE = re.compile(r"-?[0-9]+")  # ASCII only: int() would also take "２" or " 7 "


class BadNumber(UnprocessableEntity):
    """A query parameter that should be a whole number and is not (``abc``, ``1e999``,
    ``NaN``, a full-width ``２``): 422, the error page says which parameter."""

    def __init__(self, name, value):
        super().__init__()
        self.param, self.value = name, value


def parse_int(text, minimum=1, maximum=MAX_INT):
    """``text`` (ASCII digits, an optional ``-``) as an int in ``[minimum, maximum]``.

    Raises ``ValueError`` when ``text`` is not a whole number and ``OverflowError`` when it
    is one out of bounds (``0`` or ``-1`` for an id, 20 digits). The one place a number
    typed in a URL becomes an int (the ``int`` URL converter, :func:`int_arg`)."""
    if not _WHOLE.fullmatch(text or ""):
        raise ValueError(text)
    if len(text.lstrip("-0")) > len(str(maximum)):  # before int(): no 4,300-digit parse
        raise OverflowError(text)
    n = int(text)
    if not minimum <= n <= maximum:
        raise OverflowError(text)
    return n


def int_arg(name, default=None, minimum=1, maximum=MAX_INT):
    """The query parameter ``name`` as an int in ``[minimum, maximum]``; ``default`` when it
    is absent or empty (an empty field of a GET form).

    Aborts with :class:`BadNumber` (422) when it is not a whole number, and 404 when it is
    one out of bounds: no page or record can have that number."""
    text = request.args.get(name, "")
    if text == "":
        return default
    try:
        return parse_int(text, minimum, maximum)
    except OverflowError:
        raise NotFound() from None
    except ValueError:
        raise BadNumber(name, text) from None


# The first month a page may show: the portal holds no list, report or target before it
# (and a month before year 1 would not even be a date: the ranking's "month before").
FIRST_MONTH = "2000-01"
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # ASCII digits only
OPEN = "open"  # month_arg's default: the open month


def _default_month():
    """The open month, or for a user whose unit ended before it with no successor (the
    district of 2024, ended 30/06/2025) their unit's last month: their pages open on a month
    they worked in. An old commune's officer goes on in its successor, in the open month."""
    month = clock.open_month()
    area = getattr(current_user, "area", None)
    if (area is not None and area.valid_to is not None and area.successor_id is None
            and area.valid_to < months.start(month)):
        return months.of(area.valid_to)
    return month


def month_arg(name="month", default=OPEN):
    """The month the query parameter ``name`` asks, checked the same way on every page
    that takes one (the overview, the ranking, the monthly report and its workbook, the
    changes of a month, the payment lists): ``(month, error)``.

    ``month`` is the ``YYYY-MM`` asked, else ``default`` when the parameter is absent or
    empty (:data:`OPEN`: the open month, ``clock.open_month()``, or the last month of a
    user's unit that ended before it; ``None``: no month, e.g.
    every month of the payment lists) and ``error`` is ``None``. When the text is not a
    month (``2026-13``, ``abc``), is before :data:`FIRST_MONTH` or after the month after
    the open month (nothing can have happened then yet), ``month`` is the text as typed
    (for the form to show it again) and ``error`` a Vietnamese message: the page answers
    400 with it."""
    text = request.args.get(name, "").strip()
    if text == "":
        return (_default_month() if default == OPEN else default), None
    if not _MONTH.fullmatch(text):
        return text, _("Tháng «%(text)s» không đúng dạng YYYY-MM (ví dụ 2024-05).", text=text[:20])
    if text < FIRST_MONTH:
        return text, _("Tháng «%(text)s» quá xa: cổng chỉ có số liệu từ tháng %(first)s.",
                       text=text, first=months.label(FIRST_MONTH))
    open_ = clock.open_month()
    last = months.add(open_, 1)
    if text > last:
        return text, _("Tháng «%(text)s» chưa tới: cổng đang mở tháng %(open)s, xem được đến tháng "
                       "%(last)s.", text=text, open=months.label(open_), last=months.label(last))
    return text, None


def page_arg(name="page", per_page=1):
    """The page number ``?name=`` asks (1 when absent): :func:`int_arg` bounded so that the
    rows skipped, ``(page - 1) × per_page``, still fit a 64-bit integer."""
    return int_arg(name, 1, 1, MAX_INT // per_page)


class BoundedInt(IntegerConverter):
    """The ``int`` URL converter for ids: 1 to :data:`MAX_INT`; a path with a larger number
    (or 0) matches no route, so it answers 404 rather than reaching the database."""

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_INT, signed=False):
        super().__init__(map, fixed_digits, min, max, signed)

    def to_python(self, value):
        try:
            return parse_int(value, self.min, self.max)
        except (ValueError, OverflowError):
            from werkzeug.routing import ValidationError
            raise ValidationError() from None


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(data, filename, mimetype=XLSX):
    """A file to save (never cached: it holds personal data)."""
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


def format_size(n):
    """A file's size in bytes as Vietnamese writes it: ``"840 KB"``, ``"1,8 MB"``."""
    if n < 1_000_000:
        return f"{max(1, round(n / 1000))} KB"
    return f"{n / 1_000_000:.1f}".replace(".", ",") + " MB"


def is_long(rows):
    """True when work over ``rows`` rows is long enough for a background job (config
    ``JOB_ROWS``) rather than the request."""
    from flask import current_app
    return rows > current_app.config["JOB_ROWS"]


def see_other(endpoint, **values):
    """Redirect after a successful POST (303 See Other)."""
    return redirect(url_for(endpoint, **values), code=303)


def own_area():
    """The current user's area (an ``Area``). A national user (no area: ``create-user
    --national``) watches the country from the overview, which drills down to a province
    and its communes; a page that works within one province or commune (data quality, the
    month's changes, uploads, the ranking) sends them there with a message: aborts with a
    303 to ``/overview``."""
    from flask_login import current_user
    if current_user.area is None:
        flash(_("Tài khoản toàn quốc: trang này làm việc trong một tỉnh hoặc một xã. "
                "Chọn tỉnh, rồi xã, trên trang tổng quan cả nước; báo cáo tháng của một tỉnh "
                "có ở trang của tỉnh."), "info")
        abort(see_other("progress.overview"))
    return current_user.area


LANG_COOKIE = "lang"


def select_locale():
    """The user's language: the ``lang`` cookie (``vi`` or ``en``), Vietnamese by default."""
    from flask import current_app
    lang = request.cookies.get(LANG_COOKIE)
    return lang if lang in current_app.config["LANGUAGES"] else "vi"


# Who reads the people's pages (villages, households, a commune's people, the search): every
# officer and the police (identity checks), not the post office, whose work is its lists and
# their results (issue 13 §1). Outreach (sessions, who still needs a visit, with phones): the
# officers only.
PEOPLE_READERS = ("commune", "chairman", "police", "district", "province")
OUTREACH_READERS = ("commune", "chairman", "district", "province")


def may(roles):
    """Whether the current user's role is one of ``roles`` (admin always is)."""
    return current_user.is_authenticated and current_user.role in roles + ("admin",)


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
    "unknown": _l("Chưa rà soát"), "has_account": _l("Có tài khoản"), "opening": _l("Đang mở tài khoản"),
    "no_account": _l("Chưa có tài khoản"), "refuses": _l("Từ chối"),
}
RECIPIENT_LABELS = {"self": _l("Chính chủ"), "guardian": _l("Người giám hộ"), "authorised": _l("Người được ủy quyền")}
METHOD_LABELS = {"account": _l("Qua tài khoản"), "cash": _l("Tiền mặt")}
ROLE_LABELS = {"admin": _l("Quản trị"), "province": _l("Sở (tỉnh)"), "district": _l("Phòng LĐ-TB&XH"),
               "commune": _l("Công chức xã"),
               "police": _l("Công an xã"), "payer": _l("Bưu điện"), "system": _l("Hệ thống"),
               "chairman": _l("Chủ tịch UBND xã")}
SEX_LABELS = {"M": _l("Nam"), "F": _l("Nữ")}
PAYMENT_RESULT_LABELS = {"pending": _l("Chưa chi"), "paid_account": _l("Đã chi vào tài khoản"),
                         "paid_cash": _l("Đã chi tiền mặt"), "failed": _l("Không thành công"),
                         "returned": _l("Trả lại")}
SEVERITY_LABELS = {"error": _l("Lỗi"), "warning": _l("Cảnh báo"), "info": _l("Ghi chú")}
STATUS_LABELS = {"active": _l("Đang hưởng"), "suspended": _l("Tạm dừng"), "stopped": _l("Thôi hưởng"),
                 "merged": _l("Đã gộp"), "moved": _l("Đã chuyển đi")}
JOB_STATUS_LABELS = {"queued": _l("Đang chờ"), "running": _l("Đang chạy"), "done": _l("Xong"),
                     "failed": _l("Lỗi")}
SOURCE_LABELS = {"merge": _l("Gộp hồ sơ"), "police": _l("Kết quả xác minh của công an"), "import": _l("Tải danh sách"), "review": _l("Rà soát"), "correction": _l("Sửa"),
                 "household": _l("Hộ gia đình"), "change": _l("Đề nghị tăng/giảm"),
                 "decision": _l("Quyết định"), "payment": _l("Kết quả chi trả"),
                 "outreach": _l("Truyền thông, vận động")}
FIELD_LABELS = {
    "full_name": _l("Họ tên"), "sex": _l("Giới tính"), "birth_date": _l("Ngày sinh"), "birth_year": _l("Năm sinh"),
    "national_id": _l("Số định danh"), "legacy_id": _l("CMND"), "village_id": _l("Thôn"), "category": _l("Diện"),
    "coefficient": _l("Hệ số"), "monthly_amount": _l("Mức trợ cấp"), "phone": _l("Điện thoại"), "note": _l("Ghi chú"),
    "account_status": _l("Tình trạng tài khoản"), "no_account_reason": _l("Lý do chưa có TK"),
    "payment_method": _l("Hình thức chi trả"), "bank_bin": _l("Ngân hàng"), "number": _l("Số tài khoản"),
    "holder_name": _l("Chủ tài khoản"), "holder_national_id": _l("Số định danh chủ TK"),
    "recipient_type": _l("Người nhận"), "household_id": _l("Hộ"), "reviewed_at": _l("Ngày rà soát"),
    "status": _l("Trạng thái"), "deceased": _l("Đã chết"), "merged_into_id": _l("Gộp vào hồ sơ"), "bank_text": _l("Ngân hàng (ghi trong tệp)"),
    "commune_id": _l("Xã"), "result": _l("Kết quả chi trả"), "hold": _l("Tạm giữ chi trả"), "change_proposed": _l("Đề nghị"),
    "change_approved": _l("Duyệt"), "change_rejected": _l("Không duyệt"), "change_withdrawn": _l("Rút đề nghị"),
    "review_note": _l("Ghi chú rà soát"),
    "refusal_reason": _l("Lý do từ chối, chưa có TK"), "revisit_on": _l("Hẹn vận động lại"),
    "outreach_session": _l("Buổi truyền thông"),
}


# Who reads a personal ID or an account number in full on the portal's pages (issue 13 §1):
# the officers who keep the registry, the levels above them and the admin. The commune
# police verify IDs against the population database (Đề án 06): IDs in full, accounts
# masked. The post office pays from its own files (the payment lists, the provider file):
# on the registry's pages both masked. Every other place shows them masked (mask_id,
# mask_account: the last 4 characters).
FULL_ID_ROLES = ("commune", "chairman", "district", "province", "admin", "police")
FULL_ACCOUNT_ROLES = ("commune", "chairman", "district", "province", "admin")
ID_FIELDS = ("national_id", "legacy_id", "holder_national_id")
ACCOUNT_FIELDS = ("number", "account_number")


def reveal(field, value, user=None):
    """``value`` of ``field`` as ``user`` (default: the current user) may read it: an ID
    (:data:`ID_FIELDS`) or account number (:data:`ACCOUNT_FIELDS`) in full for the roles of
    :data:`FULL_ID_ROLES` / :data:`FULL_ACCOUNT_ROLES`, else masked; any other field as it
    is. ``None`` stays ``None``."""
    if value is None or field not in ID_FIELDS + ACCOUNT_FIELDS:
        return value
    user = user if user is not None else current_user
    role = getattr(user, "role", None)
    if field in ID_FIELDS:
        return value if role in FULL_ID_ROLES else mask_id(value)
    return value if role in FULL_ACCOUNT_ROLES else mask_account(value)


def value_label(field, value, names=None):
    """A stored value as people read it: labels for codes, the bank's name for a BIN, a
    date as dd/mm/yyyy, a village's name for its id (``names``: id → name), an ID or
    account number as the current user may read it (:func:`reveal`)."""
    if value is None or value == "":
        return "—"
    if field in ID_FIELDS + ACCOUNT_FIELDS:
        return reveal(field, value)
    if names and field in ("village_id", "household_id"):
        return names.get(str(value), value)
    if field == "monthly_amount" and str(value).isdigit():
        return format_vnd(int(value))
    if field == "refusal_reason":
        from .services.outreach import reason_label
        return reason_label(value)
    if field in ("birth_date", "reviewed_at", "revisit_on") and isinstance(value, str):
        try:
            return format_date(date.fromisoformat(value[:10]))
        except ValueError:
            return value
    labels = {"account_status": ACCOUNT_STATUS_LABELS, "payment_method": METHOD_LABELS,
              "recipient_type": RECIPIENT_LABELS, "sex": SEX_LABELS, "status": STATUS_LABELS,
              "result": PAYMENT_RESULT_LABELS,
              "deceased": {"True": _l("Có"), "False": _l("Không"), True: _l("Có"), False: _l("Không")},
              }.get(field)
    if labels:
        return labels.get(value, value)
    if field == "bank_bin":
        return bank_label(value)
    return value


def bank_label(bin_):
    bank = by_bin(bin_) if bin_ else None
    return f"{bank.short_name} ({bank.bin})" if bank else (bin_ or "")


def percent(part, whole):
    return 0 if not whole else round(100 * part / whole, 1)


def init_app(app):
    @login_manager.user_loader
    def load_user(user_id):
        ident, _, version = user_id.partition(":")
        user = db.session.get(User, int(ident)) if ident.isdigit() else None
        return user if user is not None and str(user.session_version) == version else None

    login_manager.login_view = "auth.login"

    @login_manager.unauthorized_handler
    def unauthorized():
        """Not logged in (or the session ended). An htmx save keeps the officer's input on the
        page and says how to log in again; a plain request goes to the login page and back."""
        if wants_fragment():
            message = _("Phiên đăng nhập đã hết. Đăng nhập lại ở thẻ mới rồi bấm Lưu lần nữa: "
                        "những gì bạn nhập vẫn còn trên trang này.")
            return render_template("_flash_error.html", message=message, login_link=True), 401, {
                "HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
        if request.endpoint == "review.csrf_token":  # the outbox asking: no page, no message
            return {"error": "login"}, 401
        flash(_("Vui lòng đăng nhập."), "info")
        if request.method == "GET":
            target = request.full_path.rstrip("?")
        else:  # a form sent after the session ended: come back to the page it was on
            ref = urlsplit(request.referrer or "")
            target = ref.path if ref.netloc == request.host else None
        return redirect(url_for("auth.login", next=target))

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

    @app.route("/lang", methods=["POST"])
    def set_language():
        """Switch the interface language (kept for a year in a cookie), back to the same page."""
        lang = request.form.get("lang")
        target = request.referrer or url_for("auth.home")
        if not target.startswith(request.host_url):
            target = url_for("auth.home")
        resp = redirect(target, code=303)
        if lang in app.config["LANGUAGES"]:
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True, secure=app.config.get("SESSION_COOKIE_SECURE", False))
        return resp

    @app.errorhandler(405)
    def method_not_allowed(e):
        return render_template("errors.html", code=405, back=request.referrer,
                               message=_("Trang này không nhận yêu cầu kiểu đó.")), 405

    @app.errorhandler(413)
    def too_large(e):
        return render_template("errors.html", code=413, back=request.referrer,
                               message=_("Tệp quá lớn (tối đa 20 MB).")), 413

    @app.errorhandler(BadNumber)
    def bad_number(e):
        # The GOV.UK error summary: what is wrong and what to do, on the page's own layout.
        message = _("«%(value)s» không phải là một số (tham số %(name)s trong địa chỉ). "
                    "Hãy mở lại trang từ một liên kết của cổng.", value=e.value, name=e.param)
        return render_template("errors.html", code=422, problems=[message], back=request.referrer,
                               message=_("Địa chỉ của trang có chỗ không đúng.")), 422

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        message = _("Trang đã mở quá lâu hoặc phiên đăng nhập đã hết, nên chưa lưu được. "
                    "Hãy tải lại trang (đăng nhập lại nếu cần) rồi gửi lại.")
        if wants_fragment():
            # Shown above the page; the form and what the user typed stay as they are.
            return render_template("_flash_error.html", message=message), 400, {
                "HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
        return render_template("errors.html", code=400, message=message,
                               back=request.referrer), 400

    filters = {
        "vnd": lambda n: "" if n is None else format_vnd(n).replace(" ", "\u00a0"),
        "num": lambda n: "" if n is None else format_int(n),
        "dmy": lambda d: "" if d is None else format_date(d),
        "month": lambda m: months.label(m) if m else "",  # "2024-05" → "05/2024"
        "when": format_moment,  # a stored UTC moment, in Vietnam's time
        "birth": lambda b: format_birth(b.birth_date, b.birth_year),
        # "1998-09-15" (ISO, as kept in a preview) → "15/09/1998"; a year stays a year.
        "birthtext": lambda v: format_date(date.fromisoformat(v)) if isinstance(v, str) else (v or ""),
        "mask_id": mask_id,
        "mask_account": mask_account,
        "bank": bank_label,
        "account_status": lambda s: ACCOUNT_STATUS_LABELS.get(s, s),
        "recipient": lambda s: RECIPIENT_LABELS.get(s, s),
        "method": lambda s: METHOD_LABELS.get(s, s),
        "role": lambda s: ROLE_LABELS.get(s, s),
        "sex": lambda s: SEX_LABELS.get(s, ""),
        "severity": lambda s: SEVERITY_LABELS.get(s, s),
        "source": lambda s: SOURCE_LABELS.get(s, s),
        "job_status": lambda s: JOB_STATUS_LABELS.get(s, s),
        "filesize": format_size,
        "field": lambda s: FIELD_LABELS.get(s, s),
        # The unit above an area as of the open month: never a district from 07/2025.
        "above": lambda area: parent_in(area, clock.open_month()) if area is not None else None,
        # The commune a unit's records belong to in the open month (an old commune merged in
        # 2025: the new one), and a village named under it (``Thôn X (Xã Y cũ)``).
        "in_force": lambda commune: commune_in(commune, clock.open_month()),
        "village_label": lambda village: village_label(village, commune_in(village.parent, clock.open_month())),
        "pct": lambda x: f"{x:.1f}".replace(".", ",") + " %",
    }
    app.jinja_env.filters.update(filters)
    app.jinja_env.globals["percent"] = percent
    app.jinja_env.globals["value_label"] = value_label
    app.jinja_env.globals["reveal"] = reveal
    app.jinja_env.globals.update(may=may, PEOPLE_READERS=PEOPLE_READERS, OUTREACH_READERS=OUTREACH_READERS)

    @app.context_processor
    def locale():
        return {"current_locale": str(get_locale() or "vi")}
    app.jinja_env.globals["wants_fragment"] = wants_fragment
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
