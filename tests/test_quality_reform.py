"""Data quality across the 2025 reform and the social pension (issue 11 trial findings).

A new commune's quality pages count and list the records of the old communes merged into
it (Xã Bình Sơn 21040 absorbed Bình Chánh 21052 and six other units on 1/7/2025); an old
commune's own page still works. An ID held by a record no list pays any more (stopped,
moved, merged) or by the record a person was transferred from is no duplicate.
"""
import json
import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Beneficiary
from portal.services import changes, checks, payments, pension
from portal.services.areas import find_area, find_commune
from tests.conftest import csrf_token, login, user
from tests.factories import make_user, person

SON, CHANH, THANH = "21040", "21052", "21046"  # Xã Bình Sơn (from 07/2025); two old communes in it


@pytest.fixture
def today(app):
    """December 2026 open; Xã Bình Sơn's officer and chairman, the province's officer."""
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    son = find_commune(SON, "2026-12")
    make_user("canbo", "commune", son)
    make_user("chutich", "chairman", son)
    make_user("so", "province", find_area("51", "province"))
    return son


@pytest.fixture
def records(today):
    """Xã Bình Sơn's own newcomer (clean but for a warning), and records registered in two
    old communes in 2024: Bình Chánh's with an error, Bình Thạnh's with a warning only."""
    own = person(commune_code=SON, village="Thôn Phú Long", name="Đặng Văn Hải", national_id="051048000011",
                 birth=date(1948, 3, 5))
    own.commune_id, own.village_id = today.id, None  # registered in the new commune, village unknown
    own.household.commune_id = today.id
    chanh = person(name="nguyễn văn an", national_id="051150123456")  # a man with a woman's digit
    thanh = person(commune_code=THANH, village="Thôn Mỹ Long", name="Lê Văn Cường",
                   national_id="051060222333", birth=date(1960, 1, 1))
    db.session.flush()
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    return own, chanh, thanh


def test_the_new_commune_counts_and_lists_the_old_communes_records(client, records, today):
    own, chanh, thanh = records
    login(client, "canbo")
    r = client.get("/quality")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/quality/communes/{today.id}")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Hồ sơ không có lỗi: <b>2/3</b>" in html
    worklist = html.split('id="worklist"')[1]
    # Worst first: Bình Chánh's error, then the warnings by name; each old record names its commune.
    names = re.findall(r'<h3><a href="/beneficiaries/\d+">([^<]+)</a>', worklist)
    assert names[0] == "nguyễn văn an" and set(names) == {"nguyễn văn an", "Đặng Văn Hải", "Lê Văn Cường"}
    assert "(Xã Bình Chánh cũ)" in worklist and "(Xã Bình Thạnh cũ)" in worklist
    mine = worklist.split(f'id="q{own.id}"')[1].split("</article>")[0]
    assert " cũ)" not in mine  # registered in Xã Bình Sơn itself
    # The rule counts add up the old communes' findings; a rule's worklist finds them.
    one = client.get(f"/quality/communes/{today.id}?rule=id_sex_century_mismatch").get_data(as_text=True)
    assert "nguyễn văn an" in one and "Lê Văn Cường" not in one
    # The old commune's own page still works, with its own records only.
    old = client.get(f"/quality/communes/{chanh.commune_id}").get_data(as_text=True)
    assert "Hồ sơ không có lỗi: <b>0/1</b>" in old and "Lê Văn Cường" not in old and " cũ)" not in old


def test_recheck_covers_the_old_communes(client, records, today):
    _own, chanh, _thanh = records
    chanh.category = None  # changed behind the checks' back
    db.session.commit()
    login(client, "canbo")
    r = client.post(f"/quality/communes/{today.id}/recheck", data={"csrf_token": csrf_token(client, "/search")})
    assert r.status_code == 303
    assert "missing_category" in {f.code for f in checks.findings_of(chanh.id)}
    assert "Đã kiểm tra lại 3 hồ sơ" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_the_fix_row_names_the_old_commune(client, records):
    _own, chanh, _thanh = records
    login(client, "canbo")
    page = client.get("/quality").headers["Location"]
    html = client.get(page).get_data(as_text=True)
    version = re.search(rf'name="f{chanh.id}-full_name-version"[^>]*value="(\d+)"', html).group(1)
    r = client.post(f"/quality/fix/{chanh.id}", headers={"HX-Request": "true"},
                    data={"csrf_token": csrf_token(client, page), "field": "full_name",
                          f"f{chanh.id}-full_name-version": version,
                          f"f{chanh.id}-full_name-value": "Nguyễn Văn An"})
    assert r.status_code == 200 and "(Xã Bình Chánh cũ)" in r.get_data(as_text=True)


def test_the_province_counts_the_old_communes_under_the_new(client, records, today):
    login(client, "so")
    html = client.get("/quality").get_data(as_text=True)
    row = re.search(rf'<tr><td[^>]*><a href="/quality/communes/{today.id}">Xã Bình Sơn</a></td>(.*?)</tr>', html).group(1)
    cells = re.findall(r'<td class="n"[^>]*>([^<]*)', row)
    assert cells[:2] == ["3", "2"]  # records, without an error
    assert f'href="/quality/communes/{records[1].commune_id}"' not in html  # old communes are not rows
    first = re.search(r'<tr><td[^>]*><a href="/quality/communes/(\d+)">', html).group(1)
    assert int(first) == today.id  # the only commune with an error comes first
    assert "Hồ sơ không có lỗi: <b>2/3</b>" in html


