"""Streamed, spreadsheet-safe CSV exports of runs, findings and steps.

Each export is a header and a generator of rows over a queryset read in
chunks, so a 100k-row export uses flat memory. Cells that a spreadsheet would
run as a formula are neutralised."""

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import batched

from django.contrib.postgres.fields import ArrayField
from django.db.models import Func, QuerySet, TextField
from django.http import StreamingHttpResponse

from orchestrator.models import Run, Step, brought_findings
from orchestrator.patterns.debate import count_findings

# The signs spreadsheets read as a formula, with their full-width and small forms
# (Excel and LibreOffice normalise those), and the control characters that OWASP lists.
FORMULA_STARTS = (
    "=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe62", "\ufe63", "\ufe66",
)  # fmt: skip
# Rows read per round trip. Runs carry their whole result JSON, so fewer of them
# at a time keeps memory flat; steps are plain tuples.
RUN_CHUNK = 1000
STEP_CHUNK = 2000
# Rows joined into one piece of the response: one write per few hundred rows, not
# one per row, is most of the export's speed.
ROWS_PER_PIECE = 500


_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
# Every sign above is one character: a cell is a formula when its first character,
# or its first after leading spaces, is one of them.
_FORMULA_FIRST = frozenset(FORMULA_STARTS)


def safe_cell(value) -> str:
    """One line per cell, times in ISO 8601 with their zone, and no formulas:
    evidence quoted from PDFs carries raw line breaks that split rows in many
    spreadsheets, and cells that start with = + - @ would run as formulas.

    Called for every cell of a 100k-row export, so the common cases are cheap:
    the line-break pattern runs only on text that has a line break, and the
    formula test reads the first character (and strips only text that starts
    with a space)."""
    if type(value) is str:
        text = value
    elif value is None:
        return ""
    elif isinstance(value, datetime):
        return value.isoformat()
    else:
        text = str(value)
    if "\n" in text or "\r" in text:
        text = _LINE_BREAKS.sub(" ", text)
    first = text[:1]
    if first in _FORMULA_FIRST or (first.isspace() and text.lstrip()[:1] in _FORMULA_FIRST):
        return "'" + text
    return text


