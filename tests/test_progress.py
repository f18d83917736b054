"""The campaign's indicators: exact counts, rates, targets, laggards."""
from datetime import datetime

from portal.extensions import db
from portal.models import Target
from portal.services import progress
from portal.services.areas import find_commune
from tests.factories import person, with_account


def test_counts_per_commune_and_program(app):
    a = person(name="Nguyễn Văn An", national_id="051050000001")
    with_account(a)
    a.reviewed_at = datetime(2024, 5, 3)
    b = person(name="Trần Thị Bích", sex="F", national_id="051150000002")
    with_account(b, recipient="guardian", holder="Trần Văn Cha")
    b.payment_method = "cash"
    c = person(name="Lê Văn Cường", national_id="051050000003", program="NCC")
    c.account_status, c.reviewed_at = "no_account", datetime(2024, 4, 1)
    d = person(name="Phạm Văn Dũng", national_id="051050000004")
    d.reviewed_at = datetime(2023, 12, 1)  # before the campaign: not counted
    e = person(name="Võ Văn Em", national_id="051050000005", status="stopped")
    db.session.commit()
    commune = find_commune("21052", "2024-05")
    cp = progress.commune_progress(None, [commune])[0]
    btxh, ncc = cp.programs["BTXH"], cp.programs["NCC"]
    assert (btxh.total, btxh.reviewed, btxh.with_account, btxh.own, btxh.guardian, btxh.cashless) == (3, 1, 2, 1, 1, 1)
    assert (ncc.total, ncc.reviewed, ncc.no_account) == (1, 1, 1)
    assert btxh.rate("cashless") == 33.3 and btxh.rate("paid_into_account") == 50.0
    assert cp.all.total == 4
    assert e.status == "stopped"


def test_targets_default_and_admin_rows(app):
    t = progress.targets()
    assert t[("BTXH", "cashless")] == 60 and t[("NCC", "cashless")] == 50
    db.session.add(Target(program="BTXH", indicator="cashless", percent=70, valid_from="0001-01"))
    db.session.commit()
    assert progress.targets()[("BTXH", "cashless")] == 70


def test_laggards_first(app):
    ahead = person(name="Nguyễn Văn An", national_id="051050000001")
    with_account(ahead)
    ahead.reviewed_at = datetime(2024, 5, 1)
    person(commune_code="21046", name="Trần Văn Bình", national_id="051050000002")
    db.session.commit()
    communes = [find_commune("21052", "2024-05"), find_commune("21046", "2024-05")]
    rows = progress.commune_progress(None, communes)
    goals = progress.targets()
    rows.sort(key=lambda cp: progress.laggard_key(cp, goals))
    assert rows[0].area.code == "21046"
    totals = progress.totals(rows)
    assert totals["BTXH"].total == 2 and totals["BTXH"].cashless == 1
