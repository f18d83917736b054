from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import and_, case, func, select

from ..extensions import db
from ..models import Area, Beneficiary
from ..services import progress
from ..services.areas import communes_below
from ..web import get_or_404, render
from . import bp


@bp.route("/overview")
@login_required
def overview():
    """Every commune of the user's area with its progress, laggards first."""
    area = current_user.area
    if area is None:
        abort(404)
    communes = communes_below(area, on=progress.campaign_day())
    rows = progress.commune_progress(current_user, communes)
    goals = progress.targets(area, progress.campaign_month())
    rows.sort(key=lambda cp: progress.laggard_key(cp, goals))
    return render("progress/overview.html", area=area, rows=rows, goals=goals,
                  totals=progress.totals(rows), programs=progress.PROGRAMS)


@bp.route("/communes/<int:area_id>")
@login_required
def commune(area_id):
    """A commune's progress bars and its villages, the ones with most left to do first."""
    area = get_or_404(Area, area_id)
    if area.level != "commune":
        abort(404)
    cp = progress.commune_progress(current_user, [area])[0]
    not_reviewed = func.sum(case((Beneficiary.reviewed_at.is_(None), 1), else_=0))
    without = func.sum(case((Beneficiary.account_status != "has_account", 1), else_=0))
    villages = db.session.execute(
        select(Area, func.count(Beneficiary.id), not_reviewed, without)
        .join(Beneficiary, and_(Beneficiary.village_id == Area.id, Beneficiary.status != "merged"))
        .where(Area.parent_id == area.id, Area.level == "village")
        .group_by(Area.id).order_by(not_reviewed.desc(), Area.name_folded)).all()
    return render("progress/commune.html", area=area, cp=cp,
                  goals=progress.targets(area, progress.campaign_month()),
                  villages=villages)
