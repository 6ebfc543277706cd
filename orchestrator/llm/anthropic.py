"""The Anthropic provider: one Messages API call through the official SDK, with
structured output (schemas in the subset the API takes, api_schema), the
document first and cached when it pays (message_params), and errors sorted into transient and
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
                requests=[
                    {"custom_id": key, "params": message_params(request, cache_ttl="1h")}
                    for key, request in requests.items()
                ]
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


# The shortest prefix each model will cache, in tokens (Anthropic's prompt caching
# docs): a cache_control breakpoint below it caches nothing, so none is sent.
# Longest prefix of the model id wins; unknown models get the largest figure.
MIN_CACHEABLE_TOKENS = {
    "claude-haiku-3": 2048,
    "claude-3-haiku": 2048,
    "claude-3-5-haiku": 2048,
    "claude-haiku-4-5": 4096,
    "claude-haiku": 4096,
    "claude-opus-4-5": 4096,
    "claude-opus-4-6": 4096,
    "claude-opus-4-7": 2048,
    "claude-opus": 1024,
    "claude-sonnet-4-6": 2048,
    "claude-sonnet": 1024,
}
DEFAULT_MIN_CACHEABLE_TOKENS = 4096
# At most this many cache_control breakpoints in one request.
MAX_BREAKPOINTS = 4


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix `model` caches, in tokens."""
    matches = [prefix for prefix in MIN_CACHEABLE_TOKENS if model.startswith(prefix)]
    return MIN_CACHEABLE_TOKENS[max(matches, key=len)] if matches else DEFAULT_MIN_CACHEABLE_TOKENS


def prefix_tokens(text: str) -> int:
    """A floor on the tokens of `text`: a character count over four. Claude's
    tokenizer gives English more tokens than that, so a prefix this counts as
    long enough to cache is long enough."""
    return len(text) // 4


def api_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` in the subset the structured-output endpoint accepts, by the
    SDK's own transform: every object closed (additionalProperties false),
    unsupported keywords (minLength, maximum, pattern...) moved into the
    description, where the model reads them but the API does not enforce them.
    The engine still checks replies against the full schema and asks for a
    correction when one of those constraints is broken."""
    return anthropic.transform_schema(_split_type_lists(schema))


# An untyped schema ({}: any JSON value) has no form structured output takes; the
# scalar types stand for it (the full schema, checked locally, still allows more).
ANY_SCALAR = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
_TYPING_KEYWORDS = ("type", "anyOf", "oneOf", "allOf", "enum", "const", "$ref")


def _split_type_lists(schema: Any) -> Any:
    """What transform_schema needs before it can read a schema: a JSON Schema
    type list ("string or null") becomes an anyOf of one schema per type, the
    constraints on the non-null ones, and an untyped schema an anyOf of scalars."""
    if not isinstance(schema, dict):
        return schema
    split = dict(schema)
    for key in ("properties", "$defs"):
        if isinstance(split.get(key), dict):
            split[key] = {name: _split_type_lists(sub) for name, sub in split[key].items()}
    if isinstance(split.get("items"), dict):
        split["items"] = _split_type_lists(split["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(split.get(key), list):
            split[key] = [_split_type_lists(sub) for sub in split[key]]
    if not any(key in split for key in _TYPING_KEYWORDS):
        return {"anyOf": ANY_SCALAR, **split}
    types = split.get("type")
    if not isinstance(types, list):
        return split
    outer = {key: split.pop(key) for key in ("description", "title") if key in split}
    split.pop("type")
    variants = [{"type": "null"} if kind == "null" else {"type": kind, **split} for kind in types]
    return {"anyOf": variants, **outer} if len(variants) > 1 else {**variants[0], **outer}


def message_params(request: Request, *, cache_ttl: str = "5m") -> dict[str, Any]:
    """The Messages API parameters for `request`. The stable context (document,
    rubric) goes first in the system prompt, then the agent's own instructions;
    the context carries a cache breakpoint when it is read again on this model
    (request.cache_context) and reaches the model's minimum cacheable length.
    Batch mode asks for the 1-hour cache: a batch may take longer than five
    minutes to reach the next request that reads the prefix."""
    # SDK 2.13 has no `temperature` parameter (the newest models fix sampling
    # themselves), so request.temperature is not sent.
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": request.messages,
    }
    blocks = [{"type": "text", "text": text} for text in request.context]
    # The first block (the document) is what every agent of the run shares.
    shared = request.context[0] if request.context else ""
    if request.cache_context and shared and prefix_tokens(shared) >= min_cacheable_tokens(request.model):
        control = {"type": "ephemeral"} if cache_ttl == "5m" else {"type": "ephemeral", "ttl": cache_ttl}
        blocks[0]["cache_control"] = control
    if request.system:
        blocks.append({"type": "text", "text": request.system})
    if blocks:
        params["system"] = blocks
    if request.output_schema:
        # Not a forced tool: the newest models answer tool_choice any/tool with a 400.
        params["output_config"] = {"format": {"type": "json_schema", "schema": api_schema(request.output_schema)}}
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
