"""Every counter follows an in-place save, in real Chromium at 360 px and 1366 px (issue 13
§4): on each page with an htmx save (a household's card, the police's worklist, the data
quality worklist, the payer's result lines, the changes' cases and decisions) a save swaps
its row and the page's counters change without a reload (a marker set on ``window`` before
is still there after), with no console error.

Each test runs its own server over a small world (a SQLite file): the packaged areas and
two people of commune 21052 (Bình Chánh), what the page needs added.
"""
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Beneficiary, ChangeProposal, PaymentLine, PaymentPeriod
from portal.services import changes, checks, payments, police
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.conftest import console_problems, live_server, log_in_as, user

pytestmark = pytest.mark.browser

SIZES = [pytest.param({"width": 360, "height": 740}, id="360px"),
         pytest.param({"width": 1366, "height": 768}, id="1366px")]


def _people():
    from tests.factories import person, with_account
    an = with_account(person(name="Nguyễn Văn An", national_id="051150123456", coefficient=1.5),
                      number="4300205123456")
    person(name="Trần Thị Bích", sex="F", national_id="051155000111", birth=date(1955, 2, 2),
           household=an.household, coefficient=2.0)


def _quality():
    _people()
    db.session.flush()
    an = db.session.scalar(select(Beneficiary).where(Beneficiary.full_name == "Nguyễn Văn An"))
    an.category = "Người cao tuổi"  # his one error is then his ID (Bích keeps hers)
    checks.recheck(select(Beneficiary.id))


def _payments():
    _people()
    db.session.flush()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.lock(p, system_user())


def _candidates():
    _people()
    db.session.flush()
    for b in db.session.scalars(select(Beneficiary)):
        police.record(b, user("police"), "2024-05", "moved")


def _proposals():
    _people()
    db.session.flush()
    for b, kind, clause in zip(db.session.scalars(select(Beneficiary).order_by(Beneficiary.id)),
                               ("stop", "suspend"), ("1b", "3b")):
        changes.propose(b, kind, user("commune"), "2024-06", clause=clause)


@pytest.fixture
def world(tmp_path, request):
    yield from live_server(tmp_path, request.param)


def _ids(app, query):
    with app.app_context():
        out = db.session.execute(query).all()
        db.session.remove()
    return out


def _open(browser, base, viewport, username, path):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems = console_problems(page)
    log_in_as(page, base, username)
    page.goto(f"{base}{path}")
    return context, page, problems


def _save_in_place(page, button, url_end):
    """Click ``button`` (a save with hx-post) and wait for htmx to swap and settle its
    answer; the page must not have been reloaded or left."""
    page.evaluate("""() => { window.__marker = 'kept'; window.__settled = false;
      document.addEventListener('htmx:afterSettle', () => { window.__settled = true; }, {once: true}); }""")
    with page.expect_response(lambda r: r.request.method == "POST" and url_end in r.url) as saved:
        page.locator(button).first.click()
    assert saved.value.status == 200, saved.value.text()[:300]
    assert saved.value.request.headers.get("hx-request") == "true"
    page.wait_for_function("() => window.__settled === true")
    page.wait_for_timeout(50)  # out-of-band swaps settle with the main one
    assert page.evaluate("window.__marker") == "kept", "the page was reloaded"


def _texts(page, *selectors):
    return [" ".join(page.locator(s).inner_text().split()) for s in selectors]


