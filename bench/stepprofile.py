"""Where one engine step's time goes, with a model that does no work of its own
(tests/scripted.py: a reply popped from Redis), against a no-op RQ job on the
same in-process SimpleWorker.

Debate runs (two advocates, then the judge) are worked by a burst SimpleWorker in
this process under cProfile; every query is counted (and its time summed) by a
connection execute_wrapper. The parts reported are cumulative times of the
functions that do each thing, per step:
  db: time inside the database driver (every query, commits included);
  provider: the scripted model (a Redis round trip or two);
  validation: checking the reply against the agent's JSON schema;
  render: building the request (prompt rendering, inputs);
  logging: log records written;
  rq: the worker's own bookkeeping (job fetch, registries, results) — the no-op job's cost;
  rest: the engine's Python (ORM object building, advance, decide, enqueue).
"""

import cProfile
import io
import os
import pstats
import time
from collections.abc import Iterator
from contextlib import contextmanager

import django_rq
from django.conf import settings
from django.db import connection
from rq.worker import SimpleWorker

from bench.pages import _text
from bench.patterns import noop
from documents.models import Document
from orchestrator import configcache, engine
from orchestrator.demo.seed import seed_debate_pipeline, seed_prices
from orchestrator.models import Agent, Pipeline, Step

RUNS = int(os.environ.get("QUORUM_BENCH_PROFILE_RUNS", 30))  # 3 steps each

FINDING = {
    "type": "auto_renewal",
    "title": "Renews itself",
    "severity": "medium",
    "evidence": "renew",
    "explanation": "Silent renewal.",
}
VERDICT = {
    "key": "auto_renewal:1",
    "is_issue": True,
    "recommendation": "accept_a",
    "confidence": 0.9,
    "criteria": [],
    "rationale": "Scripted.",
}

PARTS = {
    "provider": ["tests/scripted.py:*(complete)"],
    "validation": ["orchestrator/patterns/schemas.py:*(problems)"],
    "render": ["orchestrator/engine.py:*(build_request)"],
    "logging": ["logging/__init__.py:*(handle)"],
}


class Queries:
    def __init__(self):
        self.count, self.seconds = 0, 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


@contextmanager
def scripted_pipeline(pipeline: Pipeline, script) -> Iterator[None]:
    """The pipeline's agents answer from `script`, with no audit sampling, for the
    block; their providers and the audit rate are put back after, so the bench
    modules that run later (or the next `make bench`) find the pipeline as seeded."""
    agents = Agent.objects.filter(pipelineslot__pipeline=pipeline)
    providers = dict(agents.values_list("pk", "provider"))
    audit_rate = pipeline.audit_rate
    try:
        script.clear()
        script.take_over_pipeline(pipeline)
        pipeline.audit_rate = 0
        pipeline.save(update_fields=["audit_rate"])
        yield
    finally:
        for pk, provider in providers.items():
            Agent.objects.filter(pk=pk).update(provider=provider)
        configcache.changed()  # a bulk update sends no signal
        pipeline.audit_rate = audit_rate
        pipeline.save(update_fields=["audit_rate"])
        script.clear()


def _cumulative(stats: pstats.Stats, pattern: str) -> float:
    path, name = pattern.split(":*(")
    name = name.rstrip(")")
    total = 0.0
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        if filename.endswith(path) and function == name:
            total += ct
    return total


class _TimedWorker(SimpleWorker):
    """Notes when the burst's last job is done: the worker's teardown after it
    (unsubscribing from its pub/sub channel, seconds on a loaded machine) is no
    part of any job's cost."""

    def teardown(self) -> None:
        self.ended, self.cpu_ended = time.perf_counter(), time.process_time()
        super().teardown()


CPU: list[float] = []  # the CPU seconds of the last _work: a loaded machine's wall time is mostly waiting


def _work(queues) -> float:
    """Works every queued job; returns the seconds it took (teardown excluded)."""
    worker = _TimedWorker(queues, connection=queues[0].connection)
    started, cpu_started = time.perf_counter(), time.process_time()
    worker.work(burst=True)
    CPU[:] = [worker.cpu_ended - cpu_started]
    return worker.ended - started


