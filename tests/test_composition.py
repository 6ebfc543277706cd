"""Patterns compose: a slot that holds a pipeline runs it as a nested run."""

import csv
import io

import pytest
from django.conf import settings
from django.urls import reverse

from orchestrator import engine
from orchestrator.demo.documents import CONTRACT, INVOICE_DE
from orchestrator.models import Agent, Pipeline, PipelineSlot, Run, Step
from tests.test_engine import NON_COMPETE, PAYMENT, RENEWAL, script_a_debate, verdict

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished(make_document, contract_supervisor, scripted, run_jobs):
    """contract-supervisor on a contract, its nested debate answering from the script."""
    script_a_debate(scripted, Pipeline.objects.get(slug="contract-debate"))
    run = engine.start_run(make_document(CONTRACT, "contract.txt"), contract_supervisor)
    run_jobs()
    run.refresh_from_db()
    return run


def test_a_debate_as_the_clause_specialist_runs_as_a_nested_run(finished, scripted):
    step = finished.steps.get(key="specialist:clauses")
    assert step.agent is None and step.status == Step.Status.SUCCEEDED
    child = step.child_run
    assert child.pipeline.slug == "contract-debate" and child.document_id == finished.document_id
    assert child.parent_step == step and child.steps_done == 3
    # The child ran its own three steps on the parent's document, each with the reply it was given.
    outputs = dict(child.steps.values_list("key", "output"))
    assert outputs == {
        "advocate:a": {"findings": [RENEWAL, NON_COMPETE]},
        "advocate:b": {"findings": [RENEWAL, PAYMENT]},
        "judge": {"verdicts": [verdict("non_compete:1", True), verdict("payment_terms:1", False, 0.6)]},
    }
    assert {request["inputs"]["document"] for request in scripted.history()} == {CONTRACT}
    findings = {f["key"]: f["status"] for f in child.result["findings"]}
    assert findings == {"auto_renewal:1": "agreed", "non_compete:1": "disputed", "payment_terms:1": "disputed"}
    # The debate's result is the step's output, and the assembler took exactly its findings.
    assert step.output == child.result
    assert finished.result["provenance"]["findings"] == "specialist:clauses"
    assert [f["key"] for f in finished.result["fields"]["findings"]] == list(findings)
    # The nested run files its own disputes; the parent has none of its own.
    assert child.status == Run.Status.NEEDS_REVIEW
    # One item per queued finding type (the routing policy may settle the low-severity payment dispute).
    queued = sorted({f["type"] for f in child.result["findings"] if f["review"]})
    assert "non_compete" in queued
    assert sorted(child.review_items.values_list("finding_type", flat=True)) == queued
    # The parent awaits the nested review (test_robustness: the decisions fold back into it).
    assert finished.status == Run.Status.NEEDS_REVIEW and not finished.review_items.exists()


def test_costs_and_tokens_roll_up_to_the_parent(finished):
    child = finished.steps.get(key="specialist:clauses").child_run
    step = child.parent_step
    assert child.input_tokens == 3 * 100  # the script's usage of each of the child's three calls
    assert step.input_tokens == child.input_tokens and step.cost == child.cost
    own = sum(s.input_tokens for s in finished.steps.all())
    assert finished.input_tokens == own  # the child's tokens counted once, through its step
    assert step.latency_ms == child.critical_path_ms


def test_the_run_page_nests_the_childs_steps_under_the_step_that_started_it(client_for, analyst, finished):
    child = finished.steps.get(key="specialist:clauses").child_run
    page = client_for(analyst).get(finished.get_absolute_url()).content.decode()
    assert child.get_absolute_url() in page
    nested = page.index("specialist:clauses")
    assert nested < page.index("advocate:a")
    assert 'class="nested' in page
    child_page = client_for(analyst).get(child.get_absolute_url()).content.decode()
    assert f'Part of <a href="{finished.get_absolute_url()}">run {finished.pk}</a>' in child_page


def test_the_trace_labels_nested_steps_by_the_step_that_started_them(client_for, analyst, finished):
    page = client_for(analyst).get(reverse("orchestrator:trace", args=[finished.pk])).content.decode()
    assert "specialist:clauses › advocate:a" in page


