"""Dashboard figures on a known set of runs over several days, and the numbers
the page draws under its charts. Every time is fixed: runs are created at chosen
instants, decisions are made with decide(now=...), and the page is asked for the
window up to a chosen day (?until=), so nothing depends on the clock."""

import random
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, F, FloatField, Func, Q, Sum
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone, translation

from insights import dashboard
from insights import days as days_rollup
from insights.models import PipelineDay, PipelineDayChange
from orchestrator.models import Pipeline, Run
from review.aggregates import Percentile
from review.models import Decision, ReviewItem

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


def test_runs_with_no_findings_to_compare_do_not_read_as_no_runs(
    client_for, analyst, supervisor_pipeline, make_document
):
    now = timezone.now()
    Run.objects.create(document=make_document(), pipeline=supervisor_pipeline, status=Run.Status.DONE,
                       started_at=now - timedelta(seconds=2), finished_at=now, result={"findings": []})  # fmt: skip
    response = client_for(analyst).get(reverse("insights:dashboard"), {"days": "7"})
    charts = _drawn(response.content.decode(), supervisor_pipeline.name)
    assert charts["Runs"]["summary"] == "1 run in total, at most 1 run a day"
    assert charts["Disagreement rate"]["summary"] == "No findings compared yet"


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


# --- the roll-up by day (insights.days) against the straightforward computation -------


def _straightforward(pipeline: Pipeline, days: int, until: date) -> list[dashboard.Day]:
    """The pipeline's figures day by day, aggregated from its runs and decisions of that
    local day with the ORM, as the dashboard worked them out before the roll-up."""
    seconds = Func(F("finished_at") - F("started_at"), template="EXTRACT(EPOCH FROM %(expressions)s)",
                   output_field=FloatField())  # fmt: skip
    finished = Q(finished_at__isnull=False)
    series = []
    for offset in range(days):
        day = until - timedelta(days=days - 1 - offset)
        runs = Run.objects.filter(pipeline=pipeline, created_at__date=day).aggregate(
            runs=Count("id"), spend=Sum("cost"), failed=Count("id", filter=Q(status="failed")),
            finished=Count("id", filter=finished), p50=Percentile(seconds, 0.5, filter=finished),
            p95=Percentile(seconds, 0.95, filter=finished), agreed=Sum("agreed_count"), disputed=Sum("disputed_count"),
        )  # fmt: skip
        decisions = Decision.objects.filter(
            item__run__pipeline=pipeline, item__reason="disagreement", superseded_by__isnull=True,
            created_at__date=day,
        ).aggregate(total=Count("id"), overturned=Count("id", filter=Q(overturned=True)))  # fmt: skip
        overturn_rate = decisions["overturned"] / decisions["total"] if decisions["total"] else None
        if not runs["runs"]:
            series.append(dashboard.Day(day, overturn_rate=overturn_rate, decisions=decisions["total"]))
            continue
        agreed, disputed = runs["agreed"] or 0, runs["disputed"] or 0
        series.append(dashboard.Day(
            day=day, runs=runs["runs"], spend=float(runs["spend"] or 0), p50_s=runs["p50"], p95_s=runs["p95"],
            failure_rate=runs["failed"] / runs["finished"] if runs["finished"] else None,
            disagreement_rate=disputed / (agreed + disputed) if agreed + disputed else None,
            overturn_rate=overturn_rate, decisions=decisions["total"],
        ))  # fmt: skip
    return series


@pytest.fixture
def many_days(make_document, reviewer, admin_user) -> list[Pipeline]:
    """Three pipelines' runs at every hour of the ten days up to DAY (late ones fall on the
    next day east of UTC), of every status, some still running; decisions on some of their
    items, on disagreements and audit samples, a few against the judge, one superseded."""
    rng = random.Random(5)
    document = make_document()
    pipelines = [Pipeline.objects.create(slug=f"days-{n}", name=f"Days {n}", pattern="debate") for n in range(3)]
    runs = []
    for n in range(60):
        at = _at(DAY - timedelta(days=rng.randrange(10)), rng.randrange(24), rng.randrange(3600))
        wall = None if n % 9 == 0 else rng.uniform(1, 90)
        runs.append(Run.objects.create(
            document=document, pipeline=rng.choice(pipelines), status=rng.choice(["done", "failed", "needs_review"]),
            cost=Decimal(rng.randrange(1, 500)) / 1000, created_at=at, started_at=at,
            finished_at=None if wall is None else at + timedelta(seconds=wall),
            result={"findings": [], "counts": {"agreed": rng.randrange(5), "disputed": rng.randrange(3)}},
        ))  # fmt: skip
    for n, run in enumerate(runs[::3]):
        reason = "audit_sample" if n % 4 == 0 else "disagreement"
        _item(run, 1, reason).decide(reviewer, rng.choice(["accept_a", "accept_b"]), note="checked",
                                     now=run.created_at + timedelta(hours=rng.randrange(1, 30)))  # fmt: skip
    item = ReviewItem.objects.filter(reason="disagreement", status="resolved").first()
    item.supersede(admin_user, item.current_decision(), "accept_b", reason="on appeal", now=_at(DAY, 23))
    return pipelines


