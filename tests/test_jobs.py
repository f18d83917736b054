"""Background jobs (issue 12 §1): a big upload read and written by jobs, the job's page
(progress fragment ≤ 300 B, a no-JS refresh, the error, retry), recovery of a job whose
worker died, and a job's file sent in pieces. The queue runs each job inside the request
here (``JOB_QUEUE_URL=memory://``); tests/test_production.py runs a real worker."""
import io
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal import queue
from portal.extensions import db
from portal.models import Beneficiary, ImportBatch, Job, JobFile, PaymentPeriod, User, utcnow
from portal.services import jobs
from tests import filegen
from tests.conftest import csrf_token, login
from tests.test_imports import upload


@pytest.fixture
def small_limits(app):
    """Every upload and every write goes through a job."""
    app.config.update(JOB_IMPORT_BYTES=1, JOB_ROWS=1)


def _job_id(location):
    return int(re.search(r"/jobs/(\d+)$", location).group(1))


def test_a_big_upload_is_read_then_written_by_jobs(client, small_limits):
    people = filegen.make_people(30, seed=3)
    login(client, "commune")
    r = upload(client, filegen.write_list(people, "xlsx_two_row"))
    assert r.status_code == 303 and "/jobs/" in r.headers["Location"]
    job = db.session.get(Job, _job_id(r.headers["Location"]))
    assert job.kind == "import_read" and job.status == "done" and job.attempts == 1
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Xem kết quả" in page and "/imports/" in page
    batch = db.session.scalars(select(ImportBatch)).one()
    assert batch.status == "preview" and batch.summary["added"] == 30
    preview = f"/imports/{batch.id}"
    assert "Thêm mới</dt><dd>30" in client.get(preview).get_data(as_text=True)
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 0  # nothing written yet

    r = client.post(preview + "/commit", data={"csrf_token": csrf_token(client, preview)})
    assert r.status_code == 303 and "/jobs/" in r.headers["Location"]
    job = db.session.get(Job, _job_id(r.headers["Location"]))
    assert job.kind == "import_commit" and job.status == "done", job.error
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 30
    assert db.session.get(ImportBatch, batch.id).status == "committed"
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Đã nhập: thêm 30" in page
    # Confirming again writes nothing more (the batch is no longer a preview).
    client.post(preview + "/commit", data={"csrf_token": csrf_token(client, preview)})
    assert db.session.scalar(select(func.count(Beneficiary.id))) == 30


def test_a_file_without_a_month_fails_for_good_with_the_reason(client, small_limits):
    people = filegen.make_people(5, seed=4)
    data = filegen.write_list(people, "csv_comma")  # no title line: no month
    login(client, "commune")
    r = upload(client, data, "ds.csv", program="BTXH")
    job_url = r.headers["Location"]
    job = db.session.get(Job, _job_id(job_url))
    assert job.status == "failed" and "không ghi tháng" in job.error and job.result == {"final": True}
    page = client.get(job_url).get_data(as_text=True)
    assert "không ghi tháng" in page and "Thử lại" not in page and "Chạy lại cũng không đổi được" in page
    assert db.session.scalar(select(ImportBatch.status)) == "failed"
    batch_id = db.session.scalar(select(ImportBatch.id))
    assert client.get(f"/imports/{batch_id}").headers["Location"].endswith(job_url)
    r = client.post(job_url + "/retry", data={"csrf_token": csrf_token(client, job_url)})
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(Job, job.id).attempts == 1  # not run again
    # The file link of a job without a file leads back to its page, which says why.
    r = client.get(job_url + "/file")
    assert r.status_code == 303 and r.headers["Location"].endswith(job_url)


def test_a_job_that_may_pass_another_time_is_retried(app, client):
    runs = []

    @jobs.handler("test_flaky")
    def flaky(job, progress):
        runs.append(job.attempts)
        if len(runs) == 1:
            raise jobs.JobError("Máy bận: thử lại sau.")
        return {"message": "Xong."}

    try:
        login(client, "commune")
        user = db.session.scalars(select(User).where(User.username == "commune")).one()
        job = jobs.submit("test_flaky", user, None, {}, "Việc thử")
        assert job.status == "failed" and job.error == "Máy bận: thử lại sau."
        page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
        assert "Thử lại" in page
        r = client.post(f"/jobs/{job.id}/retry", data={"csrf_token": csrf_token(client, f"/jobs/{job.id}")})
        assert r.status_code == 303
        db.session.expire_all()
        job = db.session.get(Job, job.id)
        assert job.status == "done" and job.attempts == 2 and runs == [1, 2]
        # Only a failed job is queued again.
        assert not jobs.retry(job)
    finally:
        jobs.HANDLERS.pop("test_flaky")