def test_nested_runs_stay_off_the_runs_list(client_for, analyst, finished):
    child = finished.steps.get(key="specialist:clauses").child_run
    page = client_for(analyst).get(reverse("orchestrator:runs")).content.decode()
    assert f'href="{finished.get_absolute_url()}"' in page
    assert f'href="{child.get_absolute_url()}"' not in page


def test_a_debate_can_be_a_chain_stage(make_document, chain_pipeline, debate_pipeline, scripted, run_jobs):
    script_a_debate(scripted, debate_pipeline)
    chain = Pipeline.objects.create(slug="review-chain", name="Review chain", pattern=Pipeline.Pattern.CHAIN)
    for position, (slot, holder) in enumerate(
        [("stage:1:extract", "stage-extract"), ("stage:2:normalize", "stage-normalize"), ("stage:3:review", None)]
    ):
        if holder:
            agent = chain_pipeline.slots.get(agent__slug=holder).agent
            PipelineSlot.objects.create(pipeline=chain, name=slot, position=position, agent=agent)
        else:
            PipelineSlot.objects.create(pipeline=chain, name=slot, position=position, subpipeline=debate_pipeline)

    run = engine.start_run(make_document(CONTRACT, "contract.txt"), chain)
    run_jobs()
    run.refresh_from_db()

    # Its nested debate files disputes: the chain awaits their review (fold_back_review settles it).
    assert run.status == Run.Status.NEEDS_REVIEW, run.error
    review = run.steps.get(key="stage:3:review")
    assert review.child_run.pipeline == debate_pipeline
    assert sorted(review.child_run.steps.values_list("key", flat=True)) == ["advocate:a", "advocate:b", "judge"]
    # The debate's findings join the record; the fields the stages before it made carry on.
    assert run.result["record"]["findings"] == review.output["findings"]
    assert [f["key"] for f in review.output["findings"]] == ["auto_renewal:1", "non_compete:1", "payment_terms:1"]
    assert run.result["fields"]["vendor"] == "ACME Maschinenbau GmbH"
    assert run.result["findings"] == []  # the nested run files its own disputes


def test_a_failed_nested_run_fails_its_step_and_the_supervisor_goes_on(make_document, contract_supervisor, run_jobs):
    judge = Pipeline.objects.get(slug="contract-debate").agent_for("judge")
    judge.prompt.active = None
    judge.prompt.save()
    run = engine.start_run(make_document(CONTRACT, "contract.txt"), contract_supervisor)
    run_jobs()
    run.refresh_from_db()

    step = run.steps.get(key="specialist:clauses")
    assert step.status == Step.Status.FAILED and "contract-debate failed" in step.error
    assert run.result["partial"] is True and run.status == Run.Status.NEEDS_REVIEW


def test_a_pipeline_cannot_hold_itself(supervisor_pipeline):
    from django.core.exceptions import ValidationError

    slot = PipelineSlot(pipeline=supervisor_pipeline, name="specialist:self", subpipeline=supervisor_pipeline)
    with pytest.raises(ValidationError, match="cannot hold itself"):
        slot.full_clean()


def test_an_invoice_through_the_composed_supervisor_never_starts_the_debate(
    make_document, contract_supervisor, run_jobs
):
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), contract_supervisor)
    run_jobs()
    assert not Run.objects.filter(parent_step__run=run).exists()


