"""Today's world after the 2025 reform (Xã Bình Sơn 21040 took in Xã Bình Chánh 21052,
Xã Bình Long 21088, Xã Bình Trung 21082 … on 1/7/2025; their villages stay under them):

- the correction form places a village name as the import does (``areas.find_village``
  among ``areas.lineage_villages``): an old commune's village is used, not duplicated; a
  name two old communes bear is refused until the officer says which;
- a household, village or paper sheet lists only the members the user may see
  (``scope.visible``): the former district does not see Xã Bình Sơn's HTXH records in a
  household of Bình Chánh.
"""
import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Area, Beneficiary, Household
from portal.services import areas, paper
from portal.services.areas import find_commune, get_or_create_village
from portal.vn.text import fold
from tests.conftest import csrf_token, login
from tests.factories import make_user

TODAY = "2026-12"


@pytest.fixture
def today(app):
    app.config["CAMPAIGN_MONTH"] = TODAY
    return app


def unit(code, month):
    return find_commune(code, month)


def record(commune, village, name, national_id, program="BTXH", household=None, **extra):
    """A record registered in ``commune`` (an ``Area``), living in ``village`` (an ``Area``)."""
    if household is None:
        household = Household(commune_id=commune.id, village_id=village.id, head_name=name)
        db.session.add(household)
    b = Beneficiary(program=program, commune_id=commune.id, village_id=village.id, household=household,
                    full_name=name, name_folded=fold(name), sex="M", birth_date=date(1950, 3, 4),
                    birth_year=1950, national_id=national_id, monthly_amount=540000, **extra)
    db.session.add(b)
    db.session.flush()
    return b


def villages_named(name):
    return db.session.scalars(select(Area).where(Area.level == "village", Area.name_folded == fold(name))
                              .order_by(Area.id)).all()


# ------------------------------------------------------------------ correction form


@pytest.fixture
def binh_son(today):
    """Xã Bình Sơn's officer, a record of Xã Bình Sơn, and the villages of its old communes."""
    son = unit("21040", TODAY)
    le_thuy = get_or_create_village(unit("21052", "2024-05"), "Thôn Lệ Thủy")
    thuan_long = get_or_create_village(unit("21088", "2024-05"), "Thôn Thuận Hòa")
    thuan_trung = get_or_create_village(unit("21082", "2024-05"), "Thôn Thuận Hòa")
    own = get_or_create_village(son, "Thôn Tây Phước")
    b = record(son, own, "Võ Văn Ba", "051050111222")
    db.session.commit()
    make_user("officer", "commune", son)
    return dict(son=son, b=b, le_thuy=le_thuy, thuan_long=thuan_long, thuan_trung=thuan_trung, own=own)


def edit_page(client, b):
    return client.get(f"/beneficiaries/{b.id}/edit").get_data(as_text=True)


def correct(client, b, village, **values):
    page = edit_page(client, b)
    data = {"csrf_token": csrf_token(client, f"/beneficiaries/{b.id}/edit"),
            "version": re.search(r'name="version"[^>]*value="(\d+)"', page).group(1),
            "full_name": b.full_name, "sex": b.sex, "birth_year": str(b.birth_year),
            "birth_date": b.birth_date.isoformat(), "national_id": b.national_id or "",
            "village": village, "category": "", "monthly_amount": "540000", "phone": "", "note": ""}
    data.update(values)
    return client.post(f"/beneficiaries/{b.id}/edit", data=data)


def village_count():
    return db.session.scalar(select(func.count(Area.id)).where(Area.level == "village"))


@pytest.mark.parametrize("typed", ["Thôn Lệ Thủy", "thôn lệ thủy", "Lệ Thuỷ"])
def test_an_old_communes_village_is_used_not_duplicated(client, binh_son, typed):
    b, le_thuy = binh_son["b"], binh_son["le_thuy"]
    login(client, "officer")
    before = village_count()
    r = correct(client, b, typed)
    assert r.status_code == 303, r.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert db.session.get(Beneficiary, b.id).village_id == le_thuy.id
    assert village_count() == before and villages_named("Lệ Thủy") == [le_thuy]
    # The form now shows it with its old commune, and saving it as shown changes nothing.
    page = edit_page(client, b)
    assert 'value="Thôn Lệ Thủy (Xã Bình Chánh cũ)"' in page
    r = correct(client, b, "Thôn Lệ Thủy (Xã Bình Chánh cũ)", phone="0905123456")
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(Beneficiary, b.id).village_id == le_thuy.id and village_count() == before


