"""Báo cáo tháng — the monthly report to the province, per commune and program, counted
from the recorded history, never from the current state of the registry.

Each figure of a month comes from what was recorded for that month: the final payment
lists (the last version locked), the accounts copied onto their lines, each line's
payment result as its events say (so a result corrected later can be counted as it stood
on a given day), the reviews recorded by the month's end, and the changes effective in the
month. ``as_of`` (a naive UTC ``datetime``) counts only what had been recorded by then: a
report made (chốt) on a day is recounted as of that day and gives the same numbers.

Keys of a row (counts of beneficiaries, amounts in ``int`` đồng):

- ``listed``: lines to pay on the final list; ``paid``: paid into an account or in cash;
- ``own_account`` / ``proxy_account``: paid into the beneficiary's own account / a
  guardian's or authorised person's;
- ``paid_cashless`` + ``amount_cashless``; ``paid_cash`` + ``amount_cash``;
- ``with_account``: listed people who hold an account (any holder), and
  ``paid_into_account_of_those_with_account`` (Directive 21/CT-TTg: 100 %);
- ``reviewed``: listed people reviewed since the campaign started, by the month's end (a
  record opened by the BTXH → HTXH transfer counts the visits of the record it came from);
- ``increases`` / ``decreases``: approved changes effective in the month.
"""

from datetime import date

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import case, func, select

from ..extensions import db
from ..sheets.writer import FormSheet, issuer_lines
from ..vn.dates import vietnam_time
from ..models import Beneficiary, ChangeProposal, MonthlyReport, PaymentPeriod
from . import changes, counts, months, outreach
from .areas import REFORM_DAY, communes_below, parent_in
from .pension import programs_in
from .progress import PROGRAMS, CommuneProgress, Counts, targets

KEYS = ("paid", "own_account", "proxy_account", "paid_cashless", "amount_cashless", "paid_cash",
        "amount_cash", "with_account", "paid_into_account_of_those_with_account", "reviewed",
        "increases", "decreases")
EXTRA_KEYS = ("listed", "amount_listed", "failed", "returned", "pending")


# The first month of the two-level government (Law on the Organisation of Local Government
# 2025): from it the communes report to the province, and no report names a district.
REFORM_MONTH = months.of(REFORM_DAY)


def province_of(area):
    """The province ``area`` lies in (itself if it is one), or ``None``."""
    while area is not None and area.level != "province":
        area = area.parent
    return area


def configured_addressees(area, month, programs=PROGRAMS):
    """``[(name, [program…])]``: the bodies that receive the communes' figures of ``area``'s
    province in ``month`` (``YYYY-MM``), by the configuration ``REPORT_ADDRESSEES`` (a list
    of ``(first day "YYYY-MM-DD", {program: name template})``, the latest in force on the
    month's first day): before 07/2025 the province's Department of Labour, from 07/2025
    Sở Y tế (BTXH, HTXH) and Sở Nội vụ (NCC) (Decree 147/2025/NĐ-CP and the 2025
    reorganisation of the ministries; unverified, hence configuration). Programs with the
    same body are grouped, in the order of ``programs``; a program without a template is
    left out."""
    on = months.start(month)
    table = {}
    for since, names in sorted(current_app.config["REPORT_ADDRESSEES"], key=lambda e: e[0]):
        if date.fromisoformat(since) <= on:
            table = names
    province = province_of(area)
    words = {"province_name": province.full_name if province else "",
             "province": (f"{(province.kind or '').lower()} {province.name}".strip() if province else "")}
    out = {}
    for p in programs:
        if p in table:
            out.setdefault(table[p].format(**words).strip(), []).append(p)
    return list(out.items())


def addressees(area, month, programs=PROGRAMS):
    """``[(name, [program…])]``: whom the report of ``area`` for ``month`` is sent to
    (Kính gửi). Before 07/2025 a district's goes to the bodies of ``REPORT_ADDRESSEES`` and
    a commune's to its district's Labour division; from 07/2025 a commune's goes to the
    bodies of ``REPORT_ADDRESSEES`` (there is no district). A province's roll-up is sent to
    nobody above (``[]``): from 07/2025 its copies go to those bodies."""
    if month >= REFORM_MONTH:
        return configured_addressees(area, month, programs) if area.level == "commune" else []
    if area.level == "district":
        return configured_addressees(area, month, programs)
    if area.level == "commune" and area.parent is not None:
        return [(f"Phòng LĐ-TB&XH {area.parent.full_name}", list(programs))]
    return []


