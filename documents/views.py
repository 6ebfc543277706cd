import logging

from django.conf import settings
from django.db.models import Count, F, Prefetch, Q
from django.db.models.functions import Length, Substr
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django_tables2 import RequestConfig

from config.roles import ANALYST, role_required
from insights.estimate import estimate_context
from insights.forms import EstimateForm
from orchestrator.forms import StartRunForm
from orchestrator.models import Run

from .forms import DEFAULT_PIPELINE, UploadForm
from .ingest import UploadResult, upload_all
from .models import Document
from .tables import DocumentTable
from .uploads import refused_while_streaming

log = logging.getLogger(__name__)

# The detail page shows this much of the text; runs always read all of it.
TEXT_SHOWN = 200_000


def _get_document_for_user(request: HttpRequest, document_id: int, queryset=None) -> Document:
    # Every analyst sees every document: Quorum has one team per deployment.
    return get_object_or_404(queryset if queryset is not None else Document.objects.all(), pk=document_id)


@never_cache  # pages that change: Back must ask again, never show a stale state
@role_required(ANALYST)
def document_list(request: HttpRequest) -> HttpResponse:
    latest = (
        Run.objects.top_level()
        .select_related("pipeline")
        .order_by("document_id", "-created_at", "-id")
        .distinct("document_id")
    )
    # What needs someone first: runs waiting for a reviewer, failed, or that could not review their document.
    top = Q(runs__parent_step__isnull=True)
    documents = (
        Document.objects.defer("text")
        .select_related("uploaded_by")
        .prefetch_related(Prefetch("runs", queryset=latest, to_attr="latest_runs"))
        .annotate(
            to_review=Count("runs", filter=top & Q(runs__status=Run.Status.NEEDS_REVIEW)),
            failed=Count("runs", filter=top & Q(runs__status=Run.Status.FAILED)),
            not_reviewed=Count("runs", filter=top & ~Q(runs__not_reviewed="")),
        )
        .annotate(attention=F("to_review") + F("failed") + F("not_reviewed"))
    )
    table = DocumentTable(documents)
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    rows = table.page.object_list if table.page else []
    # Poll only while a run or a document's text on this page can still change.
    live = any(
        (row.record.latest_runs and not row.record.latest_runs[0].is_finished)
        or row.record.status == Document.Status.EXTRACTING
        for row in rows
    )
    context = {"table": table, "live": live}
    if request.htmx:
        return render(request, "documents/list.html#documents-table", context)
    return render(request, "documents/list.html", context)


@never_cache  # pages that change: Back must ask again, never show a stale state
@role_required(ANALYST)
def upload(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and request.htmx and request.GET.get("document", "").isdigit():
        # A row of the results table asking whether its document has been read yet.
        document = _get_document_for_user(request, int(request.GET["document"]))
        result = UploadResult(name=document.original_name, document=document, run=document.latest_run())
        return render(request, "documents/upload.html#upload-result", {"result": result})
    if request.method == "GET" and request.htmx and request.GET.get("run", "").isdigit():
        # An upload row following its run until it ends (upload.html polls while it runs).
        run = get_object_or_404(Run.objects.select_related("document"), pk=request.GET.get("run", ""))
        result = UploadResult(
            name=request.GET.get("name", "")[:255] or run.document.original_name,
            document=run.document,
            duplicate=request.GET.get("duplicate") == "1",
            run=run,
        )
        return render(request, "documents/upload.html#upload-result", {"result": result})
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    # Files cut off while the body streamed in: too large, or too many.
    results, too_many = refused_while_streaming(request)
    cut_off = bool(results)
    if request.method == "POST" and not too_many and form.is_valid():
        results += upload_all(form.cleaned_data["files"], form.cleaned_data["pipeline"], request.user)
    # 413 when the only answer is that the upload was too large.
    status = 413 if cut_off and all(result.document is None for result in results) else 200
    if request.method == "POST" and (request.htmx or request.headers.get("X-Requested-With") == "XMLHttpRequest"):
        # upload.js sends one file per request and puts the returned row in its table.
        result = results[0] if results else UploadResult(name="(no file)", reason=_form_errors(form))
        return render(request, "documents/upload.html#upload-result", {"result": result}, status=status)
    context = {"form": form, "results": results, "max_bytes": settings.QUORUM_MAX_UPLOAD_BYTES}
    context["max_files"] = settings.QUORUM_MAX_FILES_PER_UPLOAD
    # What a run of the chosen pipeline should cost, before it starts; the select refreshes it with htmx.
    context |= estimate_context(EstimateForm({"pipeline": form["pipeline"].value() or ""}))
    return render(request, "documents/upload.html", context, status=status)


def _form_errors(form: UploadForm) -> str:
    return " ".join(error for errors in form.errors.values() for error in errors) or "nothing was uploaded"


@never_cache  # pages that change: Back must ask again, never show a stale state
@role_required(ANALYST)
def detail(request: HttpRequest, document_id: int) -> HttpResponse:
    # A document's text can run to megabytes: load only what the page shows.
    documents = (
        Document.objects.defer("text")
        .select_related("uploaded_by")
        .annotate(text_length=Length("text"), text_shown=Substr("text", 1, TEXT_SHOWN))
    )
    document = _get_document_for_user(request, document_id, documents)
    context = {
        "document": document,
        "runs": document.runs.top_level().select_related("pipeline"),
        "start_form": StartRunForm(initial={"pipeline": DEFAULT_PIPELINE}),
        "text_cut": document.text_length > TEXT_SHOWN,
    }
    if request.htmx:
        # The page polls while the text is being read; this answer stops it once it is.
        return render(request, "documents/detail.html#document-live", context)
    return render(request, "documents/detail.html", context)


@role_required(ANALYST)
def download(request: HttpRequest, document_id: int) -> FileResponse:
    document = _get_document_for_user(request, document_id)
    try:
        original = document.file.open("rb")
    except FileNotFoundError:
        raise Http404("The original file of this document is missing from storage.") from None
    # Always an attachment of an opaque type: an uploaded HTML or PDF must never
    # render in the browser under Quorum's origin.
    response = FileResponse(
        original, as_attachment=True, filename=document.original_name, content_type="application/octet-stream"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
