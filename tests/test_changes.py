"""Stops, suspensions, resumptions and moves (Circular 02/2021/TT-BLĐTBXH Art. 2): the
proposals, the decisions by the deciding level, the payment list that follows them, the
cases the portal finds, the month's increases and decreases (page and .xlsx), the import
hook, scoping, CSRF, and the same flows with JavaScript off."""
import io
import re
import threading
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.changes.forms import CLAUSE_LABELS
from portal.extensions import db
from portal.models import Beneficiary, ChangeProposal, Event, Finding, Household
from portal.services import changes, history, imports, payments, police
from portal.services.areas import find_commune, get_or_create_village
from tests import filegen
from tests.conftest import csrf_token, log_in_as, login, user
from tests.factories import make_user, person, with_account

HX = {"HX-Request": "true"}
CHANH, THANH = "21052", "21046"  # Xã Bình Chánh, Xã Bình Thạnh (Bình Sơn district, 2024)


@pytest.fixture
def people(app):
    a = person(name="Nguyễn Văn An", coefficient=1.5)
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    other = person(commune_code=THANH, village="Thôn Mỹ Long", name="Lê Văn Cường",
                   national_id="051060222333", coefficient=1.0)
    db.session.commit()
    return a, b, other


def approve(change, number="15/QĐ-UBND", day=date(2024, 5, 20)):
    changes.decide(change, user("district"), True, number, day)
    db.session.commit()
    return change


def build_locked(b_or_commune, month, program="BTXH"):
    commune = b_or_commune if not isinstance(b_or_commune, Beneficiary) else b_or_commune.commune
    p = payments.build(commune, month, program, history.system_user())
    payments.lock(p, history.system_user())
    db.session.commit()
    return p


def line_of(period, b):
    return next((line for line in period.lines if line.beneficiary_id == b.id), None)


# ------------------------------------------------------------------ proposals

def test_clause_labels_follow_the_service():
    assert {k: str(v) for k, v in CLAUSE_LABELS.items()} == {k: r for k, (_kind, r) in changes.CLAUSES.items()}


def test_proposal_validation(people):
    a, b, _ = people
    officer = user("commune")
    with pytest.raises(changes.ChangeError) as e:
        changes.propose(a, "stop", officer, "2024-06", clause="3a")  # 3a is a suspension
    assert e.value.field == "clause"
    with pytest.raises(changes.ChangeError):
        changes.propose(a, "suspend", officer, "2024-06", clause="1a")
    with pytest.raises(changes.ChangeError):
        changes.propose(a, "stop", officer, "2024-06")  # no clause
    for bad in ("2024-13", "06/2024", "2024-6", ""):
        with pytest.raises(changes.ChangeError) as e:
            changes.propose(a, "stop", officer, bad, clause="1b")
        assert e.value.field == "effective_month"
    with pytest.raises(changes.ChangeError, match="tạm dừng"):
        changes.propose(a, "resume", officer, "2024-06")  # resume only for a suspended person
    with pytest.raises(changes.ChangeError) as e:
        changes.propose(a, "move_out", officer, "2024-06", to_commune=a.commune)
    assert e.value.field == "to_commune"
    with pytest.raises(changes.ChangeError):
        changes.propose(a, "grant", officer, "2024-06")
    assert db.session.scalar(select(func.count(ChangeProposal.id))) == 0

    c = changes.propose(a, "stop", officer, "2024-06", clause="1d", note="Con cái phụng dưỡng",
                        evidence="Đơn ngày 12/05/2024")
    assert (c.kind, c.clause, c.reason, c.status, c.commune_id) == (
        "stop", "1d", "Từ chối nhận trợ cấp", "proposed", a.commune_id)
    assert db.session.scalar(select(Event.new_value).where(
        Event.beneficiary_id == a.id, Event.field == "change_proposed")) == "Thôi hưởng 1d từ 06/2024"
    # A second open proposal for the same person is refused, whatever its kind.
    for kind, clause in (("stop", "1b"), ("suspend", "3b")):
        with pytest.raises(changes.ChangeError, match="đang chờ quyết định"):
            changes.propose(a, kind, officer, "2024-06", clause=clause)
    changes.propose(b, "suspend", officer, "2024-06", clause="3b")  # another person is fine


def test_resume_only_for_suspended_and_its_arrears(people):
    a, b, _ = people
    officer = user("commune")
    approve(changes.propose(a, "suspend", officer, "2024-03", clause="3c"))
    assert a.status == "suspended"
    with pytest.raises(changes.ChangeError):
        changes.propose(a, "suspend", officer, "2024-04", clause="3b")  # already suspended
    with pytest.raises(changes.ChangeError) as e:
        changes.propose(a, "resume", officer, "2024-06", arrears_from="2024-06")
    assert e.value.field == "arrears_from"
    r = changes.propose(a, "resume", officer, "2024-06")
    assert r.arrears_from == "2024-03"  # from the suspension's month
    changes.decide(r, user("district"), False, note="Chưa đủ hồ sơ")
    assert changes.propose(a, "resume", officer, "2024-06", arrears=False).arrears_from is None


# ------------------------------------------------------------------ decisions

def test_decision_needs_number_date_and_a_note_to_reject(people):
    a, b, _ = people
    district = user("district")
    c = changes.propose(a, "stop", user("commune"), "2024-06", clause="1b")
    with pytest.raises(changes.ChangeError, match="thẩm quyền"):
        changes.decide(c, user("commune"), True, "1/QĐ", date(2024, 5, 2))
    with pytest.raises(changes.ChangeError, match="số và ngày"):
        changes.decide(c, district, True, "", date(2024, 5, 2))
    with pytest.raises(changes.ChangeError, match="số và ngày"):
        changes.decide(c, district, True, "1/QĐ", None)
    with pytest.raises(changes.ChangeError, match="lý do"):
        changes.decide(c, district, False, note="  ")
    assert c.status == "proposed" and a.status == "active"
    changes.decide(c, district, True, "12/QĐ-UBND", date(2024, 5, 20))
    assert (c.status, c.decision_number, c.decision_date, c.decided_by_id) == (
        "approved", "12/QĐ-UBND", date(2024, 5, 20), district.id)
    assert a.status == "active"  # from June: the record follows when June is the current month
    assert db.session.scalar(select(Event.new_value).where(
        Event.beneficiary_id == a.id, Event.field == "change_approved")) == "Thôi hưởng từ 06/2024, QĐ 12/QĐ-UBND"
    with pytest.raises(changes.ChangeError, match="đã được quyết định"):
        changes.decide(c, district, False, note="x")

    r = changes.propose(b, "suspend", user("commune"), "2024-06", clause="3b")
    changes.decide(r, district, False, note="Đã thực hiện yêu cầu")
    assert (r.status, r.decision_note, b.status) == ("rejected", "Đã thực hiện yêu cầu", "active")


