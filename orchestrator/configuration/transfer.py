"""Configuration as JSON, for version control and moving between installations:
`export_config` (what `exportconfig` writes) and `import_config` (what `importconfig`
reads): prompts and rubrics with all their versions, agents, pipelines with slots,
the knowledge base, model prices. An import is checked as the admin checks an
edit (configuration.validation) and saves nothing when a check fails."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models, transaction

from orchestrator.models import (
    Agent,
    KnowledgeEntry,
    ModelPrice,
    Pipeline,
    PipelineSlot,
    Prompt,
    PromptVersion,
    Rubric,
    RubricVersion,
)
from review.policy import policy_problems

from .validation import criteria_problems, pipeline_problems

FORMAT = 1


class ConfigError(Exception):
    """An import that was refused; `problems` says what to fix, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# --- Export -----------------------------------------------------------------


def _plain(obj: models.Model, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The row's own values: not its id, relations or timestamps. Read from the model
    so a field added later (a budget) travels without touching this module."""
    values = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key or field.is_relation or field.name in exclude:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        value = getattr(obj, field.attname)
        values[field.name] = str(value) if isinstance(value, Decimal) else value
    return values


def _versioned(model: type[Prompt] | type[Rubric]) -> list[dict[str, Any]]:
    """Prompts or rubrics, each with all its versions by number and which one is active."""
    rows = []
    for parent in model.objects.select_related("active").prefetch_related("versions").order_by("slug"):
        versions = sorted(parent.versions.all(), key=lambda version: version.number)
        rows.append(
            {
                **_plain(parent),
                "active": parent.active.number if parent.active else None,
                "versions": [_plain(version) for version in versions],
            }
        )
    return rows


def export_config() -> dict[str, Any]:
    """Everything an admin configures, as JSON-ready data, in a stable order."""
    agents = [
        {
            **_plain(agent),
            "prompt": agent.prompt.slug,
            "rebuttal_prompt": agent.rebuttal_prompt.slug if agent.rebuttal_prompt else None,
        }
        for agent in Agent.objects.select_related("prompt", "rebuttal_prompt").order_by("slug")
    ]
    pipelines = []
    for pipeline in Pipeline.objects.select_related("rubric").order_by("slug"):
        slots = pipeline.slots.select_related("agent", "subpipeline").order_by("position", "name")
        pipelines.append(
            {
                **_plain(pipeline),
                "rubric": pipeline.rubric.slug if pipeline.rubric else None,
                "slots": [
                    {
                        "name": slot.name,
                        "position": slot.position,
                        "agent": slot.agent.slug if slot.agent else None,
                        "pipeline": slot.subpipeline.slug if slot.subpipeline else None,
                    }
                    for slot in slots
                ],
            }
        )
    return {
        "format": FORMAT,
        "model_prices": [_plain(price) for price in ModelPrice.objects.order_by("model")],
        "knowledge": [_plain(entry) for entry in KnowledgeEntry.objects.order_by("name")],
        "prompts": _versioned(Prompt),
        "rubrics": _versioned(Rubric),
        "agents": agents,
        "pipelines": pipelines,
    }


# --- Import -----------------------------------------------------------------


def _fields(data: dict[str, Any], *drop: str) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in drop}


@transaction.atomic
def import_config(data: dict[str, Any]) -> dict[str, int]:
    """Create or update everything in `data` (as `export_config` writes it), keyed by
    slug; returns counts by kind. Raises ConfigError, leaving the database as it was,
    when a version's text conflicts or a pipeline could not run."""
    if data.get("format") != FORMAT:
        raise ConfigError([f"Unknown file format {data.get('format')!r}: expected {FORMAT}."])
    problems: list[str] = []
    for price in data.get("model_prices", []):
        ModelPrice.objects.update_or_create(model=price["model"], defaults=_fields(price, "model"))
    for entry in data.get("knowledge", []):
        KnowledgeEntry.objects.update_or_create(name=entry["name"], defaults=_fields(entry, "name"))

    for item in data.get("prompts", []):
        prompt, _ = Prompt.objects.update_or_create(
            slug=item["slug"], defaults=_fields(item, "slug", "active", "versions")
        )
        problems += _import_versions(prompt, item, ("system", "template"))
    for item in data.get("rubrics", []):
        rubric, _ = Rubric.objects.update_or_create(
            slug=item["slug"], defaults=_fields(item, "slug", "active", "versions")
        )
        problems += [
            f"Rubric {rubric.slug!r}, version {v['number']}: {p}"
            for v in item["versions"]
            for p in [*criteria_problems(v["criteria"]), *policy_problems(v.get("policy") or {})]
        ]
        problems += _import_versions(rubric, item, ("criteria",))
    if problems:
        raise ConfigError(problems)

    prompts = {prompt.slug: prompt for prompt in Prompt.objects.all()}
    for item in data.get("agents", []):
        try:
            fields = {
                **_fields(item, "slug", "prompt", "rebuttal_prompt"),
                "prompt": prompts[item["prompt"]],
                "rebuttal_prompt": prompts[item["rebuttal_prompt"]] if item.get("rebuttal_prompt") else None,
            }
        except KeyError as missing:
            problems.append(f"Agent {item['slug']!r} names prompt {missing}, which is neither in the file nor here.")
            continue
        Agent.objects.update_or_create(slug=item["slug"], defaults=fields)

    # Pipelines first, slots after: a slot may hold a pipeline listed later in the file.
    rubrics = {rubric.slug: rubric for rubric in Rubric.objects.all()}
    pipelines = {}
    for item in data.get("pipelines", []):
        rubric = rubrics.get(item["rubric"]) if item.get("rubric") else None
        if item.get("rubric") and rubric is None:
            problems.append(
                f"Pipeline {item['slug']!r} names rubric {item['rubric']!r}, which is neither in the file nor here."
            )
        fields = {**_fields(item, "slug", "rubric", "slots"), "rubric": rubric}
        pipelines[item["slug"]], _ = Pipeline.objects.update_or_create(slug=item["slug"], defaults=fields)
    agents = {agent.slug: agent for agent in Agent.objects.all()}
    held = {pipeline.slug: pipeline for pipeline in Pipeline.objects.all()}
    for item in data.get("pipelines", []):
        pipeline = pipelines[item["slug"]]
        names = [slot["name"] for slot in item["slots"]]
        pipeline.slots.exclude(name__in=names).delete()
        for slot in item["slots"]:
            agent = agents.get(slot["agent"]) if slot.get("agent") else None
            subpipeline = held.get(slot["pipeline"]) if slot.get("pipeline") else None
            if agent is None and subpipeline is None:
                problems.append(f"Pipeline {pipeline.slug!r}, slot {slot['name']!r}: names no known agent or pipeline.")
                continue
            PipelineSlot.objects.update_or_create(
                pipeline=pipeline,
                name=slot["name"],
                defaults={"position": slot["position"], "agent": agent, "subpipeline": subpipeline},
            )
    if problems:
        raise ConfigError(problems)
    for pipeline in pipelines.values():
        problems += pipeline_problems(pipeline)
    if problems:
        raise ConfigError(problems)
    return {
        "model prices": len(data.get("model_prices", [])),
        "knowledge entries": len(data.get("knowledge", [])),
        "prompts": len(data.get("prompts", [])),
        "rubrics": len(data.get("rubrics", [])),
        "agents": len(data.get("agents", [])),
        "pipelines": len(pipelines),
    }


def _import_versions(parent: Prompt | Rubric, item: dict[str, Any], text_fields: tuple[str, ...]) -> list[str]:
    """Create the versions `parent` lacks and point `active` at the file's active number.
    A version that exists is never rewritten: different text under the same number
    means the two installations diverged, and someone must decide which is right."""
    model = PromptVersion if isinstance(parent, Prompt) else RubricVersion
    kind = "Prompt" if isinstance(parent, Prompt) else "Rubric"
    existing = {version.number: version for version in parent.versions.all()}
    problems = []
    for data in item["versions"]:
        version = existing.get(data["number"])
        if version is None:
            existing[data["number"]] = model.objects.create(**{parent._meta.model_name: parent}, **data)
            continue
        changed = [name for name in text_fields if getattr(version, name) != data[name]]
        if changed:
            problems.append(
                f"{kind} {parent.slug!r} version {data['number']} already exists here with a different "
                f"{' and '.join(changed)}; versions are never rewritten. Import it under a new number, "
                "or remove the conflicting version from the file."
            )
    active = item.get("active")
    if active is not None and not problems:
        if active not in existing:
            return [f"{kind} {parent.slug!r}: the active version {active} is not among its versions."]
        parent.active = existing[active]
        parent.save(update_fields=["active"])
    return problems
