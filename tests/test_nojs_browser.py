"""Every task with JavaScript off, in real Chromium (``java_script_enabled=False``): review,
account update, upload, fix, payment result, proposal and decision, report. Each one is
done through the pages as an officer would, with plain forms and links, and then checked
in the database.

The server runs over a small world of its own (not the demo's), built through the
product's functions: people of Bình Chánh (21052) in May 2024, and its BTXH list for
May, locked.
"""
import threading
from datetime import date

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from portal.models import Beneficiary, ChangeProposal, Finding, MonthlyReport, PaymentLine
from portal.services import areas
from tests import filegen
from tests.conftest import _config, fast_users, log_in_as, user

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """``(app, base URL, ids)``: ``ids`` names the people each task works on and the
    locked list: ``review``, ``account``, ``fix``, ``stop`` (beneficiary ids), ``period``,
    ``line`` (a cash line of the list)."""
    from portal.services import checks, payments
    from portal.services.areas import find_commune
    from tests.factories import person, with_account
    app = create_app(_config(f"sqlite:///{tmp_path_factory.mktemp('nojs') / 'nojs.db'}"))
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        fast_users()
        ids = {
            "review": person(name="Đỗ Văn Rà", national_id="051050000301").id,
            "account": person(name="Đỗ Thị Khoản", sex="F", birth=date(1948, 2, 1),
                              national_id="051148000302").id,
            "fix": person(name="Đỗ Văn Sửa", national_id=None).id,
            "stop": with_account(person(name="Đỗ Văn Dừng", national_id="051050000304"),
                                 number="4300205000304").id,
            "paid": person(name="Đỗ Văn Chi", national_id="051050000305").id,
        }
        checks.recheck(select(Beneficiary.id))
        period = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", user("district"))
        payments.lock(period, user("district"))
        ids["period"] = period.id
        ids["line"] = next(x.id for x in period.lines if x.beneficiary_id == ids["paid"])
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_port}", ids
    server.shutdown()


@pytest.fixture
def no_js(browser):
    """``open_as(base, username)``: a logged-in page of a context with JavaScript disabled."""
    def open_as(base, username):
        context = browser.new_context(java_script_enabled=False)
        contexts.append(context)
        page = context.new_page()
        log_in_as(page, base, username)
        assert scripts_off(page)
        return page
    contexts = []
    yield open_as
    for c in contexts:
        c.close()


def submit(page, button):
    """Click a submit button and wait for the page it leads to (a real navigation: no
    script runs to swap anything)."""
    with page.expect_navigation():
        page.click(button)


def scripts_off(page):
    """True when the page (which asks for htmx and boosting) runs no script: with scripts
    on, htmx would be defined on the window."""
    return page.locator("body").get_attribute("hx-boost") == "true" and not page.evaluate(
        "() => typeof window.htmx !== 'undefined'")


def beneficiary(app, bid):
    with app.app_context():
        b = db.session.get(Beneficiary, bid)
        facts = {"status": b.status, "account_status": b.account_status, "payment_method": b.payment_method,
                 "reviewed_at": b.reviewed_at, "no_account_reason": b.no_account_reason,
                 "national_id": b.national_id,
                 "account": (b.account.bank_bin, b.account.number) if b.account else None,
                 "open_findings": sorted(f.code for f in db.session.scalars(select(Finding).where(
                     Finding.beneficiary_id == bid, Finding.resolved_at.is_(None))))}
        db.session.remove()
        return facts


def household_of(app, bid):
    with app.app_context():
        hid = db.session.get(Beneficiary, bid).household_id
        db.session.remove()
        return hid


def test_review_records_a_visit(world, no_js):
    app, base, ids = world
    bid = ids["review"]
    page = no_js(base, "commune")
    page.goto(f"{base}/households/{household_of(app, bid)}")
    page.select_option(f"#b{bid}-account_status", "no_account")
    page.select_option(f"#b{bid}-payment_method", "cash")
    page.fill(f"#b{bid}-no_account_reason", "Chưa có CCCD gắn chip")
    page.fill(f"#b{bid}-visited_on", "2024-05-10")
    submit(page, f"#b{bid} button:has-text('Lưu')")
    assert "Đã lưu rà soát" in page.content()
    facts = beneficiary(app, bid)
    assert facts["account_status"] == "no_account" and facts["payment_method"] == "cash"
    assert facts["no_account_reason"] == "Chưa có CCCD gắn chip"
    assert facts["reviewed_at"] is not None and facts["reviewed_at"].date() == date(2024, 5, 10)


def test_account_update(world, no_js):
    app, base, ids = world
    bid = ids["account"]
    page = no_js(base, "commune")
    page.goto(f"{base}/households/{household_of(app, bid)}")
    page.select_option(f"#b{bid}-account_status", "has_account")
    page.select_option(f"#b{bid}-payment_method", "account")
    page.select_option(f"#b{bid}-bank_bin", "970405")
    page.fill(f"#b{bid}-number", "4300205000302")
    page.select_option(f"#b{bid}-recipient_type", "self")
    submit(page, f"#b{bid} button:has-text('Lưu')")
    assert "Có tài khoản" in page.locator(f"#b{bid}").inner_text()
    facts = beneficiary(app, bid)
    assert facts["account_status"] == "has_account" and facts["payment_method"] == "account"
    assert facts["account"] == ("970405", "4300205000302")


