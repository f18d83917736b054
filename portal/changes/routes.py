"""Stops, suspensions, resumptions and moves: what the portal finds, the officer's
proposals, the deciding level's decisions, and the month's increases and decreases."""

from flask import abort, flash, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms.fields import SelectChoice

from ..extensions import db
from ..models import Area, Beneficiary, ChangeProposal
from ..services import changes, checks, clock, months, payments, scope
from ..services.areas import communes_below
from ..web import download, get_or_404, int_arg, month_arg, own_area, page_arg, render, roles_required, see_other, wants_fragment
from . import bp
from .forms import (CLAUSE_LABELS, KIND_LABELS, STATUS_LABELS, CandidateForm, DecideForm, DismissForm,
                    ProposeForm, WithdrawForm)

PROPOSERS = ("commune",)  # and admin, who passes every role check
VIEWERS = ("commune", "district", "chairman", "province")
PER_PAGE = 30


def campaign_month():
    return clock.open_month()


def _page(name="page"):
    return page_arg(name, PER_PAGE)


def _labels():
    return {"kinds": KIND_LABELS, "statuses": STATUS_LABELS, "clauses": CLAUSE_LABELS}


def can_propose():
    return current_user.role in PROPOSERS + ("admin",)


def is_deciding():
    """Whether the user's role decides changes of some period (``DECIDING_ROLES``: the
    district those effective before 07/2025, the commune chairman those from then)."""
    return current_user.role in changes.deciding_roles()


def _decide_form(c):
    return DecideForm(prefix=f"d{c.id}", data={"decision_date": clock.working_day()})


def _asked_month(name="month"):
    """``(month, error)``: the month asked in the query string (default the campaign
    month), or ``(None, message)`` when :func:`portal.web.month_arg` refuses it (not
    ``YYYY-MM``, before 01/2000, after the month after the open month)."""
    month, error = month_arg(name)
    return (None, error) if error else (month, None)


def _index(month, error=None, failed=None, status=200):
    """The page ``index`` shows, for the cases of ``month`` (``None``: a bad month, with
    ``error``). ``failed``: ``(change, form, message)`` of a decision sent without
    JavaScript that could not be recorded: its row shows the message and what was typed."""
    found, found_total, cpage = [], 0, _page("cp")
    if can_propose() and month:
        everything = changes.candidates(current_user, month)
        found_total = len(everything)
        found = everything[(cpage - 1) * 20:cpage * 20]
    deciding = is_deciding()
    pending, pending_total, dpage = [], 0, _page("dp")
    if deciding:
        pending, pending_total = changes.proposals(current_user, "proposed", dpage, 20,
                                                   decider=current_user.role)
    forms, errors = {c.id: _decide_form(c) for c in pending}, {}
    if failed is not None:
        c, form, message = failed
        if c not in pending:
            pending = [c] + pending
        forms[c.id], errors[c.id] = form, message
    page = _page()
    rows, total = changes.proposals(current_user, ("approved", "rejected") if deciding else None, page, PER_PAGE)
    return render("changes/index.html", month=month, asked=request.args.get("month", ""), error=error,
                  campaign=campaign_month(), found=found, found_total=found_total, cpage=cpage,
                  candidate_form=CandidateForm(), deciding=deciding, decider=changes.deciding_role(),
                  pending=pending, pending_total=pending_total, dpage=dpage, forms=forms, errors=errors,
                  rows=rows, total=total, page=page, per_page=PER_PAGE,
                  status=status, **_labels())


@bp.route("/changes")
@roles_required(*VIEWERS)
def index():
    """The commune officer's cases to propose (for ``?month=YYYY-MM``, default the
    campaign month; a bad month answers 400) and proposals, each of their own still
    waiting with a button to withdraw it; the deciding level's proposals waiting for a
    decision; everyone's decided ones. Loading it brings the records' statuses up to the
    decisions due by the current month (``changes.apply_due``)."""
    if changes.apply_due():
        db.session.commit()
    month, error = _asked_month()
    return _index(month, error, status=400 if error else 200)


