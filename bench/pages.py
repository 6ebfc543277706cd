"""Review pages under load: with 100k review items in the database, the inbox
(full page, its htmx refresh, filtered, sorted) and item pages are timed through
the real views (django.test.Client, in process), and a decision too (each one
rolled back, so the seeded set stays as it is)."""

import hashlib
import random
import statistics
import time
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.roles import REVIEWER
from documents.models import Document
from orchestrator.models import Pipeline, Run
from review.models import Claim, Decision, ReviewItem

ITEMS = 100_000
PER_RUN = 10  # review items per run: 10k runs
DOCUMENTS = 200
REQUESTS = 200
SLUG = "bench-review"
REASONS = ["disagreement"] * 12 + ["audit_sample"] * 6 + ["partial_result", "validation_failure"]
CLAUSES = [
    "This Agreement shall automatically renew for successive twelve-month terms.",
    "The Supplier's liability under this Agreement shall not be limited.",
    "Invoices are payable within 90 days, and late payments bear interest of 2% per month.",
    "The Customer shall not engage any competing supplier for 24 months after termination.",
    "Each party shall keep the other's confidential information secret for five years.",
]


def _text(n: int) -> str:
    """About 12 pages of contract: numbered boilerplate with the clauses findings quote."""
    lines = [f"MASTER SUPPLY AGREEMENT No. {n}", ""]
    for number in range(1, 240):
        clause = CLAUSES[number % len(CLAUSES)] if number % 40 == 0 else "Definitions and interpretation apply."
        lines.append(f"{number}. {clause} The parties agree that section {number} is read with the schedules.")
    return "\n".join(lines)


def _finding(kind: str, number: int, evidence: str, status: str) -> dict:
    a = {
        "key": f"{kind}:{number}",
        "type": kind,
        "title": f"{kind.replace('_', ' ').capitalize()} {number}",
        "severity": "high",
        "evidence": evidence,
        "explanation": "The clause is one-sided and open-ended.",
    }
    judge = {
        "key": a["key"],
        "is_issue": True,
        "recommendation": "accept_a",
        "confidence": 0.55 + number % 4 / 10,
        "criteria": ["definite-wording", "evidence-quoted"],
        "rationale": "Definite wording; the clause stands.",
    }
    return {
        **a,
        "status": status,
        "flagged_by": ["a"] if status == "disputed" else ["a", "b"],
        "a": a,
        "b": None if status == "disputed" else a,
        "judge": judge,
        "is_issue": True,
        "review": {"reason": "disagreement", "item_id": None, "decision": None},
    }


def _users() -> list[User]:
    group = Group.objects.get_or_create(name=REVIEWER)[0]
    users = []
    for n in range(5):
        user, _ = User.objects.get_or_create(username=f"bench-reviewer-{n}")
        user.groups.add(group)
        users.append(user)
    return users


