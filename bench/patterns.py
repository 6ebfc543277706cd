"""The three patterns against their critical-path floor, and what the engine
costs per step against a bare RQ job.

1. Seeds the demo pipelines (document-supervisor, extraction-chain,
   contract-debate) and their sample documents, idempotently.
2. For each worker count W in the sweep, starts W RQ workers (`manage.py
   rqworker-pool`, SimpleWorker: see WORKER_CLASS), with the offline provider
   sleeping L seconds per call (QUORUM_OFFLINE_LATENCY).
3. Latency: runs one at a time per pattern; each run's wall time (Run.started_at to
   finished_at) against its floor, Run.critical_path_ms (the slowest call of each
   wave, summed: Supervisor = coordinator + slowest specialist + assembly; Chain =
   the stages; Debate = slower advocate + judge).
4. Throughput: a burst of runs per pattern started at once; runs per minute against
   the limit W / (calls per run x L).
5. Overhead: at L = 0 on the same workers, K no-op RQ jobs, then the steps of
   K / 3 debate runs; worker time per job against per step. Measured again on
   rq's default forking workers, which `make run` starts today.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

LATENCY_S = 1.0
MAIN_WORKERS = 4  # the widest fan-out: a contract's four specialists
SWEEP = [1, 2, 4, 8]
# Runs per pattern, one at a time (latency) and at once (throughput), by worker count.
LATENCY_RUNS = {MAIN_WORKERS: 6}
LATENCY_RUNS_SWEEP = 3
BURST_RUNS = {1: 3, 2: 6, 4: 16, 8: 24}
OVERHEAD_JOBS = 600
# The pattern figures run on SimpleWorker, which runs each job in the worker process:
# rq's default Worker forks a work-horse per job, which then opens its own database
# connection, adding 30-60 ms to every step here. The overhead is measured on both.
WORKER_CLASS = "rq.worker.SimpleWorker"
WORKER_CLASSES = {"simple": WORKER_CLASS, "forking": ""}
# What each pattern's runs read: a contract plans all four specialists (the widest fan-out).
PATTERNS = {
    "supervisor": ("document-supervisor", "supply-contract.txt"),
    "chain": ("extraction-chain", "invoice-de.txt"),
    "debate": ("contract-debate", "supply-contract.txt"),
}
BASE_DIR = Path(__file__).resolve().parent.parent


def noop() -> None:
    """The raw RQ job: nothing at all."""


def run() -> dict:
    from django.conf import settings

    from orchestrator.demo.seed import seed_chain_pipeline, seed_debate_pipeline, seed_prices, seed_supervisor_pipelines

    seed_prices()
    seed_debate_pipeline()
    seed_supervisor_pipelines()
    seed_chain_pipeline()
    documents = _documents()
    _empty_queues(settings.RQ_QUEUE_NAMES)

    figures: dict = {name: {"by_workers": {}} for name in PATTERNS}
    for workers in SWEEP:
        with Workers(workers, LATENCY_S, WORKER_CLASS):
            for name, (slug, document) in PATTERNS.items():
                latency = _latency(slug, documents[document], LATENCY_RUNS.get(workers, LATENCY_RUNS_SWEEP))
                burst = _burst(slug, documents[document], BURST_RUNS[workers], workers)
                measured = {**latency, **burst}
                figures[name]["by_workers"][str(workers)] = {
                    key: measured[key] for key in ("wall_over_floor", "wall_p95_over_floor", "throughput_over_limit")
                } | {"docs_per_hour": round(measured["runs_per_min"] * 60)}  # at L = LATENCY_S a call
                if workers == MAIN_WORKERS:
                    figures[name].update(measured, workers=workers, latency_s=LATENCY_S)
                _print(name, workers, measured)

    overhead = {}
    for label, worker_class in WORKER_CLASSES.items():
        with Workers(MAIN_WORKERS, 0, worker_class):
            overhead[label] = _overhead(documents["supply-contract.txt"], OVERHEAD_JOBS)
        print(
            f"   overhead at L=0, W={MAIN_WORKERS}, {label} workers: raw RQ "
            f"{overhead[label]['raw_rq_ms_per_job']:.2f} ms/job, engine {overhead[label]['engine_ms_per_step']:.2f} "
            f"ms/step ({overhead[label]['step_overhead_over_raw_rq']:.2f}x)",
            flush=True,
        )
    return {
        "patterns": figures,
        # On the same workers as the pattern figures; the forking workers' figure is beside it.
        "step_overhead_over_raw_rq": overhead["simple"]["step_overhead_over_raw_rq"],
        "step_overhead": overhead,
    }


class Workers:
    """W worker processes as `make run` starts them, for the length of a `with`."""

    def __init__(self, count: int, latency_s: float, worker_class: str = ""):
        self.count, self.latency_s, self.worker_class = count, latency_s, worker_class

    def __enter__(self) -> Workers:
        from django.conf import settings

        environ = {**os.environ, "QUORUM_OFFLINE_LATENCY": str(self.latency_s)}
        command = [sys.executable, "manage.py", "rqworker-pool", *settings.RQ_QUEUE_NAMES, "--num-workers",
                   str(self.count)]  # fmt: skip
        if self.worker_class:
            command += ["--worker-class", self.worker_class]
        self.process = subprocess.Popen(
            command, cwd=BASE_DIR, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for(lambda: _live_workers() >= self.count, 60, f"{self.count} workers did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        _wait_for(lambda: _live_workers() == 0, 30, "workers did not stop")


def _latency(slug: str, document, runs: int) -> dict:
    """Runs one at a time: nothing queues behind another run, so wall over floor is the engine's own cost."""
    from orchestrator.engine import start_run
    from orchestrator.models import Pipeline, Run

    pipeline = Pipeline.objects.get(slug=slug)
    ratios, walls, floors = [], [], []
    for _ in range(runs):
        started = Run.objects.filter(pk=start_run(document, pipeline).pk)
        done = started.filter(status__in=Run.FINISHED).exists
        _wait_for(done, 120, f"a {slug} run did not finish")
        finished = started.get()
        if finished.status == Run.Status.FAILED:
            raise RuntimeError(f"{slug} run {finished.pk} failed: {finished.error}")
        walls.append(finished.wall_ms / 1000)
        floors.append(finished.critical_path_ms / 1000)
        ratios.append(finished.wall_ms / finished.critical_path_ms)
    return {
        "runs_timed": runs,
        "wall_mean_s": round(statistics.mean(walls), 3),
        "wall_p95_s": round(_p95(walls), 3),
        "floor_mean_s": round(statistics.mean(floors), 3),
        "wall_over_floor": round(statistics.mean(ratios), 3),
        "wall_p95_over_floor": round(_p95(ratios), 3),
    }


