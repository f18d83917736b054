"""What a list states reaches the payment (issue 10 §1): a remark such as "Đã chết ngày
12/4/2024" becomes a proposal that blocks the person's lines from its month until the
deciding level approves it or an officer dismisses it with a reason; decoys never block."""
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ChangeProposal, Finding, ImportBatch
from portal.services import changes, imports, payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests import filegen
from tests.conftest import csrf_token, login, user
from tests.test_imports import upload

NOTES = {
    0: "Đã chết ngày 12/4/2024",                      # stop 1a from 2024-05
    1: "vợ mất năm 2019",                             # a relative: a warning only
    2: "mất giấy CCCD",                               # lost: nothing
    3: "tạm dừng từ T6/2024 do không nhận 3 tháng",   # suspend 3a from 2024-06
    4: "chuyển khẩu đi huyện khác",                   # move out from 2024-06
    5: "Mất sức lao động",                            # a category: nothing
    6: "chuyển sang nhận qua tài khoản",              # a switch of payment: nothing
}


@pytest.fixture
def people(app):
    ps = filegen.make_people(10, seed=10)
    for i, p in enumerate(ps):
        p["note"] = NOTES.get(i)
        p["village"] = "Thôn An Thành"
    return ps


def _list(people, shape="xlsx_two_row"):
    return filegen.write_list(people, shape, program="BTXH", month="2024-05")


def _commit(people, shape="xlsx_two_row"):
    commune = find_commune("21052", "2024-05")
    parsed = imports.parse(_list(people, shape), "ds.xlsx", "BTXH", "2024-05")
    plan = imports.plan(parsed, commune, "BTXH")
    batch = ImportBatch(commune_id=commune.id, program="BTXH", month="2024-05", filename="ds.xlsx",
                        sha256="x", data=b"", user_id=user("commune").id, status="committed")
    db.session.add(batch)
    db.session.flush()
    counts = imports.commit(plan, user("commune"), batch, create_villages=True)
    db.session.commit()
    return plan, counts


def _by_name(people):
    from portal.models import Beneficiary
    return {b.full_name: b for b in db.session.scalars(select(Beneficiary))}


def _lines(month):
    commune = find_commune("21052", month)
    period = db.session.scalar(select(payments.PaymentPeriod).where(
        payments.PaymentPeriod.commune_id == commune.id, payments.PaymentPeriod.month == month,
        payments.PaymentPeriod.status == "draft"))
    if period is None:
        period = payments.build(commune, month, "BTXH", system_user())
    else:
        payments.refresh(period, system_user())
    db.session.commit()
    return {line.beneficiary.full_name: line for line in period.lines}, period


def test_the_preview_groups_what_the_list_states(people):
    commune = find_commune("21052", "2024-05")
    plan = imports.plan(imports.parse(_list(people), "ds.xlsx", "BTXH", "2024-05"), commune, "BTXH")
    report = plan.report()
    assert report["stated_groups"] == [
        {"kind": "death", "change": "stop", "effective_month": "2024-05", "count": 1},
        {"kind": "move_away", "change": "move_out", "effective_month": "2024-06", "count": 1},
        {"kind": "suspend", "change": "suspend", "effective_month": "2024-06", "count": 1}]
    stated = {c["name"]: c for c in report["stated_changes"]}
    assert stated[people[0]["name"]]["quote"] == "Đã chết ngày 12/4/2024"
    codes = {(i["row"], i["code"]) for i in report["issues"]}
    assert (people[0]["row"], "stated_change") in codes
    assert (people[1]["row"], "remark_not_a_change") in codes
    for i in (2, 5, 6):  # decoys: no stated change and no warning about a change
        assert not {c for r, c in codes if r == people[i]["row"]} & {"stated_change", "remark_not_a_change"}
    assert db.session.scalar(select(func.count(ChangeProposal.id))) == 0  # a preview writes nothing