@pytest.mark.parametrize("world", [_people], indirect=True)
@pytest.mark.parametrize("viewport", SIZES)
def test_review_save_moves_the_communes_bars(world, browser, viewport):
    base, app = world
    (bid, household), = _ids(app, select(Beneficiary.id, Beneficiary.household_id)
                             .where(Beneficiary.full_name == "Trần Thị Bích"))
    context, page, problems = _open(browser, base, viewport, "commune", f"/households/{household}")
    try:
        bars = page.locator("section[id^='progress-']").first
        before = " ".join(bars.inner_text().split())
        assert "Đã rà soát: 0/2" in before
        summary = page.locator(f"#b{bid} details:not([open]) > summary")
        if summary.count():
            summary.first.click()
        page.select_option(f"#b{bid}-account_status", "no_account")
        page.select_option(f"#b{bid}-payment_method", "cash")
        page.fill(f"#b{bid}-no_account_reason", "Chưa có CCCD gắn chip")
        page.fill(f"#b{bid}-visited_on", "2024-05-10")
        _save_in_place(page, f"#b{bid} form button:has-text('Lưu')", "/review")
        after = " ".join(bars.inner_text().split())
        assert "Đã rà soát: 1/2" in after and after != before
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize("world", [_people], indirect=True)
@pytest.mark.parametrize("viewport", SIZES)
def test_police_answer_moves_done_and_left(world, browser, viewport):
    base, app = world
    (bid,), = _ids(app, select(Beneficiary.id).where(Beneficiary.full_name == "Nguyễn Văn An"))
    context, page, problems = _open(browser, base, viewport, "police", "/police")
    try:
        assert _texts(page, "#police-done span", "#police-left") == [
            "Đã xác minh trong kỳ: 0/2 (0,0 %), chỉ tiêu 100 %", "Còn 2 hồ sơ chưa xác minh"]
        page.select_option(f"#v{bid}-result", "verified")
        _save_in_place(page, f"#v{bid} form button:has-text('Ghi')", f"/police/{bid}")
        page.locator(f"#v{bid} .tag.ok").wait_for()
        done, left = _texts(page, "#police-done span", "#police-left")
        assert done.startswith("Đã xác minh trong kỳ: 1/2") and left == "Còn 1 hồ sơ chưa xác minh"
        assert page.locator("#police-done progress").get_attribute("value") == "50.0"
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize("world", [_quality], indirect=True)
@pytest.mark.parametrize("viewport", SIZES)
def test_quality_fix_moves_the_bar_and_the_rule_counts(world, browser, viewport):
    base, app = world
    (bid, commune), = _ids(app, select(Beneficiary.id, Beneficiary.commune_id)
                           .where(Beneficiary.full_name == "Nguyễn Văn An"))
    context, page, problems = _open(browser, base, viewport, "commune",
                                    f"/quality/communes/{commune}?rule=id_sex_century_mismatch")
    try:
        assert _texts(page, "#q-clean span")[0].startswith("Hồ sơ không có lỗi: 0/2")
        assert page.locator("#q-rules a[href*='rule=id_sex_century_mismatch']").count() == 1
        assert _texts(page, "#worklist")[0].endswith("(1) · tất cả")
        page.fill(f"#f{bid}-national_id-value", "051050123456")
        _save_in_place(page, f"#q{bid} form:has(input[value='national_id']) button", f"/quality/fix/{bid}")
        page.locator(f"#q{bid} .tag.ok").wait_for()
        assert _texts(page, "#q-clean span")[0].startswith("Hồ sơ không có lỗi: 1/2")
        assert page.locator("#q-rules a[href*='rule=id_sex_century_mismatch']").count() == 0
        assert _texts(page, "#worklist")[0].endswith("(0) · tất cả")
        assert page.locator("#rule option[value='id_sex_century_mismatch']").inner_text().endswith("(0)")
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize("world", [_payments], indirect=True)
@pytest.mark.parametrize("viewport", SIZES)
def test_payment_result_moves_the_reconciliation_and_the_pending_count(world, browser, viewport):
    base, app = world
    (pid, line_id), = _ids(app, select(PaymentPeriod.id, PaymentLine.id).join(PaymentLine.period)
                           .join(PaymentLine.beneficiary).where(Beneficiary.full_name == "Nguyễn Văn An"))
    context, page, problems = _open(browser, base, viewport, "payer", f"/payments/{pid}?result=pending")
    try:
        assert _texts(page, "#list span[aria-current]", "#lines-title") == ["Chưa có kết quả (2)"] * 2
        page.select_option(f"#r{line_id}-result", "paid_account")
        _save_in_place(page, f"#l{line_id} form button:has-text('Ghi')", f"/lines/{line_id}/result")
        assert _texts(page, "#list span[aria-current]", "#lines-title") == ["Chưa có kết quả (1)"] * 2
        assert page.locator("#rec dd").nth(1).inner_text().startswith("1 ·")  # paid into an account
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize("world", [_candidates], indirect=True)
@pytest.mark.parametrize("viewport", SIZES)
def test_proposing_a_case_moves_the_cases_and_proposals_counts(world, browser, viewport):
    base, app = world
    (bid,), = _ids(app, select(Beneficiary.id).where(Beneficiary.full_name == "Nguyễn Văn An"))
    context, page, problems = _open(browser, base, viewport, "commune", "/changes")
    try:
        cases, proposals = _texts(page, "#cases-title", "#proposals-title")
        assert cases.endswith("(2)") and proposals == "Các đề nghị (0)"
        _save_in_place(page, f"#k{bid}-move_out button:has-text('Đề nghị')", f"/changes/candidates/{bid}")
        cases, proposals = _texts(page, "#cases-title", "#proposals-title")
        assert cases.endswith("(1)") and proposals == "Các đề nghị (1)"
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize("world", [_proposals], indirect=True)
@pytest.mark.parametrize("viewport", SIZES)
def test_a_decision_moves_the_waiting_and_decided_counts(world, browser, viewport):
    base, app = world
    (cid,), = _ids(app, select(ChangeProposal.id).order_by(ChangeProposal.id).limit(1))
    context, page, problems = _open(browser, base, viewport, "district", "/changes")
    try:
        assert _texts(page, "#pending-title", "#proposals-title") == ["Chờ quyết định (2)", "Đã quyết định (0)"]
        page.fill(f"#d{cid}-decision_number", "12/QĐ-UBND")
        page.fill(f"#d{cid}-decision_date", "2024-05-20")
        _save_in_place(page, f"#c{cid} button:has-text('Duyệt')", f"/changes/{cid}/decide")
        assert _texts(page, "#pending-title", "#proposals-title") == ["Chờ quyết định (1)", "Đã quyết định (1)"]
        assert not problems, problems
    finally:
        context.close()


