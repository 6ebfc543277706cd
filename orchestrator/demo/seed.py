"""Idempotent demo data: groups, users, prices, the demo pipelines."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from config.roles import ADMIN, ANALYST, REVIEWER
from orchestrator import schemas
from orchestrator.llm.prices import seed_prices
from orchestrator.models import Agent, Pipeline, PipelineSlot, Prompt, PromptVersion, Rubric, RubricVersion

from . import debate

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


def seed_debate_pipeline() -> Pipeline:
    finding_types = ", ".join(schemas.FINDING_TYPES)
    for slug, (name, system, template) in debate.PROMPTS.items():
        _prompt(slug, name, system, template.replace("{finding_types}", finding_types))
    for slug, name, role, profile, prompt_slug, schema, queue in debate.AGENTS:
        Agent.objects.get_or_create(
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
            },
        )
    rubric = _rubric("contract-compliance", "Contract compliance", debate.CRITERIA)
    pipeline, _ = Pipeline.objects.get_or_create(
        slug="contract-debate",
        defaults={
            "name": "Contract review (Debate)",
            "description": "Two advocates (thorough and strict) review each contract; a judge with the contract "
            "compliance rubric reconciles them; disagreements go to a reviewer.",
            "pattern": Pipeline.Pattern.DEBATE,
            "rubric": rubric,
        },
    )
    for position, (slot, agent_slug) in enumerate(debate.SLOTS):
        PipelineSlot.objects.get_or_create(
            pipeline=pipeline, name=slot, defaults={"agent": Agent.objects.get(slug=agent_slug), "position": position}
        )
    return pipeline


@transaction.atomic
def seed_all(password: str | None = None) -> dict[str, str]:
    seed_groups()
    created = seed_users(password)
    seed_prices()
    seed_debate_pipeline()
    return created


def credentials_file() -> Path:
    return settings.VAR_DIR / "demo-credentials.txt"
