"""Xác minh — the commune police's verification round against the population database."""
from flask import Blueprint

bp = Blueprint("police", __name__)

from . import routes  # noqa: E402,F401