def test_upload_preview_confirm(world, no_js, tmp_path):
    app, base, ids = world
    people = filegen.make_people(4, seed=55)
    path = tmp_path / "ds-binh-chanh.csv"
    filegen.write_list(people, "csv_semicolon_bom", path, program="BTXH", month="2024-05")
    page = no_js(base, "commune")
    page.goto(f"{base}/imports/new")
    page.set_input_files("#file", str(path))
    page.select_option("#program", "BTXH")
    page.fill("#month", "2024-05")
    submit(page, "main button:has-text('Xem trước')")
    assert page.url.rstrip("/").split("/")[-2] == "imports"
    assert "Thêm mới" in page.locator("main").inner_text()
    with app.app_context():  # nothing written before the confirmation
        names = {p["name"] for p in people}
        assert not db.session.scalars(select(Beneficiary).where(Beneficiary.full_name.in_(names))).all()
        db.session.remove()
    if page.locator("#create_villages").count():  # villages new to the demo commune: confirmed
        page.check("#create_villages")
    submit(page, "button:has-text('Xác nhận, ghi vào sổ')")
    assert "Đã nhập" in page.locator("main").inner_text()
    with app.app_context():
        stored = db.session.scalars(select(Beneficiary.full_name).where(Beneficiary.full_name.in_(names))).all()
        db.session.remove()
    assert sorted(stored) == sorted(names)


def test_fix_one_field_from_the_quality_page(world, no_js):
    app, base, ids = world
    bid = ids["fix"]
    assert "missing_id" in beneficiary(app, bid)["open_findings"]
    page = no_js(base, "commune")
    page.goto(f"{base}/quality")
    form = page.locator(f"#q{bid} form", has=page.locator(f"#f{bid}-national_id-value"))
    form.locator("input[type=text]").fill("051050000303")
    with page.expect_navigation():
        form.locator("button:has-text('Sửa')").click()
    assert "/quality/" in page.url
    facts = beneficiary(app, bid)
    assert facts["national_id"] == "051050000303"
    assert "missing_id" not in facts["open_findings"]


def test_payment_result_on_a_locked_list(world, no_js):
    app, base, ids = world
    line_id = ids["line"]
    page = no_js(base, "payer")
    page.goto(f"{base}/payments/{ids['period']}")
    page.select_option(f"#r{line_id}-result", "paid_cash")
    submit(page, f"#l{line_id} button:has-text('Ghi')")
    assert f"/payments/{ids['period']}" in page.url
    with app.app_context():
        line = db.session.get(PaymentLine, line_id)
        assert line.result == "paid_cash"
        db.session.remove()


def test_proposal_and_the_district_decision(world, no_js):
    app, base, ids = world
    bid = ids["stop"]
    page = no_js(base, "commune")
    page.goto(f"{base}/beneficiaries/{bid}")
    with page.expect_navigation():
        page.click(f"a[href='/changes/new/{bid}']")
    page.select_option("#kind", "stop")
    page.fill("#effective_month", "2024-06")
    page.select_option("#clause", "1a")
    page.fill("#note", "Chết ngày 03/05/2024")
    page.fill("#evidence", "Giấy báo tử số 12/2024")
    submit(page, "main button:has-text('Gửi đề nghị')")
    with app.app_context():
        change = db.session.scalar(select(ChangeProposal).where(ChangeProposal.beneficiary_id == bid))
        assert (change.kind, change.status, change.clause, change.effective_month) == ("stop", "proposed", "1a", "2024-06")
        change_id = change.id
        db.session.remove()

    district = no_js(base, "district")
    district.goto(f"{base}/changes")
    card = district.locator(f"#c{change_id}")
    card.locator("input[name$='decision_number']").fill("15/QĐ-UBND")
    card.locator("input[name$='decision_date']").fill("2024-05-20")
    with district.expect_navigation():
        card.locator("button[value=approve]").click()
    with app.app_context():
        change = db.session.get(ChangeProposal, change_id)
        assert (change.status, change.decision_number, change.decision_date) == ("approved", "15/QĐ-UBND", date(2024, 5, 20))
        db.session.remove()


def test_district_makes_the_monthly_report(world, no_js):
    app, base, ids = world
    page = no_js(base, "district")
    page.goto(f"{base}/reports/monthly")
    page.fill("#month", "2024-05")
    submit(page, "main button:has-text('Xem tháng')")
    assert "month=2024-05" in page.url
    submit(page, "main button:has-text('Chốt báo cáo')")
    assert "Đã chốt" in page.locator("main").inner_text()
    with app.app_context():
        made = db.session.scalars(select(MonthlyReport).where(MonthlyReport.month == "2024-05")).all()
        assert len(made) == 1 and made[0].made_by.username == "district"
        db.session.remove()
