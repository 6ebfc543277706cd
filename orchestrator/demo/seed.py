"""Idempotent demo data: groups, users, prices, the demo pipelines."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from config.roles import ADMIN, ANALYST, REVIEWER
from orchestrator.llm.prices import SEED_PRICES
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
from orchestrator.patterns import schemas

from . import chain, debate, supervisor

OFFLINE_MODEL = "offline-rules"
DEMO_USERS = [("analyst", ANALYST), ("reviewer", REVIEWER), ("admin", ADMIN)]


def seed_groups() -> None:
    for name in (ANALYST, REVIEWER, ADMIN):
        Group.objects.get_or_create(name=name)


def seed_users(password: str | None) -> dict[str, str]:
    """Create the demo users once. Returns {username: password} for the users
    created now (the only time a generated password is known)."""
    created = {}
    for username, role in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            continue
        user_password = password or secrets.token_urlsafe(9)
        user = User.objects.create_user(username, f"{username}@quorum.example", user_password)
        user.groups.add(Group.objects.get(name=role))
        if role == ADMIN:
            user.is_staff = user.is_superuser = True
            user.save()
        created[username] = user_password
    return created


def _prompt(slug: str, name: str, system: str, template: str) -> Prompt:
    prompt, _ = Prompt.objects.get_or_create(slug=slug, defaults={"name": name})
    if prompt.active is None:
        version = PromptVersion.objects.create(prompt=prompt, number=1, system=system, template=template, note="Seeded")
        prompt.active = version
        prompt.save(update_fields=["active"])
    return prompt


def _rubric(slug: str, name: str, criteria: list[dict]) -> Rubric:
    rubric, _ = Rubric.objects.get_or_create(slug=slug, defaults={"name": name})
    if rubric.active is None:
        rubric.active = RubricVersion.objects.create(rubric=rubric, number=1, criteria=criteria, note="Seeded")
        rubric.save(update_fields=["active"])
    return rubric


def _agent(slug: str, name: str, role: str, profile: str, prompt_slug: str, schema: dict, queue: str, **extra) -> Agent:
    agent, _ = Agent.objects.get_or_create(
        slug=slug,
        defaults={
            "name": name,
            "role": role,
            "provider": "offline",
            "model": OFFLINE_MODEL,
            "profile": profile,
            "prompt": Prompt.objects.get(slug=prompt_slug),
            "output_schema": schema,
            "queue": queue,
            **extra,
        },
    )
    return agent


def _pipeline(slug: str, slots: list[tuple[str, str]], **defaults) -> Pipeline:
    """The pipeline and its slots; a slot's holder is an agent slug, or "pipeline:<slug>"."""
    pipeline, _ = Pipeline.objects.get_or_create(slug=slug, defaults=defaults)
    for position, (slot, holder) in enumerate(slots):
        if holder.startswith("pipeline:"):
            held = {"subpipeline": Pipeline.objects.get(slug=holder.removeprefix("pipeline:"))}
        else:
            held = {"agent": Agent.objects.get(slug=holder)}
        PipelineSlot.objects.get_or_create(pipeline=pipeline, name=slot, defaults={**held, "position": position})
    return pipeline


def seed_debate_pipeline() -> Pipeline:
    finding_types = ", ".join(schemas.FINDING_TYPES)
    for slug, (name, system, template) in debate.PROMPTS.items():
        _prompt(slug, name, system, template.replace("{finding_types}", finding_types))
    for spec in debate.AGENTS:
        agent = _agent(*spec)
        rebuttal = debate.REBUTTAL_PROMPTS.get(agent.slug)
        if rebuttal and agent.rebuttal_prompt_id is None:
            # Agents seeded before rebuttal prompts existed get theirs; an admin's choice is kept.
            agent.rebuttal_prompt = Prompt.objects.get(slug=rebuttal)
            agent.save(update_fields=["rebuttal_prompt"])
    rubric = _rubric("contract-compliance", "Contract compliance", debate.CRITERIA)
    return _pipeline(
        "contract-debate",
        debate.SLOTS,
        name="Contract review (Debate)",
        description="Two advocates (thorough and strict) review each contract; a judge with the contract "
        "compliance rubric reconciles them; disagreements go to a reviewer.",
        pattern=Pipeline.Pattern.DEBATE,
        rubric=rubric,
        document_type="contract",
    )


def seed_supervisor_pipelines() -> list[Pipeline]:
    """document-supervisor, and contract-supervisor: the same team with the
    Contract review Debate as its clause specialist (patterns compose)."""
    for slug, (name, system, template) in supervisor.PROMPTS.items():
        _prompt(slug, name, system, template)
    for spec in supervisor.AGENTS:
        _agent(*spec)
    plain = _pipeline(
        "document-supervisor",
        supervisor.SLOTS,
        name="Document intake (Supervisor)",
        description="A coordinator classifies each document and calls the specialists it needs (financial "
        "extraction, entities, clauses, metadata) in parallel; an assembler merges their outputs and records "
        "which step produced each field. A failed specialist gives a partial result for review.",
        pattern=Pipeline.Pattern.SUPERVISOR,
    )
    debate_pipeline = seed_debate_pipeline()
    composed = [
        (slot, f"pipeline:{debate_pipeline.slug}" if slot == "specialist:clauses" else agent)
        for slot, agent in supervisor.SLOTS
    ]
    contracts = _pipeline(
        "contract-supervisor",
        composed,
        name="Contract intake (Supervisor with a Debate)",
        description="The document supervisor, with the Contract review Debate as its clause-analysis "
        "specialist: the debate's run nests under the clause step, and its cost rolls up.",
        pattern=Pipeline.Pattern.SUPERVISOR,
        document_type="contract",
    )
    return [plain, contracts]


def seed_knowledge() -> None:
    for kind, name, aliases, country, risk, note in chain.KNOWLEDGE:
        KnowledgeEntry.objects.get_or_create(
            name=name,
            defaults={"kind": kind, "aliases": "\n".join(aliases), "country": country, "risk": risk, "note": note},
        )


def seed_chain_pipeline() -> Pipeline:
    seed_knowledge()
    for slug, (name, system, template) in chain.PROMPTS.items():
        _prompt(slug, name, system, template)
    for slug, name, profile, prompt_slug, output_schema, input_schema, uses_knowledge in chain.AGENTS:
        _agent(
            slug, name, "stage", profile, prompt_slug, output_schema, "default",
            input_schema=input_schema, uses_knowledge=uses_knowledge,
        )  # fmt: skip
    return _pipeline(
        "extraction-chain",
        chain.SLOTS,
        name="Invoice extraction (Chain)",
        description="Extract, normalize, enrich from the knowledge base, format: every intermediate record is "
        "kept, each boundary checked. A candidate normalizer runs in the shadow of the live one; its agreement "
        "rate is on this page.",
        pattern=Pipeline.Pattern.CHAIN,
    )


def seed_prices() -> int:
    """Add a ModelPrice row for every seed price that is missing; returns how
    many were added. Rows that exist are left alone: `make run` seeds on every
    start, and an admin's edited price must survive it."""
    added = 0
    for model, price in SEED_PRICES.items():
        added += ModelPrice.objects.get_or_create(model=model, defaults=dataclasses.asdict(price))[1]
    return added


@transaction.atomic
def seed_all(password: str | None = None) -> dict[str, str]:
    seed_groups()
    created = seed_users(password)
    seed_prices()
    seed_debate_pipeline()
    seed_supervisor_pipelines()
    seed_chain_pipeline()
    return created


def credentials_file() -> Path:
    return settings.VAR_DIR / "demo-credentials.txt"
