"""Today's two-level world: the post-reform province (no district), its role, its overview
and ranking, the month selector back to 2024, the approver per period, and whom the
monthly report is addressed to per period.

Two structures: ``post_app`` holds only what the statistics office's post-2025 list holds
(Tỉnh Quảng Ngãi → its 96 communes, no district at all, loaded from the packaged file);
``app`` (conftest) holds both, the Bình Sơn mapping of 2024 and the province of 1/7/2025.
"""
import csv
import io
import re
from datetime import date, datetime
from importlib import resources

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import Area, ChangeProposal, MonthlyReport
from portal.services import areas, changes, payments, reports
from portal.services.areas import find_area, find_commune
from tests.conftest import PG_URL, _config, csrf_token, login, user
from tests.factories import make_user, person, with_account

BINH_SON = {"21040": "Xã Bình Sơn", "21061": "Xã Vạn Tường", "21085": "Xã Bình Minh",
            "21100": "Xã Bình Chương", "21109": "Xã Đông Sơn"}
ENC = {"Accept-Encoding": "br, gzip"}
PAGE_BUDGET = 14_600  # budgets.md: every HTML page, compressed


def province51():
    return find_area("51", "province", on=date(2025, 7, 1))


def html_of(client, url, status=200):
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    return r.get_data(as_text=True).replace("\u00a0", " ")  # names are kept on one line


def overview_names(html):
    return re.findall(r'<section class="card commune-row">\s*<h2><a href="[^"]+">([^<]+)</a>', html)


@pytest.fixture
def post_app():
    """Only the post-reform structure: the packaged list of Tỉnh Quảng Ngãi from 1/7/2025
    loaded alone (as `load-areas PATH` would), a province user and a commune officer."""
    app = create_app(_config(PG_URL or "sqlite://"))
    app.config["CAMPAIGN_MONTH"] = "2026-11"
    with app.app_context():
        db.drop_all()
        db.create_all()
        text = (resources.files("portal") / "data" / areas.PACKAGED_PROVINCE).read_text("utf-8")
        areas.load_gso_rows(csv.reader(io.StringIO(text)))
        province = province51()
        make_user("so", "province", province, full_name="Sở Y tế tỉnh Quảng Ngãi")
        make_user("canbo", "commune", find_commune("21040", "2026-11"))
        db.session.commit()
        yield app
        db.session.remove()
        db.drop_all()


# ------------------------------------------------------------------ the packaged province

def test_the_packaged_province_has_its_96_units(app):
    """The 96 units of the new Quảng Ngãi (Resolution 1677/NQ-UBTVQH15) with their GSO
    codes, the five Bình Sơn successors among them as the same units as the mapping's."""
    on = date(2025, 7, 1)
    province = province51()
    units = areas.communes_below(province, on=on)
    assert len(units) == 96
    assert sorted(set(u.kind for u in units)) == ["Phường", "Xã", "Đặc khu"]
    assert [sum(u.kind == k for u in units) for k in ("Xã", "Phường", "Đặc khu")] == [86, 9, 1]
    assert all(u.parent_id == province.id and u.valid_from == on and u.valid_to is None for u in units)
    by_code = {u.code: u for u in units}
    assert {code: by_code[code].full_name for code in BINH_SON} == BINH_SON
    assert by_code["21548"].full_name == "Đặc khu Lý Sơn"
    assert by_code["23293"].full_name == "Phường Kon Tum"  # former Kon Tum (62) is in it
    # The mapping's successors are these very units, not copies.
    assert find_commune("21052", "2024-05").successor is by_code["21040"]
    assert find_commune("21043", "2024-05").successor is by_code["21061"]
    for code in BINH_SON:
        assert db.session.scalar(select(func.count(Area.id)).where(
            Area.code == code, Area.level == "commune", Area.valid_from == on)) == 1
    # Loading again changes nothing.
    before = db.session.scalar(select(func.count(Area.id)))
    summary = areas.load_packaged_areas()
    db.session.commit()
    assert db.session.scalar(select(func.count(Area.id))) == before
    assert summary.as_dict()["loaded"] == before


