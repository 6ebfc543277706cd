"""The model layer: one small interface, a request in and a completion out.

A provider is a class with a `complete(request) -> Completion` method and its
capabilities as class attributes. Providers are registered by name in PROVIDERS:
anthropic.py and openai_compat.py call real models through their SDKs (and read
HTTP errors the same way, retries.py); offline/ is the rule-based stand-in that
needs no model at all. prices.py turns a completion's Usage into dollars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(Exception):
    """A model call failed. `retryable` says whether trying again may help."""

    retryable = False


class TransientError(ProviderError):
    """Rate limits, overload, 5xx, timeouts, dropped connections: try again later."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    """Bad request, bad credentials, refused content: retrying will not help."""


@dataclass(frozen=True)
class Request:
    system: str
    # Anthropic-style messages: [{"role": "user" | "assistant", "content": str}]
    messages: list[dict[str, Any]]
    model: str
    output_schema: dict[str, Any] | None = None
    max_tokens: int = 4096
    temperature: float = 0.0
    timeout_s: float = 120.0
    # Which agent this is, for providers that play roles by rules (the offline one):
    # role is advocate / judge / ...; profile is thorough / strict / ...
    role: str = ""
    profile: str = ""
    # The structured inputs the prompt was rendered from (document text, the other
    # advocate's findings, the rubric). Model providers read the messages; the
    # offline provider reads these, since rules cannot read prose.
    inputs: dict[str, Any] = field(default_factory=dict)
    # Stable text sent before the system prompt, longest-lived first (the document,
    # then the rubric): the prefix that agents of one run on one model share, so
    # a provider with prompt caching can cache it once and read it back
    # (stable_layout builds it; anthropic.message_params marks it).
    context: tuple[str, ...] = ()
    # Whether that context is read again on this model within the cache's life
    # (another agent of the pipeline, a rebuttal, a corrective retry): only then
    # is writing it to the cache, at 1.25x the input rate, worth paying for.
    cache_context: bool = False


# The document section every demo template ends with; stable_layout lifts it out.
_DOCUMENT_SECTION = "<document>\n{document}\n</document>"
_CRITERIA_SECTION = "Rubric criteria:\n{criteria}"
DOCUMENT_ABOVE = "(The document is given above, between <document> tags.)"
RUBRIC_ABOVE = "(The rubric criteria are given above.)"


def stable_layout(template: str, inputs: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """(context, template): the document and the rubric a template quotes, lifted
    out of it into context blocks that go first, and the template left to say
    "given above". Agents of one run then send an identical prefix (the
    document) ahead of their own instructions, which a cache can serve; a
    template without the sections is returned unchanged with no context."""
    context: list[str] = []
    if _DOCUMENT_SECTION in template and isinstance(inputs.get("document"), str):
        context.append("<document>\n" + inputs["document"] + "\n</document>")
        template = template.replace(_DOCUMENT_SECTION, DOCUMENT_ABOVE)
    if _CRITERIA_SECTION in template and inputs.get("criteria"):
        context.append("Rubric criteria:\n" + json.dumps(inputs["criteria"], indent=2, ensure_ascii=False))
        template = template.replace(_CRITERIA_SECTION, RUBRIC_ABOVE)
    return tuple(context), template


@dataclass(frozen=True)
class Usage:
    """Tokens of each kind one call was billed for, apart: input_tokens excludes
    the cached ones, so Price.cost charges each at its own rate, once."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0  # written to the 5-minute cache
    cache_write_1h_tokens: int = 0  # written to the 1-hour cache, at its dearer rate
    cache_read_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    output: Any  # parsed JSON, or None when the reply was not JSON
    raw_text: str
    usage: Usage
    latency_ms: int
    model: str


class Provider(Protocol):
    name: str
    # True for the rule-based offline provider: pages label its output as a stand-in.
    is_stand_in: bool
    supports_schema: bool

    def complete(self, request: Request) -> Completion: ...


PROVIDERS = {
    "offline": "orchestrator.llm.offline.OfflineProvider",
    "anthropic": "orchestrator.llm.anthropic.AnthropicProvider",
    "openai_compat": "orchestrator.llm.openai_compat.OpenAICompatibleProvider",
}


def get_provider(name: str) -> Provider:
    # Imported on first use: the anthropic SDK takes a second to import, and
    # offline deployments never need it.
    from django.utils.module_loading import import_string

    try:
        return import_string(PROVIDERS[name])()
    except KeyError:
        raise PermanentError(f"Unknown model provider {name!r}; known: {', '.join(PROVIDERS)}") from None


def parse_json(text: str) -> Any:
    """A model's reply as JSON, or None so the engine can retry with a correction
    (it tells the model its reply was not valid JSON)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def estimate_tokens(text: str) -> int:
    """About four characters a token for English prose, as Anthropic's docs suggest."""
    return max(1, (len(text) + 3) // 4)
