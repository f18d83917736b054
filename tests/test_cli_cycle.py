"""The monthly cycle from the command line: ``flask payment-lists build|lock|results``, as a
named user, on generated data (invented people only)."""
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Event, Finding, ImportBatch, PaymentLine, PaymentPeriod
from portal.services import changes, payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.conftest import user
from tests.factories import person, with_account

BLOCK = "Lỗi dữ liệu chưa sửa: Số định danh không khớp năm sinh."


@pytest.fixture
def world(app):
    """Bình Chánh (21052): An paid into an account, Bích in cash, Chi blocked by an open
    error; Bình Thạnh (21046): Cường. No list of any month yet."""
    an = with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    bich = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    chi = person(name="Lê Thị Chi", sex="F", national_id="051150999111", coefficient=1.0)
    db.session.add(Finding(beneficiary_id=chi.id, code="id_year_mismatch", severity="error",
                           message="Số định danh không khớp năm sinh.", source="check"))
    cuong = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường",
                   national_id="051060222333", coefficient=1.0)
    db.session.commit()
    return {"an": an, "bich": bich, "chi": chi, "cuong": cuong}


def run(runner, *args):
    return runner.invoke(args=["payment-lists", *args])


def run_json(runner, *args, code=0):
    r = run(runner, *args, "--json")
    assert r.exit_code == code, r.output
    return json.loads(r.stdout)


def by_name(lst):
    return {line["name"]: line for line in lst["lines"]}


# ------------------------------------------------------------------------------- build

def test_build_prints_exactly_the_documented_shape(runner, world):
    out = run_json(runner, "build", "2024-05", "--area", "524", "--user", "district")
    assert set(out) == {"month", "lists"} and out["month"] == "2024-05"
    assert all(set(lst) == {"commune_code", "program", "state", "lines"} for lst in out["lists"])
    # every commune of the district, both programs, each once, by code
    keys = [(lst["commune_code"], lst["program"]) for lst in out["lists"]]
    assert len(keys) == len(set(keys)) == 2 * len({c for c, _ in keys}) and keys == sorted(keys)
    chanh = next(lst for lst in out["lists"] if (lst["commune_code"], lst["program"]) == ("21052", "BTXH"))
    assert chanh["state"] == "draft"
    assert all(set(line) == {"national_id", "name", "amount", "method", "status", "reasons"}
               for line in chanh["lines"])
    lines = by_name(chanh)
    assert lines["Nguyễn Văn An"] == {"national_id": "051050123456", "name": "Nguyễn Văn An",
                                      "amount": 540_000, "method": "account", "status": "payable",
                                      "reasons": []}
    assert lines["Trần Thị Bích"]["amount"] == 720_000 and lines["Trần Thị Bích"]["method"] == "cash"
    # the payment page's own rule: the line the list blocked, with the list's reason
    assert lines["Lê Thị Chi"]["status"] == "blocked" and lines["Lê Thị Chi"]["reasons"] == [BLOCK]
    assert all(isinstance(line["amount"], int) for line in chanh["lines"])
    thanh = next(lst for lst in out["lists"] if (lst["commune_code"], lst["program"]) == ("21046", "BTXH"))
    assert [line["name"] for line in thanh["lines"]] == ["Lê Văn Cường"]
    # the lists are the user's, as on the web
    assert set(db.session.scalars(select(PaymentPeriod.created_by_id))) == {user("district").id}


