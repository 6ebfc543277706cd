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

It also times floor_step: the same durable round trips (the step read, the claim
committed before the call, the settling transaction with the run's lock, an
enqueue for the next wave) in raw SQL with no engine logic, on the same worker.
Its ratio to the no-op job is the least any engine with these writes can reach
on this machine; the step's distance above it is the engine's own Python.
"""

import cProfile
import io
import json
import os
import pstats
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import django_rq
from django.conf import settings
from django.db import connection, transaction
from rq import get_current_job
from rq.worker import SimpleWorker

from bench.pages import _text
from bench.patterns import noop
from documents.models import Document
from orchestrator import configcache, engine, jobs
from orchestrator.demo.seed import seed_debate_pipeline, seed_prices
from orchestrator.models import Agent, Pipeline, Run, Step

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


def floor_step(step_id: int, enqueue_next: bool) -> None:
    """The engine's durable round trips and nothing else, in raw SQL: the step read
    with its agent and document; claimed with its request, committed before the
    call as the engine does; the model's one Redis round trip; then in one
    transaction the outcome saved under the claim, the run locked, its steps read
    and the run updated; and for two steps in three a job enqueued for the next
    wave. What a step costs with no ORM and no engine logic: the floor under it."""
    with jobs.heartbeat(get_current_job().id), connection.cursor() as cursor:
        cursor.execute(
            """SELECT step.run_id, agent.model, document.text FROM orchestrator_step step
               JOIN orchestrator_agent agent ON agent.id = step.agent_id
               JOIN orchestrator_run run ON run.id = step.run_id
               JOIN documents_document document ON document.id = run.document_id
               WHERE step.id = %s""",
            [step_id],
        )
        run_id, model, text = cursor.fetchone()
        claim = uuid.uuid4().hex
        request = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
        cursor.execute(
            """UPDATE orchestrator_step SET status = 'running', claim = %s, started_at = now(), request = %s
               WHERE id = %s AND status = 'queued'""",
            [claim, request, step_id],
        )
        jobs.redis().lpop("quorum:bench:floor")  # the model
        with transaction.atomic():
            cursor.execute(
                """UPDATE orchestrator_step SET status = 'succeeded', output = %s, finished_at = now()
                   WHERE id = %s AND claim = %s""",
                [json.dumps({"findings": [FINDING]}), step_id, claim],
            )
            cursor.execute("SELECT id FROM orchestrator_run WHERE id = %s FOR UPDATE", [run_id])
            cursor.execute("SELECT key, status, output, cost FROM orchestrator_step WHERE run_id = %s", [run_id])
            cursor.fetchall()
            cursor.execute("UPDATE orchestrator_run SET steps_done = steps_done + 1 WHERE id = %s", [run_id])
            if enqueue_next:
                transaction.on_commit(lambda: django_rq.get_queue("default").enqueue(noop, result_ttl=600))


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


def _floor(document, pipeline, queue, count: int, raw_ms: float, raw_cpu_ms: float) -> tuple[float, float]:
    """floor_step's ms and CPU ms a step, over `count` steps in runs of three (the
    no-op jobs it enqueues for a next wave are worked too, and taken off)."""
    agent = pipeline.slots.exclude(agent=None).first().agent
    runs = Run.objects.bulk_create([Run(document=document, pipeline=pipeline) for _ in range(count // 3)])
    steps = Step.objects.bulk_create(
        [Step(run=run, key=f"floor:{n}", slot="floor", agent=agent) for run in runs for n in range(3)]
    )
    for n, step in enumerate(steps):
        queue.enqueue(floor_step, step.pk, n % 3 != 2, result_ttl=3600)
    seconds = _work([queue])
    Run.objects.filter(pk__in=[run.pk for run in runs]).update(status=Run.Status.FAILED, error="bench floor")
    followers = len(steps) * 2 // 3
    return (seconds * 1000 - followers * raw_ms) / len(steps), (CPU[0] * 1000 - followers * raw_cpu_ms) / len(steps)


@dataclass
class Batches:
    """Debate runs on a 12-page contract whose agents answer from a script."""

    document: Document
    pipeline: Pipeline
    start: Callable[[], list[int]]  # starts RUNS runs, returns their ids


@contextmanager
def debate_batches() -> Iterator[Batches]:
    """Batches of scripted Debate runs for the block, the queues emptied first and
    the pipeline put back as seeded after."""
    from tests import scripted

    scripted.register()
    seed_prices()
    pipeline = seed_debate_pipeline()
    script = scripted.Script()
    text = _text(1)  # a 12-page contract
    document, _ = Document.objects.get_or_create(
        sha256="bench-stepprofile".ljust(64, "0"),
        defaults={"original_name": "profile.txt", "kind": "text", "size": len(text), "text": text, "file": "p.txt"},
    )
    for queue in _queues():
        queue.empty()

    def one_batch() -> list[int]:
        script.enqueue("advocate:thorough", [{"findings": [FINDING]}] * RUNS)
        script.enqueue("advocate:strict", [{"findings": [FINDING]}] * RUNS)
        script.enqueue("judge", [{"verdicts": [VERDICT]}] * RUNS)
        return [engine.start_run(document, pipeline).pk for _ in range(RUNS)]

    with scripted_pipeline(pipeline, script):
        one_batch()
        _work(_queues())  # warm: imports, compiled validators, connections
        yield Batches(document, pipeline, one_batch)


def _queues() -> list:
    return [django_rq.get_queue(name) for name in settings.RQ_QUEUE_NAMES]


def step_ms(batches: Batches) -> tuple[float, float]:
    """The engine's milliseconds a step over one batch, unprofiled, and its CPU milliseconds."""
    ids = batches.start()
    seconds = _work(_queues())
    steps = Step.objects.filter(run__in=ids).count()
    return seconds * 1000 / steps, CPU[0] * 1000 / steps


def run() -> dict:
    with debate_batches() as batches:
        return _profile(batches)


def _profile(batches: Batches) -> dict:
    queues, one_batch = _queues(), batches.start
    # The no-op job on the same worker.
    queue = django_rq.get_queue("default")
    count = RUNS * 3
    for _ in range(count):
        queue.enqueue(noop, result_ttl=600)
    raw_ms = _work([queue]) * 1000 / count
    raw_cpu_ms = CPU[0] * 1000 / count
    floor_ms, floor_cpu_ms = _floor(batches.document, batches.pipeline, queue, count, raw_ms, raw_cpu_ms)

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
    plain_ms, cpu_ms = step_ms(batches)
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
        # The same durable round trips in raw SQL with no engine logic (floor_step).
        "floor_ms_per_step": round(floor_ms, 2),
        "floor_over_raw_rq": round(floor_ms / raw_ms, 2),
        "floor_cpu_ms_per_step": round(floor_cpu_ms, 2),
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
    floor = f"{floor_ms:.2f} ms ({floor_ms / raw_ms:.2f}x), cpu {floor_cpu_ms:.2f} ms"
    print(f"   floor (raw SQL, the same round trips): {floor}")
    print(f"   parts: {parts}", flush=True)  # fmt: skip
    return {"engine_profile": figures}
