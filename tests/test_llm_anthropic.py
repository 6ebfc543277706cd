"""The Anthropic provider, through the real SDK, against a local Messages API;
and real engine steps on Claude agents (retries, capped waits, pricing, the
corrective retry)."""

import json
from decimal import Decimal

import pytest

from orchestrator import engine
from orchestrator.llm import PermanentError, Request, TransientError, get_provider
from orchestrator.llm.anthropic import api_schema, count_tokens
from orchestrator.models import Agent, Run, Step
from orchestrator.patterns.schemas import FINDINGS
from tests.messages_api import error_body, message_body, messages_api  # noqa: F401 (fixture)

FINDING = {
    "type": "auto_renewal",
    "title": "Automatic renewal",
    "severity": "high",
    "evidence": "This Agreement shall automatically renew.",
    "explanation": "Definite wording.",
}
FINDINGS_REPLY = json.dumps({"findings": [FINDING]})
FAST_RETRY = {"retry-after-ms": "10"}


@pytest.fixture
def api(messages_api, settings):  # noqa: F811 (the imported fixture)
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_BASE_URL = messages_api.url
    return messages_api


def _request(**overrides) -> Request:
    values = {
        "system": "You are a careful contract reviewer.",
        "messages": [{"role": "user", "content": "Review this contract: ..."}],
        "model": "claude-haiku-4-5",
        "output_schema": FINDINGS,
        "max_tokens": 1024,
        "timeout_s": 10.0,
    }
    return Request(**{**values, **overrides})


def _complete(**overrides):
    return get_provider("anthropic").complete(_request(**overrides))


# --- one call --------------------------------------------------------------------


def test_it_parses_a_structured_reply_with_usage(api):
    api.enqueue(
        message_body(
            json.dumps({"findings": [FINDING]}),
            input_tokens=1200,
            output_tokens=80,
            cache_creation_input_tokens=900,
            cache_read_input_tokens=300,
        )
    )

    completion = _complete()

    assert completion.output == {"findings": [FINDING]}
    assert json.loads(completion.raw_text) == {"findings": [FINDING]}
    assert completion.model == "claude-haiku-4-5"
    assert completion.latency_ms >= 0
    usage = completion.usage
    assert (usage.input_tokens, usage.output_tokens) == (1200, 80)
    assert (usage.cache_write_tokens, usage.cache_read_tokens) == (900, 300)


def test_it_reads_the_1_hour_cache_writes_apart(api):
    api.enqueue(
        message_body(
            FINDINGS_REPLY,
            cache_creation_input_tokens=900,
            cache_creation={"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 300},
        )
    )

    usage = _complete().usage

    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (600, 300)


def test_it_sends_the_schema_in_the_apis_subset_and_no_cache_mark_on_a_short_prompt(api):
    api.enqueue(message_body('{"findings": []}'))

    _complete()

    [sent] = api.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == "Bearer sk-ant-test-key"
    assert sent.body["output_config"] == {"format": {"type": "json_schema", "schema": api_schema(FINDINGS)}}
    assert "tool_choice" not in sent.body and "tools" not in sent.body
    # A 25-word system prompt is far below any model's minimum cacheable length: no breakpoint.
    assert sent.body["system"] == [{"type": "text", "text": "You are a careful contract reviewer."}]
    assert api.refused == []
    assert sent.body["model"] == "claude-haiku-4-5"
    assert sent.body["max_tokens"] == 1024
    assert sent.body["messages"] == [{"role": "user", "content": "Review this contract: ..."}]


def test_it_sends_no_output_config_without_a_schema(api):
    api.enqueue(message_body("plain prose"))

    completion = _complete(output_schema=None)

    assert "output_config" not in api.requests[0].body
    assert completion.output is None
    assert completion.raw_text == "plain prose"


def test_malformed_json_gives_no_output_but_keeps_the_text(api):
    api.enqueue(message_body('{"findings": [{"type": "auto_renewal",'))

    completion = _complete()

    assert completion.output is None
    assert completion.raw_text == '{"findings": [{"type": "auto_renewal",'


def test_it_counts_input_tokens_with_the_same_system_and_schema(api):
    api.enqueue({"input_tokens": 4321})

    assert count_tokens(_request()) == 4321

    [sent] = api.requests
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["system"][0]["text"] == "You are a careful contract reviewer."
    assert sent.body["output_config"]["format"]["schema"] == api_schema(FINDINGS)
    assert "max_tokens" not in sent.body


# --- errors: one call each, the engine does the retrying ---------------------------


def test_a_rate_limit_is_transient_and_carries_retry_after(api):
    api.enqueue(error_body("rate_limit_error", "Too many requests"), status=429, headers={"retry-after": "1"})

    with pytest.raises(TransientError, match="429") as caught:
        _complete()

    assert caught.value.retryable
    assert caught.value.retry_after == 1.0
    assert len(api.requests) == 1  # the SDK did not sleep and retry by itself


def test_retry_after_ms_wins_over_retry_after(api):
    api.enqueue(error_body("rate_limit_error", "Slow down"), status=429, headers={"retry-after-ms": "20"})

    with pytest.raises(TransientError) as caught:
        _complete()

    assert caught.value.retry_after == pytest.approx(0.02)


def test_an_hour_long_retry_after_is_capped_and_left_to_the_engine(api):
    api.enqueue(error_body("rate_limit_error", "Come back later"), status=429, headers={"retry-after": "3600"})

    with pytest.raises(TransientError) as caught:
        _complete()

    assert caught.value.retry_after == 20.0  # QUORUM_RETRY_AFTER_CAP_S's default
    assert len(api.requests) == 1  # the SDK made no retry (and no wait) of its own


def test_the_cap_is_a_setting(api, settings):
    settings.QUORUM_RETRY_AFTER_CAP_S = 2
    api.enqueue(error_body("rate_limit_error", "Come back later"), status=429, headers={"retry-after": "3600"})

    with pytest.raises(TransientError) as caught:
        _complete()

    assert caught.value.retry_after == 2.0


def test_overload_is_transient(api):
    api.enqueue(error_body("overloaded_error", "Overloaded"), status=529, headers=FAST_RETRY)

    with pytest.raises(TransientError) as caught:
        _complete()

    assert "529" in str(caught.value) and "Overloaded" in str(caught.value)
    assert caught.value.retry_after == pytest.approx(0.01)
    assert len(api.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409])
