"""Run pages at a million steps: 100k runs and 1M steps are seeded once with bulk
SQL (INSERT ... SELECT over generate_series, no ORM per row) and reused by later
bench runs (a marker table in the bench database says they are there); then the
runs list (plain, filtered, sorted), a run page, the trace waterfall of a 50-step
run, the dashboard and the spend page are timed through the real views
(django.test.Client, in process), with the queries each page makes.

The dashboard reads roll-ups the reaper folds every tick (keeprunsmoving): it is timed
once they are folded, as the reaper leaves them ("dashboard"), and again with a change
queued for every active pipeline since the last fold, which each view then works out
itself ("dashboard_busy"), as it would between two ticks on a busy day."""

import os
import random
import statistics
import time

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from config.roles import ANALYST
from documents.models import Document
from insights import days
from orchestrator.demo.seed import seed_debate_pipeline, seed_prices
from orchestrator.models import Pipeline, PipelineSlot, Run
from review import load

RUNS = 100_000
STEPS_PER_RUN = 10  # 1M steps
WIDE_STEPS = 50  # the one run whose waterfall is timed
DOCUMENTS = 500
DAYS = 365
SLUG = "bench-scale"
MARKER = "runs-100k-steps-1m-v1"
REQUESTS = 100


def _marked() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_seed (name text PRIMARY KEY, at timestamptz DEFAULT now())")
        cursor.execute("SELECT 1 FROM bench_seed WHERE name = %s", [MARKER])
        return cursor.fetchone() is not None


def _pipelines() -> list[Pipeline]:
    """Three Debate pipelines of their own (the real seeded agents in their slots),
    so the seeded runs never weigh on the pipelines bench.patterns runs."""
    seed_prices()
    template = seed_debate_pipeline()
    pipelines = []
    for n in range(3):
        pipeline, created = Pipeline.objects.get_or_create(
            slug=f"{SLUG}-{n}", defaults={"name": f"Bench scale {n}", "pattern": "debate", "rubric": template.rubric}
        )
        if created:
            for slot in template.slots.all():
                PipelineSlot.objects.create(pipeline=pipeline, name=slot.name, position=slot.position, agent=slot.agent)
        pipelines.append(pipeline)
    return pipelines


