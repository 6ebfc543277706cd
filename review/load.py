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
from typing import Any, NamedTuple

from django.db.models import Q, QuerySet

from orchestrator.models import Pipeline, Run

from .models import Decision, ReviewItem, ReviewLink
from .policy import effective, rule_for

THRESHOLDS = [round(0.5 + 0.05 * step, 2) for step in range(10)]  # 0.5 .. 0.95
# The latest runs the figures are computed over (a page must stay quick).
RECENT_RUNS = 2000
# The findings the figures read: the simulator the disputed ones, items per document both kinds.
DISPUTED = ("disputed",)
COUNTED = ("agreed", "disputed")


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


class Recent(NamedTuple):
    """A run as the figures read it: its document and the findings they count,
    nothing else (not the rest of its result, nor the findings they skip)."""

    pk: int
    document_id: int
    result: dict


def _rows(runs: QuerySet[Run], statuses: tuple[str, ...]) -> list[Recent]:
    """The runs' findings with one of `statuses`, from Run.routed_findings (what
    routing reads of each agreed or disputed finding, kept by PostgreSQL): thousands
    of runs' whole results are not sent and decoded for the few keys read here."""
    rows = runs.values_list("id", "document_id", "routed_findings")
    return [
        Recent(pk, document_id, {"findings": [f for f in findings or [] if f.get("status") in statuses]})
        for pk, document_id, findings in rows
    ]


def _recent(pipeline: Pipeline | None, runs: QuerySet[Run] | None) -> QuerySet[Run]:
    if runs is None:
        runs = Run.objects.all()
        if pipeline is not None:
            runs = runs.filter(pipeline=pipeline)
    finished = runs.filter(status__in=[Run.Status.NEEDS_REVIEW, Run.Status.DONE, Run.Status.REVIEWED])
    return finished.order_by("-created_at", "-id")[:RECENT_RUNS]


def _family(top: QuerySet[Run], statuses: tuple[str, ...]) -> tuple[list[Recent], list[QuerySet[Run]]]:
    """The runs `top`'s slots started, at any depth (a Debate nested in a Supervisor
    files its review items on its own run), and a subquery of ids per generation,
    `top` first. Subqueries, not lists of ids: a list of 2,000 ids costs more to
    send and plan than the query itself (bench.runpages)."""
    generations, nested = [top.values("id")], []
    while True:
        # Only a step that holds a pipeline has a child run: parent_step is set on few runs.
        children = Run.objects.filter(parent_step__isnull=False, parent_step__run__in=generations[-1])
        found = _rows(children, statuses)
        if not found:
            return nested, generations
        nested += found
        generations.append(children.values("id"))


def _routed_by(finding: dict[str, Any]) -> tuple[str | None, str | None, float | None]:
    """What policy.rule_for reads of a disputed finding."""
    return finding.get("type"), finding.get("severity"), (finding.get("judge") or {}).get("confidence")


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
    recent_runs = _recent(pipeline, runs)
    top = _rows(recent_runs, DISPUTED)  # the simulator reads the disputed findings only
    documents = {run.document_id for run in top}
    nested, generations = _family(recent_runs, DISPUTED)
    recent = top + nested
    in_family = Q()
    for generation in generations:
        in_family |= Q(run__in=generation)
    links = ReviewLink.objects.filter(in_family)
    item_ids = set(links.values_list("item_id", flat=True))
    # Resolved items and their standing decisions, those whose judge gave a verdict counted
    # (subqueries, not lists of ids; not asked at all when nothing was filed).
    resolved_items = ReviewItem.objects.filter(pk__in=links.values("item_id"), status=ReviewItem.Status.RESOLVED)
    resolved = list(resolved_items.only("id", "judge", "document_id", "finding_type")) if item_ids else []
    standing = Decision.objects.filter(item__in=resolved_items.values("id"), superseded_by__isnull=True)
    decisions = {
        decision.item_id: decision
        for decision in (standing.order_by("id").only("id", "item_id", "is_issue") if resolved else [])
    }
    decided = [item for item in resolved if item.pk in decisions]
    judged = [item for item in decided if (item.judge or {}).get("is_issue") is not None]
    agreed = sum(bool(decisions[item.pk].is_issue) == bool(item.judge["is_issue"]) for item in judged)
    confirmed_types = {(item.document_id, item.finding_type) for item in decided if decisions[item.pk].is_issue}
    # Each document's disputed findings once per what routing reads of them (type,
    # severity, the judge's confidence): thousands of runs repeat the same few, and
    # every one is routed again at each of the ten thresholds.
    disputed = {
        (run.document_id, _routed_by(finding))
        for run in recent
        for finding in (run.result or {}).get("findings") or []
        if finding.get("status") == "disputed"
    }
    simulation = []
    for threshold in THRESHOLDS:
        trial = {**effective(policy), "settle_confidence": threshold}
        kept_out, queued = set(), set()
        for document_id, (kind, severity, confidence) in disputed:
            finding = {"type": kind, "severity": severity, "status": "disputed", "judge": {"confidence": confidence}}
            (queued if _queued(finding, trial) else kept_out).add((document_id, kind))
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
    recent_runs = _recent(pipeline, None)
    top = _rows(recent_runs, COUNTED)
    if not top:
        return None
    per_doc = items_per_document(top + _family(recent_runs, COUNTED)[0], policy)
    # Per document the pipeline read (nested runs read the same documents).
    return per_doc
