"""Background jobs: long work (a big import, a province's lists, an export, a check of the
data) submitted by a request and run by the worker (``flask worker``; the queue is
``portal/queue.py``).

A kind of job is a function registered with :func:`handler`; it gets the ``Job`` row and a
:class:`Progress` to call, does its work in the session (it commits its own work, all or
nothing) and returns the job's result as a JSON-able dict:

- ``endpoint`` and ``args``: the page to go to when it is done (the import's preview);
- ``file``: set by :func:`save_file` (``filename``, ``mimetype``, ``size`` in bytes);
- ``message``: a sentence for the job's page; anything else is kept as it is.

It raises :class:`JobError` with a Vietnamese message for a failure the user can act on
(the file has no month); any other exception fails the job with a general message, logged
with its traceback. A failed job can be queued again (:func:`retry`). A job whose worker
dies (no heartbeat for ``queue.STALE_SECONDS``) is queued again by :func:`recover`, up to
:data:`MAX_ATTEMPTS` runs: handlers must be safe to run again (their work is one
transaction, and they check whether it was already done).
"""
import logging
import os
import socket
import tempfile
import threading
import time
from datetime import timedelta, timezone

from flask import has_request_context
from flask_babel import force_locale, get_locale, lazy_gettext as _l
from sqlalchemy import delete, func, insert, or_, select, update

from .. import queue
from ..extensions import db
from ..models import Job, JobFile, utcnow
from . import scope

log = logging.getLogger(__name__)

HANDLERS = {}
# The roles that may start a kind of job, see it and download its file (issue 13 §1: an
# export holds full IDs and account numbers; the admin passes always). Given by the view
# that registers the handler; a user whose role changed no longer sees jobs of kinds the new
# role may not use.
ROLES = {}
MAX_ATTEMPTS = 3
CHUNK_BYTES = 1 << 20  # a job's file is stored and sent in pieces of this size
KEEP_FILES_DAYS = 7  # an export holds personal data: its file is dropped after a week
PROGRESS_EVERY = 0.5  # seconds between two progress writes (the bar needs no more)


class JobError(Exception):
    """A failure to show the user as it is (a Vietnamese sentence). ``final``: running the
    job again cannot change it (the file is not a list, it is another commune's): its page
    offers no «Thử lại», only the way back to the page that started it."""

    def __init__(self, message, final=False):
        super().__init__(message)
        self.message, self.final = message, final


def handler(kind, roles=None):
    """Register ``fn(job, progress) -> dict`` as the handler of jobs of ``kind`` (a str),
    which the users of ``roles`` (a tuple of role names; the admin passes always) may start,
    see and download; ``None``: any role."""
    def decorator(fn):
        HANDLERS[kind] = fn
        ROLES[kind] = tuple(roles) if roles is not None else None
        return fn
    return decorator


def allowed(kind, user):
    """Whether ``user`` may start, see and download jobs of ``kind`` (:data:`ROLES`)."""
    roles = ROLES.get(kind)
    return user.role in ("admin", "system") or roles is None or user.role in roles


def kinds_for(user):
    """The job kinds ``user``'s role may use, a list."""
    return [kind for kind in HANDLERS if allowed(kind, user)]


def submit(kind, user, area, params, title):
    """Create a job of ``kind`` for ``user`` about ``area`` (an ``Area`` or ``None``) with
    ``params`` (JSON-able dict) and ``title`` (shown on its page), commit it, and queue it.
    Returns the ``Job``. If the queue cannot be reached the job is saved as failed with a
    message saying so (it can be retried); nothing is lost. Raises ``KeyError`` for an
    unknown ``kind``, ``PermissionError`` for a kind ``user``'s role may not use (:func:`allowed`)."""
    if kind not in HANDLERS:
        raise KeyError(kind)
    if not allowed(kind, user):
        raise PermissionError(f"{user.role} may not run {kind}")
    if has_request_context():  # its messages in the language of who asked
        params = {"locale": str(get_locale() or "vi")} | params
    job = Job(kind=kind, title=str(title)[:200], user_id=user.id,
              area_id=area.id if area is not None else None, params=params, status="queued",
              attempts=0, created_at=utcnow())
    db.session.add(job)
    db.session.commit()
    _enqueue(job)
    return job


def _enqueue(job):
    try:
        queue.enqueue(job.id)
    except Exception:
        log.exception("job %s: not queued", job.id)
        db.session.rollback()
        db.session.execute(update(Job).where(Job.id == job.id, Job.status == "queued").values(
            status="failed", error=str(_l("Không gửi được việc vào hàng đợi: bấm «Thử lại» sau ít phút."))))
        db.session.commit()
    db.session.expire_all()  # immediate mode (tests): the job ran and changed rows meanwhile


