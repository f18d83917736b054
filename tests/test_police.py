"""The police verification round: the list, one answer at a time, the workbook loop."""
import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Beneficiary, ChangeProposal, Finding, Verification
from portal.services import months
from tests.conftest import csrf_token, login
from tests.factories import person

HX = {"HX-Request": "true"}


@pytest.fixture
def people(app):
    a = person(name="Nguyễn Văn An", national_id="051050123456")
    b = person(name="Trần Thị Bích", sex="F", national_id="051155000111", birth=date(1955, 2, 2))
    other = person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường",
                   national_id="051060222333", birth=date(1960, 1, 1))
    db.session.commit()
    return a, b, other


def answer(client, b, **values):
    data = {"csrf_token": csrf_token(client, "/police")}
    data.update({f"v{b.id}-{k}": v for k, v in values.items()})
    return data


def test_months():
    assert months.after(date(2024, 4, 12)) == "2024-05"
    assert months.after(date(2024, 12, 31)) == "2025-01"
    assert months.add("2024-01", -1) == "2023-12" and months.add("2024-11", 14) == "2026-01"
    assert months.between("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01"]
    assert months.between("2024-05", "2024-05") == []
    assert months.end("2024-02") == date(2024, 2, 29) and months.label("2024-05") == "05/2024"
    with pytest.raises(ValueError, match="YYYY-MM"):
        months.parse("2024-13")


def test_police_lands_on_the_list_of_their_commune(client, people):
    login(client, "police")
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/police")
    html = client.get("/police").get_data(as_text=True)
    assert "Nguyễn Văn An" in html and "Trần Thị Bích" in html and "Lê Văn Cường" not in html
    assert "Đã xác minh trong kỳ: <b>0/2</b>" in html


def test_deceased_marks_the_record_and_proposes_the_stop(client, people):
    a, _, _ = people
    login(client, "police")
    r = client.post(f"/police/{a.id}", data=answer(client, a, result="deceased", died_on="2024-04-12"), headers=HX)
    assert r.status_code == 200 and "Đã ghi: Đã chết" in r.get_data(as_text=True)
    b = db.session.get(Beneficiary, a.id)
    assert b.deceased is True
    finding = db.session.scalars(select(Finding).where(Finding.beneficiary_id == a.id, Finding.source == "police")).one()
    assert finding.code == "police_deceased" and "12/04/2024" in finding.message
    proposal = db.session.scalars(select(ChangeProposal)).one()
    assert (proposal.kind, proposal.clause, proposal.effective_month, proposal.status) == ("stop", "1a", "2024-05", "proposed")
    assert "deceased_active" in {f.code for f in b.findings if f.resolved_at is None}
    # The commune officer sees the finding and the proposed stop on the record.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "commune")
    page = client.get(f"/beneficiaries/{a.id}").get_data(as_text=True)
    assert "Công an báo đã chết ngày 12/04/2024" in page and "Thôi hưởng" in page and "05/2024" in page
    assert "Nguyễn Văn An" not in client.get("/police").get_data(as_text=True)  # not a police page for them


def test_mismatch_needs_the_field_and_value(client, people):
    a, _, _ = people
    login(client, "police")
    r = client.post(f"/police/{a.id}", data=answer(client, a, result="mismatch"))
    assert r.status_code == 422 and "Chọn thông tin bị sai" in r.get_data(as_text=True)
    r = client.post(f"/police/{a.id}", data=answer(client, a, result="mismatch", field="full_name",
                                                   population_value="Nguyễn Văn Ân"))
    assert r.status_code == 303
    f = db.session.scalars(select(Finding).where(Finding.source == "police")).one()
    assert f.code == "police_mismatch" and "Nguyễn Văn Ân" in f.message and f.severity == "error"
    # Verified later: the police finding is settled.
    r = client.post(f"/police/{a.id}", data=answer(client, a, result="verified"))
    assert db.session.get(Finding, f.id).resolved_at is not None


def test_police_scope_and_role(client, people):
    a, _, other = people
    login(client, "police")
    assert client.post(f"/police/{other.id}", data=answer(client, other, result="verified")).status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/search")})
    login(client, "commune")
    assert client.get("/police").status_code == 403
    assert client.post(f"/police/{a.id}", data=answer(client, a, result="verified")).status_code == 403


def test_workbook_round_trip(client, people):
    a, b, _ = people
    login(client, "police")
    r = client.get("/police/export")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data))
    ws = wb.active
    header = [c.value for c in ws[3]]
    rows = {ws.cell(i, header.index("Họ và tên") + 1).value: i for i in range(4, ws.max_row + 1)}
    assert set(rows) == {"Nguyễn Văn An", "Trần Thị Bích"}
    assert ws.cell(rows["Nguyễn Văn An"], header.index("Số định danh") + 1).value == "051050123456"
    col = {h: header.index(h) + 1 for h in header}
    ws.cell(rows["Nguyễn Văn An"], col["Kết quả"], "Khớp")
    ws.cell(rows["Trần Thị Bích"], col["Kết quả"], "Đã chết")
    ws.cell(rows["Trần Thị Bích"], col["Ngày mất"], "03/05/2024")
    ws.append([999, "Người Lạ", None, None, "051099999999", None, "Khớp"])  # matches nobody
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post("/police/upload", data={"csrf_token": csrf_token(client, "/police"),
                                            "file": (io.BytesIO(buf.getvalue()), "xac-minh.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 303
    preview = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Không khớp hồ sơ nào" in preview
    assert db.session.scalar(select(func.count(Verification.id))) == 0  # nothing written yet
    r = client.post(r.headers["Location"] + "/confirm", data={"csrf_token": csrf_token(client, "/police")})
    assert r.status_code == 303
    results = dict(db.session.execute(select(Verification.beneficiary_id, Verification.result)).all())
    assert results == {a.id: "verified", b.id: "deceased"}
    assert db.session.scalars(select(ChangeProposal)).one().effective_month == "2024-06"


def test_a_workbook_that_is_not_the_round_is_refused(client):
    login(client, "police")
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.append(["something", "else"])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post("/police/upload", data={"csrf_token": csrf_token(client, "/police"),
                                            "file": (io.BytesIO(buf.getvalue()), "x.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 303 and r.headers["Location"].endswith("/police")
    assert "Không phải bảng xác minh" in client.get("/police").get_data(as_text=True)


def test_a_death_before_the_birth_is_refused(client, people):
    a, _, _ = people
    login(client, "police")
    r = client.post(f"/police/{a.id}", data=answer(client, a, result="deceased", died_on="1900-01-01"))
    assert r.status_code == 422 and "trước năm sinh" in r.get_data(as_text=True)
    assert db.session.get(Beneficiary, a.id).deceased is False