def test_the_post_2025_export_loads_without_district_columns(post_app):
    assert db.session.scalar(select(func.count(Area.id)).where(Area.level == "district")) == 0
    province = province51()
    assert (province.full_name, province.valid_from, province.parent_id) == ("Tỉnh Quảng Ngãi", None, None)
    communes = db.session.scalars(select(Area).where(Area.level == "commune")).all()
    assert len(communes) == 96 and {c.parent_id for c in communes} == {province.id}
    # A list without its commune columns is still refused.
    with pytest.raises(ValueError, match="Tổng cục Thống kê"):
        areas.load_gso_rows([["Tỉnh Thành Phố", "Mã TP"], ["Tỉnh Quảng Ngãi", "51"]])


# ------------------------------------------------------------------ the province overview

@pytest.fixture
def post_people(post_app):
    """Xã Ya Ly (23548, the last code) far behind; Phường Cẩm Thành (21025, the first)
    done; an NCC person in Xã Bình Sơn, behind."""
    lag = person("23548", village="Thôn Một", name="Y Lag", national_id="062050000001", coefficient=1.0)
    lag2 = person("23548", village="Thôn Một", name="Y Lag Hai", national_id="062050000002", coefficient=1.0)
    done = with_account(person("21025", village="Tổ 1", name="Trần Văn Xong", national_id="051050000003",
                               coefficient=1.0))
    done.reviewed_at = datetime(2026, 11, 3)
    ncc = person("21040", village="Thôn Ba", name="Lê Văn Công", program="NCC", national_id="051050000004",
                 monthly_amount=2_789_000)
    db.session.commit()
    return {"lag": lag, "lag2": lag2, "done": done, "ncc": ncc}


def test_the_province_ranks_all_its_communes_laggards_first_and_pages(post_app, post_people):
    client = post_app.test_client()
    login(client, "so")
    html = html_of(client, "/overview")
    names = overview_names(html)
    assert len(names) == 25 and names[0] == "Xã Ya Ly"  # the laggard first, whatever its code
    assert "96 xã trong tháng 11/2026" in html
    assert "Trang 1/4" in html and "page=2" in html
    assert "Huyện" not in html and "huyện" not in html
    seen = []
    for page in (1, 2, 3, 4):
        seen += overview_names(html_of(client, f"/overview?page={page}"))
    assert len(seen) == 96 == len(set(seen))
    assert seen.index("Xã Bình Sơn") < seen.index("Phường Cẩm Thành")  # behind before done
    assert len(overview_names(html_of(client, "/overview?page=4"))) == 21
    assert len(overview_names(html_of(client, "/overview?page=99"))) == 21  # the last page
    # The filters: a program ranks on it alone; a name (folded) narrows.
    ncc = overview_names(html_of(client, "/overview?program=NCC"))
    assert ncc[0] == "Xã Bình Sơn"
    assert overview_names(html_of(client, "/overview?q=ya+ly")) == ["Xã Ya Ly"]
    assert overview_names(html_of(client, "/overview?q=BINH+SON")) == ["Xã Bình Sơn"]
    # Each page within the byte budget.
    for url in ("/overview", "/overview?page=4", "/overview?program=BTXH"):
        r = client.get(url, headers=ENC)
        assert r.headers["Content-Encoding"] in ("br", "gzip") and len(r.data) <= PAGE_BUDGET, url


def test_a_bad_month_is_refused_with_its_message(post_app):
    client = post_app.test_client()
    login(client, "so")
    r = client.get("/overview?month=2026-13")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and 'class="error-summary"' in html and "2026-13" in html


