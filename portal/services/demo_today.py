"""The demo world carried on to today (December 2026), across the 2025 reform.

:mod:`portal.services.demo` builds Bình Sơn district as it was in May 2024, its lists of
January to May 2024 paid. :func:`run_to_today` goes on month by month, through the
product's own functions, from June 2024 to November 2026:

- the campaign's visits go on, so that more people are reviewed and paid into accounts
  month after month;
- the lists: until June 2025 the district builds and locks its 22 communes' lists; from
  July 2025 (no district: Law on the Organisation of Local Government 2025) each of the
  five new communes has its own, paying the people of the old communes merged into it
  (``areas.commune_in``); the BTXH standard level is 500,000 đồng from July 2024 (Decree
  76/2024/NĐ-CP), read from the dated levels;
- the post office's results, a few failed or returned;
- changes, each decided by the level of its day: the district before 1/7/2025, the
  commune chairman after (Decree 147/2025/NĐ-CP).

November 2026 is paid everywhere but in Xã Bình Sơn (21040), the demo commune officer's,
whose month is left for the user to do (import, review, list, results, report); December
2026 is the open month (``clock.set_open_month``). Deterministic for ``seed``; every
person is invented.
"""
import random
from datetime import date, timedelta

from sqlalchemy import bindparam, func, insert, select

from ..extensions import db
from ..models import (Account, Area, Beneficiary, Event, Household, MonthlyReport, PaymentLine, PaymentPeriod,
                      Review, User)
from . import areas, changes, clock, history, months, payments, pension, reports
from . import demo
from .demo import BANK_MIX, _Dated, _World, _at, _bank_names, _draw_results, _open_month, record_results
from .history import system_user
from ..vn.text import fold

FIRST, LAST = "2024-06", "2026-11"  # the months this module pays (May 2024 and before: demo.pay_months)
OPEN_MONTH = "2026-12"
# Communication sessions of Xã Bình Sơn after the reform: (day, village index or None,
# place, attendees, topic); the open month has two.
TODAY_SESSIONS = [
    (date(2025, 9, 16), None, "Hội trường UBND xã Bình Sơn", 85, "Trợ cấp hưu trí xã hội và nhận qua tài khoản"),
    (date(2026, 11, 12), 0, "Nhà văn hóa thôn", 29, "Mở tài khoản miễn phí tại điểm giao dịch"),
    (date(2026, 12, 3), 1, "Nhà văn hóa thôn", 34, "Lợi ích của nhận trợ cấp qua tài khoản"),
    (date(2026, 12, 5), 2, "Sân nhà trưởng thôn", 21, "Hướng dẫn dùng ví điện tử, giải đáp thắc mắc"),
]
AS_OF = date(2026, 12, 7)  # the demo's "today": results of every month paid before it are in
LEFT_FOR_THE_USER = "21040"  # Xã Bình Sơn's November 2026
NEW_COMMUNES = ("21040", "21061", "21085", "21100", "21109")  # Bình Sơn's units from 1/7/2025
# Per month, of the people not yet visited / visited without an account: how many are
# visited now / open an account (the campaign slows as it nears its end).
P_VISIT, P_OPEN = 0.08, 0.05


def _people_without(rng, month, share, unreviewed):
    """A ``share`` of the active people not yet reviewed (``unreviewed``) or reviewed
    without an account, drawn with ``rng``, in id order."""
    cond = (Beneficiary.reviewed_at.is_(None) if unreviewed else
            Beneficiary.account_status.in_(("opening", "no_account", "unknown")) & Beneficiary.reviewed_at.is_not(None))
    ids = db.session.scalars(select(Beneficiary.id).where(
        Beneficiary.status == "active", Beneficiary.deceased.is_(False), cond).order_by(Beneficiary.id)).all()
    return sorted(rng.sample(ids, int(len(ids) * share))) if ids else []


