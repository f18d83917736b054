"""Byte and request budgets (budgets.md), asserted on the demo district for each role's
main pages: every HTML page ≤ 14,600 B compressed, an htmx status update ≤ 2,000 B, the
stylesheet ≤ 6,000 B, at most 4 requests per first page view."""
import re

import brotli
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Area, Beneficiary
from tests.conftest import csrf_token, login

PAGE_BUDGET = 14_600
UPDATE_BUDGET = 2_000
CSS_BUDGET = 6_000
ENC = {"Accept-Encoding": "br, gzip"}


def compressed_size(resp):
    assert resp.headers.get("Content-Encoding") in ("br", "gzip"), "response not compressed"
    return len(resp.data)


@pytest.fixture
def demo_client(demo_app):
    with demo_app.app_context():
        yield demo_app.test_client()


def main_pages(role):
    chanh = db.session.scalar(select(Area).where(Area.code == "21052", Area.level == "commune",
                                                 Area.valid_to.is_not(None)))
    village = db.session.execute(
        select(Beneficiary.village_id, func.count()).where(Beneficiary.commune_id == chanh.id)
        .group_by(Beneficiary.village_id).order_by(func.count().desc()).limit(1)).first()[0]
    household = db.session.execute(
        select(Beneficiary.household_id, func.count()).where(Beneficiary.commune_id == chanh.id)
        .group_by(Beneficiary.household_id).order_by(func.count().desc()).limit(1)).first()[0]
    commune_pages = [f"/communes/{chanh.id}", f"/villages/{village}", f"/households/{household}",
                     "/search?q=nguyen", "/export", f"/quality/communes/{chanh.id}"]
    return {
        "commune": commune_pages + ["/imports/new", "/payments"],
        "police": commune_pages + ["/police"],
        "district": ["/overview", f"/communes/{chanh.id}", "/search?q=tran", "/imports/new", "/quality"],
        "admin": ["/overview", "/admin/targets", "/quality"],
        "payer": ["/overview", "/payments"],
    }[role]


def test_login_page_budget(demo_client):
    r = demo_client.get("/login", headers=ENC)
    assert compressed_size(r) <= PAGE_BUDGET


@pytest.mark.parametrize("role", ["commune", "police", "district", "admin", "payer"])
def test_main_pages_within_budget(demo_client, role):
    login(demo_client, role)
    for url in main_pages(role):
        r = demo_client.get(url, headers=ENC)
        assert r.status_code == 200, url
        size = compressed_size(r)
        assert size <= PAGE_BUDGET, f"{role} {url}: {size} B compressed"
        html = brotli.decompress(r.data).decode() if r.headers["Content-Encoding"] == "br" else None
        if html:
            # HTML + stylesheet + htmx: no fonts, images or other scripts; the favicon inline.
            assets = set(re.findall(r'(?:src|href)="(/assets/[^"]+)"', html))
            assert len(assets) + 1 <= 4, assets
            assert not re.search(r'<img|<link[^>]+font|https?://', html.split("</head>")[0])


def test_stylesheet_budget(demo_client):
    login(demo_client, "commune")
    html = demo_client.get("/search").get_data(as_text=True)
    css = re.search(r'href="(/assets/app\.[0-9a-f]+\.css)"', html).group(1)
    assert compressed_size(demo_client.get(css, headers=ENC)) <= CSS_BUDGET


def test_status_update_budget(demo_client):
    login(demo_client, "commune")
    chanh = db.session.scalar(select(Area).where(Area.code == "21052", Area.valid_to.is_not(None)))
    b = db.session.scalars(select(Beneficiary).where(Beneficiary.commune_id == chanh.id,
                                                     Beneficiary.account_status != "has_account")).first()
    page = demo_client.get(f"/households/{b.household_id}").get_data(as_text=True)
    version = re.search(rf'name="b{b.id}-version"[^>]*value="(\d+)"', page).group(1)
    data = {"csrf_token": csrf_token(demo_client, f"/households/{b.household_id}"),
            f"b{b.id}-version": version, f"b{b.id}-account_status": "has_account",
            f"b{b.id}-payment_method": "account", f"b{b.id}-bank_bin": "970449",
            f"b{b.id}-number": "123456789012", f"b{b.id}-recipient_type": "self"}
    r = demo_client.post(f"/beneficiaries/{b.id}/review", data=data, headers={**ENC, "HX-Request": "true"})
    assert r.status_code == 200
    size = compressed_size(r)
    assert size <= UPDATE_BUDGET, f"status update response {size} B"