@bp.route("/changes/candidates/<int:bid>", methods=["POST"])
@roles_required(*PROPOSERS)
def propose_candidate(bid):
    """Propose, in one click, a case the portal found (its kind, clause, reason and
    effective month as found); htmx swaps the case's row and gets the page's counts out of
    band (one case fewer to propose, the proposals' total), a plain POST comes back."""
    b = get_or_404(Beneficiary, bid)
    form = CandidateForm()
    found, change, error = None, None, None
    if form.validate_on_submit():
        everything = changes.candidates(current_user, form.month.data)
        found = next((c for c in everything if c["beneficiary"].id == b.id and c["kind"] == form.kind.data), None)
        if found is None:
            error = _("Trường hợp này không còn cần đề nghị (đã có đề nghị hoặc hồ sơ đã thay đổi).")
        else:
            try:
                change = changes.propose(b, found["kind"], current_user, found["effective_month"],
                                         clause=found["clause"], reason=found["reason"],
                                         source=found["source"])
                db.session.commit()
            except changes.ChangeError as e:
                db.session.rollback()
                error = str(e)
    else:
        error = _("Không gửi được đề nghị: tải lại trang rồi thử lại.")
    if not wants_fragment():
        if error:
            flash(error, "error")
        else:
            flash(_("Đã đề nghị: %(name)s.", name=b.full_name), "success")
        month = form.month.data if form.month.data and form.month.data != campaign_month() else None
        return see_other("changes.index", month=month)
    c = found or {"beneficiary": b, "kind": form.kind.data, "clause": None, "reason": "",
                  "effective_month": form.month.data or "", "source": ""}
    if change is not None:  # the case, and the page's counts out of band: one case fewer
        deciding = is_deciding()
        return render("changes/_proposed.html", c=c, change=change, error=None, month=form.month.data,
                      candidate_form=CandidateForm(), found_total=len(everything) - 1,
                      deciding=deciding, **_counts(deciding), **_labels())
    return render("changes/_candidate.html", c=c, change=change, error=error,
                  month=form.month.data or campaign_month(), candidate_form=CandidateForm(),
                  status=422 if error else 200, **_labels())


def _counts(deciding):
    """The proposals' counts the list shows (``changes/_counts.html``), for an answer's
    out-of-band titles: ``total`` (the decided ones for a deciding role, else all of the
    area's) and, for a deciding role, ``pending_total`` (those waiting for its decision).
    One count query each (``LIMIT 0``: no row read)."""
    out = {"total": changes.proposals(current_user, ("approved", "rejected") if deciding else None, 1, 0)[1]}
    if deciding:
        out["pending_total"] = changes.proposals(current_user, "proposed", 1, 0, decider=current_user.role)[1]
    return out


def _allowed_kinds(b):
    """The kinds to offer for ``b``, by the state its approved changes leave it in."""
    status = changes.planned_status(b) if b.status != "merged" else "merged"
    if status == "active":
        return ["stop", "suspend", "move_out"]
    if status == "suspended":
        return ["resume", "stop", "move_out"]
    return []


def _destinations(b):
    """The communes a person can move to: the other communes of the same district (or,
    after the 2025 reform, of the province), in force in the campaign month."""
    parent = b.commune.parent
    if parent is None:
        return []
    return [a for a in communes_below(parent, on=months.start(campaign_month())) if a.id != b.commune_id]


