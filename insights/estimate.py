"""The napkin math before running: for each pipeline, how many model calls a
document takes, the tokens they read and write, the dollars per document and per
month, and how long a run should take. Every figure names what it rests on:
this deployment's own history where there is some, else a stated assumption.

    size = size_of_document(document)            # or size_from_pages(12), size_from_tokens(8000)
    estimates = estimate_pipelines(pipelines, size, volume=5000)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Length

from documents.models import Document
from orchestrator import patterns
from orchestrator.engine import render
from orchestrator.llm import ProviderError, Request, Usage, estimate_tokens, stable_layout
from orchestrator.llm.prices import Price
from orchestrator.models import Agent, ModelPrice, Pipeline, PipelineSlot, Run, Step
from orchestrator.patterns import Call

if TYPE_CHECKING:
    from .forms import EstimateForm

DEFAULT_VOLUME = 5000
# Journey 5's "typical contract", for a deployment with no documents yet.
DEFAULT_PAGES = 12
# About 450 words of contract prose a page, at about 4 characters a token.
DEFAULT_TOKENS_PER_PAGE = 600
# How much history to read: recent enough to reflect today's prompts and models.
RECENT_STEPS = 200
RECENT_RUNS = 50
RECENT_DOCUMENTS = 200
# Fewer succeeded steps than this is an anecdote, not a distribution.
MIN_HISTORY = 3


@dataclass(frozen=True)
class Size:
    """How big a document the estimate is for. `text` is set for a real document,
    so its prompts can be rendered (and counted) exactly."""

    tokens: int
    basis: str
    text: str = ""


@dataclass
class SlotEstimate:
    slot: str
    holder: str  # the agent's or the held pipeline's name
    model: str
    calls: int
    # Totals over all of this slot's calls for one document.
    input_tokens: int
    output_p50: int
    output_p90: int
    cost_p50: Decimal | None  # None: the model has no ModelPrice row
    cost_p90: Decimal | None
    input_basis: str
    output_basis: str
    latency_ms: int | None  # one call's median (a held pipeline: its expected latency)
    output_kind: str = "history"  # "history" or "max_tokens"; a held pipeline names its estimate
    # Of input_tokens, those expected to be read from and written to the prompt
    # cache (the document, shared by the calls on one Claude model): see _cached_calls.
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class Estimate:
    pipeline: Pipeline
    size: Size
    volume: int
    slots: list[SlotEstimate]
    latency_ms: int | None
    latency_basis: str
    stand_in: bool = False
    notes: list[str] = field(default_factory=list)
    # For a pipeline on the offline stand-in: the same calls priced on Claude models.
    on_claude: list[dict] = field(default_factory=list)

    def priced_on(self, price: Price) -> tuple[Decimal, Decimal]:
        """What this document's calls (p50, p90) would cost at `price`."""

        def total(output: str) -> Decimal:
            usages = (Usage(input_tokens=s.input_tokens, output_tokens=getattr(s, output)) for s in self.slots)
            return sum((price.cost(usage) for usage in usages), Decimal(0))

        return total("output_p50"), total("output_p90")

    @property
    def calls(self) -> int:
        return sum(slot.calls for slot in self.slots)

    @property
    def input_tokens(self) -> int:
        return sum(slot.input_tokens for slot in self.slots)

    @property
    def output_p50(self) -> int:
        return sum(slot.output_p50 for slot in self.slots)

    @property
    def output_p90(self) -> int:
        return sum(slot.output_p90 for slot in self.slots)

    @property
    def cost_p50(self) -> Decimal:
        return sum((slot.cost_p50 for slot in self.slots if slot.cost_p50 is not None), Decimal(0))

    @property
    def cost_p90(self) -> Decimal:
        return sum((slot.cost_p90 for slot in self.slots if slot.cost_p90 is not None), Decimal(0))

    @property
    def monthly_p50(self) -> Decimal:
        return self.cost_p50 * self.volume

    @property
    def monthly_p90(self) -> Decimal:
        return self.cost_p90 * self.volume

    @property
    def cache_read_tokens(self) -> int:
        return sum(slot.cache_read_tokens for slot in self.slots)

    @property
    def cache_share(self) -> float:
        """The share of input tokens expected to be read from the prompt cache."""
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def unpriced(self) -> list[str]:
        return sorted({slot.model for slot in self.slots if slot.cost_p50 is None})

    @property
    def latency_s(self) -> float | None:
        return None if self.latency_ms is None else self.latency_ms / 1000

    @property
    def basis(self) -> list[str]:
        """What the figures rest on, in short; each slot's own basis is in `slots`."""
        inputs = sorted({slot.input_basis for slot in self.slots})
        outputs: dict[str, list[str]] = {}
        for slot in self.slots:
            outputs.setdefault(slot.output_kind, []).append(slot.slot)
        return [
            f"size: {self.size.basis}",
            f"input: {'; '.join(inputs)}",
            *(f"output: {kind} for {', '.join(names)}" for kind, names in outputs.items()),
            f"latency: {self.latency_basis}",
            *self.notes,
        ]


