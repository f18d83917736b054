from flask import abort, current_app, flash, jsonify, make_response, request
from flask_wtf.csrf import generate_csrf
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from wtforms.fields import SelectChoice

from ..extensions import db
from ..idempotent import idempotent
from ..models import Area, Beneficiary, Event, Household
from ..services import checks, people, progress, scope
from ..services.areas import commune_in, member_units
from ..services.review import (CLOSED, Conflict, ReviewError, current_values, households_of_village,
                               last_move, move_to_household, move_undoable, others_in_village,
                               save_review, search_clause, split_household, undo_move, worst_first)
from ..web import (PEOPLE_READERS, get_or_404, int_arg, page_arg, render, roles_required, see_other,
                   wants_fragment)
from . import bp
from .forms import GroupForm, ReviewForm, SearchForm

EDITORS = ("commune",)  # and admin, who passes every role check


def can_edit():
    return current_user.role in EDITORS + ("admin",)


def review_form(b, formdata=None):
    values = current_values(b)
    if b.reviewed_at:  # editing a recorded visit keeps its day; a new visit sets a new one
        values["visited_on"] = b.reviewed_at.date()
    form = ReviewForm(formdata=formdata, prefix=f"b{b.id}", data=values)
    if formdata is None:
        form.version.data = b.version
    return form


def commune_counts(commune):
    """Progress of the commune the records of ``commune`` belong to in the open month (an
    old commune merged in 2025: the new one), for the bars on the household page."""
    return progress.commune_progress(current_user, [in_force(commune)])[0]


def in_force(commune):
    return commune_in(commune, progress.campaign_month())


@bp.route("/villages/<int:village_id>")
@roles_required(*PEOPLE_READERS)
def village(village_id):
    """A village's households, worst first (not yet reviewed, then without an account)."""
    v = get_or_404(Area, village_id, level="village")
    per_page = current_app.config["PAGE_SIZE"]
    page, show = page_arg(per_page=per_page), _show()
    since = progress.campaign_start()
    tally = people.counts(current_user, since, village_id=v.id)
    if show:
        rows, total = people.people(current_user, since, show, page, per_page, village_id=v.id), tally[show]
    else:
        rows, total = households_of_village(v.id, page, per_page, current_user)
    return render("review/village.html", village=v, rows=rows, total=total, page=page,
                  per_page=per_page, show=show, tally=tally)


def _show():
    """The filter ``?show=`` asks (one of ``people.FILTERS``), ``None`` for none or another."""
    show = request.args.get("show")
    return show if show in people.FILTERS else None


@bp.route("/communes/<int:area_id>/people")
@roles_required(*PEOPLE_READERS)
def commune_people(area_id):
    """A commune's people (those of the old communes merged into it too) that ``user`` may
    see, by name, 50 a page, filtered by ``?show=`` (not visited, no account, refuses,
    blocked) with the count of each filter; each row opens the person in their household.
    A commune outside the user's area answers 404."""
    area = get_or_404(Area, area_id, level="commune")
    per_page = current_app.config["PAGE_SIZE"]
    page, show = page_arg(per_page=per_page), _show()
    since, units = progress.campaign_start(), member_units(area, progress.campaign_month())
    tally = people.counts(current_user, since, unit_ids=units)
    rows = people.people(current_user, since, show, page, per_page, unit_ids=units)
    return render("review/people.html", area=area, rows=rows, total=tally[show or "all"], page=page,
                  per_page=per_page, show=show, tally=tally)


def _household_context(h):
    # Only the members the user may see: a household of an old commune may hold a record
    # of the commune it became part of, outside a former district's area.
    members = db.session.scalars(
        select(Beneficiary).where(Beneficiary.household_id == h.id, Beneficiary.status != "merged",
                                  scope.visible(current_user))
        .options(selectinload(Beneficiary.account)).order_by(*worst_first())).all()
    forms = {b.id: review_form(b) for b in members if b.status not in CLOSED} if can_edit() else {}
    group = None
    if can_edit() and members:
        group = GroupForm(prefix="g")
        group.beneficiary_id.choices = [
            SelectChoice(o.id, f"{o.full_name} ({o.birth_year or '?'})") for o in others_in_village(members[0])]
    return dict(household=h, members=members, forms=forms, group=group, moved=_moved(members),
                cp=commune_counts(h.commune), goals=progress.targets(in_force(h.commune)))


