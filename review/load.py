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

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import connection, transaction
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


def _policy(pipeline: Pipeline) -> dict[str, Any] | None:
    return pipeline.rubric.active.policy if pipeline.rubric_id and pipeline.rubric.active_id else None


def measure(
    pipeline: Pipeline | None = None, runs: QuerySet[Run] | None = None, policy: dict[str, Any] | None = None
) -> Load:
    """The review load of `pipeline`'s recent runs (or of `runs`), and the simulator's
    table for `policy` (default: the pipeline's active policy) at each threshold, worked
    out from the runs, their links, items and decisions. The dashboard reads the same
    figures for every pipeline at once from LoadEntry: loads()."""
    if policy is None and pipeline is not None:
        policy = _policy(pipeline)
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
    # Each clause (document, type) with what routing reads of its disputed findings (type,
    # severity, the judge's confidence): thousands of runs repeat the same few.
    clauses: dict[tuple[int | None, Any], set[tuple]] = {}
    for run in recent:
        for finding in (run.result or {}).get("findings") or []:
            if finding.get("status") == "disputed":
                key = _routed_by(finding)
                clauses.setdefault((run.document_id, key[0]), set()).add(key)
    return _load(
        documents=len(documents),
        items=len(item_ids),
        decided=[((item.judge or {}).get("is_issue"), decisions[item.pk].is_issue, 1) for item in decided],
        confirmed={(item.document_id, item.finding_type) for item in decided if decisions[item.pk].is_issue},
        clauses=clauses,
        policy=policy,
    )


def _load(
    documents: int,
    items: int,
    decided: list[tuple[Any, bool | None, int]],
    confirmed: set[tuple[int | None, str]],
    clauses: dict[tuple[int | None, Any], set[tuple]],
    policy: dict[str, Any] | None,
) -> Load:
    """The figures and the simulator's table from what the recent runs brought: how many
    documents and items; the decided items as (the judge's is_issue, the standing
    decision's, how many); the (document, type) clauses reviewers confirmed as issues;
    and each clause with its disputed findings, once per what routing reads of them."""
    judged = [(judge, decision, count) for judge, decision, count in decided if judge is not None]
    agreed = sum(count for judge, decision, count in judged if bool(decision) == bool(judge))
    judged_count = sum(count for _, _, count in judged)
    # Clauses whose findings read the same are queued alike: each reading is routed once
    # per threshold, and each set of readings decides for all its clauses at once.
    alike: dict[frozenset, int] = {}
    for keys in clauses.values():
        readings = frozenset(keys)
        alike[readings] = alike.get(readings, 0) + 1
    confirmed_readings = [frozenset(clauses[clause]) for clause in confirmed if clause in clauses]
    routed = {key for readings in alike for key in readings}
    simulation = []
    for threshold in THRESHOLDS:
        trial = {**effective(policy), "settle_confidence": threshold}
        queues = {
            key: _queued({"type": key[0], "severity": key[1], "status": "disputed", "judge": {"confidence": key[2]}},
                         trial)
            for key in routed
        }  # fmt: skip
        # A clause is queued when any of its findings would be; a confirmed clause is
        # missed when none of them would be.
        queued = {readings for readings in alike if any(queues[key] for key in readings)}
        missed = sum(1 for readings in confirmed_readings if readings not in queued)
        per_doc = round(sum(alike[readings] for readings in queued) / documents, 2) if documents else None
        simulation.append(Simulated(threshold, per_doc, missed))
    return Load(
        documents=documents,
        items=items,
        items_per_document=round(items / documents, 2) if documents else None,
        decided_with_judge=judged_count,
        agreed_with_judge=agreed,
        agreement_share=round(agreed / judged_count, 3) if judged_count else None,
        simulation=simulation,
        confirmed=len(confirmed),
    )


