"""Replay: from any step of a run, start a new run of the same document and
pipeline that reuses the steps before it and runs the rest again with the prompt
versions (and slot agents) active now; then compare the two results.

The original run is never touched: the new run links to it (Run.replay_of), and
its reused steps link to the steps they copy (Step.copied_from).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from orchestrator import engine
from orchestrator.models import Run, Step

# Copied as they are: the reused step's whole trace.
_COPIED = [
    "key", "slot", "agent_id", "parent_key", "wave", "status", "inputs", "request", "raw_response", "output",
    "validation_errors", "attempts", "error", "provider", "model", "prompt_version_id", "rubric_version_id",
    "prompt_kind", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost",
    "latency_ms", "queued_at", "started_at", "finished_at",
]  # fmt: skip
# Left out of the comparison: bookkeeping that differs between two runs of the same
# work, and detail that repeats what is compared (a finding's two positions and the
# judge's reasoning, how a value was read, the shadow stages' own comparisons).
_NOT_COMPARED = {
    "stand_in", "trail", "item_id", "decision", "classification", "shadows", "notes", "evidence", "a", "b", "judge",
    "explanation",
}  # fmt: skip


def replay_from(step: Step, user=None) -> Run:
    """Start the replay. "Before" is by wave: the steps scheduled earlier than
    `step` are the ones whose outputs `step` could have depended on."""
    original = step.run
    with transaction.atomic():
        # A replay spends like any run: held while its pipeline's monthly budget is
        # spent (keeprunsmoving starts it later), its new steps under the per-run cap.
        held = original.pipeline.is_over_monthly_budget()
        run = Run.objects.create(
            document=original.document,
            pipeline=original.pipeline,
            created_by=user,
            replay_of=original,
            replay_from=step.key,
            status=Run.Status.HELD if held else Run.Status.QUEUED,
            # Asked again, as start_run asks: a replay of a run on five bytes (or on an
            # invoice through a contract review) must not read "Done · no issues".
            not_reviewed=original.pipeline.why_not_reviewable(
                original.document.text or "", ocr_confidence=original.document.ocr_confidence
            ),
        )
        reused = original.steps.filter(wave__lt=step.wave, status=Step.Status.SUCCEEDED)
        Step.objects.bulk_create(
            [Step(run=run, copied_from=old, **{name: getattr(old, name) for name in _COPIED}) for old in reused]
        )
        if not held:
            engine.advance(run.pk)
    run.refresh_from_db()
    return run


def diff_results(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What changed between two results, one row per changed leaf:
    {"path": "fields/total", "before": 4.90494, "after": 4904.94}. List items that
    carry a key or name (findings, fields) are matched by it, not by position."""
    old, new = _flatten(before or {}), _flatten(after or {})
    rows = []
    for path in [*old, *(path for path in new if path not in old)]:
        one, other = old.get(path, _ABSENT), new.get(path, _ABSENT)
        # Absent, null, "" and an empty list or object all say "nothing": never "different".
        if one != other and not (_is_empty(one) and _is_empty(other)):
            rows.append({"path": path, "before": old.get(path), "after": new.get(path)})
    return rows


_ABSENT = object()


def _is_empty(value: Any) -> bool:
    return value is _ABSENT or value is None or value == "" or value == [] or value == {}


def compare_results(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Two results as a reviewer reads them: findings added, removed, or with a
    changed verdict or evidence (matched by key), and fields side by side; the
    raw leaf-by-leaf diff stays for those who want it."""
    before, after = before or {}, after or {}
    old = {finding.get("key"): finding for finding in before.get("findings") or []}
    new = {finding.get("key"): finding for finding in after.get("findings") or []}
    changed, same = [], 0
    for key in [key for key in old if key in new]:
        changes = _finding_changes(old[key], new[key])
        if changes:
            changed.append({"key": key, "title": new[key].get("title") or old[key].get("title"), "changes": changes})
        else:
            same += 1
    fields_a, fields_b = before.get("fields"), after.get("fields")
    fields = []
    if isinstance(fields_a, dict) or isinstance(fields_b, dict):
        fields_a, fields_b = fields_a or {}, fields_b or {}
        for name in sorted({*fields_a, *fields_b}):
            one, other = fields_a.get(name), fields_b.get(name)
            differs = one != other and not (_is_empty(one) and _is_empty(other))
            fields.append({"name": name, "a": one, "b": other, "differs": differs})
    return {
        "has_findings": "findings" in before or "findings" in after,
        "added": [new[key] for key in new if key not in old],
        "removed": [old[key] for key in old if key not in new],
        "changed": changed,
        "same": same,
        "fields": fields,
        "fields_differ": sum(row["differs"] for row in fields),
        "raw": diff_results(before, after),
    }


def _verdict(finding: dict[str, Any]) -> str:
    return "issue" if finding.get("is_issue") else "not an issue"


def _finding_changes(one: dict[str, Any], other: dict[str, Any]) -> list[dict[str, str]]:
    """What a reviewer would notice between two versions of a finding."""
    changes = []
    if _verdict(one) != _verdict(other):
        changes.append({"what": "verdict", "before": _verdict(one), "after": _verdict(other)})
    for name in ("severity", "evidence", "title"):
        a, b = one.get(name) or "", other.get(name) or ""
        if " ".join(str(a).split()) != " ".join(str(b).split()):
            changes.append({"what": name, "before": str(a), "after": str(b)})
    flagged_a, flagged_b = sorted(one.get("flagged_by") or []), sorted(other.get("flagged_by") or [])
    if flagged_a != flagged_b:
        changes.append({"what": "flagged by", "before": " and ".join(flagged_a).upper() or "–",
                        "after": " and ".join(flagged_b).upper() or "–"})  # fmt: skip
    return changes


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            if key not in _NOT_COMPARED:
                flat.update(_flatten(item, f"{prefix}/{key}" if prefix else str(key)))
        return flat or {prefix: {}}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        flat = {}
        for index, item in enumerate(value):
            name = item.get("key") or item.get("name") or item.get("step") or str(index)
            flat.update(_flatten(item, f"{prefix}/{name}"))
        return flat
    return {prefix: value}