def makers(month):
    """The roles that make (chốt) reports of ``month`` (the admin apart): the district
    before 07/2025; from 07/2025 the commune (officer or chairman) and the province."""
    return ("district",) if month < REFORM_MONTH else ("commune", "chairman", "province")


def may_make(user, area, month):
    """Whether ``user`` may make (chốt) the report of ``area`` for ``month``: before 07/2025
    the district (its own report, or a province's it covers), as the cycle was; from
    07/2025 the commune (its officer or chairman) its commune's, and the province
    department (role ``province``) the province's roll-up. The admin may make any report of
    a district or province, and from 07/2025 of a commune. Area scoping is the caller's."""
    if month < REFORM_MONTH:
        return user.role in ("district", "admin") and area.level in ("province", "district")
    if user.role == "admin":
        return area.level in ("province", "commune")
    return ((user.role in ("commune", "chairman") and area.level == "commune")
            or (user.role == "province" and area.level == "province"))


def communes_of(area, month):
    """The communes the report of ``area`` lists for ``month``: those in force then."""
    return [area] if area.level == "commune" else communes_below(area, on=months.start(month))


def figures(commune_ids, month, as_of=None):
    """``{(commune id, program): {key: int}}`` for every commune and every program paid in
    ``month`` (``pension.programs_in``: HTXH from 07/2025), zeros where no list was locked,
    with ``has_list``; keys ``KEYS + EXTRA_KEYS``. The final lists' figures are their stored
    counts where they hold for ``as_of`` (``counts.figures_of``), else counted from the lines."""
    out = {(c, p): dict.fromkeys(KEYS + EXTRA_KEYS, 0) | {"has_list": False}
           for c in commune_ids for p in programs_in(month)}
    final = changes.final_periods(commune_ids, [month], as_of)
    lists = db.session.execute(select(PaymentPeriod.id, PaymentPeriod.commune_id, PaymentPeriod.program)
                               .where(PaymentPeriod.id.in_(final))).all()
    per_list = counts.figures_of([pid for pid, _, _ in lists], as_of)
    for pid, c, p in lists:
        row = out.get((c, p))
        if row is None:
            continue
        row["has_list"] = True
        for k, v in per_list[pid].items():
            row[k] += v
    cond = [ChangeProposal.status == "approved", ChangeProposal.effective_month == month,
            ChangeProposal.commune_id.in_(commune_ids)]
    if as_of is not None:
        cond.append(ChangeProposal.decided_at <= as_of)
    direction = case((ChangeProposal.kind.in_(changes.INCREASES), "increases"), else_="decreases")
    for c, p, d, n in db.session.execute(
            select(ChangeProposal.commune_id, Beneficiary.program, direction, func.count())
            .join(Beneficiary, Beneficiary.id == ChangeProposal.beneficiary_id)
            .where(*cond).group_by(ChangeProposal.commune_id, Beneficiary.program, direction)):
        if (c, p) in out:
            out[(c, p)][d] += n
    return out


def progress_in(communes, month, as_of=None):
    """``[progress.CommuneProgress]`` of ``communes`` (``Area`` list) in ``month``
    (``YYYY-MM``) as its lists and results recorded it (:func:`figures`), for an overview of a
    past month: ``total`` the people listed, ``reviewed`` those reviewed by the month's end,
    ``with_account`` those listed with an account, ``own`` / ``guardian`` those paid into their
    own / a guardian's or authorised person's account, ``cashless`` those paid into an
    account. Today's registry does not enter it, so a past month shows as it was."""
    data = figures([c.id for c in communes], month, as_of)
    out = []
    for c in communes:
        cp = CommuneProgress(c)
        for p in programs_in(month):
            f = data[(c.id, p)]
            cp.programs[p] = Counts(total=f["listed"], reviewed=f["reviewed"], with_account=f["with_account"],
                                    own=f["own_account"], guardian=f["proxy_account"], cashless=f["paid_cashless"])
        out.append(cp)
    return out


