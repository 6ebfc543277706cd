"""/api/v1/runs: start a run on a document, read one (steps without their raw
requests unless ?include=requests), list with the runs page's filters, cancel."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from config.roles import ANALYST
from documents.models import Document
from orchestrator.engine import start_run
from orchestrator.forms import RunFilterForm, StartRunForm
from orchestrator.models import Run

from .auth import ApiError, access
from .models import Scope
from .pagination import Newest
from .schemas import Error, RunDetail, RunOut, StartRunIn

router = Router(tags=["runs"])


def form_errors(form) -> dict[str, list[str]]:
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


def _runs():
    # A run started inside another (a slot holding a pipeline) is part of its parent, as on the runs page.
    return Run.objects.top_level().select_related("document", "pipeline").defer("document__text")


@router.post("", response={201: RunDetail, 400: Error, 422: Error}, auth=access(ANALYST, Scope.WRITE), url_name="runs")
def start(request: HttpRequest, payload: StartRunIn):
    """Start a run of an active pipeline (its slug) on a document."""
    form = StartRunForm({"pipeline": payload.pipeline})
    document = Document.objects.filter(pk=payload.document).defer("text").first()
    fields = form_errors(form) if not form.is_valid() else {}
    if document is None:
        fields["document"] = [f"No document {payload.document}."]
    if fields:
        raise ApiError(422, "The run could not be started.", fields)
    run = start_run(document, form.cleaned_data["pipeline"], request.user, batch_mode=payload.batch)
    return 201, _runs().get(pk=run.pk)


@router.get("/{int:run_id}", response={200: RunDetail, 404: Error}, auth=access(ANALYST, Scope.READ), url_name="run")
def get_run(request: HttpRequest, run_id: int, include: str = ""):
    """Status, result, findings, cost and steps; `?include=requests` adds each
    step's rendered request and raw reply."""
    return get_object_or_404(_runs(), pk=run_id)


class RunFilters(Schema):
    status: str = Field(
        "",
        description="queued, running, needs_review, done, reviewed, failed, cancelled, ..., or not_reviewed: "
        "finished runs whose not_reviewed is set (left out of done, needs_review and reviewed, as on the runs page)",
    )
    pipeline: str = Field("", description="A pipeline's slug")
    q: str = Field("", description="Part of the document's name")
    document: int | None = Field(None, description="A document's id: the runs on it")


@router.get("", response={200: list[RunOut], 422: Error}, auth=access(ANALYST, Scope.READ), url_name="run_list")
@paginate(Newest)
def list_runs(request: HttpRequest, filters: Query[RunFilters]):
    """Runs, newest first, with the runs page's filters; follow `next` for more."""
    form = RunFilterForm({name: value for name, value in filters.dict().items() if value and name != "document"})
    if not form.is_valid():
        raise ApiError(422, "Unknown filter values.", form_errors(form))
    runs = _runs() if filters.document is None else _runs().filter(document_id=filters.document)
    # A list shows no results: leave the findings JSON in the database.
    return form.filter(runs.defer("result"))


@router.post(
    "/{int:run_id}/cancel",
    response={200: RunOut, 404: Error, 409: Error},
    auth=access(ANALYST, Scope.WRITE),
    url_name="run_cancel",
)
def cancel(request: HttpRequest, run_id: int):
    """Cancel a run no work has started on: queued, or held for its pipeline's monthly budget."""
    run = get_object_or_404(_runs(), pk=run_id)
    if not run.cancel():
        raise ApiError(409, f"Run {run.pk} is {run.status}: only a queued or held run can be cancelled.")
    return run
