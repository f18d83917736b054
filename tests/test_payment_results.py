"""The payment provider's result file: read, matched by reference within the payer's area,
previewed with row and column errors, applied all or nothing, idempotent."""
import io
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import Event, Finding, ImportBatch, PaymentLine, User
from portal.services import payments, results
from portal.services.areas import find_area, find_commune, upsert_area
from portal.services.history import system_user
from portal.sheets.reader import FileProblem
from tests.conftest import csrf_token, login, user
from tests.factories import person, with_account


def lock(commune_code, month="2024-05", reason=None):
    p = payments.build(find_commune(commune_code, month), month, "BTXH", system_user(), reason=reason)
    for line in p.lines:
        if line.status == "blocked":
            payments.hold(line, "Chờ xác minh")
    payments.lock(p, system_user())
    db.session.commit()
    return p


@pytest.fixture
def world(app):
    """Bình Chánh (21052): An and Dung paid into accounts, Bích in cash, Hùng held; its
    May list locked. Bình Thạnh (21046, same district): Cường by account, locked. Another
    district (99x, payer ``payer2``): Em by account, locked. Bình Chánh's June list is a
    draft."""
    an = with_account(person(name="Nguyễn Văn An", coefficient=1.5), number="4300205123456")
    bich = person(name="Trần Thị Bích", sex="F", national_id="051155000111", coefficient=2.0)
    dung = with_account(person(name="Phạm Văn Dũng", national_id="051050777888", coefficient=1.0),
                        number="0071000123456", bin_="970436")
    hung = with_account(person(name="Võ Văn Hùng", national_id="051050444555", coefficient=1.0),
                        number="1903000111222")
    db.session.add(Finding(beneficiary_id=hung.id, code="id_year_mismatch", severity="error",
                           message="x", source="check"))
    cuong = with_account(person(commune_code="21046", village="Thôn Mỹ Long", name="Lê Văn Cường",
                                national_id="051060222333", coefficient=1.0), number="5555666677")
    province = find_area("51", "province")
    other = upsert_area("district", "998", "Thử Nghiệm", kind="Huyện", parent=province)
    upsert_area("commune", "99801", "Thử Một", kind="Xã", parent=other)
    em = with_account(person(commune_code="99801", village="Thôn Một", name="Đỗ Thị Em", sex="F",
                             national_id="051170333444", coefficient=1.0), number="8888777766")
    db.session.add(User(username="payer2", role="payer", area=other, full_name="Bưu điện khác",
                        password_hash=generate_password_hash("demo", method="pbkdf2:sha256:1000")))
    db.session.commit()
    p = lock("21052")
    june = payments.build(find_commune("21052", "2024-06"), "2024-06", "BTXH", system_user())
    db.session.commit()
    q = lock("21046")
    r = lock("99801")
    ref = {b.full_name: next(line for line in p.lines if line.beneficiary_id == b.id).reference
           for b in (an, bich, dung, hung)}
    ref["Lê Văn Cường"] = q.lines[0].reference
    ref["Đỗ Thị Em"] = r.lines[0].reference
    ref["june"] = next(line for line in june.lines if line.beneficiary_id == an.id).reference
    return {"p": p, "q": q, "r": r, "june": june, "ref": ref, "an": an, "bich": bich, "dung": dung}


def csv_file(rows, header=("Noi dung", "Ket qua", "Ly do"), delim=";", bom=True):
    text = "\r\n".join(delim.join(str(c) for c in r) for r in [header, *rows]) + "\r\n"
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def line_of(period, b):
    return db.session.scalar(select(PaymentLine).where(PaymentLine.period_id == period.id,
                                                       PaymentLine.beneficiary_id == b.id))


def result_events():
    return db.session.scalar(select(func.count()).select_from(Event).where(Event.field == "result"))


