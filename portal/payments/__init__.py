"""Danh sách chi trả — the monthly payment list: build, check, lock, export."""
from flask import Blueprint

bp = Blueprint("payments", __name__)

from . import routes  # noqa: E402,F401
