"""Supervisor runs end to end: real PostgreSQL, Valkey and RQ jobs, offline agents."""

import django_rq
import pytest

from orchestrator import engine
from orchestrator.demo.documents import CONTRACT, INVOICE_DE
from orchestrator.models import Run, Step
from review.models import ReviewItem

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_invoice_is_classified_read_by_three_specialists_and_assembled(make_document, supervisor_pipeline, run_jobs):
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), supervisor_pipeline)
    run_jobs()
    run.refresh_from_db()

    assert run.status == Run.Status.DONE
    waves = dict(run.steps.values_list("key", "wave"))
    assert waves == {
        "coordinator": 1,
        "specialist:financial": 2,
        "specialist:entities": 2,
        "specialist:metadata": 2,
        "assembly": 3,
    }
    result = run.result
    assert result["doc_type"] == "invoice" and result["partial"] is False
    assert result["fields"]["total"] == 4904.94
    assert result["fields"]["currency"] == "EUR"
    assert result["fields"]["issue_date"] == "2026-11-25"
    assert result["fields"]["language"] == "de"
    assert {"name": "Globex Trading Ltd", "role": "customer"} in result["fields"]["parties"]
    assert result["provenance"]["total"] == "specialist:financial"
    assert result["provenance"]["parties"] == "specialist:entities"
    assert result["provenance"]["language"] == "specialist:metadata"
    assert result["provenance"]["doc_type"] == "coordinator"
    assert run.steps_done == run.steps_planned == 5


def test_a_contract_gets_all_four_specialists(make_document, supervisor_pipeline, run_jobs):
    run = engine.start_run(make_document(CONTRACT, "contract.txt"), supervisor_pipeline)
    run_jobs()
    run.refresh_from_db()
    specialists = sorted(run.steps.filter(key__startswith="specialist:").values_list("key", flat=True))
    assert specialists == [
        "specialist:clauses",
        "specialist:entities",
        "specialist:financial",
        "specialist:metadata",
    ]
    clauses = run.result["fields"]["clauses"]
    assert [clause["types"] for clause in clauses][:3] == [["auto_renewal"], ["termination"], ["liability_cap"]]


def test_specialists_run_on_their_own_queue_and_the_coordinator_on_its_own(make_document, supervisor_pipeline, queues):
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), supervisor_pipeline)
    assert django_rq.get_queue("coordinator").count == 1
    engine.execute_step(run.steps.get(key="coordinator").pk)
    assert django_rq.get_queue("specialists").count == 3
    for step in run.steps.filter(key__startswith="specialist:"):
        engine.execute_step(step.pk)
    assert django_rq.get_queue("coordinator").count == 2  # the coordinator's job, then the assembly's


def classification(*specialists: str, doc_type: str = "invoice") -> dict:
    plan = [{"specialist": name, "reason": f"Scripted: {name}"} for name in specialists]
    return {"doc_type": doc_type, "confidence": 0.9, "signals": ["scripted"], "plan": plan}


FINANCIAL = {
    "fields": {
        "invoice_number": "INV-7",
        "issue_date": "2026-01-31",
        "due_date": None,
        "total": 120.0,
        "net": 100.0,
        "tax": 20.0,
        "currency": "EUR",
    },
    "amounts": [],
}
METADATA = {"language": "en", "page_count": 1, "title": "Invoice INV-7", "word_count": 12}


def assembly(*fields: tuple[str, object, str]) -> dict:
    return {
        "doc_type": "invoice",
        "summary": "Scripted.",
        "fields": [{"name": name, "value": value, "source": source} for name, value, source in fields],
    }


def test_the_coordinators_plan_picks_the_specialists_and_the_assembler_gets_their_outputs(
    make_document, supervisor_pipeline, scripted, run_jobs
):
    scripted.take_over_pipeline(supervisor_pipeline)
    # Two of the four specialists, and one this pipeline does not have.
    scripted.enqueue("coordinator", [classification("financial", "metadata", "astrology")])
    scripted.enqueue("specialist:financial", [FINANCIAL])
    scripted.enqueue("specialist:metadata", [METADATA])
    scripted.enqueue("assembler", [assembly(("total", 120.0, "financial"), ("language", "en", "metadata"))])
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), supervisor_pipeline)
    run_jobs()
    run.refresh_from_db()

    assert run.status == Run.Status.DONE
    assert dict(run.steps.values_list("key", "wave")) == {
        "coordinator": 1,
        "specialist:financial": 2,
        "specialist:metadata": 2,
        "assembly": 3,
    }
    assert [r["inputs"]["task"] for r in scripted.history() if r["role"] == "specialist"] in (
        ["Scripted: financial", "Scripted: metadata"],
        ["Scripted: metadata", "Scripted: financial"],
    )
    [assembler] = scripted.history("assembler")
    assert assembler["inputs"]["outputs"] == {"financial": FINANCIAL, "metadata": METADATA}
    assert assembler["inputs"]["missing"] == []
    assert run.result["fields"] == {"doc_type": "invoice", "total": 120.0, "language": "en"}
    assert run.result["provenance"] == {
        "doc_type": "coordinator",
        "total": "specialist:financial",
        "language": "specialist:metadata",
    }
    assert run.result["skipped"] == ["astrology"]
    assert run.steps_done == run.steps_planned == 4


