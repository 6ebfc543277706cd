"""Review load: how many items a document costs reviewers, how often they agreed with
the judge, and what another routing threshold would have cost or missed.

The simulator replays the routing policy over what runs recorded: every disputed
finding keeps the judge's confidence and the severity it was routed by, whether
queued or not, so the items per document at any threshold can be counted from the
runs' results; confirmed issues (a reviewer's standing decision said "an issue") that
a threshold would have kept out of the inbox are what it would have missed. Findings
the live policy did not queue were never decided, so "missed" counts only what a
human saw: a lower bound, said so where it is shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from orchestrator.models import Pipeline, Run

from .models import Decision, ReviewItem, ReviewLink
from .policy import effective, rule_for

THRESHOLDS = [round(0.5 + 0.05 * step, 2) for step in range(10)]  # 0.5 .. 0.95
# The latest runs the figures are computed over (a page must stay quick).
RECENT_RUNS = 2000


@dataclass(frozen=True)
class Simulated:
    threshold: float
    items_per_document: float | None
    missed: int


@dataclass(frozen=True)
class Load:
    documents: int
    items: int
    items_per_document: float | None
    decided_with_judge: int
    agreed_with_judge: int
    agreement_share: float | None
    simulation: list[Simulated]
    confirmed: int


def _runs(pipeline: Pipeline | None, runs: QuerySet[Run] | None) -> list[Run]:
    if runs is None:
        runs = Run.objects.all()
        if pipeline is not None:
            runs = runs.filter(pipeline=pipeline)
    finished = runs.filter(status__in=[Run.Status.NEEDS_REVIEW, Run.Status.DONE, Run.Status.REVIEWED])
    return list(finished.order_by("-created_at", "-id").only("id", "document_id", "result")[:RECENT_RUNS])


def with_nested(runs: list[Run]) -> list[Run]:
    """`runs` and the runs their slots started, at any depth (a Debate nested in a
    Supervisor files its review items on its own run)."""
    family, frontier = list(runs), [run.pk for run in runs]
    while frontier:
        children = list(
            Run.objects.filter(parent_step__run_id__in=frontier).only("id", "document_id", "result", "parent_step")
        )
        family += children
        frontier = [run.pk for run in children]
    return family


def _queued(finding: dict[str, Any], policy: dict[str, Any]) -> bool:
    """Whether `policy` would queue the finding (audit samples aside)."""
    return rule_for(finding, policy)[1]


def items_per_document(runs: list[Run], policy: dict[str, Any] | None) -> float | None:
    """Review items per document `policy` would have opened on `runs`' findings: one per
    finding type per document, audit samples aside."""
    documents = {run.document_id for run in runs}
    if not documents:
        return None
    policy = effective(policy)
    items = {
        (run.document_id, finding.get("type"))
        for run in runs
        for finding in (run.result or {}).get("findings") or []
        if finding.get("status") in ("agreed", "disputed") and _queued(finding, policy)
    }
    return round(len(items) / len(documents), 2)


def measure(
    pipeline: Pipeline | None = None, runs: QuerySet[Run] | None = None, policy: dict[str, Any] | None = None
) -> Load:
    """The review load of `pipeline`'s recent runs (or of `runs`), and the simulator's
    table for `policy` (default: the pipeline's active policy) at each threshold."""
    if policy is None and pipeline is not None and pipeline.rubric_id and pipeline.rubric.active_id:
        policy = pipeline.rubric.active.policy
    top = _runs(pipeline, runs)
    documents = {run.document_id for run in top}
    recent = with_nested(top)
    links = ReviewLink.objects.filter(run_id__in=[run.pk for run in recent])
    item_ids = set(links.values_list("item_id", flat=True))
    items = ReviewItem.objects.filter(pk__in=item_ids)
    # Standing decisions on resolved items whose judge gave a verdict.
    decisions = {
        decision.item_id: decision
        for decision in Decision.objects.filter(
            item__in=items.filter(status=ReviewItem.Status.RESOLVED), superseded_by__isnull=True
        ).order_by("id")
    }
    judged = [item for item in items.filter(pk__in=decisions) if (item.judge or {}).get("is_issue") is not None]
    agreed = sum(bool(decisions[item.pk].is_issue) == bool(item.judge["is_issue"]) for item in judged)
    confirmed_types = {
        (item.document_id, item.finding_type) for item in items.filter(pk__in=decisions) if decisions[item.pk].is_issue
    }
    simulation = []
    for threshold in THRESHOLDS:
        trial = {**effective(policy), "settle_confidence": threshold}
        kept_out = {
            (run.document_id, finding.get("type"))
            for run in recent
            for finding in (run.result or {}).get("findings") or []
            if finding.get("status") == "disputed" and not _queued(finding, trial)
        }
        queued = {
            (run.document_id, finding.get("type"))
            for run in recent
            for finding in (run.result or {}).get("findings") or []
            if finding.get("status") == "disputed" and _queued(finding, trial)
        }
        # A clause is missed when no finding of its type in the document would be queued.
        missed = len((confirmed_types & kept_out) - queued)
        per_doc = round(len(queued) / len(documents), 2) if documents else None
        simulation.append(Simulated(threshold, per_doc, missed))
    return Load(
        documents=len(documents),
        items=len(item_ids),
        items_per_document=round(len(item_ids) / len(documents), 2) if documents else None,
        decided_with_judge=len(judged),
        agreed_with_judge=agreed,
        agreement_share=round(agreed / len(judged), 3) if judged else None,
        simulation=simulation,
        confirmed=len(confirmed_types),
    )


def expected_items_per_document(pipeline: Pipeline) -> float | None:
    """What the pipeline's active policy would queue per document on its recent runs."""
    policy = pipeline.rubric.active.policy if pipeline.rubric_id and pipeline.rubric.active_id else {}
    top = _runs(pipeline, None)
    if not top:
        return None
    per_doc = items_per_document(with_nested(top), policy)
    # Per document the pipeline read (nested runs read the same documents).
    return per_doc
