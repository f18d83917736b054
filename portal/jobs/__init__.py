"""Việc nền — the page of each background job: its progress, its error, its result."""
from flask import Blueprint

bp = Blueprint("jobs", __name__)

from . import routes  # noqa: E402,F401
