"""The extraction job: a document saved as "extracting" is read in the bounded
process with the job's limits (OCR included), then marked ready (starting the
run asked for at upload) or failed with the reason."""

import logging

import django_rq
from django.conf import settings
from django.db import transaction
from rq import Callback

from .extraction import ExtractionError
from .ingest import budget, complete, fail
from .models import Document
from .sandbox import extract_bounded

log = logging.getLogger(__name__)

QUEUE = "default"


def enqueue_extraction(document: Document) -> None:
    """Queue the document's extraction once the row is committed (the job must find it)."""
    document_id = document.pk
    transaction.on_commit(
        lambda: django_rq.get_queue(QUEUE).enqueue(
            extract_document_job,
            document_id,
            job_timeout=settings.QUORUM_EXTRACTION_TIMEOUT_S + 60,
            on_failure=Callback(_job_failed),
            description=f"extract document {document_id}",
        )
    )


def extract_document_job(document_id: int) -> None:
    document = Document.objects.filter(pk=document_id, status=Document.Status.EXTRACTING).first()
    if document is None:
        return  # deleted, or already read by an earlier attempt
    try:
        extracted = extract_bounded(document.file.path, document.original_name, budget())
    except ExtractionError as error:
        fail(document, error.reason)
        return
    except FileNotFoundError:
        fail(document, "missing: the uploaded file is no longer in storage; upload it again")
        return
    with transaction.atomic():
        complete(document, extracted)


def _job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """The job itself died (a bug, the worker's timeout): say so on the document
    rather than leave it "extracting" for ever."""
    log.error("extraction job for document %s failed: %s", job.args[0], exc_value)
    document = Document.objects.filter(pk=job.args[0], status=Document.Status.EXTRACTING).first()
    if document is not None:
        fail(document, "unreadable: reading the file failed on the server; try uploading it again")
