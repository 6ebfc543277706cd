"""Whether configuration could run: `pipeline_problems` for a pipeline and its
slots (what its pattern needs, agents with prices and active prompts, nested
pipelines without cycles or too much depth), `criteria_problems` for a rubric's
criteria. The admin checks with them before saving; `importconfig` before committing."""

from __future__ import annotations

from numbers import Number
from typing import Any

from orchestrator import patterns
from orchestrator.models import Agent, ModelPrice, Pipeline, PipelineSlot


def pipeline_problems(
    pipeline: Pipeline, slots: list[PipelineSlot] | None = None, _seen: tuple[int | None, ...] = ()
) -> list[str]:
    """Why `pipeline` could not run, one sentence each; empty when it could.

    `slots` are the slots to judge when they are not saved yet (the admin's inline
    forms); otherwise the pipeline's saved slots are read. The pattern module says
    which slots its pattern needs (its slot_problems)."""
    if slots is None:
        slots = list(pipeline.slots.select_related("agent__prompt", "agent__rebuttal_prompt", "subpipeline"))
    names = [slot.name for slot in slots]
    try:
        shape = patterns.pattern(pipeline.pattern).slot_problems(names)
    except KeyError:
        shape = [f"unknown pattern {pipeline.pattern!r}."]
    problems = [f"{pipeline.slug or 'This pipeline'}: {text}" for text in shape]
    priced = set(ModelPrice.objects.values_list("model", flat=True))
    # The pipelines above this one, outermost first: its run would be nested len(seen) levels deep.
    seen = (*_seen, pipeline.pk)
    for slot in slots:
        where = f"Slot {slot.name!r}"
        if slot.agent_id:
            problems += [f"{where}: {text}" for text in _agent_problems(slot.agent, priced)]
        elif slot.subpipeline_id:
            held = slot.subpipeline
            if pipeline.pk and (held.pk in seen or held.contains(pipeline)):
                problems.append(
                    f"{where}: pipeline {held.slug!r} holds this pipeline, directly or through another "
                    "(a cycle of nested pipelines); give the slot an agent or another pipeline."
                )
            elif len(seen) > patterns.MAX_NESTING:
                problems.append(
                    f"{where}: pipeline {held.slug!r} would run nested {len(seen)} levels deep; "
                    f"pipelines nest at most {patterns.MAX_NESTING} levels."
                )
            else:
                problems += [
                    f"{where} (pipeline {held.slug!r}): {text}" for text in pipeline_problems(held, None, seen)
                ]
        else:
            problems.append(f"{where}: holds neither an agent nor a pipeline.")
    return problems


def _agent_problems(agent: Agent, priced: set[str]) -> list[str]:
    problems = []
    # The offline stand-in is free; any other provider's calls are priced per model,
    # and an unpriced model would leave its runs' cost (and budgets) silently at zero.
    if agent.provider_name() != "offline" and agent.model not in priced:
        problems.append(
            f"agent {agent.slug!r} uses model {agent.model!r}, which has no price: "
            "add a Model price row for it or pick a known model."
        )
    for label, prompt in (("prompt", agent.prompt), ("rebuttal prompt", agent.rebuttal_prompt)):
        if prompt is not None and prompt.active_id is None:
            problems.append(
                f"agent {agent.slug!r}: its {label} {prompt.slug!r} has no active version; save a version of it."
            )
    return problems


def criteria_problems(criteria: Any) -> list[str]:
    """What is wrong with a rubric version's criteria: a list of
    {id, title, weight, applies_to, guidance} with unique ids and numeric weights."""
    if not isinstance(criteria, list):
        return ['Criteria must be a JSON list of objects, e.g. [{"id": "auto-renewal", "weight": 1, ...}].']
    problems = []
    seen: set[str] = set()
    for number, item in enumerate(criteria, start=1):
        where = f"Criterion {number}"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object with id, title, weight, applies_to and guidance.")
            continue
        ident = item.get("id")
        if not isinstance(ident, str) or not ident.strip():
            problems.append(f'{where} has no id: give it a short unique text id, e.g. "auto-renewal".')
        elif ident in seen:
            problems.append(f"{where}: the id {ident!r} is used twice; ids must be unique.")
        else:
            seen.add(ident)
            where = f"Criterion {ident!r}"
        if not isinstance(item.get("title", ""), str) or not item.get("title"):
            problems.append(f"{where} has no title.")
        weight = item.get("weight")
        # bool is a Number too, and true as a weight is a typo, not a weight.
        if not isinstance(weight, Number) or isinstance(weight, bool):
            problems.append(f"{where}: the weight must be a number, not {weight!r}.")
        applies_to = item.get("applies_to", [])
        if not isinstance(applies_to, list) or not all(isinstance(kind, str) for kind in applies_to):
            problems.append(f"{where}: applies_to must be a list of finding types.")
        if not isinstance(item.get("guidance", ""), str):
            problems.append(f"{where}: guidance must be text.")
    return problems
