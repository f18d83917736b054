from datetime import date

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from ..idempotent import idempotent
from ..models import Area, Beneficiary
from ..services import paper, progress
from ..services.review import Conflict, ReviewError, current_values
from ..web import download, get_or_404, page_arg, render, roles_required, see_other, wants_fragment
from . import bp
from .forms import CodeForm, LineForm

VIEWERS = ("commune", "police", "district", "province")  # and admin
EDITORS = ("commune",)  # as the door-to-door review


@bp.route("/villages/<int:village_id>/paper")
@roles_required(*VIEWERS)
def sheet(village_id):
    """The village's review sheet to print on A4: one line per active beneficiary, by
    household (``?format=xlsx``: the same sheet as a workbook)."""
    v = get_or_404(Area, village_id, level="village")
    if request.args.get("format") == "xlsx":
        return download(paper.workbook(v, date.today(), current_user), f"phieu-ra-soat-{v.id}-{date.today():%Y%m%d}.xlsx")
    s = paper.sheet(v, page_arg(per_page=paper.PER_PAGE), user=current_user)
    return render("paper/sheet.html", village=v, sheet=s, today=date.today(), short_id=paper.short_id,
                  can_enter=current_user.role in EDITORS + ("admin",))


def _line_form(b, on):
    """The line's form as the record stands (like the door-to-door card), on the sheet's date."""
    form = LineForm(formdata=None, prefix="l",
                    data=dict(current_values(b), visited_on=on, code=paper.code_for(b.id)))
    form.version.data = b.version
    return form


def _day(text):
    """The sheet's date carried in the URL (``?on=YYYY-MM-DD``), else ``None``."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _errors(lookup, line):
    """``[(field id, message), …]`` for the one error summary above both forms; errors of
    the line's hidden fields point at the code field."""
    out = [(f.id, e) for f in lookup for e in f.errors]
    if line is not None:
        hidden = {"code": lookup.code.id, "version": lookup.code.id}
        out += [(hidden.get(f.short_name, f.id), e) for f in line for e in f.errors]
    return out


def _entry_page(v, lookup, on, b=None, line=None, refused=None, conflict=None, status=200):
    ctx = dict(village=v, lookup=lookup, b=b, line=line, refused=refused, conflict=conflict,
               errors=_errors(lookup, line), on=on)
    if wants_fragment():
        return render("paper/_entry.html", status=status, **ctx)
    pending = paper.pending(v, on or progress.campaign_start().date(), current_user)
    ctx.update(pending=pending[:paper.PENDING_SHOWN], left=len(pending),
               entered=paper.entered(v, on, user=current_user))
    return render("paper/entry.html", status=status, **ctx)


@bp.route("/villages/<int:village_id>/paper/entry")
@roles_required(*EDITORS)
def entry(village_id):
    """Take a filled sheet back: a line's code opens that line's form, with the person's
    name to confirm (``?on=``: the sheet's date, once typed, carried from line to line)."""
    v = get_or_404(Area, village_id, level="village")
    on = _day(request.args.get("on"))
    lookup = CodeForm(request.args)
    if not lookup.code.data:
        return _entry_page(v, lookup, on)
    try:
        lookup.validate()
        b = paper.find_line(current_user, v, lookup.code.data)
    except paper.CodeError as e:
        lookup.code.errors = list(lookup.code.errors) + [str(e)]
        return _entry_page(v, lookup, on, status=422)
    if lookup.code.errors:
        return _entry_page(v, lookup, on, status=422)
    refused = paper.refusal(b, on)
    if refused:
        return _entry_page(v, lookup, on, b=b, refused=refused, status=422)
    return _entry_page(v, lookup, on, b=b, line=_line_form(b, on))


@bp.route("/villages/<int:village_id>/paper/entry", methods=["POST"])
@roles_required(*EDITORS)
@idempotent
def save(village_id):
    """Save one line as a visit on the sheet's date, through the door-to-door review's
    service; then ready for the next code (htmx: the next empty form and the line added to
    the list; plain: back to the entry page with a message)."""
    v = get_or_404(Area, village_id, level="village")
    form = LineForm(prefix="l")
    on = form.visited_on.data
    lookup = CodeForm(formdata=None, data={"code": form.code.data})
    try:
        b = paper.find_line(current_user, v, form.code.data)
    except paper.CodeError as e:
        lookup.code.errors = [str(e)]
        return _entry_page(v, lookup, on, status=422)
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
    status = 409 if conflict else 422
    return _entry_page(v, lookup, on, b=b, line=None if refused else form, refused=refused,
                       conflict=conflict, status=status)


def _saved(v, b, on):
    code = paper.code_for(b.id)
    message = _("Đã lưu dòng %(code)s: %(name)s. Nhập mã tiếp theo.", code=code, name=b.full_name)
    if not wants_fragment():
        flash(message, "success")
        return see_other("paper.entry", village_id=v.id, on=on.isoformat())
    lookup = CodeForm(formdata=None)
    body, status = render("paper/_saved.html", village=v, lookup=lookup, errors=[], on=on,
                          message=message, row=paper.entered(v, on, limit=1, user=current_user)[0],
                          left=len(paper.pending(v, on, current_user)))
    return body, status, {"HX-Push-Url": url_for("paper.entry", village_id=v.id, on=on.isoformat())}
