"""Users from the command line: every role the configuration relies on can be created, from
the one list of roles (``portal.models.PERSON_ROLES``), and a commune chairman created so
decides after the 2025 reform (Decree 147/2025/NĐ-CP). The admin's page ``/admin/users``
makes users too, with the same rules (``services.users``, tests/test_users_admin.py)."""
from datetime import date

from sqlalchemy import select

from portal.extensions import db
from portal.models import PERSON_ROLES, ROLES, Beneficiary, ChangeProposal, Household, User
from portal.services import changes
from portal.services.areas import find_commune, get_or_create_village
from tests.conftest import csrf_token, login

# The commune each deciding role works in: the district Labour division at Bình Sơn (524),
# the chairman at the new Xã Bình Sơn (21040 from 1/7/2025).
AREA_FOR = {"district": "524", "chairman": "21040"}


def create(runner, username, role, area, password="mat-khau-9"):
    return runner.invoke(args=["create-user", username, "--role", role, "--area", area,
                               "--password", password, "--name", username])


def test_the_cli_offers_every_role_but_system(app):
    from portal.cli import create_user
    offered = next(p for p in create_user.params if p.name == "role").type.choices
    assert set(offered) == set(PERSON_ROLES) == set(ROLES) - {"system"}


def test_every_role_the_configuration_names_can_be_created(app, runner):
    deciding = {role for _, role in app.config["DECIDING_ROLES"]}
    assert "chairman" in deciding
    for role in deciding:
        r = create(runner, f"cfg_{role}", role, AREA_FOR.get(role, "21040"))
        assert r.exit_code == 0, (role, r.output)
        assert role in r.output


def test_the_system_role_is_not_for_people(app, runner):
    r = create(runner, "robot", "system", "524")
    assert r.exit_code == 2 and "system" in r.output
    assert db.session.scalar(select(User).where(User.username == "robot")) is None


def test_a_chairman_created_from_the_cli_decides_after_the_reform(app, runner, client):
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    assert changes.deciding_role() == "chairman"
    r = create(runner, "chutich_cli", "chairman", "21040")
    assert r.exit_code == 0, r.output
    chairman = db.session.scalar(select(User).where(User.username == "chutich_cli"))
    son = find_commune("21040", "2025-08")
    assert chairman.area_id == son.id  # the new Xã Bình Sơn, not Thị trấn Châu Ổ
    r = create(runner, "canbo_cli", "commune", "21040")
    assert r.exit_code == 0, r.output
    officer = db.session.scalar(select(User).where(User.username == "canbo_cli"))
    village = get_or_create_village(son, "Thôn Phú Long")
    b = Beneficiary(program="BTXH", commune_id=son.id, village_id=village.id, full_name="Võ Văn Tám",
                    name_folded="vo van tam", birth_year=1950, national_id="051050000088", coefficient=1.0,
                    household=Household(commune_id=son.id, village_id=village.id, head_name="Võ Văn Tám"))
    db.session.add(b)
    db.session.flush()
    c = changes.propose(b, "stop", officer, "2025-09", clause="1b")
    db.session.commit()
    login(client, "chutich_cli", "mat-khau-9")  # the password set by the CLI
    token = csrf_token(client, "/changes")
    r = client.post(f"/changes/{c.id}/decide", data={
        "csrf_token": token, "decision": "approve", f"d{c.id}-decision_number": "7/QĐ-UBND",
        f"d{c.id}-decision_date": "2025-08-20"})
    assert r.status_code in (200, 303), r.get_data(as_text=True)[:500]
    c = db.session.get(ChangeProposal, c.id)
    db.session.refresh(c)
    assert (c.status, c.decided_by_id, c.decision_date) == ("approved", chairman.id, date(2025, 8, 20))