def _burst(slug: str, document, runs: int, workers: int) -> dict:
    """A burst of runs at once, enqueued together when their transaction commits."""
    from django.db import transaction
    from django.db.models import Max

    from orchestrator.engine import start_run
    from orchestrator.models import Pipeline, Run, Step

    pipeline = Pipeline.objects.get(slug=slug)
    with transaction.atomic():
        ids = [start_run(document, pipeline).pk for _ in range(runs)]
        begun = time.time()
    batch = Run.objects.filter(pk__in=ids)
    _wait_for(lambda: batch.filter(status__in=Run.FINISHED).count() == runs, 600, f"{slug} burst did not finish")
    span = batch.aggregate(last=Max("finished_at"))["last"].timestamp() - begun
    calls = Step.objects.filter(run__in=ids, agent__isnull=False).count() / runs
    per_minute = runs / span * 60
    limit = workers / (calls * LATENCY_S) * 60
    return {
        "burst_runs": runs,
        "calls_per_run": round(calls, 2),
        "runs_per_min": round(per_minute, 2),
        "limit_runs_per_min": round(limit, 2),
        "throughput_over_limit": round(per_minute / limit, 3),
    }


def _overhead(document, jobs: int) -> dict:
    """Worker time per raw RQ job doing nothing, then per engine step (offline, no
    latency: claim, call, validate, persist, advance under the run lock, enqueue the next)."""
    import django_rq
    from django.db import transaction

    from orchestrator.engine import start_run
    from orchestrator.models import Pipeline, Run, Step

    queue = django_rq.get_queue("default")
    begun = time.time()
    with queue.connection.pipeline() as pipe:
        job_ids = [queue.enqueue(noop, result_ttl=600, pipeline=pipe).id for _ in range(jobs)]
        pipe.execute()
    _wait_for(lambda: queue.count == 0 and queue.started_job_registry.count == 0, 300, "no-op jobs did not finish")
    raw_span = _last_end(queue, job_ids) - begun

    pipeline = Pipeline.objects.get(slug="contract-debate")
    with transaction.atomic():
        ids = [start_run(document, pipeline).pk for _ in range(jobs // 3)]
        begun = time.time()
    batch = Run.objects.filter(pk__in=ids)
    _wait_for(lambda: batch.filter(status__in=Run.FINISHED).count() == len(ids), 600, "overhead runs did not finish")
    steps = Step.objects.filter(run__in=ids).count()
    engine_span = max(run.finished_at.timestamp() for run in batch) - begun

    raw_ms = raw_span * 1000 * MAIN_WORKERS / jobs
    step_ms = engine_span * 1000 * MAIN_WORKERS / steps
    return {
        "workers": MAIN_WORKERS,
        "raw_rq_jobs": jobs,
        "engine_steps": steps,
        "raw_rq_ms_per_job": round(raw_ms, 2),
        "engine_ms_per_step": round(step_ms, 2),
        "step_overhead_over_raw_rq": round(step_ms / raw_ms, 2),
    }


def _last_end(queue, job_ids: list[str]) -> float:
    from rq.job import Job

    ends = [job.ended_at for job in Job.fetch_many(job_ids, connection=queue.connection) if job and job.ended_at]
    return max(end.timestamp() for end in ends)


def _documents() -> dict:
    import hashlib

    from django.core.files.base import ContentFile

    from documents.models import Document
    from orchestrator.demo.documents import SAMPLES

    found = {}
    for name, text in SAMPLES.items():
        data = text.encode()
        digest = hashlib.sha256(data).hexdigest()
        document = Document.objects.filter(sha256=digest).first() or Document.objects.create(
            file=ContentFile(data, name=name), original_name=name, sha256=digest, kind=Document.Kind.TEXT,
            size=len(data), text=text,
        )  # fmt: skip
        found[name] = document
    return found


def _empty_queues(names: list[str]) -> None:
    import django_rq

    for name in names:
        django_rq.get_queue(name).empty()


def _live_workers() -> int:
    import django_rq
    from rq import Worker

    return len(Worker.all(connection=django_rq.get_connection("default")))


def _wait_for(condition, timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(message)
        time.sleep(0.05)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _print(name: str, workers: int, measured: dict) -> None:
    print(
        f"   {name:<10} W={workers}: wall/floor mean {measured['wall_over_floor']:.3f} "
        f"p95 {measured['wall_p95_over_floor']:.3f} (floor {measured['floor_mean_s']:.2f} s); "
        f"{measured['runs_per_min']:.1f} runs/min of {measured['limit_runs_per_min']:.1f} "
        f"({measured['throughput_over_limit']:.2f})",
        flush=True,
    )
