"""A local HTTP server that speaks just enough of the Chat Completions API (as
vLLM, Ollama and llama.cpp serve it) for the real `openai` SDK: it answers
POST /v1/chat/completions from a queue of scripted replies and records every
request, so tests can assert what was sent. The threaded server itself is the
one tests/messages_api.py runs; only the reply shapes differ.

Use the `openai_api` fixture (import it into the test module); the SDK's
base_url is `openai_api.url + "/v1"`::

    openai_api.enqueue(chat_body('{"findings": []}'))
    openai_api.enqueue(error_body("rate limited"), status=429, headers={"retry-after": "1"})
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.messages_api import MessagesAPI, Received, Reply


def chat_body(
    text: str | None,
    *,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    cached_tokens: int | None = None,
    model: str = "qwen3-8b",
    finish_reason: str = "stop",
    usage: bool = True,
) -> dict[str, Any]:
    """A successful chat completion with one choice."""
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if cached_tokens is not None:
            body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return body


def error_body(message: str, error_type: str = "BadRequestError", code: int = 400) -> dict[str, Any]:
    """An error as OpenAI shapes it (vLLM sends the inner object unwrapped)."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


# What strict structured output accepts in a schema.
STRICT_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "description",
     "title", "$defs", "$ref"}
)  # fmt: skip


def strict_problems(schema: Any, where: str = "") -> list[str]:
    """Why strict mode would refuse this schema: a keyword it does not take, an
    object not closed, or a property left optional."""
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    found = [f"{where}: '{key}' is not permitted in strict mode" for key in schema if key not in STRICT_KEYWORDS]
    if not any(key in schema for key in ("type", "anyOf", "enum", "const", "$ref")):
        found.append(f"{where}: every schema must have a 'type' (or anyOf, enum, const, $ref)")
    if "properties" in schema or schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            found.append(f"{where}: 'additionalProperties' is required to be supplied and to be false")
        missing = sorted(set(schema.get("properties") or {}) - set(schema.get("required") or []))
        if missing:
            found.append(f"{where}: 'required' is required to include every property; missing {missing}")
    for name, sub in (schema.get("properties") or {}).items():
        found += strict_problems(sub, f"{where}.properties.{name}")
    if "items" in schema:
        found += strict_problems(schema["items"], f"{where}.items")
    for index, sub in enumerate(schema.get("anyOf") or []):
        found += strict_problems(sub, f"{where}.anyOf.{index}")
    return found


class ChatCompletionsAPI(MessagesAPI):
    """Strict as the real API is about strict-mode schemas: a response_format
    with strict true whose schema strict mode does not take gets a 400."""

    def _next_reply(self, received: Received) -> Reply:
        fmt = (received.body.get("response_format") or {}) if isinstance(received.body, dict) else {}
        spec = fmt.get("json_schema") or {}
        where = "response_format.json_schema.schema"
        problems = strict_problems(spec.get("schema"), where) if spec.get("strict") else []
        with self._lock:
            self.requests.append(received)
            if problems:
                self.refused.append((received, problems))
                return Reply(error_body("Invalid schema for response_format: " + "; ".join(problems)), status=400)
            if self._replies:
                return self._replies.popleft()
        # A 400 is not retried, so a test that under-scripts fails at once and says why.
        return Reply(error_body("openai_api: no scripted reply left"), status=400)


@pytest.fixture
def openai_api():
    """A started ChatCompletionsAPI on 127.0.0.1 with a free port, stopped after the test."""
    api = ChatCompletionsAPI().start()
    yield api
    api.stop()