def test_a_commune_officer_builds_their_commune_and_nothing_else(runner, world):
    out = run_json(runner, "build", "2024-05", "--area", "21052", "--user", "commune", "--program", "BTXH")
    assert [(lst["commune_code"], lst["program"]) for lst in out["lists"]] == [("21052", "BTXH")]
    r = run(runner, "build", "2024-05", "--area", "21046", "--user", "commune")
    assert r.exit_code == 2 and "ngoài địa bàn" in r.output
    r = run(runner, "build", "2024-05", "--area", "524", "--user", "commune", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["error"] == "out_of_scope"
    assert db.session.scalar(select(func.count()).select_from(PaymentPeriod)) == 1


def test_any_month_builds_on_its_own_with_its_arrears(runner, world):
    bich = world["bich"]
    bich.status = "suspended"
    db.session.commit()
    change = changes.propose(bich, "resume", system_user(), "2024-07", arrears_from="2024-06")
    changes.decide(change, system_user(), True, "15/QĐ-UBND", date(2024, 5, 20))
    db.session.commit()
    out = run_json(runner, "build", "2024-07", "--area", "21052", "--user", "commune", "--program", "BTXH")
    lines = by_name(out["lists"][0])
    # July at 500,000 đ (Decree 76/2024): 1.5 × and 2.0 ×; Bích's June (360,000 × 2.0) owed too
    assert lines["Nguyễn Văn An"]["amount"] == 750_000
    assert lines["Trần Thị Bích"]["amount"] == 1_000_000 + 720_000
    months_built = set(db.session.scalars(select(PaymentPeriod.month)))
    assert months_built == {"2024-07"}  # no June, no May: nothing earlier was needed
    r = run(runner, "build", "2024-07", "--area", "21052", "--user", "commune")
    assert r.exit_code == 0 and "cập nhật 1" in r.output  # BTXH refreshed, NCC opened


def test_a_decision_refreshes_the_draft_and_build_refreshes_the_rest(runner, world):
    an, bich = world["an"], world["bich"]
    run_json(runner, "build", "2024-06", "--area", "21052", "--user", "commune", "--program", "BTXH")
    june = db.session.scalar(select(PaymentPeriod).where(PaymentPeriod.month == "2024-06"))
    payments.hold(next(line for line in june.lines if line.beneficiary_id == world["chi"].id), "Chờ công an")
    db.session.commit()
    # decided as the changes page does: the drafts it touches follow at once
    stop = changes.propose(an, "stop", system_user(), "2024-06", clause="1b")
    changes.decide(stop, system_user(), True, "16/QĐ-UBND", date(2024, 5, 20))
    assert [p.id for p in payments.refresh_for_decision(stop, system_user())] == [june.id]
    db.session.commit()
    assert an.id not in {line.beneficiary_id for line in june.lines}
    # a decision recorded without refreshing (a job that forgot): lock refuses, build refreshes
    stop = changes.propose(bich, "stop", system_user(), "2024-06", clause="1d")
    changes.decide(stop, system_user(), True, "17/QĐ-UBND", date(2024, 5, 20))
    db.session.commit()
    out = run_json(runner, "lock", "2024-06", "--area", "21052", "--user", "commune", code=1)
    assert out["lists"] == [] and "không còn khớp" in out["refused"][0]["message"]
    assert out["error"] == "not_locked"
    r = run(runner, "build", "2024-06", "--area", "21052", "--user", "commune", "--program", "BTXH")
    assert r.exit_code == 0 and "thêm 0, bớt 1" in r.output
    out = run_json(runner, "lock", "2024-06", "--area", "21052", "--user", "commune", "--program", "BTXH")
    lines = by_name(out["lists"][0])
    assert out["lists"][0]["state"] == "locked" and "Trần Thị Bích" not in lines
    assert lines["Lê Thị Chi"] == {"national_id": "051150999111", "name": "Lê Thị Chi", "amount": 360_000,
                                   "method": "cash", "status": "held", "reasons": ["Chờ công an"]}


# -------------------------------------------------------------------------------- lock

def test_lock_on_the_web_rules(runner, world):
    run_json(runner, "build", "2024-05", "--area", "21052", "--user", "commune")
    out = run_json(runner, "lock", "2024-05", "--area", "21052", "--user", "commune", code=1)
    # NCC (empty) locks; BTXH has Chi's blocked line
    assert [(x["commune_code"], x["program"], x["state"]) for x in out["lists"]] == [("21052", "NCC", "locked")]
    assert out["refused"] == [{"commune_code": "21052", "program": "BTXH",
                               "message": "Còn 1 dòng bị chặn vì lỗi dữ liệu: sửa hồ sơ (rồi bấm «Cập nhật "
                                          "danh sách») hoặc tạm giữ dòng đó."}]
    r = run(runner, "lock", "2024-05", "--area", "21052", "--user", "commune")
    assert r.exit_code == 1 and "bị chặn" in r.output
    # the officer fixes the record; build refreshes the draft; lock goes through
    db.session.scalar(select(Finding).where(Finding.beneficiary_id == world["chi"].id)).resolved_at = \
        db.func.now()
    db.session.commit()
    run_json(runner, "build", "2024-05", "--area", "21052", "--user", "commune")
    r = run(runner, "lock", "2024-05", "--area", "21052", "--user", "commune")
    assert r.exit_code == 0, r.output
    period = db.session.scalar(select(PaymentPeriod).where(PaymentPeriod.program == "BTXH"))
    assert period.status == "locked" and period.locked_by_id == user("commune").id
    r = run(runner, "lock", "2024-05", "--area", "21052", "--user", "commune", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout) == {
        "error": "nothing_to_lock",
        "message": "Không có danh sách đang soạn nào tháng 05/2024 của Xã Bình Chánh để khóa."}
    # build leaves a locked list as it is
    out = run_json(runner, "build", "2024-05", "--area", "21052", "--user", "commune", "--program", "BTXH")
    assert out["lists"][0]["state"] == "locked"
    assert db.session.scalar(select(func.count()).select_from(PaymentPeriod)) == 2


# ----------------------------------------------------------------------------- results

@pytest.fixture
def locked_may(runner, world):
    """Bình Chánh's and Bình Thạnh's May BTXH lists, locked by the district (Chi held)."""
    run_json(runner, "build", "2024-05", "--area", "524", "--user", "district", "--program", "BTXH")
    p = db.session.scalar(select(PaymentPeriod).where(
        PaymentPeriod.commune_id == find_commune("21052", "2024-05").id, PaymentPeriod.program == "BTXH"))
    payments.hold(next(line for line in p.lines if line.status == "blocked"), "Chờ xác minh")
    db.session.commit()
    run_json(runner, "lock", "2024-05", "--area", "524", "--user", "district", "--program", "BTXH")
    ref = {line.beneficiary.full_name: line.reference for line in db.session.scalars(select(PaymentLine))}
    return ref


def csv_file(path, rows, header=("Noi dung", "Ket qua", "Ly do")):
    text = "\r\n".join(";".join(str(c) for c in r) for r in [header, *rows]) + "\r\n"
    path.write_bytes(("\ufeff" + text).encode("utf-8"))
    return str(path)


def result_events():
    return db.session.scalar(select(func.count()).select_from(Event).where(Event.field == "result"))


def results_of():
    return {line.beneficiary.full_name: line.result for line in db.session.scalars(select(PaymentLine))}


def test_results_preview_then_confirm_then_again_changes_nothing(runner, locked_may, tmp_path):
    ref = locked_may
    path = csv_file(tmp_path / "ket-qua.csv", [(ref["Nguyễn Văn An"], "Thành công", ""),
                                              (ref["Trần Thị Bích"], "Tiền mặt", ""),
                                              (ref["Lê Văn Cường"], "Trả lại", "Không gặp người nhận")])
    args = ("results", path, "--month", "2024-05", "--user", "payer")
    out = run_json(runner, *args)
    assert out["confirmed"] is False and out["applied"] == 0 and out["errors"] == []
    assert out["counts"]["change"] == 3 and out["counts"]["paid_account"] == 1
    assert [(c["row"], c["name"], c["result"]) for c in out["changes"]] == [
        (2, "Nguyễn Văn An", "paid_account"), (3, "Trần Thị Bích", "paid_cash"), (4, "Lê Văn Cường", "returned")]
    assert result_events() == 0 and set(results_of().values()) == {"pending"}  # a preview writes nothing
    r = run(runner, *args)
    assert r.exit_code == 0 and "3 kết quả sẽ ghi" in r.output and "thêm --confirm" in r.output
    out = run_json(runner, *args, "--confirm")
    assert out["confirmed"] is True and out["applied"] == 3
    assert results_of()["Nguyễn Văn An"] == "paid_account" and results_of()["Lê Văn Cường"] == "returned"
    assert result_events() == 3
    events = db.session.scalars(select(Event).where(Event.field == "result")).all()
    assert {e.user_id for e in events} == {user("payer").id}  # the audit trail names the payer
    batch = db.session.scalar(select(ImportBatch).where(ImportBatch.kind == "results"))
    assert batch.status == "committed" and batch.summary["applied"] == 3 and batch.filename == "ket-qua.csv"
    out = run_json(runner, *args, "--confirm")  # the same file again: nothing more
    assert out["applied"] == 0 and out["counts"]["unchanged"] == 3 and result_events() == 3
    # --area narrows the lists: Cường's row is of Bình Thạnh
    out = run_json(runner, *args, "--area", "21052", code=1)
    assert out["error"] == "row_errors" and [e["row"] for e in out["errors"]] == [4]
    assert "không thuộc tháng 05/2024 và Xã Bình Chánh" in out["errors"][0]["text"]


def test_results_refuse_an_overwrite_unless_asked(runner, locked_may, tmp_path):
    ref = locked_may
    first = csv_file(tmp_path / "a.csv", [(ref["Nguyễn Văn An"], "Thành công", "")])
    run_json(runner, "results", first, "--month", "2024-05", "--user", "payer", "--confirm")
    second = csv_file(tmp_path / "b.csv", [(ref["Nguyễn Văn An"], "Không thành công", "Tài khoản đã đóng"),
                                          (ref["Trần Thị Bích"], "Tiền mặt", "")])
    args = ("results", second, "--month", "2024-05", "--user", "payer")
    out = run_json(runner, *args)
    assert out["counts"]["overwrite"] == 1 and out["overwrites"][0]["old_result"] == "paid_account"
    out = run_json(runner, *args, "--confirm", code=1)
    assert out["error"] == "overwrite" and out["applied"] == 0
    assert results_of()["Nguyễn Văn An"] == "paid_account" and results_of()["Trần Thị Bích"] == "pending"
    r = run(runner, *args, "--confirm")
    assert r.exit_code == 1 and "--overwrite" in r.output
    out = run_json(runner, *args, "--confirm", "--overwrite")
    assert out["applied"] == 2 and results_of()["Nguyễn Văn An"] == "failed"
    assert db.session.scalar(select(Finding).where(Finding.code == "payment_failed")) is not None


def test_results_row_problems_by_row_and_column_write_nothing(runner, locked_may, tmp_path):
    ref = locked_may
    path = csv_file(tmp_path / "x.csv", [(ref["Nguyễn Văn An"], "Thành công", ""),
                                         ("21052-202405-BTXH-999999", "Thành công", ""),
                                         (ref["Trần Thị Bích"], "Không thành công", "")])
    out = run_json(runner, "results", path, "--month", "2024-05", "--user", "payer", "--confirm", code=1)
    assert out["error"] == "row_errors" and out["applied"] == 0
    assert [(e["row"], e["column"]) for e in out["errors"]] == [(3, "«Noi dung» (A)"), (4, "«Ly do» (C)")]
    assert result_events() == 0
    r = run(runner, "results", path, "--month", "2024-05", "--user", "payer")
    assert r.exit_code == 1 and "Dòng 3, cột «Noi dung» (A): mã tham chiếu" in r.output
    # the lists of another month
    good = csv_file(tmp_path / "y.csv", [(ref["Nguyễn Văn An"], "Thành công", "")])
    out = run_json(runner, "results", good, "--month", "2024-06", "--user", "payer", code=1)
    assert "không thuộc tháng 06/2024" in out["errors"][0]["message"]


# -------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("args, code, words", [
    (("build", "2024-13", "--area", "524", "--user", "district"), "bad_month", "YYYY-MM"),
    (("build", "2024-05", "--area", "99999", "--user", "district"), "unknown_area", "Không có đơn vị mã 99999"),
    (("build", "2024-05", "--area", "21052", "--user", "nobody"), "unknown_user", "Không có người dùng"),
    (("build", "2024-05", "--area", "21052", "--user", "payer"), "forbidden", "không được làm việc này"),
    (("build", "2024-05", "--area", "21052", "--user", "police"), "forbidden", "commune hoặc district"),
    (("lock", "2024-05", "--area", "21052", "--user", "commune"), "nothing_to_lock", "để khóa"),
    (("lock", "05/2024", "--area", "21052", "--user", "commune"), "bad_month", "YYYY-MM"),
    (("lock", "2024-05", "--area", "21046", "--user", "commune"), "out_of_scope", "ngoài địa bàn"),
    (("results", "/nonexistent/ket-qua.csv", "--month", "2024-05", "--user", "payer"), "unreadable_file",
     "Không đọc được tệp"),
    (("results", "/nonexistent/ket-qua.csv", "--month", "2024-05", "--user", "commune"), "forbidden",
     "cần vai trò payer"),
    (("results", "/nonexistent/ket-qua.csv", "--month", "2024-99", "--user", "payer"), "bad_month", "YYYY-MM"),
    (("results", "/nonexistent/ket-qua.csv", "--month", "2024-05", "--area", "0", "--user", "payer"),
     "unknown_area", "Không có đơn vị mã 0"),
])
def test_bad_input_exits_non_zero_with_a_vietnamese_message(runner, world, args, code, words):
    r = run(runner, *args)
    assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output
    r = run(runner, *args, "--json")
    assert r.exit_code == 2
    out = json.loads(r.stdout)
    assert out["error"] == code and words in out["message"]
    assert db.session.scalar(select(func.count()).select_from(PaymentPeriod)) == 0