def test_the_month_selector_reaches_the_old_world(app, client):
    make_user("so", "province", province51())
    db.session.commit()
    login(client, "so")
    old = html_of(client, "/overview?month=2024-05")
    names = overview_names(old)
    assert len(names) == 22 and "Xã Bình Chánh" in names and "Thị trấn Châu Ổ" in names
    assert "Huyện Bình Sơn" in old  # the communes of then, under their district
    assert html_of(client, "/overview?month=2025-08", 400)  # after the month after the open month
    app.config["CAMPAIGN_MONTH"] = "2025-07"  # a page shows up to the month after it
    new = html_of(client, "/overview?month=2025-08")
    assert len(overview_names(new)) == 25 and "96 xã trong tháng 08/2025" in new
    assert "Huyện" not in new and "huyện" not in new and "Xã Bình Chánh" not in new
    # The default is the portal's open month.
    assert "96 xã trong tháng 07/2025" in html_of(client, "/overview")
    app.config["CAMPAIGN_MONTH"] = "2024-05"
    assert overview_names(html_of(client, "/overview")) == names
    app.config["CAMPAIGN_MONTH"] = "2025-07"
    # The ranking has the same selector.
    ranking = html_of(client, "/reports/ranking?month=2024-05")
    assert "Xã Bình Chánh" in ranking
    ranking = html_of(client, "/reports/ranking?month=2025-08")
    assert "Xã Bình Sơn" in ranking and "Xã Bình Chánh" not in ranking
    assert "Đặc khu Lý Sơn" in html_of(client, "/reports/ranking?month=2025-08&page=2")
    assert "Huyện" not in ranking and "huyện" not in ranking


def test_post_reform_pages_show_no_district(app, client):
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    son = find_commune("21040", "2025-08")
    b = person("21052", name="Nguyễn Văn An", national_id="051050123456", coefficient=1.5)
    make_user("canbo", "commune", son)
    db.session.commit()
    login(client, "canbo")
    for url in ("/reports/ranking", f"/communes/{son.id}", "/reports/monthly", f"/reports/monthly?area={son.id}",
                f"/beneficiaries/{b.id}", f"/villages/{b.village_id}", f"/villages/{b.village_id}/paper"):
        html = html_of(client, url)
        assert "Huyện" not in html and "huyện" not in html, url
    # The sheet of a village of an old commune names the commune in force and the province
    # above it, as of the month.
    assert "Tỉnh Quảng Ngãi › Xã Bình Sơn › <b>Thôn An Thành (Xã Bình Chánh cũ)</b>" in html
    app.config["CAMPAIGN_MONTH"] = "2024-05"
    assert "Huyện Bình Sơn › Xã Bình Chánh" in html_of(client, f"/villages/{b.village_id}/paper")
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    assert "Xã Bình Sơn · Tỉnh Quảng Ngãi" in html_of(client, "/reports/monthly")
    # An old commune's officer lands in the new commune's place in the ranking of then.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "commune")  # Xã Bình Chánh (21052), merged into Xã Bình Sơn
    html = html_of(client, "/reports/ranking")
    assert "Huyện" not in html and 'aria-current="true"><td class="n" data-label="Hạng">—</td><td data-label="Xã"><b>Xã Bình Sơn' in html
    assert "Xã Bình Chánh" in html_of(client, "/reports/ranking?month=2024-05")


def test_the_province_user_sees_its_communes_only(app, client):
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    hanoi = areas.upsert_area("province", "01", "Hà Nội", "Thành phố")
    ba_dinh = areas.upsert_area("commune", "00004", "Ba Đình", "Phường", hanoi, valid_from=date(2025, 7, 1))
    away = person("00004", village="Tổ 1", name="Phạm Văn Xa", national_id="001050000009")
    near = person("21052", name="Nguyễn Văn Gần", national_id="051050000010")
    make_user("so", "province", province51())
    db.session.commit()
    login(client, "so")
    assert "Phường Ba Đình" not in html_of(client, "/overview?q=ba+dinh")
    html_of(client, f"/communes/{ba_dinh.id}", 404)
    html_of(client, f"/beneficiaries/{away.id}", 404)
    assert "Nguyễn Văn Gần" in html_of(client, f"/beneficiaries/{near.id}")  # an old commune of its own
    html_of(client, f"/reports/monthly?area={ba_dinh.id}", 404)
    assert "Tổng quan" in html_of(client, "/overview") and "Sở (tỉnh)" in html_of(client, "/overview")
    for url in ("/payments", "/changes", "/reports/monthly", "/quality", "/imports/new", "/export"):
        assert client.get(url).status_code == 200, url