def _seed() -> None:
    pipelines = _pipelines()
    documents = [
        Document.objects.get_or_create(
            sha256=f"{SLUG}-{n:05d}".ljust(64, "0"),
            defaults={"original_name": f"scale-contract-{n}.txt", "kind": "text", "size": 1000,
                      "text": "A contract.", "file": "documents/bench-scale.txt", "doc_type": "contract"},
        )[0].pk
        for n in range(DOCUMENTS)
    ]  # fmt: skip
    agents = dict(pipelines[0].slots.values_list("name", "agent_id"))
    ids = [p.pk for p in pipelines]
    result = (
        '{"pattern": "debate", "stand_in": false, "counts": {"agreed": 2, "disputed": 1, "issues": 2}, "findings": '
        '[{"key": "auto_renewal:1", "type": "auto_renewal", "title": "Renews itself", "severity": "medium", '
        '"status": "agreed", "is_issue": true, "flagged_by": ["a", "b"], "evidence": "renew"}]}'
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # Runs over the last year: 70% done, 15% needs review, 5% failed, the rest reviewed.
        cursor.execute(
            """
            INSERT INTO orchestrator_run (document_id, pipeline_id, status, result, error, steps_planned, steps_done,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost, critical_path_ms,
                created_at, started_at, finished_at, replay_from, batch_mode, not_reviewed)
            SELECT (%(docs)s)[1 + n %% cardinality(%(docs)s)], (%(pipes)s)[1 + n %% 3],
                CASE WHEN n %% 20 < 14 THEN 'done' WHEN n %% 20 < 17 THEN 'needs_review'
                     WHEN n %% 20 = 17 THEN 'failed' ELSE 'reviewed' END,
                %(result)s::jsonb, '', 10, 10, 30000, 6000, 0, 0, (n %% 97) / 100.0, 40000,
                t, t + interval '1 second', t + interval '60 seconds', '', false, ''
            FROM generate_series(1, %(runs)s) n,
                 LATERAL (SELECT now() - (n::float8 * %(span)s / %(runs)s) * interval '1 second') AS at(t)
            """,
            {"docs": documents, "pipes": ids, "result": result, "runs": RUNS, "span": DAYS * 86400},
        )
        cursor.execute("SELECT min(id), max(id) FROM orchestrator_run WHERE pipeline_id = ANY(%s)", [ids])
        first, last = cursor.fetchone()
        # Ten steps a run in three waves (2 advocates, 1 judge, then 7 more), a small trace each.
        cursor.execute(
            """
            INSERT INTO orchestrator_step (run_id, key, slot, agent_id, prompt_kind, parent_key, wave, status,
                inputs, request, raw_response, output, validation_errors, attempts, error, provider, model,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost, latency_ms, job_id,
                claim, worker, batch_id, queued_at, started_at, finished_at)
            SELECT r.id, 'step:' || k, CASE WHEN k = 1 THEN 'a' WHEN k = 2 THEN 'b' ELSE 'judge' END,
                CASE WHEN k = 1 THEN %(a)s WHEN k = 2 THEN %(b)s ELSE %(judge)s END, '', '', LEAST(k, 3),
                'succeeded', '{}'::jsonb,
                '{"system": "You review contracts.", "messages": [{"role": "user", "content": "1. ..."}]}'::jsonb,
                '{"findings": []}', '{"findings": []}'::jsonb, '[]'::jsonb,
                '[{"number": 1, "latency_ms": 900, "error_class": "", "error": ""}]'::jsonb,
                '', 'anthropic', 'claude-sonnet', 3000, 600, 0, 0, r.cost / 10, 900, '', '', '', '',
                r.created_at + k * interval '1 second', r.created_at + k * interval '1 second',
                r.created_at + (k + 1) * interval '1 second'
            FROM orchestrator_run r, generate_series(1, %(per_run)s) k
            WHERE r.id BETWEEN %(first)s AND %(last)s
            """,
            {"a": agents.get("a"), "b": agents.get("b"), "judge": agents.get("judge"), "per_run": STEPS_PER_RUN,
             "first": first, "last": last},
        )  # fmt: skip
        # The wide run: 50 steps over 5 waves.
        cursor.execute(
            """
            INSERT INTO orchestrator_step (run_id, key, slot, agent_id, prompt_kind, parent_key, wave, status,
                inputs, request, raw_response, output, validation_errors, attempts, error, provider, model,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost, latency_ms, job_id,
                claim, worker, batch_id, queued_at, started_at, finished_at)
            SELECT %(run)s, 'wide:' || k, 'judge', %(judge)s, '', '', k / 10, 'succeeded', '{}'::jsonb, NULL, '',
                '{"findings": []}'::jsonb, '[]'::jsonb, '[]'::jsonb, '', 'anthropic', 'claude-sonnet',
                3000, 600, 0, 0, 0.001, 900, '', '', '', '', r.created_at + (k / 10) * interval '2 second',
                r.created_at + (k / 10) * interval '2 second', r.created_at + (k / 10 + 1) * interval '2 second'
            FROM orchestrator_run r, generate_series(1, %(wide)s) k WHERE r.id = %(run)s
            """,
            {"run": last, "judge": agents.get("judge"), "wide": WIDE_STEPS - STEPS_PER_RUN},
        )
        cursor.execute("UPDATE orchestrator_run SET steps_planned = %s, steps_done = %s WHERE id = %s",
                       [WIDE_STEPS, WIDE_STEPS, last])  # fmt: skip
        cursor.execute("INSERT INTO bench_seed (name) VALUES (%s)", [MARKER])


def _settle() -> None:
    with connection.cursor() as cursor:
        for table in ("orchestrator_run", "orchestrator_step", "documents_document"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _fold() -> None:
    """What the reaper does every tick: the dashboard's roll-ups worked out again."""
    days.fold()
    load.fold()


def _change_every_pipeline() -> None:
    """Queue a change for each active pipeline's newest run (its day, its document's
    review-load entries), as its finishing since the reaper's last tick would: the
    dashboard then works those out itself. Undone by the next _fold()."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO insights_pipelinedaychange (pipeline_id, at) SELECT id, now() FROM orchestrator_pipeline"
            " WHERE is_active"
        )
        cursor.execute(
            "INSERT INTO review_loadchange (pipeline_id, document_id) SELECT newest.* FROM orchestrator_pipeline"
            " pipeline CROSS JOIN LATERAL (SELECT pipeline_id, document_id FROM orchestrator_run"
            " WHERE pipeline_id = pipeline.id ORDER BY created_at DESC, id DESC LIMIT 1) newest"
            " WHERE pipeline.is_active"
        )


def _time(client: Client, urls: list[str], before=None) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per request: on a shared, loaded machine the CPU
    time this process spent says what the page costs, the wall time what it felt like.
    `before` (untimed) runs ahead of each request."""
    for url in urls[:5]:  # warm caches and connections
        client.get(url)
    timings, cpu = [], []
    for url in urls:
        if before:
            before()
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return timings, cpu


def _p(timings: list[float], percentile: int) -> float:
    return round(statistics.quantiles(timings, n=100, method="inclusive")[percentile - 1], 1)


def ensure_seeded() -> None:
    started = time.monotonic()
    if not _marked():
        _seed()
        _settle()
        print(f"   seeded {RUNS:,} runs and {RUNS * STEPS_PER_RUN:,} steps in {time.monotonic() - started:.0f} s")
    else:
        print("   reusing the seeded runs (bench_seed marker)")


def run() -> dict:
    ensure_seeded()
    user, _ = User.objects.get_or_create(username="bench-analyst")
    user.groups.add(Group.objects.get_or_create(name=ANALYST)[0])
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    ids = list(Pipeline.objects.filter(slug__startswith=SLUG).values_list("pk", flat=True))
    runs = Run.objects.filter(pipeline__in=ids)
    wide = runs.order_by("-id").values_list("pk", flat=True).first()
    rng = random.Random(3)
    sample = rng.sample(list(runs.values_list("pk", flat=True)[:20000]), REQUESTS)
    variants = {
        # What people browse: the first 40 pages (1,000 newest runs)...
        "runs": [f"/runs/?page={rng.randrange(1, 40)}" for _ in range(REQUESTS)],
        # ... and, apart, deep pages (OFFSET pagination reads every row before them).
        "runs_deep": [f"/runs/?page={rng.randrange(1000, 4000)}" for _ in range(REQUESTS // 4)],
        "runs_filtered": [
            f"/runs/?status=needs_review&pipeline={SLUG}-1&page={rng.randrange(1, 100)}" for _ in range(REQUESTS)
        ],  # fmt: skip
        "runs_sorted": [f"/runs/?sort=-cost&page={rng.randrange(1, 100)}" for _ in range(REQUESTS)],
        "run": [f"/runs/{pk}/" for pk in sample],
        "trace": [f"/runs/{wide}/trace/"] * REQUESTS,
        "dashboard": ["/dashboard/"] * (REQUESTS // 2),
        "dashboard_busy": ["/dashboard/"] * (REQUESTS // 2),
        "spend": ["/spend/"] * (REQUESTS // 2),
    }
    figures: dict = {}
    for name, urls in variants.items():
        _fold()
        before = _change_every_pipeline if name == "dashboard_busy" else None
        timings, cpu = _time(client, urls, before)
        if before:
            before()
        with CaptureQueriesContext(connection) as queries:
            client.get(urls[0])
        figures[f"{name}_p50_ms"] = _p(timings, 50)
        figures[f"{name}_p95_ms"] = _p(timings, 95)
        figures[f"{name}_cpu_p95_ms"] = _p(cpu, 95)
        figures[f"{name}_queries"] = len(queries.captured_queries)
        figures[f"{name}_sql_ms"] = round(sum(float(q["time"]) for q in queries.captured_queries) * 1000, 1)
        print(f"   {name:<14} p50 {_p(timings, 50):>7} ms   p95 {_p(timings, 95):>7} ms   "
              f"cpu p95 {_p(cpu, 95):>6} ms   {len(queries.captured_queries)} queries "
              f"({figures[f'{name}_sql_ms']} ms SQL)", flush=True)  # fmt: skip
    _fold()
    figures["dashboard_pipelines"] = Pipeline.objects.filter(is_active=True).count()
    figures["seeded_runs"] = runs.count()
    figures["load_average_1m"] = round(os.getloadavg()[0], 1)  # the machine is shared: say how loaded
    return {"pages": figures}
