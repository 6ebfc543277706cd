"""With an API key, the demo has pipelines on Claude: seeddemo copies each demo
pipeline onto Claude with the cheapest model that fits each role, keeps the
offline ones, and a Claude demo run's every request is one the strict server
takes."""

import json

import pytest

from orchestrator import engine
from orchestrator.configuration.validation import pipeline_problems
from orchestrator.demo.seed import claude_model_for, seed_all
from orchestrator.models import ModelPrice, Pipeline, Run
from tests.messages_api import message_body, messages_api  # noqa: F401 (fixture)

CLAUDE_SLUGS = {"contract-debate-claude", "document-supervisor-claude", "contract-supervisor-claude",
                "extraction-chain-claude"}  # fmt: skip


def test_claude_demo_pipelines_are_seeded_when_a_key_is_set(db, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-demo"
    seed_all("demo-pass")
    seed_all("demo-pass")  # seeding again adds nothing

    slugs = set(Pipeline.objects.values_list("slug", flat=True))
    assert slugs >= CLAUDE_SLUGS
    assert {"contract-debate", "document-supervisor", "extraction-chain"} <= slugs  # offline ones kept
    for slug in CLAUDE_SLUGS:
        pipeline = Pipeline.objects.get(slug=slug)
        assert pipeline_problems(pipeline) == [], slug
        assert not pipeline.uses_stand_in()
        for slot in pipeline.slots.select_related("agent"):
            if slot.agent:
                assert slot.agent.provider == "anthropic" and ModelPrice.objects.filter(model=slot.agent.model).exists()
    debate = Pipeline.objects.get(slug="contract-debate-claude")
    models = {slot.name: slot.agent.model for slot in debate.slots.select_related("agent")}
    assert models == {"advocate_a": "claude-haiku-4-5", "advocate_b": "claude-haiku-4-5", "judge": "claude-sonnet-5"}
    composed = Pipeline.objects.get(slug="contract-supervisor-claude")
    assert composed.slots.get(name="specialist:clauses").subpipeline == debate


def test_no_claude_pipelines_without_a_key(db, settings):
    settings.ANTHROPIC_API_KEY = ""
    seed_all("demo-pass")
    assert not Pipeline.objects.filter(slug__endswith="-claude").exists()


def test_the_model_is_the_cheapest_that_fits_the_role(db):
    seed_all("demo-pass")
    assert claude_model_for("advocate") == "claude-haiku-4-5"
    assert claude_model_for("judge") == "claude-sonnet-5"
    ModelPrice.objects.filter(model="claude-sonnet-5").update(input_per_mtok=9)
    assert claude_model_for("judge") == "claude-sonnet-5-5"


@pytest.mark.django_db(transaction=True)
def test_a_claude_demo_debate_runs_against_the_strict_server(messages_api, settings, make_document, run_jobs):  # noqa: F811
    settings.ANTHROPIC_API_KEY = "sk-ant-demo"
    settings.ANTHROPIC_BASE_URL = messages_api.url
    seed_all("demo-pass")
    pipeline = Pipeline.objects.get(slug="contract-debate-claude")
    pipeline.audit_rate = 0
    pipeline.save(update_fields=["audit_rate"])
    finding = {
        "type": "auto_renewal",
        "title": "Renews itself",
        "severity": "high",
        "evidence": "This Agreement shall automatically renew.",
        "explanation": "Silent renewal.",
    }
    for _ in range(2 + 2 * pipeline.rebuttal_rounds):
        messages_api.enqueue(message_body(json.dumps({"findings": [finding]})))
    messages_api.enqueue(message_body(json.dumps({"verdicts": []}), model="claude-sonnet-5"))

    run = engine.start_run(make_document(), pipeline)
    run_jobs()
    run.refresh_from_db()

    assert messages_api.refused == []
    assert run.status in {Run.Status.DONE, Run.Status.NEEDS_REVIEW}, run.error
    assert run.cost > 0
