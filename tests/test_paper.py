"""Paper fallback: the printable review sheet of a village, the line codes, and the entry
page that takes a filled sheet back line by line through the review service."""
import random
import re
from datetime import date

import brotli
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Area, Beneficiary, Event, Finding, Review
from portal.services import checks, paper
from tests.conftest import csrf_token, login
from tests.factories import person, visit, with_account

HX = {"HX-Request": "true"}
ENC = {"Accept-Encoding": "br, gzip"}
PAGE_BUDGET, UPDATE_BUDGET = 14_600, 2_000
SHEET_DAY = "2024-05-10"


def text(resp):
    """The page's text with non-breaking spaces as spaces (the sheet keeps "□ Có TK" whole)."""
    return resp.get_data(as_text=True).replace("&nbsp;", " ").replace("\u00a0", " ")


def compressed(resp):
    assert resp.headers.get("Content-Encoding") in ("br", "gzip"), "response not compressed"
    return len(resp.data)


@pytest.fixture
def village(app):
    """Thôn An Thành of Bình Chánh: a household of two, one of one, a stopped and a dead
    person (not on the sheet); a person of another village and one of another commune."""
    an = person(name="Nguyễn Văn An")
    bich = person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=an.household)
    cuc = with_account(person(name="Lê Thị Cúc", sex="F", national_id="051160000222",
                              birth=date(1960, 1, 2)), number="1234567890")
    stopped = person(name="Phạm Văn Dừng", national_id="051045000333", status="stopped")
    dead = person(name="Võ Văn Mất", national_id="051040000444", deceased=True)
    elsewhere = person(name="Đỗ Văn Khác", village="Thôn Mỹ Long", national_id="051050000555")
    other = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường",
                   national_id="051060222333")
    db.session.commit()
    return dict(an=an, bich=bich, cuc=cuc, stopped=stopped, dead=dead, elsewhere=elsewhere,
                other=other, v=an.village_id)


def line_data(client, v, b, on=SHEET_DAY, **values):
    """What the entry page's line form posts for ``b`` (opened by its code), with ``values``."""
    url = f"/villages/{v}/paper/entry?on={on}&code={paper.code_for(b.id)}"
    page = client.get(url).get_data(as_text=True)
    version = re.search(r'name="l-version"[^>]*value="(\d+)"', page) or re.search(
        r'value="(\d+)"[^>]*name="l-version"', page)
    data = {"csrf_token": csrf_token(client, url), "l-version": version.group(1),
            "l-code": paper.code_for(b.id), "l-visited_on": on, "l-account_status": "has_account",
            "l-payment_method": "account", "l-bank_bin": "970405", "l-number": "3007 1715 16813",
            "l-recipient_type": "self"}
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    if key:
        data["idempotency_key"] = key.group(1)
    data.update({f"l-{k}": val for k, val in values.items()})
    return data


# --- codes -------------------------------------------------------------------------------

def test_damm_check_digit_known_value():
    assert paper.damm("572") == 4  # the algorithm's published example
    assert paper.damm("5724") == 0


def test_codes_round_trip_and_accept_typing_variants():
    for bid in list(range(1, 3000)) + [99_999, 1_234_567]:
        code = paper.code_for(bid)
        assert re.fullmatch(r"\d+-\d", code)
        assert paper.parse_code(code) == bid
    code = paper.code_for(4123)
    digits = code.replace("-", "")
    for typed in (digits, f" {code} ", code.replace("-", " "), code.replace("-", ".")):
        assert paper.parse_code(typed) == 4123


def test_every_one_character_typo_and_adjacent_swap_is_rejected():
    for bid in (7, 58, 913, 1109, 4123, 65_536, 987_654):
        digits = paper.code_for(bid).replace("-", "")
        for i, ch in enumerate(digits):
            for other in "0123456789":
                if other != ch:
                    typo = digits[:i] + other + digits[i + 1:]
                    with pytest.raises(paper.CodeError):
                        paper.parse_code(typo)
            if i + 1 < len(digits) and digits[i] != digits[i + 1]:
                swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
                with pytest.raises(paper.CodeError):
                    paper.parse_code(swapped)


