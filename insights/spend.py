"""What was spent, by month and by pipeline, against each pipeline's caps: the
figures behind the spend page. Spend is the cost of steps of runs people started
(a nested run's cost rolls up into its parent step), dated when the step was
queued; a replay's reused steps were paid for by their original run. Read from
StepSpend, those steps' sums per quarter hour, not from the steps themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from orchestrator.models import Pipeline, Step, StepSpend, month_start

MONTHS = 12


@dataclass
class PipelineSpend:
    pipeline: Pipeline
    total: Decimal  # over the months shown
    this_month: Decimal

    @property
    def monthly_percent(self) -> int | None:
        """How much of this month's cap is spent, in percent (over 100 when a run
        overshot it), or None without a cap."""
        cap = self.pipeline.monthly_budget
        if cap is None:
            return None
        return round(100 * self.this_month / cap) if cap else 100

    @property
    def over_monthly_budget(self) -> bool:
        cap = self.pipeline.monthly_budget
        return cap is not None and self.this_month >= cap


def months_back(now: datetime, count: int = MONTHS) -> list[datetime]:
    """The first instants of the last `count` calendar months, oldest first, this one last."""
    first = month_start(now)
    months = []
    for back in range(count - 1, -1, -1):
        year, month = divmod(first.month - 1 - back, 12)
        months.append(first.replace(year=first.year + year, month=month + 1))
    return months


def _spent(months: list[datetime]) -> list[dict]:
    """The spent steps' sums since the first of `months`, by pipeline, month and
    provider, in one pass over StepSpend (the steps of runs people started, a
    replay's reused steps left out, summed per quarter hour): a month is whole
    quarter hours in every time zone, so these add up to exactly what summing the
    steps queued in it would."""
    return list(
        StepSpend.objects.filter(period__gte=months[0])
        .annotate(month=TruncMonth("period"))
        .values("pipeline", "month", "provider")
        .annotate(
            cost=Sum("cost"), calls=Sum("calls"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens")
        )
        .order_by()
    )


def by_month(months: list[datetime], rows: list[dict]) -> list[dict]:
    spent: dict[tuple[int, int], Decimal] = {}
    for row in rows:
        key = (row["month"].year, row["month"].month)
        spent[key] = spent.get(key, Decimal(0)) + row["cost"]
    return [{"month": month, "cost": spent.get((month.year, month.month), Decimal(0))} for month in months]


def by_pipeline(months: list[datetime], rows: list[dict]) -> list[PipelineSpend]:
    totals: dict[int, Decimal] = {}
    this_month: dict[int, Decimal] = {}
    calls: dict[int, int] = {}
    for row in rows:
        pipeline = row["pipeline"]
        totals[pipeline] = totals.get(pipeline, Decimal(0)) + row["cost"]
        calls[pipeline] = calls.get(pipeline, 0) + row["calls"]
        if row["month"] >= months[-1]:
            this_month[pipeline] = this_month.get(pipeline, Decimal(0)) + row["cost"]
    # Active pipelines always show (their caps matter before they spend); retired ones only if
    # they spent (had a counted step in these months: a period whose steps were deleted has 0 calls).
    spent = [pipeline for pipeline, count in calls.items() if count > 0]
    pipelines = Pipeline.objects.filter(is_active=True) | Pipeline.objects.filter(pk__in=spent)
    return [
        PipelineSpend(pipeline, totals.get(pipeline.pk) or Decimal(0), this_month.get(pipeline.pk) or Decimal(0))
        for pipeline in pipelines.distinct().order_by("name")
    ]


def offline_work(rows: list[dict]) -> dict | None:
    """The offline stand-in's calls in `rows`' months (they cost nothing), and what the
    same tokens would have cost on the Claude models the estimator prices."""
    from orchestrator.llm import Usage

    from .estimate import claude_prices

    offline = [row for row in rows if row["provider"] == "offline"]
    totals = {name: sum(row[name] for row in offline) for name in ("calls", "input_tokens", "output_tokens")}
    if not totals["calls"]:
        return None
    usage = Usage(input_tokens=totals["input_tokens"], output_tokens=totals["output_tokens"])
    on_claude = [{"model": model, "cost": price.cost(usage)} for model, price in claude_prices().items()]
    return {**totals, "on_claude": on_claude}


def overview(now: datetime | None = None) -> dict:
    months = months_back(now or timezone.now())
    rows = _spent(months)
    monthly = by_month(months, rows)
    peak = max((row["cost"] for row in monthly), default=Decimal(0))
    for row in monthly:
        # Bar length as a share of the dearest month, for the chart.
        row["percent"] = round(100 * row["cost"] / peak) if peak else 0
    return {
        "months": monthly,
        "total": sum((row["cost"] for row in monthly), Decimal(0)),
        "pipelines": by_pipeline(months, rows),
        "this_month": months[-1],
        "offline": offline_work(rows),
        "unpriced": unpriced(months[0]),
    }


def unpriced(since: datetime) -> list[dict]:
    """Models that answered calls but have no price row: those calls are in no
    figure on this page, so it says how many there were (engine._add_usage flags them)."""
    rows = (
        Step.objects.filter(queued_at__gte=since, price__unpriced=True)
        .values("price__model")
        .annotate(calls=Count("id"))
        .order_by("price__model")
    )
    return [{"model": row["price__model"], "calls": row["calls"]} for row in rows]