def test_a_file_that_is_not_a_result_file(runner, world, tmp_path):
    for name, data in (("rac.xlsx", b"\x00\x01 not a workbook"), ("trong.csv", b""),
                       ("khac.csv", "Họ tên;Số tiền\r\nAn;1\r\n".encode())):
        (tmp_path / name).write_bytes(data)
        r = run(runner, "results", str(tmp_path / name), "--month", "2024-05", "--user", "payer", "--json")
        out = json.loads(r.stdout)
        assert r.exit_code == 2 and out["error"] and out["message"], (name, out)
    r = run(runner, "results", str(tmp_path), "--month", "2024-05", "--user", "payer")
    assert r.exit_code == 2  # a folder (click refuses it before the command runs)


def test_after_the_reform_the_codes_name_the_new_units(runner, world):
    out = run_json(runner, "build", "2025-08", "--area", "21040", "--user", "admin", "--program", "BTXH")
    assert [lst["commune_code"] for lst in out["lists"]] == ["21040"]
    period = db.session.scalar(select(PaymentPeriod))
    assert period.commune.valid_from == date(2025, 7, 1)  # Xã Bình Sơn, not Thị trấn Châu Ổ
    r = run(runner, "build", "2025-08", "--area", "524", "--user", "admin")
    assert r.exit_code == 2 and "Không có đơn vị mã 524 trong tháng 08/2025" in r.output
