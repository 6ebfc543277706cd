"""Budgets: a per-run cap stops a run cleanly, a monthly cap holds new runs until
release_held_runs starts them, and the spend page adds it all up."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from orchestrator import engine, spend
from orchestrator.models import ModelPrice, Pipeline, Run, Step

pytestmark = pytest.mark.django_db(transaction=True)

SPEND = reverse("orchestrator:spend")


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


def test_spend_adds_up_by_month_and_by_pipeline(make_document, debate_pipeline):
    now = timezone.make_aware(datetime(2026, 3, 15, 12))
    other = Pipeline.objects.create(slug="other", name="Other", pattern=Pipeline.Pattern.CHAIN, monthly_budget=4)
    debate_pipeline.monthly_budget = Decimal("10")
    debate_pipeline.save()
    document = make_document()

    def spent(pipeline: Pipeline, when: datetime, cost: str, **step) -> Step:
        run = Run.objects.create(document=document, pipeline=pipeline, status=Run.Status.DONE, created_at=when)
        return Step.objects.create(run=run, key="k", slot="s", cost=cost, queued_at=when, **step)

    spent(debate_pipeline, now, "1.25")
    spent(debate_pipeline, now.replace(day=1), "0.75")
    spent(other, now, "5.00")
    spent(debate_pipeline, now.replace(month=1), "2.00")
    spent(debate_pipeline, now.replace(year=2025, month=4), "0.50")  # the oldest month shown
    spent(debate_pipeline, now.replace(year=2025, month=3), "9.00")  # 13 months ago: left out
    reused = spent(debate_pipeline, now, "1.00")
    spent(debate_pipeline, now, "7.00", copied_from=reused)  # a replay's reused step was paid once
    parent = spent(debate_pipeline, now, "0.30")  # a step holding a pipeline carries its child's cost
    child = Run.objects.create(document=document, pipeline=other, parent_step=parent, created_at=now)
    Step.objects.create(run=child, key="k", slot="s", cost="0.30", queued_at=now)

    overview = spend.overview(now)

    months = [(row["month"].strftime("%Y-%m"), row["cost"]) for row in overview["months"]]
    assert len(months) == 12
    assert months[0] == ("2025-04", Decimal("0.50"))
    assert months[-2:] == [("2026-02", Decimal(0)), ("2026-03", Decimal("8.30"))]
    assert dict(months)["2026-01"] == Decimal("2.00")
    assert overview["total"] == Decimal("10.80")
    rows = {row.pipeline.slug: row for row in overview["pipelines"]}
    assert rows["contract-debate"].total == Decimal("5.80")
    assert rows["contract-debate"].this_month == Decimal("3.30")
    assert rows["contract-debate"].monthly_percent == 33
    assert rows["other"].this_month == Decimal("5.00")
    assert rows["other"].monthly_percent == 125 and rows["other"].over_monthly_budget
    assert debate_pipeline.spent_this_month(now) == Decimal("3.30")


def test_spend_page_shows_caps_and_this_months_use(client_for, analyst, make_document, debate_pipeline):
    debate_pipeline.budget_per_run = Decimal("0.5")
    debate_pipeline.monthly_budget = Decimal("4")
    debate_pipeline.save()
    _spend_this_month(debate_pipeline, make_document, "1.00")
    response = client_for(analyst).get(SPEND)
    assert response.status_code == 200
    assert "$0.5000" in response.text and "$4.00" in response.text
    assert "25%" in response.text
    assert f'href="{SPEND}"' in response.text  # in the nav


def test_outsider_cannot_open_the_spend_page(client_for, outsider):
    assert client_for(outsider).get(SPEND).status_code == 403


def test_upload_page_shows_the_estimate_for_the_chosen_pipeline(client_for, analyst, debate_pipeline):
    response = client_for(analyst).get(reverse("documents:upload"))
    assert 'id="estimate-table"' in response.text
    assert [estimate.pipeline for estimate in response.context["estimates"]] == [debate_pipeline]
    assert f'hx-get="{reverse("orchestrator:estimate")}"' in response.text


def test_estimate_partial_follows_the_upload_pages_pipeline_choice(client_for, analyst, debate_pipeline):
    Pipeline.objects.create(slug="other", name="Other", pattern=Pipeline.Pattern.CHAIN)
    client = client_for(analyst)
    url = reverse("orchestrator:estimate")

    chosen = client.get(url, {"pipeline": debate_pipeline.pk}, headers={"HX-Request": "true"})
    assert [estimate.pipeline for estimate in chosen.context["estimates"]] == [debate_pipeline]
    assert "<html" not in chosen.text

    none = client.get(url, {"pipeline": ""}, headers={"HX-Request": "true"})
    assert none.context["estimates"] is None
    assert "No active pipelines" not in none.text
