"""The English option: every text has a translation, and a user can switch."""
from pathlib import Path

from babel.messages.pofile import read_po

from tests.conftest import csrf_token, login

PO = Path(__file__).resolve().parents[1] / "portal/translations/en/LC_MESSAGES/messages.po"


def test_every_text_is_translated():
    catalog = read_po(PO.open("rb"))
    missing = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert missing == []


def test_switch_to_english_and_back(fresh_app):
    client = fresh_app.test_client()
    login(client, "commune")
    page = client.get("/search").get_data(as_text=True)
    assert 'lang="vi"' in page and "Tìm đối tượng" in page
    r = client.post("/lang", data={"lang": "en", "csrf_token": csrf_token(client, "/search")},
                    headers={"Referer": "http://localhost/search"})
    assert r.status_code == 303 and r.headers["Location"] == "http://localhost/search"
    page = client.get("/search").get_data(as_text=True)
    assert 'lang="en"' in page and "Find a beneficiary" in page and "Tìm đối tượng" not in page
    client.post("/lang", data={"lang": "vi", "csrf_token": csrf_token(client, "/search")})
    assert "Tìm đối tượng" in client.get("/search").get_data(as_text=True)


def test_language_switch_needs_csrf(client):
    assert client.post("/lang", data={"lang": "en"}).status_code == 400