def _running(app, user, started_ago=0):
    job = Job(kind="import_read", title="Đọc danh sách ds.xlsx", user_id=user.id, params={"batch_id": 0},
              status="running", attempts=1, created_at=utcnow(), started_at=utcnow() - timedelta(seconds=started_ago))
    db.session.add(job)
    db.session.commit()
    return job


def test_the_poll_fragment_is_small_and_the_page_refreshes_without_js(app, client):
    login(client, "commune")
    user = db.session.scalars(select(User).where(User.username == "commune")).one()
    job = _running(app, user)
    app.extensions["huey"].put(queue.key(job.id), {"done": 1234, "total": 5000, "stage": "Ghi vào sổ",
                                                   "owner": "t", "at": time.time()})
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
    assert 'value="24"' in page and "1.234/5.000" in page
    r = client.get(f"/jobs/{job.id}", headers={"HX-Request": "true"})
    body = r.get_data()
    assert r.status_code == 200 and len(body) <= 300, len(body)
    assert b'hx-trigger="every 2s"' in body and b"1.234/5.000 (24 %)" in body
    # Over: the poll is told to reload (an error) or to go to the result.
    job.status, job.error = "failed", "Tệp hỏng."
    db.session.commit()
    r = client.get(f"/jobs/{job.id}", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Refresh"] == "true"
    job.status, job.result = "done", {"endpoint": "jobs.index", "args": {}, "message": "Ghi 5.000 dòng."}
    db.session.commit()
    r = client.get(f"/jobs/{job.id}", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/jobs"
    assert "Đã xong: Đọc danh sách ds.xlsx. Ghi 5.000 dòng." in client.get("/jobs").get_data(as_text=True)


def test_jobs_are_seen_only_by_who_started_them(app, client):
    user = db.session.scalars(select(User).where(User.username == "commune")).one()
    job = _running(app, user)
    login(client, "district")
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get(f"/jobs/{job.id}/file").status_code == 404
    job.area_id = user.area_id
    db.session.commit()
    login(client, "admin")  # the admin of the province the commune lies in
    assert client.get(f"/jobs/{job.id}").status_code == 200


def test_an_admin_sees_the_jobs_of_their_area_only(app, client):
    """A job's file may hold a whole area's IDs and accounts: an admin of a commune does not
    get the province's export, a national admin (no area) gets every job."""
    from portal.services.areas import find_commune
    province_admin = db.session.scalars(select(User).where(User.username == "admin")).one()
    job = _running(app, province_admin)
    job.area_id = province_admin.area_id
    local = User(username="adm_xa", role="admin", area=find_commune("21052"), full_name="Quản trị xã",
                 password_hash=province_admin.password_hash)
    national = User(username="bo", role="admin", area=None, full_name="Bộ", password_hash=province_admin.password_hash)
    db.session.add_all([local, national])
    db.session.commit()
    login(client, "adm_xa")
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get(f"/jobs/{job.id}/file").status_code == 404
    assert f"/jobs/{job.id}" not in client.get("/jobs").get_data(as_text=True)
    login(client, "bo")
    assert client.get(f"/jobs/{job.id}").status_code == 200


def test_a_job_whose_worker_died_is_run_again_then_given_up(app, client, small_limits):
    people = filegen.make_people(6, seed=5)
    login(client, "commune")
    r = upload(client, filegen.write_list(people, "xlsx_two_row"))
    batch = db.session.scalars(select(ImportBatch)).one()
    # As if the worker had died while reading: the batch still «reading», the job running,
    # its last heartbeat long ago.
    batch.status = "reading"
    job = db.session.get(Job, _job_id(r.headers["Location"]))
    job.status, job.started_at = "running", utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert jobs.recover() == [job.id]  # queued again, and (here) run at once
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "done" and job.attempts == 2
    assert db.session.get(ImportBatch, batch.id).status == "preview"
    # A fresh heartbeat: left alone.
    job.status = "running"
    db.session.commit()
    app.extensions["huey"].put(queue.key(job.id), {"done": 0, "total": None, "stage": None, "owner": "w",
                                                   "at": time.time()})
    assert jobs.recover() == []
    # Dead again after the last allowed run: failed, with a reason, and retry is offered.
    job.attempts, job.started_at = jobs.MAX_ATTEMPTS, utcnow() - timedelta(minutes=5)
    db.session.commit()
    app.extensions["huey"].delete(queue.key(job.id))
    assert jobs.recover() == []
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "failed" and "dừng giữa chừng" in job.error


def test_a_jobs_file_is_stored_and_sent_in_pieces(app, client, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "CHUNK_BYTES", 1000)
    payload = bytes(range(256)) * 10  # 2,560 bytes: 3 pieces
    src = tmp_path / "f.bin"
    src.write_bytes(payload)

    @jobs.handler("test_file")
    def make_file(job, progress):
        progress(1, 1, "x")
        return {"file": jobs.save_file(job, src, "f.bin", "application/octet-stream")}

    try:
        login(client, "commune")
        user = db.session.scalars(select(User).where(User.username == "commune")).one()
        job = jobs.submit("test_file", user, None, {}, "Tệp thử")
        assert job.status == "done"
        assert db.session.scalar(select(func.count()).select_from(JobFile)) == 3
        r = client.get(f"/jobs/{job.id}/file")
        assert r.status_code == 200 and r.data == payload
        assert r.headers["Content-Length"] == str(len(payload))
        assert "no-store" in r.headers["Cache-Control"]
        # A week later the file is gone; the page says so.
        job.finished_at = utcnow() - timedelta(days=jobs.KEEP_FILES_DAYS + 1)
        db.session.commit()
        jobs.recover()
        assert client.get(f"/jobs/{job.id}/file").status_code == 303  # to its page, which says why
        assert "Tệp đã bị xóa" in client.get(f"/jobs/{job.id}").get_data(as_text=True)
    finally:
        jobs.HANDLERS.pop("test_file")


# ----------------------------------------------------------- the other kinds of long work

@pytest.fixture
def registry(app):
    from tests.test_payments import registry as make  # the same four people
    return make.__wrapped__(app)


def _follow(client, r):
    """The job a POST answered with (303 to its page), and that page."""
    assert r.status_code == 303 and "/jobs/" in r.headers["Location"], (r.status_code, r.headers.get("Location"))
    job = db.session.get(Job, _job_id(r.headers["Location"]))
    return job, client.get(r.headers["Location"]).get_data(as_text=True)


def test_a_big_registry_export_is_a_job_with_the_same_workbook(client, registry, small_limits):
    login(client, "district")
    page = client.get("/export").get_data(as_text=True)
    assert "Tạo tệp .xlsx" in page and "format=xlsx" not in page  # a POST form, not the link
    r = client.get("/export?format=xlsx")  # the old link: back to the page, nothing made
    assert r.status_code == 303 and "/export?area=" in r.headers["Location"]
    job, page = _follow(client, client.post("/export", data={"csrf_token": csrf_token(client, "/export")}))
    assert job.status == "done" and job.kind == "export_registry", job.error
    assert "Tải tệp" in page and f"/jobs/{job.id}/file" in page
    data = client.get(f"/jobs/{job.id}/file").data
    ws = load_workbook(io.BytesIO(data)).active
    names = {row[0] for row in ws.iter_rows(min_row=3, values_only=True)}
    assert names == {"Nguyễn Văn An", "Trần Thị Bích", "=HYPERLINK(1)", "Lê Văn Cường"}
    assert ws["A1"].value.startswith("DANH SÁCH ĐỐI TƯỢNG — Huyện Bình Sơn")
    # The page that started it lists it.
    assert f'href="/jobs/{job.id}"' in client.get("/export").get_data(as_text=True)
    # A POST without the CSRF token is refused.
    assert client.post("/export", data={}).status_code == 400


def test_a_big_police_workbook_is_a_job(client, registry, small_limits):
    login(client, "police")
    assert "Tạo bảng xác minh" in client.get("/police").get_data(as_text=True)
    assert client.get("/police/export").status_code == 303
    job, page = _follow(client, client.post("/police/export", data={"csrf_token": csrf_token(client, "/police")}))
    assert job.status == "done", job.error
    ws = load_workbook(io.BytesIO(client.get(f"/jobs/{job.id}/file").data)).active
    assert ws.max_row == 3 + 3  # title, help, header, Bình Chánh's three people


def test_building_every_communes_lists_is_a_job(client, registry, small_limits):
    login(client, "district")
    token = csrf_token(client, "/payments")
    r = client.post("/payments", data={"csrf_token": token, "commune_id": 0, "month": "2099-05",
                                       "program": "BTXH", "reason": ""})
    assert r.status_code == 422 and db.session.scalar(select(func.count(Job.id))) == 0  # checked first
    job, page = _follow(client, client.post("/payments", data={
        "csrf_token": token, "commune_id": 0, "month": "2024-05", "program": "BTXH", "reason": ""}))
    assert job.status == "done" and job.result["built"] == 22, job.error
    assert db.session.scalar(select(func.count(PaymentPeriod.id))) == 22
    assert "Đã lập 22 danh sách tháng 05/2024" in page and "/payments?month=2024-05" in page


def test_checking_an_area_is_a_job(client, registry, small_limits):
    login(client, "district")
    assert "Kiểm tra lại toàn bộ" in client.get("/quality").get_data(as_text=True)
    job, page = _follow(client, client.post("/quality/recheck", data={"csrf_token": csrf_token(client, "/quality")}))
    assert job.status == "done" and "Đã kiểm tra lại 4 hồ sơ" in page, job.error


# ------------------------------------------------------------- the default set-up, for real

@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="once, on SQLite files of its own")
def test_the_default_worker_takes_jobs_from_the_sqlite_queue(tmp_path):
    """As ``make run`` runs it: the portal on a SQLite file, the queue in another
    (``JOB_QUEUE_URL`` unset means ``instance/jobs.db``; here a file of the test's own), and
    ``flask worker`` in a process of its own. A job waits in the queue until the worker
    starts, then is done, and its file is sent."""
    from portal import create_app
    from portal.services import areas
    from tests.conftest import fast_users
    from tests.factories import person
    db_url, queue_url = f"sqlite:///{tmp_path / 'portal.db'}", f"sqlite:///{tmp_path / 'jobs.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "JOB_QUEUE_URL": queue_url, "JOB_ROWS": 1,
                      "WTF_CSRF_ENABLED": True})
    with app.app_context():
        db.create_all()
        areas.load_packaged_areas()
        fast_users()
        person(name="Nguyễn Văn An")
        person(name="Trần Thị Bích", sex="F", national_id="051155000111")
        db.session.commit()
        client = app.test_client()
        login(client, "district")
        r = client.post("/export", data={"csrf_token": csrf_token(client, "/export")})
        job_url = r.headers["Location"]
        job_id = _job_id(job_url)
        assert "Đang chờ" in client.get(job_url, headers={"HX-Request": "true"}).get_data(as_text=True)
        env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"} | {
            "DATABASE_URL": db_url, "JOB_QUEUE_URL": queue_url, "SECRET_KEY": "test", "CAMPAIGN_MONTH": "2024-05"}
        log = tmp_path / "worker.log"
        with log.open("w") as out:
            worker = subprocess.Popen([str(Path(sys.executable).parent / "flask"), "--app", "app", "worker"],
                                      cwd=Path(__file__).resolve().parents[1], env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while db.session.scalar(select(Job.status).where(Job.id == job_id)) in ("queued", "running"):
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
                db.session.rollback()
            job = db.session.get(Job, job_id)
            assert job.status == "done", (job.error, log.read_text())
            ws = load_workbook(io.BytesIO(client.get(f"{job_url}/file").data)).active
            assert {row[0] for row in ws.iter_rows(min_row=3, values_only=True)} == {"Nguyễn Văn An", "Trần Thị Bích"}
            # An upload read by the worker: the file is read in a child process forked from a
            # worker thread (portal/sheets/guard.py).
            app.config["JOB_IMPORT_BYTES"] = 1
            login(client, "commune")
            r = upload(client, filegen.write_list(filegen.make_people(40, seed=9), "xlsx_two_row"))
            job_id = _job_id(r.headers["Location"])
            while db.session.scalar(select(Job.status).where(Job.id == job_id)) in ("queued", "running"):
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline + 60, log.read_text()
                time.sleep(0.3)
                db.session.rollback()
            job = db.session.get(Job, job_id)
            assert job.status == "done", (job.error, log.read_text())
            assert db.session.get(ImportBatch, job.params["batch_id"]).summary["added"] == 40
        finally:
            worker.send_signal(signal.SIGINT)  # Ctrl-C: stops once the running jobs are done
            assert worker.wait(timeout=20) == 0, log.read_text()
        db.session.remove()


def test_a_starting_worker_queues_again_the_jobs_a_lost_queue_held(app, client, small_limits):
    """Redis keeps nothing on disk here: after its restart the queue is empty and a job
    still ``queued`` in the database would wait for ever. A worker's start-up queues them
    again (and a job queued twice runs once)."""
    people = filegen.make_people(4, seed=6)
    login(client, "commune")
    r = upload(client, filegen.write_list(people, "xlsx_two_row"))
    job = db.session.get(Job, _job_id(r.headers["Location"]))
    batch = db.session.get(ImportBatch, job.params["batch_id"])
    job.status, batch.status = "queued", "reading"  # as if its queue had lost it before it ran
    db.session.commit()
    assert jobs.recover() == []  # the periodic recovery leaves queued jobs to the queue
    hooks = app.extensions["huey"]._startup
    hooks["portal.recover_jobs"]()  # what each worker runs as it starts
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "done" and job.attempts == 2
    assert db.session.get(ImportBatch, batch.id).status == "preview"
