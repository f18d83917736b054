"""Command-line tasks: ``flask --app app <command>``. The CLI acts as the ``system`` user and
is not area-scoped."""
import hashlib
import json
import re
import sys
from pathlib import Path

import click
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import func, select

from .extensions import db
from .models import PERSON_ROLES, Area, Beneficiary, ImportBatch, User


def _fail(message, as_json=False, code="error"):
    """Stop with exit status 2; with ``--json`` the message is a JSON object on stdout."""
    if as_json:
        click.echo(json.dumps({"error": code, "message": message}, ensure_ascii=False))
    else:
        click.echo(message, err=True)
    sys.exit(2)


@click.command("load-areas")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--valid-from", type=click.DateTime(["%Y-%m-%d"]), help="Units valid from (YYYY-MM-DD).")
@click.option("--valid-to", type=click.DateTime(["%Y-%m-%d"]),
              help="Units valid until (YYYY-MM-DD); on or before 2025-06-30 the list is pre-reform.")
@click.option("--pre-reform", is_flag=True,
              help="The list describes the units before 1/7/2025 (also assumed when it has districts).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def load_areas(path, valid_from, valid_to, pre_reform, as_json):
    """Load administrative units: without PATH the Bình Sơn units shipped with the product
    (2024 and after 1/7/2025); with PATH a statistics-office export (.xls, .xlsx or .csv),
    or an old→new commune mapping in the format of portal/data/areas_binh-son.csv.

    A pre-reform list's districts, and its provinces that Resolution 202/2025/QH15 merged
    into another, end on 30/06/2025; its communes stay open until a mapping ends them."""
    from .services import areas
    mapping = path is None
    if path is None:
        summary = areas.load_packaged_areas()
    else:
        from .sheets.reader import FileProblem, read_workbook
        try:
            sheets = read_workbook(path.read_bytes(), path.name)
        except FileProblem as e:
            _fail(e.message, as_json)
        rows = [list(r) for r in sheets[0].rows]
        header = [str(c or "").strip() for c in rows[0]] if rows else []
        try:
            mapping = set(areas.MAPPING_COLUMNS) <= set(header)
            if mapping:
                if valid_from or valid_to or pre_reform:
                    _fail("Bảng chuyển đổi xã cũ → xã mới luôn dùng ngày 30/06/2025 và 01/07/2025: "
                          "bỏ --valid-from, --valid-to, --pre-reform.", as_json)
                summary = areas.load_mapping_rows(
                    {h: _cell_text(v) for h, v in zip(header, r)} for r in rows[1:]
                    if any(c not in (None, "") for c in r))
            else:
                summary = areas.load_gso_rows(rows, valid_from and valid_from.date(),
                                              valid_to and valid_to.date(), pre_reform)
        except ValueError as e:
            _fail(str(e), as_json)
    db.session.commit()
    counts = summary.as_dict()
    if as_json:
        click.echo(json.dumps(counts, ensure_ascii=False))
        return
    click.echo(f"{counts['loaded']} đơn vị hành chính đã nạp: {counts['ended']} đã hết hiệu lực, "
               f"{counts['open']} còn hiệu lực (chưa có ngày kết thúc).")
    if counts["pre_reform"]:
        click.echo("Danh mục trước ngày 01/07/2025: các huyện và các tỉnh đã sáp nhập (Nghị quyết "
                   "202/2025/QH15) kết thúc ngày 30/06/2025.")
    if counts["unknown_provinces"]:
        click.echo("Mã tỉnh không thuộc 63 tỉnh trước ngày 01/07/2025, để nguyên như trong tệp: "
                   + ", ".join(counts["unknown_provinces"]) + ".", err=True)
    if mapping:
        click.echo("Bảng chuyển đổi: các xã cũ đã sáp nhập kết thúc ngày 30/06/2025, có xã mới kế thừa; "
                   "xã mới có hiệu lực từ 01/07/2025.")
    if counts["old_communes_open"]:
        click.echo(f"Giả định: {counts['old_communes_open']} xã, phường, thị trấn của danh mục cũ vẫn "
                   "còn hiệu lực vì chưa có bảng chuyển đổi xã cũ → xã mới; nạp bảng đó (dạng "
                   "areas_binh-son.csv) để kết thúc các xã đã sáp nhập.")
    elif path is not None and not counts["pre_reform"]:
        start = valid_from.date() if valid_from else areas.REFORM_DAY
        click.echo(f"Danh mục sau ngày 01/07/2025 (không có cấp huyện): các xã có hiệu lực từ "
                   f"{start:%d/%m/%Y}.")


def _cell_text(v):
    """A cell as text: a code typed as a number in Excel (``21040.0``) without its decimals."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v if v is not None else "").strip()


@click.command("import-list")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--commune", "commune_code", required=True, help="GSO code of the commune.")
@click.option("--program", type=click.Choice(["BTXH", "NCC", "HTXH"]))
@click.option("--month", help="Month of the list, YYYY-MM (default: from the title).")
@click.option("--dry-run", is_flag=True, help="Read and check, write nothing.")
@click.option("--create-villages", is_flag=True,
              help="Confirm the new village names of a commune that already has villages.")
@click.option("--new-from", metavar="YYYY-MM",
              help="The people added without a start month in the file are new grants from this "
                   "month (increases), not the opening balance; needs --decision-number and --decision-date.")
@click.option("--decision-number", help="Number of the decision granting them (with --new-from).")
@click.option("--decision-date", type=click.DateTime(["%d/%m/%Y", "%Y-%m-%d"]),
              help="Date of that decision, DD/MM/YYYY (with --new-from).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def import_list(path, commune_code, program, month, dry_run, create_villages, new_from,
                decision_number, decision_date, as_json):
    """Import a commune's beneficiary list (.xlsx, .xls or .csv).

    A file naming another commune (its title, or a commune column) is refused; one naming
    a unit of the chosen commune's lineage across the 2025 reform (an old commune merged
    into it, its successor) goes to that unit (--json: "commune"). The people
    it adds are the registry's opening balance, not increases, except those whose start
    month the file states and, with --new-from, the others."""
    from .services import history, imports
    if month and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        _fail(f"Tháng không hợp lệ: {month} (dạng YYYY-MM).", as_json, "bad_month")
    if (decision_number or decision_date) and not new_from:
        _fail("--decision-number và --decision-date đi cùng --new-from YYYY-MM.", as_json, "bad_new_grant")
    grant = None
    if new_from:
        try:
            grant = imports.NewGrant(new_from, decision_number or "",
                                     decision_date.date() if decision_date else None).check()
        except imports.ImportRefused as e:
            _fail(e.message, as_json, e.code)
    data = path.read_bytes()
    try:
        parsed = imports.parse(data, path.name, program, month)
    except imports.FileProblem as e:
        if as_json:
            click.echo(json.dumps({"error": e.code, "message": e.message}, ensure_ascii=False))
            sys.exit(1)
        _fail(e.message)
    if parsed.month is None:
        _fail("Tiêu đề tệp không ghi tháng: cho biết tháng của danh sách bằng --month YYYY-MM.",
              as_json, "no_month")
    try:
        imports.check_month(parsed.month, program or parsed.program)
        plan = imports.plan_for_code(parsed, commune_code, program)
        if plan is None:
            _fail(f"Không có xã mã {commune_code}: chạy «flask --app app load-areas» trước.",
                  as_json, "unknown_commune")
        imports.check_villages(plan, create_villages or dry_run)
    except imports.ImportRefused as e:
        _fail(e.message, as_json, e.code)
    except ValueError as e:
        _fail(str(e), as_json, "no_program")
    report = plan.report()
    commune = plan.commune  # the unit the file names, within the chosen code's lineage
    if not dry_run:
        user = history.system_user()
        batch = ImportBatch(commune_id=commune.id, program=plan.program, month=parsed.month,
                            filename=path.name, sha256=hashlib.sha256(data).hexdigest(),
                            data=data, user_id=user.id, status="committed")
        db.session.add(batch)
        db.session.flush()
        counts = imports.commit(plan, user, batch, create_villages=create_villages, new_grant=grant)
        report["increases"], report["proposed"] = counts["increases"], counts["proposed"]
        report["not_proposed"] = counts["not_proposed"]
        if counts["refresh_from"]:  # the drafts follow the grants and the changes the list states
            from .services import payments
            payments.refresh_drafts(plan.units, plan.program, counts["refresh_from"], user)
        from .services import checks
        checks.recheck(plan.record_ids())
        batch.summary = {k: report[k] for k in ("rows", "added", "changed", "unchanged", "skipped",
                                                "increases")}
        batch.summary["new_grant"] = grant.as_dict() if grant else None
        batch.committed_at = batch.created_at
        db.session.commit()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        click.echo(f"{commune.full_name} · {plan.program} · tháng {parsed.month or '?'}: "
                   f"{report['rows']} dòng, thêm {report['added']}, đổi {report['changed']}, "
                   f"giữ nguyên {report['unchanged']}, bỏ qua {report['skipped']}"
                   f"{' (chạy thử, chưa ghi)' if dry_run else ''}.")
        unit = report["commune"]
        if unit["successor"]:
            click.echo(f"  Danh sách của {unit['name']}"
                       f"{' (đến ' + '/'.join(reversed(unit['valid_to'].split('-'))) + ')' if unit['valid_to'] else ''}"
                       f", nay thuộc {unit['successor']['name']}.")
        if report["commune_chosen"] != unit:
            click.echo(f"  Tệp ghi «{report['commune_named']}»: ghi vào {unit['name']}, không phải "
                       f"{report['commune_chosen']['name']} đã chọn." if report["commune_named"] else
                       f"  Tháng {parsed.month}: {report['commune_chosen']['name']} không có hiệu lực, "
                       f"ghi vào {unit['name']}.")
        groups = report["groups"]
        if groups["catch_up"]:
            click.echo(f"  {groups['catch_up']} người hưởng mới từ tháng {grant.month}, QĐ {grant.number}: "
                       "phát sinh tăng." if grant else
                       f"  {groups['catch_up']} người thêm vào danh sách đang hưởng (số dư đầu kỳ, "
                       "không tính là phát sinh tăng).")
        for m, n in groups["starts"].items():
            click.echo(f"  {n} người có tháng bắt đầu hưởng {m} ghi trong tệp: phát sinh tăng tháng {m}.")
        if report["villages_to_confirm"] and dry_run:
            click.echo("  Thôn mới cần --create-villages: " + ", ".join(report["villages_to_confirm"]) + ".")
        for i in report["issues"]:
            click.echo(f"  [{i['severity']}] {i['code']}: {i['message']}")


@click.command("export-registry")
@click.option("--format", "fmt", type=click.Choice(["json", "xlsx"]), default="json")
@click.option("--area", "area_code", help="GSO code of a province, district or commune.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (xlsx: required).")
def export_registry(fmt, area_code, output):
    """Export the registry as JSON (a list of beneficiaries) or .xlsx."""
    from .services import registry
    units = None
    if area_code:
        # Every unit that has borne the code (21040: Châu Ổ until 30/06/2025, Xã Bình Sơn after).
        units = db.session.scalars(select(Area).where(Area.code == area_code)).all()
        if not units:
            _fail(f"Không có đơn vị mã {area_code}.")
    rows = registry.records_in(None, units)
    if fmt == "json":
        text = json.dumps(list(registry.to_json_rows(rows)), ensure_ascii=False)
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            click.echo(text)
    else:
        if not output:
            _fail("--output is required for xlsx.")
        registry.write_workbook(rows, "DANH SÁCH ĐỐI TƯỢNG", output)  # streamed to the file


@click.command("check-data")
@click.option("--area", "area_code", help="GSO code of a province, district or commune (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check_data(area_code, as_json):
    """Run the "đúng, đủ, sạch, sống" checks and print the findings (for a schedule)."""
    from .services import checks
    if area_code:
        units = db.session.scalars(select(Area).where(Area.code == area_code)).all()
        if not units:
            _fail(f"Không có đơn vị mã {area_code}.", as_json, "unknown_area")
        from .services.areas import subtree_ids
        ids = select(Beneficiary.id).where(Beneficiary.commune_id.in_(subtree_ids(units)))
    else:
        ids = select(Beneficiary.id)
    result = checks.recheck(ids)
    db.session.commit()
    findings = checks.open_findings(ids)
    if as_json:
        click.echo(json.dumps({"records": result["records"], "clean": result["clean"],
                               "findings": findings}, ensure_ascii=False))
    else:
        click.echo(f"{result['records']} hồ sơ, {result['clean']} không có lỗi; "
                   f"{len(findings)} vấn đề (thêm {result['added']}, đã hết {result['resolved']}).")


@click.command("create-user")
@click.argument("username")
# From the one list of roles, so a role the configuration names (DECIDING_ROLES: the commune
# chairman from 1/7/2025) can always be created.
@click.option("--role", type=click.Choice(PERSON_ROLES), required=True)
@click.option("--area", "area_code", help="GSO code of the user's area (or --national).")
@click.option("--national", is_flag=True,
              help="No area: the whole country (a ministry officer; their overview lists the provinces).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "full_name", default="")
def create_user(username, role, area_code, national, password, full_name):
    """Create a user (or reset their password, role and area). Exactly one of --area CODE
    and --national: a national user has no area and sees every area. The username, role,
    area and password follow ``services.users`` (a password of 10 characters or more, not
    containing the username); exit status 2 with the reason otherwise."""
    from .services import users
    if bool(area_code) == national:
        _fail("Cần đúng một trong hai: --area MÃ hoặc --national (cả nước).")
    try:  # the same rules as the admin's page (services.users)
        username = users.check_username(username)
        users.check_role(role)
        users.check_password(password, username)
        area = users.area_by_code(area_code) if area_code else None
    except users.UserError as e:
        _fail(str(e))
    user = db.session.scalar(select(User).where(User.username == username)) or User(username=username)
    user.role, user.area, user.full_name = role, area, full_name
    user.set_password(password)
    users.end_sessions(user)  # a reset password ends the sessions opened with the old one
    db.session.add(user)
    db.session.commit()
    click.echo(f"Người dùng {username} ({role}, {area.full_name if area else 'cả nước'}).")


@click.command("seed-demo")
@click.option("--size", default=5000, show_default=True, help="About how many beneficiaries.")
@click.option("--seed", default=2024, show_default=True)
@click.option("--world", type=click.Choice(["today", "2024"]), default="today", show_default=True,
              help="today: the cycle run to 11/2026, December 2026 open; 2024: Bình Sơn district in May 2024.")
def seed_demo(size, seed, world):
    """Load the synthetic demo data set (invented people only) and the demo users, whose
    password is «demo»: refused with PORTAL_ENV=production (a trial database runs without it)."""
    from .config import is_production
    if is_production():
        _fail("seed-demo tạo các tài khoản mẫu với mật khẩu «demo»: không chạy trên CSDL thật "
              "(PORTAL_ENV=production). Để thử, chạy lệnh này không có PORTAL_ENV.")
    from .services import areas, clock, demo, demo_today
    if not db.session.scalar(select(func.count(Area.id))):
        areas.load_packaged_areas()
    from .services import checks
    counts = demo.build_demo(seed=seed, size=size)
    demo.plant_problems(seed)
    if world == "today":
        demo_today.run_to_today(seed)
    else:
        clock.set_open_month("2024-05")
    demo.create_demo_users(world=world)
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    click.echo(json.dumps(counts, ensure_ascii=False))


@click.command("setup")
@click.option("--demo/--no-demo", default=True, help="Load the demo data set into an empty database.")
def setup(demo):
    """Apply migrations, load the shipped areas, and (on an empty database) the demo data."""
    from .services import areas
    from .services import demo as demo_data
    upgrade()
    if not db.session.scalar(select(func.count(Area.id))):
        areas.load_packaged_areas()
        db.session.commit()
        click.echo("Đã nạp các đơn vị hành chính của huyện Bình Sơn.")
    if demo and not db.session.scalar(select(func.count(Beneficiary.id))):
        from .services import checks
        from .services import demo_today
        counts = demo_data.build_demo()
        demo_data.plant_problems()
        click.echo("Đang chạy chu kỳ chi trả từ 06/2024 đến 11/2026 (khoảng hai phút)…")
        cycle = demo_today.run_to_today()
        demo_data.create_demo_users()
        checks.recheck(select(Beneficiary.id))
        db.session.commit()
        click.echo(f"Đã tạo dữ liệu mẫu: {counts}; chu kỳ 06/2024–11/2026: {cycle}; đang mở tháng 12/2026.")
    click.echo(f"Cơ sở dữ liệu: {current_app.config['SQLALCHEMY_DATABASE_URI']}")


@click.command("monthly-report")
@click.argument("month")
@click.option("--area", "area_code", required=True,
              help="GSO code of the district (or commune, province) in force that month.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report in the administrative form (.xlsx) to this file.")
@click.option("--live", is_flag=True, help="Today's numbers even when the report was made (chốt).")
def monthly_report(month, area_code, as_json, xlsx_path, live):
    """The monthly report to the province for MONTH (YYYY-MM): per commune and program, the
    report made (chốt) for that month when there is one, else as the history stands now."""
    from .services import months, reports
    from .services.areas import find_area
    try:
        month = months.parse(month)
    except ValueError as e:
        _fail(str(e), as_json, "bad_month")
    area = find_area(area_code, on=months.start(month))
    if area is None or area.level not in ("province", "district", "commune"):
        _fail(f"Không có đơn vị mã {area_code} trong tháng {months.label(month)}.", as_json, "unknown_area")
    report, record = reports.report_for(area, month, live=live)
    if xlsx_path:
        try:
            xlsx_path.write_bytes(reports.workbook(report))
        except OSError as e:
            _fail(f"Không ghi được tệp {xlsx_path}: {e.strerror}.", as_json, "write_failed")
    if as_json:
        click.echo(json.dumps(reports.as_json(report), ensure_ascii=False))
        return
    made = (f"đã chốt {reports.local_time(record.made_at):%d/%m/%Y %H:%M}" if record
            else "số liệu hiện tại, chưa chốt")
    click.echo(f"{area.full_name} · tháng {months.label(month)} ({made})")
    if not any(r["has_list"] for r in report["rows"]):
        click.echo("  Chưa có danh sách chi trả nào đã khóa trong tháng này.", err=True)
    for program, t in report["totals"].items():
        rate = t["rates"]["cashless"]
        rate = "—" if rate is None else f"{rate:.1f}".replace(".", ",") + " %"
        click.echo(f"  {program}: trong danh sách {t['listed']} người, đã chi {t['paid']}; không dùng tiền mặt "
                   f"{t['paid_cashless']} ({rate} người trong danh sách, chỉ tiêu "
                   f"{t['rates']['targets']['cashless']} %); tiền mặt {t['paid_cash']}; "
                   f"tăng {t['increases']}, giảm {t['decreases']}")
    if xlsx_path:
        click.echo(f"Đã ghi {xlsx_path}.")


# ------------------------------------------------------------------ the monthly cycle

# Who may do what, as on the web: the roles that prepare the lists (payments.routes.PREPARERS)
# and the payment provider; the admin passes everywhere, as ``web.roles_required`` lets it.
CYCLE_ROLES = {"build": ("commune", "district", "province"), "lock": ("commune", "district", "province"),
               "results": ("payer",)}
LINE_STATUS = {"listed": "payable", "blocked": "blocked", "held": "held"}
USER_HELP = ("Username the command acts as (required): its role must be allowed to do this on the web, "
             "its area bounds what it may touch, and the history records its name.")


def _cycle_user(username, task, as_json):
    """The active ``User`` called ``username`` whose role may do ``task`` on the web."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        _fail(f"Không có người dùng đang hoạt động tên «{username}».", as_json, "unknown_user")
    roles = CYCLE_ROLES[task]
    if user.role not in roles and user.role != "admin":
        _fail(f"Người dùng «{username}» (vai trò {user.role}) không được làm việc này; cần vai trò "
              + " hoặc ".join(roles) + ".", as_json, "forbidden")
    return user


