"""Continuity across the 2025 reform: a record registered in an old commune belongs, from
07/2025, to the new commune that absorbed it; the lists, progress and changes of a month
are under the units of that month, and the months before stay under the old ones."""
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Area, PaymentPeriod
from portal.services import areas, changes, clock, payments, progress, reports
from portal.services.areas import find_area, find_commune
from tests.conftest import user
from tests.factories import make_user, person, with_account

CHANH, SON, TUONG = "21052", "21040", "21061"  # Bình Chánh (old) → Xã Bình Sơn; Xã Vạn Tường


@pytest.fixture
def world(app):
    """Two people of Bình Chánh (one paid into an account), one of Bình Thuận (→ Vạn Tường)."""
    a = with_account(person(name="Nguyễn Văn An", national_id="051050123456", coefficient=1.5))
    b = person(name="Trần Thị Bích", sex="F", national_id="051150123457", coefficient=1.0)
    c = person(commune_code="21043", village="Thôn Mỹ Long", name="Lê Văn Cường",
               national_id="051050123458", coefficient=1.0)
    son = find_commune(SON, "2025-07")
    chairman = make_user("chutich", "chairman", son)
    officer = make_user("canbo", "commune", son)
    db.session.commit()
    return {"a": a, "b": b, "c": c, "son": son, "chanh": find_commune(CHANH, "2024-05"),
            "chairman": chairman, "officer": officer}


def test_commune_in_and_member_units(world):
    chanh, son = world["chanh"], world["son"]
    assert areas.commune_in(chanh, "2025-06") is chanh
    assert areas.commune_in(chanh, "2025-07") is son
    assert areas.commune_in(son, "2026-11") is son
    assert areas.member_units(son, "2025-06") == [son.id]
    merged = set(db.session.scalars(select(Area.code).where(Area.id.in_(areas.member_units(son, "2025-07")))))
    # Châu Ổ (old 21040), Bình Thạnh, Bình Chánh, Bình Nguyên, Bình Dương, Bình Trung, Bình Long
    assert merged == {"21040", "21046", "21052", "21055", "21070", "21082", "21088"}
    assert areas.member_units(chanh, "2025-07") == [chanh.id]  # nothing was merged into it
    owner = areas.owners([son, find_commune(TUONG, "2025-07")], "2025-07")
    assert owner[chanh.id] == son.id and owner[find_commune("21043", "2024-05").id] == find_commune(TUONG, "2025-07").id


def _lines(period):
    return sorted(line.beneficiary.full_name for line in period.lines)


def test_lists_before_and_after_the_reform(world):
    district = user("district")
    june = payments.build(world["chanh"], "2025-06", "BTXH", district)
    assert _lines(june) == ["Nguyễn Văn An", "Trần Thị Bích"]
    july = payments.build(world["son"], "2025-07", "BTXH", world["officer"])
    assert _lines(july) == ["Nguyễn Văn An", "Trần Thị Bích"]
    assert {line.method for line in july.lines} == {"account", "cash"}
    assert all(line.reference.startswith("21040-202507-BTXH-") for line in july.lines)
    # The old commune has no list after the reform, the new one none before it: no one twice.
    with pytest.raises(payments.PeriodError, match="không còn từ ngày 01/07/2025: danh sách do Xã Bình Sơn"):
        payments.build(world["chanh"], "2025-07", "BTXH", district)
    with pytest.raises(payments.PeriodError, match="có từ ngày 01/07/2025"):
        payments.build(world["son"], "2025-06", "BTXH", world["officer"])
    # A province builds the lists of the communes in force that month.
    province = find_area("51", "province")
    built, _ = payments.build_area(province, "2025-08", ("BTXH",), user("admin"))
    by_code = {p.commune.code: _lines(p) for p in built}
    assert by_code[SON] == ["Nguyễn Văn An", "Trần Thị Bích"] and by_code[TUONG] == ["Lê Văn Cường"]
    assert all(p.commune.valid_from == date(2025, 7, 1) for p in built)


def test_a_decision_after_the_reform_counts_in_the_new_commune(app, world):
    app.config["CAMPAIGN_MONTH"] = "2025-08"
    draft = payments.build(world["son"], "2025-09", "BTXH", world["officer"])
    change = changes.propose(world["b"], "stop", world["officer"], "2025-09", clause="1b")
    assert change.commune_id == world["son"].id  # counted under the commune of its month
    changes.decide(change, world["chairman"], True, "12/QĐ-UBND", date(2025, 8, 20))
    refreshed = payments.refresh_for_decision(change, world["chairman"])
    assert [p.id for p in refreshed] == [draft.id]
    assert _lines(draft) == ["Nguyễn Văn An"]
    assert not any(payments.stale(draft))
    decreases = changes.month_changes([world["son"].id], "2025-09")
    assert [c.beneficiary.full_name for c in decreases] == ["Trần Thị Bích"]


def test_progress_and_report_follow_the_month(app, world):
    son, chanh = world["son"], world["chanh"]
    app.config["CAMPAIGN_MONTH"] = "2026-11"
    [cp] = progress.commune_progress(world["officer"], [son])
    assert cp.programs["BTXH"].total == 2 and cp.programs["BTXH"].with_account == 1
    app.config["CAMPAIGN_MONTH"] = "2024-05"
    [old] = progress.commune_progress(user("district"), [chanh])
    assert old.programs["BTXH"].total == 2
    for commune, month, who in ((chanh, "2025-06", user("district")), (son, "2025-07", world["officer"])):
        p = payments.build(commune, month, "BTXH", who)
        payments.lock(p, who)
    db.session.commit()
    july = reports.monthly_report(son, "2025-07")
    june = reports.monthly_report(find_area("524", "district"), "2025-06")
    assert [(r["commune_code"], r["listed"]) for r in july["rows"] if r["program"] == "BTXH"] == [(SON, 2)]
    assert (CHANH, 2) in [(r["commune_code"], r["listed"]) for r in june["rows"] if r["program"] == "BTXH"]


def test_open_month(app):
    app.config["CAMPAIGN_MONTH"] = None
    assert clock.open_month() == f"{date.today():%Y-%m}"
    clock.set_open_month("2026-12")
    db.session.commit()
    assert clock.open_month() == "2026-12"
    assert clock.working_day(date(2027, 3, 5)) == date(2026, 12, 31)
    assert clock.working_day(date(2026, 12, 7)) == date(2026, 12, 7)
    assert clock.working_day(date(2026, 1, 7)) == date(2026, 12, 1)
    app.config["CAMPAIGN_MONTH"] = "2024-05"  # configuration wins over the data set's month
    assert clock.open_month() == "2024-05"
    with pytest.raises(ValueError):
        clock.set_open_month("2026-13")
    assert db.session.scalar(select(PaymentPeriod.id)) is None
