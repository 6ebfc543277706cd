"""Batch mode: a run's Anthropic steps go through the Message Batches API, through
the real SDK, against a local fake of it; keeprunsmoving submits and polls them."""

import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from orchestrator import engine
from orchestrator.llm.anthropic import message_params
from orchestrator.models import Agent, Run, Step
from orchestrator.runs import batches
from tests.messages_api import (  # noqa: F401 (fixture)
    batch_body,
    batch_results_body,
    error_body,
    message_body,
    messages_api,
)

FINDING = {
    "type": "auto_renewal",
    "title": "Automatic renewal",
    "severity": "high",
    "evidence": "This Agreement shall automatically renew.",
    "explanation": "Definite wording.",
}
FINDINGS_REPLY = json.dumps({"findings": [FINDING]})


@pytest.fixture
def api(messages_api, settings):  # noqa: F811 (the imported fixture)
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_BASE_URL = messages_api.url
    return messages_api


@pytest.fixture
def claude_pipeline(debate_pipeline, api):
    """The seeded debate pipeline with every agent on Claude Haiku 4.5."""
    Agent.objects.filter(pipelineslot__pipeline=debate_pipeline).update(provider="anthropic", model="claude-haiku-4-5")
    return debate_pipeline


def _steps(run: Run) -> dict[str, Step]:
    return {step.key: step for step in run.steps.all()}


def _end_batch(api, batch_id: str, results: dict[str, dict]) -> None:
    """Script the replies of a poll that finds the batch ended: the SDK's retrieve,
    then results(), which retrieves again and reads the JSONL at results_url."""
    url = f"{api.url}/v1/messages/batches/{batch_id}/results"
    api.enqueue(batch_body(batch_id, "ended", results_url=url))
    api.enqueue(batch_body(batch_id, "ended", results_url=url))
    api.enqueue(batch_results_body(results))


def _batch_advocates(api, pipeline, make_document, run_jobs) -> tuple[Run, Step, Step]:
    run = engine.start_run(make_document(), pipeline, batch_mode=True)
    run_jobs()
    api.enqueue(batch_body("msgbatch_1"))
    assert batches.submit_pending() == 2
    steps = _steps(run)
    return run, steps["advocate:a"], steps["advocate:b"]


@pytest.mark.django_db(transaction=True)
def test_a_debate_in_batch_mode_goes_through_message_batches_at_half_price(
    api, claude_pipeline, make_document, run_jobs
):
    run = engine.start_run(make_document(), claude_pipeline, batch_mode=True)
    run_jobs()

    advocates = _steps(run)
    assert {key: step.status for key, step in advocates.items()} == {
        "advocate:a": Step.Status.BATCHED,
        "advocate:b": Step.Status.BATCHED,
    }
    assert api.requests == []  # nothing sent to the Messages API one by one
    assert all(step.request and step.batch_id == "" for step in advocates.values())

    api.enqueue(batch_body("msgbatch_1"))
    assert batches.submit_pending() == 2
    [created] = api.requests
    assert (created.method, created.path) == ("POST", "/v1/messages/batches")
    sent = {item["custom_id"]: item["params"] for item in created.body["requests"]}
    a, b = advocates["advocate:a"], advocates["advocate:b"]
    assert set(sent) == {f"step-{a.pk}", f"step-{b.pk}"}
    assert sent[f"step-{a.pk}"] == message_params(batches._request(a), cache_ttl="1h")
    assert sent[f"step-{a.pk}"]["output_config"]["format"]["type"] == "json_schema"
    assert set(run.steps.values_list("batch_id", flat=True)) == {"msgbatch_1"}
    assert batches.submit_pending() == 0  # nothing left to send

    api.enqueue(batch_body("msgbatch_1", "in_progress"))
    assert batches.poll() == 0
    assert run.steps.filter(status=Step.Status.BATCHED).count() == 2

    reply = message_body(FINDINGS_REPLY, input_tokens=1200, output_tokens=80)
    _end_batch(api, "msgbatch_1", {f"step-{a.pk}": reply, f"step-{b.pk}": reply})
    assert batches.poll() == 2
    assert api.requests[-1].path == "/v1/messages/batches/msgbatch_1/results"

    advocates = _steps(run)
    for step in (advocates["advocate:a"], advocates["advocate:b"]):
        assert step.status == Step.Status.SUCCEEDED
        assert step.output == {"findings": [FINDING]}
        assert (step.input_tokens, step.output_tokens) == (1200, 80)
        # Haiku 4.5 at $1 in / $5 out: 1200 + 400 = 1600 millionths, half of it in a batch.
        assert step.cost == Decimal("0.000800")
        assert step.model == "claude-haiku-4-5"
    judge = advocates["judge"]
    assert judge.status == Step.Status.QUEUED

    run_jobs()
    judge.refresh_from_db()
    assert judge.status == Step.Status.BATCHED

    api.enqueue(batch_body("msgbatch_2"))
    assert batches.submit_pending() == 1
    _end_batch(api, "msgbatch_2", {f"step-{judge.pk}": message_body(json.dumps({"verdicts": []}))})
    assert batches.poll() == 1

    run.refresh_from_db()
    assert run.status in {Run.Status.DONE, Run.Status.NEEDS_REVIEW}, run.error
    assert run.result["findings"][0]["status"] == "agreed"
    # The judge: 100 in, 20 out, at half price: (100 + 100) / 2 millionths.
    assert run.cost == Decimal("0.001700")
    assert batches.poll() == 0


