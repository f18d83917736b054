"""Phiếu giấy — the paper fallback of the review: a village's printable sheet and the page
that takes the filled sheet back, line by line, by each line's code."""
from flask import Blueprint

bp = Blueprint("paper", __name__)

from . import routes  # noqa: E402,F401
