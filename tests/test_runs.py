"""Run pages, the runs CSV and /healthz."""

import csv
import io

import pytest
from django.urls import reverse

from orchestrator import engine
from orchestrator.models import Run

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


def test_document_and_model_text_are_escaped(client_for, analyst, make_document, debate_pipeline, run_jobs):
    hostile = "<script>alert('x')</script>\n1. Renewal. This Agreement shall automatically renew <b>yearly</b>."
    run = engine.start_run(make_document(hostile, name="<img src=x onerror=alert(1)>.txt"), debate_pipeline)
    run_jobs()
    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in page


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
