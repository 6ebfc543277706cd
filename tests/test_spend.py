"""The spend page: what was spent by month and by pipeline, against each pipeline's caps."""

from datetime import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from insights import spend
from orchestrator.models import Pipeline, Run, Step

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
