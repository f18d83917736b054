"""The demo carried on to today: the cycle run from June 2024 to November 2026 across the
2025 reform, December 2026 open, the users in today's units."""
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import Area, Beneficiary, ChangeProposal, PaymentLine, PaymentPeriod, User
from portal.services import areas, clock, demo, demo_today, months, payments, reports
from tests.conftest import PG_URL, _config, _pg_database, login
from tests.test_budgets import budget_failures, walk

SIZE = 600


@pytest.fixture(scope="module")
def today_app():
    app = create_app(_config(_pg_database("today") if PG_URL else "sqlite://"))
    app.config["CAMPAIGN_MONTH"] = None  # the data set's own month, as `make run` has it
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        demo.build_demo(size=SIZE)
        demo.plant_problems()
        counts = demo_today.run_to_today()
        demo.create_demo_users(fast=True)
        db.session.commit()
        app.counts = counts
    yield app  # no app context held open: each request gets its own, as when served


@pytest.fixture
def ctx(today_app):
    with today_app.app_context():
        yield today_app


def _lists_by_month():
    return dict(db.session.execute(select(PaymentPeriod.month, func.count()).group_by(PaymentPeriod.month)).all())


def test_the_cycle_runs_to_november_2026_and_december_is_open(ctx):
    assert ctx.counts["months"] == len(months.between("2024-06", "2026-12")) == 30
    assert clock.open_month() == "2026-12"
    by_month = _lists_by_month()
    assert sorted(by_month)[0] == "2024-01" and sorted(by_month)[-1] == "2026-11"
    assert "2026-12" not in by_month
    assert by_month["2025-06"] == 44  # 22 old communes × BTXH, NCC
    assert by_month["2025-07"] == 15  # 5 new communes × BTXH, NCC, HTXH
    assert by_month["2026-11"] == 12  # Xã Bình Sơn's November is left for the user
    assert not db.session.scalar(select(func.count()).select_from(PaymentPeriod).where(
        PaymentPeriod.status != "locked"))


def test_each_list_is_under_the_units_of_its_month(ctx):
    for month, valid_from, valid_to in db.session.execute(
            select(PaymentPeriod.month, Area.valid_from, Area.valid_to)
            .join(Area, Area.id == PaymentPeriod.commune_id)):
        first, last = months.start(month), months.end(month)
        assert (valid_from is None or valid_from <= first) and (valid_to is None or valid_to >= last)
    # Nobody is on two lists of one program in one month.
    twice = db.session.execute(
        select(PaymentPeriod.month, PaymentLine.beneficiary_id, func.count())
        .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
        .where(PaymentLine.status == "listed")
        .group_by(PaymentPeriod.month, PaymentLine.beneficiary_id).having(func.count() > 1)).all()
    assert twice == []


def test_old_communes_people_are_paid_by_their_successor(ctx):
    chanh = areas.find_area("21052", "commune")
    son = areas.find_commune("21040", "2026-11")
    person = db.session.scalar(select(Beneficiary).where(
        Beneficiary.commune_id == chanh.id, Beneficiary.status == "active").order_by(Beneficiary.id))
    paid_by = dict(db.session.execute(
        select(PaymentPeriod.month, PaymentPeriod.commune_id)
        .join(PaymentLine, PaymentLine.period_id == PaymentPeriod.id)
        .where(PaymentLine.beneficiary_id == person.id)).all())
    assert paid_by["2025-06"] == chanh.id and paid_by["2025-07"] == son.id and paid_by["2026-10"] == son.id


def test_the_amount_follows_the_dated_level(ctx):
    line = lambda month: db.session.execute(  # noqa: E731
        select(PaymentLine.amount, Beneficiary.coefficient)
        .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
        .join(Beneficiary, Beneficiary.id == PaymentLine.beneficiary_id)
        .where(PaymentPeriod.month == month, PaymentPeriod.program == "BTXH", PaymentLine.arrears == 0,
               Beneficiary.coefficient == 1.5).limit(1)).one()
    assert line("2024-06") == (540_000, 1.5) and line("2024-07") == (750_000, 1.5)


