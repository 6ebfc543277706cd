"""The engine with real PostgreSQL, Valkey and RQ workers."""

import os
import subprocess
import sys
import threading
from datetime import timedelta

import django_rq
import pytest
from django.db import connection, transaction
from django.utils import timezone

from orchestrator import engine
from orchestrator.models import Run, Step
from review.models import ReviewItem
from tests.conftest import CONTRACT, database_url

pytestmark = pytest.mark.django_db(transaction=True)


RENEWAL = {
    "type": "auto_renewal",
    "title": "Renews itself",
    "severity": "medium",
    "evidence": "This Agreement shall automatically renew for successive twelve-month terms",
    "explanation": "Silent renewal.",
}
NON_COMPETE = {
    "type": "non_compete",
    "title": "Two-year non-compete",
    "severity": "high",
    "evidence": "The Customer shall not engage any competing supplier for 24 months after termination.",
    "explanation": "Long restraint.",
}
PAYMENT = {
    "type": "payment_terms",
    "title": "Ninety-day payment",
    "severity": "low",
    "evidence": "Invoices are payable within 90 days",
    "explanation": "Long terms.",
}


def verdict(key: str, is_issue: bool, confidence: float = 0.8) -> dict:
    return {
        "key": key,
        "is_issue": is_issue,
        "recommendation": "accept_a" if is_issue else "accept_b",
        "confidence": confidence,
        "criteria": [],
        "rationale": "Scripted.",
    }


def script_a_debate(scripted, pipeline) -> None:
    """A finds renewal and non-compete, B renewal and payment: one agreement, two
    disputes. No audit sample, and the judge is unsure of the low-severity payment
    dispute (under the default policy's threshold), so the review items are the two disputes."""
    pipeline.audit_rate = 0
    pipeline.save(update_fields=["audit_rate"])
    scripted.take_over_pipeline(pipeline)
    scripted.enqueue("advocate:thorough", [{"findings": [RENEWAL, NON_COMPETE]}])
    scripted.enqueue("advocate:strict", [{"findings": [RENEWAL, PAYMENT]}])
    scripted.enqueue("judge", [{"verdicts": [verdict("non_compete:1", True), verdict("payment_terms:1", False, 0.6)]}])


def test_a_debate_run_finishes_with_findings_and_review_items(make_document, debate_pipeline, scripted, run_jobs):
    script_a_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    run.refresh_from_db()

    assert run.status == Run.Status.NEEDS_REVIEW
    assert run.steps_done == run.steps_planned == 3
    assert sorted(run.steps.values_list("key", flat=True)) == ["advocate:a", "advocate:b", "judge"]
    # The judge was shown the two advocates' findings matched up, and only then called.
    [judge_request] = scripted.history("judge")
    matches = {match["key"]: match["status"] for match in judge_request["inputs"]["matches"]}
    assert matches == {"auto_renewal:1": "agreed", "non_compete:1": "disputed", "payment_terms:1": "disputed"}
    findings = {f["key"]: (f["status"], f["is_issue"], f["flagged_by"]) for f in run.result["findings"]}
    assert findings == {
        "auto_renewal:1": ("agreed", True, ["a", "b"]),
        "non_compete:1": ("disputed", True, ["a"]),
        "payment_terms:1": ("disputed", False, ["b"]),
    }
    assert run.result["counts"] == {"agreed": 1, "disputed": 2, "issues": 2}
    routing = {f["key"]: f["routing"]["rule"] for f in run.result["findings"]}
    assert routing == {"auto_renewal:1": "agreed", "non_compete:1": "disagreement", "payment_terms:1": "disagreement"}
    items = ReviewItem.objects.filter(run=run, reason="disagreement")
    assert sorted(items.values_list("finding_type", flat=True)) == ["non_compete", "payment_terms"]
    assert (run.input_tokens, run.output_tokens) == (300, 150)
    assert run.result["stand_in"] is False


def test_steps_are_enqueued_only_after_the_transaction_commits(make_document, debate_pipeline, queues):
    advocates = django_rq.get_queue("advocates")
    with transaction.atomic():
        engine.start_run(make_document(), debate_pipeline)
        assert advocates.count == 0
    assert advocates.count == 2


