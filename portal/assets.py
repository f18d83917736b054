"""Static assets served from our own origin under fingerprinted URLs, cached immutable.

htmx comes from the pinned PyPI package ``django-js-lib-htmx`` (it carries only htmx's
files); nothing third-party is committed. Each URL holds a hash of the file's content,
so a new version gets a new URL and browsers may keep the old one for a year.

Our one script, ``app.js`` (the offline outbox), is one of them. The service worker is
not: it must live at ``/sw.js`` to control the whole site, and the browser must see a new
version at once, so it is revalidated (``no-cache`` + ETag). It names the fingerprinted
assets it keeps, so a new asset makes a new service worker.
"""
import gzip
import hashlib
import json
from functools import cache
from importlib import resources

import brotli
from flask import Response, abort, request, url_for
from flask.sessions import SecureCookieSessionInterface

ONE_YEAR = 31536000


@cache
def _files():
    """name → (bytes, mimetype, hash)."""
    sources = {
        "htmx.min.js": (resources.files("js_lib_htmx") / "static" / "htmx" / "htmx.min.js",
                        "text/javascript"),
        "app.css": (resources.files("portal") / "static" / "app.css", "text/css"),
        "app.js": (resources.files("portal") / "static" / "app.js", "text/javascript"),
    }
    out = {}
    for name, (path, mime) in sources.items():
        data = path.read_bytes()
        # Compressed once, at the best settings, instead of on every request.
        out[name] = (data, mime, hashlib.sha256(data).hexdigest()[:12], _encode(data))
    return out


def _encode(data):
    return {"br": brotli.compress(data, quality=11), "gzip": gzip.compress(data, 9, mtime=0)}


@cache
def service_worker(root):
    """The service worker's source for an app mounted at ``root`` (``""`` at the site's
    root): ``(bytes, etag, encoded)``, the assets' fingerprinted URLs written in."""
    files = _files()
    urls = [f"{root}/assets/{n.rsplit('.', 1)[0]}.{files[n][2]}.{n.rsplit('.', 1)[1]}"
            for n in ("app.css", "htmx.min.js", "app.js")]
    source = (resources.files("portal") / "static" / "sw.js").read_bytes()
    version = hashlib.sha256(source + "".join(urls).encode()).hexdigest()[:12]
    data = (source.replace(b"/*assets*/[]", json.dumps(urls).encode())
            .replace(b"/*version*/", version.encode()))
    return data, version, _encode(data)


def asset_url(name):
    """``asset_url("htmx.min.js")`` → ``/assets/htmx.min.3f2a….js``."""
    base, ext = name.rsplit(".", 1)
    return url_for("asset", filename=f"{base}.{_files()[name][2]}.{ext}")


class _NoSessionForAssets(SecureCookieSessionInterface):
    """No session on an asset request: otherwise a hook that reads the session (Flask-Login's
    remember cookie) makes the response ``Vary: Cookie``, and a browser fetches the
    stylesheet and htmx again after each login."""

    def open_session(self, app, request):
        if request.path.startswith("/assets/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app):
    app.session_interface = _NoSessionForAssets()
    @app.route("/assets/<filename>")
    def asset(filename):
        try:
            base, digest, ext = filename.rsplit(".", 2)
            data, mime, real, encoded = _files()[f"{base}.{ext}"]
        except (ValueError, KeyError):
            abort(404)
        if digest != real:
            abort(404)
        if request.if_none_match and real in request.if_none_match:
            resp = Response(status=304)
        else:
            accepted = request.accept_encodings
            encoding = next((e for e in ("br", "gzip") if accepted[e]), None)
            resp = Response(encoded[encoding] if encoding else data, mimetype=mime)
            if encoding:
                resp.headers["Content-Encoding"] = encoding
        resp.vary.add("Accept-Encoding")
        resp.set_etag(real)
        resp.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
        return resp

    @app.route("/sw.js")
    def service_worker_script():
        """The service worker (``portal/static/sw.js``): revalidated on every visit."""
        data, etag, encoded = service_worker(request.script_root)
        if request.if_none_match and etag in request.if_none_match:
            resp = Response(status=304)
        else:
            encoding = next((e for e in ("br", "gzip") if request.accept_encodings[e]), None)
            resp = Response(encoded[encoding] if encoding else data, mimetype="text/javascript")
            if encoding:
                resp.headers["Content-Encoding"] = encoding
        resp.vary.add("Accept-Encoding")
        resp.set_etag(etag)
        resp.headers["Cache-Control"] = "no-cache"
        resp.headers["Service-Worker-Allowed"] = (request.script_root or "") + "/"
        return resp

    app.jinja_env.globals["asset_url"] = asset_url
