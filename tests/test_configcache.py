"""Workers keep prices, provider limits and pipeline slots between steps
(orchestrator/configcache.py), yet an admin's change applies to the very next
step: here on a worker that is its own process and has already cached the old
values, with the change made through the admin's own forms."""

import time
from decimal import Decimal

import pytest

from orchestrator import engine
from orchestrator.models import Agent, ModelPrice, Run

pytestmark = pytest.mark.django_db(transaction=True)

FINDING = {"type": "auto_renewal", "title": "Renews", "severity": "medium", "evidence": "renew", "explanation": "x"}
VERDICT = {"key": "auto_renewal:1", "is_issue": True, "recommendation": "accept_a", "confidence": 0.9,
           "criteria": [], "rationale": "Scripted."}  # fmt: skip
MODEL = "claude-haiku-4-5"


def _run_once(script, document, pipeline) -> Run:
    script.enqueue("advocate:thorough", [{"findings": [FINDING]}], input_tokens=1_000_000, output_tokens=0)
    script.enqueue("advocate:strict", [{"findings": [FINDING]}], input_tokens=1_000_000, output_tokens=0)
    script.enqueue("judge", [{"verdicts": [VERDICT]}], input_tokens=1_000_000, output_tokens=0)
    run = engine.start_run(document, pipeline)
    deadline = time.monotonic() + 120
    while not run.is_finished:
        assert time.monotonic() < deadline, f"run {run.pk} still {run.status}"
        time.sleep(0.2)
        run.refresh_from_db()
    return run


def test_a_price_edited_in_the_admin_charges_the_next_step_on_a_running_worker(
    worker, scripted, debate_pipeline, make_document, admin_user, client_for
):
    script, contract = scripted, make_document()
    script.take_over_pipeline(debate_pipeline)
    Agent.objects.filter(pipelineslot__pipeline=debate_pipeline).update(model=MODEL)
    price = ModelPrice.objects.get(model=MODEL)

    first = _run_once(script, contract, debate_pipeline)
    assert {step.cost for step in first.steps.all()} == {price.input_per_mtok}  # a million input tokens each

    form = {field.name: getattr(price, field.name) for field in ModelPrice._meta.fields if field.name != "id"}
    response = client_for(admin_user).post(
        f"/admin/orchestrator/modelprice/{price.pk}/change/", {**form, "input_per_mtok": "7.50"}
    )
    assert response.status_code == 302, response.content[:2000]

    second = _run_once(script, contract, debate_pipeline)
    assert {step.cost for step in second.steps.all()} == {Decimal("7.50")}
    assert {step.cost for step in first.steps.all()} == {price.input_per_mtok}  # history keeps its price