@pytest.mark.parametrize("typed", ["", "   ", "abc", "12a4-5", "7", "0123-4", "١٢٣-٤"])
def test_malformed_codes_are_rejected(typed):
    with pytest.raises(paper.CodeError):
        paper.parse_code(typed)


# --- the sheet ---------------------------------------------------------------------------

def test_sheet_lists_every_active_person_with_code_masked_id_and_blanks(client, village):
    login(client, "commune")
    r = client.get(f"/villages/{village['v']}/paper")
    html = text(r)
    assert r.status_code == 200
    for key in ("an", "bich", "cuc"):
        b = village[key]
        assert b.full_name in html
        assert f'<td class="code">{paper.code_for(b.id)}</td>' in html
        assert f"…{b.national_id[-4:]}" in html and b.national_id not in html
    for key in ("stopped", "dead", "elsewhere", "other"):
        assert village[key].full_name not in html
    assert html.count('<td class="code">') == 3
    for blank in ("□ Có TK", "□ Đang mở", "□ Chưa có", "□ Từ chối", "□ chính chủ", "□ giám hộ",
                  "□ ủy quyền", "NH/ví", "Số TK", "Ghi chú"):
        assert html.count(blank) >= 3, blank
    # The current status, the household grouping, the header's blanks.
    assert "Có tài khoản …7890" in html and "Chưa rà soát" in html
    assert "Hộ Nguyễn Văn An" in html and "Hộ Lê Thị Cúc" not in html  # a header only for 2+
    assert html.index("Nguyễn Văn An") < html.index("Trần Thị Bích")
    assert "Xã Bình Chánh" in html and "Thôn An Thành" in html
    assert "Ngày rà soát" in html and "Cán bộ rà soát" in html and "Ký tên" in html
    assert 'class="noprint"' in html and f"/villages/{village['v']}/paper/entry" in html


def test_print_stylesheet(client, village):
    login(client, "commune")
    html = client.get(f"/villages/{village['v']}/paper").get_data(as_text=True)
    css_url = re.search(r'href="(/assets/app\.[0-9a-f]+\.css)"', html).group(1)
    css = client.get(css_url).get_data(as_text=True)
    printing = css[css.index("@media print"):]
    assert "@page{size:A4 portrait;margin:" in printing
    assert re.search(r"\.top,[^{]*\.noprint[^{]*\{display:none", printing)  # no navigation
    assert "break-inside:avoid" in printing and "thead{display:table-header-group}" in printing
    assert "color:#000" in printing and "background:#fff" in printing
    assert "system-ui" in printing and "url(" not in css  # system fonts, no web font


def test_sheet_is_scoped_and_for_the_roles_that_review(client, village):
    login(client, "commune")
    other = village["other"]
    assert client.get(f"/villages/{other.village_id}/paper").status_code == 404
    assert client.get(f"/villages/{other.village_id}/paper/entry").status_code == 404
    assert client.get(f"/villages/{other.commune_id}/paper").status_code == 404  # not a village
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    for role, status in (("police", 200), ("district", 200), ("payer", 403)):
        login(client, role)
        assert client.get(f"/villages/{village['v']}/paper").status_code == status, role
        client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "police")
    assert client.get(f"/villages/{village['v']}/paper/entry").status_code == 403


def test_village_page_links_to_the_sheet(client, village):
    login(client, "commune")
    html = client.get(f"/villages/{village['v']}").get_data(as_text=True)
    assert f"/villages/{village['v']}/paper" in html and f"/villages/{village['v']}/paper/entry" in html
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "payer")
    assert "/paper" not in client.get(f"/villages/{village['v']}").get_data(as_text=True)


