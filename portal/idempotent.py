"""Views that apply a POST once per idempotency key (the storage is
``services/idempotency.py``).

- ``idempotency_field()``, a template global: the hidden ``idempotency_key`` input with a
  fresh key at each render. Any POST form may carry one.
- ``@idempotent`` on a view (under the login check): a POST with a key claims it before
  the view runs, in the view's transaction; a retry with the same key gets the stored
  answer, with the header ``Idempotent-Replayed: true``, and the view does not run.
- The view commits its change (the claim goes with it) and returns its answer, which is
  stored just after, in a short transaction of its own: the write lock is not held while
  the answer is rendered. A retry arriving in between gets a neutral answer (htmx: reload
  the page; plain: back to the page, with a note).

A stored body is made reusable: the keys of the forms it renders and the CSRF token are
stored as marks and replaced by fresh ones when it is replayed, so that a replayed card
never hands out a key that was already used.
"""
import re
import time
from functools import wraps
from urllib.parse import urlsplit

from flask import Response, current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .services import idempotency
from .web import wants_fragment

FIELD = "idempotency_key"
HEADER = "Idempotency-Key"
KEY_MARK = b"\x1eidempotency-key\x1e"
CSRF_MARK = b"\x1ecsrf-token\x1e"
CLEANUP_EVERY = 3600  # seconds between two deletions of expired keys, per process
_last_cleanup = [0.0]


def idempotency_field():
    """``<input type="hidden" name="idempotency_key" value="…">`` with a fresh key."""
    key = idempotency.new_key()
    g.setdefault("idempotency_issued", []).append(key)
    return Markup(f'<input type="hidden" name="{FIELD}" value="{key}">')


def idempotent(view):
    """Apply a POST once per ``(user, idempotency_key)``; see the module's docstring."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        key = request.form.get(FIELD) or request.headers.get(HEADER)
        if request.method != "POST" or not current_user.is_authenticated or not idempotency.valid_key(key):
            return view(*args, **kwargs)
        fp = idempotency.fingerprint(request.path, request.form.items(multi=True))
        try:
            row, claimed = _claim_or_find(key, fp)
        except idempotency.KeyReused:
            return _reused()
        if row is None:  # claimed and given up by another request meanwhile: run as a plain POST
            return view(*args, **kwargs)
        if not claimed:
            return _replay(row)
        response = make_response(view(*args, **kwargs))
        if inspect(row).persistent:
            db.session.rollback()  # what the view left uncommitted is not kept (teardown would drop it)
            if inspect(row).persistent:  # committed with the view's change: store the answer now
                try:
                    _record(row, response)
                    db.session.commit()
                except Exception:  # the change is made; a retry gets the neutral answer
                    db.session.rollback()
                    current_app.logger.exception("could not store the answer of key %s", key)
        return response
    return wrapped


def _claim_or_find(key, fp):
    uid, path = current_user.id, request.path
    row = idempotency.find(uid, key, path, fp)
    if row is not None:
        return row, False
    _cleanup()
    try:
        return idempotency.claim(uid, key, path, fp), True
    except IntegrityError:  # another copy of this request committed first: its answer is ours
        db.session.rollback()
        return idempotency.find(uid, key, path, fp), False


def _cleanup():
    now = time.monotonic()
    if now - _last_cleanup[0] >= CLEANUP_EVERY:
        _last_cleanup[0] = now
        idempotency.cleanup()


def _record(row, response):
    body = response.get_data()
    if response.mimetype and response.mimetype.startswith("text/"):
        body = body.replace(generate_csrf().encode(), CSRF_MARK)
        for k in g.get("idempotency_issued", ()):
            body = body.replace(k.encode(), KEY_MARK)
    headers = {k: v for k, v in response.headers.items()
               if k in ("Location", "Content-Type") or k.startswith("HX-")}
    idempotency.record(row, response.status_code, headers, body)


def _replay(row):
    """The stored answer, with fresh keys and the current CSRF token in its forms."""
    if row.status is None:  # applied, but its answer was not stored: show the page as it is now
        if wants_fragment():
            return Response(b"", 200, {"HX-Refresh": "true", "Idempotent-Replayed": "true"})
        return _back(_("Yêu cầu này đã được ghi từ lần gửi trước; không ghi thêm lần nữa."))
    body = idempotency.stored_body(row).replace(CSRF_MARK, generate_csrf().encode())
    body = re.sub(re.escape(KEY_MARK), lambda m: idempotency.new_key().encode(), body)
    response = Response(body, row.status, row.headers)
    response.headers["Idempotent-Replayed"] = "true"
    if not wants_fragment() and 300 <= row.status < 400:
        flash(_("Yêu cầu này đã được ghi từ lần gửi trước; không ghi thêm lần nữa."), "info")
    return response


def _back(message):
    flash(message, "info")
    ref = urlsplit(request.referrer or "")
    target = ref.path if ref.netloc == request.host and ref.path else url_for("auth.home")
    return redirect(target, code=303)


def _reused():
    message = _("Biểu mẫu này đã được gửi trước đó với nội dung khác, nên chưa lưu. "
                "Hãy tải lại trang rồi nhập lại.")
    if wants_fragment():
        return render_template("_flash_error.html", message=message), 422, {
            "HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
    return render_template("errors.html", code=422, message=message, back=request.referrer), 422


def init_app(app):
    app.jinja_env.globals["idempotency_field"] = idempotency_field
