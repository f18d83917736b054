from datetime import date

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from ..models import Area, Beneficiary
from ..services import paper, progress
from ..services.review import Conflict, ReviewError, current_values
from ..web import get_or_404, render, roles_required, see_other, wants_fragment
from . import bp
from .forms import CodeForm, LineForm

VIEWERS = ("commune", "police", "district")  # and admin
EDITORS = ("commune",)  # as the door-to-door review


def _village(village_id):
    v = get_or_404(Area, village_id)
    if v.level != "village":
        abort(404)
    return v


@bp.route("/villages/<int:village_id>/paper")
@roles_required(*VIEWERS)
def sheet(village_id):
    """The village's review sheet to print on A4: one line per active beneficiary, by household."""
    v = _village(village_id)
    s = paper.sheet(v, request.args.get("page", 1, type=int))
    return render("paper/sheet.html", village=v, sheet=s, today=date.today(), short_id=paper.short_id,
                  can_enter=current_user.role in EDITORS + ("admin",))


def _line_form(b, on, formdata=None):
    form = LineForm(formdata=formdata, prefix="l",
                    data=dict(current_values(b), visited_on=on, code=paper.code_for(b.id)))
    if formdata is None:
        form.version.data = b.version
    return form


def _errors(lookup, line):
    """``[(field id, message), …]`` for the one error summary above both forms; errors of
    the line's hidden fields point at the code form's visible ones."""
    out = [(f.id, e) for f in lookup for e in f.errors]
    if line is not None:
        hidden = {"visited_on": lookup.on.id, "code": lookup.code.id, "version": lookup.code.id}
        out += [(hidden.get(f.short_name, f.id), e) for f in line for e in f.errors]
    return out


def _entry_page(v, lookup, b=None, line=None, refused=None, conflict=None, status=200):
    on = None if lookup.on.errors else lookup.on.data
    ctx = dict(village=v, lookup=lookup, b=b, line=line, refused=refused, conflict=conflict,
               errors=_errors(lookup, line), on=on)
    if wants_fragment():
        return render("paper/_entry.html", status=status, **ctx)
    ctx.update(pending=paper.pending(v, on or progress.campaign_start().date()),
               entered=paper.entered(v, on))
    return render("paper/entry.html", status=status, **ctx)


@bp.route("/villages/<int:village_id>/paper/entry")
@roles_required(*EDITORS)
def entry(village_id):
    """Take a filled sheet back: the sheet's date and a line's code open that line's form,
    with the person's name to confirm."""
    v = _village(village_id)
    lookup = CodeForm(request.args)
    lookup.validate()
    if not lookup.code.data:
        return _entry_page(v, lookup, status=422 if lookup.on.errors else 200)
    on = lookup.on.data
    if on is None and not lookup.on.errors:
        lookup.on.errors = [_("Nhập ngày ghi trên phiếu trước khi nhập mã.")]
    elif on is not None and (problem := paper.sheet_date_problem(on)):
        lookup.on.errors = [str(problem)]
    try:
        b = paper.find_line(current_user, v, lookup.code.data)
    except paper.CodeError as e:
        lookup.code.errors = [str(e)]
        return _entry_page(v, lookup, status=422)
    if lookup.on.errors:
        return _entry_page(v, lookup, b=b, status=422)
    refused = paper.refusal(b, on)
    if refused:
        return _entry_page(v, lookup, b=b, refused=refused, status=422)
    return _entry_page(v, lookup, b=b, line=_line_form(b, on))


@bp.route("/villages/<int:village_id>/paper/entry", methods=["POST"])
@roles_required(*EDITORS)
def save(village_id):
    """Save one line as a visit on the sheet's date, through the door-to-door review's
    service; then ready for the next code (htmx: the next empty form and the line added to
    the list; plain: back to the entry page with a message)."""
    v = _village(village_id)
    form = LineForm(prefix="l")
    lookup = CodeForm(formdata=None, data={"on": form.visited_on.data, "code": form.code.data})
    try:
        b = paper.find_line(current_user, v, form.code.data)
    except paper.CodeError as e:
        lookup.code.errors = [str(e)]
        return _entry_page(v, lookup, status=422)
    refused = conflict = None
    if form.validate():
        try:
            paper.save_line(b, current_user, form.values(), form.version.data or None,
                            form.visited_on.data, remarks=form.note.data)
            db.session.commit()
        except paper.LineRefused as e:
            db.session.rollback()
            refused = e.message
        except ReviewError as e:
            db.session.rollback()
            for f, msg in e.errors.items():
                getattr(form, f).errors = list(getattr(form, f).errors) + [msg]
        except (Conflict, StaleDataError) as e:
            db.session.rollback()
            b = get_or_404(Beneficiary, b.id)
            conflict = e if isinstance(e, Conflict) else Conflict(b, current_values(b), form.values())
            form.version.data = b.version  # a second save, knowingly, goes through
        else:
            return _saved(v, b, form.visited_on.data)
    if form.visited_on.errors:  # the sheet's date is typed in the code form: said there
        lookup.on.errors, form.visited_on.errors = [str(e) for e in form.visited_on.errors], []
    status = 409 if conflict else 422
    return _entry_page(v, lookup, b=b, line=None if refused else form, refused=refused,
                       conflict=conflict, status=status)


def _saved(v, b, on):
    code = paper.code_for(b.id)
    message = _("Đã lưu dòng %(code)s: %(name)s. Nhập mã tiếp theo.", code=code, name=b.full_name)
    if not wants_fragment():
        flash(message, "success")
        return see_other("paper.entry", village_id=v.id, on=on.isoformat())
    lookup = CodeForm(formdata=None, data={"on": on})
    body, status = render("paper/_saved.html", village=v, lookup=lookup, errors=[], on=on,
                          message=message, row=paper.entered(v, on, limit=1)[0],
                          left=len(paper.pending(v, on)))
    return body, status, {"HX-Push-Url": url_for("paper.entry", village_id=v.id, on=on.isoformat())}