def visible(user):
    """A select of the jobs ``user`` may see: their own (a job's file may hold the full ID
    and account numbers that user was allowed to export), and for an admin also those whose
    area (``Job.area_id``) lies in the admin's (a national admin, with no area: every job).
    An admin of a commune does not see a province's export. Only jobs of the kinds the
    user's role may use (:func:`kinds_for`): a payer who was a commune officer does not keep
    the registry exports they made."""
    q = select(Job)
    if user.role != "admin":
        return q.where(Job.user_id == user.id, Job.kind.in_(kinds_for(user)))
    ids = scope.area_ids(user)
    return q if ids is None else q.where(or_(Job.user_id == user.id, Job.area_id.in_(ids)))


def recent(user, kind, n=3):
    """``user``'s last ``n`` jobs of ``kind``, newest first (the page that starts them lists them)."""
    return db.session.scalars(visible(user).where(Job.kind == kind).order_by(Job.id.desc()).limit(n)).all()


def get_visible(job_id, user):
    """The ``Job`` ``job_id`` if ``user`` may see it, else ``None``."""
    if not isinstance(job_id, int) or not 0 < job_id <= scope.MAX_ID:
        return None
    return db.session.scalars(visible(user).where(Job.id == job_id)).first()


def retry(job):
    """Queue a failed ``job`` again (its file, if any, is dropped first). Returns ``False``
    when it is not failed (done, or already queued or running: nothing to do), or failed
    for good (``JobError(final=True)``)."""
    if (job.result or {}).get("final"):
        return False
    n = db.session.execute(update(Job).where(Job.id == job.id, Job.status == "failed").values(
        status="queued", error=None, finished_at=None)).rowcount
    db.session.commit()
    if n:
        _enqueue(job)
    return bool(n)


class Progress:
    """What a handler calls to report its progress: ``progress(done, total, stage)`` (ints,
    ``total`` may be ``None``; ``stage`` a short text). Written at most every
    :data:`PROGRESS_EVERY` seconds, and a heartbeat every ``queue.HEARTBEAT_SECONDS`` from
    a thread of its own while the job runs (a long SQL statement reports nothing)."""

    def __init__(self, job_id, owner):
        self.job_id, self.owner = job_id, owner
        self.done, self.total, self.stage = 0, None, None
        self._last = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        huey_app = queue.queue()
        self._put = lambda: _put_with(huey_app, self)
        self._put()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)
        self._beat.start()

    def __call__(self, done=None, total=None, stage=None):
        with self._lock:
            if done is not None:
                self.done = done
            if total is not None:
                self.total = total
            if stage is not None:
                self.stage = str(stage)
            now = time.monotonic()
            if now - self._last >= PROGRESS_EVERY:
                self._last = now
                self._put()

    def _heartbeat(self):
        while not self._stop.wait(queue.HEARTBEAT_SECONDS):
            with self._lock:
                self._put()

    def stop(self):
        self._stop.set()
        self._beat.join(timeout=1)


def _put_with(huey_app, p):
    try:
        huey_app.put(queue.key(p.job_id), {"done": p.done, "total": p.total, "stage": p.stage,
                                           "owner": p.owner, "at": time.time()})
    except Exception:  # the bar stops moving; the work goes on
        log.exception("job %s: progress not written", p.job_id)


def _owner():
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run(job_id):
    """Run job ``job_id`` if it is still queued (a job queued twice runs once): claim it,
    call its handler, record the result or the error. Never raises."""
    claimed = db.session.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(
        status="running", attempts=Job.attempts + 1, started_at=utcnow(), finished_at=None,
        error=None)).rowcount
    if claimed:
        db.session.execute(delete(JobFile).where(JobFile.job_id == job_id))
    db.session.commit()
    if not claimed:
        return
    job = db.session.get(Job, job_id)
    progress = Progress(job_id, _owner())
    try:
        with force_locale((job.params or {}).get("locale") or "vi"):
            result = HANDLERS[job.kind](job, progress) or {}
    except JobError as e:
        _finish(job_id, "failed", error=e.message, result={"final": True} if e.final else None)
    except Exception:
        log.exception("job %s (%s) failed", job_id, job.kind)
        _finish(job_id, "failed", error=str(_l(
            "Lỗi hệ thống khi xử lý: chưa có gì được ghi. Bấm «Thử lại»; nếu vẫn lỗi, báo quản trị.")))
    else:
        _finish(job_id, "done", result=result)
    finally:
        progress.stop()
        queue.drop_progress(job_id)