def rates(row, goals, program):
    """Percent rates (float, one decimal; ``None`` without a base) of a row, with targets:
    ``cashless`` (paid into an account, of those on the month's list: a commune that has not
    yet recorded its cash payments is not flattered by it), ``paid_into_account`` (of those
    with an account, paid into it), ``reviewed`` (of those listed)."""
    def pct(part, whole):
        return round(100 * part / whole, 1) if whole else None
    return {"cashless": pct(row["paid_cashless"], row["listed"]),
            "paid_into_account": pct(row["paid_into_account_of_those_with_account"], row["with_account"]),
            "reviewed": pct(row["reviewed"], row["listed"]),
            "targets": {k: goals[(program, k)] for k in ("cashless", "paid_into_account", "reviewed")}}


def monthly_report(area, month, as_of=None):
    """The report of ``area`` (a province, a district or a commune) for ``month``
    (``YYYY-MM``): ``{"period", "area" (its code), "area_name", "area_id", "area_level",
    "area_place" (the name without its kind), "parent_name" (``areas.parent_in``: never a
    district from 07/2025), "as_of", "reformed" (the month is from 07/2025), "addressees"
    (``addressees``), "copies" (a province's roll-up from 07/2025: the bodies of
    ``REPORT_ADDRESSEES``), "rows": [row…], "totals": {program: row}, "total": row}``;
    each row has ``commune_id``, ``commune_code``, ``commune_name``,
    ``program``, the ``KEYS`` and ``EXTRA_KEYS``, ``has_list`` and ``rates``. Totals are
    the sums of the rows. Raises ``ValueError`` on a bad month."""
    month = months.parse(month)
    communes = communes_of(area, month)
    data = figures([c.id for c in communes], month, as_of)
    # The targets in force in the report's month: a later edit applies from a later month
    # only (never on or before a made report's), so a made report keeps its targets.
    goals = targets(area, month)
    programs = programs_in(month)  # no HTXH before 07/2025: an old month reproduces as it was
    rows, totals = [], {p: dict.fromkeys(KEYS + EXTRA_KEYS, 0) for p in programs}
    for c in communes:
        for p in programs:
            f = data[(c.id, p)]
            rows.append({"commune_id": c.id, "commune_code": c.code, "commune_name": c.full_name,
                         "program": p, **f, "rates": rates(f, goals, p)})
            for k in KEYS + EXTRA_KEYS:
                totals[p][k] += f[k]
    total = {k: sum(totals[p][k] for p in programs) for k in KEYS + EXTRA_KEYS}
    for p in programs:
        totals[p]["rates"] = rates(totals[p], goals, p)
    parent = parent_in(area, month)
    # Sessions held and refusal reasons as of the month's end (services/outreach.py).
    reach = outreach.month_figures(communes, month, as_of)
    reach_rows = [{"commune_id": c.id, "commune_code": c.code, "commune_name": c.full_name, **reach[c.id]}
                  for c in communes]
    return {"period": month, "area": area.code, "area_name": area.full_name, "area_id": area.id,
            "area_level": area.level, "area_place": area.name,
            "parent_name": parent.full_name if parent else None, "as_of": as_of,
            "reformed": month >= REFORM_MONTH, "addressees": addressees(area, month, list(totals)),
            "copies": (configured_addressees(area, month, list(totals))
                       if area.level == "province" and month >= REFORM_MONTH else []),
            "rows": rows, "totals": totals, "total": total,
            "outreach": {"rows": reach_rows, "total": outreach.month_totals(reach)}}


def as_json(report):
    """The report in the published shape: ``{"period", "area", "rows": [{"commune_code",
    "program", KEYS…}], "totals": {"BTXH": {KEYS…}, "NCC": {KEYS…}}}`` (from 07/2025 also
    ``"HTXH"``; counts and đồng as ``int``)."""
    return {"period": report["period"], "area": report["area"],
            "rows": [{"commune_code": r["commune_code"], "program": r["program"],
                      **{k: r[k] for k in KEYS}} for r in report["rows"]],
            "totals": {p: {k: t[k] for k in KEYS} for p, t in report["totals"].items()}}


