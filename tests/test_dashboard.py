"""Dashboard figures on a known set of runs over several days, and the numbers
the page draws under its charts. Every time is fixed: runs are created at chosen
instants, decisions are made with decide(now=...), and the page is asked for the
window up to a chosen day (?until=), so nothing depends on the clock."""

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from insights import dashboard
from orchestrator.models import Run
from review.models import ReviewItem

DAY = date(2026, 3, 18)  # the last day of the window shown
TWO_DAYS_BEFORE, DAY_BEFORE = DAY - timedelta(days=2), DAY - timedelta(days=1)
# The judge recommended accept_a on every item: a decision for accept_b overturns it.
JUDGED = {
    "key": "k", "is_issue": True, "recommendation": "accept_a", "confidence": 0.9, "criteria": [], "rationale": "",
}  # fmt: skip
POSITION = {"type": "termination", "title": "t", "severity": "low", "evidence": "e", "explanation": ""}


def _at(day: date, hour: int, seconds: float = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour))) + timedelta(seconds=seconds)


def _item(run: Run, n: int, reason: str = "disagreement") -> ReviewItem:
    return ReviewItem.objects.create(
        run=run, reason=reason, finding_key=f"termination:{n}", title="t", positions={"a": POSITION, "b": None},
        judge=JUDGED,
    )  # fmt: skip


@pytest.fixture
def known_runs(make_document, debate_pipeline, reviewer):
    """Two busy days around a quiet one:

    two days before: 3 runs, $0.45; 10, 20, 40 s; one failed; 7 agreed, 2 disputed
    the day before:  no runs; one decision that followed the judge
    the day:         5 runs (one still running), $0.51; 1, 2, 3, 4 s; one failed of
                     the four finished; 9 agreed, 3 disputed; two decisions on
                     disagreements, one against the judge (and an audit sample, not counted)
    """
    document = make_document()

    def run(day, hour, status, cost, wall_s, agreed, disputed):
        return Run.objects.create(
            document=document, pipeline=debate_pipeline, status=status, cost=Decimal(cost),
            created_at=_at(day, hour), started_at=_at(day, hour),
            finished_at=None if wall_s is None else _at(day, hour, wall_s),
            result=None if wall_s is None else {"findings": [], "counts": {"agreed": agreed, "disputed": disputed}},
        )  # fmt: skip

    early = [
        run(TWO_DAYS_BEFORE, 9, "needs_review", "0.10", 10, 2, 2),
        run(TWO_DAYS_BEFORE, 10, "failed", "0.30", 20, 0, 0),
        run(TWO_DAYS_BEFORE, 11, "done", "0.05", 40, 5, 0),
    ]
    late = [
        run(DAY, 9, "done", "0.10", 1, 3, 1),
        run(DAY, 10, "needs_review", "0.20", 2, 2, 2),
        run(DAY, 11, "failed", "0.05", 3, 0, 0),
        run(DAY, 12, "done", "0.15", 4, 4, 0),
        run(DAY, 13, "running", "0.01", None, 0, 0),
    ]
    # One item of each reviewed run stays open, so the runs' counts stay as the agents left them.
    followed, _ = _item(early[0], 1), _item(early[0], 2)
    followed.decide(reviewer, "accept_a", note="checked", now=_at(DAY_BEFORE, 15))
    agreed, overturned, audit = _item(late[1], 1), _item(late[1], 2), _item(late[1], 3, "audit_sample")
    _item(late[1], 4)
    agreed.decide(reviewer, "accept_a", note="checked", now=_at(DAY, 15))
    overturned.decide(reviewer, "accept_b", note="checked", now=_at(DAY, 16))
    audit.decide(reviewer, "not_issue", note="checked", now=_at(DAY, 17))
    return early + late


def test_daily_figures_are_computed_from_the_runs_of_each_day(known_runs, debate_pipeline):
    series = {day.day: day for day in dashboard.daily(debate_pipeline, days=7, today=DAY)}
    assert list(series) == [DAY - timedelta(days=n) for n in range(6, -1, -1)]

    early = series[TWO_DAYS_BEFORE]
    assert (early.runs, early.spend) == (3, pytest.approx(0.45))
    assert early.p50_s == pytest.approx(20.0)  # of 10, 20, 40 s
    assert early.p95_s == pytest.approx(38.0)  # 20 + 0.9 × (40 − 20)
    assert early.failure_rate == pytest.approx(1 / 3)
    assert early.disagreement_rate == pytest.approx(2 / 9)
    assert early.overturn_rate is None and early.decisions == 0

    quiet = series[DAY_BEFORE]
    assert quiet.runs == 0 and quiet.p50_s is None and quiet.failure_rate is None
    assert quiet.overturn_rate == 0.0 and quiet.decisions == 1  # reviewed the day after its run

    day = series[DAY]
    assert (day.runs, day.spend) == (5, pytest.approx(0.51))
    assert day.p50_s == pytest.approx(2.5)  # of 1, 2, 3, 4 s: the running run has no duration yet
    assert day.p95_s == pytest.approx(3.85)
    assert day.failure_rate == pytest.approx(1 / 4)  # of the finished runs
    assert day.disagreement_rate == pytest.approx(3 / 12)
    assert day.overturn_rate == pytest.approx(1 / 2)  # accept_b went against the judge's accept_a
    assert day.decisions == 2  # the audit sample only confirmed an agreement

    assert all(series[DAY - timedelta(days=n)].runs == 0 for n in (3, 4, 5, 6))