def test_an_approval_the_record_no_longer_fits_is_refused(people):
    a, _, _ = people
    approve(changes.propose(a, "suspend", user("commune"), "2024-04", clause="3c"))
    resume = changes.propose(a, "resume", user("commune"), "2024-06")
    # Meanwhile the police find the person dead: their stop is approved first.
    police.record(a, user("police"), "2024-05", "deceased", died_on=date(2024, 5, 3))
    stop = db.session.scalar(select(ChangeProposal).where(ChangeProposal.source == "police"))
    approve(stop)
    assert a.status == "suspended"  # the stop is due in June …
    with pytest.raises(changes.ChangeError, match="tạm dừng"):  # … and the June resumption no longer fits
        changes.decide(resume, user("district"), True, "20/QĐ", date(2024, 5, 25))


# ------------------------------------------------------------------ months and dates (QA)

def test_effective_month_within_a_year_of_the_current_month(people):
    a, b, _ = people
    officer = user("commune")  # CAMPAIGN_MONTH is 2024-05: 05/2023 … 05/2025
    for kind, clause, month in (("stop", "1b", "0001-01"), ("stop", "1b", "2023-01"),
                                ("suspend", "3b", "2099-12"), ("suspend", "3b", "2025-06"),
                                ("stop", "1b", "2023-04")):
        with pytest.raises(changes.ChangeError) as e:
            changes.propose(a, kind, officer, month, clause=clause)
        assert e.value.field == "effective_month"
        assert "từ 05/2023 đến 05/2025" in str(e.value)
    assert db.session.scalar(select(func.count(ChangeProposal.id))) == 0
    assert changes.propose(a, "stop", officer, "2023-05", clause="1b").effective_month == "2023-05"
    assert changes.propose(b, "suspend", officer, "2025-05", clause="3b").effective_month == "2025-05"


def test_resume_arrears_not_before_the_suspension(people):
    a, _, _ = people
    officer = user("commune")
    approve(changes.propose(a, "suspend", officer, "2024-03", clause="3c"), day=date(2024, 2, 20))
    for typed in ("0001-01", "2024-02"):
        with pytest.raises(changes.ChangeError) as e:
            changes.propose(a, "resume", officer, "2024-06", arrears_from=typed)
        assert e.value.field == "arrears_from" and "03/2024" in str(e.value)
    assert changes.propose(a, "resume", officer, "2024-06", arrears_from="2024-04").arrears_from == "2024-04"


def test_decision_date_not_in_the_future_nor_a_year_before_the_month(people):
    a, _, _ = people
    district = user("district")
    c = changes.propose(a, "stop", user("commune"), "2024-06", clause="1b")
    for day, words in ((date(2023, 5, 31), "01/06/2023"), (date(2000, 1, 1), "01/06/2023"),
                       (date(2999, 1, 1), "sau hôm nay")):
        with pytest.raises(changes.ChangeError, match=words) as e:
            changes.decide(c, district, True, "1/QĐ", day)
        assert e.value.field == "decision_date"
    assert c.status == "proposed"
    changes.decide(c, district, True, "1/QĐ", date(2023, 6, 1))  # a year before, to the day
    assert c.status == "approved"


