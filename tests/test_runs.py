"""Run pages, the runs CSV and /healthz."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orchestrator import engine
from orchestrator.models import Run, Step

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_run(make_document, debate_pipeline, run_jobs, analyst):
    run = engine.start_run(make_document(user=analyst), debate_pipeline, analyst)
    run_jobs()
    run.refresh_from_db()
    return run


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_run_page_shows_findings_with_evidence_and_the_stand_in_label(client_for, analyst, finished_run):
    response = client_for(analyst).get(finished_run.get_absolute_url())
    page = response.content.decode()
    assert response.status_code == 200
    assert "rule-based offline provider" in page
    assert "automatically renew for successive twelve-month terms" in page
    assert "advocate:a" in page and "judge" in page
    # Finished: the live region no longer polls.
    assert 'hx-trigger="every 1s"' not in page


def test_run_page_polls_while_the_run_is_going(client_for, analyst, make_document, debate_pipeline, queues):
    run = engine.start_run(make_document(), debate_pipeline)
    response = client_for(analyst).get(run.get_absolute_url(), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert "0 of 3 steps done" in page
    assert "<html" not in page  # just the partial


def test_runs_list_polls_only_while_a_run_is_going(client_for, analyst, finished_run, make_document, debate_pipeline):
    client = client_for(analyst)
    page = client.get(reverse("orchestrator:runs")).content.decode()
    assert finished_run.document.original_name in page
    assert 'hx-trigger="every 2s"' not in page

    engine.start_run(make_document("1. Renewal. It shall automatically renew.", name="second.txt"), debate_pipeline)
    page = client.get(reverse("orchestrator:runs"), headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in page and "second.txt" in page


def test_step_page_shows_the_request_and_the_output(client_for, analyst, finished_run):
    step = finished_run.steps.get(key="advocate:b")
    page = client_for(analyst).get(reverse("orchestrator:step", args=[finished_run.pk, step.pk])).content.decode()
    assert "Advocate B (strict)" in page
    assert "advocate-strict v1" in page
    assert "findings" in page


def test_step_page_shows_a_latency_under_a_millisecond_as_0_ms(client_for, analyst, finished_run):
    step = finished_run.steps.get(key="advocate:b")
    Step.objects.filter(pk=step.pk).update(latency_ms=0)
    page = client_for(analyst).get(reverse("orchestrator:step", args=[finished_run.pk, step.pk])).content.decode()
    assert '<dd data-testid="step-latency">0 ms</dd>' in page
    assert "– ms" not in page  # as if it had never been timed


def test_document_and_model_text_are_escaped(client_for, analyst, make_document, debate_pipeline, run_jobs):
    hostile = "<script>alert('x')</script>\n1. Renewal. This Agreement shall automatically renew <b>yearly</b>."
    run = engine.start_run(make_document(hostile, name="<img src=x onerror=alert(1)>.txt"), debate_pipeline)
    run_jobs()
    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in page


def test_not_reviewed_runs_are_filtered_as_the_list_shows_them(client_for, analyst, make_document, debate_pipeline):
    reviewed = Run.objects.create(document=make_document(), pipeline=debate_pipeline, status=Run.Status.DONE)
    placeholder = Run.objects.create(
        document=make_document("%PDF-", "contract.pdf"), pipeline=debate_pipeline, status=Run.Status.DONE,
        not_reviewed="5 characters of text",
    )  # fmt: skip
    client = client_for(analyst)

    def listed(status: str) -> list[Run]:
        return list(client.get(reverse("orchestrator:runs"), {"status": status}).context["table"].data)

    # Listed as "Not reviewed", it is found under that, and "Done" means what it says.
    assert listed("not_reviewed") == [placeholder]
    assert listed("done") == [reviewed]
    rows = _csv(client.get(reverse("orchestrator:runs_export"), {"status": "not_reviewed"}))
    assert [(int(row["run"]), row["status"]) for row in rows] == [(placeholder.pk, "not_reviewed")]


def test_runs_csv_has_one_row_per_run_and_honours_filters(
    client_for, analyst, finished_run, make_document, debate_pipeline
):
    failed = Run.objects.create(
        document=make_document("=HYPERLINK(1)", name="=cmd.txt"),
        pipeline=debate_pipeline,
        status=Run.Status.FAILED,
        error="boom",
    )
    client = client_for(analyst)
    rows = _csv(client.get(reverse("orchestrator:runs_export")))
    assert [int(row["run"]) for row in rows] == [failed.pk, finished_run.pk]
    assert rows[0]["document"] == "'=cmd.txt"  # neutralised for spreadsheets
    done = rows[1]
    assert done["pipeline"] == "contract-debate" and done["pattern"] == "debate"
    assert "renew" in done["findings"].lower()
    assert int(done["input_tokens"]) == finished_run.input_tokens

    only_failed = _csv(client.get(reverse("orchestrator:runs_export"), {"status": "failed"}))
    assert [int(row["run"]) for row in only_failed] == [failed.pk]


def test_healthz_tells_anonymous_callers_only_whether_it_is_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_reports_database_redis_and_workers_to_staff(client_for, admin_user):
    response = client_for(admin_user).get("/healthz")
    data = response.json()
    assert response.status_code == 200
    assert data["status"] == "ok"
    assert data["database"]["ok"] and data["redis"]["ok"]
    assert "count" in data["workers"]


@pytest.mark.parametrize("name", ["orchestrator:runs", "orchestrator:runs_export", "orchestrator:pipelines"])
def test_outsider_cannot_open_run_pages(client_for, outsider, name):
    assert client_for(outsider).get(reverse(name)).status_code == 403


def test_outsider_cannot_open_a_run_or_its_steps(client_for, outsider, finished_run):
    client = client_for(outsider)
    step = finished_run.steps.first()
    assert client.get(finished_run.get_absolute_url()).status_code == 403
    assert client.get(reverse("orchestrator:step", args=[finished_run.pk, step.pk])).status_code == 403


def test_outsider_cannot_start_a_run(client_for, outsider, make_document, debate_pipeline):
    document = make_document()
    response = client_for(outsider).post(
        reverse("orchestrator:start", args=[document.pk]), {"pipeline": "contract-debate"}
    )
    assert response.status_code == 403
    assert not Run.objects.exists()


def test_analyst_starts_a_run_from_a_document(client_for, analyst, make_document, debate_pipeline, queues):
    document = make_document()
    response = client_for(analyst).post(
        reverse("orchestrator:start", args=[document.pk]), {"pipeline": "contract-debate"}
    )
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.created_by == analyst


def test_findings_csv_has_one_row_per_finding_with_who_flagged_it(client_for, analyst, finished_run):
    rows = _csv(client_for(analyst).get(reverse("orchestrator:findings_export")))
    findings = finished_run.result["findings"]
    assert len(rows) == len(findings)
    by_key = {row["finding"]: row for row in rows}
    for finding in findings:
        row = by_key[finding["key"]]
        assert row["evidence"] == finding["evidence"]
        assert row["flagged_by"] == {2: "both"}.get(len(finding["flagged_by"]), finding["flagged_by"][0].upper())
        assert row["agreement"] == finding["status"]
        # Every finding says which rule of the routing policy routed it, queued or not.
        assert row["routing_rule"] == finding["routing"]["rule"]
        assert row["review_reason"] == (finding["review"] or {}).get("reason", "")
        if finding["status"] == "disputed":
            assert row["judge_call"] in {"issue", "not an issue"}


def test_steps_csv_honours_the_pipeline_filter(client_for, analyst, finished_run):
    client = client_for(analyst)
    rows = _csv(client.get(reverse("orchestrator:steps_export"), {"pipeline": "contract-debate"}))
    assert sorted(row["step"] for row in rows) == ["advocate:a", "advocate:b", "judge"]
    assert all(int(row["input_tokens"]) > 0 for row in rows)
    assert _csv(client.get(reverse("orchestrator:steps_export"), {"status": "failed"})) == []


def _exported_run(n: int, document, pipeline) -> Run:
    """A finished run with two findings (one decided by a reviewer) and three steps, made directly."""
    findings = [
        {"key": f"auto_renewal:{n}", "type": "auto_renewal", "title": "Renews itself", "severity": "medium",
         "evidence": "renews\nautomatically", "status": "agreed", "flagged_by": ["a", "b"], "is_issue": True,
         "review": {"reason": "disputed", "decision": {"choice": "accept_a", "by": "daniel", "at": "2026-11-30"}},
         "routing": {"rule": "always", "why": "every finding"}},
        {"key": f"governing_law:{n}", "type": "governing_law", "title": "=Governing law", "severity": "low",
         "evidence": "New York", "status": "disputed", "flagged_by": ["b"], "is_issue": False, "review": None,
         "judge": {"is_issue": False, "confidence": 0.8}},
    ]  # fmt: skip
    run = Run.objects.create(
        document=document, pipeline=pipeline, status=Run.Status.DONE,
        result={"findings": findings, "counts": {"issues": 1, "agreed": 1, "disputed": 1}},
    )  # fmt: skip
    for key, slot in (("advocate:a", "advocate_a"), ("advocate:b", "advocate_b"), ("judge", "judge")):
        Step.objects.create(
            run=run, key=key, slot=slot, agent=pipeline.agent_for(slot), status=Step.Status.SUCCEEDED, input_tokens=10
        )
    return run


def test_each_csv_row_reads_as_before_neutralised_and_one_line_per_cell(
    client_for, analyst, make_document, debate_pipeline
):
    """The exact cells of each CSV for one run made directly, through the views:
    formulas quoted, evidence on one line, decisions with who made them."""
    run = _exported_run(0, make_document(name="contract-0.txt"), debate_pipeline)
    client = client_for(analyst)
    [row] = _csv(client.get(reverse("orchestrator:runs_export")))
    assert row == {
        "run": str(run.pk), "document": "contract-0.txt", "pipeline": "contract-debate", "pattern": "debate",
        "status": "done", "findings": "Renews itself [issue]; =Governing law [not an issue]", "issues": "1",
        "agreed": "1", "disputed": "1", "decisions": "auto_renewal:0: accept_a by daniel", "input_tokens": "0",
        "output_tokens": "0", "cost_usd": "0.000000", "wall_time_s": "", "created_at": run.created_at.isoformat(),
        "not_reviewed": "",
    }  # fmt: skip
    renewal, law = _csv(client.get(reverse("orchestrator:findings_export")))
    assert renewal == {
        "run": str(run.pk), "document": "contract-0.txt", "pipeline": "contract-debate", "finding": "auto_renewal:0",
        "type": "auto_renewal", "title": "Renews itself", "severity": "medium", "evidence": "renews automatically",
        "flagged_by": "both", "agreement": "agreed", "judge_call": "", "judge_confidence": "", "final": "issue",
        "review_reason": "disputed", "decision": "accept_a", "decided_by": "daniel", "decided_at": "2026-11-30",
        "note": "", "routing_rule": "always", "routing": "every finding",
    }  # fmt: skip
    assert (law["title"], law["flagged_by"], law["judge_call"], law["judge_confidence"], law["decision"]) == (
        "'=Governing law", "B", "not an issue", "0.8", ""
    )  # fmt: skip
    steps = _csv(client.get(reverse("orchestrator:steps_export")))
    assert [(row["step"], row["agent"], row["input_tokens"], row["cost_usd"]) for row in steps] == [
        ("advocate:a", "advocate-a-thorough", "10", "0.000000"),
        ("advocate:b", "advocate-b-strict", "10", "0.000000"),
        ("judge", "debate-judge", "10", "0.000000"),
    ]


@pytest.mark.parametrize(
    "findings",
    [
        [{"key": "a:1", "title": "=Renews", "is_issue": True, "review": {"decision": {"choice": "x", "by": "rosa"}}},
         {"key": "b:1", "title": "Law", "is_issue": False, "review": {"reason": "disputed", "decision": None}}],
        [],
        None,
        "missing",
        # Shapes the engine does not write, joined in Python instead of the database, to the same cells.
        [{"key": "a:1", "title": 42, "is_issue": 1}, {"key": ["k"], "title": ["t"], "is_issue": "yes"}],
        [{"key": 7, "title": "T", "is_issue": True, "review": {"decision": {"choice": 1, "by": None}}}],
        {},
    ],
)  # fmt: skip
def test_runs_csv_joins_findings_and_decisions_the_same_for_every_shape(
    client_for, analyst, make_document, debate_pipeline, findings
):
    from orchestrator.runs.export import finding_cells, safe_cell

    result = {"counts": {}} if findings == "missing" else {"findings": findings}
    Run.objects.create(document=make_document(), pipeline=debate_pipeline, status=Run.Status.DONE, result=result)
    [row] = _csv(client_for(analyst).get(reverse("orchestrator:runs_export")))
    joined, decisions = finding_cells(None if findings == "missing" else findings)
    assert (row["findings"], row["decisions"]) == (safe_cell(joined), safe_cell(decisions))


@pytest.mark.parametrize(
    ("name", "per_run"),
    [("orchestrator:runs_export", 1), ("orchestrator:findings_export", 2), ("orchestrator:steps_export", 3)],
)
def test_every_csv_makes_as_many_queries_for_30_runs_as_for_one(
    client_for, analyst, make_document, debate_pipeline, name, per_run
):
    """No query per run, per finding or per step: the documents, pipelines and agents
    come in the export's one query, however many runs it holds."""
    client = client_for(analyst)
    client.get(reverse(name))  # the session and the user, read once before counting

    def export(runs: int) -> int:
        while Run.objects.count() < runs:
            n = Run.objects.count()
            _exported_run(n, make_document(f"1. Renewal. Contract {n}.", name=f"contract-{n}.txt"), debate_pipeline)
        with CaptureQueriesContext(connection) as queries:
            rows = _csv(client.get(reverse(name)))
        assert len(rows) == runs * per_run
        return len(queries)

    assert export(1) == export(30)


@pytest.mark.parametrize("name", ["orchestrator:findings_export", "orchestrator:steps_export"])
def test_outsider_cannot_export(client_for, outsider, name):
    assert client_for(outsider).get(reverse(name)).status_code == 403


def test_trace_draws_a_bar_per_step_linking_to_it_and_marks_failed_attempts(client_for, analyst, finished_run):
    step = finished_run.steps.get(key="advocate:a")
    step.attempts = [
        {"number": 1, "at": step.started_at.isoformat(), "latency_ms": 5, "error_class": "TransientError",
         "error": "HTTP 529 overloaded"},
        *step.attempts,
    ]  # fmt: skip
    step.save()
    page = client_for(analyst).get(reverse("orchestrator:trace", args=[finished_run.pk])).content.decode()
    for each in finished_run.steps.all():
        assert reverse("orchestrator:step", args=[finished_run.pk, each.pk]) in page
    assert page.count('class="bar succeeded"') == 3
    assert page.count('class="attempt failed"') == 1
    assert "TransientError: HTTP 529 overloaded" in page