def made(area, month):
    """The report made (chốt) that covers ``area`` for ``month``, or ``None``: the latest one
    made for ``area`` itself, else the latest made for the nearest area above it (a
    district's report holds its communes' rows, so a commune is shown the numbers its
    district sent)."""
    chain = [int(x) for x in (area.path or "").strip("/").split("/") if x] or [area.id]
    depth = {area_id: i for i, area_id in enumerate(chain)}
    records = db.session.scalars(select(MonthlyReport).where(
        MonthlyReport.area_id.in_(chain), MonthlyReport.month == month)).all()
    if not records:
        return None
    return max(records, key=lambda r: (depth.get(r.area_id, -1), r.made_at, r.id))


class ReportError(ValueError):
    """A report that cannot be made as asked (Vietnamese message)."""


def versions(area, month):
    """The reports made for ``area`` itself for ``month``, the latest first."""
    return db.session.scalars(select(MonthlyReport).where(
        MonthlyReport.area_id == area.id, MonthlyReport.month == month)
        .order_by(MonthlyReport.made_at.desc(), MonthlyReport.id.desc())).all()


def make(area, month, user, reason=None):
    """Make (chốt) the report of ``area`` for ``month`` as it stands now, and keep it; its
    numbers are recounted from the history as of this moment whenever it is shown.

    Making it again needs a ``reason`` (every version is kept), and is refused when the
    numbers have not changed since the last one (a double submit makes one report).
    Raises ``ReportError``."""
    month = months.parse(month)
    reason = (reason or "").strip() or None
    earlier = versions(area, month)
    if earlier:
        if as_json(monthly_report(area, month)) == earlier[0].figures:
            raise ReportError(f"Số liệu không đổi so với lần chốt lúc "
                              f"{local_time(earlier[0].made_at):%H:%M %d/%m/%Y}: không cần chốt lại.")
        if not reason:
            raise ReportError("Chốt lại báo cáo đã chốt cần ghi lý do (ví dụ: bổ sung kết quả chi trả).")
    record = MonthlyReport(area_id=area.id, month=month, made_by_id=user.id, figures={}, reason=reason)
    db.session.add(record)
    db.session.flush()
    record.figures = as_json(monthly_report(area, month, as_of=record.made_at))
    db.session.flush()
    return record


def report_for(area, month, live=False, version=None):
    """The report to show: as made (recounted as of its making) when one was made and
    ``live`` is false (``version``: the id of an earlier one of ``area``'s, else the
    latest), else as the history stands now. Returns ``(report, made or None)``."""
    record = None
    if not live:
        record = next((r for r in versions(area, month) if r.id == version), None) if version else None
        record = record or made(area, month)
    report = monthly_report(area, month, as_of=record.made_at if record else None)
    if record is not None and record.made_at < outreach.counted_since():
        report["outreach"] = None  # made before outreach was counted: not shown rather than guessed
    return report, record


# ------------------------------------------------------------------------------- helpers

def local_time(moment):
    """A stored naive UTC ``datetime`` as the time in Vietnam (``None`` stays ``None``)."""
    return vietnam_time(moment)