# What `anchors` (a query for finished runs: id, pipeline_id, document_id, created_at,
# routed_findings) bring to their (pipeline, document) pairs: what measure() reads of
# them and of the runs they started (`brought`), which `select` reads as it needs.
ENTRIES = """
WITH RECURSIVE anchors AS ({anchors}),
family AS (
    SELECT id AS anchor, id AS run_id, document_id, routed_findings FROM anchors
    UNION ALL
    -- The runs their steps started, at any depth, looked up under each run's steps
    -- (OFFSET 0 keeps PostgreSQL from hashing every step instead).
    SELECT family.anchor, child.id, child.document_id, child.routed_findings
    FROM family CROSS JOIN LATERAL (
        SELECT child.id, child.document_id, child.routed_findings
        FROM orchestrator_step step JOIN orchestrator_run child ON child.parent_step_id = step.id
        WHERE step.run_id = family.run_id OFFSET 0
    ) child
),
linked AS MATERIALIZED (
    SELECT DISTINCT family.anchor, link.item_id
    FROM family JOIN review_reviewlink link ON link.run_id = family.run_id
),
brought AS (
    SELECT id AS anchor, 'document' AS kind, NULL::bigint AS about_document, NULL::jsonb AS type,
        NULL::jsonb AS severity, NULL::jsonb AS confidence, NULL::bigint AS item_id, NULL::varchar AS finding_type,
        NULL::boolean AS decided, NULL::jsonb AS judge_is_issue, NULL::boolean AS decision_is_issue
    FROM anchors
    UNION ALL
    SELECT family.anchor, 'disputed', family.document_id, finding -> 'type', finding -> 'severity',
        finding #> '{{judge,confidence}}', NULL, NULL, NULL, NULL, NULL
    FROM family CROSS JOIN LATERAL jsonb_array_elements(family.routed_findings) AS finding
    WHERE finding ->> 'status' = 'disputed'
    UNION ALL
    -- An item is decided when resolved with a standing decision (the latest, should there
    -- be two). Looked up item by item (OFFSET 0 keeps PostgreSQL from reading every item).
    SELECT linked.anchor, 'item', item.document_id, NULL, NULL, NULL, item.id, item.finding_type,
        standing.is_decided IS NOT NULL, item.judge -> 'is_issue', standing.is_issue
    FROM linked CROSS JOIN LATERAL (
        SELECT id, document_id, finding_type, judge, status FROM review_reviewitem WHERE id = linked.item_id OFFSET 0
    ) item
    LEFT JOIN LATERAL (
        SELECT true AS is_decided, decision.is_issue FROM review_decision decision
        WHERE decision.item_id = item.id
            AND NOT EXISTS (SELECT 1 FROM review_decision later WHERE later.supersedes_id = decision.id)
        ORDER BY decision.id DESC LIMIT 1
    ) standing ON item.status = 'resolved'
)
{select}
"""
# The fold keeps each thing's date: the newest anchor that brings it.
_LATEST = """
SELECT DISTINCT ON (anchors.pipeline_id, anchors.document_id, kind, about_document, type, severity, confidence, item_id)
    anchors.pipeline_id, anchors.document_id, kind, anchors.created_at AS latest_at, anchors.id AS latest_run,
    about_document, type, severity, confidence, item_id, finding_type, decided, judge_is_issue, decision_is_issue
FROM brought JOIN anchors ON anchors.id = brought.anchor
ORDER BY anchors.pipeline_id, anchors.document_id, kind, about_document, type, severity, confidence, item_id,
    anchors.created_at DESC, anchors.id DESC
"""
# The reader only needs what the window's anchors bring, undated, and counts each thing
# once itself (a pair of thousands of runs brings the same things thousands of times).
_BROUGHT = """
SELECT anchors.pipeline_id, anchors.document_id, kind, NULL::timestamptz, NULL::bigint,
    about_document, type, severity, confidence, item_id, finding_type, decided, judge_is_issue, decision_is_issue
FROM brought JOIN anchors ON anchors.id = brought.anchor
"""
_FINISHED = "('needs_review', 'done', 'reviewed')"  # _recent()'s statuses
# The fold's anchors: every finished run of the queued pairs.
_PAIR_ANCHORS = """
    SELECT run.id, run.pipeline_id, run.document_id, run.created_at, run.routed_findings
    FROM unnest(%(pipelines)s::bigint[], %(documents)s::bigint[]) AS pair(pipeline_id, document_id)
    JOIN orchestrator_run run ON run.document_id = pair.document_id AND run.pipeline_id = pair.pipeline_id
    WHERE run.status IN {finished}
"""
# The reader's: the finished runs of the queued pairs among their pipeline's latest
# (the window), read in index order, so that a pair of thousands of runs costs no more
# than the window.
_WINDOW_ANCHORS = """
    SELECT run.id, run.pipeline_id, run.document_id, run.created_at, run.routed_findings
    FROM oldest CROSS JOIN LATERAL (
        SELECT id, pipeline_id, document_id, created_at, routed_findings FROM orchestrator_run run
        WHERE run.pipeline_id = oldest.pipeline_id AND run.status IN {finished}
            AND (oldest.id IS NULL OR run.created_at >= oldest.created_at
                 AND (run.created_at, run.id) >= (oldest.created_at, oldest.id))
    ) run
    WHERE oldest.pipeline_id IN (SELECT pipeline_id FROM stale)
        AND (run.pipeline_id, run.document_id) IN (SELECT pipeline_id, document_id FROM stale)
"""
_ENTRY_COLUMNS = (
    "pipeline_id, document_id, kind, latest_at, latest_run, about_document, type, severity, confidence, item_id, "
    "finding_type, decided, judge_is_issue, decision_is_issue"
)
# Every pipeline's figures in one statement: the folded entries of each pipeline's
# window (dated at or after the oldest of its latest RECENT_RUNS finished runs) but
# for the pairs still queued, which are worked out here from the runs (ENTRIES);
# then counted, a row per figure.
_READ = """
WITH stale AS (
    SELECT DISTINCT pipeline_id, document_id FROM review_loadchange WHERE pipeline_id = ANY(%(pipelines)s)
), oldest AS (
    SELECT pipeline.id AS pipeline_id, run.created_at, run.id
    FROM unnest(%(pipelines)s::bigint[]) AS pipeline(id)
    LEFT JOIN LATERAL (
        SELECT created_at, id FROM orchestrator_run WHERE pipeline_id = pipeline.id AND status IN {finished}
        ORDER BY created_at DESC, id DESC OFFSET %(recent)s - 1 LIMIT 1
    ) run ON true
), fresh AS (
    {fresh}
), windowed AS (
    SELECT {entry_columns} FROM review_loadentry entry JOIN oldest ON oldest.pipeline_id = entry.pipeline_id
    WHERE (oldest.id IS NULL OR (entry.latest_at, entry.latest_run) >= (oldest.created_at, oldest.id))
        AND (entry.pipeline_id, entry.document_id) NOT IN (SELECT pipeline_id, document_id FROM stale)
    UNION ALL
    SELECT * FROM fresh  -- in the window by construction
), items AS (
    SELECT DISTINCT ON (pipeline_id, item_id) * FROM windowed WHERE kind = 'item' ORDER BY pipeline_id, item_id
)
SELECT pipeline_id, 'documents', count(DISTINCT document_id), NULL::bigint, NULL::jsonb, NULL::jsonb, NULL::jsonb
FROM windowed WHERE kind = 'document' GROUP BY pipeline_id
UNION ALL
SELECT pipeline_id, 'items', count(*), NULL, NULL, NULL, NULL FROM items GROUP BY pipeline_id
UNION ALL
SELECT pipeline_id, 'decided', count(*), NULL, judge_is_issue, to_jsonb(decision_is_issue), NULL
FROM items WHERE decided GROUP BY pipeline_id, judge_is_issue, decision_is_issue
UNION ALL
SELECT DISTINCT pipeline_id, 'confirmed', 1, about_document, to_jsonb(finding_type), NULL::jsonb, NULL::jsonb
FROM items WHERE decided AND decision_is_issue
UNION ALL
SELECT pipeline_id, 'clause', 1, about_document, type, jsonb_agg(jsonb_build_array(severity, confidence)), NULL
FROM windowed WHERE kind = 'disputed' GROUP BY pipeline_id, about_document, type  -- hashed, not sorted
"""

