"""Replay a run from one of its steps, with the prompt versions active now (journey 4)."""

import re

import pytest
from django.urls import reverse

from orchestrator import engine
from orchestrator.demo.documents import INVOICE_DE
from orchestrator.models import Agent, PromptVersion, Run
from orchestrator.runs.replay import diff_results, replay_from
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def normalized(total: float) -> dict:
    """What the normalize stage returns for INVOICE_DE, with `total` read as given."""
    fields = {
        "invoice_number": "RE-2026-0042",
        "issue_date": "2026-11-25",
        "due_date": None,
        "total": total,
        "net": None,
        "tax": None,
        "currency": "EUR",
        "vendor": "ACME Maschinenbau GmbH",
        "customer": "Globex Trading Ltd",
    }
    return {"fields": fields, "notes": [f"total: '4.904,94' read as {total}"]}


@pytest.fixture
def wrong_total(make_document, chain_pipeline, scripted, run_jobs, analyst):
    """A chain run whose normalize stage (scripted) read 4.904,94 as 4.90494."""
    scripted.take_over(Agent.objects.filter(slug="stage-normalize"))
    scripted.enqueue("stage:normalize", [normalized(4.90494)])
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline, analyst)
    run_jobs()
    run.refresh_from_db()
    assert run.result["fields"]["total"] == 4.90494
    return run


FIX = "Read 4.904,94 as 4904.94: a dot groups thousands, a comma marks decimals."


def fix_the_normalize_prompt(scripted) -> PromptVersion:
    """A new prompt version, and the reply the model gives once it reads it."""
    prompt = Agent.objects.get(slug="stage-normalize").prompt
    version = prompt.revise({"system": FIX, "template": prompt.active.template}, "fix", None)
    scripted.enqueue("stage:normalize", [normalized(4904.94)])
    return version


def test_a_replay_reuses_the_steps_before_and_reruns_the_rest_with_the_active_prompts(wrong_total, scripted, run_jobs):
    first = wrong_total.steps.get(key="stage:2:normalize").prompt_version
    fixed = fix_the_normalize_prompt(scripted)
    normalize = wrong_total.steps.get(key="stage:2:normalize")
    replay = replay_from(normalize, wrong_total.created_by)
    run_jobs()
    replay.refresh_from_db()

    assert replay.replay_of == wrong_total and replay.replay_from == "stage:2:normalize"
    assert replay.status == Run.Status.DONE
    original = {step.key: step for step in wrong_total.steps.all()}
    steps = {step.key: step for step in replay.steps.all()}
    assert set(steps) == set(original)
    # Extract ran before normalize: reused, not called again; its output and cost are the original's.
    extract = steps["stage:1:extract"]
    assert extract.copied_from == original["stage:1:extract"]
    assert extract.output == original["stage:1:extract"].output
    # Normalize and everything after it ran again; normalize with the fixed prompt.
    rerun = {key for key, step in steps.items() if step.copied_from_id is None}
    assert rerun == {"stage:2:normalize", "shadow:2:normalize", "stage:3:enrich", "stage:4:format"}
    assert (original["stage:2:normalize"].prompt_version, steps["stage:2:normalize"].prompt_version) == (first, fixed)
    asked = [request["system"] for request in scripted.history("stage:normalize")]
    assert asked == [first.system, FIX]
    assert steps["stage:3:enrich"].inputs["record"]["fields"]["total"] == 4904.94
    assert replay.result["fields"]["total"] == 4904.94
    # The reused step was paid for by the original run.
    assert replay.input_tokens == sum(steps[key].input_tokens for key in rerun)
    changed = {row["path"]: (row["before"], row["after"]) for row in diff_results(wrong_total.result, replay.result)}
    assert changed["fields/total"] == (4.90494, 4904.94)
    assert all(path.startswith(("fields/", "record/", "summary")) for path in changed), changed
    wrong_total.refresh_from_db()
    assert wrong_total.result["fields"]["total"] == 4.90494  # the original is untouched


def test_replaying_from_the_first_step_reruns_everything(wrong_total, scripted, run_jobs):
    scripted.enqueue("stage:normalize", [normalized(4.90494)])
    replay = replay_from(wrong_total.steps.get(key="stage:1:extract"))
    run_jobs()
    replay.refresh_from_db()
    assert replay.status == Run.Status.DONE
    assert replay.steps.count() == wrong_total.steps.count()
    assert not replay.steps.filter(copied_from__isnull=False).exists()
    assert len(scripted.history("stage:normalize")) == 2
    assert diff_results(wrong_total.result, replay.result) == []