def _cycle_month(text, as_json):
    from .services import months
    try:
        return months.parse(text)
    except ValueError as e:
        _fail(str(e), as_json, "bad_month")


def _cycle_area(code, month, user, as_json):
    """The province, district or commune ``code`` in force in ``month``, within ``user``'s area."""
    from .services import months
    from .services.areas import find_area
    from .services.scope import can_see_area
    area = find_area(code, on=months.start(month))
    if area is None or area.level not in ("province", "district", "commune"):
        _fail(f"Không có đơn vị mã {code} trong tháng {months.label(month)}.", as_json, "unknown_area")
    if not can_see_area(user, area):
        _fail(f"{area.full_name} ngoài địa bàn của người dùng «{user.username}».", as_json, "out_of_scope")
    return area


def _communes_of(area, month, as_json):
    from .services import months
    from .services.areas import communes_below
    communes = [area] if area.level == "commune" else communes_below(area, on=months.start(month))
    if not communes:
        _fail(f"{area.full_name} không có xã nào trong tháng {months.label(month)}.", as_json, "no_commune")
    return communes


def _programs(program, month, as_json=False):
    """The programs asked (``--program``), else every program paid in ``month`` (HTXH from
    07/2025); HTXH asked for an earlier month is bad input."""
    from .services import months
    from .services.pension import programs_in
    if program and program not in programs_in(month):
        _fail(f"Chưa có chương trình {program} trong tháng {months.label(month)}: trợ cấp hưu trí xã hội "
              "chi trả từ tháng 07/2025.", as_json, "bad_program")
    return [program] if program else list(programs_in(month))