def _visits(w, month, officers, bank_names):
    """The month's door-to-door visits, written as ``review.save_review`` writes them (the
    record's fields, an ``Account``, a ``Review`` and one ``Event`` per field), in bulk:
    people not yet visited are visited; people without an account open one."""
    rng = w.rng
    first = months.start(month)
    visited = _people_without(rng, month, P_VISIT, True)
    opening = _people_without(rng, month, P_OPEN, False)
    if not visited and not opening:
        return 0
    people = {b.id: b for b in db.session.scalars(select(Beneficiary).where(
        Beneficiary.id.in_(visited + opening)))}
    reviews, events, accounts, updates = [], [], [], []
    for bid in visited + opening:
        b = people[bid]
        day = first + timedelta(days=rng.randint(0, 27))
        while day.weekday() == 6:
            day -= timedelta(days=1)
        at = _at(day, rng.randint(7, 16), rng.randint(0, 59))
        officer = officers.get(b.commune_id) or officers[None]
        status = "has_account" if (bid in opening or rng.random() < 0.55) else rng.choice(
            ("opening", "no_account", "no_account"))
        method = "account" if status == "has_account" and rng.random() < 0.9 else "cash"
        fields = [("account_status", b.account_status, status), ("payment_method", b.payment_method, method),
                  ("reviewed_at", b.reviewed_at.isoformat() if b.reviewed_at else None, at.isoformat())]
        if status == "has_account" and b.account is None:
            bin_ = w.weighted([(x[0], x[1]) for x in BANK_MIX])
            _, _, prefix, length = next(x for x in BANK_MIX if x[0] == bin_)
            number = w.account_number(prefix, length) if prefix is not None else w.mobile(bin_)
            accounts.append({"beneficiary_id": bid, "bank_bin": bin_, "bank_text": bank_names.get(bin_, bin_),
                             "number": number, "holder_name": b.full_name, "recipient_type": "self"})
            fields += [("bank_bin", None, bin_), ("number", None, number), ("holder_name", None, b.full_name)]
        for field, old, new in fields:
            if old != new:
                events.append({"beneficiary_id": bid, "user_id": officer.id, "at": at, "source": "review",
                               "action": "update", "field": field, "old_value": old, "new_value": new})
        reviews.append({"beneficiary_id": bid, "user_id": officer.id, "visited_on": day,
                        "account_status": status, "note": None, "created_at": at})
        updates.append({"_id": bid, "account_status": status, "payment_method": method, "reviewed_at": at,
                        "reviewed_by_id": officer.id, "no_account_reason":
                        None if status == "has_account" else "Chưa mở tài khoản", "updated_at": at,
                        "version": b.version + 1})
    for model, batch in ((Account, accounts), (Review, reviews), (Event, events)):
        if batch:
            db.session.execute(insert(model.__table__), batch)
    t = Beneficiary.__table__
    db.session.execute(t.update().where(t.c.id == bindparam("_id")).values(
        {k: bindparam(k) for k in updates[0] if k != "_id"}), updates)
    db.session.expire_all()
    return len(updates)


def _story_person(rng, commune_ids, fits, avoid):
    people = db.session.scalars(select(Beneficiary).where(
        Beneficiary.program == "BTXH", Beneficiary.status == "active", Beneficiary.deceased.is_(False),
        Beneficiary.commune_id.in_(commune_ids), Beneficiary.id.not_in(list(avoid) or [0]))
        .order_by(Beneficiary.id)).all()
    found = [b for b in people if fits(b)]
    return rng.choice(found) if found else None


