"""Budgets: a per-run cap stops a run cleanly, a monthly cap holds new runs until
release_held_runs starts them (the spend page, which adds it all up: test_spend)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from orchestrator import engine
from orchestrator.models import ModelPrice, Pipeline, Run, Step

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def priced(debate_pipeline):
    """The offline stand-in is free; give it a price so every step costs something."""
    ModelPrice.objects.filter(model="offline-rules").update(
        input_per_mtok=Decimal("1000"), output_per_mtok=Decimal("1000")
    )
    return debate_pipeline


def test_a_run_that_reaches_its_budget_stops_and_keeps_its_steps(make_document, priced, run_jobs):
    priced.budget_per_run = Decimal("0.0001")  # less than the advocates' wave costs
    priced.save()
    run = engine.start_run(make_document(), priced)
    run_jobs()
    run.refresh_from_db()

    assert run.status == Run.Status.STOPPED_BUDGET
    assert run.is_finished and run.finished_at is not None
    steps = {step.key: step for step in run.steps.all()}
    assert sorted(steps) == ["advocate:a", "advocate:b"]  # no judge scheduled
    assert all(step.status == Step.Status.SUCCEEDED and step.output["findings"] for step in steps.values())
    spent = sum(step.cost for step in steps.values())
    assert spent >= priced.budget_per_run
    assert run.cost == spent
    assert run.result == {
        "stopped": "budget",
        "spent": str(spent),
        "cap": str(priced.budget_per_run),
        "steps_done": ["advocate:a", "advocate:b"],
        "not_started": ["judge"],
    }
    assert not run.review_items.exists()


def test_a_run_under_its_budget_finishes(make_document, priced, run_jobs):
    priced.budget_per_run = Decimal("100")
    priced.save()
    run = engine.start_run(make_document(), priced)
    run_jobs()
    run.refresh_from_db()
    assert run.status in {Run.Status.DONE, Run.Status.NEEDS_REVIEW}
    assert run.steps.filter(key="judge").exists()


def test_the_run_page_explains_a_stop_at_the_budget(client_for, analyst, make_document, priced, run_jobs):
    priced.budget_per_run = Decimal("0.0001")
    priced.save()
    run = engine.start_run(make_document(), priced)
    run_jobs()
    response = client_for(analyst).get(run.get_absolute_url())
    assert 'class="badge stopped_budget"' in response.text
    assert "Stopped at its budget" in response.text
    assert "did not start judge" in response.text


def _spend_this_month(pipeline: Pipeline, make_document, cost: str) -> Run:
    run = Run.objects.create(document=make_document(), pipeline=pipeline, status=Run.Status.DONE)
    Step.objects.create(run=run, key="advocate:a", slot="advocate_a", status=Step.Status.SUCCEEDED, cost=cost)
    return run


def test_a_pipeline_over_its_monthly_budget_holds_new_runs(make_document, debate_pipeline, queues):
    debate_pipeline.monthly_budget = Decimal("1.00")
    debate_pipeline.save()
    _spend_this_month(debate_pipeline, make_document, "1.00")

    run = engine.start_run(make_document("Another contract."), debate_pipeline)

    assert run.status == Run.Status.HELD
    assert not run.is_finished
    assert not run.steps.exists()
    engine.advance(run.pk)  # a stray advance must not start it either
    assert not run.steps.exists()


def test_held_runs_stay_held_while_the_pipeline_is_over_its_cap(make_document, debate_pipeline, queues):
    debate_pipeline.monthly_budget = Decimal("1.00")
    debate_pipeline.save()
    _spend_this_month(debate_pipeline, make_document, "1.50")
    run = engine.start_run(make_document("Another contract."), debate_pipeline)

    assert engine.release_held_runs() == []
    run.refresh_from_db()
    assert run.status == Run.Status.HELD


def test_release_held_runs_starts_a_held_run_once_the_cap_is_raised(make_document, debate_pipeline, run_jobs):
    debate_pipeline.monthly_budget = Decimal("1.00")
    debate_pipeline.save()
    _spend_this_month(debate_pipeline, make_document, "1.00")
    run = engine.start_run(make_document("Another contract."), debate_pipeline)

    debate_pipeline.monthly_budget = Decimal("5.00")
    debate_pipeline.save()
    assert [released.pk for released in engine.release_held_runs()] == [run.pk]
    run_jobs()
    run.refresh_from_db()
    assert run.status in {Run.Status.DONE, Run.Status.NEEDS_REVIEW}
    assert engine.release_held_runs() == []


def test_last_months_spend_does_not_hold_this_months_runs(make_document, debate_pipeline, queues):
    debate_pipeline.monthly_budget = Decimal("1.00")
    debate_pipeline.save()
    old = _spend_this_month(debate_pipeline, make_document, "3.00")
    old.steps.update(queued_at=timezone.now() - timedelta(days=40))

    run = engine.start_run(make_document("Another contract."), debate_pipeline)
    assert run.status == Run.Status.RUNNING


@pytest.mark.parametrize("command", ["keeprunsmoving", "requeuestuck"])  # the old name is an alias
def test_the_reaper_releases_held_runs(command, make_document, debate_pipeline, queues):
    debate_pipeline.monthly_budget = Decimal("1.00")
    debate_pipeline.save()
    _spend_this_month(debate_pipeline, make_document, "1.00")
    run = engine.start_run(make_document("Another contract."), debate_pipeline)
    Pipeline.objects.filter(pk=debate_pipeline.pk).update(monthly_budget=None)

    call_command(command)

    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING
    assert run.steps.count() == 2


def test_the_run_page_explains_a_held_run(client_for, analyst, make_document, debate_pipeline, queues):
    debate_pipeline.monthly_budget = Decimal("1.00")
    debate_pipeline.save()
    _spend_this_month(debate_pipeline, make_document, "2.00")
    run = engine.start_run(make_document("Another contract."), debate_pipeline)
    response = client_for(analyst).get(run.get_absolute_url())
    assert 'class="badge held"' in response.text
    assert "Held, not started" in response.text


def test_the_monthly_budget_counts_what_the_engines_steps_cost(make_document, priced, run_jobs):
    """The engine adds each call's cost with a conditional update (fencing): the monthly
    figure (StepSpend, kept by triggers on the step table) still sees every cent."""
    run = engine.start_run(make_document(), priced)
    run_jobs()
    run.refresh_from_db()
    spent = sum(step.cost for step in run.steps.all())
    assert spent > 0
    assert priced.spent_this_month() == spent == run.cost