@bp.route("/changes/new/<int:bid>", methods=["GET", "POST"])
@roles_required(*PROPOSERS)
def new(bid):
    """Propose a stop or suspension (any case of Circular 02/2021 Art. 2 cl. 1–3), a
    resumption with or without arrears, or a move to another commune, for one person.
    ``?kind=&clause=&month=`` pre-fill the form (from a case the portal found)."""
    b = get_or_404(Beneficiary, bid)
    kinds = _allowed_kinds(b)
    asked = request.args.get("kind")
    form = ProposeForm(data={
        "kind": asked if asked in kinds else (kinds[0] if len(kinds) == 1 else ""),
        "clause": request.args.get("clause", ""),
        "effective_month": request.args.get("month") or months.add(campaign_month(), 1),
        "arrears": True, "to_commune_id": 0})
    form.kind.choices = [SelectChoice("", _("— chọn —"))] + [SelectChoice(k, KIND_LABELS[k]) for k in kinds]
    form.clause.choices = {
        "": [SelectChoice("", "—")],
        _("Thôi hưởng (khoản 1, 2)"): [SelectChoice(k, f"{k}. {CLAUSE_LABELS[k]}")
                                       for k, (kind, _r) in changes.CLAUSES.items() if kind == "stop"],
        _("Tạm dừng (khoản 3)"): [SelectChoice(k, f"{k}. {CLAUSE_LABELS[k]}")
                                  for k, (kind, _r) in changes.CLAUSES.items() if kind == "suspend"]}
    destinations = _destinations(b)
    form.to_commune_id.choices = [SelectChoice(0, _("— ngoài địa bàn / chưa rõ —"))] + [
        SelectChoice(a.id, a.full_name) for a in destinations]
    if form.validate_on_submit():
        to = next((a for a in destinations if a.id == form.to_commune_id.data), None)
        try:
            changes.propose(b, form.kind.data, current_user, form.effective_month.data,
                            clause=form.clause.data or None, note=form.note.data,
                            evidence=form.evidence.data, arrears=form.arrears.data,
                            arrears_from=form.arrears_from.data or None, to_commune=to)
            db.session.commit()
            flash(_("Đã gửi đề nghị %(kind)s: %(name)s.", kind=KIND_LABELS[form.kind.data], name=b.full_name),
                  "success")
            return see_other("registry.beneficiary", bid=b.id)
        except changes.ChangeError as e:
            db.session.rollback()
            target = {"to_commune": "to_commune_id"}.get(e.field, e.field) or "kind"
            getattr(form, target).errors = list(getattr(form, target).errors) + [str(e)]
    return render("changes/new.html", b=b, form=form, allowed=kinds, window=changes.effective_window(),
                  status=422 if form.errors else 200, **_labels())


@bp.route("/changes/<int:change_id>/decide", methods=["POST"])
@login_required
def decide(change_id):
    """Approve (decision number and date) or reject (a note) one proposal of the user's
    area: only the level that decides the proposal's effective month
    (``changes.decider_of``: the district before 07/2025, the commune chairman from then;
    another role answers 403). htmx swaps the proposal's row and gets the waiting and
    decided counts out of band. A plain POST comes back to
    the list with a confirmation, or, when the decision cannot be recorded, answers the
    list again (422) with the message in the proposal's row and what was typed kept."""
    if not is_deciding():
        abort(403)
    asked = db.session.get(ChangeProposal, change_id)
    if asked is not None and current_user.role != changes.decider_of(asked):
        abort(403)  # checked before the area, as for a role that never decides
    c = changes.get(current_user, change_id)
    if c is None:
        abort(404)
    form = DecideForm(prefix=f"d{c.id}")
    choice = request.form.get("decision")
    error = None
    if not form.validate_on_submit():
        error = " ".join(str(m) for errs in form.errors.values() for m in errs)
    elif choice not in ("approve", "reject"):
        error = _("Chọn Duyệt hoặc Không duyệt.")
    else:
        try:
            changes.decide(c, current_user, choice == "approve", form.decision_number.data,
                           form.decision_date.data, form.note.data)
            # The findings first (a stopped record is no duplicate any more), then the drafts.
            checks.recheck(checks.ids_touching(c.beneficiary))
            payments.refresh_for_decision(c, current_user)  # the drafts it touches follow
            db.session.commit()
        except changes.ChangeError as e:
            db.session.rollback()
            error = str(e)
    if not wants_fragment():
        if error:
            return _index(campaign_month(), failed=(c, form, error), status=422)
        flash(_("Đã ghi quyết định: %(name)s — %(status)s.", name=c.beneficiary.full_name,
                status=STATUS_LABELS[c.status]), "success")
        return see_other("changes.index")
    if error:
        return render("changes/_pending.html", c=c, form=form, error=error, status=422, **_labels())
    # The proposal, and the waiting and decided counts out of band.
    return render("changes/_decided.html", c=c, form=form, error=None, deciding=True,
                  **_counts(True), **_labels())


@bp.route("/changes/<int:change_id>/withdraw", methods=["POST"])
@roles_required(*PROPOSERS)
def withdraw(change_id):
    """The officer withdraws (rút) their own proposal while it waits for its decision.
    htmx swaps the proposal's row; a plain POST comes back to the list with a message."""
    c = changes.get(current_user, change_id)
    if c is None:
        abort(404)
    error = None
    if not WithdrawForm().validate_on_submit():
        error = _("Không rút được: tải lại trang rồi thử lại.")
    else:
        try:
            changes.withdraw(c, current_user)
            db.session.commit()
        except changes.ChangeError as e:
            db.session.rollback()
            error = str(e)
    return _row_answer(c, error, _("Đã rút đề nghị: %(name)s.", name=c.beneficiary.full_name))


