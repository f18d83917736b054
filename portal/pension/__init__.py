"""Hưu trí xã hội — the commune's transfers of elderly BTXH beneficiaries to the social
pension (HTXH, Decree 176/2025/NĐ-CP)."""
from flask import Blueprint

bp = Blueprint("pension", __name__)

from . import routes  # noqa: E402,F401
