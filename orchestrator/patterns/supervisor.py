"""Supervisor: a coordinator classifies the document and plans which of the
pipeline's specialists to call; the specialists run in parallel; an assembler
merges what they found into one result. A specialist that fails does not sink
the run: the result is assembled from the others, marked partial, names what is
missing, and goes to a reviewer.

Slots: coordinator, specialist:<name> (one per configured specialist, e.g.
specialist:financial), assembly. Step keys are the same names.

Assembly is a model step, not code in this decider, because every other part of
a result is a traced step: it is priced, carries its prompt version, can be
swapped for another agent and replayed after a prompt fix. What must not be left
to a model stays here: each field's provenance (which step produced it) is
checked against the specialists that actually succeeded.
"""

from __future__ import annotations

from typing import Any

from . import Call, Outcome, RunContext, StepSpec, StepState

COORDINATOR, ASSEMBLY = "coordinator", "assembly"
SPECIALIST = "specialist:"


def decide(context: RunContext, steps: dict[str, StepState]) -> Outcome:
    available = specialists(context)
    coordinator = steps.get(COORDINATOR)
    if coordinator is None:
        inputs = {"specialists": available}
        return Outcome(2 + len(available), schedule=[StepSpec(COORDINATOR, COORDINATOR, inputs)])
    if coordinator.failed:
        return Outcome(2 + len(available), error=f"The coordinator failed: {coordinator.error}")
    if not coordinator.succeeded:
        return Outcome(2 + len(available))

    doc_type = coordinator.output["doc_type"]
    plan, skipped = _plan(coordinator.output, available)
    planned = 2 + len(plan)
    # All planned specialists at once: they are independent, so the run costs the slowest.
    unscheduled = [name for name in plan if SPECIALIST + name not in steps]
    if unscheduled:
        schedule = [
            StepSpec(SPECIALIST + name, SPECIALIST + name, {"doc_type": doc_type, "task": plan[name]}, COORDINATOR)
            for name in unscheduled
        ]
        return Outcome(planned, schedule=schedule)
    done = {name: steps[SPECIALIST + name] for name in plan}
    if not all(state.finished for state in done.values()):
        return Outcome(planned)

    outputs = {name: state.output for name, state in done.items() if state.succeeded}
    missing = [
        {"specialist": name, "step": SPECIALIST + name, "error": state.error}
        for name, state in done.items()
        if state.failed
    ]
    assembly = steps.get(ASSEMBLY)
    if assembly is None:
        inputs = {"doc_type": doc_type, "outputs": outputs, "missing": [item["specialist"] for item in missing]}
        return Outcome(planned, schedule=[StepSpec(ASSEMBLY, ASSEMBLY, inputs, COORDINATOR)])
    if assembly.failed:
        return Outcome(planned, error=f"Assembly failed: {assembly.error}")
    if not assembly.succeeded:
        return Outcome(planned)
    return Outcome(planned, result=_result(context, coordinator.output, assembly.output, outputs, missing, skipped))


# What an estimate from waves() must say of itself.
WAVES_NOTE = "calls: every specialist counted; the coordinator may plan fewer"


def waves(slots: list[str], rebuttal_rounds: int = 0) -> list[list[Call]]:
    """Coordinator, then the specialists side by side, then assembly. Every
    specialist is counted: the coordinator may plan fewer, so this is the ceiling
    for a document that needs them all (WAVES_NOTE)."""
    return [[Call(COORDINATOR)], [Call(name) for name in slots if name.startswith(SPECIALIST)], [Call(ASSEMBLY)]]


def slot_problems(names: list[str]) -> list[str]:
    """What a supervisor's slots lack to run."""
    problems = [f"a supervisor needs a slot named {name!r}." for name in (COORDINATOR, ASSEMBLY) if name not in names]
    if not any(name.startswith(SPECIALIST) and len(name) > len(SPECIALIST) for name in names):
        problems.append("a supervisor needs at least one specialist: a slot named 'specialist:<name>'.")
    return problems


def specialists(context: RunContext) -> list[str]:
    """The configured specialists' names, in slot order."""
    return [slot.removeprefix(SPECIALIST) for slot in context.slots if slot.startswith(SPECIALIST)]


def _plan(classification: dict[str, Any], available: list[str]) -> tuple[dict[str, str], list[str]]:
    """{specialist: why} for the planned specialists this pipeline has, and the
    names the coordinator asked for that it does not have."""
    plan: dict[str, str] = {}
    skipped = []
    for item in classification["plan"]:
        name = item["specialist"]
        if name in available:
            plan.setdefault(name, item["reason"])
        elif name not in skipped:
            skipped.append(name)
    return plan, skipped


def _result(
    context: RunContext,
    classification: dict[str, Any],
    assembly: dict[str, Any],
    outputs: dict[str, Any],
    missing: list[dict[str, str]],
    skipped: list[str],
) -> dict[str, Any]:
    fields: dict[str, Any] = {"doc_type": classification["doc_type"]}
    provenance = {"doc_type": COORDINATOR}
    for item in assembly["fields"]:
        name = item["name"]
        if name == "doc_type":
            continue  # the coordinator's call, not the assembler's
        fields[name] = item["value"]
        # A source that did not succeed is the assembler's own invention: say so.
        provenance[name] = SPECIALIST + item["source"] if item["source"] in outputs else ASSEMBLY

    findings = []
    if missing:
        names = ", ".join(item["specialist"] for item in missing)
        used = ", ".join(outputs) or "nothing but the classification"
        findings.append(
            {
                "key": "partial_result",
                "type": "partial_result",
                "title": f"Partial result: {names} missing",
                "severity": "high",
                # Nothing in the document to quote: what is missing is the specialists' work.
                "evidence": "",
                "explanation": f"The {names} specialist{'s' if len(missing) > 1 else ''} failed ("
                + "; ".join(f"{item['step']}: {item['error']}" for item in missing)
                + f"); the result was assembled from {used}.",
                "status": "partial",
                "is_issue": True,
                "a": None,
                "b": None,
                "judge": None,
                "review": {"reason": "partial_result", "item_id": None, "decision": None},
            }
        )
    return {
        "pattern": "supervisor",
        "stand_in": context.stand_in,
        "doc_type": classification["doc_type"],
        "classification": {
            "confidence": classification["confidence"],
            "signals": classification["signals"],
            "plan": classification["plan"],
        },
        "summary": assembly["summary"],
        "fields": fields,
        "provenance": provenance,
        "partial": bool(missing),
        "missing": missing,
        "skipped": skipped,
        "findings": findings,
        "counts": {"agreed": 0, "disputed": 0, "issues": len(findings)},
    }
