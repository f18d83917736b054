"""An upload whose form comes back with an error keeps the file on the server (issue 13 §4):
the user fixes the month or the program and sends the form again without choosing the file;
«Chọn tệp khác» drops it; another user cannot use it (404); it expires after a day."""
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.imports.routes import KEPT_FOR
from portal.models import ImportBatch
from tests import filegen
from tests.conftest import csrf_token, login


@pytest.fixture
def data():
    people = filegen.make_people(12, seed=7)
    return filegen.write_list(people, "csv_comma")  # no title line: the month must be typed


def page_form(client):
    page = client.get("/imports/new").get_data(as_text=True)
    commune_id = re.search(r'<option[^>]*value="(\d+)"[^>]*>Xã Bình Chánh', page).group(1)
    return {"csrf_token": csrf_token(client, "/imports/new"), "commune_id": commune_id, "program": "BTXH"}


def post(client, form, file=None):
    form = dict(form)
    if file is not None:
        form["file"] = file
    return client.post("/imports/new", data=form, content_type="multipart/form-data")


def kept_of(html):
    m = re.search(r'<input[^>]*name="kept"[^>]*value="([^"]*)"', html) or re.search(
        r'<input[^>]*value="([^"]*)"[^>]*name="kept"', html)
    return m.group(1) if m else ""


def lists():
    return db.session.scalars(select(ImportBatch).where(ImportBatch.kind == "list")).all()


def test_a_missing_month_keeps_the_file_and_the_fixed_form_needs_no_file(client, data):
    login(client, "commune")
    form = page_form(client)
    r = post(client, form | {"month": ""}, (io.BytesIO(data), "ds-thang.csv"))
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "nhập tháng của danh sách" in html
    size = f"{len(data) / 1024:.1f}".replace(".", ",")
    assert f"Tệp đã tải lên: ds-thang.csv ({size} kB) — không cần chọn lại." in html
    assert "Chọn tệp khác" in html
    kept = kept_of(html)
    assert kept and db.session.get(ImportBatch, int(kept)).data == data
    assert not lists()  # nothing to preview yet
    # The month fixed, no file chosen: the kept one is read.
    r = post(client, form | {"month": "2024-05", "kept": kept})
    assert r.status_code == 303 and re.search(r"/imports/\d+$", r.headers["Location"])
    [batch] = lists()
    assert batch.data == data and batch.filename == "ds-thang.csv" and batch.month == "2024-05"
    db.session.expire_all()
    used = db.session.get(ImportBatch, int(kept))
    assert used.status == "used" and used.data == b""
    # Used: it cannot be sent again.
    assert post(client, form | {"month": "2024-05", "kept": kept}).status_code == 404


def test_a_bad_month_text_and_a_program_not_paid_keep_the_file(client, data):
    login(client, "commune")
    form = page_form(client)
    r = post(client, form | {"month": "05/2024"}, (io.BytesIO(data), "ds.csv"))  # not YYYY-MM
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Tháng dạng YYYY-MM" in html and "không cần chọn lại" in html
    kept = kept_of(html)
    r = post(client, form | {"month": "2024-05", "program": "HTXH", "kept": kept})  # HTXH from 07/2025
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "không cần chọn lại" in html and kept_of(html) == kept
    r = post(client, form | {"month": "2024-05", "kept": kept})
    assert r.status_code == 303 and len(lists()) == 1


def test_another_file_replaces_the_kept_one_and_forget_drops_it(client, data):
    login(client, "commune")
    form = page_form(client)
    first = kept_of(post(client, form, (io.BytesIO(data), "a.csv")).get_data(as_text=True))
    html = post(client, form | {"kept": first}, (io.BytesIO(data + b"\n"), "b.csv")).get_data(as_text=True)
    second = kept_of(html)
    assert second != first and "b.csv" in html
    db.session.expire_all()
    assert db.session.get(ImportBatch, int(first)).status == "discarded"
    r = post(client, form | {"kept": second, "forget": "1"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "không cần chọn lại" not in html and kept_of(html) == ""
    db.session.expire_all()
    assert db.session.get(ImportBatch, int(second)).status == "discarded"
    assert db.session.get(ImportBatch, int(second)).data == b""
    r = post(client, form | {"month": "2024-05"})  # and the file is asked for again
    assert r.status_code == 422 and "Chọn tệp danh sách" in r.get_data(as_text=True)
    # A list that goes on to its preview with a new file drops what was kept before.
    third = kept_of(post(client, form, (io.BytesIO(data), "c.csv")).get_data(as_text=True))
    assert post(client, form | {"month": "2024-05"}, (io.BytesIO(data), "c.csv")).status_code == 303
    db.session.expire_all()
    assert db.session.get(ImportBatch, int(third)).status == "discarded"


def test_a_file_that_is_not_a_list_is_not_kept(client):
    login(client, "commune")
    r = post(client, page_form(client) | {"month": "2024-05"}, (io.BytesIO(b"\x00\xff not a sheet"), "ds.xlsx"))
    assert r.status_code == 422 and "không cần chọn lại" not in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_another_user_cannot_use_the_kept_file_and_it_expires(client, app, data):
    login(client, "commune")
    form = page_form(client)
    kept = kept_of(post(client, form, (io.BytesIO(data), "ds.csv")).get_data(as_text=True))
    client.post("/logout", data={"csrf_token": form["csrf_token"]})
    login(client, "district")
    other = page_form(client) | {"commune_id": form["commune_id"], "month": "2024-05", "kept": kept}
    assert post(client, other).status_code == 404
    assert not lists()
    client.post("/logout", data={"csrf_token": other["csrf_token"]})
    login(client, "commune")
    form = page_form(client)
    batch = db.session.get(ImportBatch, int(kept))
    batch.created_at -= KEPT_FOR + timedelta(minutes=1)
    db.session.commit()
    r = post(client, form | {"month": "2024-05", "kept": kept})
    assert r.status_code == 422 and "đã hết hạn" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ImportBatch, int(kept)).status == "discarded" and not lists()


def test_kept_files_are_not_previews(client, data):
    login(client, "commune")
    kept = kept_of(post(client, page_form(client), (io.BytesIO(data), "ds.csv")).get_data(as_text=True))
    assert client.get(f"/imports/{kept}").status_code == 404
    assert f"/imports/{kept}\"" not in client.get("/imports/new").get_data(as_text=True)
