"""Chất lượng dữ liệu — "đúng, đủ, sạch, sống": the state of the data and the fixes."""
from flask import Blueprint

bp = Blueprint("quality", __name__)

from . import routes  # noqa: E402,F401