# --- how big the document is ------------------------------------------------------


def size_of_document(document: Document) -> Size:
    tokens = estimate_tokens(document.text)
    pages = f", {document.page_count} pages" if document.page_count else ""
    return Size(tokens, f"{document.original_name}: about {tokens:,} tokens{pages}", document.text)


def size_from_tokens(tokens: int) -> Size:
    return Size(tokens, f"{tokens:,} tokens a document, as entered")


def size_from_pages(pages: int) -> Size:
    per_page, basis = tokens_per_page()
    return Size(pages * per_page, f"{pages} pages × {per_page:,} tokens a page ({basis})")


def tokens_per_page() -> tuple[int, str]:
    """Tokens a page from this deployment's own documents, else an assumption."""
    rows = (
        Document.objects.filter(page_count__gt=0)
        .annotate(chars=Length("text"))
        .order_by("-created_at")
        .values_list("chars", "page_count")[:RECENT_DOCUMENTS]
    )
    # estimate_tokens' rule applied to the length alone: the texts stay in the database.
    ratios = [max(1, (chars + 3) // 4) / pages for chars, pages in rows if chars]
    if not ratios:
        return DEFAULT_TOKENS_PER_PAGE, "assumed: no paged documents uploaded yet"
    return round(statistics.median(ratios)), f"median of your last {len(ratios)} paged documents"


def typical_size() -> Size:
    """The median recent document, or DEFAULT_PAGES pages when there is none."""
    lengths = list(
        Document.objects.annotate(chars=Length("text"))
        .filter(chars__gt=0)
        .order_by("-created_at")
        .values_list("chars", flat=True)[:RECENT_DOCUMENTS]
    )
    if not lengths:
        return size_from_pages(DEFAULT_PAGES)
    tokens = max(1, (round(statistics.median(lengths)) + 3) // 4)
    return Size(tokens, f"the median of your last {len(lengths)} documents: about {tokens:,} tokens")


# --- the shape of each pattern: which calls, in which waves -------------------------
# Each pattern module says (its waves()); calls per document and the latency floor
# both follow from it. A pattern without a module is taken to call each slot once, in order.


def _one_call_per_slot(slots: list[str]) -> list[list[Call]]:
    return [[Call(name)] for name in slots]


def waves_for(pipeline: Pipeline, slots: list[str]) -> list[list[Call]]:
    """The pattern's waves, keeping only calls to slots the pipeline has filled."""
    try:
        waves = patterns.pattern(pipeline.pattern).waves(slots, pipeline.rebuttal_rounds)
    except KeyError:
        waves = _one_call_per_slot(slots)
    waves = [[call for call in wave if call.slot in slots] for wave in waves]
    return [wave for wave in waves if wave] or _one_call_per_slot(slots)


# --- the estimate -----------------------------------------------------------------


def estimate_pipelines(pipelines, size: Size, volume: int = DEFAULT_VOLUME) -> list[Estimate]:
    prices = {row.model: row.as_price() for row in ModelPrice.objects.all()}
    counted: dict = {}
    return [estimate_pipeline(pipeline, size, volume, prices=prices, counted=counted) for pipeline in pipelines]


def estimate_pipeline(
    pipeline: Pipeline,
    size: Size,
    volume: int = DEFAULT_VOLUME,
    *,
    prices: dict[str, Price] | None = None,
    counted: dict | None = None,
    depth: int = 0,
) -> Estimate:
    """`prices` and `counted` (token counts already asked of the API, and whether
    it answers at all) are shared across the pipelines of one page, so each is
    looked up once and an unreachable API is waited on once."""
    if prices is None:
        prices = {row.model: row.as_price() for row in ModelPrice.objects.all()}
    counted = {} if counted is None else counted
    slots = {
        slot.name: slot
        for slot in pipeline.slots.select_related(
            "agent__prompt__active", "agent__rebuttal_prompt__active", "subpipeline"
        ).order_by("position", "name")
    }
    waves = waves_for(pipeline, list(slots))
    criteria = pipeline.rubric.active.criteria if pipeline.rubric and pipeline.rubric.active else []
    calls: dict[str, list[Call]] = {}
    for wave in waves:
        for call in wave:
            calls.setdefault(call.slot, []).append(call)

    cached = _cached_calls(waves, slots, size)
    estimates: dict[str, SlotEstimate] = {}
    for name, slot_calls in calls.items():
        slot = slots[name]
        if slot.agent is not None:
            estimates[name] = _agent_estimate(slot, slot_calls, size, criteria, prices, counted, cached.get(name))
        elif depth < patterns.MAX_NESTING:
            held = estimate_pipeline(slot.subpipeline, size, volume, prices=prices, counted=counted, depth=depth + 1)
            estimates[name] = _held_estimate(slot, len(slot_calls), held)

    latency_ms, latency_basis = _latency(pipeline, waves, estimates, list(slots.values()))
    shape = patterns.PATTERNS.get(pipeline.pattern)
    notes = [shape.WAVES_NOTE] if shape and shape.WAVES_NOTE else []
    if cached:
        notes.append("cache: the document is written to the prompt cache by the first call on each Claude model "
                     "and read back by the others")  # fmt: skip
    return Estimate(
        pipeline=pipeline,
        size=size,
        volume=volume,
        slots=list(estimates.values()),
        latency_ms=latency_ms,
        latency_basis=latency_basis,
        stand_in=pipeline.uses_stand_in(list(slots.values())),
        notes=notes,
    )


def _cached_calls(waves: list[list[Call]], slots: dict[str, PipelineSlot], size: Size) -> dict[str, tuple[int, int]]:
    """(reads, writes) of the prompt cache by slot, in tokens, as the Anthropic
    provider lays prompts out (anthropic.message_params): the document goes
    first and is cached when a second call on the same model reads it and it
    reaches that model's minimum. The first such call writes it, the others read it."""
    from orchestrator.llm.anthropic import min_cacheable_tokens

    by_model: dict[str, list[str]] = {}
    for wave in waves:
        for call in wave:
            agent = slots[call.slot].agent
            prompt = agent.prompt_for(call.prompt).active if agent else None
            if agent is None or agent.provider_name() != "anthropic" or prompt is None:
                continue
            if "{document}" in prompt.template and stable_layout(prompt.template, {"document": ""})[0]:
                by_model.setdefault(agent.model, []).append(call.slot)
    document = size.tokens
    cached: dict[str, tuple[int, int]] = {}
    for model, readers in by_model.items():
        if len(readers) < 2 or document < min_cacheable_tokens(model):
            continue
        for index, name in enumerate(readers):
            reads, writes = cached.get(name, (0, 0))
            cached[name] = (reads + document, writes) if index else (reads, writes + document)
    return cached


def _agent_estimate(
    slot: PipelineSlot,
    calls: list[Call],
    size: Size,
    criteria: list,
    prices: dict[str, Price],
    counted: dict,
    cached: tuple[int, int] | None = None,
) -> SlotEstimate:
    agent = slot.agent
    input_tokens, input_basis = 0, ""
    for call in calls:
        tokens, input_basis = input_tokens_per_call(agent, call.prompt, size, criteria, counted)
        input_tokens += tokens
    p50, p90, output_kind, output_basis = output_tokens_per_call(agent)
    price = prices.get(agent.model)
    n = len(calls)
    reads, writes = cached or (0, 0)
    uncached = max(0, input_tokens - reads - writes)

    def cost(output: int) -> Decimal:
        usage = Usage(input_tokens=uncached, output_tokens=output, cache_read_tokens=reads, cache_write_tokens=writes)
        return price.cost(usage)

    return SlotEstimate(
        slot=slot.name,
        holder=agent.name,
        model=agent.model,
        calls=n,
        input_tokens=input_tokens,
        output_p50=p50 * n,
        output_p90=p90 * n,
        cost_p50=cost(p50 * n) if price else None,
        cost_p90=cost(p90 * n) if price else None,
        input_basis=input_basis,
        output_basis=output_basis,
        latency_ms=median_latency_ms(agent),
        output_kind=output_kind,
        cache_read_tokens=reads,
        cache_write_tokens=writes,
    )


def _held_estimate(slot: PipelineSlot, times: int, held: Estimate) -> SlotEstimate:
    unpriced = bool(held.unpriced)
    return SlotEstimate(
        slot=slot.name,
        holder=held.pipeline.name,
        model=f"pipeline:{held.pipeline.slug}",
        calls=held.calls * times,
        input_tokens=held.input_tokens * times,
        output_p50=held.output_p50 * times,
        output_p90=held.output_p90 * times,
        cost_p50=None if unpriced else held.cost_p50 * times,
        cost_p90=None if unpriced else held.cost_p90 * times,
        input_basis=f"the {held.pipeline.name} pipeline's estimate",
        output_basis=f"the {held.pipeline.name} pipeline's estimate",
        latency_ms=held.latency_ms,
        output_kind=f"the {held.pipeline.name} estimate",
        cache_read_tokens=held.cache_read_tokens * times,
        cache_write_tokens=sum(slot.cache_write_tokens for slot in held.slots) * times,
    )


def input_tokens_per_call(agent: Agent, prompt_kind: str, size: Size, criteria: list, counted: dict) -> tuple[int, str]:
    """The document plus the agent's rendered prompt: counted by the Anthropic API
    where that is the agent's provider and a key is set, else estimated."""
    prompt = agent.prompt_for(prompt_kind).active
    if prompt is None:
        return size.tokens, "the document alone (the prompt has no active version)"
    # With a real document its text goes in, so the count is the call's own;
    # for a size alone, the prompt is counted empty and the size added.
    message = render(prompt.template, {"document": size.text, "criteria": criteria})
    extra = 0 if size.text else size.tokens
    if agent.provider_name() == "anthropic" and settings.ANTHROPIC_API_KEY:
        key = (agent.model, prompt.pk, size.text)
        if key not in counted and not counted.get("unavailable"):
            counted[key] = _count_with_anthropic(agent, prompt.system, message)
            counted["unavailable"] = counted[key] is None
        if counted.get(key) is not None:
            return counted[key] + extra, "counted by the Anthropic API"
    tokens = estimate_tokens(prompt.system) + estimate_tokens(message) + extra
    return tokens, "estimated at 4 characters a token"


def _count_with_anthropic(agent: Agent, system: str, message: str) -> int | None:
    from orchestrator.llm.anthropic import count_tokens

    request = Request(
        system=system,
        messages=[{"role": "user", "content": message}],
        model=agent.model,
        output_schema=agent.output_schema,
        max_tokens=agent.max_tokens,
    )
    try:
        return count_tokens(request)
    except ProviderError:
        # An estimator that cannot reach the API still estimates; the basis says how.
        return None


def output_tokens_per_call(agent: Agent) -> tuple[int, int, str, str]:
    """(p50, p90, kind, basis): the agent's recent succeeded steps on its current
    provider ("history"), or its max_tokens, a ceiling, when there are too few
    ("max_tokens")."""
    history = list(_history(agent).exclude(output_tokens=0).values_list("output_tokens", flat=True)[:RECENT_STEPS])
    if len(history) < MIN_HISTORY:
        ceiling = agent.max_tokens
        return ceiling, ceiling, "max_tokens", f"max_tokens {ceiling:,}, a ceiling (no history yet)"
    basis = f"p50/p90 of its last {len(history)} steps"
    return percentile(history, 0.5), percentile(history, 0.9), "history", basis


def median_latency_ms(agent: Agent) -> int | None:
    timed = _history(agent).filter(latency_ms__isnull=False)
    latencies = list(timed.values_list("latency_ms", flat=True)[:RECENT_STEPS])
    return percentile(latencies, 0.5) if len(latencies) >= MIN_HISTORY else None


def _history(agent: Agent):
    # Only the provider the agent uses now: the offline stand-in's figures say
    # nothing about Claude's. A replay's copied steps would count their original twice.
    return Step.objects.filter(
        agent=agent, status=Step.Status.SUCCEEDED, provider=agent.provider_name(), copied_from__isnull=True
    ).order_by("-finished_at", "-id")


def _latency(
    pipeline: Pipeline, waves: list[list[Call]], estimates: dict[str, SlotEstimate], slots: list[PipelineSlot]
) -> tuple[int | None, str]:
    """The critical path: p50 of recent runs' measured floor, else the sum over
    waves of each wave's slowest median call, else unknown."""
    floors = list(_comparable_runs(pipeline, slots).values_list("critical_path_ms", flat=True)[:RECENT_RUNS])
    if len(floors) >= MIN_HISTORY:
        return percentile(floors, 0.5), f"p50 of the last {len(floors)} runs' critical path"
    total = 0
    for wave in waves:
        latencies = [estimates[call.slot].latency_ms if call.slot in estimates else None for call in wave]
        if any(latency is None for latency in latencies):
            return None, "unknown: not every agent has run enough steps to time"
        total += max(latencies)
    return total, "sum over waves of each agent's median step latency"


def _comparable_runs(pipeline: Pipeline, slots: list[PipelineSlot]):
    runs = Run.objects.filter(
        pipeline=pipeline, status__in=Run.FINISHED_OK, critical_path_ms__isnull=False, replay_of__isnull=True
    ).order_by("-created_at", "-id")
    # Leave out runs whose steps were served by another provider than the agents
    # use now (say, offline runs before the switch to Claude).
    stale = Q()
    for slot in slots:
        if slot.agent is not None:
            stale |= Q(agent=slot.agent) & ~Q(provider=slot.agent.provider_name())
    if stale:
        runs = runs.exclude(pk__in=Step.objects.filter(stale).values("run_id"))
    return runs


def percentile(values: list[int], q: float) -> int:
    """Nearest rank: a value that actually occurred, never one in between."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# Priced for comparison when no agent names a Claude model yet: one of each family.
REFERENCE_CLAUDE_MODELS = ["claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6"]


def claude_prices() -> dict[str, Price]:
    """The Claude models this deployment is configured with (its agents' models),
    else a reference model of each family, with their prices."""
    models = sorted(set(Agent.objects.filter(model__startswith="claude").values_list("model", flat=True)))
    rows = ModelPrice.objects.filter(model__in=models or REFERENCE_CLAUDE_MODELS)
    order = {model: index for index, model in enumerate(models or REFERENCE_CLAUDE_MODELS)}
    return {row.model: row.as_price() for row in sorted(rows, key=lambda row: order[row.model])}


def price_on_claude(estimates: list[Estimate]) -> None:
    """Offline runs cost nothing: say what the same calls would cost on Claude."""
    prices = None
    for estimate in estimates:
        if not estimate.stand_in:
            continue
        prices = claude_prices() if prices is None else prices
        for model, price in prices.items():
            p50, p90 = estimate.priced_on(price)
            estimate.on_claude.append({"model": model, "p50": p50, "p90": p90, "monthly_p50": p50 * estimate.volume})


def estimate_context(form: EstimateForm) -> dict:
    """What the estimate-table partial needs, for the estimator page and the upload page."""
    estimates, size, volume = None, None, form.chosen_volume()
    if not form.is_bound or form.is_valid():
        size = form.chosen_size()
        pipelines = form.chosen_pipelines()
        # An empty choice on the upload page means "just upload": nothing to estimate, and nothing to say.
        estimates = estimate_pipelines(pipelines, size, volume) if pipelines or "pipeline" not in form.data else None
        price_on_claude(estimates or [])
    on_claude = any(estimate.on_claude for estimate in estimates or [])
    return {"estimate_form": form, "estimates": estimates, "size": size, "volume": volume, "on_claude": on_claude}
