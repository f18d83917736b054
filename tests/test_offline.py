"""Idempotency keys (service and views), the outbox's CSRF endpoint, the service worker
and our one script. The browser side is tests/test_offline_browser.py."""
import re
from datetime import timedelta

import brotli
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Beneficiary, Event, Household, IdempotencyKey, Review, User, utcnow
from portal.services import idempotency
from tests.conftest import login
from tests.factories import person

HX = {"HX-Request": "true"}
ENC = {"Accept-Encoding": "br, gzip"}


# --- the service -------------------------------------------------------------------------

def test_new_keys_are_random_and_valid():
    keys = {idempotency.new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) == 22 and idempotency.valid_key(k) for k in keys)
    for bad in (None, "", "short", "x" * 65, "a" * 20 + "<>", "a" * 20 + " "):
        assert not idempotency.valid_key(bad)


def test_fingerprint_ignores_the_csrf_token_the_key_and_the_order():
    fields = [("b1-version", "3"), ("b1-number", "123"), ("csrf_token", "x"), ("idempotency_key", "k")]
    fp = idempotency.fingerprint("/beneficiaries/1/review", fields)
    assert fp == idempotency.fingerprint("/beneficiaries/1/review",
                                         [("b1-number", "123"), ("b1-version", "3"), ("csrf_token", "y")])
    assert fp != idempotency.fingerprint("/beneficiaries/1/review", [("b1-version", "3"), ("b1-number", "124")])
    assert fp != idempotency.fingerprint("/beneficiaries/2/review", fields)


def test_claim_record_find(app):
    uid = db.session.scalar(select(User.id).where(User.username == "commune"))
    row = idempotency.claim(uid, "k" * 22, "/p", "fp")
    idempotency.record(row, 200, {"HX-Trigger": "saved"}, b"<p>ok</p>")
    db.session.commit()
    found = idempotency.find(uid, "k" * 22, "/p", "fp")
    assert (found.status, found.headers, idempotency.stored_body(found)) == (200, {"HX-Trigger": "saved"}, b"<p>ok</p>")
    assert found.body_encoding is None
    with pytest.raises(idempotency.KeyReused):
        idempotency.find(uid, "k" * 22, "/p", "other fields")
    with pytest.raises(idempotency.KeyReused):
        idempotency.find(uid, "k" * 22, "/other", "fp")
    other = db.session.scalar(select(User.id).where(User.username == "admin"))
    assert idempotency.find(other, "k" * 22, "/p", "fp") is None  # keys are per user


def test_a_key_is_claimed_once(app):
    uid = db.session.scalar(select(User.id).where(User.username == "commune"))
    idempotency.claim(uid, "k" * 22, "/p", "fp")
    db.session.commit()
    with pytest.raises(IntegrityError):
        idempotency.claim(uid, "k" * 22, "/p", "fp")
    db.session.rollback()


def test_large_bodies_are_stored_compressed(app):
    uid = db.session.scalar(select(User.id).where(User.username == "commune"))
    body = ("<tr><td>Nguyễn Văn An</td></tr>" * 200).encode()
    row = idempotency.claim(uid, "k" * 22, "/p", "fp")
    idempotency.record(row, 200, {}, body)
    db.session.commit()
    assert row.body_encoding == "zlib" and len(row.body) < len(body) / 10
    assert idempotency.stored_body(row) == body


def test_keys_expire_after_seven_days(app):
    uid = db.session.scalar(select(User.id).where(User.username == "commune"))
    now = utcnow()
    old = idempotency.claim(uid, "o" * 22, "/p", "fp", now=now - timedelta(days=8))
    idempotency.claim(uid, "n" * 22, "/p", "fp", now=now - timedelta(days=6))
    db.session.commit()
    assert idempotency.find(uid, "o" * 22, "/p", "fp", now=now) is None  # expired: gone
    assert db.session.get(IdempotencyKey, old.id) is None
    idempotency.claim(uid, "o" * 22, "/p", "fp", now=now)  # and the key can be claimed anew
    idempotency.claim(uid, "x" * 22, "/p", "fp", now=now - timedelta(days=9))
    db.session.commit()
    assert idempotency.cleanup(now=now) == 1
    db.session.commit()
    assert sorted(db.session.scalars(select(IdempotencyKey.key))) == ["n" * 22, "o" * 22]


# --- the views ---------------------------------------------------------------------------

@pytest.fixture
def site(fresh_app):
    """The app (a context per request, as under a real server), a commune officer's client,
    and two people of one household: ``(app, client, a_id, b_id, household_id)``."""
    with fresh_app.app_context():
        a = person(name="Nguyễn Văn An")
        b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=a.household)
        db.session.commit()
        ids = a.id, b.id, a.household_id
    client = fresh_app.test_client()
    login(client, "commune")
    return (fresh_app, client) + ids


