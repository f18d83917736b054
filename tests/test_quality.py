"""The data-quality pages: counts per commune and rule, the worklist and its fixes."""
import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Beneficiary, Event, Finding
from portal.services import checks
from tests.conftest import csrf_token, login
from tests.factories import person

HX = {"HX-Request": "true"}


@pytest.fixture
def dirty(app):
    a = person(name="nguyễn văn an", national_id="051150123456")  # a man with a woman's digit
    a.category = "Người cao tuổi"
    b = person(name="Trần Thị Bích", sex="F", national_id=None, household=a.household)
    other = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường", national_id="051060222333",
                   birth=date(1960, 1, 1))
    db.session.flush()
    checks.recheck(select(Beneficiary.id))
    db.session.commit()
    return a, b, other


def test_district_sees_every_commune_laggards_first(client, dirty):
    login(client, "district")
    html = client.get("/quality").get_data(as_text=True)
    assert html.count('href="/quality/communes/') >= 22
    first = re.search(r'href="/quality/communes/\d+">([^<]+)<', html).group(1)
    assert first == "Xã Bình Chánh"  # the only commune with an error


def test_commune_page_counts_and_worklist(client, dirty):
    a, b, other = dirty
    login(client, "commune")
    r = client.get("/quality")
    assert r.status_code == 302 and f"/quality/communes/{a.commune_id}" in r.headers["Location"]
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Hồ sơ không có lỗi: <b>1/2</b>" in html
    assert html.index("Nguyễn Văn An") < html.index("Trần Thị Bích")  # the error first
    assert "Lê Văn Cường" not in html
    one_rule = client.get(f"/quality/communes/{a.commune_id}?rule=missing_id").get_data(as_text=True)
    assert "Trần Thị Bích" in one_rule and "Nguyễn Văn An" not in one_rule


def fix_data(client, b, field, value):
    page = client.get(f"/quality/communes/{b.commune_id}").get_data(as_text=True)
    prefix = f"f{b.id}-{field}"
    form = re.search(rf'<form[^>]*action="/quality/fix/{b.id}"[^>]*>((?:(?!</form>).)*name="{prefix}-value"(?:(?!</form>).)*)</form>',
                     page, re.S).group(1)
    assert f'name="field" value="{field}"' in form  # the page's own form says which field
    version = re.search(rf'name="{prefix}-version"[^>]*value="(\d+)"', page).group(1)
    return {"csrf_token": csrf_token(client, f"/quality/communes/{b.commune_id}"), "field": field,
            f"{prefix}-version": version, f"{prefix}-field": field, f"{prefix}-value": value}


def test_fix_in_place_with_htmx(client, dirty):
    a, _, _ = dirty
    login(client, "commune")
    r = client.post(f"/quality/fix/{a.id}", data=fix_data(client, a, "national_id", "051050123456"), headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and f'id="q{a.id}"' in html and "Đã sửa" in html
    assert db.session.get(Beneficiary, a.id).national_id == "051050123456"
    assert "id_sex_century_mismatch" not in {f.code for f in checks.findings_of(a.id)}
    ev = db.session.scalars(select(Event).where(Event.beneficiary_id == a.id, Event.field == "national_id")).one()
    assert ev.source == "correction"


def test_fix_without_javascript_and_bad_value(client, dirty):
    a, _, _ = dirty
    login(client, "commune")
    r = client.post(f"/quality/fix/{a.id}", data=fix_data(client, a, "full_name", "Nguyễn Văn An"))
    assert r.status_code == 303
    assert db.session.get(Beneficiary, a.id).full_name == "Nguyễn Văn An"
    r = client.post(f"/quality/fix/{a.id}", data=fix_data(client, a, "national_id", "5.11E+10"))
    assert r.status_code == 422 and "12 chữ số" in r.get_data(as_text=True)
    r = client.post(f"/quality/fix/{a.id}", data=fix_data(client, a, "national_id", "051150999999"), headers=HX)
    assert r.status_code == 422 and "không khớp giới tính" in r.get_data(as_text=True)


def test_fixes_are_scoped_and_for_officers(client, dirty):
    a, _, other = dirty
    login(client, "commune")
    data = fix_data(client, a, "national_id", "051060222333")
    data = {k.replace(f"f{a.id}-", f"f{other.id}-"): v for k, v in data.items()}
    assert client.post(f"/quality/fix/{other.id}", data=data).status_code == 404
    assert client.get(f"/quality/communes/{other.commune_id}").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "police")
    assert client.post(f"/quality/fix/{a.id}", data={"csrf_token": csrf_token(client, "/search")}).status_code == 403
    assert "<form" not in client.get(f"/quality/communes/{a.commune_id}").get_data(as_text=True).split("worklist")[1].split("</main>")[0].replace('<form method="post" action="/logout"', "")


def test_review_save_reruns_the_checks(client, dirty):
    from tests.test_views import review_data
    _, b, _ = dirty
    login(client, "commune")
    assert "not_reviewed" in {f.code for f in checks.findings_of(b.id)}
    r = client.post(f"/beneficiaries/{b.id}/review", data=review_data(client, b, number="4300205123456"))
    assert r.status_code == 303
    assert "not_reviewed" not in {f.code for f in checks.findings_of(b.id)}
    resolved = db.session.scalars(select(Finding).where(Finding.beneficiary_id == b.id,
                                                         Finding.code == "not_reviewed")).one()
    assert resolved.resolved_at is not None


def test_demo_problems_are_found(demo_app):
    """The demo's planted faults are each found by the checks (and nothing is planted twice)."""
    from portal.models import Area
    with demo_app.app_context():
        ids = [a.id for a in db.session.scalars(select(Area).where(Area.level == "commune"))]
        by_rule = {}
        for s in checks.commune_summaries(ids).values():
            for code, n in s["by_rule"].items():
                by_rule[code] = by_rule.get(code, 0) + n
    for code in ("id_sex_century_mismatch", "name_not_clean", "missing_category", "duplicate_id",
                 "account_is_card_number", "amount_mismatch", "deceased_active"):
        assert by_rule.get(code), code
    assert by_rule["duplicate_id"] == 4  # two IDs, each on two records


def test_recheck_on_demand(client, dirty):
    a, _, _ = dirty
    a.category = None  # changed behind the checks' back
    db.session.commit()
    login(client, "commune")
    r = client.post(f"/quality/communes/{a.commune_id}/recheck", data={"csrf_token": csrf_token(client, "/search")})
    assert r.status_code == 303
    assert "missing_category" in {f.code for f in checks.findings_of(a.id)}
    assert "Đã kiểm tra lại 2 hồ sơ" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_district_page_title_is_text(client, dirty):
    login(client, "district")
    html = client.get("/quality").get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "<" not in title and "Chất lượng dữ liệu" in title
    assert "Theo quy tắc" in html.split("</title>")[1]


def test_police_findings_count_in_the_worklist(client, dirty):
    from portal.services import police
    from portal.services.history import system_user
    _, b, _ = dirty
    police.record(b, system_user(), "2024-05", "not_found")
    db.session.commit()
    login(client, "commune")
    html = client.get(f"/quality/communes/{b.commune_id}").get_data(as_text=True)
    assert "Hồ sơ không có lỗi: <b>0/2</b>" in html
    assert "không tìm thấy trong CSDL" in html