def _list_json(period):
    """One list as ``payment-lists --json`` prints it: every line with its status as the
    list decided it (``payable``, ``blocked`` — an open error, or anything else that blocks
    payment —, ``held``), the line's note as the reason, and the amount in đồng with the
    arrears included."""
    from sqlalchemy.orm import selectinload

    from .models import PaymentLine
    lines = db.session.scalars(select(PaymentLine).where(PaymentLine.period_id == period.id)
                               .options(selectinload(PaymentLine.beneficiary)).order_by(PaymentLine.id)).all()
    return {"commune_code": period.commune.code, "program": period.program, "state": period.status,
            "lines": [{"national_id": line.beneficiary.national_id, "name": line.beneficiary.full_name,
                       "amount": int(line.amount + line.arrears), "method": line.method,
                       "status": LINE_STATUS[line.status],
                       "reasons": [line.note] if line.status != "listed" and line.note else []}
                      for line in lines]}


def _list_summary(period, done=""):
    from .services import payments
    from .vn.money import format_vnd
    t = payments.totals(period)
    state = "đã khóa" if period.status == "locked" else "đang soạn"
    return (f"  {period.commune.code} {period.commune.full_name} · {period.program} · lần {period.version} · "
            f"{state}{done}: {t['listed']} người được chi, {format_vnd(t['amount'])}; "
            f"{t['blocked']} bị chặn, {t['held']} tạm giữ")


