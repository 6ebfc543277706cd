"""/api/v1/documents: upload (idempotent with an Idempotency-Key header), read, list.
Upload calls documents.ingest.upload_all, the upload page's own function."""

import hashlib

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Length
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Field, File, Form, Header, Query, Router, Schema, UploadedFile
from ninja.pagination import paginate

from config.roles import ANALYST
from documents.ingest import UploadResult, upload_all
from documents.models import Document
from documents.uploads import refused_while_streaming
from orchestrator.models import Pipeline

from .auth import ApiError, access
from .forms import DocumentFilterForm
from .models import IdempotencyKey, Scope
from .pagination import Newest
from .runs import form_errors
from .schemas import DocumentOut, Error, UploadOut

router = Router(tags=["documents"])


def _documents() -> QuerySet[Document]:
    return Document.objects.defer("text").select_related("uploaded_by").annotate(text_length=Length("text"))


@router.post(
    "", response={201: UploadOut, 413: Error, 422: Error}, auth=access(ANALYST, Scope.WRITE), url_name="documents"
)
def upload(
    request: HttpRequest,
    files: File[list[UploadedFile]] = None,
    pipeline: Form[str] = "",
    idempotency_key: str = Header("", alias="Idempotency-Key"),
):
    """Upload one or more files (multipart field `files`), and with `pipeline` (a
    slug) start a run on each. Send an `Idempotency-Key` header to make a retry
    safe: the same key answers what its first request got, with no second
    document or run. A file over the size limit is answered "refused" with the
    limit; more files than the limit refuse the whole request (413)."""
    # Files cut off while the body streamed in never reach `files`: say so, file by file.
    refused, too_many = refused_while_streaming(request)
    if too_many:
        raise ApiError(413, refused[-1].reason, {"files": [refused[-1].reason]})
    files = files or []
    if not files and not refused:
        raise ApiError(422, "The request is not valid: see fields.", {"files": ["Send one or more files."]})
    chosen = _active_pipeline(pipeline)
    if not idempotency_key:
        return 201, _upload(request, refused, files, chosen)
    if len(idempotency_key) > 200:
        raise ApiError(422, "The Idempotency-Key is too long.", {"Idempotency-Key": ["At most 200 characters."]})
    fingerprint = _fingerprint(files, chosen)
    with transaction.atomic():
        # A concurrent retry blocks on this row's unique index until we commit,
        # then reads what we stored.
        key, created = IdempotencyKey.objects.get_or_create(
            user=request.user, key=idempotency_key, defaults={"fingerprint": fingerprint}
        )
        if not created:
            if key.fingerprint != fingerprint:
                raise ApiError(
                    422,
                    "This Idempotency-Key was used for a different request.",
                    {"Idempotency-Key": ["Already used with other files or another pipeline."]},
                )
            replay = JsonResponse(key.response, status=key.status_code)
            replay["Idempotent-Replayed"] = "true"
            return replay
        answer = UploadOut.model_validate(_upload(request, refused, files, chosen), context={"request": request})
        key.status_code, key.response = 201, answer.model_dump(mode="json")
        key.save(update_fields=["status_code", "response"])
    # The very bytes a retry will get.
    return JsonResponse(key.response, status=key.status_code)


def _active_pipeline(slug: str) -> Pipeline | None:
    if not slug:
        return None
    pipeline = Pipeline.objects.filter(is_active=True, slug=slug).first()
    if pipeline is None:
        raise ApiError(422, f"No active pipeline {slug!r}.", {"pipeline": ["Not the slug of an active pipeline."]})
    return pipeline


def _fingerprint(files: list[UploadedFile], pipeline: Pipeline | None) -> str:
    fingerprint = hashlib.sha256((pipeline.slug if pipeline else "").encode())
    for file in files:
        digest = hashlib.sha256()
        for chunk in file.chunks():
            digest.update(chunk)
        file.seek(0)
        fingerprint.update(digest.digest())
    return fingerprint.hexdigest()


def _upload(
    request: HttpRequest, refused: list[UploadResult], files: list[UploadedFile], pipeline: Pipeline | None
) -> dict:
    # The upload page's own function, answered as JSON: small files are read at once
    # (for a few seconds in all), large, slow or scanned ones are "extracting" and
    # their run starts when the text is ready.
    results = refused + upload_all(files, pipeline, request.user)
    return {"results": [_answer(result) for result in results]}


def _answer(result: UploadResult) -> dict:
    return {
        "name": result.name,
        "status": result.status,
        "reason": result.refusal,
        "document": result.document,
        "run": result.run,
        "run_error": result.run_error,
    }


@router.get(
    "/{int:document_id}", response={200: DocumentOut, 404: Error}, auth=access(ANALYST, Scope.READ), url_name="document"
)
def get_document(request: HttpRequest, document_id: int, include: str = ""):
    """A document and the status of its text; `?include=text` adds the text itself."""
    documents = _documents() if "text" not in include.split(",") else Document.objects.select_related("uploaded_by")
    return get_object_or_404(documents, pk=document_id)


class DocumentFilters(Schema):
    q: str = Field("", description="Part of the file name")
    kind: str = Field("", description="pdf, docx, text or html")
    doc_type: str = Field("", description="What a pipeline classified it as: contract, invoice, ...")
    uploaded_by: str = Field("", description="A username")


@router.get(
    "", response={200: list[DocumentOut], 422: Error}, auth=access(ANALYST, Scope.READ), url_name="document_list"
)
@paginate(Newest)
def list_documents(request: HttpRequest, filters: Query[DocumentFilters]):
    """Documents, newest first, a page at a time: follow `next` for the next page."""
    form = DocumentFilterForm(filters.dict())
    if not form.is_valid():
        raise ApiError(422, "Unknown filter values.", form_errors(form))
    return form.filter(_documents())
