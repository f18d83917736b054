"""The country overview (issue 12 §3): a national admin (a user without an area) sees one
row per province, each the sum of its communes' progress, with the province overview's
filters, and drills down to a province (``/overview?area=<id>``) within their scope only.

The world: the packaged areas (Bình Sơn 2024 and Tỉnh Quảng Ngãi from 07/2025) and a
second, synthetic post-reform province (Thành phố Hà Nội, two wards) loaded from a
statistics-office list; records in both, some in an old commune merged in 07/2025 (Xã
Bình Chánh → Xã Bình Sơn), counted under the commune in force.
"""
import re
from datetime import date, datetime

import pytest
from sqlalchemy import event, select
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import User
from portal.services import areas, country, payments, progress, reports
from portal.services.areas import communes_below, find_area, find_commune
from portal.services.history import system_user
from tests.conftest import login, user
from tests.factories import make_user, person, with_account

MONTH = "2025-08"
ENC = {"Accept-Encoding": "br, gzip"}
PAGE_BUDGET = 14_600  # budgets.md: every HTML page, compressed
HANOI = [["Tỉnh Thành Phố", "Mã TP", "Phường Xã", "Mã PX", "Cấp"],
         ["Thành phố Hà Nội", "01", "Phường Ba Đình", "00004", "Phường"],
         ["Thành phố Hà Nội", "01", "Phường Ngọc Hà", "00008", "Phường"]]


def national(username="bo"):
    """A national admin: no area (``create-user --national``), password ``demo``."""
    u = User(username=username, role="admin", area=None, full_name="Bộ",
             password_hash=generate_password_hash("demo", method="pbkdf2:sha256:1000"))
    db.session.add(u)
    db.session.commit()
    return u


def province(code):
    return find_area(code, "province", on=date(2025, 7, 1))


def names(html):
    return re.findall(r'<section class="card commune-row">\s*<h2><a href="[^"]+">([^<]+)</a>', html)


def page(client, url, status=200):
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    return r.get_data(as_text=True).replace("\u00a0", " ")


@pytest.fixture
def world(app):
    """Two provinces with records in the open month 08/2025, a national admin ``bo`` and
    Quảng Ngãi's officer ``so``."""
    app.config["CAMPAIGN_MONTH"] = MONTH
    areas.load_gso_rows(HANOI)
    seen = datetime(2025, 3, 1)
    # Quảng Ngãi: Bình Chánh (merged into Xã Bình Sơn), Xã Bình Sơn, Xã Ya Ly.
    a = with_account(person("21052", name="Nguyễn Văn An", national_id="051050000001"))
    a.reviewed_at = seen
    person("21052", name="Trần Thị Bích", sex="F", national_id="051155000002")
    person("21040", village="Thôn Ba", name="Lê Văn Công", program="NCC", national_id="051050000003",
           monthly_amount=2_789_000)
    person("23548", village="Thôn Một", name="Y Lag", national_id="062050000004")
    # Hà Nội: two wards.
    b = with_account(person("00004", village="Tổ 1", name="Phạm Văn Dũng", national_id="001050000005"))
    b.reviewed_at = seen
    c = with_account(person("00004", village="Tổ 1", name="Đỗ Thị Em", sex="F", national_id="001155000006"))
    c.reviewed_at = seen
    person("00008", village="Tổ 2", name="Hoàng Văn Gia", national_id="001050000007")
    national()
    make_user("so", "province", province("51"))
    db.session.commit()
    return app


def communes_sum(prov, month, past=False):
    """``{program: Counts}``: the sums of the province's communes as its own overview counts
    them (``progress.commune_progress``, or ``reports.progress_in`` for a past month)."""
    communes = communes_below(prov, on=date(int(month[:4]), int(month[5:]), 1))
    rows = reports.progress_in(communes, month) if past else progress.commune_progress(None, communes, month)
    return progress.totals(rows)


