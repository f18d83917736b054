"""User administration (issue 13 §1): ``/admin/users`` for an admin over the users of their
area, ``/account/password`` for everyone, the same rules as ``create-user``
(``services.users``), sessions ended by a deactivation or a password change, every change
in the audit trail, CSRF on every form. A browser test creates a user and locks it at
360 px and 1366 px."""
import functools
import json
import re

import pytest
from flask import g
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import Event, User
from portal.services import areas, users
from tests.conftest import console_problems, csrf_token, live_server, log_in_as
from tests.conftest import login as conftest_login
from tests.test_country import HANOI, national

GOOD = "mot-mat-khau-dai"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """A cheap hash for the passwords set here (scrypt costs a second a login on this machine)."""
    monkeypatch.setattr("portal.models.generate_password_hash",
                        functools.partial(generate_password_hash, method="pbkdf2:sha256:1000"))


def get(username):
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def make(username, role, code, password="demo"):
    area = areas.find_area(code) if code else None
    u = User(username=username, role=role, area=area, full_name=username,
             password_hash=generate_password_hash(password, method="pbkdf2:sha256:1000"))
    db.session.add(u)
    db.session.commit()
    return u


def audit_rows(action=None):
    q = select(Event).where(Event.source == "admin", Event.field == "user")
    if action:
        q = q.where(Event.action == action)
    return db.session.scalars(q.order_by(Event.id)).all()


def fresh_token():
    """The ``app`` fixture keeps one app context open, where Flask-WTF caches the CSRF token
    and Flask-Login the user of the last request: two clients (the admin, the user) each
    need their own, as under a real server where each request has its own context."""
    g.pop("csrf_token", None)
    g.pop("_login_user", None)


def fetch(client, url):
    fresh_token()
    return client.get(url)


def login(client, username, password="demo"):
    fresh_token()
    return conftest_login(client, username, password)


def post(client, url, data, page=None):
    fresh_token()
    data = {"csrf_token": csrf_token(client, page or url), **data}
    return client.post(url, data=data)


def create(client, **values):
    data = {"username": "moi", "full_name": "Người Mới", "role": "commune", "area": "21052",
            "password": GOOD, "confirm": GOOD} | values
    return post(client, "/admin/users", data)


def test_an_admin_creates_a_user_who_can_log_in(app, client):
    login(client, "admin")
    r = create(client)
    assert r.status_code == 303, r.get_data(as_text=True)[:800]
    u = get("moi")
    assert (u.role, u.area.code, u.full_name, u.active) == ("commune", "21052", "Người Mới", True)
    (e,) = audit_rows("create")
    new = json.loads(e.new_value)
    assert new["username"] == "moi" and new["area"] == "21052" and e.old_value is None
    assert "password" not in e.new_value and "pbkdf2" not in e.new_value
    assert e.user_id == get("admin").id
    other = client.application.test_client()
    login(other, "moi", GOOD)
    assert "moi" in fetch(client, "/admin/users").get_data(as_text=True)


@pytest.mark.parametrize("values, field_text", [
    ({"password": "ngan", "confirm": "ngan"}, "ít nhất 10 ký tự"),
    ({"password": "moi-moi-moi-moi", "confirm": "moi-moi-moi-moi"}, "không được chứa tên đăng nhập"),
    ({"confirm": "khac-hoan-toan"}, "không khớp"),
    ({"username": "Có Dấu"}, "chữ thường không dấu"),
    ({"username": "admin"}, "đã có"),
    ({"area": "99999"}, "Không có đơn vị mã 99999"),
    ({"role": "system"}, "Lựa chọn không hợp lệ"),
])
def test_the_rules_refuse_a_bad_user(app, client, values, field_text):
    login(client, "admin")
    r = create(client, **values)
    assert r.status_code == 422
    assert field_text in r.get_data(as_text=True)
    assert get(values.get("username", "moi")) is None or values.get("username") == "admin"
    assert audit_rows() == []


def test_the_cli_follows_the_same_rules(app, runner):
    r = runner.invoke(args=["create-user", "ngan", "--role", "commune", "--area", "21052", "--password", "short"])
    assert r.exit_code == 2 and "ít nhất 10 ký tự" in r.output and get("ngan") is None
    r = runner.invoke(args=["create-user", "Có Dấu", "--role", "commune", "--area", "21052", "--password", GOOD])
    assert r.exit_code == 2 and get("Có Dấu") is None
    r = runner.invoke(args=["create-user", "canbo2", "--role", "commune", "--area", "21052", "--password", GOOD])
    assert r.exit_code == 0 and get("canbo2").area.code == "21052"


