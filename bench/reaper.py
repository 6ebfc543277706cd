"""The reaper over a backlog: how long `keeprunsmoving` takes when thousands of
steps are queued (a burst of uploads, workers busy or down). Every step here is
waiting in its queue, so a pass must requeue none of them.

BACKLOG steps of BACKLOG / 2 running Debate runs are created queued and their jobs
enqueued (no worker runs); then requeue_stuck() (telling lost jobs from waiting
ones) and a whole tick of keeprunsmoving (every pass) are each timed PASSES
times, the best kept. The queue is emptied and the runs failed after.
"""

import io
import os
import time

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from documents.models import Document
from orchestrator import jobs
from orchestrator.demo.seed import seed_debate_pipeline, seed_prices
from orchestrator.engine import requeue_stuck
from orchestrator.models import Run, Step

BACKLOG = int(os.environ.get("QUORUM_BENCH_REAPER_BACKLOG", 10_000))
PASSES = 3


class Queries:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def run() -> dict:
    seed_prices()
    pipeline = seed_debate_pipeline()
    agent = pipeline.slots.exclude(agent=None).first().agent
    document, _ = Document.objects.get_or_create(
        sha256="bench-reaper".ljust(64, "0"),
        defaults={"original_name": "reaper.txt", "kind": "text", "size": 1, "text": "x", "file": "r.txt"},
    )
    queue = jobs.get_queue(agent.queue if agent.queue in settings.RQ_QUEUES else "default")
    queue.empty()
    runs = Run.objects.bulk_create(
        [Run(document=document, pipeline=pipeline, status=Run.Status.RUNNING) for _ in range(BACKLOG // 2)],
        batch_size=2000,
    )
    steps = Step.objects.bulk_create(
        [Step(run=run, key=f"advocate:{side}", slot=side, agent=agent, job_id=jobs.new_job_id())
         for run in runs for side in ("a", "b")],
        batch_size=2000,
    )  # fmt: skip
    mine = {run.pk for run in runs}  # other modules' steps may be about too
    for step in steps:
        jobs.enqueue_step(step.pk, step.job_id, queue.name, agent.timeout_s)
    try:
        timings, requeued, queries = [], 0, Queries()
        with connection.execute_wrapper(queries):
            for _ in range(PASSES):
                started = time.perf_counter()
                requeued += sum(step.run_id in mine for step in requeue_stuck())
                timings.append(time.perf_counter() - started)
        ticks = []
        for _ in range(PASSES):
            started = time.perf_counter()
            call_command("keeprunsmoving", stdout=io.StringIO())
            ticks.append(time.perf_counter() - started)
    finally:
        queue.empty()
        Step.objects.filter(run__in=mine).update(status=Step.Status.FAILED, error="bench backlog")
        Run.objects.filter(pk__in=mine).update(status=Run.Status.FAILED)
    best, tick = min(timings), min(ticks)
    print(f"   {BACKLOG} queued steps: requeue pass {best:.2f} s, whole tick {tick:.2f} s (best of {PASSES}), "
          f"{requeued} requeued (0 expected), {queries.count / PASSES:.0f} queries a requeue pass")  # fmt: skip
    return {"reaper": {"backlog": BACKLOG, "pass_s": round(best, 3), "tick_s": round(tick, 3), "requeued": requeued,
                       "queries_per_pass": round(queries.count / PASSES)}}  # fmt: skip
