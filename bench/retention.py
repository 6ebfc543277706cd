"""Trace retention: bytes a step keeps in PostgreSQL before and after its raw
trace is archived. 2,000 finished steps with a 12-page contract in the request
(about 15 kB, as real contract reviews send) are archived with archive_run; the
row sizes are pg_column_size sums (TOAST-compressed, as stored), and the day
files' size is what the archive costs on disk instead."""

import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench.pages import _text
from documents.models import Document
from orchestrator.demo.seed import seed_debate_pipeline, seed_prices
from orchestrator.models import Pipeline, Run, Step
from orchestrator.runs.archive import archive_run

STEPS = 2000


def _sizes(run: Run) -> tuple[float, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT avg(pg_column_size(s.*)),
                      avg(coalesce(pg_column_size(request), 0) + pg_column_size(raw_response)
                          + pg_column_size(attempts))
               FROM orchestrator_step s WHERE run_id = %s""",
            [run.pk],
        )
        row, raw = cursor.fetchone()
    return round(float(row)), round(float(raw))


def run() -> dict:
    seed_prices()
    seed_debate_pipeline()
    pipeline, _ = Pipeline.objects.get_or_create(slug="bench-retention", defaults={"name": "Bench retention",
                                                                                    "pattern": "debate"})  # fmt: skip
    document, _ = Document.objects.get_or_create(
        sha256="bench-retention".ljust(64, "0"),
        defaults={"original_name": "retention.txt", "kind": "text", "size": 1, "text": "x", "file": "x.txt"},
    )
    text = _text(7)
    run = Run.objects.create(document=document, pipeline=pipeline, status=Run.Status.DONE)
    Step.objects.bulk_create(
        [Step(run=run, key=f"advocate:{n}", slot="a", status=Step.Status.SUCCEEDED, provider="anthropic",
              request={"system": "You review contracts for one-sided clauses.",
                       "messages": [{"role": "user", "content": f"Contract {n}:\n{text}"}], "max_tokens": 4096},
              raw_response='{"findings": [{"type": "auto_renewal", "title": "Renews itself", "evidence": "renew"}]}',
              output={"findings": [{"type": "auto_renewal", "title": "Renews itself", "evidence": "renew"}]},
              attempts=[{"number": 1, "at": "2026-11-01T10:00:00+00:00", "latency_ms": 900, "error_class": "",
                         "error": ""}], input_tokens=4000, output_tokens=300, cost="0.0165")
         for n in range(STEPS)],
        batch_size=500,
    )  # fmt: skip
    run.finished_at = run.created_at
    run.save(update_fields=["finished_at"])
    Step.objects.filter(run=run).update(finished_at=run.created_at)
    before, raw_before = _sizes(run)
    files = Path(settings.ARCHIVE_DIR)
    on_disk = sum(f.stat().st_size for f in files.glob("steps-*.jsonl.gz")) if files.exists() else 0
    started = time.perf_counter()
    archived = archive_run(run)
    seconds = time.perf_counter() - started
    after, raw_after = _sizes(run)
    archive_bytes = sum(f.stat().st_size for f in files.glob("steps-*.jsonl.gz")) - on_disk
    figures = {
        "bytes_per_step_before": before,
        "bytes_per_step_after": after,
        "raw_bytes_per_step_before": raw_before,
        "raw_bytes_per_step_after": raw_after,
        "archive_bytes_per_step": round(archive_bytes / archived),
        "archived_steps_per_s": round(archived / seconds),
    }
    print(f"   {archived} steps: {before} B a row before, {after} B after; archive {figures['archive_bytes_per_step']} "
          f"B a step; {figures['archived_steps_per_s']} steps/s", flush=True)  # fmt: skip
    Run.objects.filter(pk=run.pk).delete()
    return {"retention": figures}