def test_sheet_as_a_workbook(client, village):
    import io

    from openpyxl import load_workbook
    login(client, "commune")
    r = client.get(f"/villages/{village['v']}/paper?format=xlsx")
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    ws = load_workbook(io.BytesIO(r.data)).active
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    codes = {row[0]: row for row in rows if row[0] and re.fullmatch(r"\d+-\d", str(row[0]))}
    assert set(codes) == {paper.code_for(village[k].id) for k in ("an", "bich", "cuc")}
    an = codes[paper.code_for(village["an"].id)]
    assert an[1:4] == ["Nguyễn Văn An", 1950, "…3456"] and "□ Chưa có" in an[5] and "□ giám hộ" in an[9]
    assert ["Hộ Nguyễn Văn An"] == [row[0] for row in rows if str(row[0]).startswith("Hộ ")]
    assert not any(str(c.value).startswith("=") for row in ws.iter_rows() for c in row if c.value)
    assert ws.page_setup.orientation == "portrait" and int(ws.page_setup.paperSize) == 9  # A4
    assert "051050123456" not in str(rows)


def test_sheet_pages_keep_households_whole(app, village):
    v = db.session.get(Area, village["v"])
    one = paper.sheet(v, per_page=1)
    assert (one.pages, one.people) == (2, 3)  # the household of two stays on one page
    seen = [b.id for p in (1, 2) for _, m in paper.sheet(v, p, per_page=1).households for b in m]
    assert sorted(seen) == sorted(village[k].id for k in ("an", "bich", "cuc"))
    assert paper.sheet(v, 9, per_page=1).page == 2


# --- entry by code -----------------------------------------------------------------------

def test_code_opens_the_line_with_the_name_to_confirm(client, village):
    login(client, "commune")
    an, v = village["an"], village["v"]
    html = client.get(f"/villages/{v}/paper/entry?on={SHEET_DAY}&code={paper.code_for(an.id)}").get_data(as_text=True)
    assert "Nguyễn Văn An" in html and 'name="l-account_status"' in html
    assert f'value="{SHEET_DAY}"' in html and 'name="l-version"' in html
    assert 'value="970405"' in html  # the bank list as in the review form
    # htmx: only the entry block, with the same form
    r = client.get(f"/villages/{v}/paper/entry?on={SHEET_DAY}&code={paper.code_for(an.id)}", headers=HX)
    frag = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in frag and 'id="entry"' in frag and "Nguyễn Văn An" in frag


def test_entry_page_lists_pending_codes(client, village):
    login(client, "commune")
    html = client.get(f"/villages/{village['v']}/paper/entry").get_data(as_text=True)
    for key in ("an", "bich", "cuc"):
        assert f">{paper.code_for(village[key].id)}</a> {village[key].full_name}" in html
    assert village["stopped"].full_name not in html


@pytest.mark.parametrize("case, message", [
    ("typo", "sai (số kiểm tra không khớp)"),
    ("letters", "chỉ gồm chữ số"),
    ("other_village", "là của Đỗ Văn Khác ở Thôn Mỹ Long, không phải thôn này"),
    ("other_commune", "Không có ai mang mã"),
    ("nobody", "Không có ai mang mã"),
])
def test_wrong_codes_get_a_clear_message_and_keep_the_input(client, village, case, message):
    login(client, "commune")
    good = paper.code_for(village["an"].id)
    code = {"typo": good[:-1] + str((int(good[-1]) + 1) % 10), "letters": "12AB",
            "other_village": paper.code_for(village["elsewhere"].id),
            "other_commune": paper.code_for(village["other"].id),
            "nobody": paper.code_for(987_654)}[case]
    r = client.get(f"/villages/{village['v']}/paper/entry?on={SHEET_DAY}&code={code}")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and message in html
    assert "Có lỗi cần sửa" in html and 'href="#code"' in html and "Lỗi:" in html
    assert f'value="{code}"' in html and 'name="l-account_status"' not in html
    if case == "other_commune":
        assert "Lê Văn Cường" not in html  # nothing leaks from outside the area


