"""The Anthropic provider, through the real SDK, against a local Messages API."""

import json
import time

import pytest

from orchestrator.llm import PermanentError, Request, TransientError, get_provider
from orchestrator.schemas import FINDINGS
from tests.messages_api import error_body, message_body, messages_api  # noqa: F401 (fixture)

FINDING = {
    "type": "auto_renewal",
    "title": "Automatic renewal",
    "severity": "high",
    "evidence": "This Agreement shall automatically renew.",
    "explanation": "Definite wording.",
}
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


def test_it_sends_the_schema_and_caches_the_system_prompt(api):
    api.enqueue(message_body('{"findings": []}'))

    _complete()

    [sent] = api.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == "Bearer sk-ant-test-key"
    assert sent.body["output_config"] == {"format": {"type": "json_schema", "schema": FINDINGS}}
    assert "tool_choice" not in sent.body and "tools" not in sent.body
    assert sent.body["system"] == [
        {"type": "text", "text": "You are a careful contract reviewer.", "cache_control": {"type": "ephemeral"}}
    ]
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


def test_it_waits_out_a_rate_limit_and_retries(api):
    api.enqueue(error_body("rate_limit_error", "Too many requests"), status=429, headers={"retry-after": "1"})
    api.enqueue(message_body('{"findings": []}'))

    started = time.monotonic()
    completion = _complete()
    elapsed = time.monotonic() - started

    assert completion.output == {"findings": []}
    assert len(api.requests) == 2
    assert elapsed >= 0.95


def test_it_retries_when_overloaded(api):
    api.enqueue(error_body("overloaded_error", "Overloaded"), status=529, headers=FAST_RETRY)
    api.enqueue(message_body('{"findings": []}'))

    completion = _complete()

    assert completion.output == {"findings": []}
    assert len(api.requests) == 2


def test_persistent_overload_is_a_transient_error(api):
    for _ in range(3):
        api.enqueue(error_body("overloaded_error", "Overloaded"), status=529, headers=FAST_RETRY)

    with pytest.raises(TransientError) as caught:
        _complete()

    assert len(api.requests) == 3  # the first try and the SDK's two retries
    assert caught.value.retryable
    assert caught.value.retry_after == pytest.approx(0.01)
    assert "529" in str(caught.value) and "Overloaded" in str(caught.value)


def test_a_server_error_is_transient(api):
    for _ in range(3):
        api.enqueue(error_body("api_error", "Internal error"), status=500, headers=FAST_RETRY)

    with pytest.raises(TransientError, match="500"):
        _complete()


def test_a_rate_limit_that_persists_carries_retry_after(api):
    for _ in range(3):
        api.enqueue(error_body("rate_limit_error", "Slow down"), status=429, headers={"retry-after-ms": "20"})

    with pytest.raises(TransientError) as caught:
        _complete()

    assert caught.value.retry_after == pytest.approx(0.02)


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


def test_a_slow_reply_times_out_as_transient(api):
    for _ in range(3):
        api.enqueue(message_body('{"findings": []}'), delay=2)

    with pytest.raises(TransientError, match="unreachable"):
        _complete(timeout_s=0.3)

    assert len(api.requests) == 3


def test_an_unreachable_server_is_transient(settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens

    with pytest.raises(TransientError):
        _complete(timeout_s=2.0)


def test_a_missing_key_is_permanent(settings):
    settings.ANTHROPIC_API_KEY = ""

    with pytest.raises(PermanentError, match="ANTHROPIC_API_KEY"):
        _complete()