# Fold: the queue taken (the DELETE's snapshot), its pairs' entries replaced by what a
# later snapshot works out, under a lock that keeps two folds from writing the same pairs.
_TAKE = """
WITH taken AS (DELETE FROM review_loadchange RETURNING pipeline_id, document_id)
SELECT DISTINCT pipeline_id, document_id FROM taken
"""
_REPLACE = """
DELETE FROM review_loadentry entry
USING unnest(%(pipelines)s::bigint[], %(documents)s::bigint[]) AS pair(pipeline_id, document_id)
WHERE entry.pipeline_id = pair.pipeline_id AND entry.document_id = pair.document_id
"""
_INSERT = "INSERT INTO review_loadentry ({columns}) SELECT * FROM ({entries}) entries"
_LOCK = 7_301_403  # pg_advisory_xact_lock key of the fold


def fold() -> int:
    """Work out again the entries of the (pipeline, document) pairs the triggers queued,
    replacing theirs; the number of pairs worked out. The reaper does this every tick;
    changes queued meanwhile wait for the next fold."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        cursor.execute(_TAKE)
        pairs = cursor.fetchall()
        if not pairs:
            return 0
        params = {"pipelines": [pair[0] for pair in pairs], "documents": [pair[1] for pair in pairs]}
        cursor.execute(_REPLACE, params)
        entries = ENTRIES.format(anchors=_PAIR_ANCHORS.format(finished=_FINISHED), select=_LATEST)
        cursor.execute(_INSERT.format(columns=_ENTRY_COLUMNS, entries=entries), params)
        return len(pairs)


def loads(pipelines: list[Pipeline]) -> dict[int, Load]:
    """measure() for each of `pipelines` (their active policies), by pipeline id, in one
    query for them all: from the folded LoadEntry rows, and the queued pairs worked out
    on the spot, so the figures are the same as measure()'s whether folded or not."""
    found: dict[int, dict[str, Any]] = {
        pipeline.pk: {"documents": 0, "items": 0, "decided": [], "confirmed": set(), "clauses": {}}
        for pipeline in pipelines
    }
    sql = _READ.format(
        fresh=ENTRIES.format(anchors=_WINDOW_ANCHORS.format(finished=_FINISHED), select=_BROUGHT),
        finished=_FINISHED,
        entry_columns=", ".join(f"entry.{column}" for column in _ENTRY_COLUMNS.split(", ")),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"pipelines": list(found), "recent": RECENT_RUNS})
        rows = cursor.fetchall()
    decoded: dict[str, Any] = {}  # the same few JSON values come back thousands of times

    def decode(value: str | None) -> Any:
        if value is None:
            return None
        if value not in decoded:
            decoded[value] = json.loads(value)
        return decoded[value]

    for pipeline_id, figure, count, document_id, *values in rows:
        first, second, third = (decode(value) for value in values)
        figures = found[pipeline_id]
        if figure in ("documents", "items"):
            figures[figure] = count
        elif figure == "decided":
            figures["decided"].append((first, second, count))
        elif figure == "confirmed":
            figures["confirmed"].add((document_id, first))
        else:  # a clause (document, type), with the (severity, confidence) of its disputed findings
            readings = figures["clauses"].setdefault((document_id, first), set())
            readings.update((first, severity, confidence) for severity, confidence in second)
    return {pipeline.pk: _load(**found[pipeline.pk], policy=_policy(pipeline)) for pipeline in pipelines}


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