def test_a_name_two_old_communes_bear_is_refused_until_chosen(client, binh_son):
    b, long_, trung = binh_son["b"], binh_son["thuan_long"], binh_son["thuan_trung"]
    login(client, "officer")
    before = village_count()
    r = correct(client, b, "Thôn Thuận Hòa")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    error = re.search(r'id="village-error">(.*?)</span>', html, re.S).group(1)
    assert "Có 2 thôn tên này" in error
    assert "Thôn Thuận Hòa (Xã Bình Long cũ)" in error and "Thôn Thuận Hòa (Xã Bình Trung cũ)" in error
    db.session.expire_all()
    assert db.session.get(Beneficiary, b.id).village_id == binh_son["own"].id  # nothing saved
    assert village_count() == before
    # The way to choose: the page suggests every village of the lineage, labelled.
    options = re.findall(r'<option value="([^"]+)">', re.search(
        r'<datalist id="village-choices">(.*?)</datalist>', html, re.S).group(1))
    assert {"Thôn Thuận Hòa (Xã Bình Long cũ)", "Thôn Thuận Hòa (Xã Bình Trung cũ)",
            "Thôn Lệ Thủy (Xã Bình Chánh cũ)", "Thôn Tây Phước"} <= set(options)
    assert 'list="village-choices"' in html
    # Typed as the page shows it (any case): that one.
    r = correct(client, b, "thôn thuận hoà (xã bình long cũ)")
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(Beneficiary, b.id).village_id == long_.id
    assert villages_named("Thuận Hòa") == [long_, trung]
    # Its own village stays when the form is saved as shown, or with the bare name.
    assert 'value="Thôn Thuận Hòa (Xã Bình Long cũ)"' in edit_page(client, b)
    assert correct(client, b, "Thôn Thuận Hòa (Xã Bình Long cũ)", phone="0905").status_code == 303
    assert correct(client, b, "Thôn Thuận Hòa", phone="0906").status_code == 303
    db.session.expire_all()
    assert db.session.get(Beneficiary, b.id).village_id == long_.id and village_count() == before
    # An old commune that has no village of that name is refused, not guessed.
    r = correct(client, b, "Thôn Lệ Thủy (Xã Bình Long cũ)")
    assert r.status_code == 422 and "không có thôn «Thôn Lệ Thủy»" in r.get_data(as_text=True)


def test_a_new_name_is_created_under_the_commune_in_force(client, binh_son):
    b, son = binh_son["b"], binh_son["son"]
    login(client, "officer")
    r = correct(client, b, "Thôn Mới Lập")
    assert r.status_code == 303
    db.session.expire_all()
    assert [v.parent_id for v in villages_named("Mới Lập")] == [son.id]
    assert db.session.get(Beneficiary, b.id).village.name == "Mới Lập"


def test_a_record_of_an_old_commune_finds_its_lineages_villages(client, binh_son):
    # Registered in Bình Chánh in 2024: in 12/2026 it is Xã Bình Sơn's, and a village of
    # Bình Long (merged into Xã Bình Sơn too) is one of its villages now.
    old = record(unit("21052", "2024-05"), binh_son["le_thuy"], "Lê Thị Mai", "051150222333")
    db.session.commit()
    login(client, "officer")
    assert 'value="Thôn Lệ Thủy (Xã Bình Chánh cũ)"' in edit_page(client, old)
    r = correct(client, old, "Thôn Thuận Hòa (Xã Bình Trung cũ)")
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(Beneficiary, old.id).village_id == binh_son["thuan_trung"].id


def test_the_import_and_the_form_share_one_rule(binh_son):
    index = areas.lineage_villages(binh_son["son"], TODAY)
    assert areas.find_village(index, "thôn lệ thủy") == ([binh_son["le_thuy"]], False)
    assert areas.find_village(index, "Thôn Thuận Hòa") == (
        [binh_son["thuan_long"], binh_son["thuan_trung"]], False)
    assert areas.find_village(index, "Thôn Thuận Hòa", "xã Bình Trung") == ([binh_son["thuan_trung"]], True)
    assert areas.find_village(index, "Thôn Chưa Có") == ([], False)
    # Before the reform each commune had its own villages only.
    assert areas.find_village(areas.lineage_villages(unit("21052", "2024-05"), "2024-05"),
                              "Thôn Thuận Hòa") == ([], False)
    assert areas.parse_village_label("Thôn Thuận Hòa (Xã Bình Long cũ)") == ("Thôn Thuận Hòa", "Xã Bình Long")
    assert areas.parse_village_label("Thôn 3 (Gò Da)") == ("Thôn 3 (Gò Da)", None)


# ------------------------------------------------------------------ members in scope


@pytest.fixture
def household(today):
    """A household of Bình Chánh: a BTXH record of 2024, and the HTXH record registered in
    Xã Bình Sơn since 07/2025 (outside the former district's area)."""
    chanh, son = unit("21052", "2024-05"), unit("21040", TODAY)
    village = get_or_create_village(chanh, "Thôn An Thành")
    btxh = record(chanh, village, "Nguyễn Văn An", "051050123456")
    htxh = record(son, village, "Trần Văn Hưu", "051048654321", program="HTXH", household=btxh.household)
    db.session.commit()
    return btxh, htxh


