"""A hold writes the history (issue 13): one Event per line held, by who held it, in the same
transaction; a bulk hold of many lines is one INSERT, not one per line."""
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import Event, Finding, PaymentLine
from portal.services import payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.conftest import csrf_token, login, user
from tests.factories import person


def _draft(n_blocked):
    for i in range(n_blocked):
        b = person(name=f"Người Bị Chặn {i}", national_id=f"0510509{i:05d}")
        db.session.add(Finding(beneficiary_id=b.id, code="id_year_mismatch", severity="error",
                               message="Số định danh không khớp năm sinh.", source="check"))
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    db.session.commit()
    return p


def _hold_events():
    return db.session.scalars(select(Event).where(Event.field == "hold").order_by(Event.id)).all()


def test_single_hold_from_the_page_writes_an_event(client, app):
    p = _draft(1)
    line = next(x for x in p.lines if x.status == "blocked")
    login(client, "commune")
    token = csrf_token(client, f"/payments/{p.id}")
    r = client.post(f"/payments/{p.id}/lines/{line.id}/hold",
                    data={"csrf_token": token, f"h{line.id}-note": " Chờ công an xác minh "})
    assert r.status_code == 303
    [e] = _hold_events()
    assert (e.source, e.action, e.new_value) == ("payment", "update", "Chờ công an xác minh")
    assert (e.payment_line_id, e.beneficiary_id) == (line.id, line.beneficiary_id)
    assert e.old_value.endswith("Số định danh không khớp năm sinh.")  # the blocking note it replaces
    assert e.user_id == user("commune").id


def test_a_refused_hold_writes_nothing(client, app):
    p = _draft(1)
    line = next(x for x in p.lines if x.status == "blocked")
    login(client, "commune")
    token = csrf_token(client, f"/payments/{p.id}")
    r = client.post(f"/payments/{p.id}/lines/{line.id}/hold", data={"csrf_token": token, f"h{line.id}-note": "  "})
    assert r.status_code == 422 and _hold_events() == []
    r = client.post(f"/payments/{p.id}/hold", data={"csrf_token": token, "bh-note": "x", "bh-line": [line.id, 0]})
    assert r.status_code == 422 and _hold_events() == []


def test_bulk_hold_from_the_page_writes_one_event_per_line(client, app):
    p = _draft(3)
    blocked = sorted(x.id for x in p.lines if x.status == "blocked")
    login(client, "commune")
    token = csrf_token(client, f"/payments/{p.id}")
    r = client.post(f"/payments/{p.id}/hold", data={"csrf_token": token, "bh-note": "Chờ xác minh", "bh-line": blocked})
    assert r.status_code == 303
    events = _hold_events()
    assert [e.payment_line_id for e in events] == blocked
    owners = {x.id: x.beneficiary_id for x in db.session.scalars(select(PaymentLine).where(PaymentLine.id.in_(blocked)))}
    assert [e.beneficiary_id for e in events] == [owners[i] for i in blocked]
    assert {(e.source, e.new_value, e.user_id) for e in events} == {("payment", "Chờ xác minh", user("commune").id)}


def test_bulk_hold_of_many_lines_is_one_insert(app):
    p = _draft(40)
    blocked = [x.id for x in p.lines if x.status == "blocked"]
    assert len(blocked) == 40
    inserts = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO EVENT"):
            inserts.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        payments.hold_many(p, blocked, "Chờ xác minh", system_user())
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.rollback()  # the same transaction: nothing of it stays
    assert len(inserts) == 1
    assert _hold_events() == []
    assert {x.status for x in db.session.scalars(select(PaymentLine).where(PaymentLine.id.in_(blocked)))} == {"blocked"}


def test_hold_without_a_user_is_the_systems(app):
    p = _draft(1)
    line = next(x for x in p.lines if x.status == "blocked")
    payments.hold(line, "Chờ")
    db.session.commit()
    [e] = _hold_events()
    assert e.user_id == system_user().id


def test_release_writes_an_event(client, app):
    p = _draft(1)
    line = next(x for x in p.lines if x.status == "blocked")
    payments.hold(line, "Chờ xác minh", system_user())
    db.session.commit()
    login(client, "commune")
    token = csrf_token(client, f"/payments/{p.id}")
    r = client.post(f"/payments/{p.id}/lines/{line.id}/release", data={"csrf_token": token})
    assert r.status_code == 303
    held, released = _hold_events()
    assert (released.old_value, released.new_value) == ("Chờ xác minh", None)
    assert (released.payment_line_id, released.beneficiary_id) == (line.id, line.beneficiary_id)
    assert released.user_id == user("commune").id and held.user_id == system_user().id
    html = client.get(f"/beneficiaries/{line.beneficiary_id}").get_data(as_text=True)
    assert "Tạm giữ chi trả" in html and "Chờ xác minh" in html  # the person's history shows it


def test_a_drafts_rebuild_keeps_its_holds_events_on_each_persons_new_line(app):
    """``refresh`` replaces a draft's lines: the hold events follow each person to their new
    line (a foreign key on PostgreSQL refused the delete), and a person who left the list
    keeps their event, without a line."""
    p = _draft(2)
    kept, gone = sorted((x for x in p.lines if x.status == "blocked"), key=lambda x: x.id)
    payments.hold_many(p, [kept.id, gone.id], "Chờ xác minh", system_user())
    db.session.commit()
    kept_person, gone_person = kept.beneficiary_id, gone.beneficiary_id
    db.session.get(type(gone.beneficiary), gone_person).status = "stopped"
    db.session.commit()
    payments.refresh(p, system_user())
    db.session.commit()
    db.session.expire_all()
    events = {e.beneficiary_id: e for e in _hold_events()}
    new_line = db.session.scalar(select(PaymentLine).where(
        PaymentLine.period_id == p.id, PaymentLine.beneficiary_id == kept_person))
    assert new_line.status == "held" and events[kept_person].payment_line_id == new_line.id
    assert events[gone_person].payment_line_id is None