def test_a_specialist_whose_output_stays_invalid_leaves_a_partial_result_for_review(
    make_document, supervisor_pipeline, scripted, run_jobs
):
    scripted.take_over_pipeline(supervisor_pipeline)
    scripted.enqueue("coordinator", [classification("financial", "metadata")])
    # The financial specialist leaves out its amounts, and again when told so.
    scripted.enqueue("specialist:financial", [{"fields": FINANCIAL["fields"]}, {"fields": FINANCIAL["fields"]}])
    scripted.enqueue("specialist:metadata", [METADATA])
    scripted.enqueue("assembler", [assembly(("language", "en", "metadata"))])

    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), supervisor_pipeline)
    run_jobs()
    run.refresh_from_db()

    step = run.steps.get(key="specialist:financial")
    assert step.status == Step.Status.FAILED
    # One corrective retry that showed the model the errors, then the specialist failed.
    first, retry = scripted.history("specialist:financial")
    assert "amounts: is required but missing" in retry["messages"][-1]["content"]
    assert len(retry["messages"]) == len(first["messages"]) + 2
    assert len(step.attempts) == 2
    assert step.validation_errors == ["amounts: is required but missing"] * 2
    [assembler] = scripted.history("assembler")
    assert assembler["inputs"]["missing"] == ["financial"]
    assert run.status == Run.Status.NEEDS_REVIEW
    assert run.result["partial"] is True
    assert [item["specialist"] for item in run.result["missing"]] == ["financial"]
    assert "total" not in run.result["fields"]
    assert run.result["fields"]["language"] == "en"  # the others' work is kept
    item = ReviewItem.objects.get(run=run)
    assert item.reason == ReviewItem.Reason.PARTIAL_RESULT
    assert "financial" in item.title


def test_the_run_costs_the_slowest_specialist_not_the_sum(make_document, supervisor_pipeline, run_jobs):
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), supervisor_pipeline)
    run_jobs()
    run.refresh_from_db()
    steps = {step.key: step.latency_ms for step in run.steps.all()}
    specialists = [latency for key, latency in steps.items() if key.startswith("specialist:")]
    assert run.critical_path_ms == steps["coordinator"] + max(specialists) + steps["assembly"]


def test_the_run_page_links_each_field_to_its_step_and_names_what_a_partial_result_lacks(
    make_document, supervisor_pipeline, run_jobs, client_for, analyst
):
    metadata = supervisor_pipeline.agent_for("specialist:metadata")
    metadata.profile = "astrology"
    metadata.save()
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), supervisor_pipeline)
    run_jobs()
    run.refresh_from_db()

    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    financial = run.steps.get(key="specialist:financial")
    row = page.split("<code>total</code>")[1].split("</tr>")[0]
    assert f'href="/runs/{run.pk}/steps/{financial.pk}/">specialist:financial</a>' in row
    partial = page.split('data-testid="partial"')[1].split("</div>")[0]
    assert "specialist:metadata" in partial and "no profile &#x27;astrology&#x27;" in partial
    assert ReviewItem.objects.get(run=run).get_absolute_url() in partial


def test_seeding_twice_gives_each_demo_pipeline_once(db):
    from orchestrator.demo.seed import seed_all
    from orchestrator.models import KnowledgeEntry, Pipeline

    seed_all("pw")
    seed_all("pw")
    slugs = set(Pipeline.objects.values_list("slug", flat=True))
    assert {"contract-debate", "document-supervisor", "contract-supervisor", "extraction-chain"} <= slugs
    assert Pipeline.objects.get(slug="extraction-chain").slots.count() == 5
    clauses = Pipeline.objects.get(slug="contract-supervisor").slots.get(name="specialist:clauses")
    assert clauses.agent is None and clauses.subpipeline.slug == "contract-debate"
    assert KnowledgeEntry.objects.filter(name="ACME Maschinenbau GmbH").count() == 1
    coordinator = Pipeline.objects.get(slug="document-supervisor").agent_for("coordinator")
    assert (coordinator.queue, Pipeline.objects.get(slug="document-supervisor").agent_for("assembly").queue) == (
        "coordinator",
        "coordinator",
    )
    assert Pipeline.objects.get(slug="document-supervisor").agent_for("specialist:clauses").queue == "specialists"
