"""Areas: the packaged Bình Sơn units with their validity, the GSO export, villages."""
import csv
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Area
from portal.services import areas

GSO_ROWS = [
    ["Tỉnh Thành Phố", "Mã TP", "Quận Huyện", "Mã QH", "Phường Xã", "Mã PX", "Cấp", "Tên Tiếng Anh"],
    ["Tỉnh Quảng Ngãi", "51", "Huyện Bình Sơn", "524", "Thị Trấn Châu Ổ", "21040", "Thị trấn", ""],
    ["Tỉnh Quảng Ngãi", "51", "Huyện Bình Sơn", "524", "Xã Bình Thanh ", "21091", "Xã", ""],
    ["Tỉnh Quảng Ngãi", "51", "Huyện Sơn Tịnh", "527", "Xã Tịnh Phong", "21127", "Xã", ""],
    ["Thành phố Hà Nội", "01", "Quận Ba Đình", "001", "Phường Phúc Xá", "00001", "Phường", ""],
]


def test_packaged_areas_are_idempotent(app):
    n = db.session.scalar(select(func.count(Area.id)))
    # Province, district, 22 old communes, 5 new ones, and the province's 91 other communes
    # of 1/7/2025 (the 5 are not loaded twice).
    assert n == 120
    areas.load_packaged_areas()
    db.session.commit()
    assert db.session.scalar(select(func.count(Area.id))) == 120


def test_a_code_names_two_units_in_two_periods(app):
    before = areas.find_commune("21040", "2024-05")
    after = areas.find_commune("21040", "2025-08")
    assert (before.kind, before.name) == ("Thị trấn", "Châu Ổ")
    assert (after.kind, after.name) == ("Xã", "Bình Sơn")
    assert before.id != after.id and before.successor_id == after.id
    assert areas.find_commune("21052", "2024-05").successor.name == "Bình Sơn"
    assert areas.find_commune("21043", "2024-05").successor.name == "Vạn Tường"
    assert before.parent.code == "524" and after.parent.code == "51"


def test_load_areas_cli_from_gso_csv(runner, tmp_path):
    path = tmp_path / "gso.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(GSO_ROWS)
    r = runner.invoke(args=["load-areas", str(path)])
    assert r.exit_code == 0, r.output
    hn = db.session.scalar(select(Area).where(Area.code == "00001"))
    assert (hn.kind, hn.name, hn.parent.code, hn.parent.parent.code) == ("Phường", "Phúc Xá", "001", "01")
    thanh = db.session.scalar(select(Area).where(Area.code == "21091"))
    assert thanh.name == "Bình Thanh" and thanh.kind == "Xã"
    # A list without dates does not reopen the units the 2025 reform closed.
    assert str(thanh.valid_to) == "2025-06-30"
    assert areas.find_commune("21040", "2025-08").name == "Bình Sơn"
    assert areas.find_commune("21040", "2024-05").name == "Châu Ổ"
    # 21127 is also a real commune of 1/7/2025 (packaged): the list's is the one of 2024.
    new_unit = areas.find_commune("21127", "2024-05")
    assert new_unit.valid_to is None and new_unit.parent.code == "527"
    assert thanh.path.startswith(thanh.parent.parent.path)


def test_load_areas_cli_from_old_xls(runner, tmp_path):
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    ws = wb.add_sheet("DanhMuc")
    for r, row in enumerate(GSO_ROWS):
        for c, v in enumerate(row):
            ws.write(r, c, v)
    path = tmp_path / "gso.xls"
    wb.save(str(path))
    r = runner.invoke(args=["load-areas", str(path), "--valid-from", "2020-01-01"])
    assert r.exit_code == 0, r.output
    unit = areas.find_commune("21127", "2024-05")
    assert unit.name == "Tịnh Phong" and str(unit.valid_from) == "2020-01-01"


