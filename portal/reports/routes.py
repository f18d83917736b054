from flask import abort, current_app, flash, request
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..models import Area
from ..services import months, reports
from ..services.areas import commune_in
from ..services.pension import programs_in
from ..web import download, get_or_404, int_arg, month_arg, own_area, page_arg, render, roles_required, see_other
from . import bp
from .forms import MakeForm

VIEWERS = ("province", "district", "commune", "chairman", "payer")  # and admin (roles_required)
RANKING_VIEWERS = ("province", "district", "commune", "chairman")
REPORT_LEVELS = ("province", "district", "commune")


def _area():
    """The area asked (``?area=ID``) within the user's, else the user's own; 404 otherwise."""
    area_id = int_arg("area")
    if area_id is None:
        area = own_area()
    else:
        area = get_or_404(Area, area_id)
    if area.level not in REPORT_LEVELS:
        abort(404)
    return area


def _page(n_items, per_page):
    pages = max(1, -(-n_items // per_page))
    return min(page_arg(per_page=per_page), pages)


@bp.route("/reports/monthly")
@roles_required(*VIEWERS)
def monthly():
    """The monthly report of an area: as made (chốt) when it was, else today's numbers;
    one table per program, the totals with their bars, the download and the make button."""
    area = _area()
    month, error = month_arg()
    if error:
        return render("reports/monthly.html", "reports/_monthly.html", area=area, month=month,
                      error=error, status=400)
    live = request.args.get("live") == "1"
    report, record = reports.report_for(area, month, live=live, version=int_arg("made"))
    latest = record if not live else reports.made(area, month)
    per_page = current_app.config["PAGE_SIZE"]
    communes = list(dict.fromkeys(r["commune_id"] for r in report["rows"]))
    page = _page(len(communes), per_page)
    shown = set(communes[(page - 1) * per_page:page * per_page])
    can_make = reports.may_make(current_user, area, month)
    return render("reports/monthly.html", "reports/_monthly.html", area=area, month=month,
                  error=None, report=report, record=record, latest=latest, live=live,
                  rows=[r for r in report["rows"] if r["commune_id"] in shown], programs=list(report["totals"]),
                  page=page, n_communes=len(communes), per_page=per_page,
                  addressee_text=reports.addressee_text,
                  form=MakeForm(data={"month": month, "area": area.id}) if can_make else None,
                  versions=reports.versions(area, month))


@bp.route("/reports/monthly.xlsx")
@roles_required(*VIEWERS)
def workbook():
    """The report shown on the page, as ``.xlsx`` in the administrative form; a bad month
    answers the report's page with its message (400), never another month's workbook."""
    area = _area()
    month, error = month_arg()
    if error:
        return render("reports/monthly.html", area=area, month=month, error=error, status=400)
    report, record = reports.report_for(area, month, live=request.args.get("live") == "1",
                                        version=int_arg("made"))
    suffix = "-chot" if record else ""
    return download(reports.workbook(report), f"bao-cao-thang-{area.code}-{month}{suffix}.xlsx")


@bp.route("/reports/monthly/make", methods=["POST"])
@roles_required("district", "province", "commune", "chairman")
def make():
    """Make (chốt) the report of an area for the month: from now on the page and the
    exports show it as it stands now, whatever is recorded later. Before 07/2025 the
    district makes it; from 07/2025 the commune its own, the province its roll-up
    (``reports.may_make``)."""
    form = MakeForm()
    if not form.validate_on_submit():
        abort(400)
    area = get_or_404(Area, int(form.area.data))
    month = form.month.data
    if not reports.may_make(current_user, area, month):
        if current_user.role not in reports.makers(month) + ("admin",):
            abort(403)
        flash(_("Báo cáo tháng do cấp huyện chốt.") if month < reports.REFORM_MONTH else
              _("Từ tháng 07/2025, xã chốt báo cáo của xã, Sở (tỉnh) chốt báo cáo tổng hợp của tỉnh."), "error")
        return see_other("reports.monthly", month=month, area=area.id)
    report = reports.monthly_report(area, month)
    if not any(r["has_list"] for r in report["rows"]):
        flash(_("Tháng %(month)s chưa có danh sách chi trả nào đã khóa: chưa chốt được báo cáo.",
                month=months.label(month)), "error")
        return see_other("reports.monthly", month=month, area=area.id)
    try:
        reports.make(area, month, current_user, form.reason.data)
    except reports.ReportError as e:
        db.session.rollback()
        flash(str(e), "error")
        return see_other("reports.monthly", month=month, area=area.id, live=1)
    db.session.commit()
    flash(_("Đã chốt báo cáo tháng %(month)s.", month=months.label(month)), "success")
    return see_other("reports.monthly", month=month, area=area.id)


@bp.route("/reports/ranking")
@roles_required(*RANKING_VIEWERS)
def ranking():
    """The communes ranked by cashless rate; for a commune officer, where their commune
    stands, what moved since last month and what is left to the target."""
    own = own_area()
    month, error = month_arg()
    if error:
        area = (own.parent or own) if own.level == "commune" else own
        return render("reports/ranking.html", area=area, month=month, error=error, own=None, status=400)
    if own.level == "commune":
        # The commune the officer's records belong to that month (from 07/2025 an old
        # commune's successor), ranked among the communes of the unit above it then: a
        # district before the reform, the province after.
        own = commune_in(own, month)
        area = own.parent or own
    else:
        area = own
    data = reports.ranking(area, month)
    mine = next((e for e in data["rows"] if e["commune_id"] == own.id), None)
    per_page = current_app.config["PAGE_SIZE"]
    page = _page(len(data["rows"]), per_page)
    return render("reports/ranking.html", area=area, month=month, error=None, data=data, mine=mine,
                  own=own, rows=data["rows"][(page - 1) * per_page:page * per_page], page=page,
                  per_page=per_page, programs=programs_in(month))
