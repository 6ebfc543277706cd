"""Chain of responsibility: ordered stages, each handed the record the stage
before it produced (default: extract -> normalize -> enrich -> format).

Slots: stage:<n>:<name>, ordered by n; swapping a stage is giving its slot another
agent (or pipeline). A slot shadow:<n>:<name> holds a second version of stage n:
it runs beside the primary on the same input, its output is recorded and
compared but never passed on. Step keys are the slot names.

Boundaries: a stage's output is checked against its agent's output schema by the
engine (with one corrective retry); its input is checked here against the input
schema the next stage's agent declares. A stage whose input fails is not called,
and the run stops with an error that names the stage and the field.

The record: stage 1 reads the document; stage n+1 reads stage n's output laid over
the record stage n read (top-level keys carry forward), so a stage that adds
findings rather than fields (a Debate) keeps what the stages before it produced.

Every intermediate record is kept in the steps; the result carries each field's
trail through the stages and the stage that introduced its final value, which is
how an engineer walks backwards to the stage that got it wrong.

The format stage (and normalize) could be plain code; they are model steps so they
are traced, versioned and replayable like the rest (the wrong total in journey 4
was introduced by a normalize prompt, and fixed by a new prompt version and a replay).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator.patterns.schemas import problems

from . import Call, Outcome, RunContext, StepSpec, StepState

# A chain's slot names: stage:<n>:<name>, or shadow:<n>:<name> beside stage n.
STAGE, SHADOW = "stage", "shadow"
SLOT_NAME = re.compile(r"(stage|shadow):(\d+):([\w-]+)")
# Result bookkeeping of a stage that is itself a pipeline: not part of the record.
_BOOKKEEPING = {"pattern", "stand_in", "counts"}
MISSING = "(absent)"


@dataclass(frozen=True)
class Stage:
    key: str  # also the slot name
    number: int
    name: str

    @property
    def label(self) -> str:
        return f"stage {self.number} ({self.name})"


def stages(context: RunContext) -> tuple[list[Stage], dict[int, Stage]]:
    """The primary stages in order, and the shadows by the stage number they shadow."""
    return stages_of(context.slots)


def stages_of(slots: list[str]) -> tuple[list[Stage], dict[int, Stage]]:
    primary, shadows = [], {}
    for slot in slots:
        match = SLOT_NAME.fullmatch(slot)
        if match:
            stage = Stage(slot, int(match.group(2)), match.group(3))
            if match.group(1) == STAGE:
                primary.append(stage)
            else:
                shadows[stage.number] = stage
    return sorted(primary, key=lambda stage: stage.number), shadows


WAVES_NOTE = ""  # waves() are the calls every run makes


def waves(slots: list[str], rebuttal_rounds: int = 0) -> list[list[Call]]:
    """One wave per stage number, in order; a shadow runs in its stage's wave."""
    primary, shadows = stages_of(slots)
    waves = []
    for stage in primary:
        shadow = shadows.get(stage.number)
        waves.append([Call(stage.key), Call(shadow.key)] if shadow else [Call(stage.key)])
    return waves


def slot_problems(names: list[str]) -> list[str]:
    """What a chain's slots lack to run."""
    primary, _ = stages_of(names)
    return [] if primary else ["a chain needs at least one stage: slots named 'stage:1:<name>', 'stage:2:<name>', ..."]


def decide(context: RunContext, steps: dict[str, StepState]) -> Outcome:
    primary, shadows = stages(context)
    planned = len(primary) + sum(stage.number in shadows for stage in primary)
    if not primary:
        return Outcome(planned, error="The chain has no stages: add slots named stage:1:<name>, stage:2:<name>, ...")

    record: dict[str, Any] = {}
    previous: Stage | None = None
    for stage in primary:
        state = steps.get(stage.key)
        if state is None:
            failed = problems(record, context.input_schemas.get(stage.key))
            if failed:
                field, message = failed[0]
                others = sorted({other for other, _ in failed[1:]} - {field})
                return Outcome(
                    planned,
                    error=f"Stage {stage.number} ({stage.name}) was not called: its input failed the check "
                    f"at {field}: {message}" + (f" (also at {', '.join(others)})" if others else ""),
                )
            inputs = {"stage": stage.name, "record": record}
            parent = previous.key if previous else ""
            schedule = [StepSpec(stage.key, stage.key, inputs, parent)]
            shadow = shadows.get(stage.number)
            if shadow and shadow.key not in steps:
                schedule.append(StepSpec(shadow.key, shadow.key, inputs, stage.key))
            return Outcome(planned, schedule=schedule)
        if state.failed:
            return Outcome(planned, error=f"Stage {stage.number} ({stage.name}) failed: {state.error}")
        if not state.succeeded:
            return Outcome(planned)
        record = carry(record, state.output)
        previous = stage

    # Shadows never hold the chain up, but the result waits for them: it reports how they compared.
    if any(not steps[shadow.key].finished for shadow in shadows.values() if shadow.key in steps):
        return Outcome(planned)
    return Outcome(planned, result=_result(context, primary, shadows, steps, record))


