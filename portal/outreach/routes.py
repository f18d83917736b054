from flask import flash, make_response, request
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields import SelectChoice

from ..extensions import db
from ..idempotent import idempotent
from ..models import Area
from ..services import outreach, progress, scope
from ..services.areas import member_units, village_label
from ..web import (OUTREACH_READERS, download, get_or_404, page_arg, render, roles_required, see_other,
                   wants_fragment)
from . import bp
from .forms import SessionForm

WRITERS = ("commune",)  # and admin, who passes every role check


def can_write():
    return current_user.role in WRITERS + ("admin",)


def _commune(area_id):
    area = get_or_404(Area, area_id, level="commune")
    return area


def _units(area):
    return member_units(area, progress.campaign_month())


def _session_form(area, formdata=None):
    form = SessionForm(formdata=formdata, prefix="s")
    form.village_id.choices = [SelectChoice("", _("Cả xã"))] + [
        SelectChoice(v.id, village_label(v, area)) for v in outreach.villages_of(_units(area))]
    if formdata is None:
        form.held_on.data = outreach.today_default()
    return form


def _sessions_context(area, form=None):
    page = page_arg(per_page=outreach.SESSIONS_PER_PAGE)
    rows, total = outreach.sessions_page(area.id, page)
    totals = outreach.session_totals(area.id, progress.campaign_month(), progress.campaign_start().date())
    return dict(area=area, rows=rows, total=total, page=page, per_page=outreach.SESSIONS_PER_PAGE,
                totals=totals, form=form if form is not None else (_session_form(area) if can_write() else None))


@bp.route("/communes/<int:area_id>/outreach")
@roles_required(*OUTREACH_READERS)
def sessions(area_id):
    """A commune's communication sessions, newest first, with the form to add one."""
    area = _commune(area_id)
    return render("outreach/sessions.html", "outreach/_sessions.html", **_sessions_context(area))


@bp.route("/communes/<int:area_id>/outreach", methods=["POST"])
@roles_required(*WRITERS)
@idempotent
def add_session(area_id):
    """Record a session; 303 back to the list (htmx: the list and a fresh form), or the
    form with its errors (422)."""
    area = _commune(area_id)
    form = _session_form(area, request.form)
    if form.validate():
        village = None
        if form.village_id.data:
            village = db.session.get(Area, form.village_id.data)
            if village is None or village.level != "village" or village.parent_id not in _units(area):
                form.village_id.errors = [_("Chọn một thôn của xã.")]
        if not form.village_id.errors:
            try:
                outreach.add_session(area, current_user, form.held_on.data, form.place.data,
                                     form.attendees.data, form.topic.data, village=village,
                                     today=outreach.today_default())
            except outreach.SessionError as e:
                db.session.rollback()
                for f, msg in e.errors.items():
                    getattr(form, f).errors = list(getattr(form, f).errors) + [msg]
            else:
                db.session.commit()
                if wants_fragment():
                    return make_response(render("outreach/_sessions.html", saved=True, **_sessions_context(area)))
                flash(_("Đã ghi buổi truyền thông."), "success")
                return see_other("outreach.sessions", area_id=area.id)
    return render("outreach/sessions.html", "outreach/_sessions.html", status=422,
                  **_sessions_context(area, form))


@bp.route("/villages/<int:village_id>/visits")
@roles_required(*OUTREACH_READERS)
def visits(village_id):
    """Who in a village still needs a visit (not yet reviewed, refusing with a revisit due,
    without an account), by household; ``?print=1`` the A4 sheet, ``?format=xlsx`` the
    whole list as a workbook."""
    v = get_or_404(Area, village_id, level="village")
    today = outreach.today_default()
    since = progress.campaign_start()
    visible = scope.visible(current_user)
    if request.args.get("format") == "xlsx":
        # A village holds at most a few thousand people: built in the request, as the paper
        # sheet's workbook is (services/paper.workbook).
        groups, _total = outreach.needs_visit(v.id, visible, since, today, 1, 10**6)
        return download(outreach.visits_workbook(v, groups, since, today),
                        f"can-van-dong-{v.id}-{today:%Y%m%d}.xlsx")
    page = page_arg(per_page=outreach.VISITS_PER_PAGE)
    groups, total = outreach.needs_visit(v.id, visible, since, today, page)
    return render("outreach/visits.html", village=v, groups=groups, total=total, page=page,
                  per_page=outreach.VISITS_PER_PAGE, today=today, since=since, why=outreach.why,
                  printing=request.args.get("print") == "1")

