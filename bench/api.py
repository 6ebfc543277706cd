"""The JSON API under load: with 100k runs in the database (bench.pages' 10k runs
and their 100k review items, topped up to 100k runs), a run's detail and the runs
list are timed through the real endpoints (django.test.Client, in process) with a
bearer token, as an integration would call them."""

import random
import time
from decimal import Decimal
from urllib.parse import urlsplit

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.models import ApiToken
from bench import pages
from config.roles import ANALYST
from documents.models import Document
from orchestrator.models import Pipeline, Run, Step

RUNS = 100_000
WITH_STEPS = 500  # runs given a debate's three steps, for the detail endpoint
REQUESTS = 200
STATUSES = ["done"] * 12 + ["needs_review"] * 4 + ["reviewed"] * 2 + ["failed", "running"]


def _seed() -> None:
    """Top bench.pages' runs up to RUNS with smaller results, and give WITH_STEPS of
    them their steps. Skipped when a previous bench already did."""
    pages._seed(pages._users())
    missing = RUNS - Run.objects.count()
    rng = random.Random(11)
    if missing > 0:
        documents = list(Document.objects.filter(original_name__startswith="bench-contract-").only("id"))
        pipelines = list(Pipeline.objects.filter(slug__startswith=pages.SLUG))
        with transaction.atomic():
            findings = [
                pages._finding("auto_renewal", k, pages.CLAUSES[k % len(pages.CLAUSES)], "agreed") for k in range(3)
            ]
            result = {"pattern": "debate", "stand_in": True, "findings": findings,
                      "counts": {"agreed": 3, "disputed": 0, "issues": 3}}  # fmt: skip
            now = timezone.now()
            Run.objects.bulk_create(
                [Run(document=documents[n % len(documents)], pipeline=pipelines[n % len(pipelines)],
                     status=rng.choice(STATUSES), result=result, cost=Decimal("0.0123"), steps_planned=3,
                     steps_done=3, input_tokens=9000, output_tokens=1200, started_at=now, finished_at=now)
                 for n in range(missing)],
                batch_size=5000,
            )  # fmt: skip
    if Step.objects.filter(run__pipeline__slug__startswith=pages.SLUG).count() >= WITH_STEPS * 3:
        return
    with transaction.atomic():
        ids = Run.objects.filter(pipeline__slug__startswith=pages.SLUG).values_list("id", flat=True)
        chosen = rng.sample(list(ids), WITH_STEPS)
        request = {"system": "You are advocate A.", "messages": [{"role": "user", "content": pages._text(1)}]}
        Step.objects.bulk_create(
            [Step(run_id=run_id, key=key, slot=key.split(":")[0], wave=wave, status="succeeded", provider="offline",
                  model="offline-rules", request=request, raw_response='{"findings": []}',
                  output={"findings": [pages._finding("auto_renewal", 1, pages.CLAUSES[1], "agreed")]},
                  input_tokens=3000, output_tokens=400, cost=Decimal("0.004"), latency_ms=900,
                  attempts=[{"number": 1, "latency_ms": 900}])
             for run_id in chosen for wave, key in ((0, "advocate:a"), (0, "advocate:b"), (1, "judge"))],
            batch_size=2000,
        )  # fmt: skip


def run() -> dict:
    started = time.monotonic()
    _seed()
    pages._settle()
    print(f"   seeded (or reused) {Run.objects.count():,} runs in {time.monotonic() - started:.0f} s", flush=True)
    user = pages._users()[0]
    user.groups.add(Group.objects.get_or_create(name=ANALYST)[0])
    _, secret = ApiToken.issue(user, "bench", ["read"])
    headers = {"Authorization": f"Bearer {secret}"}
    client = Client(SERVER_NAME="localhost")
    rng = random.Random(5)
    with_steps = list(
        Step.objects.filter(key="judge", run__pipeline__slug__startswith=pages.SLUG).values_list("run_id", flat=True)
    )
    # The tenth page, by following `next` as a client does.
    url = "/api/v1/runs"
    for _ in range(10):
        parts = urlsplit(client.get(url, headers=headers).json()["next"])
        url = f"{parts.path}?{parts.query}"
    variants = {
        "run": [f"/api/v1/runs/{pk}" for pk in rng.choices(with_steps, k=REQUESTS)],
        "runs_list": ["/api/v1/runs"] * REQUESTS,
        "runs_list_tenth_page": [url] * REQUESTS,
        "runs_list_filtered": [f"/api/v1/runs?status=failed&pipeline={pages.SLUG}-1"] * REQUESTS,
    }
    figures: dict = {}
    for name, urls in variants.items():
        timings = pages._time(client, urls, **headers)
        figures[f"{name}_p50_ms"] = pages._p(timings, 50)
        figures[f"{name}_p95_ms"] = pages._p(timings, 95)
        print(f"   {name:<20} p50 {pages._p(timings, 50):>7} ms   p95 {pages._p(timings, 95):>7} ms", flush=True)
    with CaptureQueriesContext(connection) as detail:
        client.get(variants["run"][0], headers=headers)
    with CaptureQueriesContext(connection) as listing:
        client.get("/api/v1/runs", headers=headers)
    figures["run_queries"] = len(detail.captured_queries)
    figures["runs_list_queries"] = len(listing.captured_queries)
    figures["runs"] = Run.objects.count()
    return {"api": figures}
