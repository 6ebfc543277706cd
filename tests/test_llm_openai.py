"""The OpenAI-compatible provider (vLLM, Ollama, llama.cpp), through the real
`openai` SDK, against a local Chat Completions server."""

import json

import pytest

from orchestrator import engine
from orchestrator.llm import PermanentError, Request, TransientError, get_provider
from orchestrator.llm.openai_compat import strict_schema
from orchestrator.models import Agent, Step
from orchestrator.patterns.schemas import FINDINGS
from tests.openai_api import chat_body, error_body, openai_api  # noqa: F401 (fixture)

FINDING = {
    "type": "auto_renewal",
    "title": "Automatic renewal",
    "severity": "high",
    "evidence": "This Agreement shall automatically renew.",
    "explanation": "Definite wording.",
}


@pytest.fixture
def api(openai_api, settings):  # noqa: F811 (the imported fixture)
    settings.OPENAI_BASE_URL = openai_api.url + "/v1"
    settings.OPENAI_API_KEY = ""  # a local server needs none
    return openai_api


def _request(**overrides) -> Request:
    values = {
        "system": "You are a careful contract reviewer.",
        "messages": [{"role": "user", "content": "Review this contract: ..."}],
        "model": "qwen3-8b",
        "output_schema": FINDINGS,
        "max_tokens": 1024,
        "temperature": 0.2,
        "timeout_s": 10.0,
        "role": "advocate",
    }
    return Request(**{**values, **overrides})


def _complete(**overrides):
    return get_provider("openai_compat").complete(_request(**overrides))


def test_it_parses_a_structured_reply_with_usage(api):
    api.enqueue(chat_body(json.dumps({"findings": [FINDING]}), prompt_tokens=1500, completion_tokens=90))

    completion = _complete()

    assert completion.output == {"findings": [FINDING]}
    assert completion.model == "qwen3-8b"
    usage = completion.usage
    assert (usage.input_tokens, usage.output_tokens) == (1500, 90)
    assert (usage.cache_write_tokens, usage.cache_read_tokens) == (0, 0)


def test_it_sends_the_schema_as_a_strict_response_format(api):
    api.enqueue(chat_body('{"findings": []}'))

    _complete()

    [sent] = api.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "advocate", "schema": strict_schema(FINDINGS), "strict": True},
    }
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are a careful contract reviewer."},
        {"role": "user", "content": "Review this contract: ..."},
    ]
    assert (sent.body["model"], sent.body["max_tokens"], sent.body["temperature"]) == ("qwen3-8b", 1024, 0.2)
    # The SDK insists on a key; a placeholder stands in for servers that need none.
    assert sent.headers["authorization"] == "Bearer unused"


def test_cached_prompt_tokens_are_counted_apart_from_fresh_input(api):
    api.enqueue(chat_body('{"findings": []}', prompt_tokens=2000, completion_tokens=50, cached_tokens=1500))

    usage = _complete().usage

    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (500, 1500, 50)


def test_a_reply_without_usage_is_estimated(api):
    api.enqueue(chat_body('{"findings": []}', usage=False))

    usage = _complete().usage

    assert usage.input_tokens > 0 and usage.output_tokens > 0


def test_malformed_json_gives_no_output_but_keeps_the_text(api):
    api.enqueue(chat_body('{"findings": [{"type": "auto_renewal",'))

    completion = _complete()

    assert completion.output is None
    assert completion.raw_text == '{"findings": [{"type": "auto_renewal",'


def test_an_empty_reply_gives_no_output(api):
    api.enqueue(chat_body(None, finish_reason="length"))

    completion = _complete()

    assert (completion.output, completion.raw_text) == (None, "")


def test_a_rate_limit_is_transient_and_carries_retry_after(api):
    api.enqueue(error_body("Rate limit reached", "rate_limit_error", 429), status=429, headers={"retry-after": "1"})

    with pytest.raises(TransientError, match="429: Rate limit reached") as caught:
        _complete()

    assert caught.value.retry_after == 1.0
    assert len(api.requests) == 1


def test_an_hour_long_retry_after_is_capped(api):
    api.enqueue(error_body("Come back later", "rate_limit_error", 429), status=429, headers={"retry-after": "3600"})

    with pytest.raises(TransientError) as caught:
        _complete()

    assert caught.value.retry_after == 20.0  # QUORUM_RETRY_AFTER_CAP_S's default
    assert len(api.requests) == 1  # the SDK made no retry (and no wait) of its own


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409])
def test_server_errors_are_transient(api, status):
    api.enqueue(error_body("engine crashed", "InternalServerError", status), status=status)

    with pytest.raises(TransientError, match=f"{status}: engine crashed"):
        _complete()

    assert len(api.requests) == 1


def test_the_server_saying_do_not_retry_is_permanent(api):
    api.enqueue(error_body("no", "InternalServerError", 500), status=500, headers={"x-should-retry": "false"})

    with pytest.raises(PermanentError, match="500: no"):
        _complete()


def test_a_bad_request_is_permanent_and_not_retried(api):
    api.enqueue(error_body("This model's maximum context length is 8192 tokens"), status=400)

    with pytest.raises(PermanentError, match="maximum context length is 8192") as caught:
        _complete()

    assert len(api.requests) == 1
    assert not caught.value.retryable


def test_a_flat_vllm_error_body_gives_its_message(api):
    api.enqueue({"object": "error", "message": "model 'nope' does not exist", "type": "NotFoundError"}, status=404)

    with pytest.raises(PermanentError, match="model 'nope' does not exist"):
        _complete()


def test_a_slow_reply_times_out_as_transient(api):
    # The reply would come, well formed, after 5 s: only the 0.3 s timeout makes this fail.
    api.enqueue(chat_body('{"findings": []}'), delay=5)

    with pytest.raises(TransientError, match="unreachable"):
        _complete(timeout_s=0.3)

    assert len(api.requests) == 1


def test_no_server_configured_is_permanent(settings):
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""

    with pytest.raises(PermanentError, match="OPENAI_BASE_URL"):
        _complete()


def test_a_step_on_a_self_hosted_model_retries_then_succeeds(db, api, debate_pipeline, make_document):
    Agent.objects.filter(pipelineslot__pipeline=debate_pipeline).update(provider="openai_compat", model="qwen3-8b")
    api.enqueue(error_body("busy", "rate_limit_error", 429), status=429, headers={"retry-after-ms": "10"})
    api.enqueue(chat_body('{"findings": [{"type": "auto_renewal",'))
    api.enqueue(chat_body(json.dumps({"findings": [FINDING]}), prompt_tokens=800, completion_tokens=60))

    run = engine.start_run(make_document(), debate_pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    step.refresh_from_db()

    assert step.status == Step.Status.SUCCEEDED
    assert step.provider == "openai_compat"
    assert step.output == {"findings": [FINDING]}
    assert step.validation_errors == ["The reply was not valid JSON."]
    assert [a["error_class"] for a in step.attempts] == ["TransientError", "", ""]
    assert step.cost == 0  # no ModelPrice row for a self-hosted model: no charge recorded