def test_a_step_delivered_twice_calls_the_model_once(make_document, debate_pipeline, scripted, queues):
    script_a_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    engine.execute_step(step.pk)
    step.refresh_from_db()
    assert step.status == Step.Status.SUCCEEDED
    assert len(scripted.history("advocate:thorough")) == 1
    assert len(step.attempts) == 1


def test_the_judge_is_scheduled_once_when_both_advocates_finish(make_document, debate_pipeline, scripted, queues):
    script_a_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    for step in run.steps.all():
        engine.execute_step(step.pk)
    engine.advance(run.pk)
    assert run.steps.filter(key="judge").count() == 1
    assert django_rq.get_queue("judges").count == 1


def _execute_in_threads(step_ids) -> list[Exception]:
    """Execute each step in a thread of its own (each with its own database
    connection, as two workers have); what they raised."""
    errors = []

    def execute(step_id: int) -> None:
        try:
            engine.execute_step(step_id)
        except Exception as error:  # noqa: BLE001 - returned to the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=execute, args=(step_id,)) for step_id in step_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_advocates_finishing_at_the_same_moment_schedule_the_judge_once(
    make_document, debate_pipeline, scripted, queues
):
    """The fan-in race: both advocates' replies are held until both calls are in
    flight, then released together, so the two steps settle and advance the run in
    two threads at once. The lock on the run row makes exactly one of them see
    both advocates done and schedule the judge."""
    for attempt in range(3):  # the race is real: give it more than one chance to go wrong
        script_a_debate(scripted, debate_pipeline)
        scripted.release_together(2)
        run = engine.start_run(make_document(f"Contract {attempt}.\n{CONTRACT}"), debate_pipeline)
        assert _execute_in_threads(run.steps.values_list("pk", flat=True)) == []
        assert run.steps.filter(status=Step.Status.SUCCEEDED).count() == 2
        assert run.steps.filter(key="judge").count() == 1, f"attempt {attempt}"
        assert django_rq.get_queue("judges").count == attempt + 1


def test_a_lost_step_is_requeued_and_its_run_finishes(make_document, debate_pipeline, run_jobs):
    run = engine.start_run(make_document(), debate_pipeline)
    # A worker took the step and was killed: the row says running, the job is gone.
    step = run.steps.get(key="advocate:a")
    django_rq.get_queue("advocates").empty()
    Step.objects.filter(pk=step.pk).update(status=Step.Status.RUNNING, started_at=timezone.now())
    requeued = engine.requeue_stuck(now=timezone.now() + timedelta(seconds=30))
    assert {s.key for s in requeued} == {"advocate:a", "advocate:b"}
    run_jobs()
    run.refresh_from_db()
    assert run.is_finished and run.status != Run.Status.FAILED
    step.refresh_from_db()
    assert [a["error_class"] for a in step.attempts] == ["LostJob", ""]


def test_a_step_without_an_active_prompt_fails_the_run_with_a_clear_error(make_document, debate_pipeline, run_jobs):
    prompt = debate_pipeline.agent_for("advocate_b").prompt
    prompt.active = None
    prompt.save()
    run = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "advocate:b failed" in run.error and "no active version" in run.error


def test_both_advocates_run_at_the_same_time_on_different_workers(make_document, debate_pipeline, queues):
    run = engine.start_run(make_document(), debate_pipeline)
    env = {**os.environ, "DATABASE_URL": database_url(), "QUORUM_OFFLINE_LATENCY": "1"}
    command = [sys.executable, "manage.py", "rqworker", "advocates", "judges", "--burst",
               "--worker-class", "rq.worker.SimpleWorker"]  # fmt: skip
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=60) == 0, worker.stderr.read().decode()[-2000:]
    # A burst worker stops when the queues are empty; the judge may be left for us.
    if not Run.objects.get(pk=run.pk).is_finished:
        subprocess.run(command, env=env, timeout=60, check=True, capture_output=True)

    a, b = run.steps.get(key="advocate:a"), run.steps.get(key="advocate:b")
    assert a.started_at < b.finished_at and b.started_at < a.finished_at, "the advocates did not overlap"
    run.refresh_from_db()
    assert run.is_finished
    # Two waves (advocates side by side, then the judge), not three one after another.
    judge = run.steps.get(key="judge")
    assert run.critical_path_ms == max(a.latency_ms, b.latency_ms) + judge.latency_ms
    assert run.critical_path_ms >= 2000