def test_server_errors_are_transient(api, status):
    api.enqueue(error_body("api_error", "Internal error"), status=status)

    with pytest.raises(TransientError, match=str(status)) as caught:
        _complete()

    assert caught.value.retry_after is None  # the engine backs off on its own


def test_the_api_saying_do_not_retry_is_permanent(api):
    api.enqueue(error_body("api_error", "Will not work"), status=500, headers={"x-should-retry": "false"})

    with pytest.raises(PermanentError, match="Will not work"):
        _complete()


def test_a_bad_request_is_permanent_and_not_retried(api):
    api.enqueue(error_body("invalid_request_error", "max_tokens: must be at most 64000"), status=400)

    with pytest.raises(PermanentError, match="max_tokens: must be at most 64000") as caught:
        _complete()

    assert len(api.requests) == 1
    assert not caught.value.retryable


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_client_errors_are_permanent(api, status):
    api.enqueue(error_body("authentication_error", f"refused with {status}"), status=status)

    with pytest.raises(PermanentError, match=f"refused with {status}"):
        _complete()

    assert len(api.requests) == 1


def test_a_slow_reply_times_out_as_transient_after_the_agents_timeout(api):
    # The reply would come, well formed, after 5 s: only the 0.3 s timeout makes this fail.
    api.enqueue(message_body('{"findings": []}'), delay=5)

    with pytest.raises(TransientError, match="unreachable"):
        _complete(timeout_s=0.3)

    assert len(api.requests) == 1


