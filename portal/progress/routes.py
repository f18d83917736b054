from flask import abort, request
from flask_login import current_user, login_required

from ..models import Area
from ..services import clock, country, months, outreach, progress, reports
from ..services.areas import communes_below, member_units
from ..vn.text import fold
from ..web import get_or_404, int_arg, month_arg, page_arg, render
from . import bp

# Communes per page of the overview: a district's 22 on one page, a province's ~100 on four
# (each page well under the 14.6 kB budget).
OVERVIEW_PER_PAGE = 25


def overview_rows(user, area, month, program=None, name=None):
    """The communes of ``area`` in force in ``month`` (``YYYY-MM``) as ``CommuneProgress``,
    laggards first (``progress.laggard_key`` against the targets of that month), and the
    targets: ``(rows, goals)``. ``program`` keeps that program's counts only (ranked on
    it); ``name`` keeps the communes whose name or code contains it (folded: ``binh son``
    finds Bình Sơn). Before 07/2025 these are the communes of the districts of then; from
    07/2025 the new communes, straight under the province (no district)."""
    communes = communes_below(area, on=months.start(month))
    if name:
        key = fold(name)
        communes = [c for c in communes if key in (c.name_folded or "") or key in (c.code or "")]
    # A past month as its lists and results recorded it; the open month from the registry.
    rows = (reports.progress_in(communes, month) if month < clock.open_month()
            else progress.commune_progress(user, communes, month))
    if program:
        for cp in rows:
            cp.programs = {program: cp.counts(program)}
    goals = progress.targets(area, month)
    rows.sort(key=lambda cp: progress.laggard_key(cp, goals))
    return rows, goals


@bp.route("/overview")
@login_required
def overview():
    """Every commune of the user's area in force in the month asked (``?month=YYYY-MM``,
    default the open month) with its progress, laggards first; filtered by program
    (``?program=``) and name (``?q=``), 25 a page. A province lists all its communes; a
    month before 07/2025 shows the communes of then, under their districts.

    ``?area=<id>``: the same for a province or district the user may see (``scope``; 404
    for another unit, one outside the user's area, or not a province or district): the
    national officer's way down from the country. A user without an area (a national
    admin) without ``?area=`` gets the country overview: one row per province
    (``country.province_rows``)."""
    area_id = int_arg("area")
    if area_id is not None:
        area = get_or_404(Area, area_id)
        if area.level not in ("province", "district"):
            abort(404)
    else:
        area = current_user.area
    month, error = month_arg()
    program = request.args.get("program") if request.args.get("program") in progress.PROGRAMS else None
    name = (request.args.get("q") or "").strip()[:60]
    context = {"area": area, "month": month, "error": error, "program": program, "q": name,
               "programs": progress.PROGRAMS, "per_page": OVERVIEW_PER_PAGE,
               "drill": area_id, "national": current_user.area is None}
    if area is None:
        if error:
            return render("progress/country.html", status=400, rows=[], total=0, page=1, **context)
        rows, goals = country.province_rows(current_user, month, program, name)
        pages = max(1, -(-len(rows) // OVERVIEW_PER_PAGE))
        page = min(page_arg(per_page=OVERVIEW_PER_PAGE), pages)
        return render("progress/country.html", **context, goals=goals, totals=progress.totals(rows),
                      past=month < clock.open_month(), total=len(rows), page=page,
                      rows=rows[(page - 1) * OVERVIEW_PER_PAGE:page * OVERVIEW_PER_PAGE],
                      shown_programs=[program] if program else progress.PROGRAMS)
    if error:
        return render("progress/overview.html", status=400, rows=[], total=0, page=1, **context)
    rows, goals = overview_rows(current_user, area, month, program, name)
    pages = max(1, -(-len(rows) // OVERVIEW_PER_PAGE))
    page = min(page_arg(per_page=OVERVIEW_PER_PAGE), pages)
    first_day = months.start(month)
    ended = area.valid_to is not None and area.valid_to < first_day
    in_force = not ended and (area.valid_from is None or area.valid_from <= first_day)
    return render("progress/overview.html", **context, goals=goals, totals=progress.totals(rows), past=month < clock.open_month(),
                  rows=rows[(page - 1) * OVERVIEW_PER_PAGE:page * OVERVIEW_PER_PAGE], total=len(rows),
                  page=page, in_force=in_force, ended=ended,
                  shown_programs=[program] if program else progress.PROGRAMS)


@bp.route("/communes/<int:area_id>")
@login_required
def commune(area_id):
    """A commune's progress bars and its villages, the ones with most left to do first."""
    area = get_or_404(Area, area_id, level="commune")
    cp = progress.commune_progress(current_user, [area])[0]
    units = member_units(area, progress.campaign_month())
    villages = progress.village_rows(units)
    return render("progress/commune.html", area=area, cp=cp,
                  goals=progress.targets(area, progress.campaign_month()),
                  villages=villages, refusals=outreach.refusals_by_reason(units),
                  sessions=outreach.session_totals(area.id, progress.campaign_month(),
                                                   progress.campaign_start().date()))
