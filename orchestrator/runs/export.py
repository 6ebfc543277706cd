"""Streamed, spreadsheet-safe CSV exports of runs, findings and steps.

Each export is a header and a generator of rows over a queryset read in
chunks, so a 100k-row export uses flat memory. Cells that a spreadsheet would
run as a formula are neutralised."""

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from orchestrator.models import Run, Step

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows read per round trip. Runs carry their whole result JSON, so fewer of them
# at a time keeps memory flat; steps are plain tuples.
RUN_CHUNK = 200
STEP_CHUNK = 2000


def safe_cell(value) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: prefix a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def stream_csv(filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([safe_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _for_export(runs: QuerySet[Run]) -> QuerySet[Run]:
    # Never the document's text: it can be megabytes a row.
    return runs.select_related("document", "pipeline").only(
        "id", "status", "result", "input_tokens", "output_tokens", "cost", "started_at", "finished_at", "created_at",
        "document__original_name", "pipeline__slug", "pipeline__pattern",
    ).order_by("-created_at", "-id")  # fmt: skip


RUN_HEADER = [
    "run", "document", "pipeline", "pattern", "status", "findings", "issues", "agreed", "disputed",
    "decisions", "input_tokens", "output_tokens", "cost_usd", "wall_time_s", "created_at",
]  # fmt: skip


def run_rows(runs: QuerySet[Run]) -> Iterator[list]:
    for run in _for_export(runs).iterator(chunk_size=RUN_CHUNK):
        findings = (run.result or {}).get("findings", [])
        counts = (run.result or {}).get("counts", {})
        decisions = [
            f"{f['key']}: {decision['choice']} by {decision['by']}" for f in findings if (decision := _decision(f))
        ]
        yield [
            run.pk,
            run.document.original_name,
            run.pipeline.slug,
            run.pipeline.pattern,
            run.status,
            "; ".join(f"{f['title']} [{'issue' if f['is_issue'] else 'not an issue'}]" for f in findings),
            counts.get("issues", ""),
            counts.get("agreed", ""),
            counts.get("disputed", ""),
            "; ".join(decisions),
            run.input_tokens,
            run.output_tokens,
            f"{run.cost:.6f}",
            f"{run.wall_ms / 1000:.2f}" if run.wall_ms is not None else "",
            run.created_at.isoformat(),
        ]


FINDING_HEADER = [
    "run", "document", "pipeline", "finding", "type", "title", "severity", "evidence", "flagged_by",
    "agreement", "judge_call", "judge_confidence", "final", "review_reason", "decision", "decided_by",
    "decided_at", "note", "routing_rule", "routing",
]  # fmt: skip


def finding_rows(runs: QuerySet[Run]) -> Iterator[list]:
    """One row per finding: who flagged it, the judge's call, and the human's."""
    flagged = {("a", "b"): "both", ("a",): "A", ("b",): "B"}
    for run in _for_export(runs).iterator(chunk_size=RUN_CHUNK):
        for finding in (run.result or {}).get("findings", []):
            judge = finding.get("judge") or {}
            review = finding.get("review") or {}
            decision = _decision(finding) or {}
            yield [
                run.pk,
                run.document.original_name,
                run.pipeline.slug,
                finding.get("key", ""),
                finding.get("type", ""),
                finding.get("title", ""),
                finding.get("severity", ""),
                finding.get("evidence", ""),
                flagged.get(tuple(finding.get("flagged_by", [])), ""),
                finding.get("status", ""),
                ("issue" if judge["is_issue"] else "not an issue") if judge else "",
                judge.get("confidence", ""),
                "issue" if finding.get("is_issue") else "not an issue",
                review.get("reason", ""),
                decision.get("choice", ""),
                decision.get("by", ""),
                decision.get("at", ""),
                decision.get("note", ""),
                (finding.get("routing") or {}).get("rule", ""),
                (finding.get("routing") or {}).get("why", ""),
            ]


def _decision(finding: dict) -> dict | None:
    return (finding.get("review") or {}).get("decision")


STEP_FIELDS = [
    "run_id", "run__document__original_name", "run__pipeline__slug", "key", "agent__slug", "provider", "model",
    "status", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "latency_ms",
    "queued_at", "started_at", "finished_at", "error",
]  # fmt: skip
STEP_HEADER = [
    "run", "document", "pipeline", "step", "agent", "provider", "model", "status", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "cost_usd", "latency_ms", "queued_at", "started_at", "finished_at",
    "error",
]  # fmt: skip


def step_rows(runs: QuerySet[Run]) -> Iterator[tuple]:
    """One row per step, for cost analysis: plain tuples, no model instances."""
    steps = Step.objects.filter(run__in=runs.values("pk")).order_by("run_id", "wave", "key")
    yield from steps.values_list(*STEP_FIELDS).iterator(chunk_size=STEP_CHUNK)