def stream_csv(filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def lines() -> Iterator[str]:
        writer.writerow(header)
        pending = 0
        for row in rows:
            writer.writerow(map(safe_cell, row))
            pending += 1
            if pending == ROWS_PER_PIECE:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                pending = 0
        yield buffer.getvalue()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


RUN_HEADER = [
    "run", "document", "pipeline", "pattern", "status", "findings", "issues", "agreed", "disputed",
    "decisions", "input_tokens", "output_tokens", "cost_usd", "wall_time_s", "created_at", "not_reviewed",
]  # fmt: skip


class _FindingCells(Func):
    """The runs CSV's findings and decisions cells, joined in PostgreSQL from the
    result's findings, so the export neither sends nor parses each run's findings
    (evidence, explanations, the judge's notes) only to keep four keys of each.

    An array [findings, decisions] when every finding has the shape the engine
    writes (an object with a string title, a boolean is_issue, and a decision,
    if any, with a string key, choice and by); otherwise [NULL, NULL, the
    findings as JSON], which run_rows joins in Python (finding_cells). Either
    way the cells are the same."""

    template = """(
SELECT CASE
    WHEN coalesce(jsonb_typeof(r.x), 'null') IN ('null', 'array') AND coalesce(bool_and(coalesce(
        jsonb_typeof(f) = 'object' AND jsonb_typeof(f -> 'title') = 'string'
        AND jsonb_typeof(f -> 'is_issue') = 'boolean'
        AND (coalesce(jsonb_typeof(f -> 'review'), 'null') = 'null'
            OR (jsonb_typeof(f -> 'review') = 'object'
                AND (coalesce(jsonb_typeof(f #> '{review,decision}'), 'null') = 'null'
                    OR (jsonb_typeof(f #> '{review,decision,choice}') = 'string'
                        AND jsonb_typeof(f #> '{review,decision,by}') = 'string'
                        AND jsonb_typeof(f -> 'key') = 'string')))),
    false)) FILTER (WHERE n IS NOT NULL), true)
    THEN ARRAY[
        coalesce(string_agg(
            (f ->> 'title') || CASE WHEN f -> 'is_issue' = 'true' THEN ' [issue]' ELSE ' [not an issue]' END,
            '; ' ORDER BY n), ''),
        coalesce(string_agg(
            (f ->> 'key') || ': ' || (f #>> '{review,decision,choice}') || ' by ' || (f #>> '{review,decision,by}'),
            '; ' ORDER BY n) FILTER (WHERE jsonb_typeof(f #> '{review,decision}') = 'object'), '')]
    ELSE ARRAY[NULL, NULL, r.x::text]
END
FROM (SELECT %(expressions)s -> 'findings' AS x) AS r
    LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(r.x) = 'array' THEN r.x END)
        WITH ORDINALITY AS e(f, n) ON true
GROUP BY r.x)"""
    output_field = ArrayField(TextField())


RUN_FIELDS = [
    "id", "document__original_name", "pipeline__slug", "pipeline__pattern", "status", "finding_cells",
    "result__counts", "input_tokens", "output_tokens", "cost", "started_at", "finished_at", "created_at",
    "not_reviewed",
]  # fmt: skip


# Patterns whose result can carry findings a nested Debate brought into its fields or record.
COMPOSING = ("supervisor", "chain")


def run_rows(runs: QuerySet[Run]) -> Iterator[list]:
    """One row per run: plain tuples with only the result's counts read and its
    findings and decisions cells joined by the database (no model instances, no
    whole result), which is what makes 100k rows quick. A Supervisor's or Chain's
    row also counts what its nested Debates brought (_brought)."""
    runs = runs.annotate(finding_cells=_FindingCells("result"))
    rows = runs.order_by("-created_at", "-id").values_list(*RUN_FIELDS)
    for chunk in batched(rows.iterator(chunk_size=RUN_CHUNK), RUN_CHUNK):
        brought = _brought([row[0] for row in chunk if row[3] in COMPOSING])
        for row in chunk:
            yield _run_row(row, brought.get(row[0], []))


def _brought(pks: list[int]) -> dict[int, list[dict]]:
    """The findings nested runs brought into each of these runs' results, by run,
    read in one query for a chunk of rows (only Supervisors' and Chains')."""
    if not pks:
        return {}
    # Only the parts of each result nested runs bring findings into, not the whole result.
    parts = Run.objects.filter(pk__in=pks).values_list("pk", "result__fields", "result__record")
    return {
        pk: found for pk, fields, record in parts if (found := brought_findings({"fields": fields, "record": record}))
    }


def _run_row(row: tuple, brought: list[dict]) -> list:
    (
        pk,
        document,
        slug,
        pattern,
        status,
        (findings, decisions, *unusual),
        counts,
        tokens_in,
        tokens_out,
        cost,
        started,
        finished,
        at,
        not_reviewed,
    ) = row
    if unusual:  # findings of a shape the database does not join: joined here
        findings, decisions = finding_cells(json.loads(unusual[0]))
    counts = counts or {}
    if brought:  # "0 issues" on a Supervisor whose nested Debate found three would be untrue
        nested_findings_cell, nested_decisions_cell = finding_cells(brought)
        findings = "; ".join(cell for cell in (findings, nested_findings_cell) if cell)
        decisions = "; ".join(cell for cell in (decisions, nested_decisions_cell) if cell)
        nested_counts = count_findings(brought)
        counts = {name: (counts.get(name) or 0) + nested_counts[name] for name in nested_counts}
    return [
        pk,
        document,
        slug,
        pattern,
        "not_reviewed" if not_reviewed and status in Run.FINISHED_OK else status,
        findings,
        counts.get("issues", ""),
        counts.get("agreed", ""),
        counts.get("disputed", ""),
        decisions,
        tokens_in,
        tokens_out,
        f"{cost:.6f}",
        f"{int((finished - started).total_seconds() * 1000) / 1000:.2f}" if started and finished else "",
        at.isoformat(),
        not_reviewed,
    ]


def finding_cells(findings: list | None) -> tuple[str, str]:
    """A run's findings and decisions cells, as _FindingCells joins them in the database."""
    findings = findings or []
    decisions = [
        f"{f['key']}: {decision['choice']} by {decision['by']}" for f in findings if (decision := _decision(f))
    ]
    return (
        "; ".join(f"{f['title']} [{'issue' if f['is_issue'] else 'not an issue'}]" for f in findings),
        "; ".join(decisions),
    )


FINDING_HEADER = [
    "run", "document", "pipeline", "finding", "type", "title", "severity", "evidence", "flagged_by",
    "agreement", "judge_call", "judge_confidence", "final", "review_reason", "decision", "decided_by",
    "decided_at", "note", "routing_rule", "routing",
]  # fmt: skip


def finding_rows(runs: QuerySet[Run]) -> Iterator[list]:
    """One row per finding: who flagged it, the judge's call, and the human's."""
    flagged = {("a", "b"): "both", ("a",): "A", ("b",): "B"}
    rows = runs.order_by("-created_at", "-id").values_list(
        "id", "document__original_name", "pipeline__slug", "result__findings", "result__fields", "result__record"
    )
    for pk, document, slug, findings, fields, record in rows.iterator(chunk_size=RUN_CHUNK):
        for finding in [*(findings or []), *brought_findings({"fields": fields, "record": record})]:
            judge = finding.get("judge") or {}
            review = finding.get("review") or {}
            decision = _decision(finding) or {}
            yield [
                pk,
                document,
                slug,
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