def _finish(job_id, status, result=None, error=None):
    """Record the end of a job: with ``done``, in the handler's transaction (what it did
    not commit yet, such as its file, commits with its result); else after rolling back
    what the failed handler had half done."""
    if status != "done":
        db.session.rollback()
    values = {"status": status, "finished_at": utcnow(), "error": error}
    if result is not None:
        values["result"] = result
    db.session.execute(update(Job).where(Job.id == job_id, Job.status == "running").values(**values))
    db.session.commit()


def recover(stale_seconds=None, requeue_queued=False):
    """Queue again the running jobs whose worker stopped (no heartbeat for
    ``stale_seconds``, default ``queue.STALE_SECONDS``), or fail them after
    :data:`MAX_ATTEMPTS` runs; with ``requeue_queued`` (as a worker starts) also queue
    again every queued job (a queue in Redis that restarted has lost them; a job queued
    twice runs once). Drops the files of jobs finished more than :data:`KEEP_FILES_DAYS`
    ago. Returns the ids queued again."""
    stale = queue.STALE_SECONDS if stale_seconds is None else stale_seconds
    now = time.time()
    again = []
    for job in db.session.scalars(select(Job).where(Job.status.in_(("running", "queued")))):
        if job.status == "queued":
            if requeue_queued:
                again.append(job)
            continue
        beat = queue.get_progress(job.id)
        last = beat["at"] if beat else (job.started_at or job.created_at).replace(tzinfo=timezone.utc).timestamp()
        if now - last < stale:
            continue
        if job.attempts >= MAX_ATTEMPTS:
            db.session.execute(update(Job).where(Job.id == job.id, Job.status == "running").values(
                status="failed", finished_at=utcnow(), error=str(_l(
                    "Việc bị dừng giữa chừng %(n)s lần (máy xử lý khởi động lại): chưa có gì được ghi. "
                    "Bấm «Thử lại».", n=job.attempts))))
        elif db.session.execute(update(Job).where(Job.id == job.id, Job.status == "running").values(
                status="queued")).rowcount:
            again.append(job)
    old = select(Job.id).where(Job.finished_at < utcnow() - timedelta(days=KEEP_FILES_DAYS))
    db.session.execute(delete(JobFile).where(JobFile.job_id.in_(old)))
    db.session.commit()
    for job in again:
        _enqueue(job)
    return [j.id for j in again]


def save_file(job, path, filename, mimetype):
    """Store the file at ``path`` as ``job``'s result file, in chunks of
    :data:`CHUNK_BYTES` (never whole in memory). Returns the ``file`` entry of the result:
    ``{"filename", "mimetype", "size"}`` (size in bytes)."""
    size = 0
    with open(path, "rb") as f:
        for seq, data in enumerate(iter(lambda: f.read(CHUNK_BYTES), b"")):
            db.session.execute(insert(JobFile).values(job_id=job.id, seq=seq, data=data))
            size += len(data)
    return {"filename": filename, "mimetype": mimetype, "size": size}


def save_written(job, write, filename, mimetype):
    """Call ``write(path)`` to make the job's file in a temporary directory, store it
    (:func:`save_file`) and remove it. Returns the ``file`` entry of the result."""
    with tempfile.TemporaryDirectory(prefix="portal-job-") as d:
        path = os.path.join(d, "out")
        write(path)
        return save_file(job, path, filename, mimetype)


def counted(items, progress, total, stage, every=500):
    """Yield ``items`` unchanged, reporting ``progress(n, total, stage)`` every ``every``
    of them (an export's rows as the writer takes them)."""
    n = 0
    progress(0, total, stage)
    for n, item in enumerate(items, start=1):
        if n % every == 0:
            progress(n, total)
        yield item
    progress(n, total)


def has_file(job):
    return db.session.scalar(select(func.count()).select_from(JobFile).where(JobFile.job_id == job.id)) > 0


def file_chunks(job_id):
    """Yield ``job_id``'s file piece by piece, each read by a query of its own."""
    seqs = db.session.scalars(select(JobFile.seq).where(JobFile.job_id == job_id).order_by(JobFile.seq)).all()
    for seq in seqs:
        yield db.session.scalar(select(JobFile.data).where(JobFile.job_id == job_id, JobFile.seq == seq))