def test_the_country_lists_each_province_as_the_sum_of_its_communes(world, client):
    rows, goals = country.province_rows(user("bo"), MONTH)
    by_name = {cp.area.full_name: cp for cp in rows}
    assert set(by_name) == {"Tỉnh Quảng Ngãi", "Thành phố Hà Nội"}
    for name, code in (("Tỉnh Quảng Ngãi", "51"), ("Thành phố Hà Nội", "01")):
        assert by_name[name].programs == communes_sum(province(code), MONTH), name
    qn, hn = by_name["Tỉnh Quảng Ngãi"].programs, by_name["Thành phố Hà Nội"].programs
    # Bình Chánh's two people are Xã Bình Sơn's now, so Quảng Ngãi's.
    assert (qn["BTXH"].total, qn["BTXH"].reviewed, qn["BTXH"].cashless, qn["NCC"].total) == (3, 1, 1, 1)
    assert (hn["BTXH"].total, hn["BTXH"].reviewed, hn["BTXH"].with_account, hn["NCC"].total) == (3, 2, 2, 0)
    assert goals == progress.targets(None, MONTH)
    # Quảng Ngãi lags (1 of 3 reviewed, an NCC person not reviewed): first.
    assert [cp.area.code for cp in rows] == ["51", "01"]

    login(client, "bo")
    html = page(client, "/overview")
    assert names(html) == ["Tỉnh Quảng Ngãi", "Thành phố Hà Nội"]
    assert "Cả nước: tiến độ các tỉnh, thành phố" in html
    assert "2 tỉnh, thành phố trong tháng 08/2025" in html
    assert "BTXH · 6 người" in html and "NCC · 1 người" in html  # the country's totals
    assert f'href="/overview?area={province("01").id}&amp;month={MONTH}"' in html


def test_the_filters(world, client):
    login(client, "bo")
    assert names(page(client, "/overview?q=ha+noi")) == ["Thành phố Hà Nội"]
    assert names(page(client, "/overview?q=QUANG NGAI")) == ["Tỉnh Quảng Ngãi"]
    assert names(page(client, "/overview?q=01")) == ["Thành phố Hà Nội"]
    assert names(page(client, "/overview?q=zzz")) == []
    ncc = page(client, "/overview?program=NCC")
    assert names(ncc) == ["Tỉnh Quảng Ngãi", "Thành phố Hà Nội"]
    assert "NCC · 1 người" in ncc and "BTXH · " not in ncc
    rows, _ = country.province_rows(user("bo"), MONTH, program="NCC")
    assert all(list(cp.programs) == ["NCC"] for cp in rows)
    assert page(client, "/overview?month=2026-13", 400)
    # 2024-05: Quảng Ngãi's communes of then (Bình Sơn district), a past month.
    old = page(client, "/overview?month=2024-05")
    assert "Tỉnh Quảng Ngãi" in names(old) and "Tháng đã qua" in old


def test_the_drill_down_stays_within_the_user_s_area(world, client):
    qn, hn = province("51"), province("01")
    login(client, "bo")
    html = page(client, f"/overview?area={qn.id}")
    assert "Tỉnh Quảng Ngãi: tiến độ các xã" in html and "96 xã trong tháng 08/2025" in html
    assert "‹ Cả nước" in html and f'name="area" value="{qn.id}"' in html
    assert f"area={qn.id}" in re.search(r'<nav class="pager".*?</nav>', html, re.S).group(0)
    assert names(page(client, f"/overview?area={hn.id}")) == ["Phường Ngọc Hà", "Phường Ba Đình"]
    assert names(page(client, f"/overview?area={hn.id}&q=ba+dinh")) == ["Phường Ba Đình"]
    # From the province to a commune: the existing commune page.
    ward = find_commune("00004", MONTH)
    assert "Phường Ba Đình" in page(client, f"/communes/{ward.id}")
    page(client, f"/overview?area={ward.id}", 404)  # a commune is not an overview
    page(client, "/overview?area=999999", 404)
    # The 2024 district, drilled down to in its own month.
    district = find_area("524", "district")
    assert len(names(page(client, f"/overview?area={district.id}&month=2024-05"))) == 22

    client.post("/logout")
    login(client, "so")
    page(client, f"/overview?area={hn.id}", 404)  # another province
    page(client, f"/overview?area={district.id}&month=2024-05")  # a unit below their own
    own = page(client, "/overview")
    assert "Tỉnh Quảng Ngãi: tiến độ các xã" in own and "Cả nước" not in own
    assert page(client, f"/overview?area={qn.id}") .count("commune-row") == 25