def test_provider_csv_round_trip(world):
    """The provider CSV we write, sent back with a result column, is recorded line by line."""
    p, ref = world["p"], world["ref"]
    lines = payments.provider_csv(p).decode("utf-8-sig").splitlines()
    answers = {ref["Nguyễn Văn An"]: ";Thành công;", ref["Phạm Văn Dũng"]: ";Không thành công;Tài khoản đã đóng"}
    back = [lines[0] + ";Ket qua;Ly do"] + [ln + answers[ln.rsplit(";", 1)[1]] for ln in lines[1:]]
    data = ("\ufeff" + "\r\n".join(back)).encode("utf-8")
    plan = results.read(data, user("payer"))
    assert plan.ok and plan.columns == {"reference": "Noi dung", "result": "Ket qua", "reason": "Ly do",
                                        "amount": "So tien"}
    assert {(c.name, c.result, c.reason) for c in plan.rows} == {
        ("Nguyễn Văn An", "paid_account", None), ("Phạm Văn Dũng", "failed", "Tài khoản đã đóng")}
    assert plan.counts()["change"] == 2 and plan.counts()["failed"] == 1
    assert results.apply(plan, user("payer")) == 2
    db.session.commit()
    assert line_of(p, world["an"]).result == "paid_account"
    assert line_of(p, world["dung"]).result == "failed"
    assert line_of(p, world["dung"]).result_reason == "Tài khoản đã đóng"
    f = db.session.scalars(select(Finding).where(Finding.code == "payment_failed")).one()
    assert f.beneficiary_id == world["dung"].id and f.field == "account"
    assert result_events() == 2
    rec = payments.reconciliation(p)
    assert (rec["listed"], rec["paid_account"], rec["failed"], rec["pending"]) == (3, 1, 1, 1)


def test_header_and_result_words_in_other_shapes(world):
    """Comma CSV without BOM and Vietnamese headers; an xlsx with other headers, the code 00
    typed as a number and the reference inside the transfer text."""
    ref = world["ref"]
    data = csv_file([(ref["Nguyễn Văn An"], "thanh cong", "", "540.000"),
                     (ref["Trần Thị Bích"], "Tiền mặt", "", "720000"),
                     (ref["Phạm Văn Dũng"], "Trả lại", "Sai tên chủ tài khoản", "360000")],
                    header=("Nội dung", "Kết quả", "Lý do", "Số tiền (đồng)"), delim=",", bom=False)
    plan = results.read(data, user("payer"))
    assert plan.ok, plan.errors
    assert [c.result for c in plan.rows] == ["paid_account", "paid_cash", "returned"]

    wb = Workbook()
    ws = wb.active
    ws.append(["BÁO CÁO KẾT QUẢ CHI TRẢ"])
    ws.append(["STT", "Mã tham chiếu", "Trạng thái giao dịch", "Ghi chú"])
    ws.append([1, f"CK {ref['Nguyễn Văn An']} TRO CAP T5", 0, None])
    ws.append([2, ref["Trần Thị Bích"], "Success", None])
    ws.append([3, ref["Phạm Văn Dũng"], "that bai", "Tài khoản bị khóa"])
    ws.append([4, ref["Lê Văn Cường"], "Chờ xử lý", None])
    buf = io.BytesIO()
    wb.save(buf)
    plan = results.read(buf.getvalue(), user("payer"), filename="kq.xlsx")
    assert plan.ok, plan.errors
    # "00" is a success; a success on a cash line is a cash payment.
    assert [(c.row, c.result) for c in plan.rows] == [(3, "paid_account"), (4, "paid_cash"), (5, "failed")]
    assert plan.pending == 1 and plan.rows[2].reason == "Tài khoản bị khóa"