def _latest_lists(communes, month, programs):
    from .services import payments
    found = [payments.last_version(c.id, month, p) for c in communes for p in programs]
    return [p for p in found if p is not None]


@click.group("payment-lists")
def payment_lists():
    """The monthly payment lists from the command line: build, lock, results.

    Each command acts as the user named by --user, as on the web: its role must be allowed
    to do it there (build and lock: commune or district; results: payer; admin: all), its
    area bounds the communes it may touch, and the lists and the history record its name.
    Exit status: 0 done, 1 the lists or the file have problems (listed), 2 bad input."""


def _month_area_options(command):
    """MONTH, --area, --user, --program and --json: what build and lock both take."""
    for option in reversed((
            click.argument("month"),
            click.option("--area", "area_code", required=True,
                         help="GSO code of a commune, district or province in force that month."),
            click.option("--user", "username", required=True, help=USER_HELP),
            click.option("--program", type=click.Choice(["BTXH", "NCC", "HTXH"]),
                         help="One program (default: every program of the month; HTXH from 2025-07)."),
            click.option("--json", "as_json", is_flag=True, help="Print one JSON object."))):
        command = option(command)
    return command


@payment_lists.command("build")
@_month_area_options
def payment_lists_build(month, area_code, username, program, as_json):
    """Open MONTH's (YYYY-MM) payment lists for every commune of the area that has none, and
    refresh the drafts already open (holds kept); locked lists are left as they are. Any
    month builds on its own, from the registry and the decisions in force."""
    from .services import months, payments
    user = _cycle_user(username, "build", as_json)
    month = _cycle_month(month, as_json)
    area = _cycle_area(area_code, month, user, as_json)
    communes = _communes_of(area, month, as_json)
    programs = _programs(program, month, as_json)
    built, skipped = payments.build_area(area, month, programs, user)  # the web's "every commune"
    done = {p.id: " (mới lập)" for p in built}
    for p in skipped:
        if p.status == "draft":
            n = payments.refresh(p, user)
            done[p.id] = f" (đã cập nhật: thêm {n['added']}, bớt {n['removed']})"
    db.session.commit()
    lists = sorted(_latest_lists(communes, month, programs), key=lambda p: (p.commune.code, p.program))
    if as_json:
        click.echo(json.dumps({"month": month, "lists": [_list_json(p) for p in lists]}, ensure_ascii=False))
        return
    click.echo(f"{area.full_name} · tháng {months.label(month)}: lập {len(built)} danh sách, cập nhật "
               f"{sum(1 for p in skipped if p.status == 'draft')}, "
               f"{sum(1 for p in skipped if p.status == 'locked')} đã khóa giữ nguyên.")
    for p in lists:
        click.echo(_list_summary(p, done.get(p.id, "")))