def test_a_past_month_from_the_lists_in_a_few_statements(world, client):
    """08/2025's locked lists, read from 09/2025: each province the sum of its communes'
    ``reports.progress_in``; a handful of statements for all 98 communes, not one each."""
    for code in ("21040", "00004"):
        p = payments.build(find_commune(code, MONTH), MONTH, "BTXH", system_user())
        payments.lock(p, system_user())
    db.session.commit()
    world.config["CAMPAIGN_MONTH"] = "2025-09"
    statements = []
    listen = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        rows, _ = country.province_rows(user("bo"), MONTH)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert len(statements) <= 10, statements
    by_code = {cp.area.code: cp.programs for cp in rows}
    assert by_code["51"] == communes_sum(province("51"), MONTH, past=True)
    assert by_code["01"] == communes_sum(province("01"), MONTH, past=True)
    # Xã Bình Sơn's list pays Bình Chánh's two; Phường Ngọc Hà (00008) has no list.
    assert (by_code["51"]["BTXH"].total, by_code["01"]["BTXH"].total) == (2, 2)
    assert by_code["01"]["BTXH"].with_account == 2
    login(client, "bo")
    html = page(client, f"/overview?month={MONTH}")
    assert "Tháng đã qua" in html and "BTXH · 4 người" in html


def test_the_open_month_reads_the_counters_in_a_few_statements(world):
    bo = user("bo")
    statements = []
    listen = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        country.province_rows(bo, MONTH)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert len(statements) <= 6, statements
    assert not any("FROM beneficiary" in s for s in statements)


def test_the_byte_budget(world, client):
    login(client, "bo")
    for url in ("/overview", "/overview?program=BTXH", f"/overview?area={province('51').id}"):
        r = client.get(url, headers=ENC)
        assert r.status_code == 200 and r.headers.get("Content-Encoding") in ("br", "gzip")
        assert len(r.data) <= PAGE_BUDGET, (url, len(r.data))


def test_create_user_national(app, runner):
    r = runner.invoke(args=["create-user", "bo2", "--role", "admin", "--national", "--password", "x" * 12])
    assert r.exit_code == 0, r.output
    assert user("bo2").area is None and "cả nước" in r.output
    for args in ([], ["--national", "--area", "51"]):
        r = runner.invoke(args=["create-user", "bo3", "--role", "admin", *args, "--password", "x" * 12])
        assert r.exit_code != 0 and "--national" in r.output
    assert user("bo3") is None


@pytest.mark.parametrize("url", ["/quality", "/reports/monthly", "/reports/ranking", "/imports/new",
                                 "/changes/month"])
def test_a_page_of_one_province_sends_the_national_user_to_the_overview(world, client, url):
    """Data quality, the month's changes, uploads, the ranking and a report without
    ``?area=`` work within one province or commune: the national user is sent to the
    country overview with the reason, never a 404."""
    login(client, "bo")
    r = client.get(url)
    assert r.status_code == 303 and r.headers["Location"].endswith("/overview"), (url, r.status_code)
    assert "Tài khoản toàn quốc" in page(client, "/overview")


def test_the_national_user_reads_a_province_s_monthly_report_from_its_overview(world, client):
    login(client, "bo")
    qn = province("51")
    html = page(client, "/overview")
    assert 'href="/quality"' not in html and 'href="/imports/new"' not in html  # no dead ends in the header
    html = page(client, f"/overview?area={qn.id}")
    link = f"/reports/monthly?area={qn.id}&amp;month={MONTH}"
    assert link in html
    page(client, link.replace("&amp;", "&"))
