"""Loses nothing: a document whose extraction job was lost (Redis wiped, or down
when the upload committed; the worker reading it killed) is read again by the
reaper and its run started; one waiting in a long queue, or being read by a live
worker, is never touched; one lost too often fails and says why. Real
PostgreSQL, Valkey, RQ worker processes and Tesseract."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta

import django_rq
import psutil
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from documents.jobs import QUEUE, requeue_lost_extractions
from documents.models import Document
from orchestrator.jobs import alive_key
from orchestrator.models import Run
from tests import files
from tests.conftest import CONTRACT, database_url

pytestmark = pytest.mark.django_db(transaction=True)

UPLOAD = reverse("documents:upload")


def wait_for(predicate, every: float = 0.2):
    """Poll until predicate() is truthy (no upper bound on time: a slow machine only waits longer)."""
    while not (value := predicate()):
        time.sleep(every)
    return value


def send(client, name: str, data: bytes, **extra):
    response = client.post(UPLOAD, {"files": [files.upload(name, data)], **extra})
    assert response.status_code == 200
    [result] = response.context["results"]
    return result


@pytest.fixture
def by_the_job(settings):
    """Every upload is read by the extraction job, however small."""
    settings.QUORUM_EXTRACTION_INLINE_BYTES = 0


def gone_from_redis(document: Document) -> None:
    """Its current extraction job deleted, as a Redis restarted without persistence leaves it."""
    job_id, connection = Document.objects.get(pk=document.pk).extraction_job_id, django_rq.get_connection()
    if Job.exists(job_id, connection=connection):
        Job.fetch(job_id, connection=connection).delete()


def aged(document: Document, seconds: int = 60) -> Document:
    """As if its job had been enqueued a while ago (past the reaper's enqueue grace)."""
    Document.objects.filter(pk=document.pk).update(extraction_queued_at=timezone.now() - timedelta(seconds=seconds))
    return Document.objects.get(pk=document.pk)


def test_a_document_whose_job_vanished_with_redis_is_read_and_its_run_started_after_one_pass(
    client_for, analyst, chain_pipeline, by_the_job, run_jobs, capsys
):
    result = send(client_for(analyst), "contract.txt", CONTRACT.encode(), pipeline=chain_pipeline.pk)
    assert result.status == "extracting" and result.run is None
    django_rq.get_connection().flushall()  # Redis restarted without persistence
    document = aged(result.document)

    call_command("keeprunsmoving")
    assert f"requeued the extraction of document={document.pk}" in capsys.readouterr().out
    requeued = Document.objects.get(pk=document.pk)
    assert requeued.extraction_job_id != document.extraction_job_id and requeued.extraction_losses == 1
    run_jobs()
    document.refresh_from_db()
    assert document.status == Document.Status.READY and "MASTER SUPPLY AGREEMENT" in document.text
    run = Run.objects.get(document=document)
    assert run.pipeline == chain_pipeline and run.status != Run.Status.FAILED


def test_an_upload_made_while_redis_is_down_is_saved_and_read_once_redis_is_back(
    client_for, analyst, by_the_job, run_jobs, settings, tmp_path, caplog
):
    up = settings.RQ_QUEUES
    settings.RQ_QUEUES = {**up, QUEUE: {**up[QUEUE], "URL": f"unix://{tmp_path}/nothing-listens-here.sock"}}
    result = send(client_for(analyst), "contract.txt", CONTRACT.encode())  # no error reaches the uploader
    assert result.status == "extracting"
    assert "its extraction could not be enqueued; keeprunsmoving will retry" in caplog.text
    document = Document.objects.get()
    assert document.file.storage.exists(document.file.name)  # the file is kept

    settings.RQ_QUEUES = up
    [requeued] = requeue_lost_extractions(now=timezone.now() + timedelta(seconds=30))
    assert requeued.pk == document.pk
    run_jobs()
    document.refresh_from_db()
    assert document.status == Document.Status.READY and "MASTER SUPPLY AGREEMENT" in document.text


@pytest.fixture
def slow_tesseract_worker(queues, tmp_path, settings):
    """A real RQ worker process (SimpleWorker, heartbeat every second) whose
    Tesseract takes an hour to start; killed with SIGKILL by the test."""
    real = shutil.which("tesseract")
    if real is None:
        pytest.skip("OCR TESTS SKIPPED: tesseract is not installed (`make test` installs tesseract-ocr with apt)")
    slow = tmp_path / "slow-bin"
    slow.mkdir()
    (slow / "tesseract").write_text(f'#!/bin/sh\nsleep 3600\nexec {real} "$@"\n')
    (slow / "tesseract").chmod(0o755)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),  # this test's uploads
        "PATH": f"{slow}:{os.environ['PATH']}",
        "QUORUM_STEP_HEARTBEAT_S": "1",
    }
    command = [sys.executable, "manage.py", "rqworker", QUEUE, "--worker-class", "rq.worker.SimpleWorker"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    if process.poll() is None:
        for sandbox in sandboxes(process):  # the test failed before it killed them
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sandbox.pid, signal.SIGKILL)
        process.kill()
    process.wait()