def test_the_sheets_date_is_typed_once_and_checked_by_the_review_rules(client, village):
    an, v = village["an"], village["v"]
    login(client, "commune")
    # The first line: no date yet, the line's form asks for it.
    html = client.get(f"/villages/{v}/paper/entry?code={paper.code_for(an.id)}").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="l-visited_on"[^>]*type="date"[^>]*value=""', html), html
    data = line_data(client, v, an, on="")
    r = client.post(f"/villages/{v}/paper/entry", data=data)
    assert r.status_code == 422 and 'id="l-visited_on-error"' in r.get_data(as_text=True)
    assert "Nhập ngày ghi trên phiếu" in r.get_data(as_text=True)
    data["l-visited_on"] = "2099-01-01"
    r = client.post(f"/villages/{v}/paper/entry", data=data)
    assert r.status_code == 422 and "tương lai" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Review.id))) == 0
    # Once saved, the date is carried to the next lines.
    data["l-visited_on"] = SHEET_DAY
    assert client.post(f"/villages/{v}/paper/entry", data=data).status_code == 303
    html = client.get(f"/villages/{v}/paper/entry?on={SHEET_DAY}&code={paper.code_for(village['bich'].id)}").get_data(as_text=True)
    assert re.search(rf'<input[^>]*id="l-visited_on"[^>]*value="{SHEET_DAY}"', html)
    assert "Phiếu ngày 10/05/2024" in html


def test_entry_saves_a_review_like_the_door_to_door_form(client, village):
    an, bich, v = village["an"], village["bich"], village["v"]
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    assert db.session.scalar(select(func.count()).where(
        Finding.beneficiary_id == an.id, Finding.code == "not_reviewed", Finding.resolved_at.is_(None))) == 1
    login(client, "commune")
    r = client.post(f"/villages/{v}/paper/entry", data=line_data(client, v, an, note="Con gái giữ sổ"))
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/villages/{v}/paper/entry?on={SHEET_DAY}")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert f"Đã lưu dòng {paper.code_for(an.id)}: Nguyễn Văn An" in page
    assert f'value="{SHEET_DAY}"' in page and 'autofocus' in page  # ready for the next code
    assert f"<b>{paper.code_for(an.id)}</b>" in page  # in the list of what was entered

    # The same values through the door-to-door form, for the other member of the household.
    hh = client.get(f"/households/{bich.household_id}").get_data(as_text=True)
    version = re.search(rf'name="b{bich.id}-version"[^>]*value="(\d+)"', hh).group(1)
    door = {"csrf_token": csrf_token(client, f"/households/{bich.household_id}"),
            f"b{bich.id}-version": version, f"b{bich.id}-account_status": "has_account",
            f"b{bich.id}-payment_method": "account", f"b{bich.id}-bank_bin": "970405",
            f"b{bich.id}-number": "3007 1715 16813", f"b{bich.id}-recipient_type": "self",
            f"b{bich.id}-visited_on": SHEET_DAY}
    assert client.post(f"/beneficiaries/{bich.id}/review", data=door).status_code == 303

    a, b = db.session.get(Beneficiary, an.id), db.session.get(Beneficiary, bich.id)
    for x in (a, b):
        assert (x.account_status, x.payment_method, x.account.bank_bin, x.account.number) == (
            "has_account", "account", "970405", "3007171516813")
        assert x.reviewed_at.date().isoformat() == SHEET_DAY and x.reviewed_by_id is not None
        assert x.account.holder_name == x.full_name and x.account.recipient_type == "self"
    reviews = {r.beneficiary_id: r for r in db.session.scalars(select(Review))}
    assert set(reviews) == {a.id, b.id}
    assert reviews[a.id].visited_on.isoformat() == SHEET_DAY
    assert reviews[a.id].note == f"Phiếu giấy 10/05/2024, mã {paper.code_for(a.id)}: Con gái giữ sổ"
    events = {x.id: {(e.source, e.field) for e in db.session.scalars(
        select(Event).where(Event.beneficiary_id == x.id, Event.action == "update"))} for x in (a, b)}
    assert events[a.id] - {("review", "review_note")} == events[b.id]
    assert {("review", f) for f in ("account_status", "bank_bin", "number", "reviewed_at",
                                     "review_note")} <= events[a.id]
    note_event = db.session.scalar(select(Event).where(Event.beneficiary_id == a.id,
                                                       Event.field == "review_note"))
    assert note_event.new_value.startswith("Phiếu giấy 10/05/2024")
    # The data checks ran again: the record is no longer "not reviewed".
    assert db.session.scalar(select(func.count()).where(
        Finding.beneficiary_id == a.id, Finding.code == "not_reviewed", Finding.resolved_at.is_(None))) == 0
    # The history page shows where it came from.
    assert "Phiếu giấy 10/05/2024" in client.get(f"/beneficiaries/{a.id}").get_data(as_text=True)


