"""Cổng chi trả không dùng tiền mặt — the portal's application factory."""
import os

from flask_babel import gettext as _
from flask import Flask, render_template

from .config import Config, TestConfig
from .extensions import babel, compress, csrf, db, htmx, limiter, login_manager, migrate, sqlite_pragmas


def create_app(test_config=None):
    """Build the app. ``test_config``: a dict of overrides; its presence selects ``TestConfig``."""
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    config_class = TestConfig if test_config is not None else Config
    app.config.from_object(config_class(app.instance_path))
    if test_config:
        app.config.update(test_config)
    if app.config["PROXY_COUNT"]:
        # Behind a reverse proxy every request comes from the proxy's address, and the
        # per-address login limit would count the whole province as one office: take the
        # client's address (and scheme) from what that many proxies forward.
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)

    db.init_app(app)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":  # a file, not memory
        from sqlalchemy import event
        with app.app_context():
            event.listen(db.engine, "connect", sqlite_pragmas)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"),
                     render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    compress.init_app(app)
    htmx.init_app(app)
    from .web import BoundedInt, select_locale
    # Before any route is added: a rule compiles its converters when it is added.
    app.url_map.converters["int"] = BoundedInt
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    from .sheets import guard, reader as sheet_reader
    # Every upload is read in a child process under this ceiling (portal/sheets/guard.py).
    sheet_reader.configure(guard.Limits(app.config["READER_MEMORY_MB"], app.config["READER_SECONDS"]))

    from . import models  # noqa: F401  (register the tables)
    from .auth import bp as auth_bp
    from .review import bp as review_bp
    from .progress import bp as progress_bp
    from .imports import bp as imports_bp
    from .registry import bp as registry_bp
    from .admin import bp as admin_bp
    from .quality import bp as quality_bp
    from .police import bp as police_bp
    from .payments import bp as payments_bp
    from .changes import bp as changes_bp
    from .reports import bp as reports_bp
    from .paper import bp as paper_bp
    from .pension import bp as pension_bp
    from .jobs import bp as jobs_bp
    from .outreach import bp as outreach_bp

    for bp in (auth_bp, review_bp, progress_bp, imports_bp, registry_bp, admin_bp, quality_bp,
               police_bp, payments_bp, changes_bp, reports_bp, paper_bp, pension_bp, jobs_bp,
               outreach_bp):
        app.register_blueprint(bp)

    from . import assets, cli, idempotent, queue, web
    from .services import jobs
    queue.init_app(app, jobs.run, jobs.recover)
    assets.init_app(app)
    web.init_app(app)
    idempotent.init_app(app)
    cli.init_app(app)

    @app.errorhandler(404)
    def not_found(e):
        return render_template("errors.html", code=404, message=_("Không tìm thấy trang hoặc hồ sơ.")), 404

    @app.errorhandler(403)
    def forbidden(e):
        return render_template("errors.html", code=403, message=_("Bạn không có quyền xem trang này.")), 403

    @app.errorhandler(500)
    def server_error(e):
        return render_template("errors.html", code=500, message=_(
            "Có lỗi phía máy chủ; chưa có gì được ghi. Vui lòng thử lại; nếu vẫn lỗi, báo quản trị.")), 500

    @app.errorhandler(429)
    def too_many(e):
        return render_template("errors.html", code=429,
                               message=_("Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau ít phút.")), 429

    return app
