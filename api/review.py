"""/api/v1/review-items: the open items with the inbox's filters; claim and
decide (reviewers, with a token's review scope), by the same rules as the item
page: one decision per item, a note when overturning the judge."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from config.roles import ANALYST, REVIEWER
from review.forms import DecisionForm, InboxFilterForm
from review.models import AlreadyDecided, ClaimedByOther, ReviewItem

from .auth import ApiError, access
from .models import Scope
from .pagination import Oldest
from .runs import form_errors
from .schemas import DecideIn, DecisionOut, Error, ReviewItemOut

router = Router(tags=["review"])


def _items():
    return ReviewItem.objects.select_related("run__document", "pipeline", "claimed_by").defer("run__document__text")


def _get_item(item_id: int) -> ReviewItem:
    return get_object_or_404(_items(), pk=item_id)


class InboxFilters(Schema):
    reason: str = Field("", description="disagreement, audit_sample, partial_result, validation_failure")
    pipeline: str = Field("", description="A pipeline's slug")
    doc_type: str = Field("", description="contract, invoice, ...")
    age: str = Field("", description="new (under an hour), waiting (within the SLA), overdue")
    claimed: str = Field("", description="available (mine or unclaimed), me, unclaimed")


@router.get(
    "", response={200: list[ReviewItemOut], 422: Error}, auth=access(ANALYST, Scope.READ), url_name="review_items"
)
@paginate(Oldest)
def list_items(request: HttpRequest, filters: Query[InboxFilters]):
    """Open and claimed items, oldest first, with the inbox's filters."""
    form = InboxFilterForm({name: value for name, value in filters.dict().items() if value})
    if not form.is_valid():
        raise ApiError(422, "Unknown filter values.", form_errors(form))
    return form.by_reason(form.narrow(_items().pending(), request.user, timezone.now()))


@router.get(
    "/{int:item_id}",
    response={200: ReviewItemOut, 404: Error},
    auth=access(ANALYST, Scope.READ),
    url_name="review_item",
)
def get_item(request: HttpRequest, item_id: int):
    return _get_item(item_id)


@router.post(
    "/{int:item_id}/claim",
    response={200: ReviewItemOut, 404: Error, 409: Error},
    auth=access(REVIEWER, Scope.REVIEW),
    url_name="review_claim",
)
def claim(request: HttpRequest, item_id: int):
    """Hold the item for QUORUM_REVIEW_CLAIM_MINUTES; claiming it again renews the claim."""
    item = _get_item(item_id)
    if item.is_resolved:
        raise ApiError(409, "This item has already been decided.")
    if not item.claim(request.user):
        raise ApiError(409, f"Claimed by {item.claimed_by} until {item.claim_expires_at:%Y-%m-%d %H:%M} UTC.")
    return item


@router.post(
    "/{int:item_id}/decide",
    response={201: DecisionOut, 400: Error, 404: Error, 409: Error, 422: Error},
    auth=access(REVIEWER, Scope.REVIEW),
    url_name="review_decide",
)
def decide(request: HttpRequest, item_id: int, payload: DecideIn):
    """Decide the item: accept_a / accept_b (or confirm, without advocates), custom
    (with title, severity, evidence quoted from the document, explanation) or
    not_issue. A note is required when the decision goes against the judge."""
    item = _get_item(item_id)
    form = DecisionForm(payload.dict(), item=item, document_text=item.run.document.text)
    if not form.is_valid():
        raise ApiError(422, "The decision was not recorded.", form_errors(form))
    try:
        decision = item.decide(
            request.user, form.cleaned_data["choice"], form.cleaned_data["note"].strip(), value=form.value()
        )
    except AlreadyDecided as refused:
        theirs = refused.decision
        raise ApiError(
            409, f"Already decided by {theirs.decided_by} at {theirs.created_at:%Y-%m-%d %H:%M} UTC: {theirs.choice}."
        ) from None
    except ClaimedByOther as refused:
        holder = refused.item
        raise ApiError(
            409, f"Claimed by {holder.claimed_by} until {holder.claim_expires_at:%Y-%m-%d %H:%M} UTC."
        ) from None
    return 201, decision
