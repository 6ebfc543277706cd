"""Review load as a team lead reads it: items per document, how often reviewers
agreed with the judge, and what other thresholds would have queued or missed."""

import pytest
from django.urls import reverse

from orchestrator.models import Pipeline, Run, Step
from review.load import expected_items_per_document, measure
from review.models import Decision
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