def _moved(members):
    """The move just made (``?moved=<event id>``, set by a split or a grouping) when one of
    ``members`` is its person and it can still be undone: ``(event, person)``, else ``None``."""
    event_id = int_arg("moved")
    if not can_edit() or not event_id:
        return None
    event = db.session.get(Event, event_id)
    b = next((m for m in members if event is not None and m.id == event.beneficiary_id), None)
    if b is None or event.user_id != current_user.id or move_undoable(event, b):
        return None
    return event, b


@bp.route("/households/<int:household_id>")
@roles_required(*PEOPLE_READERS)
def household(household_id):
    """A household and one small review form per member."""
    h = get_or_404(Household, household_id)
    return render("review/household.html", **_household_context(h))


@bp.route("/beneficiaries/<int:bid>/review", methods=["POST"])
@roles_required(*EDITORS)
@idempotent
def save(bid):
    """Save one member's visit; htmx gets the card and the commune's progress (out of band).

    Applied once per idempotency key: the key is claimed with the change, and the answer
    stored just after the commit, so a retry of a save whose answer was lost gets the same
    card (one arriving in the instant between gets the page as it is now)."""
    b = get_or_404(Beneficiary, bid)
    form = review_form(b, request.form)
    conflict = None
    if form.validate():
        try:
            save_review(b, current_user, form.values(), form.version.data or None,
                        visited_on=form.visited_on.data, note=form.note.data,
                        earliest=progress.campaign_start().date())
            checks.recheck(checks.ids_touching(b))
        except ReviewError as e:
            db.session.rollback()
            for f, msg in e.errors.items():
                getattr(form, f).errors = list(getattr(form, f).errors) + [msg]
        except (Conflict, StaleDataError) as e:
            db.session.rollback()
            b = get_or_404(Beneficiary, bid)
            conflict = e if isinstance(e, Conflict) else Conflict(b, current_values(b), form.values())
            form.version.data = b.version  # a second save, knowingly, goes through
        else:
            # Committed before the answer is rendered: the write lock (SQLite has one) is not
            # held while the commune's progress is counted; the answer is stored just after.
            db.session.commit()
            if wants_fragment():
                return make_response(render(
                    "review/_saved.html", b=b, form=review_form(b), saved=True,
                    cp=commune_counts(b.commune), goals=progress.targets(in_force(b.commune))))
            flash(_("Đã lưu rà soát: %(name)s.", name=b.full_name), "success")
            return see_other("review.household", household_id=b.household_id, _anchor=f"b{b.id}")
    # Errors or a conflict: the same card with the user's input kept, status 422 / 409.
    status = 409 if conflict else 422
    if wants_fragment():
        return render("review/_person.html", b=b, form=form, conflict=conflict, status=status)
    ctx = _household_context(b.household)
    ctx["forms"][b.id] = form
    return render("review/household.html", conflict=conflict, conflict_id=b.id, status=status, **ctx)


def _confirm_page(b, source, target):
    """The confirmation of a household move: who moves from which household to which
    (``target`` ``None``: a new household of their own)."""
    others = [m for m in source.members if m.status != "merged" and m.id != b.id]
    return render("review/move_confirm.html", b=b, source=source, target=target, others=others,
                  target_size=len([m for m in target.members if m.status != "merged"]) if target else 0)


@bp.route("/households/<int:household_id>/members", methods=["GET"])
@roles_required(*EDITORS)
def confirm_add_member(household_id):
    """Ask before grouping a person (``?g-beneficiary_id=``) into this household: the
    household page's form comes here (with or without JavaScript), the answer posts."""
    h = get_or_404(Household, household_id)
    bid = int_arg("g-beneficiary_id")
    if bid is None:  # no one chosen: the household page, with its grouping form
        return render("review/household.html", **_household_context(h))
    other = get_or_404(Beneficiary, bid)
    if other.household_id == h.id:
        flash(_("%(name)s đã ở trong hộ này.", name=other.full_name), "info")
        return see_other("review.household", household_id=h.id)
    return _confirm_page(other, other.household, h)


@bp.route("/households/<int:household_id>/members", methods=["POST"])
@roles_required(*EDITORS)
@idempotent
def add_member(household_id):
    """Group another person of the village into this household (confirmed on
    ``confirm_add_member``); the household page then offers to undo it."""
    h = get_or_404(Household, household_id)
    form = GroupForm(prefix="g")
    if form.validate_on_submit():
        other = get_or_404(Beneficiary, form.beneficiary_id.data)
        if other.household_id == h.id:
            flash(_("%(name)s đã ở trong hộ này.", name=other.full_name), "info")
            return see_other("review.household", household_id=h.id)
        try:
            move_to_household(other, h, current_user)
            db.session.flush()
            moved = last_move(other)
            db.session.commit()
            flash(_("Đã ghép %(name)s vào hộ.", name=other.full_name), "success")
            return see_other("review.household", household_id=h.id, moved=moved.id, _anchor="moved")
        except ReviewError as e:
            db.session.rollback()
            flash(" ".join(str(m) for m in e.errors.values()), "error")
    return see_other("review.household", household_id=h.id)