# ------------------------------------------------------------------ the approver per period

def test_the_approver_follows_the_change_effective_month(app, client):
    """A change effective before 07/2025 is decided by the district, one from 07/2025 by
    the commune chairman, whatever the open month; each records and shows its decider."""
    app.config["CAMPAIGN_MONTH"] = "2025-07"
    son = find_commune("21040", "2025-08")
    chairman = make_user("chutich", "chairman", son, full_name="Võ Văn Chủ")
    officer = make_user("canbo", "commune", son)
    old = person("21052", name="Nguyễn Văn Cũ", national_id="051050000021", coefficient=1.0)
    new = person("21052", name="Trần Văn Mới", national_id="051050000022", coefficient=1.0)
    db.session.commit()
    before = changes.propose(old, "stop", user("commune"), "2025-06", clause="1b")
    after = changes.propose(new, "stop", officer, "2025-08", clause="1b")
    db.session.commit()
    assert (changes.decider_of(before), changes.decider_of(after)) == ("district", "chairman")
    with pytest.raises(changes.ChangeError, match="06/2025"):
        changes.decide(before, chairman, True, "1/QĐ", date(2025, 6, 20))
    with pytest.raises(changes.ChangeError, match="08/2025"):
        changes.decide(after, user("district"), True, "1/QĐ", date(2025, 7, 20))

    def decide(change, day):
        token = csrf_token(client, "/changes")
        return client.post(f"/changes/{change.id}/decide", data={
            "csrf_token": token, "decision": "approve", f"d{change.id}-decision_number": "5/QĐ-UBND",
            f"d{change.id}-decision_date": day})

    login(client, "chutich")
    html = html_of(client, "/changes")
    assert f'<div class="person" id="c{after.id}">' in html  # waiting for the chairman
    assert f'<div class="person" id="c{before.id}">' not in html  # the district's to decide
    assert decide(before, "2025-06-20").status_code == 403
    r = decide(after, "2025-07-20")
    assert r.status_code == 303
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "district")
    html = html_of(client, "/changes")
    assert f'<div class="person" id="c{before.id}">' in html
    assert decide(after, "2025-07-20").status_code == 403
    assert decide(before, "2025-06-20").status_code == 303
    db.session.expire_all()
    before, after = db.session.get(ChangeProposal, before.id), db.session.get(ChangeProposal, after.id)
    assert (before.status, before.decided_by_id) == ("approved", user("district").id)
    assert (after.status, after.decided_by_id) == ("approved", chairman.id)
    # Who decided, with the role, on the list and on the person's page.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "chutich")
    html = html_of(client, "/changes")
    assert "Người quyết định: Võ Văn Chủ (Chủ tịch UBND xã)" in html
    assert "Người quyết định: Phòng LĐ-TB&amp;XH huyện Bình Sơn (Phòng LĐ-TB&amp;XH)" in html
    assert "Người quyết định: Võ Văn Chủ (Chủ tịch UBND xã)" in html_of(client, f"/beneficiaries/{new.id}")
    assert "(Phòng LĐ-TB&amp;XH)" in html_of(client, f"/beneficiaries/{old.id}")


# ------------------------------------------------------------------ the report per period

def _cells(data):
    ws = load_workbook(io.BytesIO(data)).active
    return ws, [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]