def test_the_social_pension_begins_in_july_2025(ctx):
    assert ctx.counts["transfers"] > 0
    htxh = db.session.execute(
        select(PaymentPeriod.month, func.count(PaymentLine.id)).join(PaymentLine, PaymentLine.period_id == PaymentPeriod.id)
        .where(PaymentPeriod.program == "HTXH").group_by(PaymentPeriod.month)).all()
    assert min(m for m, _ in htxh) == "2025-07" and all(n > 0 for _, n in htxh)
    # A transferred person leaves the BTXH list the month the HTXH list takes them.
    moved = db.session.scalar(select(Beneficiary).where(Beneficiary.transferred_from_id.is_not(None))
                              .order_by(Beneficiary.id))
    on = lambda month, bid: db.session.scalars(  # noqa: E731
        select(PaymentPeriod.program).join(PaymentLine, PaymentLine.period_id == PaymentPeriod.id)
        .where(PaymentPeriod.month == month, PaymentLine.beneficiary_id == bid, PaymentLine.status == "listed")).all()
    assert on("2025-06", moved.transferred_from_id) == ["BTXH"] and on("2025-07", moved.transferred_from_id) == []
    assert on("2025-07", moved.id) == ["HTXH"]
    amounts = set(db.session.scalars(select(PaymentLine.amount).join(PaymentPeriod).where(
        PaymentPeriod.program == "HTXH", PaymentLine.arrears == 0)))
    assert amounts == {500_000}


def test_decisions_are_by_the_level_of_their_day(ctx):
    deciders = db.session.execute(
        select(ChangeProposal.effective_month, User.role).join(User, User.id == ChangeProposal.decided_by_id)
        .where(ChangeProposal.status == "approved", ChangeProposal.kind.in_(("stop", "suspend")))).all()
    assert {role for m, role in deciders if m <= "2025-06"} == {"district"}
    assert {role for m, role in deciders if m >= "2025-08"} == {"chairman"}


def test_the_users_work_in_todays_units(ctx):
    where = {u.username: (u.role, u.area.code, u.area.valid_from) for u in db.session.scalars(
        select(User).where(User.area_id.is_not(None)))}
    assert where["commune"][:2] == ("commune", "21040") and str(where["commune"][2]) == "2025-07-01"
    assert where["province"][:2] == ("province", "51")
    assert where["chairman"][:2] == ("chairman", "21040")
    assert where["district"][:2] == ("district", "524")


def test_reports_before_and_after_the_reform(ctx):
    june = reports.monthly_report(areas.find_area("524", "district"), "2025-06")
    assert len({r["commune_code"] for r in june["rows"]}) == 22
    province = areas.find_area("51", "province", on=months.start("2026-10"))
    october = reports.monthly_report(province, "2026-10")
    codes = {r["commune_code"] for r in october["rows"] if r["listed"]}
    assert codes == set(demo_today.NEW_COMMUNES)
    total = october["total"]
    assert total["pending"] == 0 and total["paid"] + total["failed"] + total["returned"] == total["listed"] > 0


def test_the_province_and_the_new_commune_log_in(today_app):
    client = today_app.test_client()
    with today_app.app_context():
        login(client, "commune")
        html = client.get("/payments").get_data(as_text=True)
        assert "Xã Bình Sơn" in html