def test_the_findings_csv_carries_the_findings_a_nested_debate_brought(client_for, analyst, finished):
    child = finished.steps.get(key="specialist:clauses").child_run
    response = client_for(analyst).get(reverse("orchestrator:findings_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    # Listed under the run the analyst sees (nested runs stay off the runs list), one row per finding.
    assert {row["run"] for row in rows} == {str(finished.pk)}
    assert [row["finding"] for row in rows] == [f["key"] for f in child.result["findings"]]
    queued = {f["key"]: f["review"]["reason"] for f in child.result["findings"] if f["review"]}
    assert {row["finding"]: row["review_reason"] for row in rows if row["review_reason"]} == queued


def test_the_runs_csv_counts_the_findings_a_nested_debate_brought(client_for, analyst, finished):
    """The runs CSV's issues column said 0 for a Supervisor whose nested Debate found issues."""
    child = finished.steps.get(key="specialist:clauses").child_run
    response = client_for(analyst).get(reverse("orchestrator:runs_export"))
    [row] = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["run"] == str(finished.pk)
    expected = child.result["counts"]
    assert expected["issues"] > 0 and expected["disputed"] > 0
    assert (int(row["issues"]), int(row["agreed"]), int(row["disputed"])) == (
        finished.result["counts"]["issues"] + expected["issues"], expected["agreed"], expected["disputed"],
    )  # fmt: skip
    for finding in child.result["findings"]:
        assert finding["title"] in row["findings"]


def _upload_row(client, run: Run) -> str:
    response = client.get(reverse("documents:upload"), {"run": run.pk}, headers={"HX-Request": "true"})
    return response.content.decode()


def test_an_upload_row_counts_the_findings_a_nested_debate_brought(client_for, analyst, finished):
    child = finished.steps.get(key="specialist:clauses").child_run
    findings = child.result["findings"]
    issues = sum(f["is_issue"] for f in findings)
    assert finished.finding_counts() == {"findings": len(findings), "issues": issues}
    row = _upload_row(client_for(analyst), finished)
    assert f"{len(findings)} findings, {issues} issue" in row and "0 findings" not in row
    # And where its disputes went: the nested run's items.
    for item in child.review_items.all():
        assert item.get_absolute_url() in row


def test_an_upload_row_claims_no_issues_for_a_pipeline_that_looks_for_none(
    client_for, analyst, make_document, supervisor_pipeline, run_jobs
):
    run = engine.start_run(make_document(CONTRACT, "contract.txt"), supervisor_pipeline)
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.DONE and run.finding_counts() is None
    # The document supervisor extracts fields; "0 issues" would claim a review it never made.
    row = _upload_row(client_for(analyst), run)
    assert "Done" in row and "issue" not in row


def test_the_api_gives_the_findings_a_nested_debate_brought(client, analyst, finished):
    from tests.test_api import bearer

    child = finished.steps.get(key="specialist:clauses").child_run
    run = client.get(f"/api/v1/runs/{finished.pk}", headers=bearer(analyst)).json()
    assert [f["key"] for f in run["findings"]] == [f["key"] for f in child.result["findings"]]


def test_the_run_page_lists_the_findings_a_nested_debate_brought_with_their_reviews(client_for, analyst, finished):
    child = finished.steps.get(key="specialist:clauses").child_run
    response = client_for(analyst).get(finished.get_absolute_url())
    page = response.content.decode()
    assert 'data-testid="nested-findings"' in page
    for finding in child.result["findings"]:
        assert finding["title"] in page
        if finding["review"]:
            assert reverse("review:item", args=[finding["review"]["item_id"]]) in page


def test_a_nested_run_its_pipeline_cannot_review_says_so_on_its_own_page(
    make_document, contract_supervisor, scripted, run_jobs, client_for, analyst
):
    """The nested Debate's offline stand-in cannot read Polish. The child's page is
    one click from the parent's: it must read "Not reviewed" there as the parent
    does, not "Done" with no findings."""
    from tests.test_supervisor import assembly, classification

    # The coordinator and assembler answer from the script; the nested Debate's agents are the offline rules.
    scripted.take_over(Agent.objects.filter(pipelineslot__pipeline=contract_supervisor))
    scripted.enqueue("coordinator", [classification("clauses", doc_type="contract")])
    scripted.enqueue("assembler", [assembly()])
    polish = (settings.BASE_DIR / "insights/labelled/unseen/contracts/u08-umowa-uslugi-pl.txt").read_text()
    run = engine.start_run(make_document(polish, "umowa.txt"), contract_supervisor)
    run_jobs()

    run.refresh_from_db()
    child = Run.objects.get(parent_step__run=run)
    assert "Polish" in run.not_reviewed and "Polish" in child.not_reviewed
    page = client_for(analyst).get(reverse("orchestrator:run", args=[child.pk])).content.decode()
    assert "Not reviewed" in page and "Polish" in page
