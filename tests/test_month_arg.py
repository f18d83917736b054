"""The month a page is asked for (``web.month_arg``), one rule everywhere, and the payment
lists index across the 2025 reform: every list of the user's scope, the old communes'
too, newest month first; a district whose communes ended cannot build a later month."""
import re

import pytest

from portal.extensions import db
from portal.services import payments
from portal.services.areas import find_area, find_commune
from tests.conftest import csrf_token, login, user
from tests.factories import make_user, person, with_account

CHANH, SON = "21052", "21040"  # Xã Bình Chánh (until 30/06/2025) → Xã Bình Sơn (from 1/7/2025)


@pytest.fixture
def reform(app):
    """One person of Bình Chánh; the district's June 2025 list of Bình Chánh, Xã Bình Sơn's
    July 2025 list (the same person) and an officer of Xã Bình Sơn; December 2026 open."""
    app.config["CAMPAIGN_MONTH"] = "2026-12"
    with_account(person(name="Nguyễn Văn An", national_id="051050123456"))
    chanh, son = find_commune(CHANH, "2025-06"), find_commune(SON, "2025-07")
    officer = make_user("canbo", "commune", son)
    june = payments.build(chanh, "2025-06", "BTXH", user("district"))
    july = payments.build(son, "2025-07", "BTXH", officer)
    db.session.commit()
    return {"june": june, "july": july, "chanh": chanh, "son": son}


def _lists(html):
    """The period ids the index links, in page order."""
    return [int(i) for i in re.findall(r'href="/payments/(\d+)"', html)]


def test_the_new_communes_officer_sees_the_old_communes_lists_newest_first(client, reform):
    login(client, "canbo")
    html = client.get("/payments").get_data(as_text=True)
    assert _lists(html) == [reform["july"].id, reform["june"].id]
    assert html.index("Tháng 07/2025") < html.index("Tháng 06/2025")
    # ?month= keeps that month's lists only.
    html = client.get("/payments?month=2025-06").get_data(as_text=True)
    assert _lists(html) == [reform["june"].id] and 'value="2025-06"' in html


def test_the_district_sees_the_lists_of_its_ended_communes(client, reform):
    login(client, "district")  # Huyện Bình Sơn, ended on 30/06/2025
    html = client.get("/payments").get_data(as_text=True)
    assert _lists(html) == [reform["june"].id] and "Chưa có danh sách nào." not in html
    assert client.get(f"/payments/{reform['june'].id}").status_code == 200
    assert client.get(f"/payments/{reform['july'].id}").status_code == 404  # not its unit


def test_the_province_sees_both_worlds(client, app, reform):
    make_user("so", "province", find_area("51", "province"))
    login(client, "so")
    assert _lists(client.get("/payments").get_data(as_text=True)) == [reform["july"].id, reform["june"].id]


@pytest.mark.parametrize("bad, says", [
    ("2026-13", "không đúng dạng YYYY-MM"), ("abc", "không đúng dạng YYYY-MM"),
    ("2099-01", "chưa tới: cổng đang mở tháng 12/2026, xem được đến tháng 01/2027"),
    ("1999-12", "cổng chỉ có số liệu từ tháng 01/2000"), ("0000-12", "từ tháng 01/2000")])
def test_a_bad_month_on_the_index_is_a_400_with_its_message(client, reform, bad, says):
    login(client, "canbo")
    r = client.get(f"/payments?month={bad}")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and 'class="error-summary"' in html and says in html
    assert _lists(html) == [] and "<title>Lỗi:" in html


def test_next_month_is_the_last_month_a_page_shows(client, reform):
    login(client, "canbo")
    assert client.get("/payments?month=2027-01").status_code == 200
    assert client.get("/payments?month=2000-01").status_code == 200
    assert client.get("/payments?month=2027-02").status_code == 400


@pytest.mark.parametrize("url", [
    "/overview?month={m}", "/reports/ranking?month={m}", "/reports/monthly?month={m}",
    "/reports/monthly.xlsx?month={m}", "/changes/month?month={m}", "/changes/month.xlsx?month={m}",
    "/payments?month={m}"])
@pytest.mark.parametrize("month", ["0001-01", "1900-01", "2099-01", "9999-12", "2026-13", "abc"])
def test_one_rule_for_the_month_on_every_page(client, reform, url, month):
    """Too early, too late or not a month: 400 with the message on the page (never a
    workbook, never a 500, never the district's world of 1900), for every page taking one."""
    login(client, "district")
    r = client.get(url.format(m=month))
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and r.mimetype == "text/html", (url, month, r.status_code)
    assert 'role="alert"' in html and f"«{month}»" in html
    title = re.search(r"<title>([^<]*)</title>", html).group(1)
    assert title.startswith("Lỗi:") and month not in title and "/" + month[:4] not in title


def test_the_ranking_of_the_first_month_has_no_month_before_it(client, reform):
    login(client, "district")
    assert client.get("/reports/ranking?month=2000-01").status_code == 200


def test_a_district_whose_communes_ended_is_told_who_makes_the_lists(client, reform):
    login(client, "district")
    token = csrf_token(client, "/payments")
    r = client.post("/payments", data={"csrf_token": token, "commune_id": 0, "month": "2026-11",
                                       "program": "BTXH"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Đã lập 0 danh sách" not in html
    assert "Các xã của Huyện Bình Sơn chỉ có đến ngày 30/06/2025" in html
    # The five new communes that absorbed its 22 units, by name.
    named = re.search(r"danh sách tháng 11/2026 do ([^<]*) lập", html).group(1)
    assert "Xã Bình Sơn" in named and named.count("Xã ") == 5
    assert not payments.last_version(reform["son"].id, "2026-11", "BTXH")
    # Its own months still build.
    r = client.post("/payments", data={"csrf_token": token, "commune_id": 0, "month": "2025-05",
                                       "program": "BTXH"})
    assert r.status_code == 303
