"""The Anthropic provider: one Messages API call through the official SDK, with
structured output, a cached system prompt, and errors sorted into transient and
permanent for the engine's retry loop. Also counts a request's input tokens for
the cost estimator, and sends requests through the Message Batches API for runs
in batch mode (orchestrator.runs.batches)."""

from __future__ import annotations

import time
from typing import Any

import anthropic
from django.conf import settings

from . import Completion, PermanentError, ProviderError, Request, TransientError, Usage, parse_json
from .retries import status_error

# Counting tokens is a nicety of the estimator page: it must not hold the page up.
COUNT_TIMEOUT_S = 5.0


class AnthropicProvider:
    name = "anthropic"
    is_stand_in = False
    supports_schema = True

    def complete(self, request: Request) -> Completion:
        started = time.monotonic()
        try:
            with _client(request.timeout_s) as client:
                message = client.messages.create(**message_params(request))
        except anthropic.AnthropicError as exc:
            raise _provider_error(exc) from exc

        return _completion(message, request.model, round((time.monotonic() - started) * 1000))


def _completion(message: anthropic.types.Message, model: str, latency_ms: int) -> Completion:
    raw_text = "".join(block.text for block in message.content if block.type == "text")
    return Completion(
        output=parse_json(raw_text),
        raw_text=raw_text,
        usage=_usage(message.usage),
        latency_ms=latency_ms,
        model=message.model or model,
    )


# --- Message Batches ---------------------------------------------------------------

BATCH_TIMEOUT_S = 60.0


def submit_batch(requests: dict[str, Request]) -> str:
    """Send the requests, keyed by custom id, as one Message Batch; its id.
    Raises ProviderError like complete()."""
    try:
        with _client(BATCH_TIMEOUT_S) as client:
            batch = client.messages.batches.create(
                requests=[{"custom_id": key, "params": message_params(request)} for key, request in requests.items()]
            )
    except anthropic.AnthropicError as exc:
        raise _provider_error(exc) from exc
    return batch.id


def batch_results(batch_id: str) -> dict[str, Completion | PermanentError] | None:
    """None while the batch is processing; once it has ended, each request's
    outcome by custom id: a Completion (latency 0: the caller knows how long it
    waited), or the error, expiry or cancellation that ended it."""
    try:
        with _client(BATCH_TIMEOUT_S) as client:
            if client.messages.batches.retrieve(batch_id).processing_status != "ended":
                return None
            return {item.custom_id: _batch_outcome(item.result) for item in client.messages.batches.results(batch_id)}
    except anthropic.AnthropicError as exc:
        raise _provider_error(exc) from exc


def _batch_outcome(result) -> Completion | PermanentError:
    if result.type == "succeeded":
        return _completion(result.message, result.message.model, 0)
    if result.type == "errored":
        error = result.error.error
        return PermanentError(f"Anthropic batch request errored: {error.type}: {error.message}")
    # expired (not processed within 24 hours) or canceled
    return PermanentError(f"Anthropic batch request {result.type}")


def count_tokens(request: Request) -> int:
    """The input tokens `request` would be billed for, from the API's (free)
    token-counting endpoint. Raises ProviderError like complete()."""
    params = {key: value for key, value in message_params(request).items() if key != "max_tokens"}
    try:
        with _client(min(request.timeout_s, COUNT_TIMEOUT_S)) as client:
            return client.messages.count_tokens(**params).input_tokens
    except anthropic.AnthropicError as exc:
        raise _provider_error(exc) from exc


def _client(timeout_s: float) -> anthropic.Anthropic:
    if not settings.ANTHROPIC_API_KEY:
        raise PermanentError("ANTHROPIC_API_KEY is not set; set it, or use the offline provider")
    # max_retries=0: SDK 2.13 would sleep out any retry-after however long (a worker
    # stalled for an hour) and hide its attempts; the engine's loop retries instead,
    # with a capped wait (retries.py), and records each attempt on the step.
    return anthropic.Anthropic(
        api_key=settings.ANTHROPIC_API_KEY,
        base_url=settings.ANTHROPIC_BASE_URL,
        max_retries=0,
        timeout=timeout_s,
    )


def message_params(request: Request) -> dict[str, Any]:
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


def _provider_error(exc: anthropic.AnthropicError) -> ProviderError:
    """Sort an SDK error: rate limits, overload (529), 5xx, timeouts and dropped
    connections may pass; bad requests, credentials and refusals will not."""
    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return TransientError(_describe(exc))
    if isinstance(exc, anthropic.APIStatusError):
        return status_error(exc.status_code, exc.response.headers, _describe(exc))
    # Anything else the SDK raises (a reply it cannot parse, a setup problem)
    # will fail the same way again.
    return PermanentError(f"Anthropic SDK error: {exc}")


def _usage(usage: anthropic.types.Usage) -> Usage:
    # The API counts cache writes and reads apart from input_tokens, so each is
    # priced at its own rate (Price.cost) with no double counting.
    written_5m = usage.cache_creation_input_tokens or 0
    written_1h = 0
    # cache_creation splits the writes by cache lifetime; the 1-hour cache costs
    # more. Without it (older API versions) every write is taken as 5-minute,
    # the lifetime this app asks for.
    if usage.cache_creation is not None:
        written_5m = usage.cache_creation.ephemeral_5m_input_tokens or 0
        written_1h = usage.cache_creation.ephemeral_1h_input_tokens or 0
    return Usage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_write_tokens=written_5m,
        cache_write_1h_tokens=written_1h,
        cache_read_tokens=usage.cache_read_input_tokens or 0,
    )


def _describe(exc: anthropic.APIError) -> str:
    status = getattr(exc, "status_code", None)
    if status is None:
        return f"Anthropic API unreachable: {exc.message}"
    kind = getattr(exc, "type", None) or type(exc).__name__
    detail = getattr(exc, "api_message", None) or exc.message
    return f"Anthropic API {status} {kind}: {detail}"
