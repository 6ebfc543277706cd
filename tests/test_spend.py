"""The spend page: what was spent by month and by pipeline, against each pipeline's caps."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, Sum, Value
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone

from insights import spend
from orchestrator.models import Pipeline, Run, Step, StepSpend

SPEND = reverse("insights:spend")


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
    run = Run.objects.create(document=make_document(), pipeline=debate_pipeline, status=Run.Status.DONE)
    Step.objects.create(run=run, key="advocate:a", slot="advocate_a", status=Step.Status.SUCCEEDED, cost="1.00")
    response = client_for(analyst).get(SPEND)
    assert response.status_code == 200
    assert "$0.5000" in response.text and "$4.00" in response.text
    assert "25%" in response.text
    assert f'href="{SPEND}"' in response.text  # in the nav


def test_outsider_cannot_open_the_spend_page(client_for, outsider):
    assert client_for(outsider).get(SPEND).status_code == 403


def _by_month(rows, period: str) -> dict:
    """{(pipeline, provider, month): (cost, calls, tokens in, out)}, leaving out what adds up to nothing."""
    rows = (
        rows.annotate(month=TruncMonth(period))
        .values_list("pipeline", "provider", "month")
        .annotate(spent=Sum("cost"), number=Sum("calls"), tokens_in=Sum("input_tokens"), out=Sum("output_tokens"))
        .order_by()
    )
    return {(p, provider, m): tuple(figures) for p, provider, m, *figures in rows if any(figures)}


def _summed_from_the_steps() -> dict:
    """The spend page's figures as summing every step would give them (what StepSpend keeps)."""
    steps = Step.objects.filter(run__parent_step__isnull=True, copied_from__isnull=True).annotate(
        pipeline=F("run__pipeline"), calls=Value(1)
    )
    return _by_month(steps, "queued_at")


def test_the_quarter_hour_sums_follow_every_way_a_step_changes(make_document, debate_pipeline):
    """StepSpend is kept by triggers on the step table: whatever writes a step (the ORM,
    the engine's conditional updates, bulk inserts, cascades), its sums stay those of the
    steps, folded or not."""
    other = Pipeline.objects.create(slug="other", name="Other", pattern=Pipeline.Pattern.CHAIN)
    document = make_document()
    now = timezone.now()

    def check():
        assert _by_month(StepSpend.objects.all(), "period") == _summed_from_the_steps()

    run = Run.objects.create(document=document, pipeline=debate_pipeline, status=Run.Status.RUNNING)
    first = Step.objects.create(run=run, key="a", slot="a", cost="0.50", input_tokens=100, queued_at=now)
    Step.objects.bulk_create(
        [Step(run=run, key=f"b{n}", slot="b", cost="0.25", provider="offline", output_tokens=n) for n in range(3)]
    )
    check()
    # The engine adds a call's usage with a conditional update (fencing), and names the provider at its claim.
    Step.objects.filter(pk=first.pk).update(cost=F("cost") + Decimal("1.125"), output_tokens=F("output_tokens") + 7)
    Step.objects.filter(pk=first.pk).update(provider="anthropic")
    Step.objects.filter(run=run).update(status=Step.Status.SUCCEEDED)  # no counted column: nothing to add
    check()
    # Queued last month after all; a whole run of another pipeline.
    Step.objects.filter(key="b0").update(queued_at=now - timedelta(days=40))
    other_run = Run.objects.create(document=document, pipeline=other, status=Run.Status.DONE)
    Step.objects.create(run=other_run, key="x", slot="x", cost="2.00", queued_at=now - timedelta(days=70))
    check()
    # A replay's reused step counts once; once its original is deleted, it is the only copy left.
    replay = Run.objects.create(document=document, pipeline=debate_pipeline, replay_of=run)
    Step.objects.create(run=replay, key="a", slot="a", cost="1.625", copied_from=first, queued_at=now)
    check()
    # A step holding a pipeline carries its child run's cost (saved whole, as _finish_parent_step does).
    parent = Step.objects.create(run=run, key="nested", slot="n", queued_at=now)
    child = Run.objects.create(document=document, pipeline=other, parent_step=parent)
    Step.objects.create(run=child, key="c", slot="c", cost="0.40", provider="anthropic", queued_at=now)
    parent.cost = Decimal("0.40")
    parent.save()
    check()
    # The reaper folds what the triggers appended into one row per key; the sums stay.
    assert StepSpend.objects.filter(folded=False).count() > 5
    StepSpend.fold()
    check()
    assert not StepSpend.objects.filter(folded=False).exists()
    keys = StepSpend.objects.values_list("pipeline", "period", "provider")
    assert len(set(keys)) == keys.count()
    first.delete()
    check()
    Run.objects.filter(pk=other_run.pk).delete()
    run.delete()  # its steps, the nested run and its steps go with it
    check()
    assert _summed_from_the_steps()  # the replay's step, now counted
    StepSpend.fold()
    check()
    assert not any(figures for key, figures in _by_month(StepSpend.objects.filter(pipeline=other), "period").items())


def test_a_month_starts_at_local_midnight_in_a_half_hour_time_zone(make_document, debate_pipeline):
    """Quarter hours add up to whole months in every time zone (India is UTC+5:30)."""
    with timezone.override("Asia/Kolkata"):
        run = Run.objects.create(document=make_document(), pipeline=debate_pipeline, status=Run.Status.DONE)
        kolkata = timezone.get_current_timezone()
        for key, at, cost in [
            ("february", datetime(2026, 2, 28, 23, 50), "1.00"),  # 18:20 UTC
            ("march", datetime(2026, 3, 1, 0, 5), "2.00"),  # 18:35 UTC on 28 February
        ]:
            Step.objects.create(run=run, key=key, slot="s", cost=cost, queued_at=at.replace(tzinfo=kolkata))
        now = datetime(2026, 3, 15, 12, tzinfo=kolkata)
        months = {row["month"].strftime("%Y-%m"): row["cost"] for row in spend.overview(now)["months"]}
        assert (months["2026-02"], months["2026-03"]) == (Decimal("1.00"), Decimal("2.00"))
        assert debate_pipeline.spent_this_month(now) == Decimal("2.00")
