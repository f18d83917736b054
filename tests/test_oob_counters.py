"""Every counter on the page follows an in-place save (issue 13 §4): the htmx answer of each
save carries, out of band (``hx-swap-oob="true"`` on elements with the page's own ids), the
counters the page shows, rendered by the page's own partial, with their new values. Each
answer stays small (it goes over 2G: a byte budget) and reads the counters with a bounded
number of statements, whatever the size of the area (no recount of a province)."""
import gzip
import re
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import Beneficiary, PaymentLine
from portal.services import changes, checks, payments, police
from portal.services.areas import find_commune
from portal.services.history import system_user
from tests.conftest import csrf_token, login, user
from tests.factories import person, with_account

HX = {"HX-Request": "true"}
BUDGET = 2_000  # bytes compressed, an htmx answer to a status update (budgets.md)


@contextmanager
def statements():
    """The SQL statements run inside the block, in a list."""
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def oob(body, element_id):
    """The out-of-band element ``element_id`` of an answer (its whole tag and text)."""
    m = re.search(rf'<(\w+)[^>]*id="{element_id}"[^>]*hx-swap-oob="true"[^>]*>.*?</\1>', body, re.S)
    assert m, f"no out-of-band #{element_id} in the answer"
    return m.group(0)


def recounts(seen):
    """The statements that count a commune's records or findings live (``progress._count_live``,
    ``checks._summaries_live``) instead of reading the counter tables."""
    return [x for x in seen if re.search(
        r"GROUP BY (beneficiary|finding)\.commune_id(?!, beneficiary\.program, beneficiary\.name_folded)", x)]


def element(html, element_id):
    m = re.search(rf'<(\w+)[^>]*id="{element_id}"[^>]*>.*?</\1>', html, re.S)
    assert m, f"no #{element_id} on the page"
    return m.group(0)


def post(client, url, data):
    """``(response, body, bytes on the wire)``: an htmx POST asking for gzip, as a browser."""
    r = client.post(url, data=data, headers={**HX, "Accept-Encoding": "gzip"})
    raw = r.data
    body = gzip.decompress(raw) if r.headers.get("Content-Encoding") == "gzip" else raw
    return r, body.decode(), len(raw)


def text(fragment):
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


# ------------------------------------------------------------------------------ police

@pytest.fixture
def two(app):
    a = person(name="Nguyễn Văn An", national_id="051050123456")
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", birth=date(1955, 2, 2))
    db.session.commit()
    return a, b


def test_a_police_answer_brings_done_and_left(client, two):
    a, _b = two
    login(client, "police")
    page = client.get("/police").get_data(as_text=True)
    assert "0/2" in text(element(page, "police-done")) and "Còn 2 hồ sơ" in text(element(page, "police-left"))
    data = {"csrf_token": csrf_token(client, "/police"), f"v{a.id}-result": "verified"}
    with statements() as seen:
        r, body, size = post(client, f"/police/{a.id}", data)
    assert r.status_code == 200 and "<html" not in body and f'id="v{a.id}"' in body
    assert "1/2" in text(oob(body, "police-done")) and "Còn 1 hồ sơ" in text(oob(body, "police-left"))
    assert size <= BUDGET, size
    assert len(seen) <= 35, len(seen)
    # The page says the same after a reload: the fragment and the page cannot drift.
    page = client.get("/police").get_data(as_text=True)
    assert text(element(page, "police-done")) == text(oob(body, "police-done"))
    assert text(element(page, "police-left")) == text(oob(body, "police-left"))
    # A refused answer changes nothing: the row alone, no counter.
    r = client.post(f"/police/{_b.id}", data={"csrf_token": data["csrf_token"], f"v{_b.id}-result": "mismatch"},
                    headers=HX)
    assert r.status_code == 422 and "hx-swap-oob" not in r.get_data(as_text=True)


# ----------------------------------------------------------------------------- quality

@pytest.fixture
def dirty(app):
    a = person(name="Nguyễn Văn An", national_id="051150123456")  # a man with a woman's digit
    b = person(name="Trần Thị Bích", sex="F", national_id=None, household=a.household)
    db.session.flush()
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    return a, b