def test_load_areas_refuses_other_files(runner, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    r = runner.invoke(args=["load-areas", str(path)])
    assert r.exit_code == 2 and "Tổng cục Thống kê" in r.output


def test_villages_match_folded_names(app):
    commune = areas.find_commune("21052", "2024-05")
    a = areas.get_or_create_village(commune, "Thôn Phước Hòa")
    b = areas.get_or_create_village(commune, "thôn  phước hoà")
    c = areas.get_or_create_village(commune, "Phước Hòa")
    assert a.id == b.id == c.id and a.full_name == "Thôn Phước Hòa"
    other = areas.get_or_create_village(areas.find_commune("21046", "2024-05"), "Thôn Phước Hòa")
    assert other.id != a.id
    assert areas.get_or_create_village(commune, "  ") is None


def test_a_commune_after_the_reform_sees_the_records_of_the_units_merged_into_it(app):
    """Xã Bình Sơn (21040 from 1/7/2025) took in Bình Chánh (21052): its officer sees the
    records registered there, and not those of Bình Trị (21061, now Xã Vạn Tường)."""
    from datetime import date

    from portal.models import Beneficiary, User
    from portal.services import scope
    from tests.factories import person
    new = areas.find_area("21040", level="commune", on=date(2025, 8, 1))
    officer = User(username="binhson", role="commune", area=new)
    db.session.add(officer)
    mine = person("21052", name="Nguyễn Văn Một", national_id="051050000001")
    other = person("21061", village="Thôn Khác", name="Nguyễn Văn Hai", national_id="051050000002")
    db.session.commit()
    seen = set(db.session.scalars(scope.beneficiaries(officer).with_only_columns(Beneficiary.id)))
    assert mine.id in seen and other.id not in seen
    assert scope.get_in_scope(Beneficiary, mine.id, officer) is mine
    assert scope.can_see_area(officer, mine.village) and not scope.can_see_area(officer, other.commune)
    old = User(username="binhchanh", role="commune", area=mine.commune)  # not the other way round
    db.session.add(old)
    assert not scope.can_see_area(old, new)


# ------------------------------------------------------------------ the 2025 reform on load
# Synthetic lists in the statistics office's format (codes are illustrative where they are
# not Bình Sơn's). Quảng Ngãi (51) survives the reform; Kon Tum (62) merged into it
# (Resolution 202/2025/QH15).

HEADER = GSO_ROWS[0]
PRE_REFORM_ROWS = [
    HEADER,
    ["Tỉnh Quảng Ngãi", "51", "Thành phố Quảng Ngãi", "522", "Phường Lê Hồng Phong", "20995", "Phường", ""],
    ["Tỉnh Quảng Ngãi", "51", "Huyện Bình Sơn", "524", "Xã Bình Chánh", "21052", "Xã", ""],
    ["Tỉnh Kon Tum", "62", "Thành phố Kon Tum", "608", "Phường Quyết Thắng", "23284", "Phường", ""],
    ["Tỉnh Kon Tum", "62", "Thành phố Kon Tum", "608", "Phường Thống Nhất", "23287", "Phường", ""],
    ["Tỉnh Kon Tum", "62", "Huyện Đắk Glei", "610", "Xã Đắk Pék", "23311", "Xã", ""],
]
POST_REFORM_ROWS = [
    HEADER,
    ["Tỉnh Quảng Ngãi", "51", "", "", "Xã Bình Sơn", "21040", "Xã", ""],
    ["Tỉnh Quảng Ngãi", "51", "", "", "Phường Kon Tum", "23284", "Phường", ""],
    ["Tỉnh Quảng Ngãi", "51", "", "", "Xã Đắk Pék", "23311", "Xã", ""],
]
DECEMBER_2026 = __import__("datetime").date(2026, 12, 1)


def _write(tmp_path, name, rows):
    path = tmp_path / name
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _unit(level, code, on=None):
    return areas.find_area(code, level, on)


def _current_codes(level):
    q = areas.valid_on(select(Area.code).where(Area.level == level), DECEMBER_2026)
    return set(db.session.scalars(q))


def test_a_pre_reform_list_ends_its_districts_and_the_merged_province(runner, tmp_path):
    path = _write(tmp_path, "gso_2024.csv", PRE_REFORM_ROWS)
    r = runner.invoke(args=["load-areas", str(path)])
    assert r.exit_code == 0, r.output
    assert "Giả định: 4 xã" in r.output and "30/06/2025" in r.output
    for code in ("522", "524", "608", "610"):
        assert str(_unit("district", code).valid_to) == "2025-06-30", code
    kon_tum, quang_ngai = _unit("province", "62"), _unit("province", "51")
    assert str(kon_tum.valid_to) == "2025-06-30" and kon_tum.successor is quang_ngai
    assert quang_ngai.valid_to is None
    # December 2026: no district at all, no Kon Tum; Quảng Ngãi still, and through the
    # successor it covers Kon Tum's old units (area_paths).
    assert _current_codes("district") == set()
    assert _current_codes("province") == {"51"}
    assert kon_tum.path in areas.area_paths(quang_ngai)
    # Without a mapping the old communes stay open (4: Bình Chánh was already ended) (the loader's stated assumption) …
    assert _unit("commune", "23284").valid_to is None
    # … but Bình Chánh, which the packaged mapping already ended, is not reopened.
    assert str(_unit("commune", "21052", DECEMBER_2026.replace(year=2024)).valid_to) == "2025-06-30"
    again = runner.invoke(args=["load-areas", str(path), "--json"])
    assert __import__("json").loads(again.output) == {
        "loaded": 11, "ended": 6, "open": 5, "old_communes_open": 4, "pre_reform": True,
        "unknown_provinces": []}


def test_the_operator_can_say_a_list_without_districts_is_pre_reform(runner, tmp_path):
    rows = [HEADER, ["Tỉnh Kon Tum", "62", "", "", "Phường Quyết Thắng", "23284", "Phường", ""]]
    path = _write(tmp_path, "kon_tum.csv", rows)
    assert runner.invoke(args=["load-areas", str(path)]).exit_code == 0
    assert _unit("province", "62").valid_to is None  # read as a post-reform list: left open
    r = runner.invoke(args=["load-areas", str(path), "--pre-reform", "--json"])
    assert r.exit_code == 0, r.output
    assert __import__("json").loads(r.output)["pre_reform"] is True
    assert str(_unit("province", "62").valid_to) == "2025-06-30"
    assert _unit("province", "62").successor.code == "51"


def test_a_province_whose_code_now_names_another_ends_and_gets_the_new_one(runner, tmp_path):
    """52 was Bình Định until 30/06/2025 and is Gia Lai (Bình Định + Gia Lai 64) from
    01/07/2025: two units, as a commune code can be."""
    rows = [HEADER, ["Tỉnh Bình Định", "52", "Thành phố Quy Nhơn", "540", "Phường Lê Lợi", "21550", "Phường", ""],
            ["Tỉnh Gia Lai", "64", "Thành phố Pleiku", "622", "Phường Yên Đỗ", "23563", "Phường", ""]]
    assert runner.invoke(args=["load-areas", str(_write(tmp_path, "pre.csv", rows))]).exit_code == 0
    binh_dinh = _unit("province", "52", date(2025, 6, 30))
    gia_lai_new = _unit("province", "52", DECEMBER_2026)
    assert (binh_dinh.name, str(binh_dinh.valid_to)) == ("Bình Định", "2025-06-30")
    assert (gia_lai_new.name, str(gia_lai_new.valid_from), gia_lai_new.valid_to) == ("Gia Lai", "2025-07-01", None)
    assert binh_dinh.successor is gia_lai_new and _unit("province", "64").successor is gia_lai_new
    post = [HEADER, ["Tỉnh Gia Lai", "52", "", "", "Phường Quy Nhơn", "21550", "Phường", ""]]
    assert runner.invoke(args=["load-areas", str(_write(tmp_path, "post.csv", post))]).exit_code == 0
    assert binh_dinh.name == "Bình Định"  # the post-reform list does not rename the old unit
    assert _unit("commune", "21550", DECEMBER_2026).parent is gia_lai_new


def test_a_post_reform_list_leaves_everything_open(runner, tmp_path):
    r = runner.invoke(args=["load-areas", str(_write(tmp_path, "gso_2025.csv", POST_REFORM_ROWS))])
    assert r.exit_code == 0, r.output
    assert "Giả định" not in r.output and "01/07/2025" in r.output
    for code in ("21040", "23284", "23311"):
        unit = _unit("commune", code, DECEMBER_2026)
        assert unit.valid_to is None and str(unit.valid_from) == "2025-07-01", code
        assert unit.parent.code == "51"
    assert _unit("province", "51").valid_to is None
    # 21040 is the packaged Xã Bình Sơn, not a second one, and Thị trấn Châu Ổ keeps its name.
    assert db.session.scalar(select(func.count(Area.id)).where(Area.code == "21040")) == 2
    assert areas.find_commune("21040", "2024-05").name == "Châu Ổ"
    assert {"21040", "23284", "23311"} <= _current_codes("commune")


def test_loading_the_mapping_ends_the_merged_communes(runner, tmp_path):
    assert runner.invoke(args=["load-areas", str(_write(tmp_path, "gso_2024.csv", PRE_REFORM_ROWS))]).exit_code == 0
    assert {"23284", "23287", "23311"} <= _current_codes("commune")
    mapping = [list(areas.MAPPING_COLUMNS),
               ["62", "Tỉnh Kon Tum", "608", "Thành phố Kon Tum", "23284", "Phường", "Quyết Thắng",
                "23284", "Phường Kon Tum"],
               ["62", "Tỉnh Kon Tum", "608", "Thành phố Kon Tum", "23287", "Phường", "Thống Nhất",
                "23284", "Phường Kon Tum"],
               # Its own successor: the reform left it as it was.
               ["62", "Tỉnh Kon Tum", "610", "Huyện Đắk Glei", "23311", "Xã", "Đắk Pék", "23311", "Xã Đắk Pék"]]
    r = runner.invoke(args=["load-areas", str(_write(tmp_path, "mapping.csv", mapping))])
    assert r.exit_code == 0, r.output
    assert "Giả định" not in r.output
    new = _unit("commune", "23284", DECEMBER_2026)
    assert (new.name, str(new.valid_from), new.parent.code) == ("Kon Tum", "2025-07-01", "51")
    for code in ("23284", "23287"):
        old = _unit("commune", code, date(2025, 6, 30))
        assert str(old.valid_to) == "2025-06-30" and old.successor is new, code
    assert _unit("commune", "23311").valid_to is None and _unit("commune", "23311").successor is None
    current = _current_codes("commune")
    assert "23287" not in current and {"23284", "23311"} <= current
    assert db.session.scalar(select(func.count(Area.id)).where(
        Area.code == "23284", Area.level == "commune")) == 2
    # The pre-reform list loaded again does not reopen what the mapping ended.
    assert runner.invoke(args=["load-areas", str(_write(tmp_path, "gso_2024.csv", PRE_REFORM_ROWS))]).exit_code == 0
    assert str(_unit("commune", "23287").valid_to) == "2025-06-30"
    assert "23287" not in _current_codes("commune")


def test_a_mapping_refuses_dates(runner, tmp_path):
    mapping = [list(areas.MAPPING_COLUMNS),
               ["62", "Tỉnh Kon Tum", "608", "Thành phố Kon Tum", "23287", "Phường", "Thống Nhất",
                "23284", "Phường Kon Tum"]]
    r = runner.invoke(args=["load-areas", str(_write(tmp_path, "m.csv", mapping)), "--valid-to", "2025-06-30"])
    assert r.exit_code == 2 and "30/06/2025" in r.output
    assert _unit("commune", "23287") is None


def test_a_province_code_outside_the_63_is_left_open_and_named(runner, tmp_path):
    rows = [HEADER, ["Tỉnh Thử Nghiệm", "99", "Huyện Thử", "999", "Xã Thử", "99901", "Xã", ""]]
    r = runner.invoke(args=["load-areas", str(_write(tmp_path, "x.csv", rows))])
    assert r.exit_code == 0 and "không thuộc 63 tỉnh" in r.output and ": 99." in r.output
    assert _unit("province", "99").valid_to is None
    assert str(_unit("district", "999").valid_to) == "2025-06-30"