def _drawn(page: str, pipeline_name: str) -> dict[str, dict]:
    """Per chart of the pipeline's section: the numbers beside it, its marks (bars'
    heights, dots), its axis labels and the numbers table under it ({day: value as shown})."""
    [section] = [part for part in page.split('<section class="card">')[1:] if pipeline_name in part]
    charts = {}
    for figure in re.findall(r'<figure class="chart[^"]*" data-testid="chart">(.*?)</figure>', section, re.S):
        title = re.search(r"<figcaption>(.+?) <span", figure).group(1)
        summary = re.search(r'data-testid="chart-summary">([^<]*)<', figure).group(1)
        rows = re.findall(r'<tr><td>(\d{4}-\d\d-\d\d)</td><td class="num">([^<]*)</td></tr>', figure)
        heights = re.findall(r'<rect [^>]*height="([\d.]+)" class="series mark"', figure)
        dots = re.findall(r'<circle [^>]*class="series mark"', figure)
        labels = re.findall(r'class="tick-label"[^>]*>([^<]*)</text>', figure)
        empty = re.search(r'class="empty-label"[^>]*>([^<]*)<', figure)
        charts[title] = {"summary": summary, "numbers": dict(rows), "bars": heights, "dots": len(dots),
                         "labels": labels, "empty": empty.group(1) if empty else None}  # fmt: skip
    return charts


def test_dashboard_page_draws_the_figures_of_each_day(known_runs, client_for, analyst, debate_pipeline):
    response = client_for(analyst).get(reverse("insights:dashboard"), {"days": "7", "until": DAY.isoformat()})
    charts = _drawn(response.content.decode(), debate_pipeline.name)
    early, quiet, day = TWO_DAYS_BEFORE.isoformat(), DAY_BEFORE.isoformat(), DAY.isoformat()

    assert list(charts) == [
        "Runs", "Spend", "Latency p50", "Latency p95", "Failure rate", "Disagreement rate", "Judge overturn rate",
    ]  # fmt: skip
    runs = charts["Runs"]
    assert len(runs["numbers"]) == 7  # a count is 0 on a quiet day, not missing
    assert (runs["numbers"][early], runs["numbers"][quiet], runs["numbers"][day]) == ("3.00", "0.00", "5.00")
    # Bars over a 0-5 axis 114 units high: 3 of 5, 5 of 5; only days with runs have one.
    assert runs["bars"] == ["68.4", "114.0"]
    assert runs["summary"] == "8 runs in total, at most 5 runs a day"
    # The value axis in its unit, then the first, middle and last day.
    first, middle, last = (DAY - timedelta(days=n) for n in (6, 3, 0))
    days = [f"{d:%b} {d.day}" for d in (first, middle, last)]
    assert runs["labels"] == ["0 runs", "2.5 runs", "5 runs", *days]
    assert (charts["Spend"]["numbers"][early], charts["Spend"]["numbers"][day]) == ("0.45", "0.51")
    assert charts["Spend"]["labels"][:3] == ["$0.00", "$0.50", "$1.00"]  # 0.51 at most: a readable top of $1

    # Rates and latencies are drawn only for days that have them, each as a dot.
    assert charts["Latency p50"]["numbers"] == {early: "20.00", day: "2.50"}
    assert charts["Latency p50"]["dots"] == 2
    assert charts["Latency p50"]["summary"] == "latest 2.5 s, highest 20 s"
    assert charts["Latency p95"]["numbers"] == {early: "38.00", day: "3.85"}
    assert charts["Failure rate"]["numbers"] == {early: "33.33", day: "25.00"}
    assert charts["Disagreement rate"]["numbers"] == {early: "22.22", day: "25.00"}
    assert charts["Judge overturn rate"]["numbers"] == {quiet: "0.00", day: "50.00"}


def test_a_single_day_of_runs_is_a_visible_mark(client_for, analyst, debate_pipeline, make_document):
    """One day of data draws one bar and one dot per chart that has a value: never an empty box."""
    now = timezone.now()
    Run.objects.create(document=make_document(), pipeline=debate_pipeline, status=Run.Status.DONE,
                       started_at=now - timedelta(seconds=2), finished_at=now, cost=Decimal("0.02"))  # fmt: skip
    response = client_for(analyst).get(reverse("insights:dashboard"), {"days": "7"})
    charts = _drawn(response.content.decode(), debate_pipeline.name)
    assert len(charts["Runs"]["bars"]) == 1 and float(charts["Runs"]["bars"][0]) > 50
    assert charts["Latency p50"]["dots"] == 1 and charts["Latency p50"]["empty"] is None
    assert charts["Runs"]["summary"] == "1 run in total, at most 1 run a day"


def test_a_pipeline_without_runs_says_so(client_for, analyst, debate_pipeline):
    charts = _drawn(client_for(analyst).get(reverse("insights:dashboard")).content.decode(), debate_pipeline.name)
    assert charts["Runs"]["empty"] == "No runs yet" and charts["Runs"]["bars"] == []
    assert charts["Runs"]["summary"] == "No runs yet"
    assert charts["Judge overturn rate"]["empty"] == "No review decisions yet"
    assert all("peak" not in chart["summary"] for chart in charts.values())


def test_the_window_ends_on_the_day_asked_for(known_runs, client_for, analyst, debate_pipeline):
    """Seven days up to the day before leave the last day's runs out."""
    response = client_for(analyst).get(reverse("insights:dashboard"), {"days": "7", "until": DAY_BEFORE.isoformat()})
    runs = _drawn(response.content.decode(), debate_pipeline.name)["Runs"]
    assert list(runs["numbers"])[-1] == DAY_BEFORE.isoformat()
    assert runs["numbers"][TWO_DAYS_BEFORE.isoformat()] == "3.00" and DAY.isoformat() not in runs["numbers"]


def test_outsider_cannot_open_the_dashboard(client_for, outsider):
    assert client_for(outsider).get(reverse("insights:dashboard")).status_code == 403
