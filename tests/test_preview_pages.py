"""The preview of a big import shows its issues 50 a page, errors first, with the count of
each kind over the whole list, and stays within the page budget (issue 13 §4: 314 issues
on one page were 76.5 kB)."""
import hashlib
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.imports.routes import ISSUES_PER_PAGE, issues_page
from portal.models import ImportBatch, User
from portal.services import areas, imports
from tests import filegen
from tests.conftest import login
from tests.test_budgets import ENC, PAGE_BUDGET, compressed_size

ROWS = 4000


@pytest.fixture
def big_batch(app):
    """A 4,000-row list previewed: 308 people without an ID (warnings), some sharing one
    (errors), as the upload would keep it."""
    people = filegen.make_people(ROWS, seed=3)
    for i in range(0, ROWS, 13):
        people[i]["national_id"] = None
    for i in range(5, ROWS, 400):
        people[i]["national_id"] = people[i + 1]["national_id"]
    data = filegen.write_list(people, "csv_comma", month="2024-05")
    parsed = imports.parse(data, "ds-lon.csv", "BTXH", "2024-05")
    plan = imports.plan(parsed, areas.find_commune("21052", "2024-05"), "BTXH")
    user = db.session.scalar(select(User).where(User.username == "commune"))
    batch = ImportBatch(commune_id=plan.commune.id, program="BTXH", month="2024-05", filename="ds-lon.csv",
                        sha256=hashlib.sha256(data).hexdigest(), data=data, user_id=user.id,
                        summary=plan.snapshot())
    db.session.add(batch)
    db.session.commit()
    return batch


def severities(html):
    return re.findall(r'<span class="tag (\w+)">', html.split('id="issues"')[1])


def test_issues_page_orders_errors_first_and_counts_all():
    issues = [{"severity": s, "row": n} for n, s in enumerate(["warning", "error", "info", "warning", "error"])]
    rows, counts, page = issues_page(issues, 1, per_page=2)
    assert [i["row"] for i in rows] == [1, 4] and counts == {"warning": 2, "error": 2, "info": 1}
    rows, _, page = issues_page(issues, 3, per_page=2)
    assert [i["row"] for i in rows] == [2] and page == 3
    rows, _, page = issues_page(issues, 99, per_page=2)  # past the end: the last page
    assert page == 3 and [i["row"] for i in rows] == [2]
    assert issues_page([], 5) == ([], {}, 1)


def test_a_big_preview_is_paged_and_within_the_budget(client, big_batch):
    issues = big_batch.summary["issues"]
    errors = sum(1 for i in issues if i["severity"] == "error")
    warnings = sum(1 for i in issues if i["severity"] == "warning")
    assert len(issues) > 300 and errors >= 10 and warnings >= 300
    login(client, "commune")
    url = f"/imports/{big_batch.id}"
    r = client.get(url, headers=ENC)
    assert r.status_code == 200
    assert compressed_size(r) <= PAGE_BUDGET, f"{compressed_size(r)} B compressed"
    html = client.get(url).get_data(as_text=True)
    tags = severities(html)
    assert len(tags) == ISSUES_PER_PAGE and tags[:errors] == ["error"] * errors  # errors first
    assert f"Vấn đề ({len(issues)})" in html  # the count stays complete
    assert f"Lỗi: {errors}" in html and f"Cảnh báo: {warnings}" in html
    pages = -(-len(issues) // ISSUES_PER_PAGE)
    assert f"Trang 1/{pages}" in html and f'href="/imports/{big_batch.id}?page=2#issues"' in html
    last = client.get(f"{url}?page={pages}", headers=ENC)
    assert compressed_size(last) <= PAGE_BUDGET
    html = client.get(f"{url}?page={pages}").get_data(as_text=True)
    assert len(severities(html)) == len(issues) - (pages - 1) * ISSUES_PER_PAGE
    assert set(severities(html)) == {"warning"} and f"Trang {pages}/{pages}" in html
