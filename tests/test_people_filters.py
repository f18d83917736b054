"""Filters of a village's people and a commune's people list (issue 13 §3): not visited, no
account, refuses, blocked; counts per filter as links; pagination keeps the filter; IDs
masked; outside the user's area 404; a constant number of statements."""
import re
from datetime import datetime

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.models import Finding
from portal.services import people, progress
from portal.services.areas import find_commune
from tests.conftest import login
from tests.factories import person

SHOWS = ("not_visited", "no_account", "refuses", "blocked")


@pytest.fixture
def world(app):
    """Commune 21052 (Thôn An Thành and Thôn Phú Lễ) and one person of commune 21046."""
    after, before = datetime(2024, 3, 5, 9), datetime(2023, 6, 1, 9)
    w = {
        "never": person(name="Nguyễn Văn Chưa", national_id="051050100001"),
        "old": person(name="Trần Thị Cũ", national_id="051150100002", reviewed_at=before, account_status="has_account"),
        "none": person(name="Lê Văn Không", national_id="051050100003", reviewed_at=after, account_status="no_account"),
        "refuses": person(name="Phạm Thị Từ", national_id="051150100004", reviewed_at=after, account_status="refuses",
                          village="Thôn Phú Lễ"),
        "blocked": person(name="Võ Văn Chặn", national_id="051050100005", reviewed_at=after,
                          account_status="has_account"),
        "dead": person(name="Đặng Văn Mất", national_id="051050100006", deceased=True),
        "away": person(commune_code="21046", village="Thôn Mỹ Long", name="Hồ Văn Xa", national_id="051050100007"),
    }
    db.session.add(Finding(beneficiary_id=w["blocked"].id, code="id_year_mismatch", severity="error",
                           message="Số định danh không khớp năm sinh.", source="check"))
    db.session.add(Finding(beneficiary_id=w["old"].id, code="no_phone", severity="warning",
                           message="Chưa có số điện thoại.", source="check"))  # a warning blocks nothing
    db.session.commit()
    return w


def test_counts_and_filters_of_the_service(world):
    since = progress.campaign_start()
    units = [find_commune("21052", "2024-05").id]
    assert people.counts(None, since, unit_ids=units) == {
        "all": 5, "not_visited": 2, "no_account": 1, "refuses": 1, "blocked": 1}
    names = {s: {b.full_name for b in people.people(None, since, s, unit_ids=units)} for s in SHOWS}
    assert names == {"not_visited": {"Nguyễn Văn Chưa", "Trần Thị Cũ"}, "no_account": {"Lê Văn Không"},
                     "refuses": {"Phạm Thị Từ"}, "blocked": {"Võ Văn Chặn"}}
    assert len(people.people(None, since, None, unit_ids=units)) == 5
    # The village narrows: Thôn Phú Lễ has only the one who refuses.
    v = world["refuses"].village_id
    assert people.counts(None, since, village_id=v) == {
        "all": 1, "not_visited": 0, "no_account": 0, "refuses": 1, "blocked": 0}
    # Once the error is fixed, nobody is blocked any more.
    db.session.execute(Finding.__table__.update().values(resolved_at=datetime(2024, 4, 1)))
    db.session.commit()
    assert people.counts(None, since, unit_ids=units)["blocked"] == 0


def _links(html):
    return dict(re.findall(r'href="[^"]*show=(\w+)[^"]*">[^<]*</a> <span class="tag">(\d+)</span>', html))


