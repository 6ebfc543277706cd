"""RQ entry points (thin: they take ids), the one place that enqueues them, and
the log context that names the run and step on every line a step's job writes."""

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Container, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import partial

import django_rq
from django.conf import settings
from django.core.signals import setting_changed
from django.db import close_old_connections, connection, transaction
from django.dispatch import receiver
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)


def execute_step_job(step_id: int) -> None:
    from . import configcache
    from .engine import execute_step

    _drop_stale_connection()
    job = get_current_job()
    try:
        with heartbeat(job.id if job else ""), configcache.one_look():
            execute_step(step_id)
    finally:
        _drop_stale_connection()


def alive_key(job_id: str) -> str:
    return f"quorum:alive:{job_id}"


@contextmanager
def heartbeat(job_id: str) -> Iterator[None]:
    """While a step's job runs, keep a key with a short TTL alive in Redis. A
    SimpleWorker sends no RQ heartbeat while its job runs (the job holds its only
    thread), and a killed worker's key lingers for the job's whole timeout; this
    key expires within 3 beats of the process dying, so the reaper tells a slow
    live call (key present) from a dead one (key gone)."""
    if not job_id:
        yield
        return
    key, ttl = alive_key(job_id), 3 * settings.QUORUM_STEP_HEARTBEAT_S
    with contextlib.suppress(RedisError):  # Redis restarting: the next beat writes it again
        redis().set(key, "1", ex=ttl)
    with _beating_lock:
        _beating[key] = ttl
    _start_beating()
    try:
        yield
    finally:
        with _beating_lock:  # never renewed by a beat after this
            del _beating[key]
            with contextlib.suppress(RedisError):
                redis().delete(key)


# One thread per process renews the keys of the jobs it runs (one at a time in an
# RQ worker), every second: cheaper than a thread started and joined for every job.
_beating: dict[str, int] = {}  # key: its TTL in seconds
_beating_lock = threading.Lock()
_beater: threading.Thread | None = None


def _after_fork() -> None:
    """A forked work horse inherits the variables, not the thread, and perhaps a held lock."""
    global _beater, _beating_lock
    _beater, _beating_lock = None, threading.Lock()
    _beating.clear()


os.register_at_fork(after_in_child=_after_fork)


def _start_beating() -> None:
    global _beater
    if _beater is not None and _beater.is_alive():
        return

    def beat() -> None:
        while True:
            time.sleep(1)
            with _beating_lock:
                for key, ttl in _beating.items():
                    with contextlib.suppress(RedisError):
                        redis().set(key, "1", ex=ttl)

    _beater = threading.Thread(target=beat, name="quorum-heartbeat", daemon=True)
    _beater.start()


def current_worker() -> str:
    """The name of the RQ worker running this code ("" outside a job)."""
    job = get_current_job()
    return (job.worker_name or "") if job else ""


def _drop_stale_connection() -> None:
    """A worker that runs jobs in its own process (SimpleWorker) keeps its database
    connection from job to job: drop it when it broke or outlived CONN_MAX_AGE, as
    Django does around each request. Never inside a transaction (a test's)."""
    if not connection.in_atomic_block:
        close_old_connections()


def new_job_id() -> str:
    return f"step-{uuid.uuid4().hex}"


def enqueue_step_on_commit(step, at_front: bool = False) -> None:
    """Enqueue after the transaction that created the step commits, so a worker
    never picks up a step it cannot see yet. `at_front`: a lost step, which has
    waited its turn once already, goes ahead of the backlog."""
    transaction.on_commit(
        lambda: enqueue_step(step.pk, step.job_id, step.agent.queue, step.agent.timeout_s, at_front=at_front)
    )


# One Queue (and so one Redis connection pool) per queue name and process:
# django_rq.get_queue builds a new client, and a new socket, on every call.
_QUEUES: dict[str, Queue] = {}


def get_queue(name: str) -> Queue:
    """django_rq.get_queue(name), built once per process."""
    queue = _QUEUES.get(name)
    if queue is None:
        queue = _QUEUES[name] = django_rq.get_queue(name)
    return queue


@receiver(setting_changed)
def _forget_queues(setting: str, **kwargs) -> None:
    """Queues changed in settings (a test's Redis that is down) are built again."""
    if setting == "RQ_QUEUES":
        _QUEUES.clear()


def redis() -> Redis:
    """This process's client of the default queue's Redis (heartbeats, rate limits,
    lost-job checks). One client and pool per process: a new one per call opens a
    socket and reads package metadata every time, milliseconds a step."""
    return get_queue("default").connection


def enqueue_step(
    step_id: int, job_id: str, queue_name: str, timeout_s: int, delay_s: float = 0, at_front: bool = False
) -> None:
    """Enqueue a step's job; with `delay_s`, for the workers' scheduler to enqueue
    then (a step over its provider's rate limit)."""
    try:
        queue = get_queue(queue_name if queue_name in settings.RQ_QUEUES else "default")
        enqueue = partial(queue.enqueue, at_front=at_front)
        if delay_s > 0:
            enqueue = partial(queue.enqueue_in, timedelta(seconds=delay_s))
        enqueue(
            execute_step_job,
            step_id,
            job_id=job_id,
            job_timeout=job_timeout(timeout_s),
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )
    except RedisError:
        # The step row is saved as queued; keeprunsmoving enqueues it once Redis is back.
        log.exception("step=%s could not be enqueued; keeprunsmoving will retry", step_id)


