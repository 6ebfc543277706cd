"""Review load as a team lead reads it: items per document, how often reviewers
agreed with the judge, and what other thresholds would have queued or missed."""

import random
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orchestrator.models import Pipeline, Run, Step
from review import load as review_load
from review.load import expected_items_per_document, measure
from review.models import Decision, LoadChange, LoadEntry, ReviewItem, ReviewLink
from review.routing import open_review_items
from tests.test_review import LIABILITY, PAYMENT, RENEWAL, make_run, position


def disputed(kind: str, evidence: str, severity: str, confidence: float, is_issue: bool, queued: bool) -> dict:
    a = position(kind, kind, evidence, severity=severity)
    judge = {"key": f"{kind}:1", "is_issue": is_issue, "recommendation": "accept_a" if is_issue else "accept_b",
             "confidence": confidence, "criteria": [], "rationale": ""}  # fmt: skip
    return {**a, "key": f"{kind}:1", "status": "disputed", "flagged_by": ["a"], "a": a, "b": None, "judge": judge,
            "is_issue": is_issue,
            "review": {"reason": "disagreement", "item_id": None, "decision": None} if queued else None}  # fmt: skip


def test_load_figures_and_the_policy_simulator(reviewer, client_for, analyst):
    # Document 1: a confident low-severity settlement (not queued) and an unsure one (queued, then confirmed).
    first = make_run(
        [
            disputed("payment_terms", PAYMENT, "low", 0.9, False, queued=False),
            disputed("auto_renewal", RENEWAL, "low", 0.6, True, queued=True),
        ]
    )
    # Document 2: a high-severity dispute the judge dismissed; the reviewer agrees.
    second = make_run([disputed("liability", LIABILITY, "high", 0.9, False, queued=True)])
    first.review_items.get().decide(reviewer, Decision.Choice.STANDS)
    second.review_items.get().decide(reviewer, Decision.Choice.NOT_ISSUE)

    pipeline = Pipeline.objects.get(slug="contract-debate")
    load = measure(pipeline)
    assert (load.documents, load.items, load.items_per_document) == (2, 2, 1.0)
    assert (load.decided_with_judge, load.agreement_share) == (2, 1.0)
    table = {row.threshold: (row.items_per_document, row.missed) for row in load.simulation}
    assert [row.threshold for row in load.simulation] == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    assert table[0.5] == (0.5, 1)  # both low-severity disputes settled: the confirmed renewal missed
    assert table[0.8] == (1.0, 0)  # the default
    assert table[0.95] == (1.5, 0)  # every dispute queued
    assert expected_items_per_document(pipeline) == 1.0

    client = client_for(analyst)
    dashboard = client.get(reverse("insights:dashboard")).text
    assert 'data-testid="items-per-document">1.00<' in dashboard
    assert 'data-testid="agreement-share">100 %<' in dashboard
    assert 'data-testid="policy-simulator"' in dashboard
    page = client.get(pipeline.get_absolute_url()).text
    assert 'data-testid="expected-items">1.00' in page


def test_a_nested_runs_findings_and_items_count_for_the_pipeline_that_started_it(reviewer):
    """A Debate nested in a Supervisor files its review items on its own run: the
    Supervisor's load counts them, per document of the Supervisor's runs."""
    parent = make_run([], pipeline_slug="contract-supervisor-ish")
    step = Step.objects.create(run=parent, key="specialist:clauses", slot="specialist:clauses")
    findings = [disputed("auto_renewal", RENEWAL, "low", 0.6, True, queued=True)]
    nested = Pipeline.objects.create(slug="nested-debate", name="Nested", pattern="debate")
    child = Run.objects.create(
        document=parent.document, pipeline=nested, parent_step=step, status=Run.Status.NEEDS_REVIEW,
        result={"pattern": "debate", "findings": findings},
    )  # fmt: skip
    open_review_items(child)
    child.review_items.get().decide(reviewer, Decision.Choice.STANDS)

    load = measure(parent.pipeline)
    assert (load.documents, load.items, load.decided_with_judge, load.confirmed) == (1, 1, 1, 1)
    table = {row.threshold: (row.items_per_document, row.missed) for row in load.simulation}
    assert table[0.5] == (0.0, 1)  # settled at 0.6: the confirmed renewal missed
    assert table[0.95] == (1.0, 0)
    assert expected_items_per_document(parent.pipeline) == 1.0


