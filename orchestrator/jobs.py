"""RQ entry points (thin: they take ids), the one place that enqueues them, and
the log context that names the run and step on every line a step's job writes."""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)


def execute_step_job(step_id: int) -> None:
    from .engine import execute_step

    _drop_stale_connection()
    try:
        execute_step(step_id)
    finally:
        _drop_stale_connection()


def _drop_stale_connection() -> None:
    """A worker that runs jobs in its own process (SimpleWorker) keeps its database
    connection from job to job: drop it when it broke or outlived CONN_MAX_AGE, as
    Django does around each request. Never inside a transaction (a test's)."""
    if not connection.in_atomic_block:
        close_old_connections()


def new_job_id() -> str:
    return f"step-{uuid.uuid4().hex}"


def enqueue_step_on_commit(step) -> None:
    """Enqueue after the transaction that created the step commits, so a worker
    never picks up a step it cannot see yet."""
    transaction.on_commit(lambda: enqueue_step(step.pk, step.job_id, step.agent.queue, step.agent.timeout_s))


# One Queue (and so one Redis connection pool) per queue name and process:
# django_rq.get_queue builds a new client, and a new socket, on every call.
_QUEUES: dict[str, Queue] = {}


def _queue(name: str) -> Queue:
    queue = _QUEUES.get(name)
    if queue is None:
        queue = _QUEUES[name] = django_rq.get_queue(name)
    return queue


def enqueue_step(step_id: int, job_id: str, queue_name: str, timeout_s: int) -> None:
    try:
        queue = _queue(queue_name if queue_name in settings.RQ_QUEUES else "default")
        queue.enqueue(
            execute_step_job,
            step_id,
            job_id=job_id,
            # Room for the engine's own retries of transient errors.
            job_timeout=timeout_s * settings.QUORUM_STEP_MAX_ATTEMPTS + 60,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )
    except RedisError:
        # The step row is saved as queued; keeprunsmoving enqueues it once Redis is back.
        log.exception("step=%s could not be enqueued; keeprunsmoving will retry", step_id)


def is_lost(step, now: datetime) -> bool:
    """Whether a queued or running step's job will never finish it."""
    connection = django_rq.get_connection("default")
    try:
        job = Job.fetch(step.job_id, connection=connection)
        status = job.get_status(refresh=False)
    except NoSuchJobError:
        status = None
    except RedisError:
        return False  # Redis is down: nothing can be requeued now anyway
    if status in (None, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        # A queued step whose transaction just committed may not be enqueued yet.
        return now - step.queued_at > timedelta(seconds=10)
    if status == JobStatus.FINISHED:
        return True  # the job ended without finishing the step (a bug or a kill between the two)
    started = step.started_at or step.queued_at
    return now - started > timedelta(seconds=step.agent.timeout_s * settings.QUORUM_STEP_MAX_ATTEMPTS + 120)


# --- log context: every line logged while a step runs names its run and step -----
# So an engineer can grep a worker's log for one run. settings.LOGGING installs StepFilter.

_current: ContextVar[tuple[int | None, int | None]] = ContextVar("quorum_step", default=(None, None))


@contextmanager
def step_context(run_id: int, step_id: int) -> Iterator[None]:
    token = _current.set((run_id, step_id))
    try:
        yield
    finally:
        _current.reset(token)


class StepFilter(logging.Filter):
    """Adds `run` and `step` to every record ("-" outside a step)."""

    def filter(self, record: logging.LogRecord) -> bool:
        run_id, step_id = _current.get()
        record.run = run_id if run_id is not None else "-"
        record.step = step_id if step_id is not None else "-"
        return True
