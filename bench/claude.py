"""What a document costs on Claude, per demo pipeline: with the prompt cache as
the provider lays prompts out, without it, and in batch mode; and the share of
input tokens read from the cache (claude.cache_read_share).

1. Starts the strict Messages API stand-in (tests/messages_api.py): every request
   must pass the contract the real API enforces, or the bench fails. Its model
   answers with what the offline rules make of the step being run (so the
   patterns get findings and plans to work with), after a latency of about
   LATENCY_BASE_S plus LATENCY_PER_TOKEN_S per output token; it counts tokens at
   four characters each and keeps a prompt cache as the API does (a prefix up to
   a cache_control breakpoint, per model, is written on first sight and read
   afterwards), so the usage it reports is the one those requests would get.
2. Seeds the demo with a key set (its Claude twins, models from the price table)
   and makes realistic documents: the sample contract padded to a 12-page
   contract (about 7,200 tokens, the estimator's typical contract), the sample
   invoice as it is (one page).
3. Runs each Claude pipeline on its documents, RUNS times, steps in this process.
4. Prices every step's usage three ways from the price table: as charged (with
   the cache), as if uncached (every cached token at the input rate), and in batch
   mode (half price, cache writes at the 1-hour rate the provider asks for there).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from decimal import Decimal

RUNS = 3
LATENCY_BASE_S = 0.4
LATENCY_PER_TOKEN_S = 0.002
CONTRACT_TOKENS = 7200  # 12 pages at 600 tokens a page
CACHE_TTL_S = {"5m": 300, "1h": 3600}
FILLER = (
    "{n}. General Provisions. Each party shall perform its obligations under this Agreement in good faith and "
    "in accordance with applicable law. Notices shall be given in writing to the addresses stated above. Headings "
    "are for convenience only and do not affect interpretation. This clause is severable from the rest of the "
    "Agreement; if any part is held invalid, the remainder continues in full force and effect.\n\n"
)


class StandInModel:
    """The bench's model behind the strict server: the offline rules' answer for
    the step being run, usage counted and cached as the API would."""

    def __init__(self) -> None:
        self.cache: dict[str, float] = {}
        self.lock = threading.Lock()

    def __call__(self, received):
        from orchestrator import engine
        from orchestrator.llm.offline import OfflineProvider
        from orchestrator.models import Step
        from tests.messages_api import Reply, message_body, tokens_of

        body = received.body
        step = Step.objects.filter(status=Step.Status.RUNNING, agent__isnull=False).order_by("-started_at").first()
        request = engine.build_request(step)
        text = OfflineProvider().complete(request).raw_text
        blocks = _blocks(body)
        total = sum(tokens_of(block.get("text", "")) for block in blocks)
        read, written, written_1h = self._cache(body["model"], blocks)
        output = tokens_of(text) + 1
        time.sleep(LATENCY_BASE_S + LATENCY_PER_TOKEN_S * output)
        reply = message_body(
            text,
            input_tokens=total - read - written - written_1h,
            output_tokens=output,
            cache_creation_input_tokens=written + written_1h,
            cache_read_input_tokens=read,
            cache_creation={"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": written_1h},
            model=body["model"],
        )
        return Reply(reply)

    def _cache(self, model: str, blocks: list[dict]) -> tuple[int, int, int]:
        """Tokens read from and written to the cache (5-minute, 1-hour): the
        longest marked prefix seen before is read; the rest up to the last
        breakpoint is written."""
        from tests.messages_api import tokens_of

        now, prefix, read, marked_upto, ttl = time.monotonic(), hashlib.sha256(model.encode()), 0, 0, "5m"
        tokens = 0
        with self.lock:
            for block in blocks:
                prefix.update(json.dumps(block.get("text", "")).encode())
                tokens += tokens_of(block.get("text", ""))
                control = block.get("cache_control")
                if not control:
                    continue
                key = prefix.hexdigest()
                ttl = control.get("ttl", "5m")
                if self.cache.get(key, 0) > now:
                    read = tokens
                self.cache[key] = now + CACHE_TTL_S[ttl]
                marked_upto = tokens
        written = marked_upto - read
        return read, (written if ttl == "5m" else 0), (written if ttl == "1h" else 0)


def _blocks(body: dict) -> list[dict]:
    from tests.messages_api import _blocks as blocks

    return blocks(body)


def _document(name: str, text: str):
    from django.core.files.base import ContentFile

    from documents.models import Document

    data = text.encode()
    sha = hashlib.sha256(data).hexdigest()
    existing = Document.objects.filter(sha256=sha).first()
    if existing:
        return existing
    return Document.objects.create(
        file=ContentFile(data, name=name),
        original_name=name,
        sha256=sha,
        kind=Document.Kind.TEXT,
        size=len(data),
        text=text,
    )


def _documents() -> dict[str, object]:
    from documents.models import Document
    from documents.samples import ingest_samples

    ingest_samples()
    contract = Document.objects.filter(original_name="supplier-agreement-clear-issues.pdf").first()
    invoice = Document.objects.filter(original_name="invoice-acme-2024-117.txt").first()
    text, n = contract.text + "\n\n", 20
    while len(text) < CONTRACT_TOKENS * 4:
        text += FILLER.format(n=n)
        n += 1
    return {
        "contract": _document("contract-12-pages.txt", text),
        "invoice": invoice,
    }


def _costs(steps) -> dict[str, Decimal]:
    from orchestrator.llm import Usage
    from orchestrator.models import ModelPrice

    cached = uncached = batch = Decimal(0)
    for step in steps:
        price = ModelPrice.price_for(step.model)
        if price is None:
            raise RuntimeError(f"{step.model} has no price")
        cached += step.cost
        everything = step.input_tokens + step.cache_read_tokens + step.cache_write_tokens
        uncached += price.cost(Usage(input_tokens=everything, output_tokens=step.output_tokens))
        batch += price.cost(
            Usage(
                input_tokens=step.input_tokens,
                output_tokens=step.output_tokens,
                cache_write_1h_tokens=step.cache_write_tokens,
                cache_read_tokens=step.cache_read_tokens,
            ),
            batch=True,
        )
    return {"cached": cached, "uncached": uncached, "batch": batch}


def run() -> dict:
    import django_rq
    from django.conf import settings
    from rq.worker import SimpleWorker

    from orchestrator import engine
    from orchestrator.demo.seed import seed_all
    from orchestrator.models import Pipeline
    from tests.messages_api import MessagesAPI

    api = MessagesAPI(responder=StandInModel()).start()
    settings.ANTHROPIC_API_KEY = "sk-ant-bench"
    settings.ANTHROPIC_BASE_URL = api.url
    try:
        seed_all()
        documents = _documents()
        plan = {
            "contract-debate-claude": ["contract"],
            "document-supervisor-claude": ["contract", "invoice"],
            "contract-supervisor-claude": ["contract"],
            "extraction-chain-claude": ["invoice"],
        }
        queues = [django_rq.get_queue(name) for name in settings.RQ_QUEUES]
        figures: dict = {}
        all_steps = []
        for slug, kinds in plan.items():
            pipeline = Pipeline.objects.get(slug=slug)
            for kind in kinds:
                steps = []
                for _ in range(RUNS):
                    run = engine.start_run(documents[kind], pipeline)
                    SimpleWorker(queues, connection=queues[0].connection).work(burst=True)
                    run.refresh_from_db()
                    if not run.is_finished or run.status == run.Status.FAILED:
                        raise RuntimeError(f"{slug} on the {kind}: run {run.pk} {run.status} {run.error}")
                    steps += _all_steps(run)
                costs = _costs(steps)
                name = f"{slug.removesuffix('-claude')}.{kind}"
                figures[name] = {
                    f"usd_per_doc_{way}": float(round(value / RUNS, 6)) for way, value in costs.items()
                } | {"calls_per_doc": round(len(steps) / RUNS, 1)}
                all_steps += steps
        refused = len(api.refused)
        if refused:
            raise RuntimeError(f"the strict server refused {refused} requests: {api.refused[0][1]}")
        read = sum(step.cache_read_tokens for step in all_steps)
        total = sum(step.input_tokens + step.cache_read_tokens + step.cache_write_tokens for step in all_steps)
        figures["cache_read_share"] = round(read / total, 3) if total else 0.0
        figures["requests_refused"] = refused
        figures["runs_per_figure"] = RUNS
        return {"claude": figures}
    finally:
        api.stop()


def _all_steps(run) -> list:
    """The run's own model calls, nested runs' included."""
    from orchestrator.models import Run, Step

    steps = list(Step.objects.filter(run=run, agent__isnull=False, copied_from__isnull=True))
    for child in Run.objects.filter(parent_step__run=run):
        steps += _all_steps(child)
    return steps
