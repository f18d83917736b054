from flask_login import login_required

from . import bp


@bp.route("/reports/monthly")
@login_required
def monthly():
    return "TODO"