def test_the_report_is_addressed_by_period(app):
    son, chanh = find_commune("21040", "2025-08"), find_commune("21052", "2024-05")
    district, province = find_area("524", "district"), province51()
    after = dict(reports.addressees(son, "2025-08"))
    assert "BTXH" in after["Sở Y tế tỉnh Quảng Ngãi"] and after["Sở Nội vụ tỉnh Quảng Ngãi"] == ["NCC"]
    assert list(dict(reports.addressees(district, "2024-05"))) == ["Sở LĐ-TB&XH Tỉnh Quảng Ngãi"]
    assert list(dict(reports.addressees(chanh, "2024-05"))) == ["Phòng LĐ-TB&XH Huyện Bình Sơn"]
    assert reports.addressees(province, "2025-08") == []  # the roll-up: copies to the departments
    # Configuration, per program and period.
    app.config["REPORT_ADDRESSEES"] = app.config["REPORT_ADDRESSEES"] + [
        ("2026-01-01", {"BTXH": "Sở Bảo trợ {province}", "NCC": "Sở Bảo trợ {province}"})]
    assert reports.addressees(son, "2026-02") == [("Sở Bảo trợ tỉnh Quảng Ngãi", ["BTXH", "NCC"])]
    assert "Sở Y tế tỉnh Quảng Ngãi" in dict(reports.addressees(son, "2025-12"))

    # The workbook of a new commune: its People's Committee writes to the departments.
    ws, cells = _cells(reports.workbook(reports.monthly_report(son, "2025-08")))
    assert ws["A1"].value == "UBND XÃ BÌNH SƠN" and ws["A3"].value.endswith("/BC-UBND")
    assert ws["A8"].value.startswith("Kính gửi: Sở Y tế tỉnh Quảng Ngãi (BTXH")
    assert ws["A8"].value.endswith("; Sở Nội vụ tỉnh Quảng Ngãi (NCC).")
    assert "- Như trên;" in cells
    assert not [c for c in cells if "Huyện" in c or "huyện" in c or "LĐ-TB&XH" in c or "LAO ĐỘNG" in c]
    # The province's roll-up: issued by its People's Committee, copies to the departments.
    ws, cells = _cells(reports.workbook(reports.monthly_report(province, "2025-08")))
    assert ws["A1"].value == "UBND TỈNH QUẢNG NGÃI" and ws["A2"].value is None and ws["A8"].value is None
    assert "- Sở Nội vụ tỉnh Quảng Ngãi (NCC);" in cells and "CHỦ TỊCH" in cells
    assert not [c for c in cells if "huyện" in c.lower() or "LAO ĐỘNG" in c]
    # Before 07/2025: the district's Labour division to the province's Department, as it was.
    ws, cells = _cells(reports.workbook(reports.monthly_report(district, "2024-05")))
    assert ws["A2"].value == "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI" and ws["A8"].value is None
    assert "- Sở LĐ-TB&XH Tỉnh Quảng Ngãi;" in cells and "TRƯỞNG PHÒNG" in cells
    assert not [c for c in cells if c.startswith("Kính gửi")]


def test_who_makes_the_report_by_period(app, client):
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    son = find_commune("21040", "2025-08")
    officer = make_user("canbo", "commune", son)
    make_user("so", "province", province51())
    person("21052", name="Nguyễn Văn An", national_id="051050123456", coefficient=1.5)
    p = payments.build(son, "2025-08", "BTXH", officer)
    payments.lock(p, officer)
    db.session.commit()
    assert [reports.makers("2024-05"), reports.makers("2025-07")] == [
        ("district",), ("commune", "chairman", "province")]

    def make(area, month="2025-08"):
        token = csrf_token(client, "/reports/monthly")
        return client.post("/reports/monthly/make", data={"csrf_token": token, "month": month, "area": area.id})

    login(client, "canbo")
    page = html_of(client, "/reports/monthly")
    assert "Chốt báo cáo" in page and "Kính gửi: Sở Y tế tỉnh Quảng Ngãi" in page
    assert make(son).status_code == 303
    record = db.session.scalar(select(MonthlyReport).where(MonthlyReport.area_id == son.id))
    assert (record.month, record.made_by_id) == ("2025-08", officer.id)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "so")
    r = make(son)  # a commune's report is the commune's to make
    assert r.status_code == 303
    assert db.session.scalar(select(func.count(MonthlyReport.id))) == 1
    assert make(province51()).status_code == 303  # the province's roll-up
    assert make(province51(), "2024-05").status_code == 403  # before the reform: the district
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "district")
    assert make(find_area("524", "district"), "2025-08").status_code == 403  # no district after
    assert db.session.scalar(select(func.count(MonthlyReport.id))) == 2
