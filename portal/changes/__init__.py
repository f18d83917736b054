"""Phát sinh tăng / giảm — stops, suspensions, resumptions, moves: proposed, decided, listed."""
from flask import Blueprint

bp = Blueprint("changes", __name__)

from . import routes  # noqa: E402,F401
