"""Báo cáo tháng — the monthly report to the province, and the ranking sent back to communes."""
from flask import Blueprint

bp = Blueprint("reports", __name__)

from . import routes  # noqa: E402,F401
