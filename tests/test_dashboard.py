"""Dashboard figures on a known set of runs."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from orchestrator import dashboard
from orchestrator.models import Run
from review.models import ReviewItem

# Today, since decisions are stamped when they are made (and cannot be backdated).
DAY = timezone.localdate()


def _at(minute: int, seconds: float = 0) -> datetime:
    midnight = timezone.make_aware(datetime.combine(DAY, time(0, 0)))
    return midnight + timedelta(minutes=minute, seconds=seconds)


@pytest.fixture
def known_runs(make_document, debate_pipeline, reviewer):
    document = make_document()

    def run(status, cost, wall_s, agreed, disputed, hour):
        return Run.objects.create(
            document=document, pipeline=debate_pipeline, status=status, cost=Decimal(cost),
            created_at=_at(hour), started_at=_at(hour), finished_at=_at(hour, wall_s),
            result={"findings": [], "counts": {"agreed": agreed, "disputed": disputed}},
        )  # fmt: skip

    runs = [
        run("done", "0.10", 1.0, 3, 1, 9),
        run("needs_review", "0.20", 2.0, 2, 2, 10),
        run("failed", "0.05", 3.0, 0, 0, 11),
        run("done", "0.15", 4.0, 4, 0, 12),
    ]
    judged = {"key": "k", "is_issue": True, "recommendation": "accept_a", "confidence": 0.9, "criteria": [],
              "rationale": ""}  # fmt: skip
    position = {"type": "termination", "title": "t", "severity": "low", "evidence": "e", "explanation": ""}
    # Three items, two decided: the run stays open, so its counts stay as the agents left them.
    items = [
        ReviewItem.objects.create(
            run=runs[1],
            reason="disagreement",
            finding_key=f"termination:{n}",
            title="t",
            positions={"a": position, "b": None},
            judge=judged,
        )  # fmt: skip
        for n in range(3)
    ]
    items[0].decide(reviewer, "accept_a", note="checked")
    items[1].decide(reviewer, "accept_b", note="checked")
    return runs


def test_daily_figures_are_computed_from_the_runs_of_the_day(known_runs, debate_pipeline):
    [day] = [d for d in dashboard.daily(debate_pipeline, days=7, today=DAY) if d.runs]
    assert day.day == DAY
    assert day.runs == 4
    assert day.spend == pytest.approx(0.50)
    assert day.failure_rate == pytest.approx(1 / 4)
    assert day.p50_s == pytest.approx(2.5)  # of 1, 2, 3, 4 s
    assert day.p95_s == pytest.approx(3.85)
    assert day.disagreement_rate == pytest.approx(3 / 12)
    assert day.overturn_rate == pytest.approx(1 / 2)  # accept_b went against the judge's accept_a
    assert day.decisions == 2


def test_days_without_runs_are_empty_not_zero(known_runs, debate_pipeline):
    series = dashboard.daily(debate_pipeline, days=7, today=DAY)
    assert len(series) == 7
    quiet = series[0]
    assert quiet.runs == 0 and quiet.failure_rate is None and quiet.p50_s is None


def test_dashboard_page_draws_charts_with_their_numbers(client_for, analyst, debate_pipeline):
    page = client_for(analyst).get(reverse("orchestrator:dashboard"), {"days": "7"}).content.decode()
    assert "Contract review (Debate)" in page
    for title in ["Runs", "Spend", "Latency p50", "Latency p95", "Failure rate", "Disagreement rate",
                  "Judge overturn rate"]:  # fmt: skip
        assert f"<figcaption>{title} " in page
    assert page.count("<summary>Numbers</summary>") == 7


def test_outsider_cannot_open_the_dashboard(client_for, outsider):
    assert client_for(outsider).get(reverse("orchestrator:dashboard")).status_code == 403
