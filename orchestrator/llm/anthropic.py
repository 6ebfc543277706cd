"""The Anthropic provider: one Messages API call through the official SDK, with
structured output, a cached system prompt, and errors sorted into transient and
permanent for the engine's retry policy."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import anthropic
from django.conf import settings

from . import Completion, PermanentError, Request, TransientError, Usage

# The SDK retries these itself (with backoff, honouring retry-after) before we see them.
_TRANSIENT = (anthropic.RateLimitError, anthropic.InternalServerError, anthropic.APIConnectionError)
_TRANSIENT_STATUS = {408, 409, 429}


class AnthropicProvider:
    name = "anthropic"
    is_stand_in = False
    supports_schema = True

    def complete(self, request: Request) -> Completion:
        if not settings.ANTHROPIC_API_KEY:
            raise PermanentError("ANTHROPIC_API_KEY is not set; set it, or use the offline provider")
        started = time.monotonic()
        try:
            with anthropic.Anthropic(
                api_key=settings.ANTHROPIC_API_KEY,
                base_url=settings.ANTHROPIC_BASE_URL,
                max_retries=2,
                timeout=request.timeout_s,
            ) as client:
                message = client.messages.create(**_params(request))
        except _TRANSIENT as exc:
            raise TransientError(_describe(exc), retry_after=_retry_after(exc)) from exc
        except anthropic.APIStatusError as exc:
            if exc.status_code in _TRANSIENT_STATUS:
                raise TransientError(_describe(exc), retry_after=_retry_after(exc)) from exc
            raise PermanentError(_describe(exc)) from exc
        except anthropic.AnthropicError as exc:
            # Anything else the SDK raises (bad credentials setup, an unparseable
            # reply) will fail the same way again.
            raise PermanentError(f"Anthropic SDK error: {exc}") from exc

        latency_ms = round((time.monotonic() - started) * 1000)
        raw_text = "".join(block.text for block in message.content if block.type == "text")
        return Completion(
            output=_parse_json(raw_text),
            raw_text=raw_text,
            usage=_usage(message.usage),
            latency_ms=latency_ms,
            model=message.model or request.model,
        )


def _params(request: Request) -> dict[str, Any]:
    # SDK 2.13 has no `temperature` parameter (the newest models fix sampling
    # themselves), so request.temperature is not sent.
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": request.messages,
    }
    if request.system:
        # The system prompt is the same for every document an agent sees: cache it.
        params["system"] = [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}]
    if request.output_schema:
        # Not a forced tool: the newest models answer tool_choice any/tool with a 400.
        params["output_config"] = {"format": {"type": "json_schema", "schema": request.output_schema}}
    return params


def _parse_json(text: str) -> Any:
    """The reply as JSON, or None so the engine can retry with a correction."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _usage(usage: anthropic.types.Usage) -> Usage:
    return Usage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
        cache_read_tokens=usage.cache_read_input_tokens or 0,
    )


def _describe(exc: anthropic.APIError) -> str:
    status = getattr(exc, "status_code", None)
    if status is None:
        return f"Anthropic API unreachable: {exc.message}"
    kind = getattr(exc, "type", None) or type(exc).__name__
    detail = getattr(exc, "api_message", None) or exc.message
    return f"Anthropic API {status} {kind}: {detail}"


def _retry_after(exc: anthropic.APIError) -> float | None:
    """Seconds the API asked us to wait, from retry-after-ms or retry-after."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return max(0.0, email.utils.mktime_tz(parsed) - time.time()) if parsed else None