@pytest.mark.parametrize("role", ["province", "commune", "chairman", "police", "payer"])
def test_todays_pages_within_budget_and_without_a_district(today_app, role):
    """Every page a post-reform user reaches from their landing page: within the byte budget,
    answering 200, and never naming a district (the old world only by a past month asked)."""
    client = today_app.test_client()
    login(client, role)
    result = walk(client, "/", limit=60)
    assert not budget_failures(role, result), "\n".join(budget_failures(role, result))
    assert len({p["kind"] for p in result["pages"]}) >= 4
    for page in result["pages"]:
        if "month=2024" in page["url"] or "month=2025-0" in page["url"]:
            continue
        # Who decided a change of 2024 is history: the district's officer, by name.
        html = re.sub(r"Người quyết định: [^<]*", "", client.get(page["url"]).get_data(as_text=True))
        assert "huyện" not in html.lower(), page["url"]


def test_the_province_overview_ranks_all_its_communes(today_app):
    client = today_app.test_client()
    login(client, "province")
    html = client.get("/overview").get_data(as_text=True)
    assert "96 xã trong tháng 12/2026" in html
    old = client.get("/overview?month=2024-05").get_data(as_text=True)
    assert "Huyện Bình Sơn" in old and "Xã Bình Chánh" in old


def test_the_months_before_november_are_reported_and_novembers_list_can_be_locked(ctx):
    from portal.models import MonthlyReport
    made = set(db.session.execute(select(MonthlyReport.month, Area.code).join(Area, Area.id == MonthlyReport.area_id)))
    assert ("2024-01", "524") in made and ("2025-06", "524") in made
    assert {("2026-10", code) for code in demo_today.NEW_COMMUNES + ("51",)} <= made
    assert not {m for m, _ in made if m >= "2026-11"}  # November's report is the user's to make
    # The amounts the registry states follow the 2024 levels (Decree 76/2024), so Xã Bình
    # Sơn's November list is blocked only by the faults planted on purpose.
    son = areas.find_commune("21040", "2026-11")
    officer = db.session.scalar(select(User).where(User.username == "commune"))
    for program in ("BTXH", "NCC", "HTXH"):
        period = payments.build(son, "2026-11", program, officer)
        blocked = [line.note for line in period.lines if line.status == "blocked"]
        assert len(blocked) <= 3 and not any("hệ số" in note for note in blocked), blocked
    db.session.rollback()


def test_a_past_month_on_the_overview_is_as_it_was(today_app):
    """The overview of 05/2024 counts that month's lists and results, not today's registry."""
    with today_app.app_context():
        district = areas.find_area("524", "district")
        row = next(r for r in reports.monthly_report(district, "2024-05")["rows"]
                   if r["commune_code"] == "21052" and r["program"] == "BTXH")
    client = today_app.test_client()
    login(client, "province")
    html = client.get("/overview?month=2024-05&q=binh chanh&program=BTXH").get_data(as_text=True)
    assert "Tháng đã qua" in html
    assert f"{row['reviewed']}/{row['listed']}" in html and f"{row['paid_cashless']}/{row['listed']}" in html


def test_the_former_district_opens_on_its_last_month(today_app):
    client = today_app.test_client()
    login(client, "district")
    html = client.get("/overview").get_data(as_text=True)
    assert "22 xã trong tháng 06/2025" in html
    assert "06/2025" in client.get("/reports/monthly").get_data(as_text=True)


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "2026-13", "2099-01"])
def test_the_transfers_page_checks_its_month_like_every_page(today_app, month):
    client = today_app.test_client()
    login(client, "chairman")
    assert client.get(f"/pension/transfers?month={month}").status_code == 400
    assert client.get("/pension/transfers").status_code == 200


def test_a_report_after_the_reform_names_its_units_as_they_are(ctx):
    son = areas.find_commune("21040", "2026-10")
    sheet = load_workbook(io.BytesIO(reports.workbook(reports.monthly_report(son, "2026-10")))).active
    assert "Xã, phường, đặc khu" in [c.value for c in sheet[9]]
    chanh = areas.find_area("21052", "commune")
    old = load_workbook(io.BytesIO(reports.workbook(reports.monthly_report(chanh, "2024-05")))).active
    assert "Xã, thị trấn" in [c.value for c in old[9]]
