"""Engine capacity: steps per second at L = 0 with 1, 2, 4 and 8 workers.

The contract-debate pipeline's agents answer from the scripted model
(tests/scripted.py: a reply popped from Redis, no work of its own), so what is
measured is the engine and RQ, not a model. For each worker count W, W SimpleWorker
processes (`manage.py rqworker-pool`) work a burst of 20 x W debate runs started
together; steps per second is the steps done over the span from the commit that
enqueued them to the last run's finish. The agents' providers are put back after.
Documents per hour at L = 1 s per pattern are bench.patterns' by_workers figures.
"""

import time

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from bench.pages import _text
from bench.patterns import Workers, _empty_queues, _wait_for
from bench.stepprofile import FINDING, VERDICT, scripted_pipeline
from documents.models import Document
from orchestrator.demo.seed import seed_debate_pipeline, seed_prices
from orchestrator.engine import start_run
from orchestrator.models import Run, Step

SWEEP = [1, 2, 4, 8]
RUNS_PER_WORKER = 20


def run() -> dict:
    from tests import scripted

    seed_prices()
    pipeline = seed_debate_pipeline()
    script = scripted.Script()
    text = _text(1)
    document, _ = Document.objects.get_or_create(
        sha256="bench-stepprofile".ljust(64, "0"),
        defaults={"original_name": "profile.txt", "kind": "text", "size": len(text), "text": text, "file": "p.txt"},
    )
    by_workers = {}
    with scripted_pipeline(pipeline, script):
        _empty_queues(settings.RQ_QUEUE_NAMES)
        for workers in SWEEP:
            runs = RUNS_PER_WORKER * workers
            script.enqueue("advocate:thorough", [{"findings": [FINDING]}] * runs, latency_ms=0)
            script.enqueue("advocate:strict", [{"findings": [FINDING]}] * runs, latency_ms=0)
            script.enqueue("judge", [{"verdicts": [VERDICT]}] * runs, latency_ms=0)
            with Workers(workers, 0, "tests.scripted.ScriptedWorker"):
                with transaction.atomic():
                    ids = [start_run(document, pipeline).pk for _ in range(runs)]
                    begun = time.time()
                batch = Run.objects.filter(pk__in=ids)
                done = batch.filter(status__in=Run.FINISHED).count
                _wait_for(lambda done=done, runs=runs: done() == runs, 600, "capacity burst")
                span = batch.aggregate(last=Max("finished_at"))["last"].timestamp() - begun
            steps = Step.objects.filter(run__in=ids, status=Step.Status.SUCCEEDED).count()
            by_workers[str(workers)] = round(steps / span, 1)
            print(f"   L=0, {workers} worker(s): {steps} steps in {span:.1f} s = {steps / span:.1f} steps/s")
    return {"engine": {"max_steps_per_s": max(by_workers.values()), "steps_per_s_by_workers": by_workers}}