def test_row_errors_name_the_row_and_the_column(world):
    ref = world["ref"]
    rows = [(ref["Nguyễn Văn An"], "Thành công", "", "540000"),         # 2: fine
            ("21052-202405-BTXH-999999", "Thành công", "", ""),        # 3: unknown reference
            (ref["Đỗ Thị Em"], "Thành công", "", ""),                  # 4: another district
            (ref["june"], "Thành công", "", ""),                       # 5: June is a draft
            (ref["Trần Thị Bích"], "Đã nhận", "", ""),                 # 6: unknown result
            (ref["Phạm Văn Dũng"], "Không thành công", "", ""),        # 7: failed, no reason
            (ref["Lê Văn Cường"], "Thành công", "", "500000"),         # 8: amount differs
            (ref["Nguyễn Văn An"], "Thành công", "", ""),              # 9: duplicate
            (ref["Võ Văn Hùng"], "Thành công", "", ""),                # 10: held line
            ("", "Thành công", "", "")]                                # 11: no reference
    before = result_events()
    plan = results.read(csv_file(rows, header=("Noi dung", "Ket qua", "Ly do", "So tien")), user("payer"))
    texts = {e["row"]: e["text"] for e in plan.errors}
    assert sorted(texts) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert texts[3] == ("Dòng 3, cột «Noi dung» (A): mã tham chiếu 21052-202405-BTXH-999999 không có "
                        "trong danh sách chi trả nào.")
    assert "ngoài địa bàn" in texts[4] and texts[4].startswith("Dòng 4, cột «Noi dung» (A)")
    assert "chưa khóa" in texts[5]
    assert texts[6].startswith("Dòng 6, cột «Ket qua» (B): «Đã nhận» không phải kết quả chi trả")
    assert texts[7].startswith("Dòng 7, cột «Ly do» (C): «Không thành công» cần ghi lý do")
    assert texts[8] == ("Dòng 8, cột «So tien» (D): số tiền 500.000 đ khác số tiền của dòng trong "
                        "danh sách (360.000 đ).")
    assert texts[9].endswith("trùng với dòng 2.")
    assert "tạm giữ" in texts[10]
    assert "thiếu mã tham chiếu" in texts[11]
    assert not plan.ok and plan.error_count == 9 and len(plan.rows) == 1
    with pytest.raises(results.ResultsError, match="9 lỗi"):
        results.apply(plan, user("payer"))
    assert result_events() == before and line_of(world["p"], world["an"]).result == "pending"


def test_a_failure_without_a_reason_column_and_a_cash_line_paid_into_an_account(world):
    ref = world["ref"]
    plan = results.read(csv_file([(ref["Phạm Văn Dũng"], "failed"), (ref["Trần Thị Bích"], "Đã chi vào tài khoản")],
                                 header=("Reference", "Status")), user("payer"))
    texts = [e["text"] for e in plan.errors]
    assert texts[0].startswith("Dòng 2, cột «Lý do» (không có trong tệp): «Không thành công» cần ghi lý do")
    assert texts[1] == "Dòng 3, cột «Status» (B): dòng này chi tiền mặt, không qua tài khoản."


def test_reupload_changes_nothing(world):
    ref = world["ref"]
    data = csv_file([(ref["Nguyễn Văn An"], "Thành công", ""), (ref["Phạm Văn Dũng"], "Thất bại", "Sai số TK")])
    results.apply(results.read(data, user("payer")), user("payer"))
    db.session.commit()
    events, findings = result_events(), db.session.scalar(select(func.count()).select_from(Finding))
    again = results.read(data, user("payer"))
    assert again.ok and again.counts()["change"] == 0 and again.counts()["unchanged"] == 2
    assert results.apply(again, user("payer")) == 0
    db.session.commit()
    assert result_events() == events
    assert db.session.scalar(select(func.count()).select_from(Finding)) == findings


def test_one_list_only_and_the_latest_locked_version(world):
    p, q, ref = world["p"], world["q"], world["ref"]
    plan = results.read(csv_file([(ref["Lê Văn Cường"], "Thành công", "")]), user("payer"), period=p)
    assert "thuộc danh sách khác (Bình Thạnh, BTXH, tháng 05/2024)" in plan.errors[0]["text"]
    assert results.read(csv_file([(ref["Lê Văn Cường"], "Thành công", "")]), user("payer"), period=q).ok
    v2 = lock("21052", reason="Sửa số tài khoản")
    data = csv_file([(ref["Nguyễn Văn An"], "Thành công", "")])
    plan = results.read(data, user("payer"))
    assert plan.ok and plan.rows[0].period_id == v2.id  # the final list is the latest locked version
    stale = results.read(data, user("payer"), period=p)
    assert "phiên bản mới hơn (lần 2)" in stale.errors[0]["text"]