@payment_lists.command("lock")
@_month_area_options
def payment_lists_lock(month, area_code, username, program, as_json):
    """Lock MONTH's draft lists of the area, each on the web's rules: a draft that no longer
    matches the registry (refresh it with «build») or that still has a blocked line is not
    locked and is listed with the reason (exit 1); the others are locked."""
    from .services import months, payments
    user = _cycle_user(username, "lock", as_json)
    month = _cycle_month(month, as_json)
    area = _cycle_area(area_code, month, user, as_json)
    communes = _communes_of(area, month, as_json)
    drafts = [p for p in _latest_lists(communes, month, _programs(program, month, as_json)) if p.status == "draft"]
    if not drafts:
        _fail(f"Không có danh sách đang soạn nào tháng {months.label(month)} của {area.full_name} để khóa.",
              as_json, "nothing_to_lock")
    locked, refused = [], []
    for p in sorted(drafts, key=lambda p: (p.commune.code, p.program)):
        try:
            payments.lock(p, user)
            locked.append(p)
        except payments.PeriodError as e:
            refused.append({"commune_code": p.commune.code, "program": p.program, "message": str(e)})
    db.session.commit()
    if as_json:
        out = {"month": month, "lists": [_list_json(p) for p in locked], "refused": refused}
        if refused:
            out.update(error="not_locked", message=f"{len(refused)} danh sách chưa khóa được.")
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(f"{area.full_name} · tháng {months.label(month)}: đã khóa {len(locked)} danh sách"
                   + (f", {len(refused)} chưa khóa được." if refused else "."))
        for p in locked:
            click.echo(_list_summary(p))
        for r in refused:
            click.echo(f"  {r['commune_code']} · {r['program']}: {r['message']}", err=True)
    if refused:
        sys.exit(1)