def _blocked():
    from tests.factories import person, with_account
    from portal.models import Finding
    with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    for i, name in enumerate(("Trần Văn Bảy", "Lê Thị Chín")):
        b = person(name=name, national_id=f"05105099911{i}")
        db.session.add(Finding(beneficiary_id=b.id, code="id_year_mismatch", severity="error",
                               message="Số định danh không khớp năm sinh.", source="check"))
    db.session.flush()
    payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())


@pytest.mark.parametrize("world", [_blocked], indirect=True)
@pytest.mark.parametrize("viewport", SIZES)
def test_a_hold_moves_the_totals_without_a_reload(world, browser, viewport):
    """A hold is a plain POST and a redirect, boosted: the new page's totals are swapped in
    without a reload (the marker on ``window`` stays)."""
    base, app = world
    (pid, line_id), = _ids(app, select(PaymentPeriod.id, PaymentLine.id).join(PaymentLine.period)
                           .join(PaymentLine.beneficiary).where(Beneficiary.full_name == "Trần Văn Bảy"))
    context, page, problems = _open(browser, base, viewport, "commune", f"/payments/{pid}")
    try:
        def totals():
            return [page.locator(f"dl.facts dt:text-is('{dt}') + dd").inner_text() for dt in
                    ("Bị chặn vì lỗi dữ liệu", "Tạm giữ")]
        assert totals() == ["2", "0"]
        page.evaluate("window.__marker = 'kept'")
        page.fill(f"#h{line_id}-note", "Chờ công an xác minh")
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/hold")) as held:
            page.locator(f"#l{line_id} button:has-text('Tạm giữ')").click()
        assert held.value.status == 303
        page.locator("h2#held").wait_for()
        assert totals() == ["1", "1"]
        assert page.evaluate("window.__marker") == "kept", "the page was reloaded"
        assert not problems, problems
    finally:
        context.close()
