"""Scans are read with Tesseract inside the bounded extraction process: a
scanned invoice (drawn at test time) uploads, is read by the extraction job,
shows where its text came from, and its fields are extracted by a pipeline."""

import shutil

import pytest
from django.conf import settings
from django.urls import reverse
from pytest_django.asserts import assertContains

from documents.extraction import Kind, Limits, Source, extract
from documents.models import Document
from orchestrator.engine import build_request
from orchestrator.models import Run
from tests import files

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        shutil.which("tesseract") is None,
        reason="OCR TESTS SKIPPED: tesseract is not installed (`make test` installs tesseract-ocr with apt)",
    ),
]

UPLOAD = reverse("documents:upload")


def send(client, name: str, data: bytes, **extra):
    response = client.post(UPLOAD, {"files": [files.upload(name, data)], **extra})
    assert response.status_code == 200
    [result] = response.context["results"]
    return result


def test_a_scanned_image_is_read_with_ocr():
    extracted = extract(files.scanned_invoice_png(), "invoice.png")

    assert extracted.kind == Kind.IMAGE and extracted.source == Source.OCR
    assert "NW-88231" in extracted.text
    assert "4,911.00" in extracted.text
    assert extracted.ocr_confidence is not None and extracted.ocr_confidence > 60


def test_pages_with_a_text_layer_are_not_read_again():
    extracted = extract(files.text_and_scanned_pdf("Cover letter: please find our invoice attached."), "two.pdf")

    assert extracted.source == Source.MIXED and extracted.page_count == 2
    # The text layer is taken as it is; only the scanned page went through OCR.
    assert extracted.text.startswith("Cover letter: please find our invoice attached.")
    assert "NW-88231" in extracted.text


def test_ocr_is_left_to_the_job_when_the_limits_allow_none():
    from documents.extraction import NeedsOCR

    with pytest.raises(NeedsOCR):
        extract(files.scanned_invoice_pdf(), "scan.pdf", Limits(ocr_pages=0))


def test_an_image_past_the_pixel_limit_is_refused_by_name():
    from documents.extraction import ExtractionError

    with pytest.raises(ExtractionError) as refused:
        extract(files.scanned_invoice_png(), "scan.png", Limits(image_pixels=1_000_000))
    assert refused.value.reason == "too large an image: 1,240 × 1,754 pixels; the limit is 1 megapixels"


@pytest.mark.django_db(transaction=True)
def test_a_scanned_invoice_uploads_is_read_by_the_job_and_shows_its_source(client_for, analyst, run_jobs):
    client = client_for(analyst)
    result = send(client, "scan.pdf", files.scanned_invoice_pdf())
    assert result.status == "extracting"
    document = result.document
    page = client.get(document.get_absolute_url())
    assertContains(page, "extracting")
    assertContains(page, 'hx-trigger="every 1s"')

    run_jobs()
    document.refresh_from_db()
    assert document.status == Document.Status.READY
    assert document.text_source == Document.Source.OCR
    assert "NW-88231" in document.text
    page = client.get(document.get_absolute_url(), headers={"HX-Request": "true"})
    assertContains(page, "OCR, mean OCR confidence")
    # Once read, the page stops polling.
    assert "hx-trigger" not in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_run_on_a_scan_ocr_could_barely_read_is_not_reviewed_not_done(client_for, analyst, chain_pipeline, run_jobs):
    """Garbage from a bad scan ("Hewberg", a date of 2026-13-25) must not come back
    as a clean extraction: the run says it is unchecked, and why."""
    client = client_for(analyst)
    result = send(client, "fax.png", files.illegible_scan_png(), pipeline=chain_pipeline.pk)
    run_jobs()

    document = Document.objects.get(pk=result.document.pk)
    assert document.ocr_confidence < settings.QUORUM_MIN_OCR_CONFIDENCE
    run = Run.objects.get(document=document)
    assert "mean OCR confidence, too unreliable to review: unchecked" in run.not_reviewed
    page = client.get(reverse("orchestrator:run", args=[run.pk]))
    assertContains(page, "Not reviewed")
    assertContains(page, f"{document.ocr_confidence:.0f}% mean OCR confidence")


@pytest.mark.django_db(transaction=True)
def test_a_scanned_invoice_has_its_fields_extracted_by_the_chain(client_for, analyst, chain_pipeline, run_jobs):
    client = client_for(analyst)
    result = send(client, "scan.pdf", files.scanned_invoice_pdf(), pipeline=chain_pipeline.pk)
    assert result.status == "extracting" and result.run is None

    run_jobs()  # the extraction job, then the run it starts, step by step
    run = Run.objects.get(document=result.document)
    assert run.status == Run.Status.DONE
    fields = run.result["fields"]
    assert fields["invoice_number"] == "NW-88231"
    assert fields["total"] == 4911
    # The agents were told the text came from OCR.
    step = run.steps.order_by("id").first()
    assert "read from scanned pages with OCR" in build_request(step).messages[0]["content"]


@pytest.mark.django_db(transaction=True)
def test_the_upload_row_polls_until_the_document_is_read(client_for, analyst, run_jobs):
    client = client_for(analyst)
    result = send(client, "invoice.png", files.scanned_invoice_png())
    row = client.get(UPLOAD, {"document": result.document.pk}, headers={"HX-Request": "true"})
    assertContains(row, 'hx-trigger="every 1s"')

    run_jobs()
    row = client.get(UPLOAD, {"document": result.document.pk}, headers={"HX-Request": "true"})
    assertContains(row, "accepted")
    assertContains(row, "read with OCR")
    assert "hx-trigger" not in row.content.decode()
