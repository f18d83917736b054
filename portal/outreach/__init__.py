"""Truyền thông, vận động — a commune's communication sessions and a village's list of the
people who still need a visit (services/outreach.py)."""
from flask import Blueprint

bp = Blueprint("outreach", __name__)


@bp.app_template_filter("refusal")
def refusal_filter(code):
    """A refusal reason's code as its Vietnamese label."""
    from ..services.outreach import reason_label
    return reason_label(code)


from . import routes  # noqa: E402,F401