def sandboxes(worker: subprocess.Popen) -> list[psutil.Process]:
    """The worker's extraction processes, each the leader of its own process group."""
    found = []
    for child in psutil.Process(worker.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "documents.sandbox" in child.cmdline():
                found.append(child)
    return found


def reading_with_tesseract(worker: subprocess.Popen) -> list[psutil.Process]:
    """Its extraction processes that have started Tesseract: mid-extraction."""
    found = []
    for sandbox in sandboxes(worker):
        with contextlib.suppress(psutil.NoSuchProcess):
            if sandbox.children():
                found.append(sandbox)
    return found


def test_a_worker_killed_mid_extraction_leads_to_re_extraction_once_its_heartbeat_expires(
    client_for, analyst, slow_tesseract_worker, run_jobs, settings
):
    settings.QUORUM_STEP_HEARTBEAT_S = 1
    result = send(client_for(analyst), "invoice.png", files.scanned_invoice_png())
    document = result.document
    connection = django_rq.get_connection()
    [sandbox] = wait_for(lambda: reading_with_tesseract(slow_tesseract_worker))  # Tesseract has started on the scan
    assert connection.exists(alive_key(document.extraction_job_id))

    # Being read by a live worker, however long it takes: never lost.
    assert requeue_lost_extractions(now=timezone.now() + timedelta(hours=1)) == []

    os.kill(slow_tesseract_worker.pid, signal.SIGKILL)
    slow_tesseract_worker.wait()
    os.killpg(sandbox.pid, signal.SIGKILL)  # what the dead worker would have done at its wall clock
    job = Job.fetch(document.extraction_job_id, connection=connection)
    assert job.get_status() == JobStatus.STARTED  # what RQ still says about the dead worker's job
    wait_for(lambda: not connection.exists(alive_key(document.extraction_job_id)))  # within 3 beats
    # Should a worker's maintenance come first (minutes later), RQ reports the dead job
    # as abandoned through the job's failure callback: a loss, not the file's fault.
    StartedJobRegistry(QUEUE, connection=connection).cleanup(timestamp=time.time() + 24 * 3600)
    assert Job.fetch(job.id, connection=connection).get_status() == JobStatus.FAILED
    assert Document.objects.get(pk=document.pk).status == Document.Status.EXTRACTING

    [requeued] = requeue_lost_extractions(now=timezone.now() + timedelta(minutes=1))
    assert requeued.pk == document.pk and requeued.extraction_job_id != document.extraction_job_id
    run_jobs()
    document.refresh_from_db()
    assert document.status == Document.Status.READY, document.error
    assert "NW-88231" in document.text and document.text_source == Document.Source.OCR


def test_a_document_waiting_behind_a_long_queue_is_never_requeued_however_long_it_waits(
    client_for, analyst, by_the_job, queues, run_jobs
):
    client = client_for(analyst)
    queue = django_rq.get_queue(QUEUE)
    for _ in range(50):  # the backlog ahead of it
        queue.enqueue(time.sleep, 0)
    waiting = send(client, "contract.txt", CONTRACT.encode()).document
    lost = send(client, "other.txt", b"Another contract, whose job was lost.").document
    gone_from_redis(lost)

    requeued = requeue_lost_extractions(now=timezone.now() + timedelta(minutes=5))
    assert [document.pk for document in requeued] == [lost.pk]  # the lost one beside it, only
    for later in (timedelta(hours=1), timedelta(days=7)):
        assert requeue_lost_extractions(now=timezone.now() + later) == []
    waited = Document.objects.get(pk=waiting.pk)
    assert waited.extraction_job_id == waiting.extraction_job_id and waited.extraction_losses == 0

    run_jobs()
    assert set(Document.objects.values_list("status", flat=True)) == {Document.Status.READY}


def test_a_document_lost_too_often_fails_with_its_reason_on_the_documents_pages(
    client_for, analyst, chain_pipeline, by_the_job, settings, capsys
):
    client = client_for(analyst)
    document = send(client, "poison.txt", CONTRACT.encode(), pipeline=chain_pipeline.pk).document
    limit = settings.QUORUM_EXTRACTION_MAX_LOSSES
    for _ in range(limit):  # its worker dies every time it reads it
        gone_from_redis(document)
        document = aged(document)
        call_command("keeprunsmoving")

    document.refresh_from_db()
    assert document.status == Document.Status.FAILED and document.extraction_losses == limit
    reason = f"unreadable: reading it was cut off {limit} times"
    assert document.error.startswith(reason)
    assert f"failed document={document.pk}: its extraction was lost too often" in capsys.readouterr().out
    assert document.requested_pipeline is None and not Run.objects.exists()
    assertContains(client.get(reverse("documents:list")), reason)
    assertContains(client.get(document.get_absolute_url()), f"The text could not be read: {reason}")
    assert requeue_lost_extractions(now=timezone.now() + timedelta(days=1)) == []  # and it stays failed