@payment_lists.command("results")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--month", required=True, help="Month of the lists paid, YYYY-MM.")
@click.option("--area", "area_code", help="GSO code of a commune, district or province (default: the user's area).")
@click.option("--user", "username", required=True, help=USER_HELP)
@click.option("--confirm", is_flag=True, help="Record the results (all or nothing); without it, preview only.")
@click.option("--overwrite", is_flag=True, help="With --confirm: also replace results already recorded.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def payment_lists_results(path, month, area_code, username, confirm, overwrite, as_json):
    """Read the payment provider's result file (.csv, .xlsx, .xls) for the locked lists of
    MONTH, as the web's upload does: without --confirm, print what would be recorded and
    every row problem (row and column); with --confirm, record all of it or nothing. The
    same file twice records nothing the second time. A row that would replace a result
    already recorded refuses the whole file unless --overwrite is given."""
    from dataclasses import asdict

    from .models import utcnow
    from .services import payments, results
    from .sheets.reader import FileProblem
    user = _cycle_user(username, "results", as_json)
    month = _cycle_month(month, as_json)
    area = _cycle_area(area_code, month, user, as_json) if area_code else None
    try:
        data = path.read_bytes()
    except OSError as e:
        _fail(f"Không đọc được tệp {path}: {e.strerror or e}.", as_json, "unreadable_file")
    try:
        plan = results.read(data, user, None, path.name, month=month, area=area)
    except FileProblem as e:
        _fail(e.message, as_json, e.code)
    keep = ("row", "reference", "name", "commune", "month", "program", "amount", "result", "reason",
            "old_result")
    report = {"month": month, "file": path.name, "counts": plan.counts(), "errors": plan.errors,
              "changes": [{k: v for k, v in asdict(c).items() if k in keep} for c in plan.to_change
                          if not c.overwrite],
              "overwrites": [{k: v for k, v in asdict(c).items() if k in keep} for c in plan.overwrites],
              "confirmed": False, "applied": 0}
    problem = None
    if not plan.ok:
        problem = ("row_errors", f"Tệp còn {plan.error_count} lỗi: chưa ghi gì. Sửa tệp rồi chạy lại.")
    elif confirm and plan.overwrites and not overwrite:
        problem = ("overwrite", f"{len(plan.overwrites)} dòng sẽ ghi đè kết quả đã ghi: chưa ghi gì. "
                                "Xem lại rồi chạy lại với --overwrite nếu đúng là cần ghi đè.")
    elif confirm:
        try:
            n = results.apply(plan, user, overwrite=overwrite)
        except (results.ResultsError, payments.PeriodError) as e:
            db.session.rollback()
            _fail(str(e), as_json, "not_applied")
        if n:  # the file is kept as the web keeps an upload: who sent what, when
            db.session.add(ImportBatch(
                kind="results", commune_id=user.area_id or (area.id if area else None), month=month,
                filename=path.name[:255], data=data, sha256=hashlib.sha256(data).hexdigest(),
                user_id=user.id, status="committed", committed_at=utcnow(),
                summary={**plan.snapshot(), "period_id": None, "applied": n, "kept": 0, "source": "cli"}))
        db.session.commit()
        report.update(confirmed=True, applied=n)
    if problem:
        report.update(error=problem[0], message=problem[1])
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print_results(report, confirm)
    if problem:
        sys.exit(1)


def _print_results(report, confirm):
    from .services import months
    from .services.results import RESULT_LABELS
    c = report["counts"]
    per = ", ".join(f"{c[k]} {RESULT_LABELS[k].lower()}" for k in RESULT_LABELS if c.get(k))
    if report["confirmed"]:
        head = f"đã ghi {report['applied']} kết quả"
    else:
        head = f"xem trước, {c['change']} kết quả sẽ ghi" + (f" ({per})" if per else "")
    click.echo(f"{report['file']} · tháng {months.label(report['month'])}: {head}; {c['overwrite']} ghi đè, "
               f"{c['unchanged']} không đổi, {c['errors']} lỗi."
               + ("" if confirm or report.get("error") else " Chưa ghi gì: thêm --confirm để ghi."))
    for r in report["changes"]:
        click.echo(f"  Dòng {r['row']}: {r['reference']} {r['name']} → {RESULT_LABELS[r['result']]}"
                   + (f" ({r['reason']})" if r["reason"] else ""))
    for r in report["overwrites"]:
        click.echo(f"  Dòng {r['row']}: {r['reference']} {r['name']}: ghi đè {RESULT_LABELS[r['old_result']]}"
                   f" → {RESULT_LABELS[r['result']]}")
    for e in report["errors"]:
        click.echo(f"  {e['text']}", err=True)
    if report.get("error"):
        click.echo(report["message"], err=True)


@click.command("worker")
@click.option("--workers", "-w", type=click.IntRange(1, 32), default=None,
              help="Worker threads (default JOB_WORKERS, else 1 on SQLite and 2 otherwise).")
def worker(workers):
    """Run the background jobs (imports, a province's lists, exports, checks) from the
    queue of JOB_QUEUE_URL until stopped: Ctrl-C (SIGINT) lets the running jobs finish
    first; SIGTERM stops at once, and the jobs it cut are queued again (``jobs.recover``)."""
    from .queue import queue
    huey = queue()
    if huey.immediate:
        _fail("JOB_QUEUE_URL=memory:// runs each job inside its request: there is no queue to work.")
    sqlite = db.engine.dialect.name == "sqlite"
    n = workers or current_app.config["JOB_WORKERS"] or (1 if sqlite else 2)
    click.echo(f"Worker: {n} thread(s), queue {current_app.config['JOB_QUEUE_URL']}", err=True)
    import logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # A SQLite queue is polled: at most 2 s between two looks when idle (Redis blocks instead).
    huey.create_consumer(workers=n, worker_type="thread", periodic=True, check_worker_health=True,
                         initial_delay=0.1, max_delay=2.0).run()


def _recount_progress():
    from .services import progress, tallies
    n = tallies.rebuild(progress.campaign_start())
    return f"progress_count: {n} đối tượng đang hưởng, rà soát tính từ {tallies.basis()}"


def _recount_lists():
    from .services import counts
    return f"payment_count: {counts.recount()} danh sách đã khoá"


def _recount_quality():
    from .services import quality_counts
    n = quality_counts.recount_quality()
    return (f"finding_count, quality_record, quality_count: {n['findings']} vấn đề đang mở, "
            f"{n['records']} hồ sơ")


# The steps of ``flask recount``, in order: (name, function returning what it counted).
RECOUNT_STEPS = [("progress", _recount_progress), ("lists", _recount_lists), ("quality", _recount_quality)]


@click.command("recount")
def recount():
    """Count again, from the registry, every figure the writes keep (one transaction): the
    progress counters (``progress_count``, from CAMPAIGN_START), the stored figures of
    the locked lists (``payment_count``; lists locked before migration 0012 have none) and
    the data-quality counters (``finding_count``, ``quality_record``, ``quality_count``).
    Run it after changing CAMPAIGN_START, or to mend counters a direct edit left wrong."""
    for name, step in RECOUNT_STEPS:
        click.echo(step())
    db.session.commit()


def init_app(app):
    for command in (load_areas, import_list, export_registry, check_data, create_user, seed_demo,
                    setup, monthly_report, payment_lists, worker, recount):
        app.cli.add_command(command)