def test_the_former_district_sees_only_its_members(client, household):
    btxh, htxh = household
    login(client, "district")
    assert client.get(f"/beneficiaries/{htxh.id}").status_code == 404
    page = client.get(f"/households/{btxh.household_id}").get_data(as_text=True)
    assert f"/beneficiaries/{btxh.id}" in page and "Nguyễn Văn An" in page
    assert f"/beneficiaries/{htxh.id}" not in page and "Trần Văn Hưu" not in page
    assert "1 người" in page
    # The village page counts one member in the household.
    page = client.get(f"/villages/{btxh.village_id}").get_data(as_text=True)
    row = re.search(rf'/households/{btxh.household_id}">[^<]*</a></td><td class="n"[^>]*>(\d+)</td>', page)
    assert row and row.group(1) == "1"
    # The paper sheet, on screen and as a workbook.
    page = client.get(f"/villages/{btxh.village_id}/paper").get_data(as_text=True)
    assert paper.code_for(btxh.id) in page and paper.code_for(htxh.id) not in page
    assert "Trần Văn Hưu" not in page and "1 người" in page
    r = client.get(f"/villages/{btxh.village_id}/paper?format=xlsx")
    cells = {str(c.value) for row in load_workbook(io.BytesIO(r.data)).active.iter_rows() for c in row if c.value}
    assert "Nguyễn Văn An" in cells and "Trần Văn Hưu" not in cells


def test_xa_binh_sons_officer_sees_the_whole_household(client, household):
    btxh, htxh = household
    make_user("officer", "commune", unit("21040", TODAY))
    login(client, "officer")
    page = client.get(f"/households/{btxh.household_id}").get_data(as_text=True)
    assert f"/beneficiaries/{btxh.id}" in page and f"/beneficiaries/{htxh.id}" in page
    page = client.get(f"/villages/{btxh.village_id}/paper").get_data(as_text=True)
    assert paper.code_for(btxh.id) in page and paper.code_for(htxh.id) in page


def test_an_old_communes_household_is_shown_under_the_commune_in_force(client, household):
    """A household of Bình Chánh (ended 30/6/2025) in 12/2026: its page names Xã Bình Sơn,
    whose progress bars it shows and moves on a save; its village's sheets are headed by
    Xã Bình Sơn's People's Committee, the village marked as of the old commune."""
    btxh, htxh = household
    son = unit("21040", TODAY)
    make_user("officer", "commune", son)
    login(client, "officer")
    page = client.get(f"/households/{btxh.household_id}").get_data(as_text=True)
    assert f"Tiến độ {son.full_name}" in page and f'id="progress-{son.id}"' in page
    assert f'/communes/{son.id}"' in page and "Xã Bình Chánh cũ" in page
    token = csrf_token(client, f"/households/{btxh.household_id}")
    r = client.post(f"/beneficiaries/{htxh.id}/review", headers={"HX-Request": "true"}, data={
        "csrf_token": token, f"b{htxh.id}-version": htxh.version, f"b{htxh.id}-account_status": "opening",
        f"b{htxh.id}-recipient_type": "self", f"b{htxh.id}-payment_method": "cash"})
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    assert f'id="progress-{son.id}" class="cards" hx-swap-oob="true"' in r.get_data(as_text=True)
    for url in (f"/villages/{btxh.village_id}/paper?format=xlsx", f"/villages/{btxh.village_id}/visits?format=xlsx"):
        cells = [str(c.value) for row in load_workbook(io.BytesIO(client.get(url).data)).active.iter_rows()
                 for c in row if c.value]
        assert "UBND XÃ BÌNH SƠN" in cells and "UBND XÃ BÌNH CHÁNH" not in cells, url
        assert any("Thôn An Thành (Xã Bình Chánh cũ), Xã Bình Sơn" in c for c in cells), url


def test_the_monthly_outreach_counts_the_old_communes_under_the_new(household):
    """In 12/2026 a refusal recorded on a record of Bình Chánh and a session recorded under
    Bình Chánh count in Xã Bình Sơn's report (they were left out when the report read only
    the new commune's own id)."""
    from tests.factories import visit
    from portal.services import outreach
    from tests.conftest import user
    btxh, _htxh = household
    chanh, son = unit("21052", "2024-05"), unit("21040", TODAY)
    visit(btxh, date(2026, 12, 2), account_status="refuses", refusal_reason="far",
          revisit_on=date(2026, 12, 20), today=date(2026, 12, 2))
    outreach.add_session(chanh, user("commune"), date(2026, 12, 3), "Nhà văn hóa", 25, "Chủ đề",
                         today=date(2026, 12, 3))
    outreach.add_session(son, user("commune"), date(2026, 12, 4), "UBND xã", 30, "Chủ đề",
                         today=date(2026, 12, 4))
    db.session.commit()
    f = outreach.month_figures([son], TODAY)[son.id]
    assert (f["sessions"], f["attendees"], f["reasons"]) == (2, 55, {"far": 1})
