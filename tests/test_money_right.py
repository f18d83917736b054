"""The payment list is money: a list built out of order never pays a month twice, a list
is never built for a far month, and a locked list says who changed after its lock
(issue 10, from the new-user trial)."""
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import ChangeProposal
from portal.services import changes, payments
from portal.services.areas import find_commune
from portal.services.history import system_user
from portal.vn.remarks import read_remark
from tests.conftest import login, user
from tests.factories import person


@pytest.fixture
def resumed(app):
    """Bích, suspended, resumed from 2024-07 with arrears from 2024-05."""
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    b.status = "suspended"
    db.session.commit()
    change = changes.propose(b, "resume", system_user(), "2024-07", arrears_from="2024-05")
    changes.decide(change, system_user(), True, "15/QĐ-UBND", date(2024, 6, 25))
    db.session.commit()
    return b


def _line(period, b):
    return next(line for line in period.lines if line.beneficiary_id == b.id)


def test_a_month_paid_in_arrears_elsewhere_is_not_paid_again(resumed):
    b, commune, u = resumed, find_commune("21052", "2024-07"), system_user()
    july = payments.build(commune, "2024-07", "BTXH", u)         # July pays May-June in arrears
    august = payments.build(commune, "2024-08", "BTXH", u)       # built before July is locked:
    assert _line(august, b).arrears_months == 3                  # its arrears cover May-July
    payments.lock(august, u)
    db.session.commit()
    # July's draft pays July, which August's list already paid in arrears: the lock refuses.
    with pytest.raises(payments.PeriodError, match="Cập nhật danh sách"):
        payments.lock(july, u)
    payments.refresh(july, u)
    line = _line(july, b)
    assert line.status == "blocked" and "đã được trả (truy lĩnh) trong danh sách tháng 08/2024" in line.note


def test_arrears_follow_a_list_locked_meanwhile(resumed):
    b, commune, u = resumed, find_commune("21052", "2024-07"), system_user()
    august = payments.build(commune, "2024-08", "BTXH", u)       # arrears May-July, July not yet final
    july = payments.build(commune, "2024-07", "BTXH", u)
    payments.lock(july, u)                                       # now May-July are paid by July's list
    db.session.commit()
    with pytest.raises(payments.PeriodError, match="truy lĩnh đã trả"):
        payments.lock(august, u)
    payments.refresh(august, u)
    assert _line(august, b).arrears == 0
    payments.lock(august, u)


def test_a_list_is_never_built_for_a_far_month(app):
    commune = find_commune("21052", "2024-05")
    with pytest.raises(payments.PeriodError, match="chỉ lập tới tháng"):
        payments.build(commune, "2099-12", "BTXH", system_user())
    with pytest.raises(payments.PeriodError):
        payments.build_area(commune, "2099-12", ["BTXH"], system_user())
    assert payments.check_month("2027-01", today=date(2026, 12, 6)) == "2027-01"
    with pytest.raises(payments.PeriodError):
        payments.check_month("2027-02", today=date(2026, 12, 6))


def test_a_locked_list_says_who_changed_after_the_lock(client, app):
    a = person(name="Nguyễn Văn An", coefficient=1.5)
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    db.session.commit()
    commune, u = find_commune("21052", "2024-06"), system_user()
    june = payments.build(commune, "2024-06", "BTXH", u)
    payments.lock(june, u)
    db.session.commit()
    assert payments.changed_after_lock(june) == {}
    # A list uploaded after the lock states Bích's death in May: stop from June.
    changes.propose_stated(b, read_remark("Đã chết ngày 2/5/2024", "2024-05").change, user("commune"))
    # An officer's stop of An from June is approved after the lock.
    stop = changes.propose(a, "stop", user("commune"), "2024-06", clause="1b")
    changes.decide(stop, user("district"), True, "20/QĐ-UBND", date(2024, 6, 20))
    db.session.commit()
    changed = payments.changed_after_lock(june)
    assert set(changed) == {a.id, b.id}
    assert "Đã chết ngày 2/5/2024" in changed[b.id] and "thôi hưởng từ 06/2024" in changed[a.id]
    login(client, "payer")
    html = client.get(f"/payments/{june.id}").get_data(as_text=True)
    assert "2 người trong danh sách đã khóa này có thay đổi sau khi khóa" in html
    assert db.session.scalar(select(ChangeProposal).where(ChangeProposal.beneficiary_id == b.id)).status == "proposed"
