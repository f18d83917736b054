"""Quản trị — targets and users."""
from flask import Blueprint

bp = Blueprint("admin", __name__)

from . import routes, users  # noqa: E402,F401
