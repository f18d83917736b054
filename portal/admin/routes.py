from flask import flash
from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import Target
from ..services import progress
from ..web import render, roles_required, see_other
from . import bp
from .forms import target_form


@bp.route("/admin/targets", methods=["GET", "POST"])
@roles_required("admin")
def targets():
    """Set the campaign's target rates (percent) per program."""
    form = target_form(progress.targets())
    if form.validate_on_submit():
        for (program, indicator) in progress.DEFAULT_TARGETS:
            value = form[f"{program}__{indicator}"].data
            row = db.session.scalar(select(Target).where(
                Target.program == program, Target.indicator == indicator, Target.area_id.is_(None)))
            if row is None:
                row = Target(program=program, indicator=indicator)
                db.session.add(row)
            row.percent = value
        db.session.commit()
        flash(_("Đã lưu chỉ tiêu."), "success")
        return see_other("admin.targets")
    return render("admin/targets.html", form=form, labels=progress.INDICATOR_LABELS,
                  keys=list(progress.DEFAULT_TARGETS), status=422 if form.errors else 200)
