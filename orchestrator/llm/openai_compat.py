"""The OpenAI-compatible provider: one Chat Completions call through the official
`openai` SDK, for models served by vLLM, Ollama, llama.cpp (or OpenAI itself).
Structured output through response_format json_schema; errors sorted into
transient and permanent for the engine's retry loop, as the Anthropic provider does.

Settings: OPENAI_BASE_URL (e.g. http://localhost:8000/v1), OPENAI_API_KEY (local
servers ignore it; any placeholder will do).
"""

from __future__ import annotations

import re
import time
from typing import Any

import openai
from django.conf import settings

from . import Completion, PermanentError, ProviderError, Request, TransientError, Usage, estimate_tokens, parse_json
from .retries import status_error

# The SDK refuses to start without a key; local servers accept any.
_PLACEHOLDER_KEY = "unused"


class OpenAICompatibleProvider:
    name = "openai_compat"
    is_stand_in = False
    supports_schema = True

    def complete(self, request: Request) -> Completion:
        started = time.monotonic()
        try:
            with _client(request.timeout_s) as client:
                response = client.chat.completions.create(**_params(request))
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from exc

        latency_ms = round((time.monotonic() - started) * 1000)
        if not response.choices:
            raise PermanentError("The OpenAI-compatible server replied with no choices")
        raw_text = response.choices[0].message.content or ""
        return Completion(
            output=parse_json(raw_text),
            raw_text=raw_text,
            usage=_usage(response.usage, request, raw_text),
            latency_ms=latency_ms,
            model=response.model or request.model,
        )


def _client(timeout_s: float) -> openai.OpenAI:
    base_url = getattr(settings, "OPENAI_BASE_URL", "") or None
    api_key = getattr(settings, "OPENAI_API_KEY", "")
    if not base_url and not api_key:
        raise PermanentError(
            "OPENAI_BASE_URL is not set; point it at your server (e.g. http://localhost:8000/v1 for vLLM, "
            "http://localhost:11434/v1 for Ollama)"
        )
    # max_retries=0, as for the Anthropic provider: the engine's loop is the only
    # one that retries, with a capped wait, and it records every attempt.
    return openai.OpenAI(api_key=api_key or _PLACEHOLDER_KEY, base_url=base_url, max_retries=0, timeout=timeout_s)


def _params(request: Request) -> dict[str, Any]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    params: dict[str, Any] = {
        "model": request.model,
        "messages": [*messages, *request.messages],
        # max_tokens rather than max_completion_tokens: vLLM, Ollama and llama.cpp
        # all read it, and not all of them read the newer name.
        "max_tokens": request.max_tokens,
        # Self-hosted models honour temperature, unlike Claude's newest.
        "temperature": request.temperature,
    }
    if request.output_schema:
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": _schema_name(request),
                "schema": strict_schema(request.output_schema),
                "strict": True,
            },
        }
    return params


# What strict mode accepts (OpenAI's structured outputs, and the servers that
# copy it): anything else is moved into the description.
STRICT_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "description",
     "title", "$defs", "$ref"}
)  # fmt: skip
# Keywords whose values are data, not schemas.
_DATA_KEYWORDS = frozenset({"enum", "const", "required"})


def strict_schema(schema: Any) -> Any:
    """`schema` in strict mode's subset: every object closed (additionalProperties
    false) with all its properties required, an optional property made nullable
    instead, and keywords strict mode does not take (minLength, maximum,
    pattern...) moved into the description as the Anthropic SDK's transform
    does. Replies are still checked against the full schema by the engine."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in STRICT_KEYWORDS:
            moved[key] = value
        elif key in _DATA_KEYWORDS:
            strict[key] = value
        elif key in ("properties", "$defs"):
            strict[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key == "additionalProperties":
            continue
        else:
            strict[key] = strict_schema(value)
    if not any(key in strict for key in ("type", "anyOf", "enum", "const", "$ref")):
        # Any JSON value: strict mode needs a type, so the scalars stand for it.
        strict["anyOf"] = [{"type": kind} for kind in ("string", "number", "boolean", "null")]
    if "properties" in strict or strict.get("type") == "object":
        properties = strict.setdefault("properties", {})
        optional = [name for name in properties if name not in schema.get("required", [])]
        for name in optional:
            properties[name] = _nullable(properties[name])
        strict["required"] = list(properties)
        strict["additionalProperties"] = False
    if moved:
        note = "{" + ", ".join(f"{key}: {value}" for key, value in moved.items()) + "}"
        strict["description"] = f"{strict['description']}\n\n{note}" if strict.get("description") else note
    return strict


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional property as strict mode says it: required, but null allowed."""
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return schema
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list):
        return {**schema, "type": [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _schema_name(request: Request) -> str:
    # The API allows [a-zA-Z0-9_-]{1,64}.
    return re.sub(r"[^a-zA-Z0-9_-]", "_", request.role or "output")[:64]


def _provider_error(exc: openai.OpenAIError) -> ProviderError:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return TransientError(f"OpenAI-compatible server unreachable: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        message = f"OpenAI-compatible API {exc.status_code}: {_api_message(exc)}"
        return status_error(exc.status_code, exc.response.headers, message)
    return PermanentError(f"OpenAI SDK error: {exc}")


def _api_message(exc: openai.APIStatusError) -> str:
    # OpenAI nests {"error": {"message"}} (the SDK unwraps it); vLLM sends a flat
    # {"message", "type", "code"}. Either way the server's words are the useful part.
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    if isinstance(body, str) and body:
        return body[:500]
    return exc.message


def _usage(usage: Any, request: Request, raw_text: str) -> Usage:
    if usage is None:
        # Some llama.cpp builds omit usage: an estimate beats recording nothing.
        prompt = "\n".join([request.system, *(str(m["content"]) for m in request.messages)])
        return Usage(input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(raw_text))
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details else 0
    written = (getattr(details, "cache_write_tokens", None) or 0) if details else 0
    # prompt_tokens includes the cached (and cache-written) tokens, unlike
    # Anthropic's input_tokens: they come off it here, or Price.cost would
    # charge them twice.
    return Usage(
        input_tokens=max(0, (usage.prompt_tokens or 0) - cached - written),
        output_tokens=usage.completion_tokens or 0,
        cache_write_tokens=written,
        cache_read_tokens=cached,
    )