def test_a_retried_entry_is_applied_once_and_answered_the_same(client, village):
    an, v = village["an"], village["v"]
    login(client, "commune")
    data = line_data(client, v, an)
    assert data.get("idempotency_key")
    first = client.post(f"/villages/{v}/paper/entry", data=data)
    again = client.post(f"/villages/{v}/paper/entry", data=data)  # the answer was lost: sent again
    assert (first.status_code, again.status_code) == (303, 303)
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert db.session.scalar(select(func.count()).select_from(Review)) == 1


def test_htmx_save_swaps_in_the_next_empty_form_and_the_entered_line(client, village):
    an, v = village["an"], village["v"]
    login(client, "commune")
    r = client.post(f"/villages/{v}/paper/entry",
                    data=line_data(client, v, an, account_status="no_account", payment_method="cash",
                                   no_account_reason="Chưa có CCCD", bank_bin="", number=""),
                    headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html
    assert "<html" not in html and 'id="entry"' in html and "Đã lưu dòng" in html
    assert 'name="l-account_status"' not in html  # the next, empty code form
    assert re.search(r'name="code"[^>]*autofocus|autofocus[^>]*name="code"', html)
    assert 'hx-swap-oob="afterbegin:#entered"' in html and f'id="p{an.id}" hx-swap-oob="delete"' in html
    assert '<span id="left" hx-swap-oob="true">2</span>' in html
    assert r.headers["HX-Push-Url"] == f"/villages/{v}/paper/entry?on={SHEET_DAY}"
    b = db.session.get(Beneficiary, an.id)
    assert (b.account_status, b.no_account_reason) == ("no_account", "Chưa có CCCD")


def test_errors_are_next_to_the_field_and_the_input_is_kept(client, village):
    an, v = village["an"], village["v"]
    login(client, "commune")
    data = line_data(client, v, an, number="3007-ABC", holder_name="Ai Đó", note="ghi tay")
    r = client.post(f"/villages/{v}/paper/entry", data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and html.startswith("<!doctype html>")
    assert "<title>Lỗi:" in html and "Có lỗi cần sửa" in html
    assert 'id="l-holder_name-error"' in html and "Chủ tài khoản khác tên đối tượng" in html
    assert 'value="3007-ABC"' in html and 'value="Ai Đó"' in html and "ghi tay</textarea>" in html
    data["l-holder_name"] = ""
    r = client.post(f"/villages/{v}/paper/entry", data=data, headers=HX)
    frag = r.get_data(as_text=True)
    assert r.status_code == 422 and "<html" not in frag
    assert 'id="l-number-error"' in frag and "Số tài khoản chỉ gồm chữ số" in frag
    assert 'aria-invalid="true"' in frag and 'value="3007-ABC"' in frag
    assert db.session.get(Beneficiary, an.id).account_status == "unknown"
    assert db.session.scalar(select(func.count(Review.id))) == 0


def test_a_person_reviewed_after_the_sheets_date_is_not_overwritten(client, village):
    cuc, v = village["cuc"], village["v"]
    login(client, "commune")
    data = line_data(client, v, cuc, on="2024-05-02", number="99887766")
    visit(cuc, date(2024, 5, 20))  # a door-to-door visit, later than the sheet
    db.session.commit()
    r = client.post(f"/villages/{v}/paper/entry", data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "đã được rà soát ngày 20/05/2024, sau ngày ghi trên phiếu (02/05/2024)" in html
    assert f"/households/{cuc.household_id}" in html
    assert db.session.get(Beneficiary, cuc.id).account.number == "1234567890"
    # Opening the code says it at once, too.
    r = client.get(f"/villages/{v}/paper/entry?on=2024-05-02&code={paper.code_for(cuc.id)}")
    assert r.status_code == 422 and "sau ngày ghi trên phiếu" in r.get_data(as_text=True)


def test_the_same_line_entered_twice_is_refused(client, village):
    an, v = village["an"], village["v"]
    login(client, "commune")
    data = line_data(client, v, an)
    assert client.post(f"/villages/{v}/paper/entry", data=data).status_code == 303
    # The sheet typed in twice (a fresh form: the record's new version, another key).
    again = dict(data, **{"l-version": str(db.session.get(Beneficiary, an.id).version)})
    again.pop("idempotency_key")
    r = client.post(f"/villages/{v}/paper/entry", data=again)
    assert r.status_code == 422 and "có thể dòng này đã được nhập" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Review.id))) == 1