@pytest.mark.parametrize(
    "result",
    [
        None,
        {"counts": {"agreed": "two"}, "findings": "none"},
        {"counts": {"agreed": 1e12}, "findings": [None, 3, {"status": "agreed"}]},
        {"counts": []},
    ],
)
def test_results_of_any_shape_are_saved_and_give_no_figures_they_do_not_have(make_document, debate_pipeline, result):
    run = Run.objects.create(document=make_document(), pipeline=debate_pipeline, status="done", result=result)
    run.refresh_from_db()
    assert run.result == result
    assert run.agreed_count is None and run.disputed_count is None
    expected = [{"type": None, "severity": None, "status": "agreed", "judge": {"confidence": None}}]
    assert run.routed_findings == (expected if result and isinstance(result.get("findings"), list) else None)


def test_the_figures_follow_the_result_when_it_changes(make_document, debate_pipeline):
    finding = {"key": "k:1", "type": "liability_cap", "severity": "high", "status": "disputed",
               "evidence": "A long quote " * 50, "judge": {"confidence": 0.7, "rationale": "long " * 50}}  # fmt: skip
    run = Run.objects.create(document=make_document(), pipeline=debate_pipeline, status="running")
    run.result = {"counts": {"agreed": 2, "disputed": 1}, "findings": [finding, {**finding, "status": "rejected"}]}
    run.save()
    run.refresh_from_db()
    assert (run.agreed_count, run.disputed_count) == (2, 1)
    assert run.routed_findings == [
        {"type": "liability_cap", "severity": "high", "status": "disputed", "judge": {"confidence": 0.7}}
    ]


# --- the dashboard's figures, from LoadEntry (review.load.loads) ----------------------

KINDS = [("auto_renewal", RENEWAL), ("liability", LIABILITY), ("payment_terms", PAYMENT)]


def _findings(rng: random.Random) -> list[dict]:
    """Some disputed findings (queued or settled, at any severity and confidence) and an agreed one."""
    findings = []
    for kind, evidence in rng.sample(KINDS, rng.randint(0, 3)):
        severity, confidence = rng.choice(["low", "medium", "high"]), rng.choice([0.55, 0.7, 0.85, 0.95])
        findings.append(disputed(kind, evidence, severity, confidence, rng.random() < 0.6, queued=rng.random() < 0.7))
    findings.append({**position("termination", "t", RENEWAL), "key": "termination:1", "status": "agreed"})
    return findings


def _run(
    rng: random.Random, pipeline: Pipeline, document, status: str, parent_step: Step | None = None, age: int = 0
) -> Run:
    """A run `age` minutes old (default: any time in the last two weeks), its items filed."""
    findings = _findings(rng)
    result = {"pattern": "debate", "findings": findings,
              "counts": {"disputed": sum(f["status"] == "disputed" for f in findings)}}  # fmt: skip
    run = Run.objects.create(
        document=document, pipeline=pipeline, status=status, result=result, parent_step=parent_step,
        created_at=timezone.now() - timedelta(minutes=age or rng.randrange(1, 20_000)),
    )  # fmt: skip
    if status in ("needs_review", "done", "reviewed") and any(f.get("review") for f in findings):
        open_review_items(run)
    return run


@pytest.fixture
def world(db, reviewer, admin_user, monkeypatch):
    """Three pipelines' runs (every status) on five documents, a Supervisor-like pipeline
    whose runs start nested ones, review items linked to them, some decided (one decision
    superseded); and a window of 6 runs, so that it cuts through all of that."""
    monkeypatch.setattr(review_load, "RECENT_RUNS", 6)
    rng = random.Random(7)
    documents = [make_run([], pipeline_slug="world-seed").document for _ in range(5)]
    pipelines = [Pipeline.objects.create(slug=f"world-{n}", name=f"World {n}", pattern="debate") for n in range(3)]
    nester = Pipeline.objects.create(slug="world-nester", name="Nester", pattern="supervisor")
    statuses = ["done", "needs_review", "reviewed", "failed", "running", "done"]
    for _ in range(45):
        _run(rng, rng.choice(pipelines), rng.choice(documents), rng.choice(statuses))
    for n in range(8):
        parent = _run(rng, nester, documents[n % 5], rng.choice(["done", "needs_review", "running"]))
        step = Step.objects.create(run=parent, key=f"specialist:{n}", slot="specialist:clauses")
        _run(rng, pipelines[n % 3], parent.document, rng.choice(["needs_review", "running"]), parent_step=step)
    items = list(ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).order_by("id"))
    for item in items[::2]:
        item.decide(reviewer, rng.choice([Decision.Choice.STANDS, Decision.Choice.NOT_ISSUE]), note="checked")
    decided = ReviewItem.objects.filter(status=ReviewItem.Status.RESOLVED).order_by("id").first()
    decided.supersede(admin_user, decided.current_decision(), Decision.Choice.NOT_ISSUE, reason="on appeal")
    return [*pipelines, nester, Pipeline.objects.get(slug="world-seed")]