def test_village_page_filters(client, world):
    login(client, "commune")
    v = world["never"].village_id
    html = client.get(f"/villages/{v}").get_data(as_text=True)
    assert _links(html) == {"not_visited": "2", "no_account": "1", "refuses": "0", "blocked": "1"}
    assert "Nguyễn Văn Chưa" in html  # the households' list when no filter
    r = client.get(f"/villages/{v}?show=not_visited")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'aria-current="true">Chưa rà soát' in html
    assert f'/households/{world["never"].household_id}#b{world["never"].id}' in html
    assert "Trần Thị Cũ" in html and "Lê Văn Không" not in html and "Võ Văn Chặn" not in html
    assert "051050100001" not in html and "0001" in html  # masked
    html = client.get(f"/villages/{v}?show=blocked").get_data(as_text=True)
    assert "Võ Văn Chặn" in html and "Nguyễn Văn Chưa" not in html
    # An unknown filter is no filter.
    html = client.get(f"/villages/{v}?show=everyone").get_data(as_text=True)
    assert 'aria-current="true"' not in html and "Lê Văn Không" in html
    # Boosted: the full page (htmx swaps the body).
    r = client.get(f"/villages/{v}?show=refuses", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert r.status_code == 200 and "<html" in r.get_data(as_text=True)


def test_commune_people_page(client, world, app):
    login(client, "commune")
    c = find_commune("21052", "2024-05")
    assert f'/communes/{c.id}/people' in client.get(f"/communes/{c.id}").get_data(as_text=True)
    html = client.get(f"/communes/{c.id}/people").get_data(as_text=True)
    assert _links(html) == {"not_visited": "2", "no_account": "1", "refuses": "1", "blocked": "1"}
    assert "Đặng Văn Mất" not in html and "Hồ Văn Xa" not in html
    assert not re.search(r"\b05105010000\d\b", html)  # no full ID
    html = client.get(f"/communes/{c.id}/people?show=refuses").get_data(as_text=True)
    assert "Phạm Thị Từ" in html and "Thôn Phú Lễ" in html and "Lê Văn Không" not in html
    # Pagination keeps the filter.
    app.config["PAGE_SIZE"] = 1
    html = client.get(f"/communes/{c.id}/people?show=not_visited").get_data(as_text=True)
    assert "Trang 1/2" in html and re.search(r'href="[^"]*show=not_visited[^"]*page=2|href="[^"]*page=2[^"]*show=not_visited', html)
    assert "Nguyễn Văn Chưa" in html and "Trần Thị Cũ" not in html
    html = client.get(f"/communes/{c.id}/people?show=not_visited&page=2").get_data(as_text=True)
    assert "Trần Thị Cũ" in html and "Nguyễn Văn Chưa" not in html


def test_commune_people_outside_is_404(client, world):
    login(client, "commune")  # commune 21052's officer
    other = find_commune("21046", "2024-05")
    assert client.get(f"/communes/{other.id}/people").status_code == 404
    assert client.get(f"/communes/{world['never'].village_id}/people").status_code == 404  # a village
    assert client.get("/communes/99999999/people").status_code == 404


def _statements(client, url):
    seen = []
    db.session.close()  # nothing the test loaded saves the page a statement

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


@pytest.mark.parametrize("show", [None, "not_visited", "blocked"])
def test_commune_people_statements_do_not_grow(client, world, show):
    login(client, "commune")
    c = find_commune("21052", "2024-05")
    url = f"/communes/{c.id}/people" + (f"?show={show}" if show else "")
    few = _statements(client, url)
    for i in range(60):
        b = person(name=f"Người Thứ {i:02d}", national_id=f"0510502{i:05d}",
                   village="Thôn An Thành" if i % 2 else "Thôn Phú Lễ")
        db.session.add(Finding(beneficiary_id=b.id, code="id_year_mismatch", severity="error",
                               message="Số định danh không khớp năm sinh.", source="check"))
    db.session.commit()
    many = _statements(client, url)
    assert many == few and many <= 8


def test_a_full_page_of_people_is_within_the_page_budget(client, world):
    from tests.test_budgets import PAGE_BUDGET, compressed_size
    for i in range(60):
        person(name=f"Nguyễn Thị Hồng Thứ {i:02d}", national_id=f"0511503{i:05d}")
    db.session.commit()
    login(client, "commune")
    c = find_commune("21052", "2024-05")
    r = client.get(f"/communes/{c.id}/people?show=not_visited", headers={"Accept-Encoding": "br, gzip"})
    assert r.status_code == 200 and compressed_size(r) <= PAGE_BUDGET
    html = client.get(f"/communes/{c.id}/people?show=not_visited").get_data(as_text=True)
    assert html.count("<tr>") == 51  # the head and a full page of 50