def test_someone_saving_meanwhile_is_a_conflict_not_an_overwrite(client, village):
    cuc, v = village["cuc"], village["v"]
    login(client, "commune")
    data = line_data(client, v, cuc, account_status="refuses", payment_method="cash", bank_bin="", number="")
    b = db.session.get(Beneficiary, cuc.id)
    b.phone = "0905000111"  # another officer's correction moves the version
    db.session.commit()
    r = client.post(f"/villages/{v}/paper/entry", data=data, headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "Người khác vừa lưu hồ sơ này" in html
    assert db.session.get(Beneficiary, cuc.id).account_status == "has_account"


def test_entry_needs_csrf_and_an_editor(client, village):
    an, v = village["an"], village["v"]
    login(client, "commune")
    data = line_data(client, v, an)
    data.pop("csrf_token")
    assert client.post(f"/villages/{v}/paper/entry", data=data).status_code == 400
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "police")
    data["csrf_token"] = csrf_token(client, "/search")
    assert client.post(f"/villages/{v}/paper/entry", data=data).status_code == 403
    assert db.session.get(Beneficiary, an.id).account_status == "unknown"


def test_a_code_of_another_commune_cannot_be_posted(client, village):
    an, other, v = village["an"], village["other"], village["v"]
    login(client, "commune")
    data = line_data(client, v, an)
    data["l-code"] = paper.code_for(other.id)
    r = client.post(f"/villages/{v}/paper/entry", data=data)
    assert r.status_code == 422 and "Không có ai mang mã" in r.get_data(as_text=True)
    assert client.post(f"/villages/{other.village_id}/paper/entry", data=data).status_code == 404
    assert db.session.get(Beneficiary, other.id).account_status == "unknown"


# --- budgets -----------------------------------------------------------------------------

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Hoàng", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Xuân", "Quang", "Kim"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Khánh",
         "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quý", "Sơn", "Tâm", "Thảo", "Trang",
         "Tuấn", "Vân", "Yến"]


