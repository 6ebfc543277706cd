"""A document is an uploaded file and the text read out of it."""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse


def _storage_name(instance: "Document", filename: str) -> str:
    # A random name: the uploader's filename never reaches the filesystem.
    return f"documents/{uuid.uuid4().hex}{Path(filename).suffix.lower()[:10]}"


class Document(models.Model):
    class Kind(models.TextChoices):
        PDF = "pdf", "PDF"
        DOCX = "docx", "Word (DOCX)"
        TEXT = "text", "Plain text / Markdown"
        HTML = "html", "HTML"
        IMAGE = "image", "Scanned image"

    class Status(models.TextChoices):
        EXTRACTING = "extracting", "Extracting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        TEXT = "text", "Text layer"
        OCR = "ocr", "OCR"
        MIXED = "mixed", "Text layer and OCR"

    file = models.FileField(upload_to=_storage_name)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, unique=True)
    # Blank until the text has been read (the kind is read from the bytes with it).
    kind = models.CharField(max_length=10, choices=Kind.choices, blank=True)
    size = models.PositiveBigIntegerField()
    page_count = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField(blank=True)
    # Large, slow and scanned files are read by a job after the upload; until then "extracting".
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.READY)
    # Why the text could not be read, in words for the uploader (status FAILED).
    error = models.TextField(blank=True)
    # The RQ job that reads an extracting document, when it was queued and how many
    # jobs before it were lost: the reaper asks Redis about this one job
    # (documents.jobs.requeue_lost_extractions), and only its result counts.
    extraction_job_id = models.CharField(max_length=64, blank=True)
    extraction_queued_at = models.DateTimeField(null=True, blank=True)
    extraction_losses = models.PositiveSmallIntegerField(default=0)
    text_source = models.CharField(max_length=8, choices=Source.choices, blank=True)
    # The mean of Tesseract's word confidences (0-100) when any text came from OCR.
    ocr_confidence = models.FloatField(null=True, blank=True)
    # A run asked for at upload, started once the text is ready.
    requested_pipeline = models.ForeignKey(
        "orchestrator.Pipeline", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the document is (contract, invoice, ...), filled in by a pipeline's classifier.
    doc_type = models.CharField(max_length=40, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The reaper looks for extracting documents every few seconds: a handful among many.
            models.Index(fields=["id"], condition=models.Q(status="extracting"), name="document_extracting"),
        ]

    def __str__(self) -> str:
        return self.original_name

    def get_absolute_url(self) -> str:
        return reverse("documents:detail", args=[self.pk])

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY

    @property
    def from_ocr(self) -> bool:
        return self.text_source in (self.Source.OCR, self.Source.MIXED)

    def prompt_note(self) -> str:
        """What an agent should know about where the text came from: OCR text has
        misread characters, so quotes and numbers may differ from the page."""
        if not self.from_ocr:
            return ""
        share = "All" if self.text_source == self.Source.OCR else "Some"
        confidence = f" (mean confidence {self.ocr_confidence:.0f}%)" if self.ocr_confidence is not None else ""
        return (
            f"\n\nNote: {share} of this document's text was read from scanned pages with OCR{confidence}; "
            "expect misread characters and check figures against their context."
        )

    def latest_run(self):
        return self.runs.top_level().order_by("-created_at", "-id").first()


@receiver(post_delete, sender=Document)
def _delete_original(sender, instance: Document, **kwargs) -> None:
    # Only once the deletion is committed: a rolled-back delete must keep its file.
    name, storage = instance.file.name, instance.file.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name))