def run_to_today(seed: int = 2024) -> dict:
    """Pay June 2024 to November 2026 as described in the module's docstring (and the cash
    of May 2024 still pending on the 2024 demo's "today") and open December 2026. The
    caller then moves the demo users to today's units (:func:`demo.create_demo_users`). Needs :func:`demo.build_demo` and :func:`demo.pay_months`
    first; does nothing when lists of June 2024 exist. Flushes; the caller commits. Returns
    ``{"months", "periods", "lines", "results", "visits", "changes"}``."""
    if not db.session.scalar(select(func.count()).select_from(PaymentPeriod)) or db.session.scalar(
            select(func.count()).select_from(PaymentPeriod).where(PaymentPeriod.month == FIRST)):
        return {"skipped": True}
    rng = random.Random(seed + 11)
    w = _World(seed + 12)
    w.used_ids.update(db.session.scalars(select(Beneficiary.national_id).where(Beneficiary.national_id.is_not(None))))
    bank_names = _bank_names()
    by_name = {u.username: u for u in db.session.scalars(select(User))}
    district, officer = by_name["district"], by_name["commune"]
    district_area = areas.find_area("524", "district")
    province = areas.find_area("51", "province", on=date(2026, 12, 1))
    new_communes = [areas.find_area(code, "commune", on=date(2026, 12, 1)) for code in NEW_COMMUNES]
    son = new_communes[0]
    chanh = areas.find_area("21052", "commune")
    # The province's people: the demo's users of today, created now (their passwords are
    # set again by create_demo_users at the end), and the chairman of each new commune.
    province_user = _user("province", "province", province, "Sở Y tế tỉnh Quảng Ngãi")
    chairmen = {c.id: _user("chairman" if c is son else f"chutich-{c.code}", "chairman", c,
                            f"Chủ tịch UBND {c.full_name}") for c in new_communes}
    system = system_user()
    payer = by_name["payer"]
    counts = {"months": 0, "periods": 0, "lines": 0, "results": 0, "visits": 0, "changes": 0, "transfers": 0,
              "reports": 0}
    missed, taken = set(), set()
    _finish_may_2024(rng, payer)
    for month in demo.PAID_MONTHS:
        counts["reports"] += _make_reports(month, [(district_area, district)])

    def decide(change, day, number, who):
        with _Dated(_at(day, 15), change.beneficiary), clock.pinned(months.of(day)):
            changes.decide(change, who, True, number, day)
            payments.refresh_for_decision(change, who)
        counts["changes"] += 1

    def transfers(month, day, communes):
        """The elderly BTXH beneficiaries who meet the social pension's conditions move to
        it from ``month`` (Decree 176/2025/NĐ-CP: the higher of the two allowances), by a
        decision of their commune's chairman on ``day``."""
        for commune in communes:
            for n, cand in enumerate(pension.transfer_candidates([commune.id], month)):
                with _Dated(_at(day, 14), cand.beneficiary), clock.pinned(months.of(day)):
                    stop, _, grant = pension.transfer(cand.beneficiary, chairmen[commune.id], month,
                                                      f"{200 + n}/QĐ-UBND", day)
                    payments.refresh_for_decision(stop, chairmen[commune.id])
                    payments.refresh_for_decision(grant, chairmen[commune.id])
                counts["transfers"] += 1

    def new_pensioners(month, day, commune, n):
        """``n`` people of ``commune`` aged 75 or more, with no pension, who asked for the
        social pension: granted from ``month`` by the chairman on ``day``."""
        villages = db.session.scalars(select(Area).where(
            Area.parent_id.in_(areas.member_units(commune, month)), Area.level == "village").order_by(Area.id)).all()
        for _ in range(n):
            sex = rng.choice("MF")
            born = w.date_between(date(1930, 1, 1), months.start(month).replace(year=months.start(month).year - 76))
            name = w.name(sex, "old")
            village = rng.choice(villages)
            at = _at(day - timedelta(days=rng.randint(8, 20)), rng.randint(8, 11))
            with _Dated(at), clock.pinned(months.of(at.date())):
                b = Beneficiary(program="HTXH", commune_id=commune.id, village_id=village.id,
                                household=Household(commune_id=commune.id, village_id=village.id, head_name=name),
                                full_name=name, name_folded=fold(name), sex=sex, birth_date=born, birth_year=born.year,
                                national_id=w.national_id(sex, born.year), category=pension.CATEGORY_75,
                                monthly_amount=500_000, has_pension=False, status="active", created_at=at,
                                updated_at=at)
                db.session.add(b)
                db.session.flush()
                history.record_creation(b, officer, "decision")
                c = changes.propose(b, "new", officer, month, reason="Đủ 75 tuổi, không hưởng lương hưu, trợ cấp BHXH",
                                    evidence=f"Tờ khai đề nghị hưởng trợ cấp hưu trí xã hội ngày {at:%d/%m/%Y}")
            decide(c, day, f"{rng.randint(300, 399)}/QĐ-UBND", chairmen[commune.id])

    def death(month, units, born_by, died, noted, decided_on, number, who, evidence):
        """A person of ``units`` born in ``born_by`` or before dies on ``died``; the officer
        records it on ``noted`` and proposes the stop from ``month`` (Circular 02/2021 Art. 2
        cl. 1a; the month after the death, Decree 20/2021 Art. 8(2)); ``who`` decides."""
        b = _story_person(rng, units, lambda b: b.birth_year <= born_by, taken)
        if b is None:
            return
        taken.add(b.id)
        remark = f"Chết ngày {died:%d/%m/%Y}"
        with _Dated(_at(noted, 9), b), clock.pinned(months.of(noted)):
            history.set_fields(b, {"deceased": True, "note": remark}, officer, "review")
            c = changes.propose(b, "stop", officer, month, clause="1a", reason=remark, source="review",
                                evidence=evidence)
        decide(c, decided_on, number, who)

    def story(month):
        """The changes decided before ``month``'s lists, effective from ``month``."""
        if month == "2024-07":  # Decrees 76/2024 and 77/2024: the communes restate the amounts
            _restate_amounts(date(2024, 7, 1), system)
        if month == "2025-07":  # the social pension begins: the elderly BTXH move to it
            transfers(month, date(2025, 7, 3), new_communes)
        if month == "2025-09":
            for commune, n in zip(new_communes, (12, 6, 5, 4, 5), strict=True):
                new_pensioners(month, date(2025, 8, 25), commune, n)
        if month == "2026-01":  # those who have turned 75 since (Xã Bình Sơn's are left for the user)
            transfers(month, date(2025, 12, 29), new_communes[1:])
        if month == "2026-05":
            new_pensioners(month, date(2026, 4, 24), son, 5)
        if month == "2024-11":  # a death in Bình Chánh, the district decides
            death(month, [chanh.id], 1940, date(2024, 10, 12), date(2024, 10, 21), date(2024, 10, 28),
                  "301/QĐ-UBND", district, "Trích lục khai tử số 88/2024, UBND xã Bình Chánh")
        if month == "2025-10":  # after the reform: a death in Xã Bình Sơn, the chairman decides
            death(month, areas.member_units(son, month), 1942, date(2025, 9, 2), date(2025, 9, 15),
                  date(2025, 9, 22), "57/QĐ-UBND", chairmen[son.id], "Trích lục khai tử số 41/2025, UBND xã Bình Sơn")
        if month == "2026-06":  # a suspension (cl. 3c) in Xã Vạn Tường, its chairman decides
            tuong = new_communes[1]
            b = _story_person(rng, areas.member_units(tuong, month), lambda b: True, taken)
            if b is not None:
                taken.add(b.id)
                with _Dated(_at(date(2026, 5, 20), 10), b), clock.pinned("2026-05"):
                    c = changes.propose(b, "suspend", system, "2026-06", clause="3c",
                                        reason="Bị tạm giam từ tháng 05/2026")
                decide(c, date(2026, 5, 26), "112/QĐ-UBND", chairmen[tuong.id])

    for month in months.between(FIRST, months.add(LAST, 1)):
        with clock.pinned(month):
            story(month)
            before_reform = month < "2025-07"
            officers = {None: system} | {u: officer for u in (
                [chanh.id] if before_reform else areas.member_units(son, month))}
            counts["visits"] += _visits(w, month, officers, bank_names)
            if before_reform:
                built = _open_month(district_area, month, district)
            else:
                built = []
                for commune in new_communes:
                    if month == LAST and commune.code == LEFT_FOR_THE_USER:
                        continue
                    built += _open_month(commune, month, officer if commune is son else province_user,
                                         pension.programs_in(month))
        results, missed = _draw_results(rng, month, built, None, missed, as_of=AS_OF)
        record_results(results, payer)
        counts["months"] += 1
        counts["periods"] += len(built)
        counts["lines"] += sum(len(p.lines) for p in built)
        counts["results"] += len(results)
        if month < LAST:  # the district's report before 07/2025; then each commune's and the province's
            counts["reports"] += _make_reports(month, [(district_area, district)] if month < "2025-07" else [
                (c, officer if c is son else chairmen[c.id]) for c in new_communes] + [(province, province_user)])
    clock.set_open_month(OPEN_MONTH)
    _sessions(son, officer)
    db.session.flush()
    return counts


