"""Three months of a small district, run through the product's own functions, and every
number of the three monthly reports checked against counts written by hand.

The district (Bình Sơn, 524) has two communes with people: A = Bình Chánh (21052) and
B = 21046. BTXH amounts: coefficient × 360,000 đồng (before 1/7/2024).

A, BTXH: a1 1.5 own account · a2 2.0 guardian's account · a3 1.0 cash, opens an account in
April · a4 1.5 cash, dies 20/03 (stop from April) · a5 1.0 own account that fails every
month (3 periods → cl. 3a) · a6 1.0 cash, suspended in April (cl. 3c), resumed in May with
April's arrears · a7 1.0 cash, new from April with March's arrears.  A, NCC: n1 own account.
B, BTXH: b1 1.5 cash · b2 2.0 own account, moves to A from May.  B, NCC: b3 authorised
person's account.
"""
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import User
from portal.services import changes, payments, police, reports
from portal.services.areas import find_area, find_commune
from tests.factories import person, visit, with_account

NCC = 2_055_000
ZERO = dict.fromkeys(reports.KEYS, 0)


def user(name):
    return db.session.scalar(select(User).where(User.username == name))


def row(**kw):
    return ZERO | kw


def run_month(month, results):
    """Open the month for the district, lock every list, record ``results`` (beneficiary →
    (result, reason)); returns the periods by (commune code, program)."""
    built, _ = payments.build_area(find_area("524", on=date(2024, 3, 1)), month, ("BTXH", "NCC"),
                                   user("district"))
    periods = {}
    for p in built:
        if p.lines:
            payments.lock(p, user("district"))
            periods[(p.commune.code, p.program)] = p
        else:
            payments.lock(p, user("district"))
    for p in periods.values():
        for line in p.lines:
            if line.beneficiary in results:
                payments.record_result(line, user("payer"), *results[line.beneficiary])
    db.session.commit()
    return periods


def lines_of(periods):
    return {(k, line.beneficiary.full_name): line for k, p in periods.items() for line in p.lines}


def report_rows(month, as_of=None):
    r = reports.monthly_report(find_area("524", on=date(2024, 3, 1)), month, as_of)
    rows = {(x["commune_code"], x["program"]): {k: x[k] for k in reports.KEYS} for x in r["rows"]}
    return r, rows


def check_report(month, expected):
    r, rows = report_rows(month)
    for key, values in rows.items():
        assert values == expected.get(key, ZERO), (month, key)
    for program in ("BTXH", "NCC"):  # the totals are the sums of the communes
        assert {k: r["totals"][program][k] for k in reports.KEYS} == {
            k: sum(v[k] for (c, p), v in rows.items() if p == program) for k in reports.KEYS}
    return r


@pytest.fixture
def district(app):
    A, B = "21052", "21046"
    p = {}
    p["a1"] = with_account(person(A, name="Phan Văn Một", national_id="051050000001", coefficient=1.5),
                           number="4300205000001")
    p["a2"] = with_account(person(A, name="Phan Thị Hai", sex="F", national_id="051150000002",
                                  coefficient=2.0),
                           number="4300205000002", recipient="guardian", holder="Phan Văn Giám")
    p["a3"] = person(A, name="Phan Văn Ba", national_id="051050000003", coefficient=1.0)
    p["a4"] = person(A, name="Phan Văn Bốn", national_id="051050000004", coefficient=1.5)
    p["a5"] = with_account(person(A, name="Phan Văn Năm", national_id="051050000005", coefficient=1.0),
                           number="4300205000005")
    p["a6"] = person(A, name="Phan Văn Sáu", national_id="051050000006", coefficient=1.0)
    p["n1"] = with_account(person(A, name="Phan Văn Công", program="NCC", national_id="051050000007",
                                  monthly_amount=NCC), number="4300205000007")
    p["b1"] = person(B, village="Thôn Mỹ Long", name="Lê Văn Một", national_id="051050000011",
                     coefficient=1.5)
    p["b2"] = with_account(person(B, village="Thôn Mỹ Long", name="Lê Văn Hai",
                                  national_id="051050000012", coefficient=2.0), number="4300205000012")
    p["b3"] = with_account(person(B, village="Thôn Mỹ Long", name="Lê Văn Ba", program="NCC",
                                  national_id="051050000013", monthly_amount=NCC),
                           number="4300205000013", recipient="authorised", holder="Lê Thị Ủy")
    db.session.commit()
    return p


