"""Chain runs end to end: real PostgreSQL, Valkey and RQ jobs, offline agents."""

import pytest

from orchestrator import engine
from orchestrator.demo.documents import INVOICE_DE, INVOICE_EN
from orchestrator.models import Agent, KnowledgeEntry, PipelineSlot, Run
from orchestrator.patterns.schemas import RECORD_FIELDS

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_invoice_goes_through_every_stage_and_each_record_is_kept(make_document, chain_pipeline, run_jobs):
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline)
    run_jobs()
    run.refresh_from_db()

    assert run.status == Run.Status.DONE
    steps = {step.key: step for step in run.steps.all()}
    stages = ("stage:1:extract", "stage:2:normalize", "stage:3:enrich", "stage:4:format")
    assert [steps[key].wave for key in stages] == [1, 2, 3, 4]
    assert steps["stage:1:extract"].output["fields"]["total"] == "4.904,94"
    assert steps["stage:2:normalize"].output["fields"]["total"] == 4904.94
    # Each stage was handed the record the stage before it made.
    assert steps["stage:3:enrich"].inputs["record"]["fields"] == steps["stage:2:normalize"].output["fields"]
    fields = run.result["fields"]
    assert fields["total"] == 4904.94 and fields["issue_date"] == "2026-11-25"
    assert run.result["provenance"]["total"] == "stage:2:normalize"
    assert run.result["record"]["summary"].startswith("Invoice RE-2026-0042 from ACME Maschinenbau GmbH")


def test_enrich_reads_the_knowledge_base_admins_edit(make_document, chain_pipeline, run_jobs):
    KnowledgeEntry.objects.filter(name="ACME Maschinenbau GmbH").update(risk="high", country="AT")
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline)
    run_jobs()
    run.refresh_from_db()

    fields = run.result["fields"]
    assert fields["vendor_risk"] == "high" and fields["vendor_country"] == "AT"
    assert fields["customer_risk"] == "medium"  # Globex, listed as a counterparty
    assert "rated high risk" in " ".join(run.result["record"]["warnings"])
    enrich = run.steps.get(key="stage:3:enrich")
    assert "ACME Maschinenbau GmbH" in enrich.request["messages"][0]["content"]


def test_the_shadow_normalizer_runs_beside_the_live_one_and_its_disagreement_is_recorded(
    make_document, chain_pipeline, run_jobs
):
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline)
    run_jobs()
    run.refresh_from_db()

    shadow = run.steps.get(key="shadow:2:normalize")
    assert shadow.wave == run.steps.get(key="stage:2:normalize").wave
    assert shadow.output["fields"]["total"] == 4.90494  # the candidate reads 4.904,94 wrongly
    assert run.result["fields"]["total"] == 4904.94  # and is never passed on
    [comparison] = run.result["shadows"]
    assert comparison["agrees"] is False
    assert {"field": "total", "primary": 4904.94, "shadow": 4.90494} in comparison["differences"]


def test_on_english_formats_the_shadow_agrees(make_document, chain_pipeline, run_jobs):
    run = engine.start_run(make_document(INVOICE_EN, "invoice-en.txt"), chain_pipeline)
    run_jobs()
    run.refresh_from_db()
    assert run.result["fields"]["total"] == 4911
    assert run.result["fields"]["customer_risk"] == "high"
    assert run.result["shadows"][0]["agrees"] is True


def test_a_swapped_stage_whose_output_breaks_the_next_contract_stops_the_chain_there(
    make_document, chain_pipeline, run_jobs, client_for, analyst
):
    # Swap normalize for the extract agent: its raw strings pass its own schema but not enrich's input.
    PipelineSlot.objects.filter(pipeline=chain_pipeline, name="stage:2:normalize").update(
        agent=Agent.objects.get(slug="stage-extract")
    )
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline)
    run_jobs()
    run.refresh_from_db()

    assert run.status == Run.Status.FAILED
    assert "Stage 3 (enrich) was not called" in run.error and "fields/total" in run.error
    assert not run.steps.filter(key="stage:3:enrich").exists()

    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert 'data-testid="first-failure"' in page
    assert "stage 3 (enrich) refused it" in page


