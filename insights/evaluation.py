"""Evaluation: run pipelines over a labelled set of documents and score their
results against the expected answers (precision and recall per finding type,
field accuracy, cost, latency), so two pipelines can be compared on the same work."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from statistics import mean
from typing import Any

from django.core.files import File
from django.db import transaction
from django.utils.text import slugify

from documents.ingest import ingest
from documents.models import Document
from orchestrator import engine
from orchestrator.models import Pipeline, Run, brought_findings, carried_findings

from .models import Evaluation, EvaluationRun, LabelledDocument, LabelledSet


def start_evaluation(labelled_set: LabelledSet, pipeline: Pipeline, user=None, group: str = "") -> Evaluation:
    """Start one run of `pipeline` per labelled document. Evaluations started
    together pass the same `group`, which the report compares side by side."""
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            labelled_set=labelled_set, pipeline=pipeline, created_by=user, group=group or uuid.uuid4().hex
        )
        for labelled in labelled_set.documents.select_related("document"):
            run = engine.start_run(labelled.document, pipeline, user)
            EvaluationRun.objects.create(evaluation=evaluation, labelled_document=labelled, run=run)
    return evaluation


def start_evaluations(labelled_set: LabelledSet, pipelines: Iterable[Pipeline], user=None) -> list[Evaluation]:
    group = uuid.uuid4().hex
    return [start_evaluation(labelled_set, pipeline, user, group) for pipeline in pipelines]


def complete_if_finished(evaluation: Evaluation) -> bool:
    """Score and store the figures once every run has finished. Called whenever an
    evaluation is looked at, rather than from the engine: scoring is cheap, and it
    keeps the engine unaware of evaluations."""
    if evaluation.status == Evaluation.Status.COMPLETE:
        return True
    statuses = Run.objects.filter(pk__in=evaluation.runs.values("run")).values_list("status", flat=True)
    if any(status not in Run.FINISHED for status in statuses):
        return False
    evaluation.figures = score(evaluation)
    evaluation.status = Evaluation.Status.COMPLETE
    evaluation.save(update_fields=["figures", "status"])
    return True


def score(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation's figures. A document "matches" when its run reported exactly
    the expected issue types and every expected field; a failed run reported nothing."""
    rows = list(evaluation.runs.select_related("run", "labelled_document"))
    counts: dict[str, dict[str, int]] = {}  # per finding type: tp, fp, fn
    fields: dict[str, dict[str, int]] = {}  # per field: right, total
    matches, agreed, disputed = 0, 0, 0
    for row in rows:
        result, expected = row.run.result or {}, row.labelled_document.expected or {}
        matched = True
        if "findings" in expected:
            want, got = expected_types(expected), predicted_types(result)
            matched &= want == got
            for kind in want | got:
                entry = counts.setdefault(kind, {"tp": 0, "fp": 0, "fn": 0})
                entry["tp" if kind in want and kind in got else "fp" if kind in got else "fn"] += 1
        got_fields = result.get("fields") if isinstance(result.get("fields"), dict) else {}
        for name, value in (expected.get("fields") or {}).items():
            entry = fields.setdefault(name, {"right": 0, "total": 0})
            entry["total"] += 1
            right = same_value(value, got_fields.get(name))
            entry["right"] += right
            matched &= right
        matches += matched
        if isinstance(result.get("counts"), dict):
            agreed += result["counts"].get("agreed", 0)
            disputed += result["counts"].get("disputed", 0)
        # The result's counts are its own findings'; a nested Debate's come with its findings.
        brought = brought_findings(result)
        agreed += sum(finding.get("status") == "agreed" for finding in brought)
        disputed += sum(finding.get("status") == "disputed" for finding in brought)

    types = {kind: _rates(**entry) for kind, entry in sorted(counts.items())}
    overall = _rates(
        tp=sum(entry["tp"] for entry in counts.values()),
        fp=sum(entry["fp"] for entry in counts.values()),
        fn=sum(entry["fn"] for entry in counts.values()),
    )
    walls = [row.run.wall_ms for row in rows if row.run.wall_ms is not None]
    return {
        "docs": len(rows),
        "failed": sum(row.run.status == Run.Status.FAILED for row in rows),
        "accuracy": _ratio(matches, len(rows)),
        **overall,
        "types": types,
        "fields": {name: _ratio(entry["right"], entry["total"]) for name, entry in sorted(fields.items())},
        "cost_per_doc": float(round(sum(row.run.cost for row in rows) / len(rows), 6)) if rows else None,
        "latency_ms_per_doc": round(mean(walls)) if walls else None,
        # Of the findings both advocates looked at, how many they disagreed on.
        "disagreement_rate": _ratio(disputed, agreed + disputed),
        **_review_load(rows),
    }