def _sessions(son, officer):
    """Xã Bình Sơn's sessions (:data:`TODAY_SESSIONS`), in its villages and the old
    communes' merged into it."""
    from . import outreach
    villages = outreach.villages_of(areas.member_units(son, OPEN_MONTH))
    for day, village, place, attendees, topic in TODAY_SESSIONS:
        v = villages[village] if village is not None and village < len(villages) else None
        s = outreach.add_session(son, officer, day, place, attendees, topic, village=v)
        s.created_at = _at(day, 16)  # entered the afternoon it was held, as the demo's visits are


def _restate_amounts(day, user):
    """The amounts the registry states, brought to the levels from ``day`` (1/7/2024): a BTXH
    record with a coefficient takes coefficient × 500,000 đồng (Decree 76/2024/NĐ-CP); an NCC
    record's amount is raised in the ratio of the new standard (2,789,000 / 2,055,000, Decree
    77/2024/NĐ-CP), to the thousand. One ``Event`` per record, dated ``day``."""
    at = _at(day, 8)
    rows = db.session.execute(select(Beneficiary.id, Beneficiary.program, Beneficiary.coefficient,
                                     Beneficiary.monthly_amount, Beneficiary.version).where(
        Beneficiary.status == "active", Beneficiary.program.in_(("BTXH", "NCC")),
        Beneficiary.monthly_amount.is_not(None))).all()
    updates, events = [], []
    for bid, program, coefficient, amount, version in rows:
        if program == "BTXH":
            if not coefficient:
                continue
            new = round(coefficient * 500_000)
        else:
            new = round(amount * 2_789_000 / 2_055_000, -3)
        if new == amount:
            continue
        updates.append({"_id": bid, "monthly_amount": new, "updated_at": at, "version": version + 1})
        events.append({"beneficiary_id": bid, "user_id": user.id, "at": at, "source": "admin", "action": "update",
                       "field": "monthly_amount", "old_value": str(amount), "new_value": str(new)})
    if updates:
        t = Beneficiary.__table__
        db.session.execute(t.update().where(t.c.id == bindparam("_id")).values(
            monthly_amount=bindparam("monthly_amount"), updated_at=bindparam("updated_at"),
            version=bindparam("version")), updates)
        db.session.execute(insert(Event.__table__), events)
    db.session.expire_all()