def _assert_days_are_straightforward(pipelines: list[Pipeline], days: int = 10, until: date = DAY) -> None:
    series = dashboard.daily_by_pipeline(pipelines, days, until)
    for pipeline in pipelines:
        assert series[pipeline.pk] == _straightforward(pipeline, days, until), pipeline.slug


def test_day_figures_are_the_straightforward_ones_folded_or_not(many_days):
    assert sum(day.decisions for day in _straightforward(many_days[0], 10, DAY)) > 0
    _assert_days_are_straightforward(many_days)  # nothing folded: every day worked out on the spot
    assert days_rollup.fold() > 0
    assert not PipelineDayChange.objects.exists() and PipelineDay.objects.exists()
    _assert_days_are_straightforward(many_days)  # from the roll-up
    _assert_days_are_straightforward(many_days, days=7, until=DAY - timedelta(days=2))


@pytest.mark.parametrize(
    "change", ["new_run", "run_finished", "cost", "decision", "supersede", "item_reason", "run_deleted"]
)
def test_day_figures_follow_every_change_before_and_after_the_next_fold(many_days, reviewer, admin_user, change):
    days_rollup.fold()
    pipeline, before = many_days[0], _straightforward(many_days[0], 10, DAY)
    runs = Run.objects.filter(pipeline=pipeline).order_by("created_at")
    if change == "new_run":
        Run.objects.create(document=runs[0].document, pipeline=pipeline, status="done", created_at=_at(DAY, 12),
                           started_at=_at(DAY, 12), finished_at=_at(DAY, 12, 3), cost=Decimal("0.7"))  # fmt: skip
    elif change == "run_finished":
        running = runs.filter(finished_at__isnull=True).first()
        Run.objects.filter(pk=running.pk).update(status="failed", finished_at=running.created_at + timedelta(hours=1))
    elif change == "cost":
        Run.objects.filter(pk=runs[0].pk).update(cost=F("cost") + 1)
    elif change == "decision":
        _item(runs[1], 2).decide(reviewer, "accept_b", note="checked", now=runs[1].created_at + timedelta(hours=2))
    elif change == "supersede":
        item = ReviewItem.objects.filter(run__pipeline=pipeline, reason="disagreement", status="resolved").last()
        choice = "accept_a" if item.current_decision().choice == "accept_b" else "accept_b"
        item.supersede(admin_user, item.current_decision(), choice, reason="second look", now=_at(DAY, 22))
    elif change == "item_reason":
        item = ReviewItem.objects.filter(run__pipeline=pipeline, status="resolved").first()
        ReviewItem.objects.filter(pk=item.pk).update(
            reason="audit_sample" if item.reason == "disagreement" else "disagreement"
        )
    else:
        runs.filter(review_items__isnull=True).first().delete()
    assert _straightforward(pipeline, 10, DAY) != before  # the change shows in the figures
    assert PipelineDayChange.objects.exists()  # and was queued
    _assert_days_are_straightforward(many_days)
    days_rollup.fold()
    _assert_days_are_straightforward(many_days)


def test_day_figures_follow_a_change_of_time_zone(many_days, settings):
    """Folded in UTC, then drawn in India (+5:30): the days move, and are worked out on the
    spot until the reaper folds them again in the new zone."""
    days_rollup.fold()
    settings.TIME_ZONE = "Asia/Kolkata"
    _assert_days_are_straightforward(many_days)
    days_rollup.fold()
    assert set(PipelineDay.objects.values_list("zone", flat=True)) == {"Asia/Kolkata"}
    _assert_days_are_straightforward(many_days)


@pytest.mark.parametrize("language", ["en", "de"])
def test_chart_numbers_are_written_as_floatformat_writes_them(language):
    """two_places() is floatformat:2 without its lookups: halves round up from the
    shortest repr (2.675 is 2.68 there, not 2.67), the locale's separator, no sign on zero."""
    rng = random.Random(11)
    values = [0, 1, 3334, 0.0, -0.0, 0.125, 2.675, 1.005, 99.995, -0.001, -1.235, 3334.0, 1e15 + 0.5, 12345678.9]
    values += [rng.uniform(0, 1000) for _ in range(500)] + [rng.randrange(100_000) / 1000 for _ in range(500)]
    values += [rng.randrange(200) / 8 - 10 for _ in range(200)]  # exact halves and quarters
    with translation.override(language):
        for value in values:
            assert dashboard.two_places(value) == floatformat(value, 2), value
