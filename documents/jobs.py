"""The extraction job: a document saved as "extracting" is read in the bounded
process with the job's limits (OCR included), then marked ready (starting the
run asked for at upload) or failed with the reason. And the reaper's pass that
puts back the extraction of a document whose job was lost."""

import logging
import uuid
from collections.abc import Container
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Callback, get_current_job
from rq.exceptions import AbandonedJobError

from orchestrator.jobs import get_queue, heartbeat, job_is_lost, waiting_jobs

from .extraction import ExtractionError
from .ingest import budget, complete, fail
from .models import Document
from .sandbox import extract_bounded

log = logging.getLogger(__name__)

QUEUE = "default"


def enqueue_extraction(document: Document) -> None:
    """Give the document a new extraction job, queued once the row is committed
    (the job must find it). The job id is saved on the row first, so the reaper
    can ask Redis about that job even if it never got there."""
    document.extraction_job_id, document.extraction_queued_at = _new_job_id(), timezone.now()
    document.save(update_fields=["extraction_job_id", "extraction_queued_at"])
    transaction.on_commit(partial(_enqueue, document.pk, document.extraction_job_id))


def _new_job_id() -> str:
    return f"extract-{uuid.uuid4().hex}"


def _enqueue(document_id: int, job_id: str, at_front: bool = False) -> None:
    """Redis down: logged, never raised. The row is committed by now, so raising
    would fail an upload that was saved; the reaper enqueues it once Redis is back."""
    try:
        get_queue(QUEUE).enqueue(
            extract_document_job,
            document_id,
            job_id=job_id,
            at_front=at_front,
            job_timeout=settings.QUORUM_EXTRACTION_TIMEOUT_S + 60,
            on_failure=Callback(_job_failed),
            description=f"extract document {document_id}",
        )
    except RedisError:
        log.exception("document=%s: its extraction could not be enqueued; keeprunsmoving will retry", document_id)


def extract_document_job(document_id: int) -> None:
    """Read the document, under a heartbeat that tells the reaper a live worker
    is at it. Outside an RQ job (the bench, a shell) any extracting document is read."""
    job = get_current_job()
    job_id = job.id if job else None
    with heartbeat(job_id or ""):
        document = _held(document_id, job_id)
        if document is None:
            return  # deleted, already read, or handed to a newer job by the reaper
        try:
            extracted = extract_bounded(document.file.path, document.original_name, budget())
        except ExtractionError as error:
            _settle(document_id, job_id, fail, error.reason)
            return
        except FileNotFoundError:
            _settle(document_id, job_id, fail, "missing: the uploaded file is no longer in storage; upload it again")
            return
        _settle(document_id, job_id, complete, extracted)


def _held(document_id: int, job_id: str | None, lock: bool = False) -> Document | None:
    """The document, if it is still extracting and still this job's. A job the
    reaper took for lost (its Redis entry wiped while it ran) may still finish:
    only the newest job's result counts, so no run is started twice."""
    documents = Document.objects.filter(pk=document_id, status=Document.Status.EXTRACTING)
    if job_id is not None:
        documents = documents.filter(extraction_job_id=job_id)
    if lock:
        documents = documents.select_for_update()
    return documents.first()


def _settle(document_id: int, job_id: str | None, settle, outcome) -> None:
    """settle(document, outcome) (complete or fail) under the row lock, if the
    document is still this job's."""
    with transaction.atomic():
        if (document := _held(document_id, job_id, lock=True)) is not None:
            settle(document, outcome)


def _job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """The job itself died (a bug, the worker's timeout): say so on the document
    rather than leave it "extracting" for ever. Not for an abandoned job: rq
    reports one (from a worker's registry cleanup, minutes after its worker was
    killed) through this callback too; that is a lost job, which the reaper
    counts and reads again."""
    if exc_type is not None and issubclass(exc_type, AbandonedJobError):
        log.warning("extraction job %s for document %s was abandoned; the reaper reads it again", job.id, job.args[0])
        return
    log.error("extraction job for document %s failed: %s", job.args[0], exc_value)
    _settle(job.args[0], job.id, fail, "unreadable: reading the file failed on the server; try uploading it again")


# --- the reaper's pass (keeprunsmoving) ---------------------------------------


def is_lost(document: Document, now: datetime, waiting: Container[str] = ()) -> bool:
    """Whether an extracting document's job will never read it: as for a step's
    job (orchestrator.jobs.job_is_lost), a backlog is never a loss."""
    queued_at = document.extraction_queued_at or document.created_at
    return job_is_lost(document.extraction_job_id, queued_at, now, waiting)


def requeue_lost_extractions(now: datetime | None = None) -> list[Document]:
    """Give each extracting document whose job was lost (is_lost) a new job, at
    the front of the queue: it has waited its turn once. One lost
    QUORUM_EXTRACTION_MAX_LOSSES times fails with the reason instead, so a file
    that kills the worker reading it every time (out of memory) cannot loop.
    Returns the documents requeued or failed, with their new status."""
    now = now or timezone.now()
    handled = []
    waiting = waiting_jobs()  # read before the documents, as requeue_stuck does
    for document in Document.objects.filter(status=Document.Status.EXTRACTING).defer("text"):
        if is_lost(document, now, waiting) and (replaced := _replace_lost_job(document, now)) is not None:
            handled.append(replaced)
    return handled


def _replace_lost_job(document: Document, now: datetime) -> Document | None:
    """Under the row lock, and only while the lost job is still the document's:
    a second reaper, or the job finishing meanwhile, makes this a no-op (None)."""
    with transaction.atomic():
        held = _held(document.pk, document.extraction_job_id, lock=True)
        if held is None:
            return None
        held.extraction_losses += 1
        if held.extraction_losses >= settings.QUORUM_EXTRACTION_MAX_LOSSES:
            log.error("document=%s: extraction lost %s times; failed", held.pk, held.extraction_losses)
            held.save(update_fields=["extraction_losses"])
            fail(held, _lost_reason(held.extraction_losses))
            return held
        log.warning("document=%s: extraction job %s lost; requeued", held.pk, held.extraction_job_id)
        held.extraction_job_id, held.extraction_queued_at = _new_job_id(), now
        held.save(update_fields=["extraction_job_id", "extraction_queued_at", "extraction_losses"])
        transaction.on_commit(partial(_enqueue, held.pk, held.extraction_job_id, at_front=True))
    return held


def _lost_reason(losses: int) -> str:
    return (
        f"unreadable: reading it was cut off {losses} times (the worker reading it stopped each time, as it "
        "does when a file needs more memory than the server has); Quorum will not try again"
    )