def test_a_stated_change_blocks_from_its_month_until_decided(people):
    plan, counts = _commit(people)
    assert counts["proposed"] == 3 and counts["refresh_from"] == "2024-05"
    by = _by_name(people)
    dead, suspended, moved = (by[people[i]["name"]] for i in (0, 3, 4))
    props = {c.beneficiary_id: c for c in db.session.scalars(select(ChangeProposal))}
    assert (props[dead.id].kind, props[dead.id].clause, props[dead.id].effective_month) == ("stop", "1a", "2024-05")
    assert (props[suspended.id].kind, props[suspended.id].clause) == ("suspend", "3a")
    assert (props[moved.id].kind, props[moved.id].to_commune_id) == ("move_out", None)
    assert all(c.status == "proposed" and c.source == "import" for c in props.values())
    assert "Đã chết ngày 12/4/2024" in props[dead.id].reason and "dòng" in props[dead.id].evidence
    open_ = {f.beneficiary_id for f in db.session.scalars(select(Finding).where(
        Finding.code == "stated_change", Finding.resolved_at.is_(None)))}
    assert open_ == {dead.id, suspended.id, moved.id}
    may, _ = _lines("2024-05")
    assert may[dead.full_name].status == "blocked" and "Đã chết ngày 12/4/2024" in may[dead.full_name].note
    assert may[suspended.full_name].status == "listed" and may[moved.full_name].status == "listed"
    for i in (1, 2, 5, 6):
        assert may[people[i]["name"]].status == "listed"
    june, _ = _lines("2024-06")
    assert {june[b.full_name].status for b in (dead, suspended, moved)} == {"blocked"}
    # The deciding level (the district before 7/2025) confirms the death: the June list
    # follows (the person is no longer on it) and the finding closes.
    change = props[dead.id]
    changes.decide(change, user("district"), True, "12/QĐ-UBND", date(2024, 5, 20))
    payments.refresh_for_decision(change, user("district"))
    db.session.commit()
    june, _ = _lines("2024-06")
    assert dead.full_name not in june
    assert db.session.get(Finding, db.session.scalar(select(Finding.id).where(
        Finding.beneficiary_id == dead.id, Finding.code == "stated_change"))).resolved_at is not None


def test_a_dismissal_makes_the_lines_payable_again(people):
    _commit(people)
    by = _by_name(people)
    suspended = by[people[3]["name"]]
    june, period = _lines("2024-06")
    assert june[suspended.full_name].status == "blocked"
    change = db.session.scalar(select(ChangeProposal).where(ChangeProposal.beneficiary_id == suspended.id))
    with pytest.raises(changes.ChangeError, match="lý do"):
        changes.dismiss(change, user("commune"), "  ")
    with pytest.raises(changes.ChangeError, match="bỏ qua"):
        changes.withdraw(change, user("commune"))  # not withdrawn silently: dismissed with a reason
    changes.dismiss(change, user("commune"), "Đã nhận đủ tháng 3 và 4: ghi chú cũ")
    payments.refresh_for_decision(change, user("commune"))
    db.session.commit()
    assert change.status == "rejected" and change.decision_note.startswith("Đã nhận đủ")
    assert db.session.get(payments.PaymentPeriod, period.id) is not None
    june, _ = _lines("2024-06")
    assert june[suspended.full_name].status == "listed"
    assert db.session.scalar(select(func.count(Finding.id)).where(
        Finding.beneficiary_id == suspended.id, Finding.code == "stated_change",
        Finding.resolved_at.is_(None))) == 0


def test_a_draft_built_before_the_import_cannot_be_locked_unrefreshed(people):
    quiet = [dict(p, note=None) for p in people]
    _commit(quiet)
    _, june = _lines("2024-06")  # a draft, everyone payable
    for p in people:
        p.pop("row", None)
    _commit(people)  # the same people again, now with their remarks; no refresh here
    with pytest.raises(payments.PeriodError, match="Cập nhật danh sách"):
        payments.lock(june, system_user())


def test_importing_the_same_list_twice_proposes_once_and_never_undoes_a_dismissal(people):
    _commit(people)
    suspended = _by_name(people)[people[3]["name"]]
    change = db.session.scalar(select(ChangeProposal).where(ChangeProposal.beneficiary_id == suspended.id))
    changes.dismiss(change, user("commune"), "Ghi nhầm dòng")
    db.session.commit()
    for p in people:
        p.pop("row", None)
    plan, counts = _commit(people)
    report = plan.report()
    assert counts["proposed"] == 0 and report["stated_groups"] == []
    settled = [i for i in report["issues"] if i["code"] == "stated_settled"]
    assert len(settled) == 3 and any("đã được bỏ qua" in i["message"] for i in settled)
    assert db.session.scalar(select(func.count(ChangeProposal.id))) == 3
    june, _ = _lines("2024-06")
    assert june[suspended.full_name].status == "listed"  # the dismissal holds


def test_a_status_column_and_an_end_month_state_changes_too(people):
    for p in people:
        p["note"] = None
    people[0]["status"] = "Đã chết"
    people[1]["end_month"] = "6/2024"
    data = filegen.write_list(people, "xlsx_two_row", program="BTXH", month="2024-05",
                              columns=[("status", "Tình trạng"), ("end_month", "Thôi hưởng từ tháng")])
    commune = find_commune("21052", "2024-05")
    report = imports.plan(imports.parse(data, "ds.xlsx", "BTXH", "2024-05"), commune, "BTXH").report()
    stated = {c["name"]: (c["kind"], c["effective_month"]) for c in report["stated_changes"]}
    assert stated == {people[0]["name"]: ("death", "2024-06"), people[1]["name"]: ("stop", "2024-06")}