def test_the_proposal_form_says_the_allowed_months(client, people):
    a, _, _ = people
    login(client, "commune")
    form = client.get(f"/changes/new/{a.id}").get_data(as_text=True)
    assert "Từ 05/2023 đến 05/2025" in form
    token = csrf_token(client, f"/changes/new/{a.id}")
    r = client.post(f"/changes/new/{a.id}", data={"csrf_token": token, "kind": "suspend", "clause": "3b",
                                                  "effective_month": "2099-12", "to_commune_id": "0"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    error = re.search(r'<span class="error" id="effective_month-error">([^<]*)</span>', html)
    assert error and "từ 05/2023 đến 05/2025" in error.group(1)
    assert db.session.scalar(select(func.count(ChangeProposal.id))) == 0


def status_events(b):
    return db.session.scalars(select(Event.new_value).where(Event.beneficiary_id == b.id,
                                                            Event.field == "status").order_by(Event.id)).all()


def test_a_decision_ahead_of_its_month_waits_for_it(app, client, people):
    a, b, _ = people
    officer = user("commune")
    approve(changes.propose(a, "suspend", officer, "2024-07", clause="3c"))
    approve(changes.propose(b, "stop", officer, "2024-05", clause="1d"))  # due now
    assert (a.status, b.status) == ("active", "stopped")
    assert (status_events(a), status_events(b)) == ([], ["stopped"])
    # The ledger pays June and not July, whatever the status says today.
    assert line_of(build_locked(a, "2024-06"), a) is not None
    assert line_of(build_locked(a, "2024-07"), a) is None
    # The record is judged by its state in the month asked.
    with pytest.raises(changes.ChangeError, match="đang tạm dừng"):
        changes.propose(a, "suspend", officer, "2024-08", clause="3b")
    login(client, "commune")
    assert 'value="resume"' in client.get(f"/changes/new/{a.id}").get_data(as_text=True)
    assert changes.apply_due("2024-06") == 0 and a.status == "active"
    # July becomes the current month: the next load of /changes brings the record up to it.
    app.config["CAMPAIGN_MONTH"] = "2024-07"
    assert client.get("/changes").status_code == 200
    db.session.expire_all()
    assert (a.status, b.status) == ("suspended", "stopped")
    assert status_events(a) == ["suspended"]
    client.get("/changes")
    assert changes.apply_due() == 0 and status_events(a) == ["suspended"]  # once
    changes.propose(a, "resume", officer, "2024-09")  # a suspended person can be resumed


def test_a_person_decided_to_leave_later_is_no_longer_a_case(people):
    a, b, _ = people
    a.deceased = b.deceased = True
    approve(changes.propose(a, "stop", user("commune"), "2024-06", clause="1a"))
    approve(changes.propose(b, "suspend", user("commune"), "2024-03", clause="3c"), day=date(2024, 2, 20))
    approve(changes.propose(b, "resume", user("commune"), "2024-04"), day=date(2024, 3, 20))
    assert a.status == "active"  # until June
    for month in ("2024-05", "2024-06"):
        assert [c["beneficiary"].id for c in changes.candidates(user("commune"), month)] == [b.id]


def test_a_move_ahead_of_its_month_keeps_the_status(people):
    a, _, _ = people
    to = find_commune(THANH, "2024-05")
    approve(changes.propose(a, "move_out", user("commune"), "2024-07"))  # out of the area
    assert a.status == "active"
    approve(changes.propose(people[1], "move_out", user("commune"), "2024-07", to_commune=to))
    assert (people[1].commune_id, people[1].status) == (to.id, "active")
    assert changes.apply_due("2024-07") == 1 and a.status == "moved" and people[1].status == "active"


# ------------------------------------------------------------------ the payment list follows

def test_a_stop_from_next_month_keeps_this_months_line(people):
    a, b, _ = people
    approve(changes.propose(a, "stop", user("commune"), "2024-06", clause="1b"))
    assert a.status == "active"  # the record waits for June …
    may = build_locked(a, "2024-05")
    june = build_locked(a, "2024-06")
    assert line_of(may, a) is not None and line_of(may, a).amount == 540_000  # … May pays
    assert line_of(june, a) is None  # … and June's list follows the ledger already
    assert line_of(june, b) is not None


def test_resume_with_arrears_at_each_months_amount(people):
    a, b, _ = people
    build_locked(a, "2024-04")
    approve(changes.propose(a, "suspend", user("commune"), "2024-05", clause="3c"), day=date(2024, 4, 25))
    for month in ("2024-05", "2024-06", "2024-07"):
        assert line_of(build_locked(a, month), a) is None
    approve(changes.propose(a, "resume", user("commune"), "2024-08"), day=date(2024, 7, 28))
    august = line_of(build_locked(a, "2024-08"), a)
    # 1.5 × 360,000 for May and June; 1.5 × 500,000 from July (Decree 76/2024) and August.
    assert (august.amount, august.arrears, august.arrears_from, august.arrears_months) == (
        750_000, 540_000 + 540_000 + 750_000, "2024-05", 3)
    september = line_of(build_locked(a, "2024-09"), a)
    assert (september.amount, september.arrears, september.arrears_months) == (750_000, 0, 0)

    # Without arrears: the line pays the month only.
    approve(changes.propose(b, "suspend", user("commune"), "2024-10", clause="3c"), day=date(2024, 9, 25))
    approve(changes.propose(b, "resume", user("commune"), "2024-12", arrears=False), day=date(2024, 11, 25))
    december = line_of(build_locked(b, "2024-12"), b)
    assert (december.amount, december.arrears) == (1_000_000, 0)


def test_a_move_pays_in_the_new_commune_from_its_month(people):
    a, _, other = people
    to = find_commune(THANH, "2024-05")
    approve(changes.propose(a, "move_out", user("commune"), "2024-06", to_commune=to))
    assert a.commune_id == to.id and a.status == "active"
    assert line_of(build_locked(to, "2024-05"), a) is None  # still Bình Chánh's in May
    assert line_of(build_locked(to, "2024-06"), a) is not None
    move_in = db.session.scalar(select(ChangeProposal).where(ChangeProposal.kind == "move_in"))
    assert (move_in.commune_id, move_in.effective_month, move_in.decision_number) == (to.id, "2024-06", "15/QĐ-UBND")


# ------------------------------------------------------------------ what the portal finds

def test_three_failed_periods_make_a_3a_candidate(people):
    a, b, _ = people
    with_account(a, number="4300205123456")
    with_account(b, number="4300205999888")
    payer = user("payer")
    for month in ("2024-03", "2024-04", "2024-05"):
        p = build_locked(a, month)
        payments.record_result(line_of(p, a), payer, "failed", "Tài khoản đã đóng")
        # b failed twice, then was paid: not a candidate.
        payments.record_result(line_of(p, b), payer, "paid_account" if month == "2024-05" else "failed",
                               None if month == "2024-05" else "Sai tên chủ tài khoản")
    db.session.commit()
    found = changes.candidates(user("commune"), "2024-05")
    assert [(c["beneficiary"].id, c["kind"], c["clause"], c["effective_month"]) for c in found] == [
        (a.id, "suspend", "3a", "2024-06")]
    assert changes.candidates(user("commune"), "2024-04") == []  # only two periods by April
    changes.propose(a, "suspend", user("commune"), "2024-06", clause="3a")
    assert changes.candidates(user("commune"), "2024-05") == []  # proposed: no longer a case


def test_deaths_and_moves_are_candidates(people):
    a, b, other = people
    officer = user("commune")
    police.record(b, user("police"), "2024-05", "moved")
    db.session.add(Finding(beneficiary_id=a.id, code="deceased_in_note", severity="warning", source="import",
                           message="«Đã chết ngày 02/04/2024»."))
    db.session.commit()
    found = {c["beneficiary"].id: c for c in changes.candidates(officer, "2024-05")}
    assert set(found) == {a.id, b.id}  # the other commune's people are not this officer's
    assert (found[a.id]["kind"], found[a.id]["clause"]) == ("stop", "1a")
    assert (found[b.id]["kind"], found[b.id]["effective_month"]) == ("move_out", "2024-06")
    police.record(b, user("police"), "2024-06", "verified")  # the latest answer counts
    db.session.commit()
    assert {c["beneficiary"].id for c in changes.candidates(officer, "2024-05")} == {a.id}
    # The police round's death is proposed by the round itself; a rejected proposal comes back.
    police.record(other, user("police"), "2024-05", "deceased", died_on=date(2024, 4, 12))
    db.session.commit()
    district = user("district")
    assert other.id not in {c["beneficiary"].id for c in changes.candidates(district, "2024-05")}
    changes.decide(changes.open_proposals(district)[0], district, False, note="Nhầm người")
    again = {c["beneficiary"].id: c for c in changes.candidates(district, "2024-05")}
    assert (again[other.id]["effective_month"], again[other.id]["source"]) == ("2024-05", "police")


# ------------------------------------------------------------------ pages: the commune officer

def test_candidates_page_one_click_with_htmx_and_without(client, people):
    a, b, other = people
    police.record(a, user("police"), "2024-05", "moved")
    police.record(b, user("police"), "2024-05", "moved")
    police.record(other, user("police"), "2024-05", "moved")
    db.session.commit()
    login(client, "commune")
    html = client.get("/changes").get_data(as_text=True)
    assert "Nguyễn Văn An" in html and "Trần Thị Bích" in html and "Lê Văn Cường" not in html
    token = csrf_token(client, "/changes")
    r = client.post(f"/changes/candidates/{a.id}", data={"csrf_token": token, "kind": "move_out",
                                                         "month": "2024-05"}, headers=HX)
    assert r.status_code == 200 and "<html" not in r.get_data(as_text=True)
    assert f'id="k{a.id}-move_out"' in r.get_data(as_text=True) and "Đã đề nghị" in r.get_data(as_text=True)
    c = db.session.scalar(select(ChangeProposal).where(ChangeProposal.beneficiary_id == a.id))
    assert (c.kind, c.effective_month, c.source, c.status) == ("move_out", "2024-06", "police", "proposed")
    # Twice: no second proposal, a clear message.
    r = client.post(f"/changes/candidates/{a.id}", data={"csrf_token": token, "kind": "move_out",
                                                         "month": "2024-05"}, headers=HX)
    assert r.status_code == 422 and "không còn cần đề nghị" in r.get_data(as_text=True)
    # JavaScript off: a plain POST comes back to the page with a message.
    r = client.post(f"/changes/candidates/{b.id}", data={"csrf_token": token, "kind": "move_out",
                                                         "month": "2024-05"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/changes")
    assert "Đã đề nghị: Trần Thị Bích" in client.get("/changes").get_data(as_text=True)
    # Another commune's person: not found for this officer.
    r = client.post(f"/changes/candidates/{other.id}", data={"csrf_token": token, "kind": "move_out",
                                                             "month": "2024-05"})
    assert r.status_code == 404
    assert db.session.scalar(select(func.count(ChangeProposal.id))) == 2


def test_candidates_for_a_chosen_month(client, people):
    """April returned, May failed, June failed: a cl. 3a case for June, not for May."""
    a, b, _ = people
    with_account(a, number="4300205123456")
    payer = user("payer")
    for month, result in (("2024-04", "returned"), ("2024-05", "failed"), ("2024-06", "failed")):
        p = build_locked(a, month)
        payments.record_result(line_of(p, a), payer, result, "Tài khoản đã đóng")
    db.session.commit()
    login(client, "commune")
    may = client.get("/changes").get_data(as_text=True)
    assert f'id="k{a.id}-suspend"' not in may and 'name="month" value="2024-05"' in may
    r = client.get("/changes?month=2024-06")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and f'id="k{a.id}-suspend"' in html and "khoản 3a" in html
    assert "Cần đề nghị, kỳ 06/2024 (1)" in html and "từ tháng 07/2024" in html
    assert '<input type="hidden" name="month" value="2024-06">' in html
    token = csrf_token(client, "/changes")
    r = client.post(f"/changes/candidates/{a.id}", data={"csrf_token": token, "kind": "suspend",
                                                         "month": "2024-06"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/changes?month=2024-06")
    c = db.session.scalar(select(ChangeProposal).where(ChangeProposal.beneficiary_id == a.id))
    assert (c.kind, c.clause, c.effective_month, c.source) == ("suspend", "3a", "2024-07", "check")
    for bad in ("2024-13", "06/2024", "x"):
        r = client.get(f"/changes?month={bad}")
        assert r.status_code == 400 and f"«{bad}» không đúng dạng YYYY-MM" in r.get_data(as_text=True)


def test_proposal_form_from_the_beneficiary_page(client, people):
    a, _, other = people
    login(client, "commune")
    page = client.get(f"/beneficiaries/{a.id}").get_data(as_text=True)
    assert f'href="/changes/new/{a.id}"' in page
    form = client.get(f"/changes/new/{a.id}").get_data(as_text=True)
    assert 'value="2024-06"' in form  # next month by default
    assert "Xã Bình Thạnh" in form and 'value="3a"' in form  # the district's other communes; clauses
    token = csrf_token(client, f"/changes/new/{a.id}")
    r = client.post(f"/changes/new/{a.id}", data={"csrf_token": token, "kind": "stop", "clause": "3a",
                                                  "effective_month": "2024-06", "to_commune_id": "0"})
    assert r.status_code == 422 and "Điều 2 phù hợp" in r.get_data(as_text=True)
    r = client.post(f"/changes/new/{a.id}", data={"csrf_token": token, "kind": "stop", "clause": "1a",
                                                  "effective_month": "06/2024", "to_commune_id": "0"})
    assert r.status_code == 422 and "YYYY-MM" in r.get_data(as_text=True)
    r = client.post(f"/changes/new/{a.id}", data={
        "csrf_token": token, "kind": "stop", "clause": "1a", "effective_month": "2024-06",
        "note": "Gia đình báo", "evidence": "Giấy báo tử số 12/2024", "to_commune_id": "0"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/beneficiaries/{a.id}")
    c = db.session.scalar(select(ChangeProposal))
    assert (c.kind, c.clause, c.evidence, c.note, c.effective_month) == (
        "stop", "1a", "Giấy báo tử số 12/2024", "Gia đình báo", "2024-06")
    page = client.get(f"/beneficiaries/{a.id}").get_data(as_text=True)
    assert "Đang đề nghị" in page and "khoản 1a" in page
    assert "Nguyễn Văn An" in client.get("/changes").get_data(as_text=True)
    # Scope: another commune's person cannot be proposed for.
    assert client.get(f"/changes/new/{other.id}").status_code == 404
    assert client.post(f"/changes/new/{other.id}", data={
        "csrf_token": token, "kind": "stop", "clause": "1a", "effective_month": "2024-06",
        "to_commune_id": "0"}).status_code == 404


def test_resume_and_move_forms(client, people):
    a, b, _ = people
    approve(changes.propose(a, "suspend", user("commune"), "2024-03", clause="3c"))
    login(client, "commune")
    token = csrf_token(client, f"/changes/new/{a.id}")
    form = client.get(f"/changes/new/{a.id}").get_data(as_text=True)
    assert 'value="resume"' in form and 'value="suspend"' not in form
    r = client.post(f"/changes/new/{a.id}", data={"csrf_token": token, "kind": "resume",
                                                  "effective_month": "2024-06", "to_commune_id": "0"})
    assert r.status_code == 303
    assert db.session.scalar(select(ChangeProposal).where(ChangeProposal.kind == "resume")).arrears_from is None
    to = find_commune(THANH, "2024-05")
    r = client.post(f"/changes/new/{b.id}", data={"csrf_token": token, "kind": "move_out",
                                                  "effective_month": "2024-06", "to_commune_id": str(to.id)})
    assert r.status_code == 303
    assert db.session.scalar(select(ChangeProposal).where(ChangeProposal.kind == "move_out")).to_commune_id == to.id


def test_resume_form_with_arrears(client, people):
    a, _, _ = people
    approve(changes.propose(a, "suspend", user("commune"), "2024-03", clause="3c"))
    login(client, "commune")
    token = csrf_token(client, f"/changes/new/{a.id}")
    r = client.post(f"/changes/new/{a.id}", data={"csrf_token": token, "kind": "resume", "arrears": "y",
                                                  "effective_month": "2024-06", "to_commune_id": "0"})
    assert r.status_code == 303
    assert db.session.scalar(select(ChangeProposal).where(ChangeProposal.kind == "resume")).arrears_from == "2024-03"


def test_suspend_form_refused_for_a_suspended_person(client, people):
    a, _, _ = people
    approve(changes.propose(a, "suspend", user("commune"), "2024-03", clause="3c"))
    login(client, "commune")
    token = csrf_token(client, f"/changes/new/{a.id}")
    r = client.post(f"/changes/new/{a.id}", data={"csrf_token": token, "kind": "suspend", "clause": "3b",
                                                  "effective_month": "2024-06", "to_commune_id": "0"})
    assert r.status_code == 422
    assert db.session.scalar(select(func.count(ChangeProposal.id)).where(ChangeProposal.status == "proposed")) == 0


# ------------------------------------------------------------------ pages: the deciding level

def test_district_decides_with_htmx_and_without(client, people):
    a, b, other = people
    officer = user("commune")
    c1 = changes.propose(a, "stop", officer, "2024-06", clause="1b")
    c2 = changes.propose(b, "suspend", officer, "2024-06", clause="3b")
    c3 = changes.propose(other, "stop", user("district"), "2024-06", clause="1d")
    db.session.commit()
    login(client, "district")
    html = client.get("/changes").get_data(as_text=True)
    assert all(f'id="c{c.id}"' in html for c in (c1, c2, c3))
    token = csrf_token(client, "/changes")
    # Approval needs a number.
    r = client.post(f"/changes/{c1.id}/decide", headers=HX, data={
        "csrf_token": token, "decision": "approve", f"d{c1.id}-decision_date": "2024-05-20"})
    assert r.status_code == 422 and "Ghi số và ngày quyết định" in r.get_data(as_text=True)
    r = client.post(f"/changes/{c1.id}/decide", headers=HX, data={
        "csrf_token": token, "decision": "approve", f"d{c1.id}-decision_number": "12/QĐ-UBND",
        f"d{c1.id}-decision_date": "2024-05-20"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and f'id="c{c1.id}"' in body and "Đã duyệt" in body
    assert "12/QĐ-UBND" in body and "20/05/2024" in body
    db.session.refresh(c1)
    assert (c1.status, c1.decision_date, a.status) == ("approved", date(2024, 5, 20), "active")  # from June
    # A rejection needs a note.
    r = client.post(f"/changes/{c2.id}/decide", headers=HX, data={"csrf_token": token, "decision": "reject"})
    assert r.status_code == 422 and "Ghi lý do không duyệt" in r.get_data(as_text=True)
    # JavaScript off: a plain POST comes back to the list.
    r = client.post(f"/changes/{c2.id}/decide", data={"csrf_token": token, "decision": "reject",
                                                       f"d{c2.id}-note": "Đã thực hiện yêu cầu"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/changes")
    db.session.refresh(c2)
    assert (c2.status, c2.decision_note) == ("rejected", "Đã thực hiện yêu cầu")
    html = client.get("/changes").get_data(as_text=True)
    assert "Đã ghi quyết định: Trần Thị Bích — Không duyệt." in html  # the confirmation, at the top
    assert "Không duyệt" in html and "Đã thực hiện yêu cầu" in html
    # A decision date in the future is refused.
    r = client.post(f"/changes/{c3.id}/decide", data={
        "csrf_token": token, "decision": "approve", f"d{c3.id}-decision_number": "1/QĐ",
        f"d{c3.id}-decision_date": "2999-01-01"})
    assert r.status_code == 422 and "không được sau hôm nay" in r.get_data(as_text=True)
    assert db.session.get(ChangeProposal, c3.id).status == "proposed"


def test_the_officer_withdraws_their_own_pending_proposal(client, people):
    a, b, other = people
    police.record(a, user("police"), "2024-05", "moved")
    officer = user("commune")
    mine = changes.propose(a, "move_out", officer, "2024-06", source="police")
    colleague = make_user("canbo2", "commune", CHANH)
    theirs = changes.propose(b, "stop", colleague, "2024-06", clause="1d")
    elsewhere = changes.propose(other, "stop", user("district"), "2024-06", clause="1d")
    db.session.commit()
    login(client, "commune")
    html = client.get("/changes").get_data(as_text=True)
    assert f'action="/changes/{mine.id}/withdraw"' in html
    assert f'action="/changes/{theirs.id}/withdraw"' not in html  # only their own
    assert f'id="k{a.id}-move_out"' not in html  # proposed: not a case
    token = csrf_token(client, "/changes")
    r = client.post(f"/changes/{mine.id}/withdraw", data={"csrf_token": token}, headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and body.lstrip().startswith(f'<tr id="c{mine.id}"')
    assert "Đã rút" in body and "/withdraw" not in body
    db.session.expire_all()
    assert mine.status == "withdrawn" and a.status == "active"
    assert db.session.scalar(select(Event.new_value).where(
        Event.beneficiary_id == a.id, Event.field == "change_withdrawn")) == "Chuyển đi từ 06/2024"
    assert f'id="k{a.id}-move_out"' in client.get("/changes").get_data(as_text=True)  # a case again
    # Twice, another officer's, another commune's, the district: refused.
    r = client.post(f"/changes/{mine.id}/withdraw", data={"csrf_token": token}, headers=HX)
    assert r.status_code == 422 and "đã được rút" in r.get_data(as_text=True)
    r = client.post(f"/changes/{theirs.id}/withdraw", data={"csrf_token": token}, headers=HX)
    assert r.status_code == 422 and "Chỉ người lập đề nghị" in r.get_data(as_text=True)
    assert client.post(f"/changes/{elsewhere.id}/withdraw", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/changes/{theirs.id}/withdraw", data={}).status_code == 400  # CSRF
    assert db.session.get(ChangeProposal, theirs.id).status == "proposed"
    # Not after a decision; JavaScript off: back to the list with the message.
    again = changes.propose(a, "stop", officer, "2024-06", clause="1d")
    db.session.commit()
    r = client.post(f"/changes/{again.id}/withdraw", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith("/changes")
    assert "Đã rút đề nghị: Nguyễn Văn An." in client.get("/changes").get_data(as_text=True)
    last = changes.propose(a, "stop", officer, "2024-06", clause="1d")
    db.session.commit()
    approve(last)
    r = client.post(f"/changes/{last.id}/withdraw", data={"csrf_token": token})
    assert r.status_code == 303
    assert "đã được quyết định: không rút được" in client.get("/changes").get_data(as_text=True)
    assert db.session.get(ChangeProposal, last.id).status == "approved"
    client.post("/logout", data={"csrf_token": token})
    login(client, "district")
    token = csrf_token(client, "/changes")
    assert client.post(f"/changes/{theirs.id}/withdraw", data={"csrf_token": token}).status_code == 403
    assert changes.proposals(user("district"), "withdrawn")[1] == 2


def test_a_failed_decision_without_javascript_keeps_what_was_typed(client, people):
    a, b, _ = people
    c1 = changes.propose(a, "stop", user("commune"), "2024-06", clause="1b")
    c2 = changes.propose(b, "suspend", user("commune"), "2024-06", clause="3b")
    db.session.commit()
    login(client, "district")
    token = csrf_token(client, "/changes")
    r = client.post(f"/changes/{c2.id}/decide", data={
        "csrf_token": token, "decision": "approve", f"d{c2.id}-decision_date": "2024-05-21",
        f"d{c2.id}-note": "Chờ bổ sung hồ sơ"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "<html" in html
    assert re.search(rf'<div class="error-summary"[^>]*>.*href="#c{c2.id}">Trần Thị Bích: Ghi số và ngày quyết định',
                     html, re.S)
    row = html[html.index(f'<div class="person" id="c{c2.id}">'):]
    row = row[:row.index("</form>")]
    assert "Ghi số và ngày quyết định." in row
    assert 'value="2024-05-21"' in row and 'value="Chờ bổ sung hồ sơ"' in row
    other_row = html[html.index(f'<div class="person" id="c{c1.id}">'):]
    assert "Ghi số và ngày quyết định." not in other_row[:other_row.index("</form>")]
    # A date typed wrong stays as typed, with its message.
    r = client.post(f"/changes/{c2.id}/decide", data={
        "csrf_token": token, "decision": "approve", f"d{c2.id}-decision_number": "9/QĐ",
        f"d{c2.id}-decision_date": "21/05/2024"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'value="21/05/2024"' in html and 'value="9/QĐ"' in html
    assert db.session.get(ChangeProposal, c2.id).status == "proposed"
    # Then right: back to the list, the confirmation in sight.
    r = client.post(f"/changes/{c2.id}/decide", data={
        "csrf_token": token, "decision": "approve", f"d{c2.id}-decision_number": "9/QĐ",
        f"d{c2.id}-decision_date": "2024-05-21"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/changes")
    html = client.get("/changes").get_data(as_text=True)
    assert '<p class="flash success" role="status">Đã ghi quyết định: Trần Thị Bích — Đã duyệt.</p>' in html


@pytest.mark.parametrize("who", ["commune", "admin", "police", "payer"])
def test_only_the_deciding_role_decides(client, people, who):
    a, _, _ = people
    c = changes.propose(a, "stop", user("commune"), "2024-06", clause="1b")
    db.session.commit()
    login(client, who)
    token = csrf_token(client, "/search")
    r = client.post(f"/changes/{c.id}/decide", data={
        "csrf_token": token, "decision": "approve", f"d{c.id}-decision_number": "1/QĐ",
        f"d{c.id}-decision_date": "2024-05-20"})
    assert r.status_code == 403
    assert db.session.get(ChangeProposal, c.id).status == "proposed"


def test_after_the_reform_the_chairman_decides(app, client):
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    app.config["DECIDING_ROLES"] = [("2000-01-01", "district"), ("2025-07-01", "chairman")]
    assert changes.deciding_role() == "chairman"
    assert changes.deciding_role(date(2025, 6, 30)) == "district"
    son = find_commune("21040", "2025-08")  # Xã Bình Sơn, from 1/7/2025
    assert son.valid_from == date(2025, 7, 1)
    make_user("chutich", "chairman", "21040", "2025-08")
    make_user("chutich2", "chairman", "21061", "2025-08")
    officer = make_user("canbo", "commune", "21040", "2025-08")
    village = get_or_create_village(son, "Thôn Phú Long")
    b = Beneficiary(program="BTXH", commune_id=son.id, village_id=village.id, full_name="Võ Văn Tám",
                    name_folded="vo van tam", birth_year=1950, national_id="051050000088", coefficient=1.0,
                    household=Household(commune_id=son.id, village_id=village.id, head_name="Võ Văn Tám"))
    db.session.add(b)
    db.session.flush()
    c = changes.propose(b, "stop", officer, "2025-09", clause="1b")
    db.session.commit()
    with pytest.raises(changes.ChangeError):
        changes.decide(c, user("district"), True, "1/QĐ", date(2025, 8, 20))
    login(client, "district")
    token = csrf_token(client, "/search")
    data = {"csrf_token": token, "decision": "approve", f"d{c.id}-decision_number": "7/QĐ-UBND",
            f"d{c.id}-decision_date": "2025-08-20"}
    assert client.post(f"/changes/{c.id}/decide", data=data).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, "chutich2")  # the chairman of another commune does not see it
    token = csrf_token(client, "/changes")
    assert client.post(f"/changes/{c.id}/decide", data=dict(data, csrf_token=token)).status_code == 404
    client.post("/logout", data={"csrf_token": token})
    login(client, "chutich")
    html = client.get("/changes").get_data(as_text=True)
    assert f'id="c{c.id}"' in html and "Chủ tịch UBND xã" in html
    token = csrf_token(client, "/changes")
    r = client.post(f"/changes/{c.id}/decide", data=dict(data, csrf_token=token), headers=HX)
    assert r.status_code == 200 and "Đã duyệt" in r.get_data(as_text=True)
    db.session.refresh(c)
    assert (c.status, c.decided_by_id, b.status) == ("approved", user("chutich").id, "active")  # from 09/2025


# ------------------------------------------------------------------ increases and decreases

@pytest.fixture
def may_changes(people):
    """In May 2024: Bình Chánh grants one, resumes one, stops one (death), receives one;
    Bình Thạnh suspends one and moves one out (to Bình Chánh)."""
    a, b, other = people
    officer, district = user("commune"), user("district")
    chanh, thanh = find_commune(CHANH, "2024-05"), find_commune(THANH, "2024-05")
    new = person(name="=HYPERLINK(\"x\")", national_id="051050777777", coefficient=1.0)
    changes.record_new(new, "2024-05", officer)
    approve(changes.propose(b, "suspend", officer, "2024-03", clause="3c"), "3/QĐ", date(2024, 2, 20))
    approve(changes.propose(b, "resume", officer, "2024-05"), "30/QĐ-UBND", date(2024, 4, 25))
    approve(changes.propose(a, "stop", officer, "2024-05", clause="1a", reason="Chết ngày 10/04/2024"),
            "31/QĐ-UBND", date(2024, 4, 26))
    k2 = person(commune_code=THANH, village="Thôn Mỹ Long", name="Lê Thị Hoa", sex="F",
                national_id="051160333444", coefficient=1.0)
    approve(changes.propose(other, "suspend", district, "2024-05", clause="3a"), "32/QĐ-UBND", date(2024, 4, 27))
    approve(changes.propose(k2, "move_out", district, "2024-05", to_commune=chanh), "33/QĐ-UBND", date(2024, 4, 28))
    # Not in May: an April change and a proposal still waiting.
    approve(changes.propose(person(name="Phạm Văn Tư", national_id="051050444555", coefficient=1.0),
                            "stop", officer, "2024-04", clause="1d"), "20/QĐ", date(2024, 3, 20))
    changes.propose(person(name="Đỗ Văn Năm", national_id="051050555666", coefficient=1.0),
                    "stop", officer, "2024-05", clause="1b")
    db.session.commit()
    return {"a": a, "b": b, "other": other, "new": new, "k2": k2, "chanh": chanh, "thanh": thanh}


def test_month_changes_page_for_the_district(client, may_changes):
    m = may_changes
    login(client, "district")
    html = client.get("/changes/month?month=2024-05").get_data(as_text=True)
    inc, dec = html.index("<h2>Tăng</h2>"), html.index("<h2>Giảm</h2>")
    for name in ("Trần Thị Bích", "=HYPERLINK", "Lê Thị Hoa"):
        assert inc < html.index(name) < dec, name
    for name in ("Nguyễn Văn An", "Lê Văn Cường"):
        assert html.index(name) > dec, name
    assert "Phạm Văn Tư" not in html and "Đỗ Văn Năm" not in html
    assert "Tăng: 3" in html and "Giảm: 3" in html
    assert "31/QĐ-UBND" in html and "26/04/2024" in html and "<b>Chết</b>" in html
    assert "051155000111" not in html and "0111" in html  # IDs masked
    row = re.search(r"<tr><td[^>]*><a[^>]*>Xã Bình Chánh</a></td><td class=\"n\"[^>]*>(\d+)</td><td class=\"n\"[^>]*>(\d+)</td>", html)
    assert row.groups() == ("3", "1")
    row = re.search(r"<tr><td[^>]*><a[^>]*>Xã Bình Thạnh</a></td><td class=\"n\"[^>]*>(\d+)</td><td class=\"n\"[^>]*>(\d+)</td>", html)
    assert row.groups() == ("0", "2")
    # One commune picked.
    html = client.get(f"/changes/month?month=2024-05&area={m['thanh'].id}").get_data(as_text=True)
    assert "Lê Văn Cường" in html and "Trần Thị Bích" not in html and "Tăng: 0" in html
    # A program picked, and another month.
    html = client.get("/changes/month?month=2024-05&program=NCC").get_data(as_text=True)
    assert "Không có phát sinh nào" in html
    html = client.get("/changes/month?month=2024-04").get_data(as_text=True)
    assert "Phạm Văn Tư" in html and "Tăng: 0" in html and "Giảm: 1" in html
    r = client.get("/changes/month?month=2024-5")
    assert r.status_code == 400 and "YYYY-MM" in r.get_data(as_text=True)


def test_month_changes_page_is_scoped_for_the_commune(client, may_changes):
    m = may_changes
    login(client, "commune")
    html = client.get("/changes/month?month=2024-05").get_data(as_text=True)
    assert "Trần Thị Bích" in html and "Lê Thị Hoa" in html  # moved in to Bình Chánh
    assert "Lê Văn Cường" not in html and "Tăng: 3" in html and "Giảm: 1" in html
    assert client.get(f"/changes/month?month=2024-05&area={m['thanh'].id}").status_code == 404
    assert client.get(f"/changes/month.xlsx?month=2024-05&area={m['thanh'].id}").status_code == 404
    html = client.get("/changes").get_data(as_text=True)
    assert "Lê Văn Cường" not in html and "Trần Thị Bích" in html


def test_month_changes_workbook(client, may_changes):
    login(client, "district")
    r = client.get("/changes/month.xlsx?month=2024-05")
    assert r.status_code == 200 and r.headers["Content-Disposition"].endswith('.xlsx"')
    ws = load_workbook(io.BytesIO(r.data)).active
    cells = [c for row in ws.iter_rows() for c in row if c.value not in (None, "")]
    values = [c.value for c in cells]
    assert "UBND HUYỆN BÌNH SƠN" in values and "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI" in values
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in values and "Độc lập - Tự do - Hạnh phúc" in values
    assert "DANH SÁCH ĐỐI TƯỢNG PHÁT SINH TĂNG, GIẢM" in values
    assert any(str(v).startswith("Tháng 5 năm 2024") for v in values)
    assert "I. TĂNG (3 người)" in values and "II. GIẢM (3 người)" in values
    assert all(c.font.name == "Times New Roman" for c in cells)
    assert {"NGƯỜI LẬP BIỂU", "TRƯỞNG PHÒNG"} <= set(values)
    rows = {r[1].value: [c.value for c in r] for r in ws.iter_rows(min_row=8) if r[1].value}
    assert rows["Nguyễn Văn An"][6] == "Chết" and rows["Nguyễn Văn An"][10] == "31/QĐ-UBND"
    assert rows["Nguyễn Văn An"][11] == "26/04/2024" and rows["Nguyễn Văn An"][8] == "05/2024"
    assert rows["Trần Thị Bích"][6] == "Tiếp tục hưởng" and rows["Trần Thị Bích"][9] == "03/2024"
    assert rows["Trần Thị Bích"][3] == "051155000111"  # the ID as text, leading zero kept
    assert rows["Lê Văn Cường"][7].startswith("Khoản 3a: ")
    formula = next(r for r in ws.iter_rows(min_row=8) if str(r[1].value).startswith("=HYPERLINK"))
    assert formula[1].data_type == "s"  # a name typed as a formula stays text
    assert rows["Xã Bình Chánh"][2:4] == [3, 1] and rows["Xã Bình Thạnh"][2:4] == [0, 2]
    assert rows["Tổng cộng"][2:4] == [3, 3]
    # A commune's own workbook carries the commune's header and the chairman's block.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "commune")
    ws = load_workbook(io.BytesIO(client.get("/changes/month.xlsx?month=2024-05").data)).active
    values = [c.value for row in ws.iter_rows() for c in row if c.value]
    assert "UBND XÃ BÌNH CHÁNH" in values and "CHỦ TỊCH" in values and "Lê Văn Cường" not in values


def test_a_bad_month_is_refused_on_the_page_and_the_workbook(client, may_changes):
    login(client, "district")
    for url in ("/changes/month?month=xx", "/changes/month.xlsx?month=xx", "/changes/month.xlsx?month=2024-13"):
        r = client.get(url)
        html = r.get_data(as_text=True)
        assert r.status_code == 400 and r.mimetype == "text/html", url
        assert "không đúng dạng YYYY-MM" in html and "Nguyễn Văn An" not in html, url
    assert client.get("/changes/month.xlsx?month=2024-05").mimetype.endswith("spreadsheetml.sheet")


# ------------------------------------------------------------------ the import hook

def import_file(tmp_path, people, month, program="BTXH", name="ds.xlsx", new_grant=None):
    path = tmp_path / name
    filegen.write_list(people, "xlsx_one_row", path, program=program, month=month)
    parsed = imports.parse(path.read_bytes(), name, program, None)
    plan = imports.plan(parsed, find_commune(CHANH, month), program)
    imports.commit(plan, history.system_user(), create_villages=True, new_grant=new_grant)
    db.session.commit()
    return plan


def test_new_records_of_a_later_import_are_not_increases_by_themselves(app, tmp_path):
    # An import is never an increase by itself (issue 10 §2): a later list's new people are
    # the registry's opening balance too, paid from the first list that has them.
    people = filegen.make_people(6, seed=11)
    import_file(tmp_path, people[:4], "2024-04")
    import_file(tmp_path, people, "2024-05")
    assert db.session.scalar(select(func.count(ChangeProposal.id))) == 0
    assert changes.month_changes(select(ChangeProposal.commune_id), "2024-05") == []


def test_new_records_granted_from_a_month_are_increases(app, tmp_path):
    people = filegen.make_people(6, seed=11)
    import_file(tmp_path, people[:4], "2024-04")
    import_file(tmp_path, people, "2024-05",
                new_grant=imports.NewGrant("2024-05", "31/QĐ-UBND", date(2024, 5, 3)))
    rows = db.session.scalars(select(ChangeProposal)).all()
    assert {(c.kind, c.status, c.effective_month, c.source, c.decision_number) for c in rows} == {
        ("new", "approved", "2024-05", "import", "31/QĐ-UBND")}
    assert {c.beneficiary.full_name for c in rows} == {p["name"] for p in people[4:]}
    # They count in May's increases, and the April list does not pay them.
    assert len(changes.month_changes(select(ChangeProposal.commune_id), "2024-05")) == 2
    april = payments.build(find_commune(CHANH, "2024-04"), "2024-04", "BTXH", history.system_user())
    assert {line.beneficiary.full_name for line in april.lines} == {p["name"] for p in people[:4]}


# ------------------------------------------------------------------ CSRF

def test_every_post_needs_the_csrf_token(client, people):
    a, _, _ = people
    c = changes.propose(a, "stop", user("commune"), "2024-06", clause="1b")
    db.session.commit()
    login(client, "commune")
    assert client.post(f"/changes/new/{a.id}", data={"kind": "stop", "clause": "1a",
                                                     "effective_month": "2024-06"}).status_code == 400
    assert client.post(f"/changes/candidates/{a.id}", data={"kind": "stop", "month": "2024-05"},
                       headers=HX).status_code == 400
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "district")
    r = client.post(f"/changes/{c.id}/decide", data={"decision": "approve", f"d{c.id}-decision_number": "1/QĐ",
                                                      f"d{c.id}-decision_date": "2024-05-20"})
    assert r.status_code == 400
    assert db.session.get(ChangeProposal, c.id).status == "proposed"
    assert db.session.scalar(select(func.count(ChangeProposal.id))) == 1


# ------------------------------------------------------------------ budgets (budgets.md)

PAGE_BUDGET = 14_600


def compressed(client, url):
    r = client.get(url, headers={"Accept-Encoding": "br, gzip"})
    assert r.status_code == 200 and r.headers.get("Content-Encoding") in ("br", "gzip"), url
    return len(r.data)


def test_full_pages_stay_within_budget(client):
    """The longest pages: a page of cases to propose, of proposals waiting for a decision
    (each with its form), of the month's changes."""
    officer, district = user("commune"), user("district")
    for i in range(25):  # cases to propose
        person(name=f"Nguyễn Văn Chết {i:02d}", national_id=f"05105009{i:04d}", deceased=True, coefficient=1.0)
    for i in range(25):  # proposals waiting
        changes.propose(person(name=f"Trần Thị Đề Nghị {i:02d}", sex="F", national_id=f"05115008{i:04d}",
                               coefficient=1.0), "stop", officer, "2024-06", clause="1b",
                        note="Đã có lương hưu từ tháng 5/2024", evidence="Quyết định hưởng lương hưu")
    for i in range(60):  # the month's changes
        c = changes.propose(person(name=f"Lê Văn Phát Sinh {i:02d}", national_id=f"05105007{i:04d}",
                                   coefficient=1.0), "suspend", officer, "2024-05", clause="3c")
        changes.decide(c, district, True, f"{i}/QĐ-UBND", date(2024, 4, 20))
    db.session.commit()
    login(client, "commune")
    assert compressed(client, "/changes") <= PAGE_BUDGET
    assert compressed(client, "/changes/month?month=2024-05") <= PAGE_BUDGET
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "district")
    html = client.get("/changes").get_data(as_text=True)
    assert html.count("Trần Thị Đề Nghị") == 20  # paged
    assert compressed(client, "/changes") <= PAGE_BUDGET
    assert compressed(client, "/changes/month?month=2024-05") <= PAGE_BUDGET
    assert "Trang 1/2" in client.get("/changes/month?month=2024-05").get_data(as_text=True)


# ------------------------------------------------------------------ in a real browser (htmx)

@pytest.mark.browser
def test_deciding_in_the_browser_swaps_the_row(app, people, browser):
    a, b, _ = people
    c1 = changes.propose(a, "stop", user("commune"), "2024-06", clause="1b")
    c2 = changes.propose(b, "suspend", user("commune"), "2024-06", clause="3b")
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        page = browser.new_page()
        log_in_as(page, base, "district")
        page.goto(f"{base}/changes")
        page.evaluate("window.marker = 1")  # gone if the page reloads
        page.click(f"#c{c2.id} button[value=reject]")  # no note: refused in place
        page.wait_for_selector(f"#c{c2.id} .flash.error")
        page.fill(f"#d{c2.id}-note", "Đã thực hiện yêu cầu")
        page.click(f"#c{c2.id} button[value=reject]")
        page.wait_for_selector(f"#c{c2.id} .tag.error:has-text('Không duyệt')")
        page.fill(f"#d{c1.id}-decision_number", "12/QĐ-UBND")
        page.fill(f"#d{c1.id}-decision_date", "2024-05-20")
        page.click(f"#c{c1.id} button[value=approve]")
        page.wait_for_selector(f"#c{c1.id} .tag.ok:has-text('Đã duyệt')")
        assert page.evaluate("window.marker") == 1
        assert "20/05/2024" in page.inner_text(f"#c{c1.id}")
    finally:
        server.shutdown()
    db.session.expire_all()
    assert (db.session.get(ChangeProposal, c1.id).status, db.session.get(ChangeProposal, c2.id).status) == (
        "approved", "rejected")


@pytest.mark.browser
def test_withdrawing_in_the_browser_swaps_the_row(app, people, browser):
    a, b, _ = people
    c1 = changes.propose(a, "stop", user("commune"), "2024-06", clause="1b")
    c2 = changes.propose(b, "suspend", user("commune"), "2024-06", clause="3b")
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        page = browser.new_page()
        log_in_as(page, base, "commune")
        page.goto(f"{base}/changes")
        page.evaluate("window.marker = 1")  # gone if the page reloads
        page.once("dialog", lambda d: d.accept())  # «Rút đề nghị này?»
        page.click(f"#c{c1.id} button:has-text('Rút đề nghị')")
        page.wait_for_selector(f"tr#c{c1.id} .tag:has-text('Đã rút')")
        assert page.evaluate("window.marker") == 1
        assert page.locator(f"tr#c{c1.id} form").count() == 0
        assert page.locator(f"tr#c{c2.id} button:has-text('Rút đề nghị')").count() == 1
        assert page.locator("table tbody > tr").count() == 2  # swapped in place, still a table row
    finally:
        server.shutdown()
    db.session.expire_all()
    assert (db.session.get(ChangeProposal, c1.id).status, db.session.get(ChangeProposal, c2.id).status) == (
        "withdrawn", "proposed")
