"""Imports of generated commune files in every shape: through the CLI (``import-list
--json``), the registry export, and the upload page with its preview."""
import datetime as dt
import io
import json
import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Beneficiary, Event, Finding, ImportBatch
from portal.services import history
from portal.vn.text import fold
from tests import filegen
from tests.conftest import csrf_token, login

# What each planted problem must be reported as (filegen.plant_problems).
EXPECTED_CODES = {
    "id_lost_leading_zero": {"id_lost_leading_zero"},
    "id_scientific": {"id_scientific_notation"},
    "duplicate_id": {"duplicate_id"},
    "stated_change": {"stated_change"},
    "missing_id": {"missing_id"},
}
FILENAMES = {"xls": "ds.xls", "html_xls": "ds.xls", "xlsx_as_xls": "ds.xls", "xlsx_as_csv": "ds.csv",
             "csv_as_xls": "ds.xls"}


def write(tmp_path, shape, people, program="BTXH", **kw):
    name = FILENAMES.get(shape) or ("ds.csv" if shape.startswith("csv") else "ds.xlsx")
    path = tmp_path / name
    filegen.write_list(people, shape, path, program=program, **kw)
    return path


def run_import(runner, path, commune="21052", *extra):
    r = runner.invoke(args=["import-list", str(path), "--commune", commune, "--json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def export(runner):
    r = runner.invoke(args=["export-registry", "--format", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.fixture
def planted():
    people = filegen.make_people(24, seed=7)
    kinds = filegen.plant_problems(people)
    return people, kinds


@pytest.mark.parametrize("shape", sorted(filegen.SHAPES))
def test_every_shape_imports_every_person_right(runner, tmp_path, planted, shape):
    people, kinds = planted
    path = write(tmp_path, shape, people)
    report = run_import(runner, path, "21052", "--program", "BTXH", "--month", "2024-05")
    assert report["rows"] == len(people)
    assert report["added"] == len(people) and report["skipped"] == 0
    registry = {(fold(b["name"]), b["birth_year"]): b for b in export(runner)}
    for i, p in enumerate(people):
        b = registry[(fold(p["name"]), p["birth_year"])]
        assert b["name"] == p["name"]
        assert b["sex"] == p["sex"]
        assert b["birth_date"] == (p["birth_date"].isoformat() if p["birth_date"] else None), i
        if kinds.get(i) == "id_scientific":
            assert b["national_id"] is None  # never a guessed number
        else:
            assert b["national_id"] == p["national_id"], i
        assert b["monthly_amount"] == p["amount"]
        assert fold(b["village"]) == fold(p["village"])
        assert b["commune_code"] == "21052" and b["program"] == "BTXH"
        assert b["account_number"] == p["account_number"]
    by_row = {}
    for issue in report["issues"]:
        by_row.setdefault(issue["row"], set()).add(issue["code"])
        assert issue["severity"] in ("error", "warning", "info")
        assert issue["message"] and f"dòng {issue['row']}" in issue["message"]
    for i, kind in kinds.items():
        if kind in EXPECTED_CODES:
            assert EXPECTED_CODES[kind] & by_row.get(people[i]["row"], set()), (kind, people[i]["row"], by_row)
    # Few alarms where nothing was planted.
    planted_rows = {people[i]["row"] for i in kinds}
    alarms = {i["row"] for i in report["issues"]
              if i["severity"] != "info" and i["row"] not in planted_rows}
    assert len(alarms) <= 1, report["issues"]


def test_sheet_and_row_numbers_as_excel_shows_them(runner, tmp_path, planted):
    people, kinds = planted
    report = run_import(runner, write(tmp_path, "xlsx_two_row", people), "21052", "--dry-run")
    dup = [i for i in report["issues"] if i["code"] == "duplicate_id"]
    assert {i["row"] for i in dup} == {people[4]["row"], people[5]["row"]}
    assert all(i["sheet"] == people[4]["sheet"] for i in dup)
    csv_report = run_import(runner, write(tmp_path, "csv_semicolon_bom", people), "21052", "--dry-run")
    assert all(i["sheet"] is None for i in csv_report["issues"])
    missing = [i for i in csv_report["issues"] if i["code"] == "missing_id"]
    assert any(i["row"] == people[11]["row"] and i["column"] == "CCCD" for i in missing)


def test_dry_run_writes_nothing(runner, tmp_path, planted):
    people, _ = planted
    report = run_import(runner, write(tmp_path, "xlsx_two_row", people), "21052", "--dry-run")
    assert report["added"] == len(people)
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0


def test_month_and_program_from_the_title(runner, tmp_path, planted):
    people, _ = planted
    path = write(tmp_path, "xlsx_two_row", people, program="NCC")
    report = run_import(runner, path, "21052")
    assert report["month"] == "2024-05" and report["program"] == "NCC"


def test_same_file_twice_changes_nothing(runner, tmp_path, planted):
    people, _ = planted
    path = write(tmp_path, "xlsx_one_row", people)
    run_import(runner, path)
    events = db.session.scalar(select(func.count(Event.id)))
    findings = db.session.scalar(select(func.count(Finding.id)))
    again = run_import(runner, path)
    assert (again["added"], again["changed"], again["unchanged"]) == (0, 0, len(people))
    assert db.session.scalar(select(func.count(Event.id))) == events
    assert db.session.scalar(select(func.count(Finding.id))) == findings
    assert db.session.scalar(select(func.count(Beneficiary.id))) == len(people)


def test_two_people_sharing_an_id_are_never_merged(runner, tmp_path, planted):
    people, _ = planted
    path = write(tmp_path, "xlsx_two_row", people)
    run_import(runner, path)
    run_import(runner, path)
    nid = people[4]["national_id"]
    same = db.session.scalars(select(Beneficiary).where(Beneficiary.national_id == nid)).all()
    assert len(same) == 2
    assert all(any(f.code == "duplicate_id" for f in b.findings) for b in same)


def test_id_held_in_another_commune_is_reported(runner, tmp_path, planted):
    people, _ = planted
    run_import(runner, write(tmp_path, "xlsx_two_row", people), "21052")
    other = [dict(people[0], name="Võ Thị Khác", birth_year=people[0]["birth_year"])]
    other = filegen.make_people(12, seed=99)
    other[3]["national_id"] = people[0]["national_id"]
    report = run_import(runner, write(tmp_path, "csv_comma", other, commune="Bình Thạnh"), "21046",
                        "--program", "BTXH", "--month", "2024-05")
    hits = [i for i in report["issues"] if i["code"] == "duplicate_id_registry"]
    assert [i["row"] for i in hits] == [other[3]["row"]]
    assert "Bình Chánh" in hits[0]["message"]


def test_changed_value_updates_with_history_and_empty_never_wipes(runner, tmp_path, planted):
    people, _ = planted
    run_import(runner, write(tmp_path, "xlsx_two_row", people))
    people[0]["amount"] = people[0]["amount"] + 180000
    people[1]["account_number"] = None
    people[1]["bank"] = None
    report = run_import(runner, write(tmp_path, "xlsx_two_row", people))
    assert report["changed"] == 1 and report["added"] == 0
    b = db.session.scalar(select(Beneficiary).where(Beneficiary.name_folded == fold(people[0]["name"])))
    assert b.monthly_amount == people[0]["amount"]
    ev = db.session.scalars(select(Event).where(Event.beneficiary_id == b.id, Event.field == "monthly_amount")).one()
    assert ev.source == "import" and ev.new_value == str(people[0]["amount"]) and ev.user.username == "system"
    # people[1]'s account cells are now empty: the known account stays.
    b1 = db.session.scalar(select(Beneficiary).where(Beneficiary.name_folded == fold(people[1]["name"])))
    assert b1.account is None or b1.account.number is not None


def test_empty_amount_cell_keeps_known_value(runner, tmp_path, planted):
    people, _ = planted
    run_import(runner, write(tmp_path, "csv_comma", people), "21052", "--program", "BTXH", "--month", "2024-05")
    known = people[0]["amount"]
    people[0]["amount"] = None
    report = run_import(runner, write(tmp_path, "csv_comma", people), "21052", "--program", "BTXH", "--month", "2024-05")
    assert report["changed"] == 0
    b = db.session.scalar(select(Beneficiary).where(Beneficiary.name_folded == fold(people[0]["name"])))
    assert b.monthly_amount == known


def test_rows_without_name_or_birth_are_skipped(runner, tmp_path):
    people = filegen.make_people(5, seed=3)
    people[1]["birth_date"], people[1]["birth_year"] = None, None
    people[1]["birth_cell"] = ""
    path = tmp_path / "ds.csv"
    filegen.write_list(people, "csv_comma", path)
    text = path.read_text("utf-8").splitlines()
    # Blank the name of the third person but keep the row.
    cells = text[people[2]["row"] - 1].split(",")
    cells[1] = ""
    text[people[2]["row"] - 1] = ",".join(cells)
    path.write_text("\n".join(text), "utf-8")
    report = run_import(runner, path, "21052", "--program", "BTXH", "--month", "2024-05")
    assert report["skipped"] == 2 and report["added"] == 3
    codes = {(i["row"], i["code"]) for i in report["issues"] if i["severity"] == "error"}
    assert (people[1]["row"], "missing_birth") in codes and (people[2]["row"], "missing_name") in codes


@pytest.mark.parametrize("data, code", [
    (b"\x00\x01garbage\xff" * 50, None),
    (b"", None),
])
def test_unreadable_files_are_refused(runner, tmp_path, data, code):
    path = tmp_path / "ds.xlsx"
    path.write_bytes(data)
    r = runner.invoke(args=["import-list", str(path), "--commune", "21052", "--json"])
    assert r.exit_code != 0
    out = json.loads(r.output)
    assert out["error"] in ("unreadable", "empty", "no_header", "not_a_beneficiary_list")
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0


def test_workbook_without_a_list_is_refused(runner, tmp_path):
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.append(["Báo cáo"])
    wb.active.append(["Không có danh sách nào ở đây"])
    path = tmp_path / "bc.xlsx"
    wb.save(path)
    r = runner.invoke(args=["import-list", str(path), "--commune", "21052", "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["error"] == "no_header"


def test_commit_is_all_or_nothing(runner, tmp_path, planted, monkeypatch):
    people, _ = planted
    calls = []

    def boom(b, user, source, batch=None):
        calls.append(b)
        if len(calls) == 10:
            raise RuntimeError("disk full")
    monkeypatch.setattr(history, "record_creation", boom)
    r = runner.invoke(args=["import-list", str(write(tmp_path, "xlsx_two_row", people)),
                            "--commune", "21052", "--json"])
    assert r.exit_code != 0
    db.session.rollback()
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0


def test_unknown_commune_is_a_clear_error(runner, tmp_path, planted):
    people, _ = planted
    r = runner.invoke(args=["import-list", str(write(tmp_path, "xlsx_two_row", people)),
                            "--commune", "99999", "--json"])
    assert r.exit_code == 2 and "99999" in r.output and json.loads(r.output)["error"] == "unknown_commune"


# --------------------------------------------------------------------------- the upload page

def upload(client, data, filename="ds.xlsx", commune_id=None, **fields):
    token = csrf_token(client, "/imports/new")
    page = client.get("/imports/new").get_data(as_text=True)
    commune_id = commune_id or re.search(r'<option[^>]*value="(\d+)"[^>]*>Xã Bình Chánh', page).group(1)
    form = {"csrf_token": token, "commune_id": commune_id, "program": "", "month": "",
            "file": (io.BytesIO(data), filename)}
    form.update(fields)
    return client.post("/imports/new", data=form, content_type="multipart/form-data")


def test_upload_preview_then_confirm(client, tmp_path, planted):
    people, _ = planted
    data = filegen.write_list(people, "xlsx_two_row")
    login(client, "commune")
    r = upload(client, data)
    assert r.status_code == 303
    preview_url = r.headers["Location"]
    html = client.get(preview_url).get_data(as_text=True)
    assert "Thêm mới</dt><dd>24" in html
    assert "Cùng số định danh" in html and f"<td class=\"n\" data-label=\"Dòng\">{people[4]['row']}</td>" in html
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0  # nothing written yet
    token = csrf_token(client, preview_url)
    r = client.post(preview_url + "/commit", data={"csrf_token": token})
    assert r.status_code == 303 and "/communes/" in r.headers["Location"]
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 24
    batch = db.session.scalars(select(ImportBatch)).one()
    assert batch.status == "committed" and batch.summary["added"] == 24
    # Confirming twice writes nothing more.
    client.post(preview_url + "/commit", data={"csrf_token": token})
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 24
    # The same file again: everything left alone.
    r = upload(client, data)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Thêm mới</dt><dd>0" in html and "Giữ nguyên</dt><dd>24" in html


def test_upload_refuses_unreadable_file_with_422(client):
    login(client, "commune")
    r = upload(client, b"not a spreadsheet at all \x00\xff", "ds.xlsx")
    assert r.status_code == 422
    assert "Lỗi:" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ImportBatch.id))) == 0


def test_upload_discard(client, planted):
    people, _ = planted
    login(client, "commune")
    r = upload(client, filegen.write_list(people, "csv_comma"), "ds.csv", program="BTXH", month="2024-05")
    url = r.headers["Location"]
    client.post(url + "/discard", data={"csrf_token": csrf_token(client, url)})
    assert db.session.scalars(select(ImportBatch)).one().status == "discarded"
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0


def test_upload_scoped_to_own_commune(client, planted):
    people, _ = planted
    login(client, "commune")
    page = client.get("/imports/new").get_data(as_text=True)
    assert "Bình Thạnh" not in page  # only the user's own commune is offered
    other = re.search(r"Xã Bình Chánh", page)
    assert other
    r = upload(client, filegen.write_list(people, "xlsx_two_row"), commune_id="99999")
    assert r.status_code == 422
    # Another commune's batch cannot be previewed or confirmed.
    from portal.services.areas import find_commune
    from portal.services.history import system_user
    batch = ImportBatch(commune_id=find_commune("21046", "2024-05").id, filename="x.xlsx", sha256="0",
                        data=b"", user_id=system_user().id)
    db.session.add(batch)
    db.session.commit()
    assert client.get(f"/imports/{batch.id}").status_code == 404
    assert client.post(f"/imports/{batch.id}/commit", data={"csrf_token": csrf_token(client)}).status_code == 404


def test_police_cannot_upload(client):
    login(client, "police")
    assert client.get("/imports/new").status_code == 403


def test_birth_forms_are_read(runner, tmp_path):
    people = filegen.make_people(12, seed=11)
    people[0]["birth_cell"], people[0]["birth_date"], people[0]["birth_year"] = "00/00/1945", None, 1945
    people[1]["birth_cell"] = "1950"
    people[1]["birth_date"], people[1]["birth_year"] = None, 1950
    people[2]["birth_date"] = dt.date(1940, 2, 29)
    people[2]["birth_year"] = 1940
    people[2]["birth_cell"] = (people[2]["birth_date"] - dt.date(1899, 12, 30)).days
    for p in people[:3]:
        p["national_id"] = None
    run_import(runner, write(tmp_path, "xlsx_two_row", people), "21052", "--program", "BTXH")
    reg = {b["name"]: b for b in export(runner)}
    assert reg[people[0]["name"]]["birth_year"] == 1945 and reg[people[0]["name"]]["birth_date"] is None
    assert reg[people[1]["name"]]["birth_year"] == 1950
    assert reg[people[2]["name"]]["birth_date"] == "1940-02-29"


def test_upload_asks_for_the_month_when_the_title_has_none(client, planted):
    people, _ = planted
    login(client, "commune")
    data = filegen.write_list(people, "csv_comma")  # no title line
    r = upload(client, data, "ds.csv", program="BTXH")
    assert r.status_code == 422 and "nhập tháng của danh sách" in r.get_data(as_text=True)
    r = upload(client, data, "ds.csv", program="BTXH", month="2024-05")
    assert r.status_code == 303
    assert db.session.scalars(select(ImportBatch).where(ImportBatch.kind == "list")).one().month == "2024-05"


def test_concurrent_confirmations_write_once(app, tmp_path, planted):
    """Two confirmations at once (a double tap, a retry): one import, not two."""
    import threading
    people, _ = planted
    db_path = tmp_path / "race.db"
    from portal import create_app
    race = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "WTF_CSRF_ENABLED": False})
    with race.app_context():
        from portal.services import areas as _areas
        from tests.conftest import fast_users
        db.create_all()
        _areas.load_packaged_areas()
        fast_users()
        db.session.commit()
    clients = [race.test_client() for _ in range(4)]
    for c in clients:
        c.post("/login", data={"username": "commune", "password": "demo"})
    page = clients[0].get("/imports/new").get_data(as_text=True)
    commune_id = re.search(r'<option[^>]*value="(\d+)"[^>]*>Xã Bình Chánh', page).group(1)
    r = clients[0].post("/imports/new", data={"commune_id": commune_id, "program": "BTXH", "month": "2024-05",
                                              "file": (io.BytesIO(filegen.write_list(people, "xlsx_two_row")), "ds.xlsx")},
                        content_type="multipart/form-data")
    url = r.headers["Location"] + "/commit"
    barrier = threading.Barrier(len(clients))
    codes = []

    def confirm(c):
        barrier.wait()
        codes.append(c.post(url).status_code)
    threads = [threading.Thread(target=confirm, args=(c,)) for c in clients]
    [t.start() for t in threads]
    [t.join() for t in threads]
    with race.app_context():
        assert db.session.scalar(select(func.count(Beneficiary.id))) == len(people)
        assert db.session.scalars(select(ImportBatch)).one().status == "committed"


def test_out_of_range_and_overlong_values(runner, tmp_path):
    people = filegen.make_people(4, seed=5)
    people[0]["amount"] = 10 ** 20
    people[1]["village"] = "Thôn " + "Dài" * 100
    people[2]["name"] = "Nguyễn " * 30
    path = write(tmp_path, "csv_comma", people)
    report = run_import(runner, path, "21052", "--program", "BTXH", "--month", "2024-05")
    codes = {(i["row"], i["code"]) for i in report["issues"]}
    assert (people[0]["row"], "bad_amount") in codes
    assert (people[1]["row"], "too_long") in codes
    assert (people[2]["row"], "bad_name") in codes and report["skipped"] == 1
    assert report["added"] == 3  # committed: nothing overflows a column
    amounts = {b["name"]: b["monthly_amount"] for b in export(runner)}
    assert amounts[people[0]["name"]] is None


def test_another_programs_file_is_flagged(runner, tmp_path):
    people = filegen.make_people(12, seed=21)
    path = write(tmp_path, "xlsx_two_row", people, program="NCC")
    report = run_import(runner, path, "21052", "--program", "BTXH", "--dry-run")
    assert "program_mismatch" in [i["code"] for i in report["issues"]]
    ok = run_import(runner, path, "21052", "--program", "NCC", "--dry-run")
    assert "program_mismatch" not in {i["code"] for i in ok["issues"]}


# ------------------------------------------------------------------ another commune's list

def nothing_written():
    from portal.models import Area, ChangeProposal
    return (db.session.scalar(select(func.count(Beneficiary.id))) == 0
            # a refused upload keeps its file for the form sent again (kind kept), no list
            and db.session.scalar(select(func.count(ImportBatch.id)).where(ImportBatch.kind != "kept")) == 0
            and db.session.scalar(select(func.count(ChangeProposal.id))) == 0
            and db.session.scalar(select(func.count(Area.id)).where(Area.level == "village")) == 0)


def refused(runner, path, commune, *extra):
    r = runner.invoke(args=["import-list", str(path), "--commune", commune, "--json", *extra])
    assert r.exit_code != 0, r.output
    return json.loads(r.output)


def test_another_communes_list_is_refused_in_the_cli(runner, tmp_path):
    people = filegen.make_people(12, seed=21)
    # The title names Xã Bình Dương; Bình Chánh is chosen.
    out = refused(runner, write(tmp_path, "xlsx_two_row", people, commune="Bình Dương"), "21052",
                  "--month", "2024-05")
    assert out["error"] == "commune_mismatch"
    assert "«UBND XÃ BÌNH DƯƠNG»" in out["message"] and "đã chọn Xã Bình Chánh" in out["message"]
    assert nothing_written()
    # Without --json: exit status 2 and the same message.
    r = runner.invoke(args=["import-list", str(tmp_path / "ds.xlsx"), "--commune", "21052"])
    assert r.exit_code == 2 and "UBND XÃ BÌNH DƯƠNG" in r.output and nothing_written()
    # A commune column naming Bình Dương under a title that names no commune (the CSV's).
    for p in people:
        p["commune"] = "Bình Dương"
    path = write(tmp_path, "csv_semicolon_bom", people, columns=(("commune", "Xã/Phường"),))
    out = refused(runner, path, "21052", "--program", "BTXH")
    assert out["error"] == "commune_mismatch" and "«Bình Dương»" in out["message"]
    assert "Xã Bình Chánh" in out["message"] and "12 dòng" in out["message"] and nothing_written()
    # An address ending with the commune ("Thôn …, xã Bình Dương") says it too.
    out = refused(runner, write(tmp_path, "csv_comma", people, commune="Bình Dương"), "21052",
                  "--program", "BTXH", "--month", "2024-05")
    assert out["error"] == "commune_mismatch" and "xã Bình Dương" in out["message"]
    # Chosen right, the same files go in.
    assert run_import(runner, path, "21070", "--program", "BTXH", "--month", "2024-05")["added"] == 12


def test_another_communes_list_is_refused_on_the_web_for_every_role(client):
    people = filegen.make_people(6, seed=22)
    data = filegen.write_list(people, "xlsx_two_row", commune="Bình Dương")
    login(client, "commune")
    r = upload(client, data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "error-summary" in html
    assert "UBND XÃ BÌNH DƯƠNG" in html and "đã chọn Xã Bình Chánh" in html
    assert nothing_written()
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "district")
    r = upload(client, data)  # the district chose Bình Chánh for Bình Dương's list
    assert r.status_code == 422 and "UBND XÃ BÌNH DƯƠNG" in r.get_data(as_text=True)
    assert nothing_written()
    page = client.get("/imports/new").get_data(as_text=True)
    duong = re.search(r'<option[^>]*value="(\d+)"[^>]*>Xã Bình Dương', page).group(1)
    assert upload(client, data, commune_id=duong).status_code == 303


def test_the_reform_pair_is_one_commune_and_marks_count(app, tmp_path):
    from portal.services import imports
    from portal.services.areas import find_commune
    chau_o, binh_son = find_commune("21040", "2024-05"), find_commune("21040", "2025-08")
    assert chau_o.name == "Châu Ổ" and binh_son.name == "Bình Sơn" and chau_o.id != binh_son.id
    people = filegen.make_people(4, seed=23)

    def parsed(commune, month="2024-05", shape="xlsx_two_row"):
        return imports.parse(filegen.write_list(people, shape, commune=commune, month=month),
                             "ds.xlsx", "BTXH", None)
    # A 2024 list of Thị trấn Châu Ổ with its successor Xã Bình Sơn chosen is Châu Ổ's (the
    # unit its title names, within the lineage), and Xã Bình Sơn's of 08/2025 with Châu Ổ
    # chosen is Xã Bình Sơn's (tests/test_import_reform.py has the whole rule).
    assert imports.plan(parsed("Thị trấn Châu Ổ"), binh_son).commune is chau_o
    assert imports.plan(parsed("Bình Sơn", "2025-08"), chau_o).commune is binh_son
    # Bình Chánh was merged into Xã Bình Sơn too; Bình Dương is not Bình Chánh for all that.
    assert imports.plan(parsed("Bình Chánh"), binh_son).commune.code == "21052"
    with pytest.raises(imports.ImportRefused):
        imports.plan(parsed("Bình Dương"), find_commune("21052", "2024-05"))
    with pytest.raises(imports.ImportRefused):
        imports.plan(parsed("Bình Dương"), chau_o)
    # Bình Thanh and Bình Thạnh are two communes.
    thanh = find_commune("21046", "2024-05")
    assert thanh.name == "Bình Thạnh"
    imports.plan(parsed("Bình Thạnh"), thanh)
    with pytest.raises(imports.ImportRefused) as e:
        imports.plan(parsed("Bình Thanh"), thanh)
    assert "Xã Bình Thanh" in e.value.message and "Xã Bình Thạnh" in e.value.message
    # A title naming only the district or the province, or no commune, passes.
    p = parsed("Bình Dương")
    for title in ("UBND HUYỆN BÌNH SƠN\nDANH SÁCH CHI TRẢ", "SỞ LĐ-TB&XH TỈNH QUẢNG NGÃI", ""):
        p.title = title
        imports.plan(p, find_commune("21052", "2024-05"))
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0


# ------------------------------------------------------------------ new villages

def test_new_villages_need_a_confirmation(runner, client, tmp_path):
    people = filegen.make_people(8, seed=24)
    first = [p for p in people if p["village"] != "Thôn Đồng Tròn"]
    people[-1]["village"] = "Thôn Đồng Tròn"
    # A commune without villages: its first list creates them, no confirmation.
    run_import(runner, write(tmp_path, "xlsx_two_row", first[:5]), "21052", "--month", "2024-05")
    path = write(tmp_path, "xlsx_two_row", people)
    out = refused(runner, path, "21052", "--month", "2024-05")
    assert out["error"] == "villages_not_confirmed" and "Thôn Đồng Tròn" in out["message"]
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 5
    dry = run_import(runner, path, "21052", "--month", "2024-05", "--dry-run")
    assert dry["villages_to_confirm"] == ["Thôn Đồng Tròn"]
    # On the web: listed in the preview, refused (422) without the tick, written with it.
    login(client, "commune")
    url = upload(client, filegen.write_list(people, "xlsx_two_row")).headers["Location"]
    html = client.get(url).get_data(as_text=True)
    assert "Tạo các thôn mới: Thôn Đồng Tròn" in html
    r = client.post(url + "/commit", data={"csrf_token": csrf_token(client, url)})
    assert r.status_code == 422 and "Thôn Đồng Tròn" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 5
    assert db.session.get(ImportBatch, int(url.rsplit("/", 1)[1])).status == "preview"
    r = client.post(url + "/commit", data={"csrf_token": csrf_token(client, url), "create_villages": "y"})
    assert r.status_code == 303
    assert db.session.scalar(select(func.count(Beneficiary.id))) == len(people)


# ------------------------------------------------------------------ increases (§2)

def may_report(code="21052"):
    from portal.services import reports
    from portal.services.areas import find_commune
    report = reports.monthly_report(find_commune(code, "2024-05"), "2024-05")
    return report["totals"]["BTXH"]["increases"]


def test_an_import_is_the_opening_balance_not_an_increase(runner, tmp_path):
    people = filegen.make_people(10, seed=25)
    run_import(runner, write(tmp_path, "xlsx_two_row", people[:6]), "21052", "--month", "2024-05")
    assert may_report() == 0
    # A later list with more people: still no increase by itself.
    report = run_import(runner, write(tmp_path, "xlsx_two_row", people), "21052", "--month", "2024-05",
                        "--create-villages")
    assert report["added"] == 4 and report["increases"] == 0 and may_report() == 0
    assert report["groups"] == {"catch_up": 4, "starts": {}}


def test_new_grants_from_a_month_are_increases_with_their_decision(runner, tmp_path):
    from portal.models import ChangeProposal
    people = filegen.make_people(10, seed=26)
    path = write(tmp_path, "xlsx_two_row", people)
    out = refused(runner, path, "21052", "--month", "2024-05", "--new-from", "2024-05")
    assert out["error"] == "bad_new_grant" and nothing_written()
    report = run_import(runner, path, "21052", "--month", "2024-05", "--new-from", "2024-05",
                        "--decision-number", "125/QĐ-UBND", "--decision-date", "20/05/2024")
    assert report["increases"] == report["added"] == 10 and may_report() == 10
    rows = db.session.scalars(select(ChangeProposal)).all()
    assert {(c.kind, c.status, c.effective_month, c.decision_number, c.decision_date) for c in rows} == {
        ("new", "approved", "2024-05", "125/QĐ-UBND", dt.date(2024, 5, 20))}
    assert all(c.decided_by.role == "system" and "Phòng Lao động" in c.decision_note for c in rows)


def test_new_grants_on_the_web(client):
    from portal.models import ChangeProposal
    people = filegen.make_people(5, seed=27)
    login(client, "district")
    url = upload(client, filegen.write_list(people, "xlsx_two_row")).headers["Location"]
    html = client.get(url).get_data(as_text=True)
    assert "5 người được thêm vào danh sách đang hưởng (số dư đầu kỳ, không tính là phát sinh tăng)" in html
    token = csrf_token(client, url)
    r = client.post(url + "/commit", data={"csrf_token": token, "new_grant": "y", "new_from": "2024-05"})
    assert r.status_code == 422 and "Ghi số quyết định" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0
    r = client.post(url + "/commit", data={"csrf_token": token, "new_grant": "y", "new_from": "2024-05",
                                           "decision_number": "7/QĐ-UBND", "decision_date": "2024-05-10"})
    assert r.status_code == 303 and may_report() == 5
    # The district decides in 2024 (DECIDING_ROLES): its user is recorded as the decider.
    assert {c.decided_by.username for c in db.session.scalars(select(ChangeProposal))} == {"district"}
    html = client.get(url).get_data(as_text=True)
    assert "5 người hưởng mới từ tháng 2024-05 theo Quyết định số 7/QĐ-UBND ngày 10/05/2024" in html


def test_a_start_month_in_the_file_counts_in_that_month(runner, tmp_path):
    people = filegen.make_people(6, seed=28)
    for i, p in enumerate(people):
        p["start_month"] = "05/2024" if i < 2 else "01/03/2019"
    people[5]["start_month"] = "sớm"
    path = write(tmp_path, "xlsx_two_row", people, columns=(("start_month", "Hưởng từ tháng"),))
    report = run_import(runner, path, "21052", "--month", "2024-05")
    assert report["groups"] == {"catch_up": 1, "starts": {"2019-03": 3, "2024-05": 2}}
    assert report["increases"] == 5 and may_report() == 2
    assert [i["row"] for i in report["issues"] if i["code"] == "bad_start_month"] == [people[5]["row"]]


def test_export_by_a_code_that_named_two_units(runner, tmp_path, planted):
    people, _ = planted
    run_import(runner, write(tmp_path, "xlsx_two_row", people), "21052", "--month", "2024-05")
    # 21040 is Châu Ổ until 30/06/2025 and Xã Bình Sơn (which took in Bình Chánh) after.
    r = runner.invoke(args=["export-registry", "--format", "json", "--area", "21040"])
    rows = json.loads(r.output)
    assert len(rows) == len(people) and {b["commune_code"] for b in rows} == {"21052"}
    r = runner.invoke(args=["export-registry", "--format", "json", "--area", "21043"])
    assert json.loads(r.output) == []


def test_cli_errors_are_json_with_json(runner, tmp_path, planted):
    people, _ = planted
    path = write(tmp_path, "csv_comma", people)  # no title: no month
    r = runner.invoke(args=["import-list", str(path), "--commune", "21052", "--program", "BTXH", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"] == "no_month"
    r = runner.invoke(args=["import-list", str(path), "--commune", "99999", "--month", "2024-05", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"] == "unknown_commune"
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0


def test_list_without_a_sex_column_takes_it_from_the_id(runner, tmp_path):
    path = tmp_path / "ds.csv"
    path.write_text("STT;Họ và tên;Năm sinh;Số CCCD;Thôn\n"
                    "1;Nguyễn Thị Hoa;1950;051150123456;Thôn An Thành\n"
                    "2;Trần Văn Hùng;1948;;Thôn An Thành\n", encoding="utf-8")
    report = run_import(runner, path, "21052", "--program", "BTXH", "--month", "2024-05")
    assert "missing_sex" not in {i["code"] for i in report["issues"]}
    sexes = {b["name"]: b["sex"] for b in export(runner)}
    assert sexes == {"Nguyễn Thị Hoa": "F", "Trần Văn Hùng": None}


def test_reimport_after_officers_corrections_matches_and_keeps_them(runner, tmp_path, planted):
    """Communes send the same old file every month: it must find the corrected records and
    leave what officers recorded alone (a double registration is a double payment)."""
    from portal.services import registry, review
    from portal.services.history import system_user
    people, kinds = planted
    path = write(tmp_path, "xlsx_two_row", people)
    run_import(runner, path, "21052", "--month", "2024-05")
    officer = system_user()
    by_name = {b.full_name: b for b in db.session.scalars(select(Beneficiary))}
    # 1. An ID corrected by an officer.
    fixed = by_name[people[0]["name"]]
    new_id = fixed.national_id[:-1] + ("0" if fixed.national_id[-1] != "0" else "1")
    data = registry.current_facts(fixed)
    data["national_id"] = new_id
    registry.correct(fixed, officer, data, fixed.version)
    # 2. A person without an ID moved to another village.
    no_id = next(b for b in by_name.values() if b.national_id is None)
    data = registry.current_facts(no_id)
    data["village"] = "Thôn Mới Chuyển"
    registry.correct(no_id, officer, data, no_id.version)
    # 3. An account recorded at the door.
    visited = by_name[people[3]["name"]]
    review.save_review(visited, officer, {"account_status": "has_account", "payment_method": "account",
                                          "bank_bin": "970405", "number": "4300205123456",
                                          "recipient_type": "self"}, visited.version)
    db.session.commit()
    people[3]["account_number"], people[3]["bank"] = "9704123456789012", "Agribank"
    report = run_import(runner, write(tmp_path, "xlsx_two_row", people), "21052", "--month", "2024-06")
    assert report["added"] == 0
    assert db.session.scalar(select(func.count(Beneficiary.id))) == len(people)
    assert db.session.get(Beneficiary, fixed.id).national_id == new_id
    assert db.session.get(Beneficiary, visited.id).account.number == "4300205123456"
    differs = {i["row"] for i in report["issues"] if i["code"] == "file_differs"}
    assert {people[0]["row"], people[3]["row"]} <= differs


def test_an_unusable_account_in_a_file_waits_for_the_visit(runner, tmp_path):
    people = filegen.make_people(3, seed=8)
    people[0]["account_number"], people[0]["bank"] = "9704050000000000", "Agribank"  # a card
    people[1]["account_number"], people[1]["bank"] = "123456789012", "Ngân hàng Không Có"
    people[2]["account_number"], people[2]["bank"] = "4300205123456", "Agribank"
    run_import(runner, write(tmp_path, "csv_comma", people), "21052", "--program", "BTXH", "--month", "2024-05")
    status = {b.full_name: b.account_status for b in db.session.scalars(select(Beneficiary))}
    assert status == {people[0]["name"]: "unknown", people[1]["name"]: "unknown",
                      people[2]["name"]: "has_account"}


def test_a_csv_cell_too_long_is_a_clear_refusal(runner, tmp_path):
    path = tmp_path / "ds.csv"
    path.write_text('STT;Họ và tên;Năm sinh\n1;"' + "x" * 200_000 + '";1950\n', encoding="utf-8")
    r = runner.invoke(args=["import-list", str(path), "--commune", "21052", "--program", "BTXH",
                            "--month", "2024-05", "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["error"] == "unreadable"


def test_cancel_after_confirm_says_so(client, planted):
    people, _ = planted
    login(client, "commune")
    r = upload(client, filegen.write_list(people, "xlsx_two_row"))
    url = r.headers["Location"]
    token = csrf_token(client, url)
    client.post(url + "/commit", data={"csrf_token": token})
    r = client.post(url + "/discard", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith(url)
    assert db.session.scalars(select(ImportBatch)).one().status == "committed"


@pytest.mark.parametrize("kind", ["police", "results"])
def test_other_uploads_are_not_commune_lists(client, kind):
    """The police's and the post office's uploads never show or commit as commune lists."""
    from portal.services.areas import find_commune
    user = db.session.scalar(select(history.User).where(history.User.username == "commune"))
    batch = ImportBatch(commune_id=find_commune("21052", "2024-05").id, kind=kind, filename="x.xlsx",
                        sha256="0" * 64, data=b"x", user_id=user.id, summary={})
    db.session.add(batch)
    db.session.commit()
    login(client, "commune")
    assert f"/imports/{batch.id}" not in client.get("/imports/new").get_data(as_text=True)
    assert client.get(f"/imports/{batch.id}").status_code == 404
    token = csrf_token(client)
    for action in ("commit", "discard"):
        assert client.post(f"/imports/{batch.id}/{action}", data={"csrf_token": token}).status_code == 404
    assert db.session.get(ImportBatch, batch.id).status == "preview"
