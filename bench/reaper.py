"""The reaper's pass over a backlog: how long `keeprunsmoving` takes to tell
lost jobs from waiting ones when thousands of steps are queued (a burst of
uploads, workers busy or down). Every step here is waiting in its queue, so a
pass must requeue none of them; it reads each queued step's job once.

BACKLOG steps are created queued, their jobs enqueued (no worker runs), and
requeue_stuck() is timed over PASSES passes; the queue is emptied after.
"""

import os
import time

from django.conf import settings
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
    run = Run.objects.create(document=document, pipeline=pipeline, status=Run.Status.RUNNING)
    steps = Step.objects.bulk_create(
        [Step(run=run, key=f"backlog:{n}", slot="a", agent=agent, job_id=jobs.new_job_id()) for n in range(BACKLOG)],
        batch_size=2000,
    )
    for step in steps:
        jobs.enqueue_step(step.pk, step.job_id, queue.name, agent.timeout_s)
    try:
        timings, requeued, queries = [], 0, Queries()
        with connection.execute_wrapper(queries):
            for _ in range(PASSES):
                started = time.perf_counter()
                requeued += len(requeue_stuck())
                timings.append(time.perf_counter() - started)
    finally:
        queue.empty()
        Step.objects.filter(run=run).update(status=Step.Status.FAILED, error="bench backlog")
        run.status = Run.Status.FAILED
        run.save(update_fields=["status"])
    best = min(timings)
    print(f"   {BACKLOG} queued steps: a pass takes {best:.2f} s (of {PASSES}), {requeued} requeued (0 expected), "
          f"{queries.count / PASSES:.0f} queries a pass", flush=True)  # fmt: skip
    return {"reaper": {"backlog": BACKLOG, "pass_s": round(best, 3), "requeued": requeued,
                       "queries_per_pass": round(queries.count / PASSES)}}  # fmt: skip