def card_fields(client, household_id, bid):
    """The hidden fields of a person's review form as the household page renders it."""
    html = client.get(f"/households/{household_id}").get_data(as_text=True)
    form = re.search(rf'<form[^>]*action="/beneficiaries/{bid}/review".*?</form>', html, re.S).group(0)
    return dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))


def save_data(client, household_id, bid, **values):
    data = card_fields(client, household_id, bid)
    data.update({f"b{bid}-account_status": "has_account", f"b{bid}-payment_method": "account",
                 f"b{bid}-bank_bin": "970405", f"b{bid}-number": "300717151681",
                 f"b{bid}-recipient_type": "self"})
    data.update({f"b{bid}-{k}": v for k, v in values.items()})
    return data


def applied(app, bid):
    """(reviews, review events, version) of a beneficiary."""
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Review).where(Review.beneficiary_id == bid)),
                db.session.scalar(select(func.count()).select_from(Event).where(
                    Event.beneficiary_id == bid, Event.source == "review")),
                db.session.get(Beneficiary, bid).version)


def keys_in(html):
    return re.findall(r'name="idempotency_key" value="([^"]+)"', html)


def test_every_form_of_the_household_page_carries_its_own_key(site):
    app, client, a, b, hid = site
    html = client.get(f"/households/{hid}").get_data(as_text=True)
    keys = keys_in(html)
    assert len(keys) == html.count('method="post"') - 2  # all but logout and language
    assert len(keys) == len(set(keys)) >= 2  # two cards (a split or a grouping asks first: GET)
    assert keys_in(client.get(f"/households/{hid}").get_data(as_text=True))[0] not in keys


def test_the_same_htmx_save_twice_applies_once_and_answers_the_same(site):
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    first = client.post(f"/beneficiaries/{a}/review", data=data, headers=HX)
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    after_first = applied(app, a)
    assert after_first[:2] == (1, 6)  # one visit: status, method, bank, number, holder, review date
    again = client.post(f"/beneficiaries/{a}/review", data=data, headers=HX)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert applied(app, a) == after_first
    # The same card, with fresh keys (never the one just used, nor the first answer's).
    first_html, again_html = first.get_data(as_text=True), again.get_data(as_text=True)
    strip = lambda h: re.sub(r'(name="(?:idempotency_key|csrf_token)" value=")[^"]+', r"\1", h)
    assert strip(first_html) == strip(again_html)
    assert "Đã lưu" in again_html and "hx-swap-oob" in again_html  # card and progress
    assert not set(keys_in(first_html)) & set(keys_in(again_html))
    assert data["idempotency_key"] not in again_html


def test_the_same_plain_save_twice_redirects_alike_and_applies_once(site):
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    first = client.post(f"/beneficiaries/{a}/review", data=data)
    again = client.post(f"/beneficiaries/{a}/review", data=data)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"] == f"/households/{hid}#b{a}"
    assert applied(app, a)[0] == 1
    assert "đã được ghi từ lần gửi trước" in client.get(f"/households/{hid}").get_data(as_text=True)


def test_a_new_key_is_a_new_save_and_meets_the_version_check(site):
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    assert client.post(f"/beneficiaries/{a}/review", data=data, headers=HX).status_code == 200
    stale = dict(data, idempotency_key=idempotency.new_key(), **{f"b{a}-number": "300717151682"})
    r = client.post(f"/beneficiaries/{a}/review", data=stale, headers=HX)
    assert r.status_code == 409 and "Người khác vừa lưu" in r.get_data(as_text=True)
    assert applied(app, a)[0] == 1
    fresh = save_data(client, hid, a, number="300717151682")  # the page again: new version, new key
    assert client.post(f"/beneficiaries/{a}/review", data=fresh, headers=HX).status_code == 200
    assert applied(app, a)[0] == 2


def test_the_same_key_with_other_fields_is_refused(site):
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    assert client.post(f"/beneficiaries/{a}/review", data=data, headers=HX).status_code == 200
    r = client.post(f"/beneficiaries/{a}/review", data=dict(data, **{f"b{a}-number": "999999999"}), headers=HX)
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#alerts"
    assert "đã được gửi trước đó với nội dung khác" in r.get_data(as_text=True)
    r = client.post(f"/beneficiaries/{b}/review", data=data, headers=HX)  # same key, another path
    assert r.status_code == 422
    assert applied(app, a)[0] == 1 and applied(app, b)[0] == 0