def job_timeout(timeout_s: int) -> int:
    """Room for a legitimate step: the call and its corrective retry, each with the
    engine's retries of transient errors and their capped waits, plus a minute."""
    attempts = settings.QUORUM_STEP_MAX_ATTEMPTS
    return 2 * attempts * (timeout_s + settings.QUORUM_RETRY_AFTER_CAP_S) + 60


def enqueue_overdue(now: datetime | None = None) -> int:
    """Enqueue the deferred jobs (enqueue_in) that RQ's scheduler has left in its
    registry QUORUM_SCHEDULER_GRACE_S past their time: the worker holding the
    scheduler's lock died, and the others take it over only every 10 minutes.
    The number enqueued. A live scheduler enqueues within a second, so the two
    never race in practice; should they, a step's job is safe to run twice."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=settings.QUORUM_SCHEDULER_GRACE_S)
    enqueued = 0
    for name in settings.RQ_QUEUE_NAMES:
        queue = get_queue(name)
        registry = queue.scheduled_job_registry
        job_ids = registry.get_jobs_to_schedule(int(cutoff.timestamp()))
        for job_id, job in zip(job_ids, Job.fetch_many(job_ids, connection=queue.connection), strict=True):
            if job is not None:
                queue.enqueue_job(job, at_front=job.should_enqueue_at_front())
                enqueued += 1
            registry.remove(job_id)
    return enqueued


# A job enqueued in a transaction that has just committed may not be in Redis yet.
_ENQUEUE_GRACE = timedelta(seconds=10)


def _beat_missed(since: datetime, now: datetime) -> bool:
    """Whether a job started at `since` has had time to write its first beats."""
    return now - since > timedelta(seconds=3 * settings.QUORUM_STEP_HEARTBEAT_S + 5)


def waiting_jobs() -> frozenset[str]:
    """The ids of every job waiting its turn right now: in a queue, or scheduled
    (deferred for a rate limit). Read once per reaper pass, one command per queue,
    so a step whose job is among them costs the pass nothing more: asking each
    step's queue whether it holds the job is a search of the whole list per step,
    seconds a pass at ten thousand queued. Empty while Redis is down."""
    waiting: set[str] = set()
    try:
        for name in settings.RQ_QUEUE_NAMES:
            queue = get_queue(name)
            waiting.update(job_id.decode() for job_id in queue.connection.lrange(queue.key, 0, -1))
            waiting.update(queue.scheduled_job_registry.get_job_ids(cleanup=False))
    except RedisError:
        return frozenset()
    return frozenset(waiting)


def is_lost(step, now: datetime, waiting: Container[str] = ()) -> bool:
    """Whether a queued or running step's job will never finish it: a running step
    only when its job's heartbeat (heartbeat()) stopped, that is, the process
    running it died; a queued step as job_is_lost() says."""
    if step.status != "running":
        return job_is_lost(step.job_id, step.queued_at, now, waiting)
    try:
        alive = redis().exists(alive_key(step.job_id))
    except RedisError:
        return False  # Redis is down: nothing can be requeued now anyway
    return not alive and _beat_missed(step.started_at or step.queued_at, now)


def job_is_lost(job_id: str, queued_at: datetime, now: datetime, waiting: Container[str] = ()) -> bool:
    """Whether the RQ job `job_id` (a step's or a document's extraction), enqueued
    at `queued_at`, will never run. A backlog is never a loss: a job waiting in its
    queue or scheduled is not lost however long it waits, nor one a live worker
    runs (its heartbeat key is there). Lost: gone from Redis (wiped, or never
    enqueued), ended, started by a worker whose heartbeat stopped, or taken off
    its queue by a worker killed before it started it (the job still reads
    "queued", but no list holds it any more). `waiting`: waiting_jobs() of this
    pass; a job among them is waiting, with no more to ask."""
    if job_id in waiting:
        return False
    connection = redis()
    try:
        if job_id and connection.exists(alive_key(job_id)):
            return False  # running in a live worker
        job = _fetch(job_id)
        status = job.get_status(refresh=False) if job else None
        if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
            return False
        if status == JobStatus.QUEUED:
            if connection.lpos(Queue.redis_queue_namespace_prefix + job.origin, job.id) is not None:
                return False  # waiting its turn, however long
            # Off its queue: taken by a worker right now (it marks the job started
            # within milliseconds), or by one killed before it could.
            job = _fetch(job_id)
            status = job.get_status(refresh=False) if job else None
            if status != JobStatus.QUEUED:
                return False  # the next pass looks again
        if status == JobStatus.STARTED:
            return _beat_missed(job.started_at or queued_at, now)
    except RedisError:
        return False  # Redis is down: nothing can be enqueued now anyway
    return now - queued_at > _ENQUEUE_GRACE


def _fetch(job_id: str) -> Job | None:
    if not job_id:
        return None
    try:
        return Job.fetch(job_id, connection=redis())
    except NoSuchJobError:
        return None


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