def test_an_admin_manages_only_the_users_of_their_area(app, client):
    areas.load_gso_rows(HANOI)
    make("qt_huyen", "admin", "524")
    make("hn_xa", "commune", "00004")
    make("hn_qt", "admin", "01")
    login(client, "qt_huyen")
    listing = fetch(client, "/admin/users").get_data(as_text=True)
    assert "commune" in listing and "hn_xa" not in listing and ">admin<" not in listing
    for name in ("hn_xa", "admin"):  # another province's user; the province's admin above
        uid = get(name).id
        assert fetch(client, f"/admin/users/{uid}").status_code == 404
        assert post(client, f"/admin/users/{uid}/active", {"active": "0"}, "/admin/users").status_code == 404
        assert post(client, f"/admin/users/{uid}/password", {"p-password": GOOD, "p-confirm": GOOD},
                    "/admin/users").status_code == 404
    assert get("hn_xa").active and get("admin").active
    # Nor give an area outside theirs, nor the whole country.
    for code in ("00004", "51", ""):
        r = create(client, area=code)
        assert r.status_code == 422 and "thuộc địa bàn của bạn" in r.get_data(as_text=True), code
    uid = get("commune").id
    r = post(client, f"/admin/users/{uid}", {"u-role": "commune", "u-area": "00004", "u-full_name": "x"})
    assert r.status_code == 422 and get("commune").area.code == "21052"
    # A national admin manages everyone.
    national("bo")
    login(client, "bo")
    listing = fetch(client, "/admin/users").get_data(as_text=True)
    assert "hn_xa" in listing and "qt_huyen" in listing
    assert fetch(client, f"/admin/users/{get('hn_xa').id}").status_code == 200


def test_an_edit_changes_role_area_and_name_and_is_audited(app, client):
    officer = app.test_client()
    login(officer, "police")
    login(client, "admin")
    uid = get("police").id
    r = post(client, f"/admin/users/{uid}", {"u-role": "commune", "u-area": "524", "u-full_name": "Tên Mới"})
    assert r.status_code == 303, r.get_data(as_text=True)[:800]
    u = get("police")
    assert (u.role, u.area.code, u.full_name) == ("commune", "524", "Tên Mới")
    assert fetch(officer, "/police").status_code == 302  # what they may see changed: log in again
    (e,) = audit_rows("update")
    old, new = json.loads(e.old_value), json.loads(e.new_value)
    assert (old["role"], old["area"], new["role"], new["area"]) == ("police", "21052", "commune", "524")
    page = fetch(client, f"/admin/users/{uid}").get_data(as_text=True)
    assert "Tên Mới" in page and "Bình Sơn" in page


def test_a_users_history_is_read_by_the_user_it_concerns(app, client):
    """Each change is filed under the user it concerns (``Event.subject_user_id``, indexed):
    the history of one user holds their changes and nobody else's."""
    login(client, "admin")
    assert create(client).status_code == 303
    assert create(client, username="khac").status_code == 303
    police = get("police")
    assert post(client, f"/admin/users/{police.id}",
                {"u-role": "police", "u-area": "21052", "u-full_name": "Tên Khác"}).status_code == 303
    moi, khac = get("moi"), get("khac")
    assert {e.subject_user_id for e in audit_rows("create")} == {moi.id, khac.id}
    assert [e.subject_user_id for e in audit_rows("update")] == [police.id]
    assert [c["new"]["username"] for c in users.history(moi)] == ["moi"]
    assert [(c["action"], c["new"]["full_name"]) for c in users.history(police)] == [("update", "Tên Khác")]


def test_deactivating_ends_the_users_sessions_at_once(app, client):
    victim = app.test_client()
    login(victim, "commune")
    assert fetch(victim, "/reports/ranking").status_code == 200
    login(client, "admin")
    uid = get("commune").id
    r = post(client, f"/admin/users/{uid}/active", {"active": "0"}, f"/admin/users/{uid}")
    assert r.status_code == 303
    assert get("commune").active is False
    r = fetch(victim, "/reports/ranking")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    fresh_token()
    token = csrf_token(victim)
    r = victim.post("/login", data={"username": "commune", "password": "demo", "csrf_token": token})
    assert r.status_code == 422  # a locked account cannot log in again
    assert [e.action for e in audit_rows()] == ["deactivate"]
    r = post(client, f"/admin/users/{uid}/active", {"active": "1"}, f"/admin/users/{uid}")
    assert r.status_code == 303 and get("commune").active
    # The old session stays ended: reactivating does not bring back the cookie of before.
    assert fetch(victim, "/reports/ranking").status_code == 302
    login(victim, "commune")
    assert [e.action for e in audit_rows()] == ["deactivate", "activate"]


def test_an_admin_cannot_lock_themselves(app, client):
    login(client, "admin")
    uid = get("admin").id
    assert "Bạn không thể tự khóa" in fetch(client, f"/admin/users/{uid}").get_data(as_text=True)
    r = post(client, f"/admin/users/{uid}/active", {"active": "0"}, f"/admin/users/{uid}")
    assert r.status_code == 303
    assert get("admin").active and audit_rows() == []
    assert fetch(client, "/admin/users").status_code == 200  # still logged in