def test_a_refused_save_keeps_no_key(site):
    app, client, a, b, hid = site
    data = save_data(client, hid, a, number="")
    r = client.post(f"/beneficiaries/{a}/review", data=data, headers=HX)
    assert r.status_code == 422 and "Nhập số tài khoản" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    r = client.post(f"/beneficiaries/{a}/review", data=dict(data, **{f"b{a}-number": "300717151681"}), headers=HX)
    assert r.status_code == 200 and applied(app, a)[0] == 1


def test_keys_are_per_user(site):
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    assert client.post(f"/beneficiaries/{a}/review", data=data, headers=HX).status_code == 200
    admin = app.test_client()
    login(admin, "admin")
    mine = save_data(admin, hid, a, number="300717151682")
    mine["idempotency_key"] = data["idempotency_key"]
    r = admin.post(f"/beneficiaries/{a}/review", data=mine, headers=HX)
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    assert applied(app, a)[0] == 2


def test_a_save_without_a_key_works_as_before(site):
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    del data["idempotency_key"]
    assert client.post(f"/beneficiaries/{a}/review", data=data, headers=HX).status_code == 200
    assert client.post(f"/beneficiaries/{a}/review", data=data, headers=HX).status_code == 409
    assert applied(app, a)[0] == 1


def test_two_copies_racing_the_second_gets_the_first_answer(site, monkeypatch):
    """The copy that loses the race on the unique key answers with the winner's result."""
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    first = client.post(f"/beneficiaries/{a}/review", data=data, headers=HX)
    real_find, calls = idempotency.find, []

    def find_after_the_race(*args, **kwargs):  # the first look finds nothing: not yet committed
        calls.append(1)
        return None if len(calls) == 1 else real_find(*args, **kwargs)

    monkeypatch.setattr(idempotency, "find", find_after_the_race)
    again = client.post(f"/beneficiaries/{a}/review", data=data, headers=HX)
    assert len(calls) == 2
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert applied(app, a)[0] == 1 and first.status_code == 200


def test_two_copies_at_once_on_separate_connections(tmp_path, monkeypatch):
    """Two workers get the same save at the same moment (each its own connection, as under
    gunicorn): the second waits on the key, then answers with the first one's result."""
    import threading
    import time

    import portal.review.routes as routes
    from portal import create_app
    from portal.services import areas
    from tests.conftest import PG_URL, _config, _pg_database, fast_users
    cfg = _config(_pg_database("race") if PG_URL else f"sqlite:///{tmp_path / 'race.db'}")
    cfg.pop("SQLALCHEMY_ENGINE_OPTIONS", None)  # a pool of connections, not the tests' single one
    app = create_app(cfg)
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        fast_users()
        a = person()
        db.session.commit()
        aid, hid = a.id, a.household_id
    client = app.test_client()
    login(client, "commune")
    data = save_data(client, hid, aid)
    release, entered, answers = threading.Event(), [], {}
    real = routes.save_review

    def held(*args, **kwargs):  # the first copy holds its claim until the second has arrived
        entered.append(1)
        if len(entered) == 1:
            release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(routes, "save_review", held)

    def post(name):
        r = client.post(f"/beneficiaries/{aid}/review", data=data, headers=HX)
        answers[name] = (r.status_code, r.headers.get("Idempotent-Replayed"), r.get_data(as_text=True))

    first = threading.Thread(target=post, args=("first",))
    first.start()
    while not entered:
        time.sleep(0.01)
    second = threading.Thread(target=post, args=("second",))
    second.start()
    second.join(0.5)  # still waiting on the first one's claim (or already done: either way)
    release.set()
    first.join()
    second.join()
    assert answers["first"][:2] == (200, None)
    assert answers["second"][:2] == (200, "true")
    assert len(entered) == 1  # the second copy never ran the save
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Review)) == 1
        db.session.remove()
        db.engine.dispose()


def test_a_claim_without_its_answer_shows_the_page_as_it_is(site):
    """Committed with its change, the answer not yet stored: a retry changes nothing."""
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    fields = [(k, v) for k, v in data.items()]
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.username == "commune"))
        path = f"/beneficiaries/{a}/review"
        idempotency.claim(uid, data["idempotency_key"], path, idempotency.fingerprint(path, fields))
        db.session.commit()
    r = client.post(path, data=data, headers=HX)
    assert r.status_code == 200 and r.headers["HX-Refresh"] == "true"
    r = client.post(path, data=data, headers={"Referer": f"http://localhost/households/{hid}"})
    assert r.status_code == 303 and r.headers["Location"] == f"/households/{hid}"
    assert applied(app, a)[0] == 0


