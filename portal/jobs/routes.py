from flask import Response, abort, flash, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..extensions import db
from ..models import Job
from ..services import jobs
from ..queue import get_progress
from ..web import render, see_other, wants_fragment
from . import bp

POLL_SECONDS = 2


def _job(job_id):
    job = jobs.get_visible(job_id, current_user)
    if job is None:
        abort(404)
    return job


def _state(job):
    """What the page shows of ``job``: its progress (``done``, ``total``, ``percent``,
    ``stage``) and, while queued, how many jobs are before it."""
    p = (get_progress(job.id) or {}) if job.status == "running" else {}
    done, total = p.get("done") or 0, p.get("total")
    ahead = 0
    if job.status == "queued":
        ahead = db.session.scalar(select(func.count()).select_from(Job).where(
            Job.status.in_(("queued", "running")), Job.id < job.id))
    return {"done": done, "total": total, "stage": p.get("stage"), "ahead": ahead,
            "percent": min(100, done * 100 // total) if total else None}


@bp.route("/jobs")
@login_required
def index():
    """The user's last jobs, newest first."""
    rows = db.session.scalars(jobs.visible(current_user).order_by(Job.id.desc()).limit(50)).all()
    return render("jobs/index.html", jobs=rows)


@bp.route("/jobs/<int:job_id>")
@login_required
def show(job_id):
    """A job's page. An htmx poll of it gets the progress fragment (≤ 300 B) while the job
    runs; once it is over, the poll is told to load its result page (``HX-Redirect``, with
    what the job did as a message) or to reload this page (``HX-Refresh``), which then
    shows the result or the error. Without
    JavaScript the page reloads itself while the job runs (``<noscript>`` refresh)."""
    job = _job(job_id)
    if wants_fragment():
        if job.status in ("queued", "running"):
            return render("jobs/_status.html", job=job, state=_state(job), poll=POLL_SECONDS)
        result = job.result or {}
        if job.status == "done" and result.get("endpoint"):
            # A full load of the result page (not an htmx swap: that page may answer htmx
            # with a fragment of itself), which shows what the job did as a message.
            flash(_("Đã xong: %(title)s.", title=job.title) + (" " + result["message"] if result.get("message") else ""),
                  "success")
            return Response(status=204, headers={"HX-Redirect": url_for(result["endpoint"], **result.get("args", {}))})
        return Response(status=204, headers={"HX-Refresh": "true"})
    return render("jobs/show.html", job=job, state=_state(job), poll=POLL_SECONDS,
                  has_file=job.status == "done" and jobs.has_file(job), keep_days=jobs.KEEP_FILES_DAYS)


@bp.route("/jobs/<int:job_id>/retry", methods=["POST"])
@login_required
def retry(job_id):
    """Queue a failed job again."""
    job = _job(job_id)
    if (job.result or {}).get("final"):
        flash(_("Chạy lại cũng không đổi được: sửa tệp hoặc lựa chọn rồi gửi lại."), "info")
    elif not jobs.retry(job):
        flash(_("Việc này không ở trạng thái lỗi: không cần chạy lại."), "info")
    return see_other("jobs.show", job_id=job.id)


@bp.route("/jobs/<int:job_id>/file")
@login_required
def file(job_id):
    """The job's file, sent piece by piece (never whole in memory); without one (not done,
    failed, or dropped after ``jobs.KEEP_FILES_DAYS`` days) back to the job's page, which
    says why."""
    job = _job(job_id)
    meta = (job.result or {}).get("file")
    if job.status != "done" or not meta or not jobs.has_file(job):
        flash(_("Chưa có tệp: việc chưa xong, bị lỗi, hoặc tệp đã bị xóa sau %(n)s ngày.", n=jobs.KEEP_FILES_DAYS),
              "info")
        return see_other("jobs.show", job_id=job.id)
    return Response(stream_with_context(jobs.file_chunks(job.id)), mimetype=meta["mimetype"], headers={
        "Content-Disposition": f'attachment; filename="{meta["filename"]}"',
        "Content-Length": str(meta["size"]), "Cache-Control": "no-store"})
