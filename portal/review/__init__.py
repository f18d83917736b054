"""Rà soát — door-to-door review of households and beneficiaries."""
from flask import Blueprint

bp = Blueprint("review", __name__)

from . import routes  # noqa: E402,F401