def test_three_months_of_a_district(district):
    p = district
    district_user, payer = user("district"), user("payer")
    visit(p["a1"], date(2024, 2, 10))
    visit(p["a2"], date(2024, 3, 15))
    visit(p["n1"], date(2024, 3, 5))

    # ---- March: everyone listed; a5's account is closed.
    march = run_month("2024-03", {
        p["a1"]: ("paid_account",), p["a2"]: ("paid_account",), p["a3"]: ("paid_cash",),
        p["a4"]: ("paid_cash",), p["a5"]: ("failed", "Tài khoản đã đóng"), p["a6"]: ("paid_cash",),
        p["n1"]: ("paid_account",), p["b1"]: ("paid_cash",), p["b2"]: ("paid_account",),
        p["b3"]: ("paid_account",)})
    assert len(march[("21052", "BTXH")].lines) == 6
    check_report("2024-03", {
        ("21052", "BTXH"): row(paid=5, own_account=1, proxy_account=1, paid_cashless=2,
                               amount_cashless=540_000 + 720_000, paid_cash=3,
                               amount_cash=360_000 + 540_000 + 360_000, with_account=3,
                               paid_into_account_of_those_with_account=2, reviewed=2),
        ("21052", "NCC"): row(paid=1, own_account=1, paid_cashless=1, amount_cashless=NCC,
                              with_account=1, paid_into_account_of_those_with_account=1, reviewed=1),
        ("21046", "BTXH"): row(paid=2, own_account=1, paid_cashless=1, amount_cashless=720_000,
                               paid_cash=1, amount_cash=540_000, with_account=1,
                               paid_into_account_of_those_with_account=1),
        ("21046", "NCC"): row(paid=1, proxy_account=1, paid_cashless=1, amount_cashless=NCC,
                              with_account=1, paid_into_account_of_those_with_account=1),
    })

    # ---- Changes decided for April: a4 died (police), a6 detained (3c), a7 new with arrears.
    police.record(p["a4"], user("police"), "2024-03", "deceased", died_on=date(2024, 3, 20))
    stop = changes.open_proposals(district_user)[0]
    assert (stop.kind, stop.clause, stop.effective_month) == ("stop", "1a", "2024-04")
    changes.decide(stop, district_user, True, "15/QĐ-UBND", date(2024, 3, 28))
    suspend = changes.propose(p["a6"], "suspend", user("commune"), "2024-04", clause="3c",
                              evidence="Lệnh tạm giam số 12")
    changes.decide(suspend, district_user, True, "16/QĐ-UBND", date(2024, 3, 28))
    p["a7"] = person("21052", name="Phan Văn Bảy", national_id="051050000008", coefficient=1.0)
    new = changes.propose(p["a7"], "new", user("commune"), "2024-04", arrears_from="2024-03")
    changes.decide(new, district_user, True, "17/QĐ-UBND", date(2024, 3, 29))
    # a3 opens an account on a visit in April, before the list is built.
    visit(p["a3"], date(2024, 4, 2), account_status="has_account", payment_method="account",
           bank_bin="970405", number="4300205000003", holder_name="Phan Văn Ba", recipient_type="self")
    db.session.commit()

    april = run_month("2024-04", {
        p["a1"]: ("paid_account",), p["a2"]: ("paid_account",), p["a3"]: ("paid_account",),
        p["a5"]: ("failed", "Tài khoản đã đóng"), p["a7"]: ("paid_cash",), p["n1"]: ("paid_account",),
        p["b1"]: ("paid_cash",), p["b2"]: ("paid_account",), p["b3"]: ("paid_account",)})
    lines = lines_of(april)
    assert {name for (k, name) in lines if k == ("21052", "BTXH")} == {
        "Phan Văn Một", "Phan Thị Hai", "Phan Văn Ba", "Phan Văn Năm", "Phan Văn Bảy"}
    a7 = lines[(("21052", "BTXH"), "Phan Văn Bảy")]
    assert (a7.amount, a7.arrears, a7.arrears_from, a7.arrears_months) == (360_000, 360_000, "2024-03", 1)
    april_expected = {
        ("21052", "BTXH"): row(paid=4, own_account=2, proxy_account=1, paid_cashless=3,
                               amount_cashless=540_000 + 720_000 + 360_000, paid_cash=1,
                               amount_cash=720_000, with_account=4,
                               paid_into_account_of_those_with_account=3, reviewed=3,
                               increases=1, decreases=2),
        ("21052", "NCC"): row(paid=1, own_account=1, paid_cashless=1, amount_cashless=NCC,
                              with_account=1, paid_into_account_of_those_with_account=1, reviewed=1),
        ("21046", "BTXH"): row(paid=2, own_account=1, paid_cashless=1, amount_cashless=720_000,
                               paid_cash=1, amount_cash=540_000, with_account=1,
                               paid_into_account_of_those_with_account=1),
        ("21046", "NCC"): row(paid=1, proxy_account=1, paid_cashless=1, amount_cashless=NCC,
                              with_account=1, paid_into_account_of_those_with_account=1),
    }
    check_report("2024-04", april_expected)

    # ---- For May: b2 moves to A; a6 resumes with April's arrears (the suspension's month).
    move = changes.propose(p["b2"], "move_out", user("district"), "2024-05",
                           to_commune=find_commune("21052", "2024-05"))
    changes.decide(move, district_user, True, "20/QĐ-UBND", date(2024, 4, 25))
    resume = changes.propose(p["a6"], "resume", user("commune"), "2024-05")
    assert resume.arrears_from == "2024-04"
    changes.decide(resume, district_user, True, "21/QĐ-UBND", date(2024, 4, 28))
    visit(p["a6"], date(2024, 5, 10))
    db.session.commit()

    may = run_month("2024-05", {
        p["a1"]: ("paid_account",), p["a2"]: ("paid_account",), p["a3"]: ("paid_account",),
        p["a5"]: ("failed", "Tài khoản đã đóng"), p["a6"]: ("paid_cash",), p["a7"]: ("paid_cash",),
        p["b2"]: ("paid_account",), p["b1"]: ("paid_cash",), p["b3"]: ("paid_account",)})  # n1 pending
    lines = lines_of(may)
    a6 = lines[(("21052", "BTXH"), "Phan Văn Sáu")]
    assert (a6.amount, a6.arrears, a6.arrears_months) == (360_000, 360_000, 1)
    assert lines[(("21052", "BTXH"), "Phan Văn Bảy")].arrears == 0  # March was paid in April
    assert (("21046", "BTXH"), "Lê Văn Hai") not in lines and (("21052", "BTXH"), "Lê Văn Hai") in lines
    may_expected = {
        ("21052", "BTXH"): row(paid=6, own_account=3, proxy_account=1, paid_cashless=4,
                               amount_cashless=540_000 + 720_000 + 360_000 + 720_000, paid_cash=2,
                               amount_cash=720_000 + 360_000, with_account=5,
                               paid_into_account_of_those_with_account=4, reviewed=4,
                               increases=2, decreases=0),
        ("21052", "NCC"): row(with_account=1, reviewed=1),
        ("21046", "BTXH"): row(paid=1, paid_cash=1, amount_cash=540_000, decreases=1),
        ("21046", "NCC"): row(paid=1, proxy_account=1, paid_cashless=1, amount_cashless=NCC,
                              with_account=1, paid_into_account_of_those_with_account=1),
    }
    r = check_report("2024-05", may_expected)
    assert r["totals"]["BTXH"]["paid"] == 7 and r["totals"]["NCC"]["paid"] == 1
    assert r["totals"]["BTXH"]["rates"]["cashless"] == round(100 * 4 / 8, 1)  # of the 8 listed
    # Reconciliation of every list: listed = paid + failed + returned + pending.
    for period in list(march.values()) + list(april.values()) + list(may.values()):
        rec = payments.reconciliation(period)
        assert rec["listed"] == sum(rec[k] for k in payments.RESULTS)

    # a5 was not collected in three consecutive periods: the portal proposes cl. 3a from June.
    found = [c for c in changes.candidates(district_user, "2024-05") if c["beneficiary"] is p["a5"]]
    assert [(c["kind"], c["clause"], c["effective_month"]) for c in found] == [("suspend", "3a", "2024-06")]

    # ---- The district makes May's report; later edits do not change it.
    made = reports.make(find_area("524", on=date(2024, 3, 1)), "2024-05", district_user)
    db.session.commit()
    n1_line = lines_of(may)[(("21052", "NCC"), "Phan Văn Công")]
    payments.record_result(n1_line, payer, "paid_account")  # the pending line is paid later
    a1_line = lines_of(may)[(("21052", "BTXH"), "Phan Văn Một")]
    payments.record_result(a1_line, payer, "returned", "Sai tên chủ tài khoản")
    visit(p["a5"], date(2024, 5, 20))
    p["a2"].account.holder_name = "Người Khác"
    db.session.commit()
    again, _ = reports.report_for(find_area("524", on=date(2024, 3, 1)), "2024-05")
    assert reports.as_json(again) == made.figures
    _, rows = report_rows("2024-05", as_of=made.made_at)
    assert rows[("21052", "BTXH")] == may_expected[("21052", "BTXH")]
    live, _ = reports.report_for(find_area("524", on=date(2024, 3, 1)), "2024-05", live=True)
    live_rows = {(x["commune_code"], x["program"]): x for x in live["rows"]}
    assert live_rows[("21052", "NCC")]["paid_cashless"] == 1
    assert live_rows[("21052", "BTXH")]["paid_cashless"] == 3
    assert live_rows[("21052", "BTXH")]["reviewed"] == 5
    # Earlier months are untouched by all of this.
    check_report("2024-04", april_expected)


def test_a_move_decided_early_still_pays_the_old_commune_until_its_month(app):
    b = with_account(person("21046", village="Thôn Mỹ Long", name="Lê Văn Hai", national_id="051050000012",
                            coefficient=2.0), number="4300205000012")
    db.session.commit()
    move = changes.propose(b, "move_out", user("district"), "2024-06", to_commune=find_commune("21052", "2024-05"))
    changes.decide(move, user("district"), True, "20/QĐ-UBND", date(2024, 4, 25))
    old, new = find_commune("21046", "2024-05"), find_commune("21052", "2024-05")

    def listed(commune, month):
        return [line.beneficiary_id for line in payments.build(commune, month, "BTXH", user("district")).lines]
    assert listed(old, "2024-05") == [b.id] and listed(new, "2024-05") == []
    assert listed(old, "2024-06") == [] and listed(new, "2024-06") == [b.id]
