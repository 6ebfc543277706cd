"""Idempotent demo data: groups, users, prices, the demo pipelines."""

from __future__ import annotations

import dataclasses
import re
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from config.roles import ADMIN, ANALYST, REVIEWER
from orchestrator.llm.prices import SEED_PRICES, Price
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
        document_type=debate.DOCUMENT_TYPE,
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
        document_type=debate.DOCUMENT_TYPE,
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
        document_type=chain.DOCUMENT_TYPE,
    )


def seed_prices() -> int:
    """Add a ModelPrice row for every seed price that is missing; returns how
    many were added. Rows that exist are left alone: `make run` seeds on every
    start, and an admin's edited price must survive it."""
    added = 0
    for model, price in SEED_PRICES.items():
        added += ModelPrice.objects.get_or_create(model=model, defaults=dataclasses.asdict(price))[1]
    return added


# --- Claude variants -----------------------------------------------------------------

# The demo pipelines that get a Claude twin when a key is set, in an order where a
# pipeline a slot holds (the debate inside contract-supervisor) comes first.
CLAUDE_PIPELINES = ["contract-debate", "document-supervisor", "contract-supervisor", "extraction-chain"]
CLAUDE_SUFFIX = "-claude"
# Families from least to most capable. A role needs at least its tier: the judge
# weighs two advocates against a rubric, and deserves a stronger model than the
# agents that read and extract; every other role is well served by the smallest.
TIERS = ["haiku", "sonnet", "opus"]
ROLE_TIER = {"judge": "sonnet"}
DEFAULT_TIER = "haiku"


def claude_model_for(role: str, prices: dict[str, Price] | None = None) -> str:
    """The cheapest priced Claude model whose family fits `role` (by input plus
    output rate), from the price table. Dated ids are left to the aliases."""
    if prices is None:
        prices = {row.model: row.as_price() for row in ModelPrice.objects.filter(model__startswith="claude-")}
    needed = TIERS.index(ROLE_TIER.get(role, DEFAULT_TIER))

    def tier(model: str) -> int:
        return next((TIERS.index(family) for family in TIERS if f"-{family}" in model), -1)

    fitting = [
        model
        for model in prices
        if model.startswith("claude-") and not re.search(r"-\d{8}$", model) and tier(model) >= needed
    ]
    if not fitting:
        raise ValueError(f"No priced Claude model fits the {role} role: add a Model price row")
    # Cheapest first; at equal price the smaller family, then the newer-sounding id.
    return min(fitting, key=lambda m: (prices[m].input_per_mtok + prices[m].output_per_mtok, tier(m), m))


def seed_claude_pipelines() -> list[Pipeline]:
    """A Claude twin of each demo pipeline ("<slug>-claude"): the same prompts,
    rubric and pattern, every agent copied onto the anthropic provider with the
    cheapest model that fits its role. The offline pipelines stay, for comparison.
    Existing twins and their agents are left as an admin edited them."""
    prices = {row.model: row.as_price() for row in ModelPrice.objects.filter(model__startswith="claude-")}
    twins = []
    for slug in CLAUDE_PIPELINES:
        original = Pipeline.objects.filter(slug=slug).first()
        if original is None:
            continue
        slots = []
        for slot in original.slots.select_related("agent", "subpipeline").order_by("position", "name"):
            if slot.subpipeline:
                slots.append((slot.name, f"pipeline:{slot.subpipeline.slug}{CLAUDE_SUFFIX}"))
                continue
            agent = slot.agent
            twin = Agent.objects.filter(slug=agent.slug + CLAUDE_SUFFIX).first()
            if twin is None:
                twin = Agent.objects.get(pk=agent.pk)
                twin.pk = None
                twin.slug = agent.slug + CLAUDE_SUFFIX
                twin.name = f"{agent.name} (Claude)"
                twin.provider = "anthropic"
                twin.model = claude_model_for(agent.role, prices)
                twin.save()
            slots.append((slot.name, twin.slug))
        twins.append(
            _pipeline(
                slug + CLAUDE_SUFFIX,
                slots,
                name=f"{original.name} on Claude",
                description=f"{original.description} Every agent calls Claude (the cheapest model that fits its "
                "role); the offline pipeline of the same name is kept for comparison.",
                pattern=original.pattern,
                rubric=original.rubric,
                rebuttal_rounds=original.rebuttal_rounds,
                audit_rate=original.audit_rate,
                document_type=original.document_type,
            )
        )
    return twins


@transaction.atomic
def seed_all(password: str | None = None) -> dict[str, str]:
    seed_groups()
    created = seed_users(password)
    seed_prices()
    seed_debate_pipeline()
    seed_supervisor_pipelines()
    seed_chain_pipeline()
    if settings.ANTHROPIC_API_KEY:
        # With a key, the demo calls Claude too; without one nothing would run them.
        seed_claude_pipelines()
    return created


def credentials_file() -> Path:
    return settings.VAR_DIR / "demo-credentials.txt"
