"""Turning one uploaded file into a Document, all or nothing: the size limit,
duplicate detection by SHA-256, text extraction, then the file and its row
saved together (a failure removes the file again)."""

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat

from .extraction import ExtractionError, extract
from .models import Document

# The stored file's extension follows what the bytes are, not what the name claimed.
STORED_SUFFIX = {
    Document.Kind.PDF: ".pdf",
    Document.Kind.DOCX: ".docx",
    Document.Kind.TEXT: ".txt",
    Document.Kind.HTML: ".html",
}


@dataclass(frozen=True)
class Ingested:
    document: Document
    duplicate: bool = False


def ingest(upload: File, user=None) -> Ingested:
    """Save an uploaded file as a Document, or return the Document that already
    holds the same bytes. Raises ExtractionError with the reason a file is refused."""
    limit = settings.QUORUM_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise ExtractionError(f"too large: {_size(upload.size)}; the limit is {_size(limit)}")
    data = b"".join(upload.chunks())
    digest = hashlib.sha256(data).hexdigest()
    if existing := Document.objects.filter(sha256=digest).first():
        return Ingested(existing, duplicate=True)

    extracted = extract(data, upload.name or "")
    document = Document(
        original_name=display_name(upload.name or ""),
        sha256=digest,
        kind=extracted.kind,
        size=len(data),
        page_count=extracted.page_count,
        text=extracted.text,
        uploaded_by=user,
    )
    try:
        with transaction.atomic():
            document.file.save(f"original{STORED_SUFFIX[extracted.kind]}", ContentFile(data), save=False)
            document.save()
    except IntegrityError:
        # The same bytes were saved by a concurrent upload between our check and our insert.
        _discard(document)
        if existing := Document.objects.filter(sha256=digest).first():
            return Ingested(existing, duplicate=True)
        raise
    except BaseException:
        _discard(document)
        raise
    return Ingested(document)


def display_name(name: str) -> str:
    """The uploader's filename, fit to show and to store: no path, no control
    characters, at most 255 characters with the extension kept."""
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
