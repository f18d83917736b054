"""Merging two records of one person: field by field, nothing lost, undoable."""
import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Beneficiary, Event
from portal.services import checks
from tests.conftest import csrf_token, login
from tests.factories import person, with_account


@pytest.fixture
def twins(app):
    a = person(name="Đinh Thị Thủy", sex="F", national_id=None, birth=date(1950, 1, 1))
    b = person(name="Đinh Thị Thuỷ", sex="F", national_id="051150123456", birth=date(1950, 1, 1))
    with_account(b, number="4300205123456")
    db.session.flush()
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    return a, b


def test_beneficiary_page_offers_the_likely_twin(client, twins):
    a, b = twins
    login(client, "commune")
    html = client.get(f"/beneficiaries/{a.id}").get_data(as_text=True)
    assert "Có thể trùng với" in html and f"/beneficiaries/{a.id}/merge/{b.id}" in html


def test_merge_field_by_field_then_undo(client, twins):
    a, b = twins
    login(client, "commune")
    page = client.get(f"/beneficiaries/{a.id}/merge/{b.id}").get_data(as_text=True)
    assert 'name="national_id"' in page and 'name="account"' in page
    token = csrf_token(client, f"/beneficiaries/{a.id}/merge/{b.id}")
    r = client.post(f"/beneficiaries/{a.id}/merge/{b.id}",
                    data={"csrf_token": token, "national_id": "merged", "account": "merged",
                          "review": "merged", "full_name": "survivor"})
    assert r.status_code == 303
    a2, b2 = db.session.get(Beneficiary, a.id), db.session.get(Beneficiary, b.id)
    assert a2.full_name == "Đinh Thị Thủy" and a2.national_id == "051150123456"
    assert a2.account.number == "4300205123456" and a2.account_status == "has_account"
    assert (b2.status, b2.merged_into_id) == ("merged", a.id)
    assert not [f for f in b2.findings if f.resolved_at is None]
    assert {e.source for e in db.session.scalars(select(Event).where(Event.beneficiary_id == b.id,
                                                                      Event.field == "status"))} == {"merge"}
    # The merged record is out of the household, the search and the export, but not deleted.
    assert f'id="b{b.id}"' not in client.get(f"/households/{b.household_id}").get_data(as_text=True)
    assert "Đinh Thị Thuỷ" not in client.get("/search?q=dinh thi thuy").get_data(as_text=True)
    assert db.session.get(Beneficiary, b.id) is not None
    page = client.get(f"/beneficiaries/{a.id}").get_data(as_text=True)
    assert "Hoàn tác" in page
    merge_id = int(re.search(r'id="merge(\d+)"', page).group(1))
    r = client.post(f"/merges/{merge_id}/undo", data={"csrf_token": csrf_token(client, f"/beneficiaries/{a.id}")})
    assert r.status_code == 303
    a3, b3 = db.session.get(Beneficiary, a.id), db.session.get(Beneficiary, b.id)
    assert a3.national_id is None
    assert a3.account is None or a3.account.number is None
    assert (b3.status, b3.merged_into_id) == ("active", None)
    assert [f for f in b3.findings if f.resolved_at is None]  # its findings are open again
    r = client.post(f"/merges/{merge_id}/undo", data={"csrf_token": csrf_token(client, f"/beneficiaries/{a.id}")})
    assert db.session.get(Beneficiary, b.id).status == "active"


def test_merge_needs_rights_over_both(client, app):
    a = person(name="Lê Văn Cường", national_id="051060222333", birth=date(1960, 1, 1))
    b = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường", national_id="051060222333",
               birth=date(1960, 1, 1))
    db.session.commit()
    login(client, "commune")
    assert client.get(f"/beneficiaries/{a.id}/merge/{b.id}").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "district")
    assert client.get(f"/beneficiaries/{a.id}/merge/{b.id}").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "police")
    assert client.get(f"/beneficiaries/{a.id}/merge/{b.id}").status_code == 403


def test_two_programs_are_not_merged(client, app):
    a = person(name="Lê Văn Cường", national_id="051060222333", birth=date(1960, 1, 1))
    b = person(name="Lê Văn Cường", national_id="051060222333", birth=date(1960, 1, 1), program="NCC")
    db.session.commit()
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/merge/{b.id}", data={"csrf_token": csrf_token(client, "/search")})
    assert r.status_code == 422 and "hai chương trình" in r.get_data(as_text=True)
    assert db.session.get(Beneficiary, b.id).status == "active"


def test_unrelated_people_are_not_merged(client, app):
    a = person(name="Châu Thị Hà", sex="F", national_id="051142000001", birth=date(1942, 1, 1))
    b = person(name="Bùi Kim Bông", sex="F", national_id="051136000002", birth=date(1936, 1, 1))
    db.session.commit()
    login(client, "commune")
    r = client.post(f"/beneficiaries/{a.id}/merge/{b.id}", data={"csrf_token": csrf_token(client, "/search")})
    assert r.status_code == 422 and "không phải hồ sơ trùng" in r.get_data(as_text=True)
    assert db.session.get(Beneficiary, b.id).status == "active"


def test_undo_keeps_edits_made_after_the_merge(client, twins):
    from portal.services import merge as merging
    from portal.services import registry
    from portal.services.history import system_user
    a, b = twins
    b.phone = "0911111111"
    m = merging.merge(a, b, system_user(), {"phone": "merged", "national_id": "merged"})
    db.session.commit()
    checks.recheck(select(Beneficiary.id))
    assert "duplicate_id" not in {f.code for f in checks.findings_of(a.id)}  # b, merged, no longer counts
    data = registry.current_facts(a)
    data["phone"] = "0909123456"
    registry.correct(a, system_user(), data, a.version)
    db.session.commit()
    kept = merging.undo(m, system_user())
    db.session.commit()
    assert kept == ["phone"]
    assert db.session.get(Beneficiary, a.id).phone == "0909123456"
    assert db.session.get(Beneficiary, a.id).national_id is None
