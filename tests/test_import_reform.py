"""Commune lists across the 2025 reform (issue 11, "Continuity"): the unit a file names —
its title, else its rows — decides where its people are registered, within the chosen
commune's lineage (the unit chosen, the old communes merged into it, its successor); a
list that names none goes to the unit in force in its month, or is refused when that is
several old communes. Both directions, on the web (preview, commit) and in the CLI.

The workbooks are built here with openpyxl: a title block, a one-row header, three or
four people. Bình Sơn's units (``portal/data/areas_binh-son.csv``): Xã Bình Chánh 21052
and Thị trấn Châu Ổ 21040 end on 30/06/2025 into Xã Bình Sơn 21040; Xã Bình Minh 21085
bears its name before and after (it took in Bình Khương and Bình An).
"""
import io
import json
import re

import openpyxl
import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import Area, Beneficiary, ImportBatch, User
from portal.services import imports
from portal.services.areas import find_commune
from tests.conftest import csrf_token, login

PEOPLE = [  # name, birth year, sex, national ID (province 051, century/sex digit, year), village
    ("Nguyễn Thị Hoa", 1950, "Nữ", "051150123456", "Thôn An Thành"),
    ("Trần Văn Hùng", 1948, "Nam", "051048654321", "Thôn An Thành"),
    ("Lê Thị Mai", 1941, "Nữ", "051141111222", "Thôn Phước Hòa"),
]
NEWCOMER = ("Phạm Văn Tư", 1944, "Nam", "051044333444", "Thôn An Thành")