def _review_load(rows: list) -> dict[str, Any]:
    """Review items per document (nested runs' items counted), and how often the
    reviewers who decided them agreed with the judge."""
    from review import load

    if not rows:
        return {"review_items_per_doc": None, "reviewer_agreed_with_judge": None}
    measured = load.measure(runs=Run.objects.filter(pk__in=[row.run_id for row in rows]))
    return {
        "review_items_per_doc": measured.items_per_document,
        "reviewer_agreed_with_judge": measured.agreement_share,
        "policy_simulation": [
            {"threshold": row.threshold, "items_per_doc": row.items_per_document, "missed": row.missed}
            for row in measured.simulation
        ],
    }


def expected_types(expected: dict) -> set[str]:
    return {finding["type"] for finding in expected.get("findings") or [] if finding.get("is_issue", True)}


def predicted_types(result: dict) -> set[str]:
    # A Debate nested in a Supervisor or Chain brings its findings in the fields or
    # record: counting only the result's own would score contract-supervisor at 0 recall.
    return {finding["type"] for finding in carried_findings(result) if finding.get("is_issue") and "type" in finding}


def same_value(expected: Any, got: Any) -> bool:
    """Exact match, except that numbers compare as numbers ("4904.94" == 4904.94)
    and text ignores case and surrounding space: labels are typed by hand."""
    if got is None:
        return expected is None
    try:
        return Decimal(str(expected)) == Decimal(str(got))
    except (InvalidOperation, ValueError):
        pass
    if isinstance(expected, str) and isinstance(got, str):
        return expected.strip().casefold() == got.strip().casefold()
    return expected == got


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _rates(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = round(2 * precision * recall / (precision + recall), 4) if precision and recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def import_set(name: str, rows: Iterable[dict[str, Any]], user=None, description: str = "") -> LabelledSet:
    """A labelled set from CSV or JSON rows: each names a document, by `document_id`
    or by a file `path` (ingested like an upload), and its `expected` answer (a JSON
    object, or its text as a CSV cell holds it)."""
    with transaction.atomic():
        labelled_set = _new_set(name, description)
        for number, row in enumerate(rows, start=1):
            expected, document = _read_row(number, row, user)
            LabelledDocument.objects.update_or_create(
                labelled_set=labelled_set, document=document, defaults={"expected": expected}
            )
    return labelled_set


def _read_row(number: int, row: dict[str, Any], user) -> tuple[Any, Document]:
    """A row's expected answer and document. A bad row is a ValueError that names it
    and what is wrong ("row 3: there is no document 99"): "Document matching query
    does not exist" alone leaves someone searching a 200-row file."""
    if "expected" not in row:
        raise ValueError(f"row {number}: no expected answer")
    expected = row["expected"]
    if isinstance(expected, str):
        try:
            expected = json.loads(expected)
        except json.JSONDecodeError as error:
            raise ValueError(f"row {number}: the expected answer is not JSON ({error})") from error
    if row.get("document_id"):
        try:
            return expected, Document.objects.get(pk=int(row["document_id"]))
        except (ValueError, TypeError):
            raise ValueError(f"row {number}: document_id {row['document_id']!r} is not a number") from None
        except Document.DoesNotExist:
            raise ValueError(f"row {number}: there is no document {row['document_id']}") from None
    if not row.get("path"):
        raise ValueError(f"row {number}: neither a document_id nor a path")
    path = Path(row["path"])
    with path.open("rb") as handle:
        return expected, ingest(File(handle, name=path.name), user).document


def set_from_decisions(name: str, runs: Iterable[Run], description: str = "") -> LabelledSet:
    """A labelled set whose expected answers are what reviewers settled: a reviewed
    run's final findings (is_issue after review) and fields."""
    with transaction.atomic():
        labelled_set = _new_set(name, description)
        for run in runs:
            result = run.result or {}
            expected: dict[str, Any] = {}
            if "findings" in result:
                expected["findings"] = [{"type": kind, "is_issue": True} for kind in sorted(predicted_types(result))]
            if isinstance(result.get("fields"), dict):
                expected["fields"] = result["fields"]
            LabelledDocument.objects.update_or_create(
                labelled_set=labelled_set, document_id=run.document_id, defaults={"expected": expected}
            )
    return labelled_set


def _new_set(name: str, description: str) -> LabelledSet:
    base = slugify(name) or "set"
    slug, number = base, 1
    while LabelledSet.objects.filter(slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    return LabelledSet.objects.create(name=name, slug=slug, description=description)


def side_by_side(evaluations: Iterable[Evaluation]) -> list[dict[str, Any]]:
    """One row per evaluation for the comparison table (the command and the report)."""
    rows = []
    for evaluation in evaluations:
        complete_if_finished(evaluation)
        rows.append({"evaluation": evaluation, "pipeline": evaluation.pipeline, **evaluation.figures})
    return rows


def previous(evaluation: Evaluation) -> Evaluation | None:
    """The last complete evaluation of the same set and pipeline before this one."""
    return (
        Evaluation.objects.filter(
            labelled_set=evaluation.labelled_set,
            pipeline=evaluation.pipeline,
            status=Evaluation.Status.COMPLETE,
            created_at__lt=evaluation.created_at,
        )
        .exclude(pk=evaluation.pk)
        .first()
    )