def test_a_file_without_the_columns_is_refused(world):
    with pytest.raises(FileProblem, match="Nội dung"):
        results.read(csv_file([("a", "b")], header=("Họ tên", "Số tiền")), user("payer"))
    with pytest.raises(FileProblem) as e:
        results.read(csv_file([], header=("Noi dung", "Ket qua")), user("payer"))
    assert e.value.code == "empty"


def test_a_line_recorded_meanwhile_stops_the_apply(world):
    ref = world["ref"]
    plan = results.read(csv_file([(ref["Nguyễn Văn An"], "Thành công", "")]), user("payer"))
    payments.record_result(line_of(world["p"], world["an"]), user("payer"), "failed", "Tài khoản đóng")
    with pytest.raises(results.ResultsError, match="vừa được ghi"):
        results.apply(plan, user("payer"))


# ------------------------------------------------------------------------------- views

def upload(client, url, data, token, name="ket-qua.csv"):
    return client.post(url, data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_payer_previews_then_confirms_then_reuploads(client, world):
    p, ref = world["p"], world["ref"]
    login(client, "payer")
    page = client.get("/payments").get_data(as_text=True)
    assert 'action="/payments/results"' in page and 'enctype="multipart/form-data"' in page
    token = csrf_token(client, "/payments")
    data = csv_file([(ref["Nguyễn Văn An"], "Thành công", ""), (ref["Phạm Văn Dũng"], "Không thành công", "TK đã đóng"),
                     (ref["Lê Văn Cường"], "Thành công", "")])
    r = upload(client, "/payments/results", data, token)
    assert r.status_code == 303 and "/payments/results/" in r.headers["Location"]
    preview = r.headers["Location"]
    html = client.get(preview).get_data(as_text=True)
    assert "Nguyễn Văn An" in html and "Lê Văn Cường" in html and "Xác nhận, ghi tất cả" in html
    assert "Chưa chi → <b>Không thành công</b>: TK đã đóng" in html
    assert result_events() == 0  # nothing written by the preview
    batch = db.session.scalars(select(ImportBatch).where(ImportBatch.kind == "results")).one()
    r = client.post(preview + "/confirm", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith("/payments")
    assert "Đã ghi 3 kết quả chi trả." in client.get("/payments").get_data(as_text=True)
    assert db.session.get(ImportBatch, batch.id).status == "committed"
    assert line_of(world["q"], db.session.scalars(select(PaymentLine).where(
        PaymentLine.period_id == world["q"].id)).one().beneficiary).result == "paid_account"
    assert result_events() == 3
    # A second confirm of the same batch writes nothing.
    client.post(preview + "/confirm", data={"csrf_token": token})
    assert result_events() == 3
    # The same file again: nothing would change, nothing to confirm.
    r = upload(client, "/payments/results", data, token)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Tệp không thay đổi gì" in html and "Xác nhận, ghi tất cả" not in html
    client.post(r.headers["Location"] + "/confirm", data={"csrf_token": token})
    assert result_events() == 3


def test_errors_are_shown_by_row_and_column_and_nothing_is_written(client, world):
    ref = world["ref"]
    login(client, "payer")
    token = csrf_token(client, "/payments")
    data = csv_file([(ref["Nguyễn Văn An"], "Thành công", ""), (ref["Phạm Văn Dũng"], "Không thành công", "")])
    r = upload(client, "/payments/results", data, token)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "<title>Lỗi:" in html
    assert re.search(r'<td class="n"[^>]*>3</td><td[^>]*>«Ly do» \(C\)</td><td[^>]*>«Không thành công» cần ghi lý do', html)
    assert "Xác nhận, ghi tất cả" not in html
    r = client.post(r.headers["Location"] + "/confirm", data={"csrf_token": token})  # sent anyway
    assert r.status_code == 303 and "/confirm" not in r.headers["Location"]
    assert "1 lỗi: chưa ghi gì" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert result_events() == 0 and line_of(world["p"], world["an"]).result == "pending"


def test_upload_for_one_list_from_its_page(client, world):
    p, ref = world["p"], world["ref"]
    login(client, "payer")
    page = client.get(f"/payments/{p.id}").get_data(as_text=True)
    assert f'action="/payments/{p.id}/results"' in page
    token = csrf_token(client, f"/payments/{p.id}")
    r = upload(client, f"/payments/{p.id}/results",
               csv_file([(ref["Nguyễn Văn An"], "Thành công", ""), (ref["Lê Văn Cường"], "Thành công", "")]), token)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "thuộc danh sách khác" in html
    r = upload(client, f"/payments/{p.id}/results", csv_file([(ref["Nguyễn Văn An"], "Thành công", "")]), token)
    r = client.post(r.headers["Location"] + "/confirm", data={"csrf_token": token})
    assert r.headers["Location"].endswith(f"/payments/{p.id}")
    assert line_of(p, world["an"]).result == "paid_account"
    june = world["june"]  # a draft takes no result file
    assert upload(client, f"/payments/{june.id}/results", csv_file([(ref["june"], "x", "")]), token).headers[
        "Location"].endswith(f"/payments/{june.id}")
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 2


def test_a_payer_of_another_district_cannot_touch_these_lines(client, world):
    p, ref = world["p"], world["ref"]
    login(client, "payer")
    token = csrf_token(client, "/payments")
    r = upload(client, "/payments/results", csv_file([(ref["Nguyễn Văn An"], "Thành công", "")]), token)
    ours = r.headers["Location"]
    client.post("/logout", data={"csrf_token": token})
    login(client, "payer2")
    token = csrf_token(client, "/payments")
    assert client.get(ours).status_code == 404
    assert client.post(ours + "/confirm", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/payments/{p.id}").status_code == 404
    assert upload(client, f"/payments/{p.id}/results", csv_file([(ref["Nguyễn Văn An"], "Thành công", "")]),
                  token).status_code == 404
    r = upload(client, "/payments/results", csv_file([(ref["Nguyễn Văn An"], "Thành công", ""),
                                                       (ref["Đỗ Thị Em"], "Thành công", "")]), token)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "thuộc danh sách ngoài địa bàn của anh/chị" in html and "Nguyễn Văn An" not in html
    client.post(r.headers["Location"] + "/confirm", data={"csrf_token": token})
    assert result_events() == 0 and line_of(p, world["an"]).result == "pending"


def test_csrf_and_roles(client, world):
    ref = world["ref"]
    login(client, "payer")
    token = csrf_token(client, "/payments")
    data = csv_file([(ref["Nguyễn Văn An"], "Thành công", "")])
    r = client.post("/payments/results", data={"file": (io.BytesIO(data), "kq.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0
    preview = upload(client, "/payments/results", data, token).headers["Location"]
    assert client.post(preview + "/confirm").status_code == 400
    assert client.post(preview + "/discard").status_code == 400
    assert result_events() == 0
    client.post("/logout", data={"csrf_token": token})
    login(client, "district")
    token = csrf_token(client, "/payments")
    assert client.get(preview).status_code == 403
    assert upload(client, "/payments/results", data, token).status_code == 403


def test_discard_and_a_file_that_cannot_be_read(client, world):
    login(client, "payer")
    token = csrf_token(client, "/payments")
    preview = upload(client, "/payments/results", csv_file([(world["ref"]["Nguyễn Văn An"], "Thành công", "")]),
                     token).headers["Location"]
    r = client.post(preview + "/discard", data={"csrf_token": token})
    assert r.status_code == 303
    client.post(preview + "/confirm", data={"csrf_token": token})
    assert result_events() == 0
    r = upload(client, "/payments/results", b"Ho ten;Ngay sinh\r\nA;1950\r\n", token)
    assert r.headers["Location"].endswith("/payments")
    assert "Không tìm thấy dòng tiêu đề" in client.get("/payments").get_data(as_text=True)


# ------------------------------------------------------------- overwriting recorded results

def test_a_row_that_overwrites_a_recorded_result_is_a_warning(world):
    ref = world["ref"]
    payments.record_result(line_of(world["p"], world["an"]), user("payer"), "paid_account")
    db.session.commit()
    data = csv_file([(ref["Nguyễn Văn An"], "Không thành công", "Tài khoản đã đóng"),
                     (ref["Phạm Văn Dũng"], "Thành công", "")])
    plan = results.read(data, user("payer"))
    assert plan.ok
    assert [(c.name, c.overwrite) for c in plan.rows] == [("Nguyễn Văn An", True), ("Phạm Văn Dũng", False)]
    counts = plan.counts()
    assert (counts["change"], counts["overwrite"], counts["paid_account"], counts["failed"]) == (1, 1, 1, 0)
    assert results.apply(plan, user("payer")) == 1  # without the confirmation the recorded result stays
    assert line_of(world["p"], world["an"]).result == "paid_account"
    assert line_of(world["p"], world["dung"]).result == "paid_account"
    again = results.read(data, user("payer"))
    assert results.apply(again, user("payer"), overwrite=True) == 1
    assert line_of(world["p"], world["an"]).result == "failed"
    # The same result again, or a pending line, is no overwrite.
    assert not any(c.overwrite for c in results.read(data, user("payer")).rows)


def test_the_preview_flags_overwrites_and_the_confirm_needs_the_box(client, world):
    ref = world["ref"]
    payments.record_result(line_of(world["p"], world["an"]), user("payer"), "paid_account")
    db.session.commit()
    login(client, "payer")
    token = csrf_token(client, "/payments")
    data = csv_file([(ref["Nguyễn Văn An"], "Không thành công", "Tài khoản đã đóng"),
                     (ref["Phạm Văn Dũng"], "Thành công", "")])
    preview = upload(client, "/payments/results", data, token).headers["Location"]
    html = client.get(preview).get_data(as_text=True)
    text = re.sub(r"<[^>]+>", "", html)
    assert "ghi đè kết quả đã ghi: Đã chi vào tài khoản → Không thành công: Tài khoản đã đóng" in text
    assert "Ghi đè kết quả đã ghi (cần xác nhận)1" in text and "Sẽ ghi1" in text
    assert 'name="overwrite"' in html and "checked" not in re.search(r'<input[^>]*name="overwrite"[^>]*>', html).group(0)
    r = client.post(preview + "/confirm", data={"csrf_token": token})
    assert r.status_code == 303
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã ghi 1 kết quả chi trả." in page
    assert "1 dòng đã có kết quả khác được giữ nguyên (chưa đánh dấu ghi đè)." in page
    assert line_of(world["p"], world["an"]).result == "paid_account"
    assert line_of(world["p"], world["dung"]).result == "paid_account"
    preview = upload(client, "/payments/results", data, token).headers["Location"]
    client.post(preview + "/confirm", data={"csrf_token": token, "overwrite": "y"})
    assert line_of(world["p"], world["an"]).result == "failed"


def test_a_list_being_replaced_takes_no_result_file(world):
    ref = world["ref"]
    lock("21052", reason="Sửa số tài khoản")
    v3 = payments.build(find_commune("21052", "2024-05"), "2024-05", "BTXH", system_user(), reason="Bổ sung")
    db.session.commit()
    plan = results.read(csv_file([(ref["Nguyễn Văn An"], "Thành công", "")]), user("payer"))
    assert not plan.ok and "đã thay bằng lần 3, đang soạn" in plan.errors[0]["text"]
    assert v3.status == "draft"