def _fix(client, b, field, value, path):
    page = client.get(path).get_data(as_text=True)
    prefix = f"f{b.id}-{field}"
    version = re.search(rf'name="{prefix}-version"[^>]*value="(\d+)"', page).group(1)
    nxt = re.search(r'name="next" value="([^"]*)"', page).group(1).replace("&amp;", "&")
    return page, {"csrf_token": csrf_token(client, path), "field": field, "next": nxt,
                  f"{prefix}-version": version, f"{prefix}-value": value}


@pytest.mark.parametrize("rule", [None, "id_sex_century_mismatch"])
def test_a_quality_fix_brings_the_bar_the_rules_and_the_total(client, dirty, rule):
    a, _b = dirty
    login(client, "commune")
    path = f"/quality/communes/{a.commune_id}" + (f"?rule={rule}" if rule else "")
    page, data = _fix(client, a, "national_id", "051050123456", path)
    assert "1/2" in text(element(page, "q-clean"))
    assert ("(1)" if rule else "(2 hồ sơ)") in text(element(page, "worklist"))
    with statements() as seen:
        r, body, size = post(client, f"/quality/fix/{a.id}", data)
    assert r.status_code == 200 and "<html" not in body and f'id="q{a.id}"' in body
    assert "2/2" in text(oob(body, "q-clean"))
    rules = oob(body, "q-rules")
    assert "id_sex_century_mismatch" not in rules  # no link to a rule hit by no one now
    assert re.search(r"Thiếu số định danh cá nhân.</a> <span[^>]*>1</span>", rules)  # Bích's is still missing
    title = text(oob(body, "worklist"))
    # Every record is still listed for its other findings (not reviewed yet); the rule's list is empty.
    assert title == "Cần sửa (2 hồ sơ)" if rule is None else title.endswith("(0) · tất cả")
    assert "(1)" in text(oob(body, "rule"))
    assert size <= BUDGET, size
    assert len(seen) <= 50, len(seen)
    assert not recounts(seen) and any("FROM quality_count" in x for x in seen)
    page = client.get(path).get_data(as_text=True)
    for i in ("q-clean", "q-rules", "worklist"):
        assert text(element(page, i)) == text(oob(body, i))


# ---------------------------------------------------------------------------- payments

@pytest.fixture
def locked(app):
    an = with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    with_account(person(name="Phạm Văn Dũng", national_id="051050777888", coefficient=1.0),
                 number="0071000123456", bin_="970436")
    db.session.commit()
    p = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user())
    payments.lock(p, system_user())
    db.session.commit()
    line = db.session.scalar(select(PaymentLine).where(PaymentLine.period_id == p.id,
                                                       PaymentLine.beneficiary_id == an.id))
    return p, line


@pytest.mark.parametrize("pending", [False, True])
def test_a_result_brings_the_reconciliation_and_the_pending_count(client, locked, pending):
    p, line = locked
    login(client, "payer")
    path = f"/payments/{p.id}" + ("?result=pending" if pending else "")
    page = client.get(path).get_data(as_text=True)
    assert "Chưa có kết quả (2)" in text(element(page, "list"))
    hx_post = re.search(rf'hx-post="([^"]*/lines/{line.id}/result[^"]*)"', page).group(1).replace("&amp;", "&")
    assert hx_post.endswith("?result=pending") == pending
    data = {"csrf_token": csrf_token(client, path), f"r{line.id}-result": "paid_account"}
    with statements() as seen:
        r, body, size = post(client, hx_post, data)
    assert r.status_code == 200 and "<html" not in body and f'id="l{line.id}"' in body
    assert "Chưa có kết quả (1)" in text(oob(body, "list"))
    assert ("Chưa có kết quả (1)" if pending else "Danh sách") == text(oob(body, "lines-title"))
    assert "Đã chi vào tài khoản 1" in text(oob(body, "rec"))
    assert size <= BUDGET, size
    assert len(seen) <= 25, len(seen)
    page = client.get(path).get_data(as_text=True)
    for i in ("list", "lines-title", "rec"):
        assert text(element(page, i)) == text(oob(body, i))


# ----------------------------------------------------------------------------- changes

