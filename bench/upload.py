"""Uploads under attack, and OCR speed. Every file of the hostile suite
(tests/hostile.py, plus a 5,000-file POST and a body over the limit) goes
through the real upload view (django.test.Client, in this process, which is
the web process being measured): the slowest request and how much this
process's resident memory grew. Files the view hands to the extraction job are
then read by the job, timed apart. And the seconds one scanned page takes
through the extraction process (Tesseract included)."""

import gc
import hashlib
import re
import statistics
import time

import django_rq
import psutil
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from config.roles import ANALYST
from documents.jobs import extract_document_job
from documents.models import Document
from tests import files, hostile

UPLOAD = reverse("documents:upload")


def _client() -> Client:
    user, _ = User.objects.get_or_create(username="bench-uploader")
    user.groups.add(Group.objects.get_or_create(name=ANALYST)[0])
    client = Client(SERVER_NAME="localhost")  # an allowed host
    client.force_login(user)
    return client


def _forget(data: bytes) -> None:
    Document.objects.filter(sha256=hashlib.sha256(data).hexdigest()).delete()


def _drop_extraction_jobs() -> None:
    queue = django_rq.get_queue("default")
    for job in queue.get_jobs():
        if job.func_name.endswith("extract_document_job"):
            job.delete()


def _cases() -> list[tuple[str, dict, dict]]:
    """(label, POST data, settings) for each hostile request, built before measuring."""
    cases = []
    for label, (name, build) in hostile.SUITE.items():
        data = build()
        _forget(data)
        cases.append((label, {"files": [SimpleUploadedFile(name, data)]}, {}))
    many = [SimpleUploadedFile(f"note-{n}.txt", b"x") for n in range(5000)]
    cases.append(("5,000-file post", {"files": many}, {}))
    big = SimpleUploadedFile("huge.txt", b"a" * (4 * 1024 * 1024))
    cases.append(("body over the limit", {"files": [big]}, {"QUORUM_MAX_UPLOAD_BYTES": 1024 * 1024}))
    return cases


def _hostile(client: Client) -> dict:
    cases = _cases()
    process = psutil.Process()
    # One ordinary upload first: imports and connections are not what we measure.
    warm = files.text_pdf("Warm-up contract.")
    _forget(warm)
    client.post(
        UPLOAD, {"files": [SimpleUploadedFile("warm.pdf", warm)]}, headers={"X-Requested-With": "XMLHttpRequest"}
    )
    gc.collect()
    baseline = process.memory_info().rss
    worst_s, worst_rss, worst_name, job_s = 0.0, 0, "", 0.0
    for label, data, overrides in cases:
        for upload in data["files"]:
            upload.seek(0)
        with override_settings(**overrides):
            started = time.monotonic()
            response = client.post(UPLOAD, data, headers={"X-Requested-With": "XMLHttpRequest"})
            elapsed = time.monotonic() - started
        rss = process.memory_info().rss - baseline
        assert response.status_code in (200, 413), (label, response.status_code)
        status, reason, document = _row(response.content.decode())
        print(f"   {label:<24} {elapsed:5.2f} s  rss +{rss / 2**20:5.1f} MB  {status}: {reason[:70]}", flush=True)
        if elapsed > worst_s:
            worst_s, worst_name = elapsed, label
        worst_rss = max(worst_rss, rss)
        if document is not None and document.status == Document.Status.EXTRACTING:
            started = time.monotonic()
            extract_document_job(document.pk)
            job_s = max(job_s, time.monotonic() - started)
            document.refresh_from_db()
            print(f"   {'':<24} job {time.monotonic() - started:5.2f} s  {document.status}: "
                  f"{document.error[:70]}", flush=True)  # fmt: skip
    _drop_extraction_jobs()
    return {
        "hostile_max_s": round(worst_s, 2),
        "hostile_worst": worst_name,
        "hostile_max_rss_growth_mb": round(worst_rss / 2**20, 1),
        "hostile_job_max_s": round(job_s, 2),
    }


def _row(html: str) -> tuple[str, str, Document | None]:
    """The status, refusal and document of the result row the view answered
    (outside the test runner responses carry no template context)."""
    status = re.search(r'class="upload-result (\w+)"', html)
    reason = re.search(r'<span class="refused">([^<]*)</span>', html)
    link = re.search(r'href="/documents/(\d+)/"', html)
    document = Document.objects.filter(pk=int(link.group(1))).first() if link else None
    return (status.group(1) if status else "?"), (reason.group(1) if reason else ""), document


def _ocr_page_s(client: Client) -> float:
    """Seconds per scanned page: the one-page scanned invoice through the extraction job."""
    data = files.scanned_invoice_pdf()
    times = []
    for _ in range(3):
        _forget(data)
        response = client.post(
            UPLOAD, {"files": [SimpleUploadedFile("scan.pdf", data)]}, headers={"X-Requested-With": "XMLHttpRequest"}
        )
        _, _, document = _row(response.content.decode())
        started = time.monotonic()
        extract_document_job(document.pk)
        times.append(time.monotonic() - started)
        document.refresh_from_db()
        assert "NW-88231" in document.text, document.error
    _forget(data)
    _drop_extraction_jobs()
    return round(statistics.median(times), 2)


def run() -> dict:
    client = _client()
    figures = _hostile(client)
    figures["ocr_page_s"] = _ocr_page_s(client)
    return {"upload": figures}