def workbook(title=None, month="THÁNG 5 NĂM 2024", people=PEOPLE, commune_column=None):
    """A BTXH list as ``.xlsx`` bytes: ``title`` the issuing body's line (``UBND XÃ …``,
    none when ``None``), ``month`` the title's month words (none when ``None``),
    ``commune_column`` a commune for every row (a ``Xã`` column), or a function of the
    row's index giving one."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "DS"
    if title:
        ws.append([title, None, None, None, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"])
    ws.append(["DANH SÁCH ĐỐI TƯỢNG BẢO TRỢ XÃ HỘI HƯỞNG TRỢ CẤP HẰNG THÁNG"
               + (f" {month}" if month else "")])
    ws.append([])
    header = ["STT", "Họ và tên", "Năm sinh", "Giới tính", "Số CCCD", "Thôn", "Mức trợ cấp"]
    if commune_column:
        header.append("Xã")
    ws.append(header)
    for i, (name, year, sex, nid, village) in enumerate(people):
        row = [i + 1, name, year, sex, nid, village, 540000]
        if commune_column:
            row.append(commune_column(i) if callable(commune_column) else commune_column)
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def parsed(data, month=None):
    return imports.parse(data, "ds.xlsx", "BTXH", month)


def unit(code, month):
    return find_commune(code, month)


def add_user(username, role, area):
    u = User(username=username, role=role, area=area, full_name=username, active=True,
             password_hash=generate_password_hash("demo", method="pbkdf2:sha256:1000"))
    db.session.add(u)
    db.session.commit()
    return u


def nothing_written():
    return (db.session.scalar(select(func.count(Beneficiary.id))) == 0
            # a refused upload keeps its file for the form sent again (kind kept), no list
            and db.session.scalar(select(func.count(ImportBatch.id)).where(ImportBatch.kind != "kept")) == 0)


def communes_of(names):
    return {b.full_name: (b.commune.code, b.commune.name)
            for b in db.session.scalars(select(Beneficiary).where(Beneficiary.full_name.in_(names)))}


# ------------------------------------------------------------------ the rule (service)

def test_the_title_names_the_unit_within_the_lineage_both_ways(app):
    binh_son, binh_chanh = unit("21040", "2025-08"), unit("21052", "2024-05")
    # Old → : a 2024 list titled Bình Chánh with Xã Bình Sơn chosen is Bình Chánh's.
    p = imports.plan(parsed(workbook("UBND XÃ BÌNH CHÁNH")), binh_son)
    assert p.commune is binh_chanh and p.chosen is binh_son
    assert p.commune_source == "title" and p.commune_named == "UBND XÃ BÌNH CHÁNH"
    assert p.report()["commune"] == {"code": "21052", "name": "Xã Bình Chánh", "valid_to": "2025-06-30",
                                     "successor": {"code": "21040", "name": "Xã Bình Sơn"}}
    # → new: a list of 08/2025 titled Xã Bình Sơn with Bình Chánh chosen is Xã Bình Sơn's.
    p = imports.plan(parsed(workbook("UBND XÃ BÌNH SƠN", "THÁNG 8 NĂM 2025")), binh_chanh)
    assert p.commune is binh_son and p.commune_source == "title"
    assert p.report()["commune"] == {"code": "21040", "name": "Xã Bình Sơn", "valid_to": None,
                                     "successor": None}
    # 21040 named two units: Châu Ổ's own 2024 list with Xã Bình Sơn chosen is Châu Ổ's.
    p = imports.plan(parsed(workbook("UBND THỊ TRẤN CHÂU Ổ")), binh_son)
    assert (p.commune.code, p.commune.name) == ("21040", "Châu Ổ") and p.commune is not binh_son
    # Nothing is written by a plan.
    assert nothing_written()


@pytest.mark.parametrize("title_month, chosen_month, expected", [
    ("THÁNG 5 NĂM 2024", None, "2025-06-30"),       # the title's month: the old unit
    ("THÁNG 8 NĂM 2025", None, None),               # the new one
    ("THÁNG 5 NĂM 2024", "2025-08", "2025-06-30"),  # a title with both wins over the month chosen
    (None, "2024-05", "2025-06-30"),                # no month in the title: the month chosen
    (None, "2025-08", None),
])
def test_a_name_borne_in_two_periods_is_the_unit_in_force_that_month(app, title_month, chosen_month,
                                                                      expected):
    # Xã Bình Minh 21085 until 30/06/2025, and Xã Bình Minh 21085 (with Bình Khương, Bình
    # An) from 01/07/2025: whichever is chosen, the month tells them apart.
    for chosen in (unit("21085", "2024-05"), unit("21085", "2025-08")):
        p = imports.plan(parsed(workbook("UBND XÃ BÌNH MINH", title_month), chosen_month), chosen)
        facts = p.report()["commune"]
        assert (facts["code"], facts["name"], facts["valid_to"]) == ("21085", "Xã Bình Minh", expected)


def test_the_old_district_is_not_xa_binh_son(app):
    # "UBND HUYỆN BÌNH SƠN" names the district (ended), not Xã Bình Sơn: no commune is named.
    data = workbook("UBND HUYỆN BÌNH SƠN")
    p = imports.plan(parsed(data), unit("21052", "2024-05"))
    assert p.commune.code == "21052" and p.commune_source == "chosen"
    with pytest.raises(imports.ImportRefused) as e:
        imports.plan(parsed(data), unit("21040", "2025-08"))
    assert e.value.code == "commune_ambiguous"


def test_no_name_goes_to_the_unit_in_force_in_the_lists_month(app):
    binh_son, binh_chanh = unit("21040", "2025-08"), unit("21052", "2024-05")
    # The chosen unit when it is in force then.
    assert imports.plan(parsed(workbook(None, "THÁNG 8 NĂM 2025")), binh_son).commune is binh_son
    assert imports.plan(parsed(workbook(None)), binh_chanh).commune is binh_chanh
    # An old commune chosen for a month after the reform: its successor, the one unit in force.
    p = imports.plan(parsed(workbook(None, "THÁNG 8 NĂM 2025")), binh_chanh)
    assert p.commune is binh_son and p.commune_source == "month" and p.commune_named is None
    # The new commune chosen for 05/2024: seven units were in force then, which one is asked.
    with pytest.raises(imports.ImportRefused) as e:
        imports.plan(parsed(workbook(None)), binh_son)
    assert e.value.code == "commune_ambiguous" and e.value.field == "commune_id"
    assert "Xã Bình Chánh (21052)" in e.value.message and "Thị trấn Châu Ổ (21040)" in e.value.message
    assert "chọn đúng xã cũ" in e.value.message and "Xã Bình Dương (21070)" in e.value.message
    assert "Xã Vạn Tường" not in e.value.message  # only the units that became Xã Bình Sơn


def test_the_rows_name_the_unit_when_the_title_does_not(app):
    binh_son = unit("21040", "2025-08")
    # A commune column: the 2024 list is Bình Chánh's.
    p = imports.plan(parsed(workbook(None, commune_column="Bình Chánh")), binh_son)
    assert (p.commune.code, p.commune_source, p.commune_named) == ("21052", "rows", "Bình Chánh")
    # Two old communes in one 2024 list: each had its own list then; split the file.
    mixed = workbook(None, commune_column=lambda i: "Bình Chánh" if i else "Xã Bình Dương")
    with pytest.raises(imports.ImportRefused) as e:
        imports.plan(parsed(mixed), binh_son)
    assert e.value.code == "commune_ambiguous" and "tách tệp" in e.value.message
    assert "Xã Bình Chánh (2 dòng)" in e.value.message and "Xã Bình Dương (1 dòng)" in e.value.message
    # In a list of 08/2025 the old names are the people's addresses: the list is Xã Bình Sơn's.
    p = imports.plan(parsed(workbook(None, "THÁNG 8 NĂM 2025", commune_column="Bình Dương")), binh_son)
    assert p.commune is binh_son and p.commune_source == "chosen"


def test_a_name_outside_the_lineage_is_refused_as_before(app):
    binh_son, binh_chanh = unit("21040", "2025-08"), unit("21052", "2024-05")
    with pytest.raises(imports.ImportRefused) as e:  # Bình Dương is not Bình Chánh
        imports.plan(parsed(workbook("UBND XÃ BÌNH DƯƠNG")), binh_chanh)
    assert e.value.code == "commune_mismatch" and "đã chọn Xã Bình Chánh" in e.value.message
    with pytest.raises(imports.ImportRefused) as e:  # Bình Thuận became Xã Vạn Tường
        imports.plan(parsed(workbook("UBND XÃ BÌNH THUẬN")), binh_son)
    assert e.value.code == "commune_mismatch" and "Xã Bình Thuận" in e.value.message
    # The title names Bình Chánh (of Xã Bình Sơn's lineage), a row names Bình Dương: the
    # list is Bình Chánh's, and Bình Dương's people do not go into it.
    data = workbook("UBND XÃ BÌNH CHÁNH", commune_column=lambda i: "Bình Dương" if i == 2 else "Bình Chánh")
    with pytest.raises(imports.ImportRefused) as e:
        imports.plan(parsed(data), binh_son)
    assert e.value.code == "commune_mismatch"
    assert "tệp là danh sách của Xã Bình Chánh (đã chọn Xã Bình Sơn)" in e.value.message


# ------------------------------------------------------------------ the CLI

def cli(runner, data, tmp_path, commune, *extra, ok=True):
    path = tmp_path / "ds.xlsx"
    path.write_bytes(data)
    r = runner.invoke(args=["import-list", str(path), "--commune", commune, "--json", *extra])
    assert (r.exit_code == 0) == ok, r.output
    return json.loads(r.output)


def test_cli_old_list_with_the_new_code_and_back(app, runner, tmp_path):
    app.config["CAMPAIGN_MONTH"] = "2026-12"  # a list of 08/2025 is not taken in May 2024
    # --commune 21040 for a 2024 list is Châu Ổ by its month, and Xã Bình Sơn by its lineage:
    # Bình Chánh's list, named in its title, is registered in Bình Chánh.
    out = cli(runner, workbook("UBND XÃ BÌNH CHÁNH"), tmp_path, "21040")
    assert out["commune"] == {"code": "21052", "name": "Xã Bình Chánh", "valid_to": "2025-06-30",
                              "successor": {"code": "21040", "name": "Xã Bình Sơn"}}
    assert out["commune_chosen"]["name"] == "Xã Bình Sơn" and out["added"] == 3
    assert communes_of([p[0] for p in PEOPLE]) == {p[0]: ("21052", "Bình Chánh") for p in PEOPLE}
    assert db.session.scalar(select(ImportBatch.commune_id)) == unit("21052", "2024-05").id
    # → new: Xã Bình Sơn's list of 08/2025, given with the old code 21052, is Xã Bình Sơn's;
    # the three people registered in Bình Chánh are found there (not added twice) and keep
    # their unit; the newcomer is registered in Xã Bình Sơn.
    out = cli(runner, workbook("UBND XÃ BÌNH SƠN", "THÁNG 8 NĂM 2025", PEOPLE + [NEWCOMER]), tmp_path, "21052")
    assert out["commune"] == {"code": "21040", "name": "Xã Bình Sơn", "valid_to": None, "successor": None}
    assert (out["added"], out["unchanged"] + out["changed"]) == (1, 3)
    assert "duplicate_id_registry" not in {i["code"] for i in out["issues"]}
    assert communes_of([p[0] for p in PEOPLE + [NEWCOMER]]) == (
        {p[0]: ("21052", "Bình Chánh") for p in PEOPLE} | {NEWCOMER[0]: ("21040", "Bình Sơn")})
    # Without --json the line says whose list it is and where it went.
    path = tmp_path / "ds.xlsx"
    path.write_bytes(workbook("UBND XÃ BÌNH CHÁNH"))
    r = runner.invoke(args=["import-list", str(path), "--commune", "21040", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "Danh sách của Xã Bình Chánh (đến 30/06/2025), nay thuộc Xã Bình Sơn." in r.output
    assert "Tệp ghi «UBND XÃ BÌNH CHÁNH»: ghi vào Xã Bình Chánh, không phải Xã Bình Sơn đã chọn." in r.output


def test_cli_refusals(runner, tmp_path):
    # No commune named, Xã Bình Sơn's code chosen for 05/2024: Châu Ổ bore 21040 then, so
    # it is Châu Ổ's — the code and the month name one unit.
    out = cli(runner, workbook(None), tmp_path, "21040", "--dry-run")
    assert (out["commune"]["code"], out["commune"]["name"]) == ("21040", "Thị trấn Châu Ổ")
    # A name outside every unit that bore the code.
    out = cli(runner, workbook("UBND XÃ BÌNH THUẬN"), tmp_path, "21040", ok=False)
    assert out["error"] == "commune_mismatch"
    out = cli(runner, workbook(None, commune_column=lambda i: "Bình Chánh" if i else "Bình Dương"),
              tmp_path, "21040", ok=False)
    assert out["error"] == "commune_ambiguous" and nothing_written()


# ------------------------------------------------------------------ the web

def upload(client, data, commune_id, month=""):
    token = csrf_token(client, "/imports/new")
    return client.post("/imports/new", data={
        "csrf_token": token, "commune_id": str(commune_id), "program": "", "month": month,
        "file": (io.BytesIO(data), "ds.xlsx")}, content_type="multipart/form-data")


def options(html):
    """``[(group label or None, option label)]`` of the commune select, in order."""
    select_html = re.search(r'<select[^>]*name="commune_id".*?</select>', html, re.S).group(0)
    out, group = [], None
    for m in re.finditer(r'<optgroup label="([^"]*)">|</optgroup>|<option[^>]*>([^<]*)</option>', select_html):
        if m.group(0).startswith("<optgroup"):
            group = m.group(1)
        elif m.group(0) == "</optgroup>":
            group = None
        else:
            out.append((group, m.group(2)))
    return out


def test_the_new_communes_officer_uploads_an_old_communes_2024_list(app, client):
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    binh_son, binh_chanh = unit("21040", "2025-08"), unit("21052", "2024-05")
    add_user("binhson", "commune", binh_son)
    login(client, "binhson")
    # The choices: the commune in force first, then the old ones merged into it.
    choices = options(client.get("/imports/new").get_data(as_text=True))
    assert choices[0] == ("Có hiệu lực tháng 12/2026", "Xã Bình Sơn (21040)")
    old = [label for group, label in choices[1:]]
    assert len(old) == 7 and all("(đến 30/06/2025)" in label for label in old)
    assert "Xã Bình Chánh (đến 30/06/2025) · 21052" in old
    assert {group for group, _ in choices[1:]} == {"Xã cũ, đã sáp nhập hoặc kết thúc"}
    # Chosen as Xã Bình Sơn, a 2024 list titled Bình Chánh is Bình Chánh's.
    r = upload(client, workbook("UBND XÃ BÌNH CHÁNH"), binh_son.id)
    assert r.status_code == 303, r.get_data(as_text=True)[:3000]
    batch = db.session.scalars(select(ImportBatch)).one()
    assert batch.commune_id == binh_chanh.id
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Danh sách của Xã Bình Chánh (đến 30/06/2025), nay thuộc Xã Bình Sơn" in html
    assert "Tệp ghi «UBND XÃ BÌNH CHÁNH»: người trong tệp được ghi vào Xã Bình Chánh" in html
    url = r.headers["Location"]
    r = client.post(url + "/commit", data={"csrf_token": csrf_token(client, url)})
    assert r.status_code == 303
    assert communes_of([p[0] for p in PEOPLE]) == {p[0]: ("21052", "Bình Chánh") for p in PEOPLE}
    html = client.get(url).get_data(as_text=True)  # committed: the page still says whose list
    assert "nay thuộc Xã Bình Sơn" in html and "không phải Xã Bình Sơn đã chọn" in html


def test_a_2024_list_naming_no_commune_asks_for_the_old_commune(app, client):
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    binh_son, binh_chanh = unit("21040", "2025-08"), unit("21052", "2024-05")
    add_user("binhson", "commune", binh_son)
    login(client, "binhson")
    data = workbook(None)
    r = upload(client, data, binh_son.id)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "error-summary" in html
    # The message is on the commune's field, and names the old communes.
    field = re.search(r'id="commune_id-error">(.*?)</span>', html, re.S).group(1)
    assert "chọn đúng xã cũ" in field and "Xã Bình Chánh (21052)" in field
    assert nothing_written()
    # Asked again, the units in force in the list's month (05/2024) come first.
    choices = options(html)
    assert choices[0][0] == "Có hiệu lực tháng 05/2024" and choices[-1][0] == "Chưa có hiệu lực tháng 05/2024"
    assert upload(client, data, binh_chanh.id).status_code == 303
    assert db.session.scalars(select(ImportBatch).where(ImportBatch.kind == "list")).one().commune_id == binh_chanh.id


def test_an_old_commune_chosen_for_a_new_communes_list_on_the_web(app, client):
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    binh_son, binh_chanh = unit("21040", "2025-08"), unit("21052", "2024-05")
    add_user("tinh", "district", db.session.scalar(select(Area).where(Area.level == "province",
                                                                      Area.code == "51")))
    login(client, "tinh")
    r = upload(client, workbook("UBND XÃ BÌNH SƠN", "THÁNG 8 NĂM 2025"), binh_chanh.id)
    assert r.status_code == 303, r.get_data(as_text=True)[:3000]
    assert db.session.scalars(select(ImportBatch)).one().commune_id == binh_son.id
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert ("Tệp ghi «UBND XÃ BÌNH SƠN»: người trong tệp được ghi vào Xã Bình Sơn, không phải Xã Bình "
            "Chánh đã chọn") in html
    assert "nay thuộc" not in html
    url = r.headers["Location"]
    assert client.post(url + "/commit", data={"csrf_token": csrf_token(client, url)}).status_code == 303
    assert {c for c, _ in communes_of([p[0] for p in PEOPLE]).values()} == {"21040"}


def test_a_list_outside_the_users_area_is_refused(app, client):
    # Bình Chánh's former officer (the demo's commune user) and Xã Bình Sơn's list of 08/2025.
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    login(client, "commune")
    r = upload(client, workbook("UBND XÃ BÌNH SƠN", "THÁNG 8 NĂM 2025"), unit("21052", "2024-05").id)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "ngoài địa bàn của tài khoản này" in html
    assert "Xã Bình Sơn (từ 01/07/2025)" in html and nothing_written()


# ------------------------------------------------------------------ villages across the reform
# Issue 11 trial (M2): Xã Bình Sơn's list of 11/2026 naming «Thôn Tân Hy», a village of the
# old Bình Chánh, created a second Thôn Tân Hy under Xã Bình Sơn without asking.

def list_of_binh_son(people, month="THÁNG 11 NĂM 2026", **kw):
    return workbook("UBND XÃ BÌNH SƠN", month, people, **kw)


def villages_named(name):
    from portal.vn.text import fold
    return db.session.scalars(select(Area).where(Area.level == "village",
                                                 Area.name_folded == fold(name))).all()


def test_a_village_of_an_old_commune_is_the_new_communes_village(app, runner, tmp_path):
    from tests.factories import person
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    known = person("21052", "Thôn Tân Hy", "Võ Văn Ba", national_id="051050111222")
    tan_hy = known.village
    db.session.commit()
    data = list_of_binh_son([("Võ Văn Ba", 1950, "Nam", "051050111222", "Thôn Tân Hy"),
                             ("Đỗ Thị Năm", 1946, "Nữ", "051146555666", "thôn tân hy"),
                             ("Lý Văn Sáu", 1947, "Nam", "", "Tân Hy")])
    # The preview lists no new village, and asks for no confirmation.
    p = imports.plan(parsed(data), unit("21040", "2026-11"))
    assert p.commune.name == "Bình Sơn" and p.new_villages == [] and p.villages_to_confirm == []
    assert (len(p.added), len(p.unchanged)) == (2, 1)
    # Imported without --create-villages: the newcomers live in Bình Chánh's Thôn Tân Hy.
    out = cli(runner, data, tmp_path, "21040")
    assert (out["added"], out["new_villages"]) == (2, [])
    assert villages_named("Tân Hy") == [tan_hy]
    added = db.session.scalars(select(Beneficiary).where(Beneficiary.id != known.id)).all()
    assert {b.village_id for b in added} == {tan_hy.id}
    assert {b.commune.name for b in added} == {"Bình Sơn"}  # registered in the new commune
    # A name no unit bears is still new, and still needs the officer's word.
    newer = list_of_binh_son([("Phan Văn Bảy", 1944, "Nam", "051044777888", "Thôn Mới Lập")])
    out = cli(runner, newer, tmp_path, "21040", ok=False)
    assert out["error"] == "villages_not_confirmed" and "Thôn Mới Lập" in out["message"]
    cli(runner, newer, tmp_path, "21040", "--create-villages")
    assert [v.parent.name for v in villages_named("Mới Lập")] == ["Bình Sơn"]


def test_a_2024_list_does_not_see_the_other_old_communes_villages(app):
    # Before the reform each commune had its own villages: Bình Chánh's list of 05/2024
    # naming Thôn Thuận Hòa (a village of Bình Long) makes a Thôn Thuận Hòa of Bình Chánh.
    from tests.factories import person
    person("21088", "Thôn Thuận Hòa", "Võ Văn Ba", national_id="051050111222")
    person("21052", "Thôn An Thành", "Hồ Văn Tám", national_id="051050999000")
    p = imports.plan(parsed(workbook("UBND XÃ BÌNH CHÁNH", people=[NEWCOMER[:4] + ("Thôn Thuận Hòa",)])),
                     unit("21052", "2024-05"))
    assert p.new_villages == ["Thôn Thuận Hòa"] and p.villages_to_confirm == ["Thôn Thuận Hòa"]


def test_a_village_name_in_two_old_communes_is_not_guessed(app, runner, tmp_path):
    from portal.models import Finding
    from tests.factories import person
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    in_trung = person("21082", "Thôn Thuận Hòa", "Võ Văn Ba", national_id="051050111222")
    in_long_elsewhere = person("21088", "Thôn An Phú", "Hồ Văn Tám", national_id="051050999000")
    thuan_hoa_trung = in_trung.village
    thuan_hoa_long = person("21088", "Thôn Thuận Hòa", "Mai Văn Chín", national_id="051050444555").village
    db.session.commit()
    rows = [("Võ Văn Ba", 1950, "Nam", "051050111222", "Thôn Thuận Hòa"),       # there already
            ("Hồ Văn Tám", 1950, "Nam", "051050999000", "Thôn Thuận Hòa"),      # moved? which one
            ("Đỗ Thị Năm", 1946, "Nữ", "051146555666", "Thôn Thuận Hòa"),       # new: which one
            ("Lý Văn Sáu", 1947, "Nam", "", "Thôn Thuận Hòa"),                  # new, no ID
            ("Trần Thị Mười", 1945, "Nữ", "051145121212", "Thôn Thuận Hòa, xã Bình Long")]
    data = list_of_binh_son(rows)
    p = imports.plan(parsed(data), unit("21040", "2026-11"))
    assert p.new_villages == [] and p.villages_to_confirm == []
    assert [r for r, b in p.unchanged if b is in_trung] and [r for r, b in p.unchanged if b is in_long_elsewhere]
    warned = {i.row: i.message for i in p.parsed.issues if i.code == "village_ambiguous"}
    assert sorted(warned) == [6, 7, 8]  # Hồ Văn Tám, Đỗ Thị Năm, Lý Văn Sáu (title, blank, header: rows 1–4)
    for message in warned.values():
        assert "Xã Bình Long (đến 30/06/2025)" in message and "Xã Bình Trung (đến 30/06/2025)" in message
        assert "«Thôn Thuận Hòa, xã" in message  # how to say which
    assert "hồ sơ giữ thôn đang ghi (Thôn An Phú)" in warned[6]
    assert "người này được thêm chưa có thôn" in warned[7]
    snapshot = {row["name"]: row["village"] for row in p.snapshot()["added_rows"]}
    assert snapshot == {"Đỗ Thị Năm": None, "Lý Văn Sáu": None, "Trần Thị Mười": "Thôn Thuận Hòa"}

    out = cli(runner, data, tmp_path, "21040")
    assert (out["added"], out["changed"] + out["unchanged"]) == (3, 2)
    by_name = {b.full_name: b for b in db.session.scalars(select(Beneficiary))}
    assert by_name["Võ Văn Ba"].village_id == thuan_hoa_trung.id
    assert by_name["Hồ Văn Tám"].village.name == "An Phú"  # kept
    assert by_name["Đỗ Thị Năm"].village_id is None and by_name["Lý Văn Sáu"].village_id is None
    assert by_name["Trần Thị Mười"].village_id == thuan_hoa_long.id  # the row named Bình Long
    assert villages_named("Thuận Hòa") == [thuan_hoa_trung, thuan_hoa_long]
    codes = {code for code, in db.session.execute(select(Finding.code).where(
        Finding.beneficiary_id == by_name["Đỗ Thị Năm"].id, Finding.resolved_at.is_(None)))}
    assert {"village_ambiguous", "missing_village"} <= codes
    # The same list again adds nobody: the person without an ID is found without a village.
    out = cli(runner, data, tmp_path, "21040")
    assert out["added"] == 0
    # A Xã column settles it: Đỗ Thị Năm is Bình Trung's.
    fixed = list_of_binh_son(rows[2:3], commune_column="Bình Trung")
    out = cli(runner, fixed, tmp_path, "21040")
    assert out["changed"] == 1 and "village_ambiguous" not in {i["code"] for i in out["issues"]}
    db.session.expire_all()
    assert db.session.get(Beneficiary, by_name["Đỗ Thị Năm"].id).village_id == thuan_hoa_trung.id


# ------------------------------------------------------------------ the list's month and program
# Issue 11 trial (M7): an HTXH list of 05/2024 and 06/2025, and a list of 2099-01, were taken.

def htxh_list(month_words):
    return (f"UBND XÃ BÌNH SƠN\nDANH SÁCH CHI TRẢ TRỢ CẤP HƯU TRÍ XÃ HỘI {month_words}\n"
            "STT,Họ và tên,Năm sinh,Giới tính,Số định danh cá nhân,Thôn,Mức trợ cấp\n"
            "1,Đặng Văn Hải,1948,Nam,051048000011,Thôn Phú Long,500.000\n").encode()


def test_check_month(app):
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    for month, program in (("2024-05", "BTXH"), ("2027-01", "NCC"), ("2025-07", "HTXH"), ("2019-01", "NCC")):
        imports.check_month(month, program)  # any past month, and the next one, are taken
    for month, program, code, field in (("2027-02", "BTXH", "month_in_future", "month"),
                                        ("2099-01", "HTXH", "month_in_future", "month"),
                                        ("2024-05", "HTXH", "program_not_paid", "program"),
                                        ("2025-06", "HTXH", "program_not_paid", "program")):
        with pytest.raises(imports.ImportRefused) as e:
            imports.check_month(month, program)
        assert (e.value.code, e.value.field) == (code, field)
    with pytest.raises(imports.ImportRefused) as e:
        imports.check_month("2099-01", "BTXH")
    assert "Danh sách tháng 01/2099" in e.value.message and "đến tháng 01/2027" in e.value.message
    with pytest.raises(imports.ImportRefused) as e:
        imports.check_month("2025-06", "HTXH")
    assert "từ tháng 07/2025" in e.value.message and "tháng 06/2025" in e.value.message
    # The plan refuses a program not paid in the list's month whoever calls it.
    with pytest.raises(imports.ImportRefused) as e:
        imports.plan(imports.parse(htxh_list("THÁNG 5/2024"), "ds.csv"), unit("21052", "2024-05"))
    assert e.value.code == "program_not_paid"


@pytest.mark.parametrize("month_words, extra, code", [
    ("THÁNG 5/2024", (), "program_not_paid"),             # HTXH from the title
    ("THÁNG 6/2025", ("--program", "HTXH"), "program_not_paid"),
    ("THÁNG 1/2099", (), "month_in_future"),
])
def test_cli_refuses_a_month_or_program_it_cannot_take(app, runner, tmp_path, month_words, extra, code):
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    path = tmp_path / "ds.csv"
    path.write_bytes(htxh_list(month_words))
    r = runner.invoke(args=["import-list", str(path), "--commune", "21040", "--json", *extra])
    assert r.exit_code == 2, r.output
    out = json.loads(r.output)
    assert out["error"] == code and out["message"] and nothing_written()


def test_the_upload_page_refuses_a_month_or_program_it_cannot_take(app, client):
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    add_user("binhson", "commune", unit("21040", "2025-08"))
    login(client, "binhson")
    binh_son = unit("21040", "2025-08")

    def post(data, program="", month=""):
        token = csrf_token(client, "/imports/new")
        return client.post("/imports/new", data={
            "csrf_token": token, "commune_id": str(binh_son.id), "program": program, "month": month,
            "file": (io.BytesIO(data), "ds.csv")}, content_type="multipart/form-data")

    r = post(htxh_list("THÁNG 5/2024"))
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "error-summary" in html
    field = re.search(r'id="program-error">(.*?)</span>', html, re.S).group(1)
    assert "từ tháng 07/2025" in field
    r = post(workbook("UBND XÃ BÌNH SƠN", None), program="HTXH", month="2025-06")
    assert r.status_code == 422 and 'id="program-error"' in r.get_data(as_text=True)
    r = post(workbook("UBND XÃ BÌNH SƠN", None), month="2099-01")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    field = re.search(r'id="month-error">(.*?)</span>', html, re.S).group(1)
    assert "01/2099" in field and "12/2026" in field
    assert nothing_written()
    # The month after the open month is taken.
    assert post(workbook("UBND XÃ BÌNH SƠN", None), month="2027-01").status_code == 303