def _make_reports(month, makers):
    """Make (chốt) ``month``'s monthly reports of ``makers`` (``[(area, user)]``) on the 10th
    of the month after, as they were made then (counted as of that moment,
    ``reports.monthly_report``). Returns how many."""
    at = _at(months.start(months.add(month, 1)).replace(day=10), 16)
    for area, user in makers:
        record = MonthlyReport(area_id=area.id, month=month, made_by_id=user.id, made_at=at, figures={})
        db.session.add(record)
        record.figures = reports.as_json(reports.monthly_report(area, month, as_of=at))
    db.session.flush()
    return len(makers)


def _finish_may_2024(rng, payer):
    """The cash of May 2024 that the 2024 demo left pending (paid after its "today",
    24/05/2024): paid on the 28th–31st."""
    pending = db.session.execute(
        select(PaymentLine.id, PaymentLine.method).join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
        .where(PaymentPeriod.month == "2024-05", PaymentPeriod.status == "locked", PaymentLine.status == "listed",
               PaymentLine.result == "pending").order_by(PaymentLine.id)).all()
    record_results([{"line_id": i, "result": "paid_account" if m == "account" else "paid_cash", "reason": None,
                     "at": _at(date(2024, 5, rng.randint(28, 31)), rng.randint(8, 16))} for i, m in pending], payer)


def _user(username, role, area, full_name):
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, role=role, area=area, full_name=full_name)
        db.session.add(user)
        db.session.flush()
    return user
