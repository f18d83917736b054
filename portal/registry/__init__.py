"""Sổ đối tượng — a beneficiary's page and history, exports."""
from flask import Blueprint

bp = Blueprint("registry", __name__)

from . import routes  # noqa: E402,F401
