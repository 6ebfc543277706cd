"""The big pages make a fixed number of queries, however many runs, steps and
pipelines there are: an N+1 (a query per row) fails here long before it shows at
a million steps (`make bench ARGS=runpages` times the same pages there)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from insights import days
from orchestrator.models import Pipeline, Run, Step
from review import load
from review.models import Decision
from tests.test_review import make_run

RUNS = 30
WIDE = 50


@pytest.fixture
def many_runs(make_document, debate_pipeline, contract_supervisor, chain_pipeline) -> dict:
    """30 finished runs over the three patterns' pipelines in the last month, three
    steps each, and one run of 50 steps."""
    pipelines = list(Pipeline.objects.all())  # four or more, one of them nesting another
    assert len(pipelines) >= 4
    document = make_document()
    now = timezone.now()
    runs = []
    for n in range(RUNS):
        pipeline = pipelines[n % len(pipelines)]
        at = now - timedelta(days=n)
        runs.append(Run.objects.create(
            document=document, pipeline=pipeline, status=["done", "needs_review", "failed"][n % 3],
            created_at=at, started_at=at, finished_at=at + timedelta(seconds=40), cost=Decimal("0.03"),
            steps_planned=3, steps_done=3,
            result={"pattern": pipeline.pattern, "findings": [], "counts": {}},
        ))  # fmt: skip
    agents = list(debate_pipeline.slots.exclude(agent=None).values_list("agent_id", flat=True))
    steps = [
        Step(run=run, key=f"step:{k}", slot="a", agent_id=agents[k % len(agents)], wave=k, status="succeeded",
             output={"findings": []}, cost=Decimal("0.01"), latency_ms=900, queued_at=run.created_at,
             started_at=run.created_at, finished_at=run.created_at + timedelta(seconds=k + 1),
             attempts=[{"number": 1, "at": run.created_at.isoformat(), "latency_ms": 900, "error_class": "",
                        "error": ""}])
        for run in runs
        for k in range(3)
    ]  # fmt: skip
    wide = runs[0]
    steps += [
        Step(run=wide, key=f"wide:{k}", slot="judge", agent_id=agents[0], wave=k // 10, status="succeeded",
             output={}, latency_ms=500, queued_at=wide.created_at, started_at=wide.created_at,
             finished_at=wide.created_at + timedelta(seconds=1))
        for k in range(WIDE)
    ]  # fmt: skip
    Step.objects.bulk_create(steps)
    return {"runs": runs, "wide": wide, "pipelines": Pipeline.objects.count()}


@pytest.mark.parametrize(
    ("page", "most"),
    [
        ("/runs/", 6),
        ("/runs/?status=needs_review&pipeline=contract-debate", 7),
        ("/runs/?sort=-cost", 6),
        ("/runs/{run}/", 9),
        ("/runs/{wide}/trace/", 6),
        ("/dashboard/", 6),  # + the pipelines, their days and their review load, every pipeline at once
        ("/spend/", 6),  # the quarter-hour sums, the pipelines, calls with no price (+2 with offline calls)
    ],
)
def test_a_big_page_makes_a_fixed_number_of_queries(page, most, many_runs, client_for, analyst,
                                                    django_assert_max_num_queries):  # fmt: skip
    client = client_for(analyst)
    url = page.format(run=many_runs["runs"][1].pk, wide=many_runs["wide"].pk)
    client.get(url)  # sessions, content types: warmed
    with django_assert_max_num_queries(most):
        response = client.get(url)
    assert response.status_code == 200


def _runs(count: int, document, pipelines: list[Pipeline], agent_id: int, steps: int = 3) -> list[Run]:
    now = timezone.now()
    runs = [
        Run.objects.create(
            document=document, pipeline=pipelines[n % len(pipelines)], status=["needs_review", "done", "failed"][n % 3],
            created_at=now - timedelta(days=n), started_at=now - timedelta(days=n),
            finished_at=now - timedelta(days=n, seconds=-40), cost=Decimal("0.03"), steps_planned=steps,
            steps_done=steps, result={"pattern": "debate", "findings": [], "counts": {}},
        )
        for n in range(count)
    ]  # fmt: skip
    _steps(runs, agent_id, range(steps))
    return runs


def _steps(runs: list[Run], agent_id: int, keys) -> None:
    Step.objects.bulk_create(
        Step(run=run, key=f"step:{k}", slot="a", agent_id=agent_id, wave=k // 10, status="succeeded",
             output={"findings": []}, cost=Decimal("0.01"), latency_ms=900, queued_at=run.created_at,
             started_at=run.created_at, finished_at=run.created_at + timedelta(seconds=1), provider="anthropic")
        for run in runs
        for k in keys
    )  # fmt: skip


@pytest.mark.parametrize(
    "page",
    [
        "/runs/",
        "/runs/?status=needs_review&pipeline=contract-debate",
        "/runs/?sort=-cost",
        "/runs/{run}/",
        "/runs/{run}/trace/",
        "/dashboard/",
        "/spend/",
    ],
)
def test_a_big_page_makes_as_many_queries_for_thirty_runs_as_for_one(page, make_document, debate_pipeline,
                                                                     contract_supervisor, chain_pipeline,
                                                                     client_for, analyst):  # fmt: skip
    """No query per run, per step, per day or per month: 30 runs over every pipeline
    (and 50 steps in the run shown) cost the page the queries 1 run of 3 steps does."""
    pipelines = list(Pipeline.objects.order_by("slug"))
    agent_id = debate_pipeline.slots.exclude(agent=None).values_list("agent_id", flat=True).first()
    document = make_document()
    (run,) = _runs(1, document, [debate_pipeline], agent_id)
    client = client_for(analyst)
    url = page.format(run=run.pk)

    def queries() -> list[str]:
        client.get(url)  # sessions, content types: warmed
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    one = queries()
    _runs(29, document, pipelines, agent_id)
    _steps([run], agent_id, range(3, 50))
    many = queries()
    assert len(many) == len(one), "\n".join(many)


def test_the_dashboard_makes_as_many_queries_for_ten_pipelines_as_for_one(debate_pipeline, client_for, analyst,
                                                                         reviewer):  # fmt: skip
    """No query per pipeline, run, day, item or decision, whether the reaper has folded
    the roll-ups or not: ten more pipelines with runs, review items and decisions, and
    the dashboard still asks the same queries."""
    client = client_for(analyst)

    def queries() -> list[str]:
        client.get("/dashboard/")  # sessions, content types: warmed
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/dashboard/").status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    one = queries()
    for n in range(10):
        for _ in range(3):
            run = make_run(pipeline_slug=f"more-{n}")
        run.review_items.first().decide(reviewer, Decision.Choice.STANDS)
    assert Pipeline.objects.filter(is_active=True).count() == 11
    assert len(queries()) == len(one)  # the changes still queued, worked out by the page
    days.fold()
    load.fold()
    assert len(queries()) == len(one)  # folded