def left_to_target(listed, paid_cashless, target):
    """How many more people must be paid cashless to reach ``target`` percent of the
    ``listed`` (the month's list): ``ceil(target × listed / 100) − paid_cashless``, never
    below 0 (integer arithmetic)."""
    return max(0, -(-int(target) * listed // 100) - paid_cashless)


# ------------------------------------------------------------------------------- workbook

PROGRAM_TITLES = {"BTXH": "Trợ cấp xã hội hằng tháng (BTXH)",
                  "NCC": "Trợ cấp ưu đãi người có công (NCC)",
                  "HTXH": "Trợ cấp hưu trí xã hội (HTXH)"}
# (column, key or rate, number format) of the report table, after STT and the commune.
_COLUMNS = (("paid", "#,##0"), ("own_account", "#,##0"), ("proxy_account", "#,##0"),
            ("paid_cashless", "#,##0"), ("amount_cashless", "#,##0"), ("paid_cash", "#,##0"),
            ("amount_cash", "#,##0"), ("rate:cashless", "0.0%"), ("target:cashless", "0%"),
            ("with_account", "#,##0"), ("paid_into_account_of_those_with_account", "#,##0"),
            ("rate:paid_into_account", "0.0%"), ("rate:reviewed", "0.0%"),
            ("increases", "#,##0"), ("decreases", "#,##0"))
_RATE_PARTS = {"cashless": ("paid_cashless", "listed"),
               "paid_into_account": ("paid_into_account_of_those_with_account", "with_account"),
               "reviewed": ("reviewed", "listed")}


def _signer(report):
    if report.get("reformed"):  # the People's Committee signs, commune or province
        return "CHỦ TỊCH"
    return {"commune": "CHỦ TỊCH", "province": "GIÁM ĐỐC"}.get(report["area_level"], "TRƯỞNG PHÒNG")


def addressee_text(names):
    """``[(name, [program…])]`` as one line: ``"Sở Y tế tỉnh Quảng Ngãi (BTXH, HTXH); Sở Nội
    vụ tỉnh Quảng Ngãi (NCC)"``; the programs only when there are several bodies."""
    if len(names) == 1:
        return names[0][0]
    return "; ".join(f"{name} ({', '.join(programs)})" for name, programs in names)


def _recipients(report):
    """The «Nơi nhận» lines under the signatures. Before 07/2025 as they always were (a
    district's report: the province's Department of Labour; a commune's: its district's
    Labour division); from 07/2025 a commune's: those it is addressed to («Như trên»), a
    province's roll-up: the departments of ``REPORT_ADDRESSEES``."""
    if report.get("reformed"):
        if report["area_level"] == "province":
            return ["Nơi nhận:"] + [f"- {name} ({', '.join(p)});" for name, p in report["copies"]] + ["- Lưu: VT."]
        return ["Nơi nhận:", "- Như trên;", "- Lưu: VT."]
    if report["area_level"] == "district":
        return ["Nơi nhận:"] + [f"- {name};" for name in dict(report["addressees"])] + ["- Lưu: VT."]
    return ["Nơi nhận:", f"- {'Phòng LĐ-TB&XH ' if report['area_level'] == 'commune' else ''}"
                         f"{report['parent_name'] or ''};", "- Lưu: VT."]


def workbook(report):
    """The report (``monthly_report``'s shape) as ``.xlsx`` in the administrative form
    (Decree 30/2020/NĐ-CP): the issuing body and the national motto, the title «BÁO CÁO KẾT
    QUẢ CHI TRẢ TRỢ CẤP KHÔNG DÙNG TIỀN MẶT» with the month, Times New Roman, one section
    per program with its communes and a total row, the area's total row, signature blocks.

    Counts and đồng are whole numbers (``#,##0``), rates fractions shown as percents
    (``0.0%``); totals are values equal to the sums of the commune rows (no formulas), and
    their rates are recomputed from those sums. Returns the file's bytes."""
    month = report["period"]
    ncols = 2 + len(_COLUMNS)
    sheet = FormSheet(f"T{month[5:]}-{month[:4]}",
                      [5, 22, 10, 10, 10, 10, 15, 10, 15] + [10] * (ncols - 9))
    put, merged = sheet.put, sheet.merged
    day = local_time(report["as_of"])
    reformed = report.get("reformed")
    # From 07/2025 the People's Committee issues it (the Labour offices are gone).
    sheet.heading(issuer_lines(report["area_level"], report["area_name"], "" if reformed else None),
                  "BÁO CÁO KẾT QUẢ CHI TRẢ TRỢ CẤP KHÔNG DÙNG TIỀN MẶT", f"Tháng {int(month[5:])} năm {month[:4]}")
    merged(3, 1, 4, "Số:       /BC-LĐTBXH" if report["area_level"] != "commune" and not reformed
           else "Số:       /BC-UBND")
    merged(3, 6, ncols, f"{report['area_place']}, ngày {day:%d} tháng {day:%m} năm {day:%Y}" if day
           else f"{report['area_place']}, ngày     tháng     năm {month[:4]}", italic=True)
    merged(7, 1, ncols, f"(Số liệu chốt lúc {day:%H:%M} ngày {day:%d/%m/%Y})" if day
           else "(Số liệu tại thời điểm lập biểu)", italic=True, size=11)
    if reformed and report["addressees"]:  # a month before 07/2025 keeps its layout
        merged(8, 1, ncols, f"Kính gửi: {addressee_text(report['addressees'])}.")

    # Two header rows: groups on row 9, their columns on row 10.
    groups = [(1, 1, "STT"), (2, 2, "Xã, phường, đặc khu" if reformed else "Xã, thị trấn"), (3, 3, "Số người được chi trả"),
              (4, 5, "Trong đó chi vào tài khoản"), (6, 7, "Chi trả không dùng tiền mặt"),
              (8, 9, "Chi trả tiền mặt"), (10, 11, "Tỷ lệ không dùng tiền mặt"),
              (12, 14, "Người có tài khoản"), (15, 15, "Tỷ lệ đã rà soát"), (16, 17, "Phát sinh")]
    subs = {4: "Chính chủ", 5: "Người giám hộ, người được ủy quyền", 6: "Số người",
            7: "Số tiền (đồng)", 8: "Số người", 9: "Số tiền (đồng)", 10: "Đạt", 11: "Chỉ tiêu",
            12: "Số người", 13: "Được chi vào tài khoản", 14: "Tỷ lệ (chỉ tiêu 100 %)",
            16: "Tăng", 17: "Giảm"}
    ws = sheet.ws
    for first, end, text in groups:
        ws.merge_cells(start_row=9, start_column=first, end_row=9 if first != end or first in subs else 10,
                       end_column=end)
        put(9, first, text, bold=True, align=sheet.CENTRE, box=True)
    for col in range(1, ncols + 1):
        if col in subs:
            put(10, col, subs[col], bold=True, align=sheet.CENTRE, box=True)
        else:
            ws.cell(row=10, column=col).border = sheet.BOX
        ws.cell(row=9, column=col).border = sheet.BOX
    ws.row_dimensions[10].height = 48
    ws.freeze_panes = "C11"

    def values(row, target):
        out = []
        for key, _fmt in _COLUMNS:
            if key.startswith("rate:"):
                part, whole = _RATE_PARTS[key[5:]]
                out.append(row[part] / row[whole] if row[whole] else None)
            elif key.startswith("target:"):
                out.append(target / 100 if target is not None else None)
            else:
                out.append(row[key])
        return out

    def line(r, first, name, row, target, bold=False):
        put(r, 1, first, bold=bold, align=sheet.CENTRE, box=True)
        put(r, 2, name, bold=bold, box=True)
        for i, (v, (_key, fmt)) in enumerate(zip(values(row, target), _COLUMNS, strict=True), 3):
            put(r, i, v, bold=bold, fmt=fmt, box=True)

    goals = {p: report["totals"][p]["rates"]["targets"]["cashless"] for p in report["totals"]}
    r = 11
    for n, program in enumerate(report["totals"], 1):
        ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=ncols)
        put(r, 1, "I" * n if n < 4 else str(n), bold=True, align=sheet.CENTRE, box=True)
        put(r, 2, PROGRAM_TITLES.get(program, program), bold=True, box=True)
        r += 1
        for i, row in enumerate((x for x in report["rows"] if x["program"] == program), 1):
            line(r, i, row["commune_name"], row, goals[program])
            r += 1
        line(r, "", f"Cộng {program}", report["totals"][program], goals[program], bold=True)
        r += 1
    line(r, "", "TỔNG CỘNG", report["total"], None, bold=True)
    r += 2
    if report.get("outreach"):
        r = _outreach_rows(sheet, r, report["outreach"]) + 1
    recipients = _recipients(report)
    sheet.signatures(r, [(2, 5, "NGƯỜI LẬP BIỂU", False), (12, ncols, _signer(report), True)])
    for i, text in enumerate(recipients):
        put(r + 6 + i, 2, text, size=11, bold=i == 0, italic=i == 0)
    sheet.repeat_rows(9, 10)  # the two header rows on each page; landscape, one page wide
    return sheet.bytes()


def _outreach_rows(sheet, r, reach):
    """The outreach section of the workbook from row ``r``: one line per commune (sessions
    held in the month, attendees, refusals by reason) and the total. Returns the next row."""
    codes = list(outreach.REFUSAL_REASONS)
    put = sheet.put
    sheet.merged(r, 1, 2 + 2 + len(codes), "TRUYỀN THÔNG, VẬN ĐỘNG", bold=True, align=None)
    r += 1
    with force_locale("vi"):  # the form is Vietnamese, in a request or from the command line
        heads = ["STT", "Xã", "Số buổi", "Người dự"] + [f"Từ chối: {outreach.REFUSAL_REASONS[c]}" for c in codes]
    for col, text in enumerate(heads, 1):
        put(r, col, text, bold=True, align=sheet.CENTRE, box=True, size=10)
    for i, row in enumerate(reach["rows"] + [dict(reach["total"], commune_name="TỔNG CỘNG")], 1):
        r += 1
        last = row.get("commune_code") is None
        values = ["" if last else i, row["commune_name"], row["sessions"], row["attendees"]] + [
            row["reasons"].get(c, 0) for c in codes]
        for col, v in enumerate(values, 1):
            put(r, col, v, bold=last, box=True, fmt="#,##0" if col > 2 else None)
    return r + 1


# ------------------------------------------------------------------------------- ranking

def _combined(rows):
    """Sum the programs' rows of one commune: the counts (``KEYS + EXTRA_KEYS``) and
    whether any list was locked."""
    out = {k: sum(r[k] for r in rows) for k in KEYS + EXTRA_KEYS}
    out["has_list"] = any(r["has_list"] for r in rows)
    return out


def _pct(part, whole):
    return round(100 * part / whole, 1) if whole else None


def _ranked(report):
    """``{commune id: entry}`` for one report, ranked by cashless rate (paid cashless of
    those listed, all programs), highest first; ties share a rank ("1, 2, 2, 4"); a
    commune with nobody on a list has no rank."""
    by_commune = {}
    for row in report["rows"]:
        by_commune.setdefault(row["commune_id"], []).append(row)
    out = {}
    for cid, rows in by_commune.items():
        c = _combined(rows)
        out[cid] = {"commune_id": cid, "commune_code": rows[0]["commune_code"],
                    "commune_name": rows[0]["commune_name"], **c,
                    "cashless": _pct(c["paid_cashless"], c["listed"]),
                    "paid_into_account": _pct(c["paid_into_account_of_those_with_account"],
                                              c["with_account"]),
                    "reviewed": _pct(c["reviewed"], c["listed"]),
                    "programs": {r["program"]: r for r in rows}, "rank": None}
    ranked = sorted((e for e in out.values() if e["cashless"] is not None),
                    key=lambda e: (-e["cashless"], e["commune_code"] or ""))
    for i, e in enumerate(ranked):
        e["rank"] = ranked[i - 1]["rank"] if i and e["cashless"] == ranked[i - 1]["cashless"] else i + 1
    return out


def ranking(area, month):
    """Bảng xếp hạng — the communes of ``area`` for ``month`` (``YYYY-MM``) ranked by
    cashless rate, as sent back to the communes (the report made for the month when there
    is one, else today's numbers; the same for the previous month).

    Returns ``{"period", "previous", "made", "previous_made", "ranked": n, "goals",
    "rows": [entry…]}``, rows by rank then code (unranked last). An entry: ``commune_id``,
    ``commune_code``, ``commune_name``, ``rank``, the counts summed over programs,
    ``cashless`` / ``paid_into_account`` / ``reviewed`` (percent, one decimal, ``None``
    without a base), ``target`` (the programs' cashless targets weighted by the people
    paid), ``programs`` (program → the report's row, with ``left_cashless``: the
    people still to pay cashless to reach the program's target, ``left_into_account``: the
    people with an account not paid into it), and ``before``: the same entry for the
    previous month (``None`` when the commune was not in its report). Raises
    ``ValueError`` on a bad month."""
    month = months.parse(month)
    previous = months.add(month, -1)
    report, record = report_for(area, month)
    before_report, before_record = report_for(area, previous)
    now, before = _ranked(report), _ranked(before_report)
    goals = targets(area, month)
    for entry in now.values():
        for p, row in entry["programs"].items():
            row["left_cashless"] = left_to_target(row["listed"], row["paid_cashless"], goals[(p, "cashless")])
            row["left_into_account"] = row["with_account"] - row["paid_into_account_of_those_with_account"]
        entry["before"] = before.get(entry["commune_id"])
        # The programs' targets weighted by who was paid: the commune's rate at its targets.
        entry["target"] = (round(sum(goals[(p, "cashless")] * r["listed"] for p, r in entry["programs"].items())
                                 / entry["listed"], 1) if entry["listed"] else None)
    rows = sorted(now.values(), key=lambda e: (e["rank"] is None, e["rank"] or 0, e["commune_code"] or ""))
    return {"period": month, "previous": previous, "made": record, "previous_made": before_record,
            "ranked": sum(1 for e in rows if e["rank"] is not None), "goals": goals, "rows": rows}
