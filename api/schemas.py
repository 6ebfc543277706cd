"""What the API answers, as pydantic schemas read off the models (the OpenAPI
document is built from these). Links are absolute, built from the request."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.urls import reverse
from ninja import Field, Schema

from orchestrator.models import carried_findings


def _link(context: dict, name: str, pk: int) -> str:
    url = reverse(f"api-v1:{name}", args=[pk])
    request = (context or {}).get("request")
    return request.build_absolute_uri(url) if request is not None else url


def _wants(context: dict, what: str) -> bool:
    request = (context or {}).get("request")
    return request is not None and what in request.GET.get("include", "").split(",")


class Error(Schema):
    error: str
    fields: dict[str, list[str]] = {}


class DocumentOut(Schema):
    id: int
    name: str
    kind: str
    size: int
    page_count: int | None
    sha256: str
    doc_type: str
    text_status: str
    text_length: int
    uploaded_by: str | None
    created_at: datetime
    url: str
    text: str | None = None

    @staticmethod
    def resolve_name(document) -> str:
        return document.original_name

    @staticmethod
    def resolve_text_length(document) -> int:
        return document.text_length if hasattr(document, "text_length") else len(document.text)

    @staticmethod
    def resolve_text_status(document) -> str:
        # With extraction as a job (issue 11) a document has a status: ready, extracting or failed.
        if status := getattr(document, "status", None):
            return str(status)
        return "ready" if DocumentOut.resolve_text_length(document) else "empty"

    @staticmethod
    def resolve_uploaded_by(document) -> str | None:
        return document.uploaded_by.get_username() if document.uploaded_by_id else None

    @staticmethod
    def resolve_url(document, context) -> str:
        return _link(context, "document", document.pk)

    @staticmethod
    def resolve_text(document, context) -> str | None:
        return document.text if _wants(context, "text") else None


class RunOut(Schema):
    id: int
    status: str
    # A finished run can still say nothing about its document (five bytes, an invoice
    # through a contract review): pages and CSVs say "Not reviewed", and so must the
    # API, or a client reads "done" with no findings as a clean document.
    not_reviewed: str = Field(
        description='Why this run\'s result says nothing about the document (e.g. "5 characters of text", '
        '"this does not look like a contract"); empty when it reviewed it. When set, no findings '
        "does not mean no issues."
    )
    document_id: int
    document_name: str
    pipeline: str
    steps_planned: int
    steps_done: int
    cost: Decimal
    error: str
    batch_mode: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    url: str

    @staticmethod
    def resolve_document_name(run) -> str:
        return run.document.original_name

    @staticmethod
    def resolve_pipeline(run) -> str:
        return run.pipeline.slug

    @staticmethod
    def resolve_url(run, context) -> str:
        return _link(context, "run", run.pk)


class StepOut(Schema):
    """One agent call. Its rendered request and raw reply are large: only with ?include=requests."""

    id: int
    key: str
    slot: str
    status: str
    provider: str
    model: str
    wave: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal
    latency_ms: int | None
    attempts: int
    error: str
    validation_errors: list[Any]
    output: Any
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    request: Any = None
    raw_response: str | None = None

    @staticmethod
    def resolve_attempts(step) -> int:
        return len(step.attempts or [])

    @staticmethod
    def resolve_request(step, context) -> Any:
        return step.request if _wants(context, "requests") else None

    @staticmethod
    def resolve_raw_response(step, context) -> str | None:
        return step.raw_response if _wants(context, "requests") else None


class ReviewItemBrief(Schema):
    id: int
    status: str
    reason: str
    title: str


class RunDetail(RunOut):
    result: Any
    findings: list[Any]
    tokens: dict[str, int]
    critical_path_ms: int | None
    wall_ms: int | None
    stand_in: bool
    review_items: list[ReviewItemBrief]
    steps: list[StepOut]

    @staticmethod
    def resolve_findings(run) -> list:
        # With those a nested Debate brought (contract-supervisor's are in its fields).
        return carried_findings(run.result)

    @staticmethod
    def resolve_tokens(run) -> dict:
        names = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        return {name.removesuffix("_tokens"): getattr(run, name) for name in names}

    @staticmethod
    def resolve_stand_in(run) -> bool:
        return run.pipeline.uses_stand_in()

    @staticmethod
    def resolve_review_items(run) -> list:
        return list(run.awaited_review_items().only("id", "status", "reason", "title", "run_id").order_by("pk"))

    @staticmethod
    def resolve_steps(run, context) -> list:
        steps = run.steps.order_by("wave", "key", "id")
        # The rendered requests hold the whole document: read them only when asked for.
        return list(steps if _wants(context, "requests") else steps.defer("request", "raw_response", "inputs"))


class StartRunIn(Schema):
    document: int
    pipeline: str
    batch: bool = False


class UploadResultOut(Schema):
    name: str
    status: str  # accepted | extracting | duplicate | refused
    reason: str = ""
    document: DocumentOut | None = None
    run: RunOut | None = None
    run_error: str = ""


class UploadOut(Schema):
    results: list[UploadResultOut]


class DecisionOut(Schema):
    id: int
    choice: str
    is_issue: bool | None
    overturned: bool
    note: str
    decided_by: str | None
    value: Any
    created_at: datetime

    @staticmethod
    def resolve_decided_by(decision) -> str | None:
        return decision.decided_by.get_username() if decision.decided_by_id else None


class ReviewItemOut(Schema):
    id: int
    status: str
    reason: str
    title: str
    finding_type: str
    finding_key: str
    run_id: int
    document_id: int
    document_name: str
    pipeline: str | None
    positions: Any
    judge: Any
    claimed_by: str | None
    claim_expires_at: datetime | None
    overdue: bool
    created_at: datetime
    decision: DecisionOut | None = None
    url: str

    @staticmethod
    def resolve_document_id(item) -> int:
        return item.run.document_id

    @staticmethod
    def resolve_document_name(item) -> str:
        return item.run.document.original_name

    @staticmethod
    def resolve_pipeline(item) -> str | None:
        return item.pipeline.slug if item.pipeline_id else None

    @staticmethod
    def resolve_claimed_by(item) -> str | None:
        # A claim that ran out holds nothing, whatever the row still says.
        return item.claimed_by.get_username() if item.claimed_by_id and item.claim_is_live() else None

    @staticmethod
    def resolve_claim_expires_at(item) -> datetime | None:
        return item.claim_expires_at if item.claim_is_live() else None

    @staticmethod
    def resolve_overdue(item) -> bool:
        return not item.is_resolved and item.is_overdue()

    @staticmethod
    def resolve_decision(item):
        return item.current_decision() if item.is_resolved else None

    @staticmethod
    def resolve_url(item, context) -> str:
        return _link(context, "review_item", item.pk)


class DecideIn(Schema):
    choice: str
    note: str = ""
    # For choice "custom": the finding as the reviewer rewrites it.
    title: str = ""
    severity: str = ""
    evidence: str = ""
    explanation: str = ""


class PipelineOut(Schema):
    slug: str
    name: str
    pattern: str
    stand_in: bool
    calls_per_document: int
    cost_per_document_p50: Decimal
    cost_per_document_p90: Decimal
    latency_s: float | None
    unpriced_models: list[str]
    basis: list[str]