def test_an_expired_key_applies_again(site):
    app, client, a, b, hid = site
    data = save_data(client, hid, a)
    assert client.post(f"/beneficiaries/{a}/review", data=data, headers=HX).status_code == 200
    with app.app_context():
        row = db.session.scalar(select(IdempotencyKey))
        row.created_at -= timedelta(days=8)
        db.session.commit()
    r = client.post(f"/beneficiaries/{a}/review", data=data, headers=HX)
    assert r.status_code == 409  # not replayed: checked again, and the version is old


def test_splitting_a_household_twice_with_one_key_splits_once(site):
    app, client, a, b, hid = site
    html = client.get(f"/beneficiaries/{b}/split").get_data(as_text=True)  # the confirmation
    form = re.search(rf'<form method="post" action="/beneficiaries/{b}/split".*?</form>', html, re.S).group(0)
    data = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    first = client.post(f"/beneficiaries/{b}/split", data=data)
    again = client.post(f"/beneficiaries/{b}/split", data=data)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"] != f"/households/{hid}"
    assert again.headers["Idempotent-Replayed"] == "true"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Household)) == 2
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


def test_a_correction_sent_twice_with_one_key_is_made_once(site):
    app, client, a, b, hid = site
    page = client.get(f"/beneficiaries/{a}/edit").get_data(as_text=True)
    data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    data.update({"full_name": "Nguyễn Văn Ân", "sex": "M", "birth_year": "1950", "birth_date": "1950-03-04",
                 "national_id": "051050123456", "village": "Thôn An Thành", "monthly_amount": "720000"})
    first = client.post(f"/beneficiaries/{a}/edit", data=data)
    again = client.post(f"/beneficiaries/{a}/edit", data=data)
    assert first.status_code == again.status_code == 303
    assert again.headers["Idempotent-Replayed"] == "true" and again.headers["Location"] == first.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event).where(
            Event.beneficiary_id == a, Event.source == "correction", Event.field == "monthly_amount")) == 1


# --- the outbox's endpoint, our script and the service worker -----------------------------

def test_csrf_token_endpoint(site):
    app, client, a, b, hid = site
    r = client.get("/csrf-token")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert r.json["user"] == "commune" and len(r.json["token"]) > 20
    data = save_data(client, hid, a)
    data["csrf_token"] = r.json["token"]
    assert client.post(f"/beneficiaries/{a}/review", data=data, headers=HX).status_code == 200
    anonymous = app.test_client()
    r = anonymous.get("/csrf-token")  # the outbox asking without a session: 401, no page, no message
    assert r.status_code == 401 and r.json == {"error": "login"}
    assert "Vui lòng đăng nhập" not in anonymous.get("/login").get_data(as_text=True)


def test_one_script_of_our_own_deferred_fingerprinted_immutable(site):
    app, client, a, b, hid = site
    html = client.get(f"/households/{hid}").get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", html)
    assert len(scripts) == 2 and all(" defer " in s for s in scripts)  # htmx and ours
    src = re.search(r'src="(/assets/app\.[0-9a-f]{12}\.js)"', html).group(1)
    r = client.get(src, headers=ENC)
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert r.headers["Content-Encoding"] == "br" and r.mimetype == "text/javascript"
    js = brotli.decompress(r.data)
    print(f"\napp.js: {len(js)} B, {len(r.data)} B br")
    assert len(r.data) <= 3_500
    assert b"htmx:sendError" in js and b"localStorage" in js
    # Its texts come from the page, in the page's language.
    assert 'data-offline="Mất kết nối — đã lưu trên máy, sẽ gửi khi có mạng' in html


def test_the_service_worker_is_revalidated_and_names_the_current_assets(site):
    app, client, a, b, hid = site
    r = client.get("/sw.js", headers=ENC)
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["Service-Worker-Allowed"] == "/"
    assert r.headers["Content-Encoding"] == "br" and r.headers.get("ETag")
    source = brotli.decompress(r.data).decode()
    print(f"\nsw.js: {len(source)} B, {len(r.data)} B br")
    assets = re.findall(r'"(/assets/[^"]+)"', source)
    html = client.get(f"/households/{hid}").get_data(as_text=True)
    assert sorted(assets) == sorted(set(re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)))
    for url in assets:
        assert client.get(url).status_code == 200
    assert "/*version*/" not in source and "/*assets*/" not in source
    assert client.get("/sw.js", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    # Offline, the worklist only; never a POST.
    assert "(villages|households)" in source and 'r.method !== "GET"' in source
