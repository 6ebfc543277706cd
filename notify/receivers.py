"""What happens when a run ends or review work arrives: webhooks to the endpoints
that asked, and e-mails to reviewers who want them at once. All of it after the
transaction commits, and none of it may raise into the engine or a decision."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from orchestrator.models import Run, budget_reached, run_failed, run_finished
from review.models import Decision, ReviewItem, review_decided, review_opened

from . import webhooks
from .digest import enqueue_immediate

log = logging.getLogger(__name__)


def _later(work: Callable[[], object]) -> None:
    # robust: an exception is logged, never raised into the committing code.
    transaction.on_commit(work, robust=True)


def _absolute(path: str) -> str:
    return settings.QUORUM_BASE_URL.rstrip("/") + path


def run_data(run: Run) -> dict:
    return {
        "run": {
            "id": run.pk,
            "status": run.status,
            "not_reviewed": run.not_reviewed,  # as in the API: set, "no findings" means nothing
            "pipeline": run.pipeline.slug,
            "document": {"id": run.document_id, "name": run.document.original_name},
            "cost": str(run.cost),
            "error": run.error,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "url": _absolute(f"/api/v1/runs/{run.pk}"),
            "page": _absolute(run.get_absolute_url()),
        }
    }


def item_data(item: ReviewItem, decision: Decision | None = None) -> dict:
    data = {
        "review_item": {
            "id": item.pk,
            "run_id": item.run_id,
            "reason": item.reason,
            "status": item.status,
            "title": item.title,
            "finding_type": item.finding_type,
            "url": _absolute(f"/api/v1/review-items/{item.pk}"),
            "page": _absolute(item.get_absolute_url()),
        }
    }
    if decision is not None:
        data["decision"] = {
            "id": decision.pk,
            "choice": decision.choice,
            "is_issue": decision.is_issue,
            "overturned": decision.overturned,
            "note": decision.note,
            "decided_by": decision.decided_by.get_username() if decision.decided_by_id else None,
            "value": decision.value,
        }
    return data


def _guarded(handler):
    def wrapped(*args, **kwargs):
        try:
            handler(*args, **kwargs)
        except Exception:
            log.exception("notify: %s failed; the run or decision goes on", handler.__name__)

    wrapped.__name__ = handler.__name__
    return wrapped


def _run(run_id: int) -> Run:
    # Read after the commit, without the document's text (it can run to megabytes).
    return Run.objects.select_related("pipeline", "document").defer("document__text").get(pk=run_id)


def _items(ids: list[int]):
    return ReviewItem.objects.filter(pk__in=ids).order_by("id")


@receiver(run_finished, dispatch_uid="notify.run_finished")
@_guarded
def on_run_finished(sender, run: Run, **kwargs) -> None:
    if run.parent_step_id is None:  # a nested run is part of its parent's result
        _later(lambda: webhooks.send_event("run.finished", lambda: run_data(_run(run.pk))))


@receiver(run_failed, dispatch_uid="notify.run_failed")
@_guarded
def on_run_failed(sender, run: Run, **kwargs) -> None:
    if run.parent_step_id is None:
        _later(lambda: webhooks.send_event("run.failed", lambda: run_data(_run(run.pk))))


@receiver(budget_reached, dispatch_uid="notify.budget_reached")
@_guarded
def on_budget_reached(sender, run: Run, kind: str, **kwargs) -> None:
    def send() -> None:
        reached = _run(run.pk)
        cap = reached.pipeline.budget_per_run if kind == "per_run" else reached.pipeline.monthly_budget
        webhooks.send_event("budget.reached", run_data(reached) | {"budget": {"kind": kind, "cap": str(cap)}})

    _later(send)


@receiver(review_opened, dispatch_uid="notify.review_opened")
@_guarded
def on_review_opened(sender, run: Run, items: list[ReviewItem], **kwargs) -> None:
    ids = [item.pk for item in items]

    def send() -> None:
        for item in _items(ids):
            webhooks.send_event("review.opened", item_data(item))
        enqueue_immediate(ids)

    _later(send)


@receiver(review_decided, dispatch_uid="notify.review_decided")
@_guarded
def on_review_decided(sender, item: ReviewItem, decision: Decision, **kwargs) -> None:
    def send() -> None:
        decided = Decision.objects.select_related("decided_by").get(pk=decision.pk)
        webhooks.send_event("review.decided", item_data(_items([item.pk]).get(), decided))

    _later(send)