def test_an_old_list_states_a_change_outside_the_decision_window(app, people):
    # A 2024 list uploaded in December 2026 still blocks: the month is the document's.
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    _, counts = _commit(people)
    assert counts["proposed"] == 3


def test_on_the_web_preview_confirm_decide_and_the_june_list(client, people):
    login(client, "commune")
    r = upload(client, _list(people), "ds.xlsx", program="BTXH", month="2024-05")
    assert r.status_code == 303
    preview = r.headers["Location"]
    html = client.get(preview).get_data(as_text=True)
    assert "1 người được ghi là đã chết: đề nghị thôi hưởng từ 05/2024." in html
    assert "1 người được ghi là tạm dừng: đề nghị tạm dừng từ 06/2024." in html
    assert "«Đã chết ngày 12/4/2024»" in html
    r = client.post(preview + "/commit", data={"csrf_token": csrf_token(client, preview),
                                               "create_villages": "y"})
    assert r.status_code == 303, r.get_data(as_text=True)[:400]
    assert "/communes/" in r.headers["Location"], client.get(r.headers["Location"]).get_data(as_text=True)[-3000:]
    page = client.get("/changes").get_data(as_text=True)
    assert "Bỏ qua" in page and "Đã chết ngày 12/4/2024" in page
    dead = _by_name(people)[people[0]["name"]]
    change = db.session.scalar(select(ChangeProposal).where(ChangeProposal.beneficiary_id == dead.id))
    # The officer may not decide; the district does.
    assert client.post(f"/changes/{change.id}/decide", data={"csrf_token": csrf_token(client, "/changes")}
                       ).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/changes")})
    login(client, "district")
    token = csrf_token(client, "/changes")
    r = client.post(f"/changes/{change.id}/decide", data={
        "csrf_token": token, f"d{change.id}-decision_number": "12/QĐ-UBND",
        f"d{change.id}-decision_date": "2024-05-20", "decision": "approve"})
    assert r.status_code == 303
    db.session.refresh(change)
    assert change.status == "approved"
    june, _ = _lines("2024-06")
    assert dead.full_name not in june


def test_dismissing_on_the_web_needs_a_reason(client, people):
    _commit(people)
    suspended = _by_name(people)[people[3]["name"]]
    change = db.session.scalar(select(ChangeProposal).where(ChangeProposal.beneficiary_id == suspended.id))
    login(client, "commune")
    token = csrf_token(client, "/changes")
    r = client.post(f"/changes/{change.id}/dismiss", data={"csrf_token": token, f"x{change.id}-reason": ""},
                    headers={"HX-Request": "true"})
    assert r.status_code == 422 and "Ghi lý do bỏ qua" in r.get_data(as_text=True)
    r = client.post(f"/changes/{change.id}/dismiss",
                    data={"csrf_token": token, f"x{change.id}-reason": "Ghi chú cũ của năm trước"})
    assert r.status_code == 303
    db.session.refresh(change)
    assert change.status == "rejected"


def test_the_cli_reports_and_proposes(runner, tmp_path, people):
    path = tmp_path / "ds.xlsx"
    path.write_bytes(_list(people))
    r = runner.invoke(args=["import-list", str(path), "--commune", "21052", "--program", "BTXH",
                            "--month", "2024-05", "--json", "--create-villages"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["proposed"] == 3
    assert [g["kind"] for g in report["stated_groups"]] == ["death", "move_away", "suspend"]
    assert db.session.scalar(select(func.count(ChangeProposal.id)).where(ChangeProposal.source == "import")) == 3


@pytest.mark.parametrize("title,refused", [("UBND XA BINH DUONG", True), ("UBND XA BINH CHANH", False)])
def test_a_title_without_marks_names_its_commune_too(people, title, refused):
    data = filegen.write_list(people[:3], "csv_comma", program="BTXH", month="2024-05")
    data = data.replace("Xã Bình Chánh".upper().encode(), title.encode())
    data = title.encode() + b"\n" + data if title.encode() not in data else data
    commune = find_commune("21052", "2024-05")
    parsed = imports.parse(data, "ds.csv", "BTXH", "2024-05")
    assert title in parsed.title
    if refused:
        with pytest.raises(imports.ImportRefused, match="Xã Bình Dương"):
            imports.plan(parsed, commune, "BTXH")
    else:
        imports.plan(parsed, commune, "BTXH")
