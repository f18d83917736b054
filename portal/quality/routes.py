from urllib.parse import parse_qs, urlsplit

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from ..models import Area, Beneficiary
from ..services import checks, jobs, progress, registry
from ..services import merge as merging
from ..services.areas import commune_in, communes_below, member_units, owners
from ..vn.ids import parse_national_id
from ..vn.money import format_int, parse_amount
from ..vn.text import proper_case
from ..web import PEOPLE_READERS, get_or_404, is_long, own_area, page_arg, render, roles_required, see_other, wants_fragment
from . import bp
from .forms import FIXABLE, FixForm

# Which field fixes a finding in place; other findings link to the page where they are fixed.
FIX_FIELD = {
    "id_sex_century_mismatch": "national_id", "id_year_mismatch": "national_id",
    "id_unknown_province": "national_id", "missing_id": "national_id", "duplicate_id": "national_id",
    "likely_duplicate": "national_id", "missing_sex": "sex", "missing_village": "village",
    "missing_category": "category", "missing_amount": "monthly_amount",
    "amount_mismatch": "monthly_amount", "name_not_clean": "full_name",
}


@bp.route("/quality")
@roles_required(*PEOPLE_READERS)
def overview():
    """Every commune in force in the open month with its share of records without an error,
    laggards first. A commune counts the records that belong to it then: from 07/2025 a new
    commune's include those of the old communes merged into it (``areas.owners``)."""
    area = own_area()
    if area.level == "commune":
        return redirect(url_for("quality.commune", area_id=area.id))
    communes = communes_below(area, on=progress.campaign_day())
    stats = checks.commune_summaries([c.id for c in communes],
                                     owners(communes, progress.campaign_month()))
    rows = sorted(communes, key=lambda c: (stats[c.id]["clean_rate"], c.code))
    total = {k: sum(stats[c.id][k] for c in communes) for k in ("records", "clean", "errors", "warnings")}
    by_rule = {code: sum(stats[c.id]["by_rule"].get(code, 0) for c in communes) for code in checks.RULES}
    return render("quality/overview.html", area=area, rows=rows, stats=stats, total=total,
                  by_rule=by_rule, rules=checks.RULES, words=checks.WORDS,
                  recent_jobs=jobs.recent(current_user, "check_data"))


@bp.route("/quality/communes/<int:area_id>")
@roles_required(*PEOPLE_READERS)
def commune(area_id):
    """A commune's findings by rule, and the worklist: what to fix, worst first. The records
    are those that belong to the commune in the open month (``areas.member_units``): a new
    commune's own and those of the old communes merged into it, each row naming its old
    commune; an old commune's page lists the records registered in it."""
    area = get_or_404(Area, area_id, level="commune")
    rule = request.args.get("rule") if request.args.get("rule") in checks.RULES else None
    per_page = 30
    page = page_arg(per_page=per_page)
    month = progress.campaign_month()
    rows, total = checks.worklist(member_units(area, month), rule, page, per_page)
    stats = checks.commune_summaries([area.id], owners([area], month))[area.id]
    mergeable = {b.id for b, found in rows
                 if any(f.code in ("duplicate_id", "likely_duplicate") for f in found) and merging.partners(b)}
    return render("quality/commune.html", area=area, home=area, stats=stats, rows=rows, total=total,
                  mergeable=mergeable, page=page, per_page=per_page, rule=rule, rules=checks.RULES,
                  words=checks.WORDS,
                  forms={b.id: _fix_forms(b, found) for b, found in rows}, fix_field=FIX_FIELD)


def _fix_forms(b, found, formdata=None):
    """One small form per field that fixes some of ``found``."""
    facts = registry.current_facts(b)
    forms = {}
    for f in found:
        field = FIX_FIELD.get(f.code)
        if field and field not in forms and current_user.role in ("commune", "admin"):
            value = facts.get(field)
            if f.code == "name_not_clean":
                value = proper_case(b.full_name)
            form = FixForm(formdata=formdata, prefix=f"f{b.id}-{field}",
                           data={"version": b.version, "value": "" if value is None else str(value)})
            forms[field] = form
    return forms


def _parse(field, text):
    """A typed value for ``field`` from the fix form's text; raises ``ValueError`` with a
    Vietnamese message."""
    text = (text or "").strip()
    if field == "national_id":
        r = parse_national_id(text)
        if r.kind != "cccd":
            raise ValueError(_("Số định danh phải gồm đúng 12 chữ số."))
        return r.value
    if field == "sex":
        value = {"m": "M", "nam": "M", "f": "F", "nu": "F", "nữ": "F"}.get(text.casefold())
        if value is None:
            raise ValueError(_("Ghi Nam hoặc Nữ."))
        return value
    if field == "monthly_amount":
        try:
            amount = parse_amount(text)
        except ValueError:
            amount = None
        if amount is None or not 0 < amount <= 100_000_000:
            raise ValueError(_("Mức trợ cấp là số đồng, ví dụ 540.000."))
        return amount
    if not text:
        raise ValueError(_("Nhập giá trị đúng."))
    return text