def carry(record: dict[str, Any], output: Any) -> dict[str, Any]:
    """The record after a stage: its output laid over what it was handed."""
    if not isinstance(output, dict):
        return {**record, "output": output}
    return {**record, **{key: value for key, value in output.items() if key not in _BOOKKEEPING}}


def _result(
    context: RunContext,
    primary: list[Stage],
    shadows: dict[int, Stage],
    steps: dict[str, StepState],
    record: dict[str, Any],
) -> dict[str, Any]:
    trail, provenance = trails(primary, steps)
    comparisons = []
    for stage in primary:
        shadow = shadows.get(stage.number)
        if shadow and shadow.key in steps:
            comparisons.append(compare_shadow(stage, shadow, steps[stage.key], steps[shadow.key]))
    fields = record.get("fields") if isinstance(record.get("fields"), dict) else {}
    return {
        "pattern": "chain",
        "stand_in": context.stand_in,
        "stages": [stage.key for stage in primary],
        "fields": fields,
        "record": {key: value for key, value in record.items() if key != "fields"},
        "provenance": provenance,
        "trail": trail,
        "shadows": comparisons,
        # A chain files nothing for review of its own; a Debate stage's run files its disputes.
        "findings": [],
        "counts": {"agreed": 0, "disputed": 0, "issues": 0},
    }


def trails(primary: list[Stage], steps: dict[str, StepState]) -> tuple[dict[str, list], dict[str, str]]:
    """Each field's value after every stage, and the stage that introduced its final
    value: walking back from the last stage, the earliest of the unbroken run of
    stages that already held it."""
    records, record = [], {}
    for stage in primary:
        state = steps.get(stage.key)
        if not (state and state.succeeded):
            break
        record = carry(record, state.output)
        fields = record.get("fields") if isinstance(record.get("fields"), dict) else {}
        records.append((stage, fields))
    if not records:
        return {}, {}
    trail: dict[str, list] = {}
    provenance: dict[str, str] = {}
    for name, final in records[-1][1].items():
        trail[name] = [{"step": stage.key, "value": fields.get(name, MISSING)} for stage, fields in records]
        introduced = records[-1][0]
        for stage, fields in reversed(records):
            if name not in fields or fields[name] != final:
                break
            introduced = stage
        provenance[name] = introduced.key
    return trail, provenance


def compare_shadow(stage: Stage, shadow: Stage, primary: StepState, candidate: StepState) -> dict[str, Any]:
    comparison: dict[str, Any] = {"stage": stage.key, "shadow": shadow.key, "agrees": False, "differences": []}
    if not primary.succeeded:
        comparison["error"] = "the primary stage did not succeed"
    elif not candidate.succeeded:
        comparison["error"] = f"the shadow failed: {candidate.error}"
    else:
        comparison["differences"] = differences(primary.output, candidate.output)
        comparison["agrees"] = not comparison["differences"]
    return comparison


def differences(primary: Any, shadow: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Field-by-field differences of two stage outputs. Where both have "fields"
    only those are compared: notes and wording may differ without the record differing."""
    if isinstance(primary, dict) and isinstance(shadow, dict) and "fields" in primary and "fields" in shadow:
        primary, shadow = primary["fields"], shadow["fields"]
    if not (isinstance(primary, dict) and isinstance(shadow, dict)):
        return [] if primary == shadow else [{"field": "(output)", "primary": primary, "shadow": shadow}]
    found = []
    for name in [*primary, *(name for name in shadow if name not in primary)]:
        a, b = primary.get(name, MISSING), shadow.get(name, MISSING)
        if a != b:
            found.append({"field": name, "primary": a, "shadow": b})
    return found[:limit]


def stage_checks(context: RunContext, steps: dict[str, StepState]) -> list[dict[str, Any]]:
    """For the run page: each stage's output and whether it passed its checks (its
    own output schema, and the input contract of the stage after it). The first
    stage that failed is where to start reading backwards from."""
    primary, _ = stages(context)
    rows, record = [], {}
    for index, stage in enumerate(primary):
        state = steps.get(stage.key)
        row: dict[str, Any] = {"stage": stage, "state": state, "ok": None, "problem": ""}
        if state and state.failed:
            row.update(ok=False, problem=state.error)
        elif state and state.succeeded:
            record = carry(record, state.output)
            following = primary[index + 1] if index + 1 < len(primary) else None
            failed = problems(record, context.input_schemas.get(following.key)) if following else []
            if failed:
                field, message = failed[0]
                row.update(ok=False, problem=f"{following.label} refused it: {field} {message}")
            else:
                row["ok"] = True
        rows.append(row)
    first = next((row for row in rows if row["ok"] is False), None)
    for row in rows:
        row["first_failure"] = row is first
    return rows
