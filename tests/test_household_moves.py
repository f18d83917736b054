"""Splitting and grouping households: a confirmation page first (no JavaScript needed), then
an undo («Hoàn tác») while nothing has moved the person since (issue 13 §4)."""
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Beneficiary, Event, Household
from tests.conftest import csrf_token, login
from tests.factories import person


@pytest.fixture
def family(app):
    a = person(name="Nguyễn Văn An")
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=a.household)
    c = person(name="Phạm Văn Dũng", national_id="051070444555")
    db.session.commit()
    return a, b, c


def post_form(client, html, action):
    """Post the form of ``html`` whose action is ``action`` with its hidden fields."""
    form = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', html, re.S).group(0)
    return client.post(action, data=dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form)))


def household_events(bid):
    return db.session.scalars(select(Event).where(Event.beneficiary_id == bid, Event.field == "household_id")
                              .order_by(Event.id)).all()


def test_the_household_page_asks_before_splitting(client, family):
    a, b, _ = family
    login(client, "commune")
    page = client.get(f"/households/{a.household_id}").get_data(as_text=True)
    # The split button is a GET to the confirmation, not the change itself.
    assert re.search(rf'<form method="get" action="/beneficiaries/{b.id}/split">', page)
    assert f'method="post" action="/beneficiaries/{b.id}/split"' not in page
    r = client.get(f"/beneficiaries/{b.id}/split")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Xác nhận tách hộ" in html
    assert "Chuyển Trần Thị Bích (1950) ra khỏi hộ Nguyễn Văn An" in html
    assert "còn lại: 1 người" in html
    assert db.session.get(Beneficiary, b.id).household_id == a.household_id  # nothing moved yet


def test_split_then_undo_restores_the_household_and_removes_the_new_one(client, family):
    a, b, _ = family
    old = a.household_id
    login(client, "commune")
    confirm = client.get(f"/beneficiaries/{b.id}/split").get_data(as_text=True)
    r = post_form(client, confirm, f"/beneficiaries/{b.id}/split")
    assert r.status_code == 303
    new = db.session.get(Beneficiary, b.id).household_id
    assert new != old
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã tách Trần Thị Bích thành hộ riêng" in page and "Hoàn tác" in page
    event = household_events(b.id)[-1]
    r = post_form(client, page, f"/household-moves/{event.id}/undo")
    assert r.status_code == 303 and r.headers["Location"].startswith(f"/households/{old}")
    db.session.expire_all()
    assert db.session.get(Beneficiary, b.id).household_id == old
    assert db.session.get(Household, new) is None  # left empty by the undo: gone
    events = household_events(b.id)
    assert [(e.action, e.old_value, e.new_value) for e in events] == [
        ("update", str(old), str(new)), ("undo", str(new), str(old))]
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã hoàn tác: Trần Thị Bích trở lại hộ Nguyễn Văn An" in html
    assert f"/household-moves/{event.id}/undo" not in html  # not twice


def test_group_asks_then_undo_puts_the_person_back(client, family):
    a, _, c = family
    home = c.household_id
    login(client, "commune")
    r = client.get(f"/households/{a.household_id}/members?g-beneficiary_id={c.id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Xác nhận ghép hộ" in html
    assert "Chuyển Phạm Văn Dũng (1950) từ hộ Phạm Văn Dũng sang hộ Nguyễn Văn An" in html
    assert "sau khi ghép: 3 người" in html
    assert db.session.get(Beneficiary, c.id).household_id == home
    r = post_form(client, html, f"/households/{a.household_id}/members")
    assert r.status_code == 303 and "moved=" in r.headers["Location"]
    assert db.session.get(Beneficiary, c.id).household_id == a.household_id
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    event = household_events(c.id)[-1]
    r = post_form(client, page, f"/household-moves/{event.id}/undo")
    db.session.expire_all()
    assert db.session.get(Beneficiary, c.id).household_id == home
    assert db.session.get(Household, home) is not None  # the household they came back to
    assert db.session.get(Household, a.household_id) is not None  # keeps its two members


def test_undo_is_refused_once_the_person_moved_again(client, family):
    a, _, c = family
    login(client, "commune")
    token = csrf_token(client, f"/households/{a.household_id}")
    client.post(f"/households/{a.household_id}/members", data={"g-beneficiary_id": c.id, "csrf_token": token})
    first = household_events(c.id)[-1]
    client.post(f"/beneficiaries/{c.id}/split", data={"csrf_token": token})
    where = db.session.get(Beneficiary, c.id).household_id
    r = client.post(f"/household-moves/{first.id}/undo", data={"csrf_token": token})
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(Beneficiary, c.id).household_id == where  # nothing changed
    assert "đã thay đổi sau thao tác này" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert len(household_events(c.id)) == 2
    # The latest move can be undone, once: an undo is not itself undone.
    last = household_events(c.id)[-1]
    client.post(f"/household-moves/{last.id}/undo", data={"csrf_token": token})
    client.post(f"/household-moves/{last.id}/undo", data={"csrf_token": token})
    assert [e.action for e in household_events(c.id)] == ["update", "update", "undo"]


def test_undo_out_of_area_is_404_and_roles_are_checked(client, family, app):
    a, b, _ = family
    other = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường",
                   national_id="051060222333")
    partner = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Thị Hoa", sex="F",
                     national_id="051160222444", household=other.household)
    db.session.commit()
    login(client, "admin")
    token = csrf_token(client, f"/households/{other.household_id}")
    client.post(f"/beneficiaries/{partner.id}/split", data={"csrf_token": token})
    event = household_events(partner.id)[-1]
    client.post("/logout", data={"csrf_token": token})
    login(client, "commune")  # Bình Chánh's officer: Bình Hòa's records are not theirs
    token = csrf_token(client, "/search")
    assert client.post(f"/household-moves/{event.id}/undo", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/beneficiaries/{partner.id}/split").status_code == 404
    assert client.post("/household-moves/999999/undo", data={"csrf_token": token}).status_code == 404
    client.post("/logout", data={"csrf_token": token})
    login(client, "district")  # reads, does not edit households
    assert client.get(f"/beneficiaries/{b.id}/split").status_code == 403


def test_the_grouping_confirmation_without_a_person_is_the_household_page(client, family):
    a, _, _ = family
    login(client, "commune")
    r = client.get(f"/households/{a.household_id}/members")
    assert r.status_code == 200 and "Ghép vào hộ này" in r.get_data(as_text=True)
    assert client.get(f"/households/{a.household_id}/members?g-beneficiary_id=abc").status_code == 422
    assert client.get(f"/households/{a.household_id}/members?g-beneficiary_id=99999999").status_code == 404
