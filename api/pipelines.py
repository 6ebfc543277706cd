"""/api/v1/pipelines: the active pipelines with the cost estimator's figures per document."""

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from config.roles import ANALYST
from insights.estimate import estimate_pipelines
from insights.forms import EstimateForm

from .auth import ApiError, access
from .models import Scope
from .runs import form_errors
from .schemas import Error, PipelineOut

router = Router(tags=["pipelines"])


# The schema states the estimator form's limits, so a client knows them before it asks.
_PAGES, _TOKENS = EstimateForm.base_fields["pages"], EstimateForm.base_fields["tokens"]


class Size(Schema):
    pages: int | None = Field(
        None, ge=_PAGES.min_value, le=_PAGES.max_value, description="Estimate for a document of this many pages"
    )
    tokens: int | None = Field(
        None,
        ge=_TOKENS.min_value,
        le=_TOKENS.max_value,
        description="... or of this many tokens (default: a typical upload)",
    )


@router.get("", response={200: list[PipelineOut], 422: Error}, auth=access(ANALYST, Scope.READ), url_name="pipelines")
def list_pipelines(request: HttpRequest, size: Query[Size]):
    """Active pipelines with calls, cost (median and p90) and latency per document,
    as the cost estimator computes them."""
    form = EstimateForm({name: value for name, value in size.dict().items() if value is not None})
    if not form.is_valid():
        raise ApiError(422, "Invalid size.", form_errors(form))
    estimates = estimate_pipelines(form.chosen_pipelines(), form.chosen_size(), form.chosen_volume())
    return [
        {
            "slug": estimate.pipeline.slug,
            "name": estimate.pipeline.name,
            "pattern": estimate.pipeline.pattern,
            "stand_in": estimate.stand_in,
            "calls_per_document": estimate.calls,
            "cost_per_document_p50": estimate.cost_p50,
            "cost_per_document_p90": estimate.cost_p90,
            "latency_s": estimate.latency_s,
            "unpriced_models": estimate.unpriced,
            "basis": estimate.basis,
        }
        for estimate in estimates
    ]