def test_an_unreachable_server_is_transient(settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens

    with pytest.raises(TransientError):
        _complete(timeout_s=2.0)


def test_a_missing_key_is_permanent(settings):
    settings.ANTHROPIC_API_KEY = ""

    with pytest.raises(PermanentError, match="ANTHROPIC_API_KEY"):
        _complete()


# --- real engine steps on Claude agents --------------------------------------------


@pytest.fixture
def claude_pipeline(debate_pipeline, api):
    """The seeded debate pipeline with every agent on Claude Haiku 4.5."""
    Agent.objects.filter(pipelineslot__pipeline=debate_pipeline).update(provider="anthropic", model="claude-haiku-4-5")
    return debate_pipeline


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The seconds the engine asked to sleep between attempts, recorded instead of
    slept: the clock is the I/O edge here, so tests assert the wait, not a duration."""
    asked: list[float] = []
    monkeypatch.setattr(engine, "sleep", asked.append)
    return asked


def _run_advocate_a(make_document, pipeline) -> Step:
    run = engine.start_run(make_document(), pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    step.refresh_from_db()
    return step


def test_a_step_prices_each_kind_of_token_at_its_own_rate(db, api, claude_pipeline, make_document):
    api.enqueue(
        message_body(
            FINDINGS_REPLY,
            input_tokens=1200,
            output_tokens=80,
            cache_creation_input_tokens=900,
            cache_read_input_tokens=300,
        )
    )

    step = _run_advocate_a(make_document, claude_pipeline)

    assert step.status == Step.Status.SUCCEEDED
    assert (step.input_tokens, step.output_tokens) == (1200, 80)
    assert (step.cache_write_tokens, step.cache_read_tokens) == (900, 300)
    # Haiku 4.5: $1 in, $5 out, $1.25 cache write, $0.10 cache read per million:
    # 1200 x 1 + 80 x 5 + 900 x 1.25 + 300 x 0.1 = 2755 millionths of a dollar.
    assert step.cost == Decimal("0.002755")
    assert step.provider == "anthropic" and step.model == "claude-haiku-4-5"


def test_a_step_charges_1_hour_cache_writes_at_their_own_rate(db, api, claude_pipeline, make_document):
    api.enqueue(
        message_body(
            FINDINGS_REPLY,
            input_tokens=1000,
            output_tokens=0,
            cache_creation_input_tokens=1000,
            cache_creation={"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600},
        )
    )

    step = _run_advocate_a(make_document, claude_pipeline)

    assert step.cache_write_tokens == 1000  # both lifetimes' writes
    # Haiku 4.5: 1000 x $1 + 400 x $1.25 (5-minute) + 600 x $2 (1-hour) per million.
    assert step.cost == Decimal("0.002700")
    assert step.price["cache_write_1h_per_mtok"] == "2.0000"


def test_a_step_waits_out_a_rate_limit_and_records_both_attempts(db, api, claude_pipeline, make_document, waits):
    api.enqueue(error_body("rate_limit_error", "Too many requests"), status=429, headers={"retry-after": "1"})
    api.enqueue(message_body(FINDINGS_REPLY))

    step = _run_advocate_a(make_document, claude_pipeline)

    assert step.status == Step.Status.SUCCEEDED
    assert waits == [1.0]  # what the API asked for
    assert [a["error_class"] for a in step.attempts] == ["TransientError", ""]
    assert "429" in step.attempts[0]["error"]
    assert len(api.requests) == 2


def test_a_step_does_not_sleep_out_an_hour_long_retry_after(db, api, claude_pipeline, make_document, settings, waits):
    settings.QUORUM_RETRY_AFTER_CAP_S = 7
    api.enqueue(error_body("rate_limit_error", "Come back later"), status=429, headers={"retry-after": "3600"})
    api.enqueue(message_body(FINDINGS_REPLY))

    step = _run_advocate_a(make_document, claude_pipeline)

    assert waits == [7.0]  # the cap, not the hour
    assert step.status == Step.Status.SUCCEEDED
    assert len(step.attempts) == 2


@pytest.mark.parametrize("status", [529, 500])
def test_a_step_retries_overload_and_server_errors(db, api, claude_pipeline, make_document, status):
    api.enqueue(error_body("overloaded_error", "Overloaded"), status=status, headers=FAST_RETRY)
    api.enqueue(message_body(FINDINGS_REPLY))

    step = _run_advocate_a(make_document, claude_pipeline)

    assert step.status == Step.Status.SUCCEEDED
    assert [a["error_class"] for a in step.attempts] == ["TransientError", ""]
    assert step.output == {"findings": [FINDING]}


def test_a_step_fails_after_the_engines_attempts_run_out(db, api, claude_pipeline, make_document, settings):
    settings.QUORUM_STEP_MAX_ATTEMPTS = 3
    for _ in range(3):
        api.enqueue(error_body("overloaded_error", "Overloaded"), status=529, headers=FAST_RETRY)

    step = _run_advocate_a(make_document, claude_pipeline)

    assert step.status == Step.Status.FAILED
    assert len(api.requests) == 3  # the engine's three attempts, none hidden in the SDK
    assert [a["error_class"] for a in step.attempts] == ["TransientError"] * 3
    assert "529" in step.error


def test_a_step_with_a_bad_request_fails_at_once_with_the_apis_message(db, api, claude_pipeline, make_document):
    api.enqueue(error_body("invalid_request_error", "model: unknown model 'claude-nope'"), status=400)

    step = _run_advocate_a(make_document, claude_pipeline)

    assert step.status == Step.Status.FAILED
    assert "unknown model 'claude-nope'" in step.error
    assert len(step.attempts) == 1 and step.attempts[0]["error_class"] == "PermanentError"
    assert len(api.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_invalid_json_gets_one_corrective_retry_in_a_real_run(api, claude_pipeline, make_document, run_jobs):
    # Steps run one after another in this worker, so the replies are taken in order:
    # the first advocate's broken reply and its correction, the other advocate, the judge.
    api.enqueue(message_body('{"findings": [{"type": "auto_renewal",', input_tokens=1000, output_tokens=10))
    api.enqueue(message_body(FINDINGS_REPLY, input_tokens=1100, output_tokens=90))
    api.enqueue(message_body(FINDINGS_REPLY))
    api.enqueue(message_body(json.dumps({"verdicts": []})))

    run = engine.start_run(make_document(), claude_pipeline)
    run_jobs()
    run.refresh_from_db()

    assert run.status in {Run.Status.DONE, Run.Status.NEEDS_REVIEW}, run.error
    [corrected] = [step for step in run.steps.all() if step.validation_errors]
    assert corrected.status == Step.Status.SUCCEEDED
    assert corrected.validation_errors == ["The reply was not valid JSON."]
    assert len(corrected.attempts) == 2
    assert corrected.output == {"findings": [FINDING]}
    # Both calls are paid for: (1000 + 1100) x $1 + (10 + 90) x $5 per million.
    assert (corrected.input_tokens, corrected.output_tokens) == (2100, 100)
    assert corrected.cost == Decimal("0.0026")
    # The correction showed the model its broken reply and what was wrong with it.
    correction = api.requests[1].body["messages"]
    assert correction[1] == {"role": "assistant", "content": '{"findings": [{"type": "auto_renewal",'}
    assert "not valid JSON" in correction[2]["content"]
    assert len(api.requests) == 4
    assert run.result["findings"][0]["status"] == "agreed"
