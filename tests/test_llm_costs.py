"""Costs that add up: a run's totals are the sum of its steps whenever a step
finishes, late or not; a failed run's queued steps are cancelled, never called;
retry-after 0 retries at once; the corrective call has its own attempts; a
reply naming an unpriced model is flagged, not charged $0 in silence."""

import json
import threading
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from orchestrator import engine
from orchestrator.models import Agent, ModelPrice, Run, Step
from tests.messages_api import error_body, message_body, messages_api  # noqa: F401 (fixture)

FINDING = {
    "type": "auto_renewal",
    "title": "Automatic renewal",
    "severity": "high",
    "evidence": "This Agreement shall automatically renew.",
    "explanation": "Definite wording.",
}
FINDINGS_REPLY = json.dumps({"findings": [FINDING]})


@pytest.fixture
def api(messages_api, settings):  # noqa: F811
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_BASE_URL = messages_api.url
    return messages_api


@pytest.fixture
def claude_pipeline(debate_pipeline, api):
    Agent.objects.filter(pipelineslot__pipeline=debate_pipeline).update(provider="anthropic", model="claude-haiku-4-5")
    return debate_pipeline


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    asked: list[float] = []
    monkeypatch.setattr(engine, "sleep", asked.append)
    return asked


@pytest.mark.django_db(transaction=True)
def test_a_step_finishing_after_its_run_failed_is_counted(api, claude_pipeline, make_document):
    """Advocate A's call is in flight when advocate B fails the run; A's reply
    comes back afterwards, paid for, and the run's cost and tokens include it."""
    gate = threading.Event()
    api.enqueue(message_body(FINDINGS_REPLY, input_tokens=2000, output_tokens=100), gate=gate)
    api.enqueue(error_body("invalid_request_error", "refused"), status=400)
    run = engine.start_run(make_document(), claude_pipeline)
    a, b = run.steps.get(key="advocate:a"), run.steps.get(key="advocate:b")

    late = threading.Thread(target=engine.execute_step, args=(a.pk,))
    late.start()
    while len(api.requests) < 1:  # A's request has reached the API
        time.sleep(0.01)
    engine.execute_step(b.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and run.cost == 0
    gate.set()
    late.join()

    run.refresh_from_db()
    a.refresh_from_db()
    assert a.status == Step.Status.SUCCEEDED and a.cost == Decimal("0.002500")  # 2000 x $1 + 100 x $5
    assert run.cost == a.cost
    assert (run.input_tokens, run.output_tokens) == (2000, 100)
    assert run.steps_done == 2


@pytest.mark.django_db(transaction=True)
def test_queued_steps_are_cancelled_when_their_run_fails(api, claude_pipeline, make_document, run_jobs):
    api.enqueue(error_body("invalid_request_error", "refused"), status=400)
    run = engine.start_run(make_document(), claude_pipeline)

    engine.execute_step(run.steps.get(key="advocate:b").pk)  # fails the run; A is still queued
    run_jobs()  # A's job is delivered anyway

    run.refresh_from_db()
    a = run.steps.get(key="advocate:a")
    assert run.status == Run.Status.FAILED
    assert a.status == Step.Status.FAILED and a.error == engine.CANCELLED
    assert a.attempts == [] and a.cost == 0
    assert len(api.requests) == 1  # A was never sent
    assert run.steps_done == 2


def test_retry_after_0_retries_at_once(db, api, claude_pipeline, make_document, waits):
    api.enqueue(error_body("rate_limit_error", "now"), status=429, headers={"retry-after": "0"})
    api.enqueue(message_body(FINDINGS_REPLY))

    run = engine.start_run(make_document(), claude_pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    step.refresh_from_db()

    assert step.status == Step.Status.SUCCEEDED
    assert waits == [0.0]


def test_the_corrective_call_has_its_own_attempts(db, api, claude_pipeline, make_document, waits, settings):
    """A 429 then malformed JSON: the corrective call still gets its full budget,
    and survives a 429 of its own."""
    settings.QUORUM_STEP_MAX_ATTEMPTS = 2
    api.enqueue(error_body("rate_limit_error", "slow"), status=429, headers={"retry-after-ms": "10"})
    api.enqueue(message_body('{"findings": ['))
    api.enqueue(error_body("rate_limit_error", "slow"), status=429, headers={"retry-after-ms": "10"})
    api.enqueue(message_body(FINDINGS_REPLY))

    run = engine.start_run(make_document(), claude_pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    step.refresh_from_db()

    assert step.status == Step.Status.SUCCEEDED, step.error
    assert [a["error_class"] for a in step.attempts] == ["TransientError", "", "TransientError", ""]
    assert step.output == {"findings": [FINDING]}


def test_a_reply_from_an_unpriced_model_is_flagged(db, api, claude_pipeline, make_document, client_for, analyst):
    assert not ModelPrice.objects.filter(model="claude-haiku-9").exists()
    api.enqueue(message_body(FINDINGS_REPLY, model="claude-haiku-9"))

    run = engine.start_run(make_document(), claude_pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    step.refresh_from_db()

    assert step.status == Step.Status.SUCCEEDED
    assert step.price == {"model": "claude-haiku-9", "unpriced": True, "batch": False}
    assert step.cost == 0
    client = client_for(analyst)
    page = client.get(reverse("orchestrator:step", args=[run.pk, step.pk])).content.decode()
    assert "claude-haiku-9 has no price" in page
    assert "no price for claude-haiku-9" in client.get(run.get_absolute_url()).content.decode()
    spend = client.get(reverse("insights:spend")).content.decode()
    assert "Calls with no price" in spend and "claude-haiku-9 (1 call)" in spend


def test_an_unpriced_model_is_refused_at_validation(db, claude_pipeline):
    from orchestrator.configuration.validation import pipeline_problems

    Agent.objects.filter(slug__in=claude_pipeline.slots.values("agent__slug")).update(model="claude-nope-1")
    assert any("has no price" in problem for problem in pipeline_problems(claude_pipeline))