@pytest.mark.django_db(transaction=True)
def test_an_errored_request_fails_its_step_and_the_pattern_decides(api, claude_pipeline, make_document, run_jobs):
    run, a, b = _batch_advocates(api, claude_pipeline, make_document, run_jobs)

    _end_batch(
        api,
        "msgbatch_1",
        {
            f"step-{a.pk}": message_body(FINDINGS_REPLY),
            f"step-{b.pk}": error_body("overloaded_error", "Overloaded"),
        },
    )
    assert batches.poll() == 2

    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == Step.Status.SUCCEEDED
    assert b.status == Step.Status.FAILED
    assert "overloaded_error: Overloaded" in b.error
    assert b.cost == 0
    run.refresh_from_db()
    assert run.steps_done == 2  # advanced: the debate pattern has seen the failure


@pytest.mark.django_db(transaction=True)
def test_an_expired_request_fails_its_step(api, claude_pipeline, make_document, run_jobs):
    run, a, b = _batch_advocates(api, claude_pipeline, make_document, run_jobs)

    _end_batch(api, "msgbatch_1", {f"step-{a.pk}": message_body(FINDINGS_REPLY), f"step-{b.pk}": {"type": "expired"}})
    batches.poll()

    b.refresh_from_db()
    assert b.status == Step.Status.FAILED
    assert "expired" in b.error


@pytest.mark.django_db(transaction=True)
def test_invalid_output_in_a_batch_fails_the_step_without_a_corrective_retry(
    api, claude_pipeline, make_document, run_jobs
):
    run, a, b = _batch_advocates(api, claude_pipeline, make_document, run_jobs)

    _end_batch(
        api,
        "msgbatch_1",
        {f"step-{a.pk}": message_body('{"findings": [{"type":'), f"step-{b.pk}": message_body(FINDINGS_REPLY)},
    )
    batches.poll()

    a.refresh_from_db()
    assert a.status == Step.Status.FAILED
    assert a.validation_errors == ["The reply was not valid JSON."]
    assert "no corrective retry" in a.error
    assert a.cost == Decimal("0.000100")  # the call was made, and paid for at half price
    assert "/v1/messages" not in {request.path for request in api.requests}  # no corrective call


@pytest.mark.django_db(transaction=True)
def test_a_refused_batch_fails_its_steps(api, claude_pipeline, make_document, run_jobs):
    run = engine.start_run(make_document(), claude_pipeline, batch_mode=True)
    run_jobs()
    api.enqueue(error_body("invalid_request_error", "requests: too large"), status=400)

    assert batches.submit_pending() == 0

    assert {step.status for step in run.steps.all()} == {Step.Status.FAILED}
    assert "too large" in run.steps.first().error


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_cannot_be_sent_now_waits_for_the_next_tick(api, claude_pipeline, make_document, run_jobs):
    run = engine.start_run(make_document(), claude_pipeline, batch_mode=True)
    run_jobs()
    api.enqueue(error_body("overloaded_error", "Overloaded"), status=529)

    assert batches.submit_pending() == 0

    assert set(run.steps.values_list("status", "batch_id")) == {(Step.Status.BATCHED, "")}


@pytest.mark.django_db(transaction=True)
def test_requeue_stuck_leaves_batched_steps_alone(api, claude_pipeline, make_document, run_jobs):
    run = engine.start_run(make_document(), claude_pipeline, batch_mode=True)
    run_jobs()  # their jobs have finished; the steps wait on a batch, not a job

    assert engine.requeue_stuck() == []
    assert {step.status for step in run.steps.all()} == {Step.Status.BATCHED}


@pytest.mark.django_db(transaction=True)
def test_keeprunsmoving_submits_and_polls_batches(api, claude_pipeline, make_document, run_jobs, capsys):
    engine.start_run(make_document(), claude_pipeline, batch_mode=True)
    run_jobs()
    api.enqueue(batch_body("msgbatch_1"))
    api.enqueue(batch_body("msgbatch_1", "in_progress"))

    call_command("keeprunsmoving")

    assert "submitted 2 step(s) in a message batch" in capsys.readouterr().out
    assert [request.method for request in api.requests] == ["POST", "GET"]


@pytest.mark.django_db(transaction=True)
def test_a_run_not_in_batch_mode_calls_the_messages_api_directly(api, claude_pipeline, make_document, run_jobs):
    api.enqueue(message_body(FINDINGS_REPLY))
    api.enqueue(message_body(FINDINGS_REPLY))
    api.enqueue(message_body(json.dumps({"verdicts": []})))

    run = engine.start_run(make_document(), claude_pipeline)
    run_jobs()

    run.refresh_from_db()
    assert run.status in {Run.Status.DONE, Run.Status.NEEDS_REVIEW}, run.error
    assert {request.path for request in api.requests} == {"/v1/messages"}