def _alone(b):
    return len([m for m in b.household.members if m.status != "merged"]) <= 1


@bp.route("/beneficiaries/<int:bid>/split", methods=["GET"])
@roles_required(*EDITORS)
def confirm_split(bid):
    """Ask before moving one person out into a household of their own."""
    b = get_or_404(Beneficiary, bid)
    if _alone(b):
        flash(_("%(name)s đã ở một hộ riêng.", name=b.full_name), "info")
        return see_other("review.household", household_id=b.household_id)
    return _confirm_page(b, b.household, None)


@bp.route("/beneficiaries/<int:bid>/split", methods=["POST"])
@roles_required(*EDITORS)
@idempotent
def split(bid):
    """Move one person out into a household of their own (confirmed on ``confirm_split``);
    the new household's page then offers to undo it."""
    b = get_or_404(Beneficiary, bid)
    if _alone(b):
        flash(_("%(name)s đã ở một hộ riêng.", name=b.full_name), "info")
        return see_other("review.household", household_id=b.household_id)
    h = split_household(b, current_user)
    db.session.flush()
    moved = last_move(b)
    db.session.commit()
    flash(_("Đã tách %(name)s thành hộ riêng.", name=b.full_name), "success")
    return see_other("review.household", household_id=h.id, moved=moved.id, _anchor="moved")


@bp.route("/household-moves/<int:event_id>/undo", methods=["POST"])
@roles_required(*EDITORS)
@idempotent
def undo_household_move(event_id):
    """Undo a split or a grouping (the ``Event`` of the move): the person goes back to the
    household they were in, and a household the split created, now empty, is deleted. Only
    while nothing has moved them since; otherwise a message says so and nothing changes."""
    event = db.session.get(Event, event_id) or abort(404)
    if event.beneficiary_id is None:
        abort(404)
    b = get_or_404(Beneficiary, event.beneficiary_id)
    try:
        back = undo_move(event, b, current_user)
    except ReviewError as e:
        db.session.rollback()
        flash(" ".join(str(m) for m in e.errors.values()), "error")
        return see_other("review.household", household_id=b.household_id)
    db.session.commit()
    flash(_("Đã hoàn tác: %(name)s trở lại hộ %(head)s.", name=b.full_name, head=back.head_name), "success")
    return see_other("review.household", household_id=back.id)


@bp.route("/csrf-token")
@login_required
def csrf_token():
    """A fresh CSRF token for the saves replayed from the device's outbox, and whose they
    may be: ``{"token": str, "user": username}``. Without a session the login redirect
    answers (the outbox then asks to log in again)."""
    response = jsonify(token=generate_csrf(), user=current_user.username)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/search")
@roles_required(*PEOPLE_READERS)
def search():
    """Find people by name without diacritics or by ID, within the user's area."""
    form = SearchForm(request.args)
    results, clause = [], search_clause(form.q.data)
    if clause is not None:
        # The ids first, then the 50 records with their commune and village. The user's
        # communes are read first and named: with one commune the planner walks its names in
        # order from ix_beneficiary_commune_name alone (behind a subquery it walked every
        # name of the registry, 5 s at 1,000,000).
        q = select(Beneficiary.id).where(clause, Beneficiary.status != "merged")
        units = scope.area_ids(current_user)
        if units is not None:
            communes = db.session.scalars(select(Area.id).where(Area.id.in_(units), Area.level == "commune")).all()
            q = q.where(Beneficiary.commune_id == communes[0] if len(communes) == 1
                        else Beneficiary.commune_id.in_(communes))
        ids = db.session.scalars(q.order_by(Beneficiary.name_folded).limit(50)).all()
        people = {b.id: b for b in db.session.scalars(
            select(Beneficiary).where(Beneficiary.id.in_(ids))
            .options(selectinload(Beneficiary.commune), selectinload(Beneficiary.village)))}
        results = [people[i] for i in ids]
    return render("review/search.html", "review/_results.html", form=form, results=results,
                  searched=clause is not None)