def test_sheet_pages_within_budget_for_a_large_village_of_varied_names(client, app):
    """230 people with distinct names and IDs (the least compressible case): every page
    of the sheet and the entry page ≤ 14,600 B compressed, every person on exactly one
    page; a line saved with htmx ≤ 2,000 B."""
    rng = random.Random(5)
    ids = []
    for i in range(230):
        name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)} {rng.choice(GIVEN)}"
        b = person(village="Thôn Lớn", name=name, national_id=f"0511{rng.randrange(10**8):08d}",
                   birth=date(rng.randrange(1925, 2015), 1, 1))
        if i % 3:
            with_account(b, number=str(rng.randrange(10**9, 10**13)))
        ids.append(b.id)
    db.session.commit()
    v = db.session.get(Beneficiary, ids[0]).village_id
    login(client, "commune")
    codes, page, pages = [], 1, None
    while pages is None or page <= pages:
        r = client.get(f"/villages/{v}/paper?page={page}", headers=ENC)
        size = compressed(r)
        print(f"sheet page {page}: {size} B compressed")
        assert size <= PAGE_BUDGET, f"page {page}: {size} B"
        html = brotli.decompress(r.data).decode() if r.headers["Content-Encoding"] == "br" else None
        codes += re.findall(r'<td class="code">([\d-]+)</td>', html)
        pages = pages or int(re.search(r"tờ \d+/(\d+)", html).group(1))
        page += 1
    assert pages > 1
    assert sorted(paper.parse_code(c) for c in codes) == sorted(ids)
    r = client.get(f"/villages/{v}/paper/entry", headers=ENC)
    print(f"entry page (230 pending): {compressed(r)} B compressed")
    assert compressed(r) <= PAGE_BUDGET
    b = db.session.get(Beneficiary, ids[1])
    data = line_data(client, v, b, account_status="has_account", number="3007171516813",
                     holder_name=b.full_name, note="Chủ hộ ký nhận")
    r = client.post(f"/villages/{v}/paper/entry", data=data, headers={**ENC, **HX})
    assert r.status_code == 200
    print(f"paper line saved (htmx): {compressed(r)} B compressed")
    assert compressed(r) <= UPDATE_BUDGET


def test_demo_pages_within_budget(demo_app):
    """On the demo district: the sheet and the entry page of Bình Chánh's largest village
    ≤ 14,600 B compressed."""
    with demo_app.app_context():
        client = demo_app.test_client()
        login(client, "commune")
        chanh = db.session.scalar(select(Area).where(Area.code == "21052", Area.level == "commune",
                                                     Area.valid_to.is_not(None)))
        v, n = db.session.execute(
            select(Beneficiary.village_id, func.count()).where(Beneficiary.commune_id == chanh.id)
            .group_by(Beneficiary.village_id).order_by(func.count().desc())).first()
        for url in (f"/villages/{v}/paper", f"/villages/{v}/paper/entry"):
            size = compressed(client.get(url, headers=ENC))
            print(f"{url} ({n} people): {size} B compressed")
            assert size <= PAGE_BUDGET, f"{url}: {size} B"


# --- in a real browser -------------------------------------------------------------------