def test_a_password_reset_ends_the_sessions_and_sets_the_new_one(app, client):
    victim = app.test_client()
    login(victim, "payer")
    login(client, "admin")
    uid = get("payer").id
    r = post(client, f"/admin/users/{uid}/password", {"p-password": "ngan", "p-confirm": "ngan"},
             f"/admin/users/{uid}")
    assert r.status_code == 422 and "ít nhất 10 ký tự" in r.get_data(as_text=True)
    assert fetch(victim, "/payments").status_code == 200
    r = post(client, f"/admin/users/{uid}/password", {"p-password": GOOD, "p-confirm": GOOD},
             f"/admin/users/{uid}")
    assert r.status_code == 303
    assert fetch(victim, "/payments").status_code == 302
    login(victim, "payer", GOOD)
    (e,) = audit_rows("password")
    assert "pbkdf2" not in (e.old_value + e.new_value)


def test_everyone_changes_their_own_password_and_keeps_this_session(app, client):
    other = app.test_client()
    login(other, "police")
    login(client, "police")
    r = post(client, "/account/password", {"current": "sai-mat-khau", "password": GOOD, "confirm": GOOD})
    assert r.status_code == 422 and "hiện tại không đúng" in r.get_data(as_text=True)
    r = post(client, "/account/password", {"current": "demo", "password": GOOD, "confirm": "khac-hoan-toan"})
    assert r.status_code == 422 and "không khớp" in r.get_data(as_text=True)
    r = post(client, "/account/password", {"current": "demo", "password": GOOD, "confirm": GOOD})
    assert r.status_code == 303
    assert fetch(client, "/police").status_code == 200  # this session goes on
    assert fetch(other, "/police").status_code == 302  # the other one ended
    login(other, "police", GOOD)
    assert [e.action for e in audit_rows()] == ["own_pw"]
    assert audit_rows()[0].user_id == get("police").id


def test_the_pages_are_for_admins_and_forms_need_the_csrf_token(app, client):
    login(client, "district")
    assert fetch(client, "/admin/users").status_code == 403
    assert fetch(client, "/account/password").status_code == 200
    login(client, "admin")
    r = client.post("/admin/users", data={"username": "moi", "role": "commune", "area": "21052",
                                          "password": GOOD, "confirm": GOOD})
    assert r.status_code in (400, 422) and get("moi") is None
    uid = get("commune").id
    r = client.post(f"/admin/users/{uid}/active", data={"active": "0"})
    assert r.status_code == 400 and get("commune").active
    r = client.post("/account/password", data={"current": "demo", "password": GOOD, "confirm": GOOD})
    assert r.status_code in (400, 422) and get("admin").check_password("demo")


def test_the_header_links_users_for_admins_only(app, client):
    login(client, "admin")
    assert 'href="/admin/users"' in fetch(client, "/admin/targets").get_data(as_text=True)
    login(client, "commune")
    html = fetch(client, "/account/password").get_data(as_text=True)
    assert 'href="/admin/users"' not in html and 'href="/account/password"' in html


# -- In Chromium -------------------------------------------------------------------------

SIZES = [pytest.param({"width": 360, "height": 740}, id="360px"),
         pytest.param({"width": 1366, "height": 768}, id="1366px")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    for base, _app in live_server(tmp_path_factory.mktemp("users")):
        yield base  # the server stops when the loop ends


@pytest.mark.browser
@pytest.mark.parametrize("viewport", SIZES)
def test_an_admin_creates_and_locks_a_user_in_the_browser(server, browser, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems = console_problems(page)
    name = f"canbo{viewport['width']}"
    try:
        log_in_as(page, server, "admin")
        page.click("header >> text=Người dùng")
        page.wait_for_url(lambda url: url.endswith("/admin/users"))
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.fill("#username", name)
        page.fill("#full_name", "Cán bộ Thử")
        page.select_option("#role", "commune")
        page.fill("#area", "21052")
        page.fill("#password", GOOD)
        page.fill("#confirm", GOOD)
        page.click("button:has-text('Tạo người dùng')")
        page.wait_for_selector("p.flash.success")
        assert name in page.locator("p.flash.success").inner_text()
        page.click(f"#users >> text={name}")
        page.wait_for_url(lambda url: re.search(r"/admin/users/[0-9]+$", url))
        assert page.locator("h1").inner_text().startswith(name)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.click("button:has-text('Khóa tài khoản')")
        page.wait_for_selector("h1 .tag.error")
        assert "Đã khóa" in page.locator("h1").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert problems == []
    finally:
        context.close()
