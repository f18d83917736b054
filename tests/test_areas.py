"""Areas: the packaged Bình Sơn units with their validity, the GSO export, villages."""
import csv

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
    assert n == 29  # province, district, 22 old communes, 5 new ones
    areas.load_packaged_areas()
    db.session.commit()
    assert db.session.scalar(select(func.count(Area.id))) == 29


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
    new_unit = db.session.scalar(select(Area).where(Area.code == "21127"))
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
    unit = db.session.scalar(select(Area).where(Area.code == "21127"))
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