# ------------------------------------------------------------------ one ID, two programs

BTXH_LIST = """UBND XÃ BÌNH SƠN
DANH SÁCH CHI TRẢ TRỢ CẤP XÃ HỘI HẰNG THÁNG THÁNG 12/2026
STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân,Thôn,Diện đối tượng,Hệ số,Mức trợ cấp
1,Đặng Văn Hải,05/03/1948,Nam,051048000011,Thôn Phú Long,Người cao tuổi từ đủ 80 tuổi trở lên,1,500.000
2,Phan Thị Mai,1950,Nữ,051150000099,Thôn Phú Long,Người cao tuổi từ đủ 80 tuổi trở lên,1,500.000
"""
HTXH_LIST = """UBND XÃ BÌNH SƠN
DANH SÁCH CHI TRẢ TRỢ CẤP HƯU TRÍ XÃ HỘI THÁNG 12/2026
STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân,Thôn,Diện đối tượng,Mức trợ cấp
1,Đặng Văn Hải,05/03/1948,Nam,051048000011,Thôn Phú Long,Người từ đủ 75 tuổi không có lương hưu,500.000
"""


def _import(runner, tmp_path, text, program):
    path = tmp_path / f"{program}.csv"
    path.write_text(text, encoding="utf-8")
    r = runner.invoke(args=["import-list", str(path), "--commune", SON, "--program", program,
                            "--month", "2026-12", "--create-villages", "--json"])
    assert r.exit_code == 0, r.output
    return [i for i in json.loads(r.output)["issues"] if i["code"] == "duplicate_id_registry"]


def _line(period, b):
    return next(line for line in period.lines if line.beneficiary_id == b.id)


def _open_codes(b):
    return {f.code for f in checks.findings_of(b.id)}


def test_a_stopped_record_no_longer_blocks_the_pensioner(runner, tmp_path, today):
    """An HTXH pensioner's ID imported by mistake into BTXH: both are flagged (two active
    records); once the wrong BTXH record is stopped the pensioner's line is paid again and
    a new import does not report the stopped record."""
    assert _import(runner, tmp_path, HTXH_LIST, "HTXH") == []
    htxh = db.session.scalar(select(Beneficiary).where(Beneficiary.program == "HTXH"))
    hits = _import(runner, tmp_path, BTXH_LIST, "BTXH")
    assert [h["row"] for h in hits] == [4] and "HTXH" in hits[0]["message"]
    btxh = db.session.scalar(select(Beneficiary).where(Beneficiary.program == "BTXH",
                                                      Beneficiary.national_id == htxh.national_id))
    assert "duplicate_id" in _open_codes(htxh) and "duplicate_id" in _open_codes(btxh)
    chairman = user("chutich")
    assert _line(payments.build(today, "2026-12", "HTXH", chairman), htxh).status == "blocked"
    stop = changes.propose(btxh, "stop", user("canbo"), "2026-12", clause="1b")
    changes.decide(stop, chairman, True, "99/QĐ-UBND", date(2026, 12, 1))
    assert btxh.status == "stopped"
    checks.recheck(checks.ids_touching(btxh))
    db.session.commit()
    assert "duplicate_id" not in _open_codes(htxh) and "duplicate_id" not in _open_codes(btxh)
    period = payments.last_version(today.id, "2026-12", "HTXH")
    # The decision's own refresh reaches the other program's draft (BTXH stop → HTXH list).
    assert period in payments.refresh_for_decision(stop, chairman)
    assert _line(period, htxh).status == "listed"
    assert _import(runner, tmp_path, HTXH_LIST, "HTXH") == []  # the stopped BTXH record is not reported


def test_two_active_records_of_two_programs_stay_an_error(runner, tmp_path, today):
    _import(runner, tmp_path, HTXH_LIST, "HTXH")
    _import(runner, tmp_path, BTXH_LIST, "BTXH")
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    same = db.session.scalars(select(Beneficiary).where(Beneficiary.national_id == "051048000011")).all()
    assert sorted(b.program for b in same) == ["BTXH", "HTXH"]
    assert all("duplicate_id" in _open_codes(b) for b in same)


def test_the_record_transferred_from_is_not_reported_by_an_import(app, runner, tmp_path):
    """A transfer decided for next month: the BTXH record is still active this month, the
    HTXH record is the same person (``transferred_from_id``); the HTXH list naming them
    matches the HTXH record and reports no duplicate."""
    app.config["CAMPAIGN_MONTH"] = "2026-11"
    son = find_commune(SON, "2026-11")
    chairman = make_user("chutich", "chairman", son)
    old = person(name="Đặng Văn Hải", birth=date(1948, 3, 5), national_id="051048000011",
                 category="Người cao tuổi từ đủ 80 tuổi trở lên", coefficient=1.0, monthly_amount=500_000)
    db.session.commit()
    _stop, new, _grant = pension.transfer(old, chairman, "2026-12", "7/QĐ-UBND", date(2026, 11, 20))
    db.session.commit()
    assert old.status == "active" and new.transferred_from_id == old.id
    assert _import(runner, tmp_path, HTXH_LIST, "HTXH") == []
    assert db.session.scalar(select(Beneficiary.id).where(Beneficiary.program == "HTXH",
                                                          Beneficiary.id != new.id)) is None