def test_analyst_replays_from_the_step_page_and_sees_the_diff(client_for, analyst, wrong_total, scripted, run_jobs):
    fix_the_normalize_prompt(scripted)
    client = client_for(analyst)
    step = wrong_total.steps.get(key="stage:2:normalize")
    page = client.get(reverse("orchestrator:step", args=[wrong_total.pk, step.pk])).content.decode()
    assert 'data-testid="replay"' in page

    response = client.post(reverse("orchestrator:replay", args=[wrong_total.pk, step.pk]))
    replay = Run.objects.get(replay_of=wrong_total)
    assert response.status_code == 302 and response["Location"] == replay.get_absolute_url()
    run_jobs()

    page = client.get(replay.get_absolute_url()).content.decode()
    assert f'Replay of <a href="{wrong_total.get_absolute_url()}">run {wrong_total.pk}</a>' in page
    assert 'data-testid="diff"' in page and "fields/total" in page
    assert "4.90494" in page and "4904.94" in page
    assert "reused from run" in page
    original = client.get(wrong_total.get_absolute_url()).content.decode()
    assert replay.get_absolute_url() in original


def test_replay_refuses_get(client_for, analyst, wrong_total):
    step = wrong_total.steps.first()
    assert client_for(analyst).get(reverse("orchestrator:replay", args=[wrong_total.pk, step.pk])).status_code == 405


def test_outsider_cannot_replay(client_for, outsider, wrong_total):
    step = wrong_total.steps.first()
    response = client_for(outsider).post(reverse("orchestrator:replay", args=[wrong_total.pk, step.pk]))
    assert response.status_code == 403
    assert not Run.objects.filter(replay_of=wrong_total).exists()


def test_a_run_still_going_cannot_be_replayed(client_for, analyst, make_document, chain_pipeline, queues):
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline)
    step = run.steps.get()
    response = client_for(analyst).post(reverse("orchestrator:replay", args=[run.pk, step.pk]), follow=True)
    assert "Only a finished top-level run can be replayed" in response.content.decode()
    assert not Run.objects.filter(replay_of=run).exists()


def test_a_step_of_another_run_is_not_found(client_for, analyst, wrong_total, make_document, chain_pipeline, run_jobs):
    other = engine.start_run(make_document("Invoice No. X-1\nTotal: 5,00 EUR", "other.txt"), chain_pipeline)
    run_jobs()
    step = other.steps.first()
    response = client_for(analyst).post(reverse("orchestrator:replay", args=[wrong_total.pk, step.pk]))
    assert response.status_code == 404


def test_diff_matches_findings_by_key_not_position():
    before = {"findings": [{"key": "a:1", "is_issue": True}, {"key": "b:1", "is_issue": True}]}
    after = {"findings": [{"key": "b:1", "is_issue": False}, {"key": "a:1", "is_issue": True}]}
    assert diff_results(before, after) == [{"path": "findings/b:1/is_issue", "before": True, "after": False}]
    assert diff_results(before, before) == []


@pytest.mark.browser
def test_journey_4_from_a_wrong_total_to_the_stage_that_made_it_and_a_replay(
    live_server, page, analyst, wrong_total, scripted, worker, screenshot
):
    """Sam, on call: "the invoice total is wrong"."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", analyst.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/documents/")

    # 1. From the run's result, the wrong field names the step that produced it.
    page.goto(f"{live_server.url}{wrong_total.get_absolute_url()}")
    total = page.get_by_test_id("fields").locator("tr", has=page.locator("code", has_text="total")).first
    assert "4.90494" in total.inner_text()
    screenshot("journey-4-1-wrong-total")
    total.get_by_role("link", name="stage:2:normalize").click()

    # 2. The normalize stage was handed "4.904,94" and made it 4.90494.
    page.wait_for_url(re.compile(r".*/steps/\d+/$"))
    assert "4.904,94" in page.content() and "4.90494" in page.content()
    screenshot("journey-4-2-normalize-step")

    # 3. After the prompt fix, replay from this stage and compare the two runs.
    fix_the_normalize_prompt(scripted)
    page.get_by_test_id("replay").click()
    page.wait_for_url(re.compile(r".*/runs/\d+/$"))
    page.get_by_test_id("run-status").filter(has_text="Done").wait_for(timeout=60_000)
    diff = page.get_by_test_id("diff")
    diff.wait_for()
    assert "total" in diff.inner_text() and "4904.94" in diff.inner_text()  # the fields side by side
    assert "Replay of" in page.get_by_test_id("replay-of").inner_text()
    screenshot("journey-4-3-replay-diff")


def test_a_replay_of_a_run_on_too_little_text_is_not_reviewed_either(make_document, chain_pipeline, run_jobs):
    run = engine.start_run(make_document("Total: 5 EUR", "placeholder.txt"), chain_pipeline)
    run_jobs()
    assert run.not_reviewed

    replay = replay_from(run.steps.get(key="stage:2:normalize"))
    run_jobs()
    replay.refresh_from_db()
    assert replay.not_reviewed == run.not_reviewed
    assert replay.shown_status == "Not reviewed"
