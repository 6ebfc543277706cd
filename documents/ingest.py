"""Turning one uploaded file into a Document: the size limit, duplicate
detection by SHA-256, then its text read in the bounded extraction process
(documents/sandbox.py) — at once when the file is small and quick to read,
otherwise by the extraction job, with the document "extracting" meanwhile.
Nothing here parses a document; a file refused at once leaves no row or file."""

import hashlib
import logging
import math
import shutil
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePath

from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, IntegrityError, transaction
from django.template.defaultfilters import filesizeformat

from .extraction import HTML_START, IMAGE_MAGIC, Extracted, ExtractionError, Limits, NeedsOCR
from .models import Document
from .sandbox import Budget, TooSlow, extract_bounded

log = logging.getLogger(__name__)

# The stored file's extension follows what the bytes are, not what the name claimed.
STORED_SUFFIX = {
    Document.Kind.PDF: ".pdf",
    Document.Kind.DOCX: ".docx",
    Document.Kind.TEXT: ".txt",
    Document.Kind.HTML: ".html",
    Document.Kind.IMAGE: ".img",
}


@dataclass(frozen=True)
class Ingested:
    document: Document
    duplicate: bool = False


def budget(wall_s: float | None = None, *, ocr: bool = True) -> Budget:
    """The limits one extraction runs under: the job's by default; the upload
    request's quick attempt passes its own wall clock and no OCR."""
    wall_s = settings.QUORUM_EXTRACTION_TIMEOUT_S if wall_s is None else wall_s
    limits = Limits(
        pages=settings.QUORUM_EXTRACTION_MAX_PAGES,
        chars=settings.QUORUM_EXTRACTION_MAX_CHARS,
        ocr_pages=settings.QUORUM_OCR_MAX_PAGES if ocr else 0,
    )
    return Budget(
        wall_s=wall_s, cpu_s=math.ceil(wall_s) + 1, memory_mb=settings.QUORUM_EXTRACTION_MEMORY_MB, limits=limits
    )


def ingest(upload: File, user=None, *, pipeline=None, quick_s: float | None = None) -> Ingested:
    """Save an uploaded file as a Document, or return the Document that already
    holds the same bytes. Commands and imports (quick_s None) wait for the text,
    read within the job's limits. The upload page passes quick_s: a small file
    gets that long to be read at once (no OCR); a large, slow or scanned one is
    saved as "extracting" and read by a job, which then starts the pipeline's run.
    Raises ExtractionError with the reason a file is refused at once."""
    limit = settings.QUORUM_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise ExtractionError(f"too large: {_size(upload.size)}; the limit is {_size(limit)}")
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    sha256 = digest.hexdigest()
    if existing := Document.objects.filter(sha256=sha256).first():
        if existing.status == Document.Status.FAILED and _read_again(existing, pipeline, wait=quick_s is None):
            return Ingested(existing)
        return Ingested(existing, duplicate=True)

    extracted = None
    if quick_s is None:
        with _on_disk(upload) as path:
            extracted = extract_bounded(path, upload.name or "", budget())
    elif quick_s > 0 and upload.size <= settings.QUORUM_EXTRACTION_INLINE_BYTES:
        with _on_disk(upload) as path:
            try:
                extracted = extract_bounded(path, upload.name or "", budget(quick_s, ocr=False))
            except (NeedsOCR, TooSlow):
                extracted = None  # the job reads it, with OCR and its own time
    document = Document(
        original_name=display_name(upload.name or ""),
        sha256=sha256,
        size=upload.size,
        uploaded_by=user,
        status=Document.Status.EXTRACTING,
        # A ready document's run is started by the caller; one still extracting, by the job.
        requested_pipeline=pipeline if extracted is None else None,
    )
    if extracted is not None:
        _fill(document, extracted)
    try:
        with transaction.atomic():
            upload.seek(0)
            document.file.save(f"original{_suffix(document, upload)}", upload, save=False)
            document.save()
            if not document.is_ready:
                from .jobs import enqueue_extraction

                enqueue_extraction(document)
    except IntegrityError:
        # The same bytes were saved by a concurrent upload between our check and our insert.
        _discard(document)
        if existing := Document.objects.filter(sha256=sha256).first():
            return Ingested(existing, duplicate=True)
        raise
    except BaseException:
        _discard(document)
        raise
    return Ingested(document)


def _read_again(document: Document, pipeline, *, wait: bool) -> bool:
    """A file that was refused, uploaded again, is read again rather than answered
    "duplicate" of a failure for ever: the first attempt may have met a busy
    server (the wall clock, a lost worker). Costs no more than any new upload.
    Only one of two concurrent uploads wins the document (False for the other)."""
    with transaction.atomic():
        claimed = Document.objects.filter(pk=document.pk, status=Document.Status.FAILED).update(
            status=Document.Status.EXTRACTING,
            error="",
            extraction_losses=0,
            # Waiting, the caller starts the run on the text; else the extraction job does.
            requested_pipeline=None if wait else pipeline,
        )
        if not claimed:
            return False
        document.refresh_from_db()
        if not wait:
            from .jobs import enqueue_extraction

            enqueue_extraction(document)
            return True
    try:
        extracted = extract_bounded(document.file.path, document.original_name, budget())
    except ExtractionError as error:
        fail(document, error.reason)
        raise
    complete(document, extracted)
    return True


def complete(document: Document, extracted: Extracted) -> None:
    """The text is read: the document is ready, and the run asked for at upload starts."""
    from orchestrator.engine import start_run

    _fill(document, extracted)
    pipeline = document.requested_pipeline
    document.requested_pipeline = None
    document.save()
    if pipeline is not None:
        start_run(document, pipeline, document.uploaded_by)