def _seed(reviewers: list[User]) -> None:
    """10k runs of 10 items each over 200 documents and 3 pipelines; 85% of the
    items waiting (some claimed, some of those claims expired), 15% decided.
    Skipped when a previous bench already seeded them."""
    if ReviewItem.objects.filter(run__pipeline__slug__startswith=SLUG).count() >= ITEMS:
        return
    rng = random.Random(4)
    now = timezone.now()
    with transaction.atomic():
        pipelines = [
            Pipeline.objects.get_or_create(slug=f"{SLUG}-{n}", defaults={"name": f"Bench {n}", "pattern": "debate"})[0]
            for n in range(3)
        ]
        documents = []
        for n in range(DOCUMENTS):
            text = _text(n)
            documents.append(
                Document.objects.get_or_create(
                    sha256=hashlib.sha256(f"{SLUG}-{n}".encode()).hexdigest(),
                    defaults={"original_name": f"bench-contract-{n}.txt", "kind": "text", "size": len(text),
                              "text": text, "file": "documents/bench-review.txt",
                              "doc_type": ["contract", "invoice", ""][n % 3]},
                )[0]
            )  # fmt: skip
        runs = []
        for n in range(ITEMS // PER_RUN):
            findings = [
                _finding("auto_renewal", k, CLAUSES[k % len(CLAUSES)], "disputed" if k % 3 else "agreed")
                for k in range(PER_RUN)
            ]
            runs.append(Run(document=documents[n % DOCUMENTS], pipeline=pipelines[n % 3], status="needs_review",
                            result={"pattern": "debate", "stand_in": True, "findings": findings,
                                    "counts": {"agreed": 4, "disputed": 6, "issues": 10}}))  # fmt: skip
        runs = Run.objects.bulk_create(runs, batch_size=2000)
        items = []
        for run in runs:
            for finding in run.result["findings"]:
                reason = rng.choice(REASONS)
                roll = rng.random()
                status = "resolved" if roll < 0.15 else "claimed" if roll < 0.20 else "open"
                holder = rng.choice(reviewers) if status == "claimed" else None
                items.append(ReviewItem(
                    run=run, pipeline_id=run.pipeline_id, reason=reason, finding_key=finding["key"],
                    finding_type=finding["type"], title=finding["title"], judge=finding["judge"],
                    machine_is_issue=True, status=status,
                    positions={"a": finding["a"], "b": finding["b"],
                               "finding": {k: finding[k] for k in ("type", "title", "severity", "evidence")}},
                    created_at=now - timedelta(seconds=rng.randrange(72 * 3600)),
                    claimed_by=holder,
                    # Half the claims have run out: the inbox must tell them apart.
                    claim_expires_at=now + timedelta(minutes=rng.choice([-5, 10])) if holder else None,
                    resolved_at=now if status == "resolved" else None,
                ))  # fmt: skip
        items = ReviewItem.objects.bulk_create(items, batch_size=5000)
        Claim.objects.bulk_create(
            [Claim(item=item, user=item.claimed_by, claimed_at=item.claim_expires_at - timedelta(minutes=15),
                   expires_at=item.claim_expires_at) for item in items if item.claimed_by_id],
            batch_size=5000,
        )  # fmt: skip
        Decision.objects.bulk_create(
            [Decision(item=item, decided_by=rng.choice(reviewers), choice=rng.choice(["accept_a", "accept_b"]),
                      is_issue=True, overturned=rng.random() < 0.2, seconds_spent=rng.randrange(5, 300),
                      created_at=now - timedelta(seconds=rng.randrange(14 * 86400)))
             for item in items if item.status == "resolved"],
            batch_size=5000,
        )  # fmt: skip


def _settle() -> None:
    """A database in its steady state, as autovacuum keeps it: statistics current
    and the visibility map set, so the index-only scans stay index-only."""
    with connection.cursor() as cursor:
        for table in ("review_reviewitem", "review_decision", "review_claim", "orchestrator_run"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _time(client: Client, urls: list[str], **headers) -> list[float]:
    for url in urls[:10]:  # warm caches and connections
        client.get(url, headers=headers)
    timings = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return timings


def _p(timings: list[float], percentile: int) -> float:
    return round(statistics.quantiles(timings, n=100, method="inclusive")[percentile - 1], 1)


def run() -> dict:
    reviewers = _users()
    started = time.monotonic()
    _seed(reviewers)
    _settle()
    print(f"   seeded (or reused) {ITEMS:,} review items in {time.monotonic() - started:.0f} s", flush=True)
    client = Client(SERVER_NAME="localhost")  # an allowed host
    client.force_login(reviewers[0])
    rng = random.Random(7)
    pipeline = f"{SLUG}-1"
    pending = list(
        ReviewItem.objects.pending().filter(run__pipeline__slug__startswith=SLUG).values_list("id", flat=True)
    )
    pages = rng.sample(range(1, 2000), REQUESTS)
    variants = {
        "inbox": ["/review/"] * REQUESTS,
        "inbox_refresh": [f"/review/?page={page}" for page in pages],
        "inbox_filtered": [f"/review/?reason=disagreement&pipeline={pipeline}&claimed=available"] * REQUESTS,
        "item_filtered": [f"/review/items/{pk}/?reason=disagreement&sort=-age" for pk in rng.sample(pending, REQUESTS)],
        "inbox_sorted": ["/review/?sort=-judge"] * REQUESTS,
        # No index can serve these: every pending item is sorted.
        "inbox_full_sort": ["/review/?sort=pipeline&overdue_first=on"] * REQUESTS,
        "item": [f"/review/items/{pk}/" for pk in rng.sample(pending, REQUESTS)],
    }
    figures: dict = {}
    for name, urls in variants.items():
        headers = {"HX-Request": "true"} if name == "inbox_refresh" else {}
        timings = _time(client, urls, **headers)
        figures[f"{name}_p50_ms"] = _p(timings, 50)
        figures[f"{name}_p95_ms"] = _p(timings, 95)
        print(f"   {name:<16} p50 {_p(timings, 50):>7} ms   p95 {_p(timings, 95):>7} ms", flush=True)

    with CaptureQueriesContext(connection) as inbox_queries:
        client.get("/review/")
    with CaptureQueriesContext(connection) as item_queries:
        client.get(f"/review/items/{pending[0]}/")
    figures["inbox_queries"] = len(inbox_queries.captured_queries)
    figures["item_queries"] = len(item_queries.captured_queries)

    # A decision and the redirect to the next item, each rolled back.
    timings = []
    for pk in rng.sample(pending, REQUESTS):
        audit = ReviewItem.objects.filter(pk=pk, reason=ReviewItem.Reason.AUDIT_SAMPLE).exists()
        with transaction.atomic():
            started = time.perf_counter()
            client.post(f"/review/items/{pk}/decide/", {"choice": "agents_right" if audit else "stands"})
            timings.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
    figures["decide_p50_ms"], figures["decide_p95_ms"] = _p(timings, 50), _p(timings, 95)
    print(f"   {'decide':<16} p50 {figures['decide_p50_ms']:>7} ms   p95 {figures['decide_p95_ms']:>7} ms")

    started = time.perf_counter()
    client.get("/review/metrics/?days=14")
    figures["metrics_ms"] = round((time.perf_counter() - started) * 1000, 1)
    print(f"   {'metrics':<16} {figures['metrics_ms']} ms (14 days, {Decision.objects.count():,} decisions)")
    figures["review_items"] = ReviewItem.objects.count()
    return {"pages": figures}