@bp.route("/quality/fix/<int:bid>", methods=["POST"])
@roles_required("commune")
def fix(bid):
    """Correct one field from the worklist, run the checks again, swap the row in place;
    htmx also gets the commune page's counters out of band (:func:`_counters`)."""
    b = get_or_404(Beneficiary, bid)
    field = request.form.get("field")
    if field not in FIXABLE:
        abort(400)
    form = FixForm(prefix=f"f{b.id}-{field}")
    status, message = 200, None
    if form.validate_on_submit():
        try:
            data = registry.current_facts(b)
            data[field] = _parse(field, form.value.data)
            before = checks.ids_touching(b)
            registry.correct(b, current_user, data, form.version.data)
            checks.recheck(before)
            checks.recheck(checks.ids_touching(b))
            db.session.commit()
        except ValueError as e:  # CorrectionError is one too
            db.session.rollback()
            status, message = 422, "; ".join(str(m) for m in getattr(e, "errors", {"": e}).values())
        except (registry.StaleRecord, StaleDataError):
            db.session.rollback()
            status, message = 409, _("Người khác vừa sửa hồ sơ này: xem lại giá trị mới rồi sửa lại.")
    else:
        status, message = 422, "; ".join(str(m) for errs in form.errors.values() for m in errs)
    home = commune_in(b.commune, progress.campaign_month())
    back = request.form.get("next") or url_for("quality.commune", area_id=home.id)
    if not wants_fragment() and status == 200:
        return redirect(back, code=303)
    b = db.session.get(Beneficiary, bid)
    found = checks.findings_of(b.id)
    forms, error_field = _fix_forms(b, found), None
    if status == 422 and field in forms:  # the message goes next to the field, with what was typed
        forms[field].value.data = form.value.data
        error_field = field
    context = dict(b=b, home=home, found=found, forms=forms, fix_field=FIX_FIELD, error_field=error_field,
                   message=message, fixed=status == 200, rules=checks.RULES, next=back)
    if wants_fragment() and status == 200:  # the row, and the page's counters out of band
        return render("quality/_saved.html", **context, **_counters(home, back))
    if wants_fragment():
        return render("quality/_row.html", status=status, **context)
    return render("quality/fix.html", status=status, **context)


def _counters(home, back):
    """The commune page's counters after a fix (``quality/_counts.html``), read from the
    counters the database keeps: the clean bar and the counts by rule
    (``checks.commune_summaries``), the worklist's total for the rule the page ``back``
    filters on (its ``?rule=``), else every record with a finding (``checks.flagged_in``)."""
    month = progress.campaign_month()
    rule = parse_qs(urlsplit(back).query).get("rule", [None])[0]
    rule = rule if rule in checks.RULES else None
    stats = checks.commune_summaries([home.id], owners([home], month))[home.id]
    total = stats["by_rule"].get(rule, 0) if rule else checks.flagged_in(member_units(home, month))
    return dict(area=home, stats=stats, rule=rule, total=total, words=checks.WORDS)


@bp.route("/quality/communes/<int:area_id>/recheck", methods=["POST"])
@roles_required("commune", "district", "province")
def recheck(area_id):
    """Run every check again now on the records that belong to the commune in the open month
    (``checks.ids_in_area``: a new commune's include the old communes merged into it); they
    are also checked on every upload and edit. More than ``JOB_ROWS`` records: a job."""
    area = get_or_404(Area, area_id)
    ids = checks.ids_in_area(area)
    if is_long(db.session.scalar(select(func.count()).select_from(ids.subquery()))):
        return _check_later(area)
    result = checks.recheck(ids)
    db.session.commit()
    flash(_checked(result), "success")
    return see_other("quality.commune", area_id=area.id)


@bp.route("/quality/recheck", methods=["POST"])
@roles_required("commune", "district", "province")
def recheck_all():
    """Run every check again on every record of the user's area, in a background job."""
    return _check_later(own_area())


def _check_later(area):
    job = jobs.submit("check_data", current_user, area, {"back": url_for("quality.overview")},
                      _("Kiểm tra dữ liệu — %(area)s", area=area.full_name))
    return see_other("jobs.show", job_id=job.id)


def _checked(result):
    return _("Đã kiểm tra lại %(records)s hồ sơ: %(added)s vấn đề mới, %(resolved)s vấn đề đã hết.",
             **{k: format_int(v) for k, v in result.items() if k in ("records", "added", "resolved")})


@jobs.handler("check_data", roles=("commune", "district", "province"))
def _check_job(job, report):
    """The "đúng, đủ, sạch, sống" checks again on the records of ``job.area``
    (``checks.ids_in_area``: a commune's as its page counts them, a larger unit's every
    record registered below it)."""
    ids = checks.ids_in_area(job.area)
    n = db.session.scalar(select(func.count()).select_from(ids.subquery()))
    report(0, None, _("Kiểm tra %(n)s hồ sơ", n=format_int(n)))
    result = checks.recheck(ids)
    db.session.commit()
    return {"endpoint": "quality.overview", "args": {}, "message": _checked(result)}
