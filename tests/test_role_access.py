"""What each role may open (issue 13 §1): the registry export for the officers and the
levels above, the payment files for the post office, the verification list for the police;
full IDs and account numbers only where the role's work needs them, masked elsewhere; jobs
of a kind a role may not use can be neither started nor opened."""
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Account, Beneficiary, Event, Job
from portal.services import jobs, payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from portal.web import reveal
from tests.conftest import csrf_token, login, user
from tests.factories import make_user, person, with_account

FULL_ID, FULL_ACCOUNT = "051050123456", "4300205123456"
ROLES = ("admin", "district", "commune", "chairman", "police", "payer")


@pytest.fixture
def world(app):
    b = with_account(person(name="Nguyễn Văn An", national_id=FULL_ID), number=FULL_ACCOUNT)
    b.account_status = "has_account"
    make_user("chairman", "chairman", "21052")
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.lock(p, system_user())
    db.session.commit()
    return {"b": b.id, "period": p.id, "household": b.household_id, "village": b.village_id,
            "commune": b.commune_id}


# role → expected answer per route; "full"/"masked": 200 and how the ID and account show.
ALLOWED, FORBIDDEN = 200, 403
TABLE = {
    #                      admin     district  commune   chairman  police     payer
    "/export":            (ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN),
    "/export?format=xlsx": (ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN),
    "/police/export":     (ALLOWED, FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN),
    "/police":            (ALLOWED, FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN),
    "/payments/{period}/provider.csv": (ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED),
    "/payments/{period}/list.xlsx": (ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED),
    "/changes":           (ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN),
    "/imports/new":       (ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    # The people's pages: the officers and the police, not the post office.
    "/households/{household}": (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN),
    "/villages/{village}": (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN),
    "/communes/{commune}/people": (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN),
    "/search?q=an":       (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN),
    "/quality/communes/{commune}": (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN),
    # Outreach (with phone numbers): the officers only.
    "/villages/{village}/visits": (ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN),
    "/communes/{commune}/outreach": (ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN),
}
# What the person's pages show of the ID and the account number, per role.
SHOWN = {"admin": ("full", "full"), "district": ("full", "full"), "commune": ("full", "full"),
         "chairman": ("full", "full"), "police": ("full", "masked"), "payer": ("masked", "masked")}


@pytest.mark.parametrize("role", ROLES)
def test_routes_by_role(client, world, role):
    login(client, role)
    for route, answers in TABLE.items():
        url = route.format(**world)
        if url.startswith("/police") and role == "admin":
            continue  # a province admin has no commune to verify: not a rule of this table
        status = client.get(url).status_code
        assert status == answers[ROLES.index(role)], (role, url, status)


@pytest.mark.parametrize("role", ROLES)
def test_person_pages_mask_by_role(client, world, role):
    login(client, role)
    want_id, want_account = SHOWN[role]
    for url in (f"/beneficiaries/{world['b']}", f"/households/{world['household']}",
                "/search?q=Nguyen+Van+An"):
        if role == "payer" and not url.startswith("/beneficiaries"):
            continue  # not theirs to read (test_routes_by_role)
        r = client.get(url)
        assert r.status_code == 200, url
        html = r.get_data(as_text=True)
        if url.startswith("/beneficiaries"):
            assert (FULL_ID in html) == (want_id == "full"), (role, url)
            assert (FULL_ACCOUNT in html) == (want_account == "full"), (role, url)
            assert FULL_ID[-4:] in html and FULL_ACCOUNT[-4:] in html
            # No link to a page the role may not open (the household, the village).
            assert ("/households/" in html) == (role != "payer"), (role, url)
        elif role in ("police", "payer"):  # lists and households: masked for them
            assert FULL_ID not in html and FULL_ACCOUNT not in html, (role, url)


@pytest.mark.parametrize("role", ROLES)
def test_history_values_masked_by_role(client, world, role):
    """The history of a person shows old and new IDs and account numbers as the role may read them."""
    old_id, old_account = "051050654321", "4300205999888"
    db.session.add_all([
        Event(beneficiary_id=world["b"], user_id=user("commune").id, source="correction", action="update",
              field="national_id", old_value=old_id, new_value=FULL_ID),
        Event(beneficiary_id=world["b"], user_id=user("commune").id, source="review", action="update",
              field="number", old_value=old_account, new_value=FULL_ACCOUNT)])
    db.session.commit()
    login(client, role)
    html = client.get(f"/beneficiaries/{world['b']}").get_data(as_text=True)
    want_id, want_account = SHOWN[role]
    assert (old_id in html) == (want_id == "full") and old_id[-4:] in html
    assert (old_account in html) == (want_account == "full") and old_account[-4:] in html
    with client.application.test_request_context():
        assert reveal("phone", "0905123456", user("payer")) == "0905123456"
        assert reveal("holder_national_id", FULL_ID, user("payer")) != FULL_ID
        assert reveal("account_number", FULL_ACCOUNT, user("police")) != FULL_ACCOUNT


def test_export_job_kinds_by_role(client, world, app):
    app.config["JOB_ROWS"] = 0  # any export goes to a job
    with pytest.raises(PermissionError):
        jobs.submit("export_registry", user("payer"), user("payer").area, {}, "x")
    with pytest.raises(PermissionError):
        jobs.submit("police_workbook", user("commune"), user("commune").area, {}, "x")
    login(client, "payer")
    token = csrf_token(client, "/payments")
    assert client.post("/export", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    # The commune officer's export, then the officer becomes the post office's user: the
    # job and its file are no longer theirs to open.
    login(client, "commune")
    token = csrf_token(client, "/export")
    r = client.post("/export", data={"csrf_token": token})
    assert r.status_code == 303
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert client.get(f"/jobs/{job_id}").status_code == 200
    assert client.get(f"/jobs/{job_id}/file").status_code == 200
    officer = user("commune")
    assert db.session.get(Job, job_id).kind == "export_registry"
    assert job_id in [j.id for j in db.session.scalars(jobs.visible(officer))]
    officer.role = "payer"
    db.session.commit()
    assert job_id not in [j.id for j in db.session.scalars(jobs.visible(officer))]
    assert client.get(f"/jobs/{job_id}/file").status_code in (302, 404)  # the role change ended the session, or 404
    login(client, "commune")
    assert client.get(f"/jobs/{job_id}").status_code == 404
    assert client.get(f"/jobs/{job_id}/file").status_code == 404
    assert f"/jobs/{job_id}" not in client.get("/jobs").get_data(as_text=True)


def test_every_job_kind_names_its_roles(app):
    real = {k: r for k, r in jobs.ROLES.items() if not k.startswith("test_")}
    assert {"export_registry", "police_workbook", "import_read", "import_commit", "build_lists",
            "check_data"} <= set(real)
    assert all(r for r in real.values()), real
    assert "payer" not in jobs.ROLES["export_registry"] and "police" not in jobs.ROLES["export_registry"]


@pytest.mark.parametrize("role", ["payer", "police"])
def test_walk_never_shows_what_the_role_may_not_read(demo_app, role):
    """Every page the post office and the police reach by links from their start page (and
    the person pages of their area): no full account number for either, no full ID for the
    post office — whatever the registry holds."""
    from tests.test_budgets import decoded, walk
    with demo_app.app_context():
        ids = set(db.session.scalars(select(Beneficiary.national_id).where(Beneficiary.national_id.is_not(None))))
        accounts = set(db.session.scalars(select(Account.number).where(Account.number.is_not(None))))
        some = db.session.scalars(select(Beneficiary).join(Account).where(
            Beneficiary.national_id.is_not(None)).order_by(Beneficiary.id).limit(3)).all()
        extra = [f"/beneficiaries/{b.id}" for b in some] + [f"/households/{b.household_id}" for b in some]
    assert len(ids) > 1000 and len(accounts) > 1000
    client = demo_app.test_client()
    login(client, role)
    pages = [p["url"] for p in walk(client, "/", limit=80)["pages"]] + extra
    forbidden = accounts | (ids if role == "payer" else set())
    seen = []
    for url in pages:
        r = client.get(url, headers={"Accept-Encoding": "identity"})
        if r.status_code != 200 or r.mimetype != "text/html":
            continue
        html = decoded(r.get_data(), r.headers.get("Content-Encoding"))
        leaks = set(re.findall(r"\d{9,19}", html)) & forbidden
        assert not leaks, (role, url, sorted(leaks)[:3])
        seen.append(url)
    assert len(seen) >= 20 and any(u.startswith("/beneficiaries/") for u in seen)