def fail(document: Document, reason: str) -> None:
    document.status, document.error, document.requested_pipeline = Document.Status.FAILED, reason, None
    document.save(update_fields=["status", "error", "requested_pipeline"])


def _fill(document: Document, extracted: Extracted) -> None:
    document.kind = extracted.kind
    document.text = extracted.text
    document.page_count = extracted.page_count
    document.text_source = extracted.source
    document.ocr_confidence = extracted.ocr_confidence
    document.status, document.error = Document.Status.READY, ""


def _suffix(document: Document, upload: File) -> str:
    if document.kind:
        return STORED_SUFFIX[document.kind]
    # Not read yet: a guess from the first bytes, for whoever looks at the storage.
    upload.seek(0)
    head = upload.read(1024)
    upload.seek(0)
    if b"%PDF-" in head:
        return ".pdf"
    if head.startswith(b"PK"):
        return ".docx"
    if head.startswith(IMAGE_MAGIC):
        return ".img"
    return ".html" if HTML_START.match(head.lstrip()) else ".txt"


class _on_disk:
    """The upload as a file path the extraction process can open: Django's
    temporary file when it spilled to disk, else a temporary copy."""

    def __init__(self, upload: File):
        self.upload = upload
        self.copy: Path | None = None

    def __enter__(self) -> str:
        if hasattr(self.upload, "temporary_file_path"):
            return self.upload.temporary_file_path()
        handle, name = tempfile.mkstemp(prefix="quorum-upload-")
        self.copy = Path(name)
        with open(handle, "wb") as out:
            self.upload.seek(0)
            shutil.copyfileobj(self.upload, out)
        return name

    def __exit__(self, *exc) -> None:
        if self.copy is not None:
            self.copy.unlink(missing_ok=True)


def display_name(name: str) -> str:
    """The uploader's filename, fit to show and to store: no path, no control
    characters, at most 255 characters with the extension kept, in composed
    Unicode (NFC): macOS sends "ü" as "u" plus a combining mark, which a search
    for the name as typed would not find."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(char for char in PurePath(name.replace("\\", "/")).name if unicodedata.category(char)[0] != "C")
    name = name.strip() or "untitled"
    if len(name) > 255:
        suffix = PurePath(name).suffix[:20]
        name = name[: 255 - len(suffix)] + suffix
    return name


def _discard(document: Document) -> None:
    if document.file.name:
        document.file.storage.delete(document.file.name)


def _size(size: int) -> str:
    return filesizeformat(size).replace("\xa0", " ")


@dataclass
class UploadResult:
    """What happened to one uploaded file, for its row in the results table."""

    name: str
    document: Document | None = None
    duplicate: bool = False
    run: "Run | None" = None  # noqa: F821 (orchestrator imports documents: a name only)
    run_error: str = ""
    reason: str = ""

    @property
    def status(self) -> str:
        if self.document is None or (self.document.status == Document.Status.FAILED and not self.duplicate):
            return "refused"
        if self.duplicate:
            return "duplicate"
        return "extracting" if self.document.status == Document.Status.EXTRACTING else "accepted"

    @property
    def refusal(self) -> str:
        return self.reason or (self.document.error if self.document is not None else "")

    @property
    def review_items(self) -> list:
        """The run's open review items, for the row's links to the inbox."""
        if self.run is None or not self.run.is_finished:
            return []
        return list(self.run.awaited_review_items().pending().order_by("pk")[:20])


def upload_one(file: File, pipeline, user, quick_s: float | None) -> "UploadResult":
    """One uploaded file, as the upload page and the API take it: saved (or found a
    duplicate), refused with a reason, and its run started when its text is ready
    (now, or by the extraction job). Never raises: the result says what happened."""
    from orchestrator.engine import start_run  # the engine reads documents: import it late

    result = UploadResult(name=display_name(file.name or ""))
    try:
        ingested = ingest(file, user, pipeline=pipeline, quick_s=quick_s)
    except ExtractionError as error:
        result.reason = error.reason
        return result
    except DatabaseError:
        # One file's failure must not lose the report on the others in the batch.
        log.exception("saving upload %r failed", result.name)
        result.reason = "not saved: the server could not store it; please try again"
        return result
    document = result.document = ingested.document
    result.duplicate = ingested.duplicate
    if pipeline is None or document.status == Document.Status.FAILED:
        return result
    if document.status == Document.Status.EXTRACTING:
        # The extraction job starts it when the text is ready.
        if ingested.duplicate and document.requested_pipeline_id is None:
            Document.objects.filter(pk=document.pk, requested_pipeline=None).update(requested_pipeline=pipeline)
        return result
    try:
        result.run = start_run(document, pipeline, user)
    except Exception:
        # The document is saved either way; say so rather than fail the whole batch.
        log.exception("starting a %s run on document %s failed", pipeline.slug, document.pk)
        result.run_error = "saved, but the run could not be started; start it from the document page"
    return result


def upload_all(files: list[File], pipeline, user) -> list[UploadResult]:
    """The files of one upload request, as the upload page and the API take them:
    small files are read at once for QUORUM_EXTRACTION_INLINE_S each, and for
    QUORUM_UPLOAD_INLINE_BUDGET_S in all, so no request holds a web worker for
    long however many slow files it carries; the rest go to the extraction job."""
    deadline = time.monotonic() + settings.QUORUM_UPLOAD_INLINE_BUDGET_S
    results = []
    for file in files:
        quick_s = min(settings.QUORUM_EXTRACTION_INLINE_S, deadline - time.monotonic())
        results.append(upload_one(file, pipeline, user, quick_s=quick_s if quick_s >= 0.5 else 0))
    return results
