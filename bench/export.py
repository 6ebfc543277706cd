"""CSV export speed and memory: every CSV the app offers (100k findings, 100k steps and
100k runs, and the runs CSV again over 10k runs of ten findings each) streamed
through the real views (django.test.Client, in process), rows per second and how
much the process's resident memory grew while streaming.
Target (issue 14): each >= 20k rows/s with <= 50 MB growth at 100k rows."""

import hashlib
import time

import psutil
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from documents.models import Document
from orchestrator.demo.seed import seed_debate_pipeline
from orchestrator.models import Run, Step

RUNS = 10_000
PER_RUN = 10  # findings and steps per run: 100k rows each


def _seed() -> None:
    pipeline = seed_debate_pipeline()
    if Run.objects.filter(pipeline=pipeline, document__original_name="bench-export.txt").count() >= RUNS:
        return
    agent = pipeline.agent_for("advocate_a")
    with transaction.atomic():
        text = "Bench export document."
        document, _ = Document.objects.get_or_create(
            sha256=hashlib.sha256(b"bench-export").hexdigest(),
            defaults={"original_name": "bench-export.txt", "kind": "text", "size": len(text), "text": text,
                      "file": "documents/bench-export.txt"},
        )  # fmt: skip
        findings = [
            {
                "key": f"payment_terms:{n}", "type": "payment_terms", "title": "Payment term over 60 days",
                "severity": "medium", "evidence": "Invoices are payable within 90 days.", "explanation": "rule",
                "status": "agreed" if n % 3 else "disputed", "flagged_by": ["a", "b"] if n % 3 else ["a"],
                "judge": {"key": f"payment_terms:{n}", "is_issue": True, "recommendation": "accept_a",
                          "confidence": 0.9, "criteria": ["payment-policy"], "rationale": "definite"},
                "is_issue": True, "review": None,
            }
            for n in range(1, PER_RUN + 1)
        ]  # fmt: skip
        result = {"pattern": "debate", "stand_in": True, "findings": findings, "counts": {"issues": PER_RUN}}
        runs = Run.objects.bulk_create(
            [Run(document=document, pipeline=pipeline, status="done", result=result) for _ in range(RUNS)],
            batch_size=2000,
        )
        Step.objects.bulk_create(
            [
                Step(run=run, key=f"step:{n}", slot="advocate_a", agent=agent, status="succeeded", input_tokens=1200,
                     output_tokens=300, latency_ms=900)
                for run in runs
                for n in range(PER_RUN)
            ],
            batch_size=5000,
        )  # fmt: skip


def _measure(client: Client, url: str) -> dict:
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    started = time.perf_counter()
    response = client.get(url)
    rows = -1  # the header
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
        if rows % 5000 == 0:
            peak = max(peak, process.memory_info().rss)
    seconds = time.perf_counter() - started
    peak = max(peak, process.memory_info().rss)
    return {"rows": rows, "rows_per_s": round(rows / seconds), "mem_growth_mb": round((peak - before) / 2**20, 1)}


# Every CSV the app offers, by URL name, and the filter that selects its rows.
EXPORTS = {
    "findings": ("orchestrator:findings_export", "?q=bench-export"),
    "steps": ("orchestrator:steps_export", "?q=bench-export"),
    "runs": ("orchestrator:runs_export", "?q=scale-contract"),
    # The runs CSV again over the 10k runs above, ten findings each (as real runs
    # have), where joining findings costs most: 10k rows, not 100k.
    "runs_wide": ("orchestrator:runs_export", "?q=bench-export"),
}


def _csv_urls(patterns=None, namespace: str = "") -> set[str]:
    """The names of every URL whose route ends in .csv, so a CSV added later and
    not measured here fails the bench instead of going unmeasured."""
    found = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found |= _csv_urls(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and str(pattern.pattern).endswith(".csv") and pattern.name:
            found.add(namespace + pattern.name)
    return found


def run() -> dict:
    _seed()
    # The runs CSV at 100k rows: the runs bench.runpages seeds (once) on scale-contract-N.txt.
    from bench import runpages

    runpages.ensure_seeded()
    user, _ = User.objects.get_or_create(username="bench-analyst")
    user.groups.add(Group.objects.get_or_create(name="analyst")[0])
    client = Client(SERVER_NAME="localhost")  # an allowed host
    client.force_login(user)
    unmeasured = _csv_urls() - {name for name, _ in EXPORTS.values()}
    assert not unmeasured, f"CSV exports bench.export does not measure: {sorted(unmeasured)}"
    urls = {name: reverse(url_name) for name, (url_name, _) in EXPORTS.items()}
    # Warm up once on an empty export, so one-time imports are not counted as growth.
    for url in urls.values():
        b"".join(client.get(url + "?q=nothing-matches").streaming_content)
    measured = {name: _measure(client, url + EXPORTS[name][1]) for name, url in urls.items()}
    for name, figures in measured.items():
        print(f"   {name}.csv: {figures['rows']} rows, {figures['rows_per_s']} rows/s, "
              f"+{figures['mem_growth_mb']} MB")  # fmt: skip
    findings = measured["findings"]
    return {
        "export": {
            # The headline figures are the findings export: the widest rows.
            "rows_per_s": findings["rows_per_s"],
            "mem_growth_mb": findings["mem_growth_mb"],
            # One pair of keys per CSV, and the slowest and the largest growth of them all.
            **{f"{name}_rows_per_s": figures["rows_per_s"] for name, figures in measured.items()},
            **{f"{name}_rss_growth_mb": figures["mem_growth_mb"] for name, figures in measured.items()},
            "min_rows_per_s": min(figures["rows_per_s"] for figures in measured.values()),
            "max_rss_growth_mb": max(figures["mem_growth_mb"] for figures in measured.values()),
            **measured,
        }
    }