@pytest.fixture
def people(app):
    a = person(name="Nguyễn Văn An", coefficient=1.5)
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    db.session.commit()
    return a, b


def test_a_proposed_case_brings_the_cases_and_proposals_counts(client, people):
    a, b = people
    for x in (a, b):
        police.record(x, user("police"), "2024-05", "moved")
    db.session.commit()
    login(client, "commune")
    page = client.get("/changes").get_data(as_text=True)
    assert "(2)" in text(element(page, "cases-title")) and "(0)" in text(element(page, "proposals-title"))
    data = {"csrf_token": csrf_token(client, "/changes"), "kind": "move_out", "month": "2024-05"}
    with statements() as seen:
        r, body, size = post(client, f"/changes/candidates/{a.id}", data)
    assert r.status_code == 200 and f'id="k{a.id}-move_out"' in body and "Đã đề nghị" in body
    assert "(1)" in text(oob(body, "cases-title")) and "Các đề nghị (1)" == text(oob(body, "proposals-title"))
    assert size <= BUDGET, size
    assert len(seen) <= 30, len(seen)
    page = client.get("/changes").get_data(as_text=True)
    for i in ("cases-title", "proposals-title"):
        assert text(element(page, i)) == text(oob(body, i))


def test_a_decision_brings_the_waiting_and_decided_counts(client, people):
    a, b = people
    officer = user("commune")
    c1 = changes.propose(a, "stop", officer, "2024-06", clause="1b")
    changes.propose(b, "suspend", officer, "2024-06", clause="3b")
    db.session.commit()
    login(client, "district")
    page = client.get("/changes").get_data(as_text=True)
    assert "(2)" in text(element(page, "pending-title")) and "(0)" in text(element(page, "proposals-title"))
    data = {"csrf_token": csrf_token(client, "/changes"), "decision": "approve",
            f"d{c1.id}-decision_number": "12/QĐ-UBND", f"d{c1.id}-decision_date": "2024-05-20"}
    with statements() as seen:
        r, body, size = post(client, f"/changes/{c1.id}/decide", data)
    assert r.status_code == 200 and f'id="c{c1.id}"' in body and "Đã duyệt" in body
    assert text(oob(body, "pending-title")) == "Chờ quyết định (1)"
    assert text(oob(body, "proposals-title")) == "Đã quyết định (1)"
    assert size <= BUDGET, size
    assert len(seen) <= 45, len(seen)
    page = client.get("/changes").get_data(as_text=True)
    for i in ("pending-title", "proposals-title"):
        assert text(element(page, i)) == text(oob(body, i))


# ------------------------------------------------------------------------------ review

def test_a_review_save_brings_the_communes_bars(client, people):
    a, _b = people
    login(client, "commune")
    page = client.get(f"/households/{a.household_id}").get_data(as_text=True)
    bars_id = re.search(r'id="(progress-\d+)"', page).group(1)
    assert "Đã rà soát: 0/2" in text(element(page, bars_id))
    version = re.search(rf'name="b{a.id}-version"[^>]*value="(\d+)"', page) or re.search(
        rf'value="(\d+)"[^>]*name="b{a.id}-version"', page)
    data = {"csrf_token": csrf_token(client, f"/households/{a.household_id}"),
            f"b{a.id}-version": version.group(1), f"b{a.id}-account_status": "has_account",
            f"b{a.id}-payment_method": "account", f"b{a.id}-bank_bin": "970405",
            f"b{a.id}-number": "3007 1715 16813", f"b{a.id}-recipient_type": "self"}
    with statements() as seen:
        r, body, size = post(client, f"/beneficiaries/{a.id}/review", data)
    assert r.status_code == 200 and f'id="b{a.id}"' in body
    bars = text(oob(body, bars_id))
    assert "Đã rà soát: 1/2" in bars and "Có tài khoản: 1/2" in bars
    assert size <= BUDGET, size
    assert len(seen) <= 45, len(seen)
    assert not recounts(seen) and any("FROM progress_count" in x for x in seen)
    page = client.get(f"/households/{a.household_id}").get_data(as_text=True)
    assert text(element(page, bars_id)) == text(oob(body, bars_id))