def run() -> dict:
    from tests import scripted

    scripted.register()
    seed_prices()
    pipeline = seed_debate_pipeline()
    script = scripted.Script()
    with scripted_pipeline(pipeline, script):
        return _profile(pipeline, script)


def _profile(pipeline: Pipeline, script) -> dict:
    text = _text(1)  # a 12-page contract
    document, _ = Document.objects.get_or_create(
        sha256="bench-stepprofile".ljust(64, "0"),
        defaults={"original_name": "profile.txt", "kind": "text", "size": len(text), "text": text, "file": "p.txt"},
    )
    queues = [django_rq.get_queue(name) for name in settings.RQ_QUEUE_NAMES]
    for queue in queues:
        queue.empty()

    # The no-op job on the same worker.
    queue = django_rq.get_queue("default")
    jobs = RUNS * 3
    for _ in range(jobs):
        queue.enqueue(noop, result_ttl=600)
    raw_ms = _work([queue]) * 1000 / jobs
    raw_cpu_ms = CPU[0] * 1000 / jobs

    def one_batch():
        script.enqueue("advocate:thorough", [{"findings": [FINDING]}] * RUNS)
        script.enqueue("advocate:strict", [{"findings": [FINDING]}] * RUNS)
        script.enqueue("judge", [{"verdicts": [VERDICT]}] * RUNS)
        return [engine.start_run(document, pipeline).pk for _ in range(RUNS)]

    one_batch()
    _work(queues)  # warm: imports, compiled validators, connections
    ids = one_batch()
    queries = Queries()
    profile = cProfile.Profile()
    with connection.execute_wrapper(queries):
        profile.enable()
        wall_ms = _work(queues) * 1000
        profile.disable()
    steps = Step.objects.filter(run__in=ids, status=Step.Status.SUCCEEDED).count()
    stats = pstats.Stats(profile)
    if os.environ.get("QUORUM_BENCH_PROFILE_OUT"):  # for snakeviz, pstats, or a diff of two profiles
        stats.dump_stats(os.environ["QUORUM_BENCH_PROFILE_OUT"])
    hot = io.StringIO()
    # QUORUM_BENCH_PROFILE_SORT=cumulative QUORUM_BENCH_PROFILE_LINES=200: the whole call tree's costs.
    sort = os.environ.get("QUORUM_BENCH_PROFILE_SORT", "tottime")
    pstats.Stats(profile, stream=hot).sort_stats(sort).print_stats(
        int(os.environ.get("QUORUM_BENCH_PROFILE_LINES", 25))
    )
    print(hot.getvalue())
    per_step = {"total": wall_ms / steps, "db": queries.seconds * 1000 / steps}
    for part, patterns in PARTS.items():
        per_step[part] = sum(_cumulative(stats, p) for p in patterns) * 1000 / steps
    # cProfile slows Python down: scale the parts to the unprofiled step time.
    ids = one_batch()
    plain_steps = Step.objects.filter(run__in=ids).count()
    plain_ms = _work(queues) * 1000 / plain_steps
    cpu_ms = CPU[0] * 1000 / plain_steps
    scale = plain_ms / per_step["total"]
    parts = {name: round(value * scale, 2) for name, value in per_step.items() if name != "total"}
    parts["rest"] = round(plain_ms - sum(parts.values()), 2)
    figures = {
        "raw_rq_ms_per_job": round(raw_ms, 2),
        "engine_ms_per_step": round(plain_ms, 2),
        "step_overhead_over_raw_rq_scripted": round(plain_ms / raw_ms, 2),
        "queries_per_step": round(queries.count / steps, 1),
        # This process's CPU only (the database's and Redis's work is not in it).
        "raw_rq_cpu_ms_per_job": round(raw_cpu_ms, 2),
        "engine_cpu_ms_per_step": round(cpu_ms, 2),
        "cpu_over_raw_rq": round(cpu_ms / raw_cpu_ms, 2),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "ms_per_part": parts,
    }
    print(
        f"   no-op job {raw_ms:.2f} ms, step {plain_ms:.2f} ms ({plain_ms / raw_ms:.2f}x), "
        f"{queries.count / steps:.1f} queries/step; cpu {raw_cpu_ms:.2f} vs {cpu_ms:.2f} ms",
        flush=True,
    )
    print(f"   parts: {parts}", flush=True)  # fmt: skip
    return {"engine_profile": figures}