def _row_answer(c, error, done):
    """A proposal's row after an officer's action on it: for htmx the row itself (422 with
    the error in it); for a plain POST back to the list with ``error`` or ``done`` flashed."""
    if not wants_fragment():
        flash(error or done, "error" if error else "success")
        return see_other("changes.index")
    return render("changes/_row.html", c=c, error=error, status=422 if error else 200, **_labels())


@bp.route("/changes/<int:change_id>/dismiss", methods=["POST"])
@roles_required(*PROPOSERS)
def dismiss(change_id):
    """The commune officer dismisses a change read from a list (a remark about a relative, a
    lost card …) with the reason; the person's lines are payable again (the drafts are
    refreshed). htmx swaps the proposal's row; a plain POST comes back to the list."""
    c = changes.get(current_user, change_id)
    if c is None:
        abort(404)
    form = DismissForm(prefix=f"x{c.id}")
    error = None
    if not form.validate_on_submit():
        error = " ".join(str(m) for errs in form.errors.values() for m in errs)
    else:
        try:
            changes.dismiss(c, current_user, form.reason.data)
            # The findings first (a stopped record is no duplicate any more), then the drafts.
            checks.recheck(checks.ids_touching(c.beneficiary))
            payments.refresh_for_decision(c, current_user)  # its lines are payable again
            db.session.commit()
        except changes.ChangeError as e:
            db.session.rollback()
            error = str(e)
    return _row_answer(c, error, _("Đã bỏ qua: %(name)s.", name=c.beneficiary.full_name))


def _month_view():
    """The month, area, program, communes and changes ``/changes/month`` shows, from the
    query string; ``error`` (and no month, no rows) when the month is not ``YYYY-MM``."""
    month, error = _asked_month()
    root = own_area()
    area = root
    area_id = int_arg("area")
    if area_id is not None:
        area = get_or_404(Area, area_id)
        if area.level not in ("province", "district", "commune"):
            abort(404)
    program = request.args.get("program") or None
    if program not in (None, "BTXH", "NCC", "HTXH"):
        program = None
    on = months.start(month or campaign_month())
    choices = communes_below(root, on=on) if root.level != "commune" else [root]
    if error:
        return month, area, root, program, [], choices, [], error
    rows = changes.month_changes(changes.commune_ids_under(area), month, program=program)
    shown = [a for a in choices if a.path.startswith(area.path)]
    extra = {c.commune_id for c in rows} - {a.id for a in shown}
    if extra:
        shown += db.session.scalars(select(Area).where(Area.id.in_(extra)).order_by(Area.code)).all()
    return month, area, root, program, rows, choices, shown, error


def _month_page(month_, area, root, program, rows, choices, shown, error):
    page = _page()
    shown_rows = rows[(page - 1) * 50:page * 50]
    return render("changes/month.html", month=month_, asked=request.args.get("month", ""), area=area,
                  root=root, program=program, rows=shown_rows, total=len(rows), page=page, per_page=50,
                  increases=sum(1 for c in rows if c.kind in changes.INCREASES),
                  choices=choices, shown=shown, counts=changes.counts_by_commune(rows), error=error,
                  linkable={c.beneficiary_id for c in shown_rows
                            if scope.can_see_area(current_user, c.beneficiary.commune)},
                  status=400 if error else 200, **_labels())


@bp.route("/changes/month")
@roles_required(*VIEWERS)
def month():
    """Phát sinh tăng / giảm of a month in an area: increases (new, resumed, moved in)
    then decreases (stopped, suspended, deaths, moved out), each with its reason and
    decision; counts per commune. A bad month answers 400 with the message and the form."""
    return _month_page(*_month_view())


@bp.route("/changes/month.xlsx")
@roles_required(*VIEWERS)
def month_xlsx():
    """The same as ``.xlsx`` in the administrative form; a bad month answers the page
    with its message (400), never another month's workbook."""
    view = _month_view()
    month_, area, root, program, rows, choices, shown, error = view
    if error:
        return _month_page(*view)
    data = changes.month_workbook(area, month_, rows, shown, program)
    return download(data, f"tang-giam-{area.code or area.id}-{month_}{'-' + program if program else ''}.xlsx")
