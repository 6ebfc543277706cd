"""Reviewer metrics: how much gets decided and how fast, how often the humans
overturn the machine, and the correlated-error rate that audit samples measure."""

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from orchestrator.models import Pipeline

from .aggregates import Percentile
from .models import Decision, ReviewItem

Z95 = 1.959963984540054


def wilson(hits: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for hits out of n: unlike the textbook ± it
    stays inside [0, 1] and is honest about small samples (and about 0 of n)."""
    if n == 0:
        return None
    share = hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    hits: int
    n: int

    @property
    def share(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.hits, self.n)

    @property
    def percent(self) -> float | None:
        return None if self.share is None else 100 * self.share

    @property
    def interval_percent(self) -> tuple[float, float] | None:
        return None if self.interval is None else (100 * self.interval[0], 100 * self.interval[1])


@dataclass(frozen=True)
class ReviewerRow:
    username: str
    decided: int
    median_s: float | None
    per_day: list[int]


@dataclass(frozen=True)
class Metrics:
    days: list[date]
    decided: int
    median_s: float | None
    per_day: list[int]
    reviewers: list[ReviewerRow]
    overturn: Rate
    precision: Rate
    agreed_error: Rate

    def bars(self) -> list[dict]:
        """Decisions per day, with each day's bar height as a share of the busiest."""
        peak = max(self.per_day, default=0) or 1
        return [
            {"day": day, "n": n, "height": round(100 * n / peak)}
            for day, n in zip(self.days, self.per_day, strict=True)
        ]


def reviewer_metrics(days: int = 14, pipeline: Pipeline | None = None, today: date | None = None) -> Metrics:
    """The figures for decisions made in the `days` days up to `today` (local time).

    Throughput and time count every decision made, superseding ones included:
    they are work done. The rates judge only the decisions that stand."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, time.min))
    end = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))
    decisions = Decision.objects.filter(created_at__gte=start, created_at__lt=end)
    if pipeline is not None:
        decisions = decisions.filter(item__run__pipeline=pipeline)
    calendar = [first + timedelta(days=n) for n in range(days)]

    counts: dict[str, dict[date, int]] = {}
    for row in (
        decisions.annotate(day=TruncDate("created_at"))
        .values("decided_by__username", "day")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts.setdefault(row["decided_by__username"], {})[row["day"]] = row["n"]
    reviewers = [
        ReviewerRow(row["decided_by__username"], row["n"], row["median"], _series(counts, row, calendar))
        for row in decisions.values("decided_by__username")
        .annotate(n=Count("id"), median=Percentile("seconds_spent", 0.5))
        .order_by("-n", "decided_by__username")
    ]
    overall = decisions.aggregate(n=Count("id"), median=Percentile("seconds_spent", 0.5))

    dispute = Q(item__reason=ReviewItem.Reason.DISAGREEMENT)
    audit = Q(item__reason=ReviewItem.Reason.AUDIT_SAMPLE)
    judged = Q(item__judge__has_key="recommendation")
    changed = Q(is_issue=True, item__machine_is_issue=False) | Q(is_issue=False, item__machine_is_issue=True)
    # An agreed finding is wrong when the reviewer did not take it as either advocate put it.
    wrong = Q(choice__in=[Decision.Choice.NOT_ISSUE, Decision.Choice.CUSTOM])
    standing = decisions.filter(superseded_by__isnull=True).aggregate(
        judged=Count("id", filter=judged),
        overturned=Count("id", filter=judged & Q(overturned=True)),
        disputes=Count("id", filter=dispute),
        changed=Count("id", filter=dispute & changed),
        audits=Count("id", filter=audit),
        agreed_errors=Count("id", filter=audit & wrong),
    )
    return Metrics(
        days=calendar,
        decided=overall["n"],
        median_s=overall["median"],
        per_day=[sum(row.per_day[n] for row in reviewers) for n in range(days)],
        reviewers=reviewers,
        overturn=Rate(standing["overturned"], standing["judged"]),
        precision=Rate(standing["changed"], standing["disputes"]),
        agreed_error=Rate(standing["agreed_errors"], standing["audits"]),
    )


def _series(counts: dict[str, dict[date, int]], row: dict, calendar: list[date]) -> list[int]:
    mine = counts.get(row["decided_by__username"], {})
    return [mine.get(day, 0) for day in calendar]