@pytest.fixture
def paper_server(fresh_app):
    """A live server on a fresh database holding a village of three people."""
    import threading

    from werkzeug.serving import make_server
    with fresh_app.app_context():
        an = person(name="Nguyễn Văn An")
        person(name="Trần Thị Bích", sex="F", national_id="051155000111", household=an.household)
        cuc = person(name="Lê Thị Cúc", sex="F", national_id="051160000222")
        db.session.commit()
        ids = (an.village_id, an.id, cuc.id)
    server = make_server("127.0.0.1", 0, fresh_app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", ids
    server.shutdown()


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_enter_two_lines_in_the_browser(browser, paper_server, fresh_app, javascript):
    from tests.conftest import log_in_as
    base, (v, an_id, cuc_id) = paper_server
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    log_in_as(page, base, "commune")
    page.goto(f"{base}/villages/{v}")
    page.click("text=Nhập phiếu giấy")
    page.wait_for_url(f"{base}/villages/{v}/paper/entry")
    if javascript:
        page.evaluate("window.__sameDocument = true")
    for bid, status in ((an_id, "has_account"), (cuc_id, "refuses")):
        page.fill("#code", paper.code_for(bid))
        page.click("button:has-text('Mở dòng')")
        page.locator("#line h2").wait_for()
        if bid == an_id:
            assert page.input_value("#l-visited_on") == ""
            page.fill("#l-visited_on", SHEET_DAY)  # typed once for the sheet
        else:
            assert page.input_value("#l-visited_on") == SHEET_DAY
        page.select_option("#l-account_status", status)
        if status == "has_account":
            page.select_option("#l-payment_method", "account")
            page.select_option("#l-bank_bin", "970405")
            page.fill("#l-number", "4300205123456")
        else:
            page.select_option("#l-payment_method", "cash")
        page.click("button:has-text('Lưu dòng này')")
        page.locator(".flash.success", has_text=f"Đã lưu dòng {paper.code_for(bid)}").wait_for()
        assert page.locator("#line").count() == 0
        assert page.locator("#entered li", has_text=paper.code_for(bid)).count() == 1
        assert page.locator(f"#p{bid}").count() == 0  # no longer pending
    assert page.locator("#left").inner_text() == "1"
    assert page.url.endswith(f"/villages/{v}/paper/entry?on={SHEET_DAY}")
    if javascript:
        assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
        # Ready for the next code: htmx focuses the new [autofocus] field once it settles.
        page.wait_for_function("document.activeElement && document.activeElement.id === 'code'",
                               timeout=5000)
        page.fill("#code", paper.code_for(an_id))
        page.click("button:has-text('Mở dòng')")
        page.locator(".flash.error", has_text="có thể dòng này đã được nhập").wait_for()
    context.close()
    with fresh_app.app_context():
        assert db.session.get(Beneficiary, an_id).account.number == "4300205123456"
        assert db.session.get(Beneficiary, cuc_id).account_status == "refuses"
        assert db.session.scalar(select(func.count(Review.id))) == 2


@pytest.mark.browser
def test_the_sheet_prints_on_a4_without_navigation(browser, paper_server):
    from tests.conftest import log_in_as
    base, (v, an_id, _) = paper_server
    context = browser.new_context()
    page = context.new_page()
    log_in_as(page, base, "commune")
    page.goto(f"{base}/villages/{v}/paper")
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden() and page.locator(".noprint").is_hidden()
    assert page.locator("table.sheet").is_visible()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    # Nothing wider than the A4 page's printable width (190 mm at 96 px/inch ≈ 718 px).
    page.set_viewport_size({"width": 718, "height": 1000})
    assert page.evaluate("document.documentElement.scrollWidth") <= 718
    pdf = page.pdf(prefer_css_page_size=True)  # the page size from the stylesheet's @page
    boxes = {tuple(round(float(x)) for x in m.split()[2:]) for m in re.findall(
        rb"/MediaBox\s*\[([^\]]*)\]", pdf)}
    assert boxes == {(595, 842)}  # A4 portrait in points (Chromium's default is Letter, 612 × 792)
    context.close()


@pytest.mark.browser
def test_paper_pages_have_no_serious_accessibility_violation(browser, paper_server):
    from axe_playwright_python.sync_playwright import Axe

    from tests.conftest import log_in_as
    base, (v, an_id, _) = paper_server
    page = browser.new_page()
    log_in_as(page, base, "commune")
    code = paper.code_for(an_id)
    problems = {}
    for url in (f"/villages/{v}/paper", f"/villages/{v}/paper/entry",
                f"/villages/{v}/paper/entry?on={SHEET_DAY}&code={code}",
                f"/villages/{v}/paper/entry?on={SHEET_DAY}&code={code[:-1]}{(int(code[-1]) + 1) % 10}"):
        page.goto(base + url)
        found = [f"{x['id']}: {x['help']}" for x in Axe().run(page).response["violations"]
                 if x["impact"] in ("serious", "critical")]
        if found:
            problems[url] = found
    assert problems == {}
    page.close()