def test_the_pipeline_page_shows_the_shadows_agreement_rate_and_the_runs_that_differed(
    make_document, chain_pipeline, run_jobs, client_for, analyst
):
    german = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline)
    english = engine.start_run(make_document(INVOICE_EN, "invoice-en.txt"), chain_pipeline)
    run_jobs()

    page = client_for(analyst).get(chain_pipeline.get_absolute_url()).content.decode()
    assert '<strong data-testid="agreement-rate">50 %</strong> of 2 runs' in page
    assert f'href="{german.get_absolute_url()}"' in page.split('data-testid="shadow"')[1].split("</section>")[0]
    assert f'href="{english.get_absolute_url()}"' not in page.split('data-testid="shadow"')[1].split("</section>")[0]
    assert "4904.94 vs 4.90494" in page


def test_the_run_page_shows_each_field_with_the_stage_that_produced_it(
    make_document, chain_pipeline, run_jobs, client_for, analyst
):
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline)
    run_jobs()
    normalize = run.steps.get(key="stage:2:normalize")
    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    fields = page.split('data-testid="fields"')[1].split("</table>")[0]
    row = fields.split("<code>total</code>")[1].split("</tr>")[0]
    assert f'href="/runs/{run.pk}/steps/{normalize.pk}/">stage:2:normalize</a>' in row
    assert "4.904,94" in row and '<span class="introduced" title="stage:2:normalize">4904.94</span>' in row


def _fields(**values) -> dict:
    return {name: values.get(name) for name in RECORD_FIELDS}


EXTRACTED = {"fields": _fields(total="1.234,50", currency="EUR", vendor="Acme"), "evidence": {"total": "1.234,50"}}
NORMALIZED = {"fields": _fields(total=1234.5, currency="EUR", vendor="Acme"), "notes": ["decimal comma"]}
SHADOW = {"fields": _fields(total=1.2345, currency="EUR", vendor="Acme"), "notes": ["decimal point"]}
FACTS = {"vendor_country": "DE", "vendor_risk": "low", "customer_country": None, "customer_risk": None}
MATCH = {"field": "vendor", "found": "Acme", "entry": "Acme"}
ENRICHED = {"fields": {**NORMALIZED["fields"], **FACTS}, "matches": [MATCH]}
FORMATTED = {"fields": ENRICHED["fields"], "summary": "Invoice from Acme.", "warnings": []}


def test_each_stage_is_handed_the_record_the_stage_before_it_made(make_document, chain_pipeline, scripted, run_jobs):
    scripted.take_over_pipeline(chain_pipeline)
    for agent, reply in [
        ("stage:extract", EXTRACTED),
        ("stage:normalize", NORMALIZED),
        ("stage:normalize-naive", SHADOW),
        ("stage:enrich", ENRICHED),
        ("stage:format", FORMATTED),
    ]:
        scripted.enqueue(agent, [reply])
    run = engine.start_run(make_document(INVOICE_DE, "invoice.txt"), chain_pipeline)
    run_jobs()
    run.refresh_from_db()

    assert run.status == Run.Status.DONE, run.error
    handed = {request["agent"]: request["inputs"]["record"] for request in scripted.history()}
    assert handed["stage:extract"] == {}
    assert handed["stage:normalize"]["fields"] == EXTRACTED["fields"]
    # The shadow is handed what the live stage is, and what it makes is never passed on.
    assert handed["stage:normalize-naive"] == handed["stage:normalize"]
    assert handed["stage:enrich"]["fields"] == NORMALIZED["fields"]
    assert handed["stage:format"]["fields"] == ENRICHED["fields"]
    assert run.result["fields"] == FORMATTED["fields"]
    assert run.result["provenance"]["total"] == "stage:2:normalize"
    assert run.result["provenance"]["vendor_risk"] == "stage:3:enrich"
    [comparison] = run.result["shadows"]
    assert comparison["differences"] == [{"field": "total", "primary": 1234.5, "shadow": 1.2345}]
