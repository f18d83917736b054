"""Static assets served from our own origin under fingerprinted URLs, cached immutable.

htmx comes from the pinned PyPI package ``django-js-lib-htmx`` (it carries only htmx's
files); nothing third-party is committed. Each URL holds a hash of the file's content,
so a new version gets a new URL and browsers may keep the old one for a year.
"""
import hashlib
from functools import cache
from importlib import resources

from flask import Response, abort, request, url_for

ONE_YEAR = 31536000


@cache
def _files():
    """name → (bytes, mimetype, hash)."""
    sources = {
        "htmx.min.js": (resources.files("js_lib_htmx") / "static" / "htmx" / "htmx.min.js",
                        "text/javascript"),
        "app.css": (resources.files("portal") / "static" / "app.css", "text/css"),
    }
    out = {}
    for name, (path, mime) in sources.items():
        data = path.read_bytes()
        out[name] = (data, mime, hashlib.sha256(data).hexdigest()[:12])
    return out


def asset_url(name):
    """``asset_url("htmx.min.js")`` → ``/assets/htmx.min.3f2a….js``."""
    base, ext = name.rsplit(".", 1)
    return url_for("asset", filename=f"{base}.{_files()[name][2]}.{ext}")


def init_app(app):
    @app.route("/assets/<filename>")
    def asset(filename):
        try:
            base, digest, ext = filename.rsplit(".", 2)
            data, mime, real = _files()[f"{base}.{ext}"]
        except (ValueError, KeyError):
            abort(404)
        if digest != real:
            abort(404)
        if request.if_none_match and real in request.if_none_match:
            resp = Response(status=304)
        else:
            resp = Response(data, mimetype=mime)
        resp.set_etag(real)
        resp.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
        return resp

    app.jinja_env.globals["asset_url"] = asset_url
