from flask_login import login_required

from . import bp


@bp.route("/changes")
@login_required
def index():
    return "TODO"
