"""The job queue: Huey, bound to the app in ``create_app``.

``JOB_QUEUE_URL`` says where the queue lives:

- ``sqlite:///<path>`` (the default: ``instance/jobs.db``): a file beside the portal's
  database. No server to run; ``flask worker`` (started by ``make run``) takes the jobs.
- ``redis://host:port/db``: Redis, for several app servers and workers on several machines.
- ``memory://``: no queue; a job runs at once, inside the request that submits it (tests).

Why Huey rather than RQ: RQ needs Redis for everything, and its only way without Redis
(``is_async=False``) runs the job inside the request and keeps nothing, so the default set-up
would either need a Redis server or have no queue at all. Huey keeps the same queue in a
SQLite file or in Redis behind one API, has a consumer with worker threads, periodic tasks
(which recover the jobs of a worker that died) and an immediate mode for tests; it is one
small package with no dependency. Its consumer runs each job in a thread of ``flask worker``.

The queue carries only job ids: what a job is, its status and its result are rows of the
portal's database (``Job``), so that every app server sees them. What the queue also holds
is each running job's progress and heartbeat (:func:`put_progress`): a SQLite import holds
the database's write lock for its whole transaction, and a progress bar cannot wait for it.
"""
import logging

from flask import current_app, has_app_context
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab

log = logging.getLogger(__name__)

RUN_TASK = "portal.run_job"
HEARTBEAT_SECONDS = 10  # a running job says it is alive this often
STALE_SECONDS = 60  # a running job silent this long is taken for dead (its worker stopped)


def make_huey(url, name="portal"):
    """A ``huey.Huey`` for ``url`` (``sqlite:///path``, ``redis://…``, ``memory://``), its
    keys under ``name`` (two portals on one Redis take a name each). Raises ``ValueError``
    on any other scheme."""
    if url.startswith("sqlite:///"):
        return SqliteHuey(name, filename=url[len("sqlite:///"):], results=False)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, results=False)
    if url == "memory://":
        return MemoryHuey(name, immediate=True, results=False)
    raise ValueError(f"JOB_QUEUE_URL: unknown queue {url!r} (sqlite:///…, redis://…, memory://)")


def init_app(app, run_job, recover_jobs):
    """Create the app's queue; register on it the task that runs a job (``run_job(job_id)``)
    and the recovery of jobs whose worker died (``recover_jobs(requeue_queued=…)``: each
    minute, and as each worker starts, then with the queued jobs too). Both are called in
    an app context. Every 10 minutes the progress counters are folded (``tallies.compact``)."""
    huey = make_huey(app.config["JOB_QUEUE_URL"], app.config["JOB_QUEUE_NAME"])
    app.extensions["huey"] = huey

    def run(job_id):
        if has_app_context() and current_app._get_current_object() is app:
            run_job(job_id)  # immediate mode: inside the submitting request's context
        else:
            with app.app_context():
                run_job(job_id)

    app.extensions["job_task"] = huey.task(name=RUN_TASK)(run)

    def recover(requeue_queued=False):
        with app.app_context():
            recover_jobs(requeue_queued=requeue_queued)

    huey.periodic_task(crontab(minute="*"), name="portal.recover_jobs")(recover)  # each minute

    def compact_counts():
        """Fold the progress counters' rows (services/tallies.py: each write adds one)."""
        from .extensions import db
        from .services import tallies
        with app.app_context():
            tallies.compact()
            db.session.commit()

    huey.periodic_task(crontab(minute="*/10"), name="portal.compact_counts")(compact_counts)
    # As each worker starts, the queued jobs too: a Redis that restarted has lost them.
    huey.on_startup("portal.recover_jobs")(lambda: recover(requeue_queued=True))
    return huey


def queue():
    return current_app.extensions["huey"]


def enqueue(job_id):
    """Put ``job_id`` on the queue (after its row is committed). In ``memory://`` mode the
    job runs now, before this returns."""
    current_app.extensions["job_task"](job_id)


def key(job_id):
    """The queue store's key of ``job_id``'s progress: a dict ``done``, ``total``, ``stage``,
    ``owner`` (the worker), ``at`` (the heartbeat, seconds since the epoch), written by
    ``jobs.Progress``."""
    return f"portal:job:{job_id}"


def get_progress(job_id):
    """The last :func:`put_progress` of ``job_id`` as a dict, or ``None``."""
    try:
        return queue().get(key(job_id), peek=True)
    except Exception:  # the queue's store is down: the page shows the job without its bar
        log.exception("job %s: progress not readable", job_id)
        return None


def drop_progress(job_id):
    try:
        queue().delete(key(job_id))
    except Exception:
        log.exception("job %s: progress not deleted", job_id)