def test_rebuttal_rounds_render_the_advocates_rebuttal_prompt(make_document, debate_pipeline, run_jobs):
    debate_pipeline.rebuttal_rounds = 2
    debate_pipeline.save()
    run = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    run.refresh_from_db()

    keys = sorted(run.steps.values_list("key", flat=True))
    assert keys == ["advocate:a", "advocate:b", "judge", "rebuttal:1:a", "rebuttal:1:b", "rebuttal:2:a", "rebuttal:2:b"]
    first, rebuttal = run.steps.get(key="advocate:a"), run.steps.get(key="rebuttal:2:a")
    agent = debate_pipeline.agent_for("advocate_a")
    assert first.prompt_version == agent.prompt.active
    assert rebuttal.prompt_version == agent.rebuttal_prompt.active
    assert rebuttal.prompt_kind == "rebuttal" and rebuttal.parent_key == "rebuttal:1:a"
    message = rebuttal.request["messages"][0]["content"]
    assert "Rebuttal round 2" in message and "The other advocate's findings" in message
    assert run.steps.get(key="rebuttal:1:b").wave == 2 and run.steps.get(key="judge").wave == 4
    assert all("confidence" in finding for finding in run.result["findings"])


def test_an_advocate_without_a_rebuttal_prompt_rebuts_with_its_main_one(make_document, debate_pipeline, run_jobs):
    debate_pipeline.rebuttal_rounds = 1
    debate_pipeline.save()
    agent = debate_pipeline.agent_for("advocate_b")
    agent.rebuttal_prompt = None
    agent.save()
    run = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    assert run.steps.get(key="rebuttal:1:b").prompt_version == agent.prompt.active


def test_reseeding_gives_existing_advocates_their_rebuttal_prompt_but_keeps_an_admins_choice(debate_pipeline):
    from orchestrator.demo.seed import seed_debate_pipeline
    from orchestrator.models import Agent, Prompt

    Agent.objects.filter(slug="advocate-a-thorough").update(rebuttal_prompt=None)
    Agent.objects.filter(slug="advocate-b-strict").update(rebuttal_prompt=Prompt.objects.get(slug="debate-judge"))
    seed_debate_pipeline()
    assert Agent.objects.get(slug="advocate-a-thorough").rebuttal_prompt.slug == "advocate-thorough-rebuttal"
    assert Agent.objects.get(slug="advocate-b-strict").rebuttal_prompt.slug == "debate-judge"


def test_a_schedule_naming_an_empty_slot_fails_the_run_clearly(make_document, debate_pipeline, queues):
    debate_pipeline.slots.get(name="advocate_b").delete()
    run = engine.start_run(make_document(), debate_pipeline)
    assert run.status == Run.Status.FAILED
    assert "nothing in slot 'advocate_b'" in run.error


def test_a_step_keeps_the_price_it_was_charged_at(make_document, debate_pipeline, queues):
    from decimal import Decimal

    from orchestrator.models import ModelPrice

    ModelPrice.objects.filter(model="offline-rules").update(input_per_mtok=Decimal(3), output_per_mtok=Decimal(15))
    run = engine.start_run(make_document(), debate_pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    step.refresh_from_db()
    charged = step.cost
    assert charged == (Decimal(3) * step.input_tokens + Decimal(15) * step.output_tokens) / 1_000_000
    assert step.price["input_per_mtok"] == "3.0000" and step.price["batch"] is False

    ModelPrice.objects.filter(model="offline-rules").update(input_per_mtok=Decimal(30))
    step.refresh_from_db()
    assert step.cost == charged and step.price["input_per_mtok"] == "3.0000"