def _assert_loads_are_measured(pipelines: list[Pipeline]) -> None:
    """What the dashboard reads for every pipeline at once is what measure() works out for each."""
    pipelines = list(Pipeline.objects.filter(pk__in=[p.pk for p in pipelines]).select_related("rubric__active"))
    loads = review_load.loads(pipelines)
    for pipeline in pipelines:
        assert loads[pipeline.pk] == measure(pipeline), pipeline.slug


def test_the_dashboards_review_load_is_the_one_measured_folded_or_not(world):
    # The window cuts the runs, and what it holds has items, decisions and nested runs' findings.
    assert Run.objects.filter(pipeline=world[0], status__in=["done", "needs_review", "reviewed"]).count() > 6
    assert all(measure(pipeline).decided_with_judge for pipeline in world[:4])
    _assert_loads_are_measured(world)  # nothing folded yet: every pair worked out on the spot
    assert review_load.fold() > 0
    assert not LoadChange.objects.exists() and LoadEntry.objects.exists()
    _assert_loads_are_measured(world)  # all from the entries


def _in_window(pipeline: Pipeline) -> list[Run]:
    return list(
        Run.objects.filter(pipeline=pipeline, status__in=["done", "needs_review", "reviewed"]).order_by(
            "-created_at", "-id"
        )[: review_load.RECENT_RUNS]
    )


def _change(change: str, world: list[Pipeline], reviewer, admin_user) -> Pipeline:
    """Make `change` to what world[0]'s (or the nester's) window holds; the pipeline changed."""
    pipeline, rng = world[0], random.Random(change)
    window = _in_window(pipeline)
    linked = ReviewItem.objects.filter(links__run__in=window).distinct().order_by("id")
    if change == "new_run":  # on a document of its own, pushing the oldest run out of the window
        _run(rng, pipeline, make_run([], pipeline_slug="world-seed").document, "needs_review", age=1)
    elif change == "decision":
        linked.filter(status=ReviewItem.Status.OPEN).first().decide(reviewer, Decision.Choice.STANDS)
    elif change == "supersede":
        item = linked.filter(status=ReviewItem.Status.RESOLVED).first()
        standing = item.current_decision()
        choice = Decision.Choice.NOT_ISSUE if standing.is_issue else Decision.Choice.STANDS
        item.supersede(admin_user, standing, choice, reason="second look")
    elif change == "run_failed":
        Run.objects.filter(pk=window[0].pk).update(status=Run.Status.FAILED)
    elif change == "run_deleted":  # the newest run, alone on its document, before which the fold ran
        window[0].delete()
    elif change == "nested_result":
        pipeline = world[3]
        child = Run.objects.filter(parent_step__run__in=_in_window(pipeline)).first()
        Run.objects.filter(pk=child.pk).update(result={"findings": _findings(rng) + _findings(random.Random(1))})
    elif change == "item_judge":
        item = linked.filter(status=ReviewItem.Status.RESOLVED).first()
        ReviewItem.objects.filter(pk=item.pk).update(judge={})
    else:
        ReviewLink.objects.filter(run__in=window).first().delete()
    return pipeline


@pytest.mark.parametrize(
    "change",
    ["new_run", "decision", "supersede", "run_failed", "run_deleted", "nested_result", "item_judge", "link_deleted"],
)
def test_the_review_load_follows_every_change_before_and_after_the_next_fold(world, reviewer, admin_user, change):
    if change == "run_deleted":
        Run.objects.create(document=make_run([], pipeline_slug="world-seed").document, pipeline=world[0], status="done")
    review_load.fold()
    before = {pipeline.pk: measure(pipeline) for pipeline in world}
    changed = _change(change, world, reviewer, admin_user)
    assert measure(changed) != before[changed.pk]  # the change shows in the figures
    assert LoadChange.objects.exists()  # and was queued
    _assert_loads_are_measured(world)
    review_load.fold()
    _assert_loads_are_measured(world)
