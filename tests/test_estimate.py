"""The cost estimator: calls, tokens, dollars and latency per pipeline before
anything runs, and the page that shows them side by side."""

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from insights.estimate import (
    estimate_pipeline,
    size_from_pages,
    size_from_tokens,
    size_of_document,
    typical_size,
    waves_for,
)
from orchestrator.llm import estimate_tokens
from orchestrator.models import Agent, ModelPrice, Pipeline, PipelineSlot, Prompt, PromptVersion, Run, Step
from orchestrator.patterns import Call
from orchestrator.patterns.schemas import FINDINGS
from tests.messages_api import messages_api  # noqa: F401 (fixture)

SYSTEM = "s" * 400  # 100 tokens at four characters a token
TEMPLATE = "Review:\n{document}"  # "Review:\n" is 2 tokens once the document is left out


@pytest.fixture
def pipeline(db):
    """A Debate with one rebuttal round on a $3 / $15 model: advocate A and B are
    one agent (so they share its history), the judge another."""
    prompt = Prompt.objects.create(slug="review", name="Review")
    prompt.active = PromptVersion.objects.create(prompt=prompt, number=1, system=SYSTEM, template=TEMPLATE)
    prompt.save()
    ModelPrice.objects.create(
        model="test-model",
        input_per_mtok=Decimal("3"),
        output_per_mtok=Decimal("15"),
        cache_write_per_mtok=Decimal("3.75"),
        cache_read_per_mtok=Decimal("0.3"),
    )
    common = {"provider": "offline", "model": "test-model", "prompt": prompt, "output_schema": FINDINGS}
    advocate = Agent.objects.create(slug="adv", name="Advocate", role="advocate", max_tokens=1000, **common)
    judge = Agent.objects.create(slug="judge", name="Judge", role="judge", max_tokens=1000, **common)
    pipeline = Pipeline.objects.create(slug="debate", name="Debate", pattern="debate", rebuttal_rounds=1)
    for position, (slot, agent) in enumerate([("advocate_a", advocate), ("advocate_b", advocate), ("judge", judge)]):
        PipelineSlot.objects.create(pipeline=pipeline, name=slot, agent=agent, position=position)
    return pipeline


def _history(pipeline, make_document, agent_slug, outputs, latencies=None, provider="offline"):
    """Succeeded steps of an agent with known output tokens and latencies."""
    agent = Agent.objects.get(slug=agent_slug)
    document = make_document(text=f"History {uuid.uuid4().hex}", name=f"{agent_slug}-{provider}.txt")
    run = Run.objects.create(document=document, pipeline=pipeline)
    for number, tokens in enumerate(outputs):
        Step.objects.create(
            run=run,
            key=f"{agent_slug}:{uuid.uuid4().hex[:8]}",
            slot="history",
            agent=agent,
            status=Step.Status.SUCCEEDED,
            provider=provider,
            output_tokens=tokens,
            latency_ms=(latencies or [None] * len(outputs))[number],
        )


def _floors(pipeline, make_document, floors, status=Run.Status.DONE):
    for number, floor in enumerate(floors):
        document = make_document(text=f"Contract {number} {floor} {status}", name=f"floor-{number}.txt")
        Run.objects.create(document=document, pipeline=pipeline, status=status, critical_path_ms=floor)


# --- the shape of each pattern ----------------------------------------------------


def test_a_debate_calls_both_advocates_each_round_then_the_judge():
    debate = Pipeline(pattern="debate", rebuttal_rounds=2)

    waves = waves_for(debate, ["advocate_a", "advocate_b", "judge"])

    assert sum(len(wave) for wave in waves) == 2 + 2 * 2 + 1
    assert waves[0] == [Call("advocate_a"), Call("advocate_b")]
    assert waves[1] == [Call("advocate_a", "rebuttal"), Call("advocate_b", "rebuttal")]
    assert waves[-1] == [Call("judge")]


def test_a_supervisor_runs_its_specialists_side_by_side():
    supervisor = Pipeline(pattern="supervisor")
    slots = ["coordinator", "specialist:financial", "specialist:entities", "specialist:clauses", "assembly"]

    waves = waves_for(supervisor, slots)

    assert [len(wave) for wave in waves] == [1, 3, 1]


def test_a_chain_runs_stages_in_order_with_shadows_beside_them():
    chain = Pipeline(pattern="chain")

    waves = waves_for(chain, ["stage:2:normalize", "stage:1:extract", "shadow:2:normalize", "stage:10:format"])

    assert waves == [
        [Call("stage:1:extract")],
        [Call("stage:2:normalize"), Call("shadow:2:normalize")],
        [Call("stage:10:format")],
    ]


def test_an_unknown_shape_calls_each_slot_once_in_order():
    assert waves_for(Pipeline(pattern="other"), ["one", "two"]) == [[Call("one")], [Call("two")]]


# --- the arithmetic ---------------------------------------------------------------


def test_dollars_per_document_and_month_on_known_inputs(pipeline, make_document):
    _history(pipeline, make_document, "adv", [100, 200, 300, 400, 500])

    estimate = estimate_pipeline(pipeline, size_from_tokens(10_000), volume=1000)

    # Five calls (two advocates, two rebuttals, the judge), each reading the
    # document (10,000) + the system prompt (100) + the rendered template (2).
    assert estimate.calls == 5
    assert estimate.input_tokens == 5 * 10_102
    # Advocates: p50 300 and p90 500 from history, four calls; the judge has no
    # history, so its max_tokens (1,000) stands in for both.
    assert (estimate.output_p50, estimate.output_p90) == (4 * 300 + 1000, 4 * 500 + 1000)
    # $3 in, $15 out per million: (50,510 x 3 + 2,200 x 15) / 1e6 and (... + 3,000 x 15) / 1e6.
    assert estimate.cost_p50 == Decimal("0.184530")
    assert estimate.cost_p90 == Decimal("0.196530")
    assert estimate.monthly_p50 == Decimal("184.53")
    assert estimate.monthly_p90 == Decimal("196.53")
    assert estimate.unpriced == []


def test_output_switches_from_max_tokens_to_history_once_there_is_enough(pipeline, make_document):
    _history(pipeline, make_document, "judge", [700, 900])  # two steps: not yet a distribution

    before = {slot.slot: slot for slot in estimate_pipeline(pipeline, size_from_tokens(1000)).slots}
    assert before["judge"].output_kind == "max_tokens"
    assert "max_tokens 1,000" in before["judge"].output_basis
    assert before["judge"].output_p50 == before["judge"].output_p90 == 1000

    _history(pipeline, make_document, "judge", [800])

    after = {slot.slot: slot for slot in estimate_pipeline(pipeline, size_from_tokens(1000)).slots}
    assert after["judge"].output_kind == "history"
    assert (after["judge"].output_p50, after["judge"].output_p90) == (800, 900)
    assert "p50/p90 of its last 3 steps" in after["judge"].output_basis


def test_history_on_another_provider_does_not_count(pipeline, make_document):
    # The agent ran on Claude once; it is on the offline stand-in now.
    _history(pipeline, make_document, "adv", [5000, 5000, 5000], provider="anthropic")

    [advocate_a, *_] = estimate_pipeline(pipeline, size_from_tokens(1000)).slots

    assert advocate_a.output_kind == "max_tokens"


def test_a_slot_holding_a_pipeline_counts_that_pipelines_calls_and_cost(pipeline, make_document):
    _history(pipeline, make_document, "adv", [100, 200, 300, 400, 500])
    chain = Pipeline.objects.create(slug="chain", name="Chain", pattern="chain")
    PipelineSlot.objects.create(pipeline=chain, name="stage:1:extract", agent=Agent.objects.get(slug="judge"))
    PipelineSlot.objects.create(pipeline=chain, name="stage:2:review", subpipeline=pipeline, position=1)
    size = size_from_tokens(10_000)

    held = estimate_pipeline(pipeline, size)
    estimate = estimate_pipeline(chain, size)

    extract, review = estimate.slots
    assert (extract.calls, review.calls) == (1, 5)
    assert review.model == "pipeline:debate" and review.holder == "Debate"
    assert review.cost_p50 == held.cost_p50 and review.cost_p90 == held.cost_p90
    # The extract stage: one judge-agent call, no history, so its max_tokens.
    assert extract.cost_p50 == Decimal("0.045306")
    assert estimate.cost_p50 == held.cost_p50 + Decimal("0.045306")


def test_a_model_without_a_price_is_named_not_charged(pipeline, make_document):
    Agent.objects.filter(slug="judge").update(model="self-hosted-llama")

    estimate = estimate_pipeline(pipeline, size_from_tokens(10_000))

    assert estimate.unpriced == ["self-hosted-llama"]
    judge = next(slot for slot in estimate.slots if slot.slot == "judge")
    assert judge.cost_p50 is None
    assert estimate.cost_p50 == sum(slot.cost_p50 for slot in estimate.slots if slot.slot != "judge")


def test_a_real_document_is_rendered_into_the_prompt(pipeline, make_document):
    document = make_document()

    estimate = estimate_pipeline(pipeline, size_of_document(document))

    per_call = estimate_tokens(SYSTEM) + estimate_tokens("Review:\n" + document.text)
    assert estimate.input_tokens == 5 * per_call
    assert "contract.txt" in estimate.size.basis


def test_pages_use_this_deployments_own_tokens_a_page(db, make_document):
    assert size_from_pages(12).tokens == 12 * 600  # no paged documents yet: the assumption

    for number, pages in enumerate([1, 2, 4]):
        document = make_document(text="x" * 2000 * pages, name=f"paged-{number}.txt")
        document.page_count = pages
        document.save()

    size = size_from_pages(12)
    assert size.tokens == 12 * 500
    assert "median of your last 3 paged documents" in size.basis


def test_a_typical_document_is_the_median_of_recent_uploads(db, make_document):
    assert typical_size().tokens == 12 * 600

    for number, chars in enumerate([400, 4000, 40_000]):
        make_document(text="y" * chars, name=f"typical-{number}.txt")

    assert typical_size().tokens == 1000


# --- latency ----------------------------------------------------------------------


def test_latency_is_unknown_until_every_agent_has_been_timed(pipeline, make_document):
    _history(pipeline, make_document, "adv", [100] * 5, latencies=[1000, 2000, 3000, 4000, 5000])

    estimate = estimate_pipeline(pipeline, size_from_tokens(1000))

    assert estimate.latency_ms is None
    assert estimate.latency_basis.startswith("unknown")


def test_latency_sums_each_waves_slowest_median_call(pipeline, make_document):
    _history(pipeline, make_document, "adv", [100] * 5, latencies=[1000, 2000, 3000, 4000, 5000])
    _history(pipeline, make_document, "judge", [100] * 3, latencies=[1000, 1000, 1000])

    estimate = estimate_pipeline(pipeline, size_from_tokens(1000))

    # Advocates side by side (3 s), their rebuttals side by side (3 s), the judge (1 s).
    assert estimate.latency_ms == 3000 + 3000 + 1000
    assert estimate.latency_basis == "sum over waves of each agent's median step latency"


def test_latency_prefers_the_measured_critical_path_of_recent_runs(pipeline, make_document):
    _floors(pipeline, make_document, [4000, 6000, 9000])
    _floors(pipeline, make_document, [1], status=Run.Status.FAILED)  # a failed run's floor says nothing

    estimate = estimate_pipeline(pipeline, size_from_tokens(1000))

    assert estimate.latency_ms == 6000
    assert estimate.latency_basis == "p50 of the last 3 runs' critical path"


def test_runs_served_by_another_provider_are_not_timed(pipeline, make_document):
    _floors(pipeline, make_document, [4000, 6000, 9000])
    for run in Run.objects.all():
        Step.objects.create(
            run=run, key="advocate:a", slot="advocate_a", agent=Agent.objects.get(slug="adv"),
            status=Step.Status.SUCCEEDED, provider="anthropic", latency_ms=4000,
        )  # fmt: skip

    assert estimate_pipeline(pipeline, size_from_tokens(1000)).latency_ms is None


# --- counting with the Anthropic API ------------------------------------------------


@pytest.fixture
def claude(pipeline, messages_api, settings):  # noqa: F811 (the imported fixture)
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_BASE_URL = messages_api.url
    Agent.objects.update(provider="anthropic", model="claude-haiku-4-5")
    ModelPrice.objects.create(
        model="claude-haiku-4-5",
        input_per_mtok=Decimal("1"),
        output_per_mtok=Decimal("5"),
        cache_write_per_mtok=Decimal("1.25"),
        cache_read_per_mtok=Decimal("0.1"),
    )
    return messages_api


def test_claude_agents_input_is_counted_by_the_api(pipeline, claude):
    claude.enqueue({"input_tokens": 321})

    estimate = estimate_pipeline(pipeline, size_from_tokens(10_000))

    # One count serves every call: the agents share a prompt and a model.
    [sent] = claude.requests
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["messages"] == [{"role": "user", "content": "Review:\n"}]
    assert estimate.input_tokens == 5 * (321 + 10_000)
    assert {slot.input_basis for slot in estimate.slots} == {"counted by the Anthropic API"}


def test_an_unreachable_token_count_falls_back_to_the_estimate(pipeline, claude):
    # Nothing scripted: the server answers 400, once; it is not asked again.
    estimate = estimate_pipeline(pipeline, size_from_tokens(10_000))

    assert len(claude.requests) == 1
    assert estimate.input_tokens == 5 * 10_102
    assert {slot.input_basis for slot in estimate.slots} == {"estimated at 4 characters a token"}


# --- the page ---------------------------------------------------------------------


def test_analyst_sees_pipelines_side_by_side(client_for, analyst, pipeline, make_document):
    _history(pipeline, make_document, "adv", [100, 200, 300, 400, 500])
    Pipeline.objects.create(slug="idle", name="Retired pipeline", pattern="chain", is_active=False)

    response = client_for(analyst).get(reverse("insights:estimate"), {"tokens": 10_000, "volume": 1000})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Debate" in page and "Retired pipeline" not in page
    assert "$0.1845–$0.1965" in page
    assert "$184.53–$196.53" in page
    assert "10,000 tokens a document, as entered" in page
    assert "max_tokens" in page and "p50/p90 of its last 5 steps" in page


def test_it_defaults_to_a_typical_document_and_5000_a_month(client_for, analyst, pipeline):
    page = client_for(analyst).get(reverse("insights:estimate")).content.decode()

    assert "5,000 documents a month" in page
    assert "12 pages × 600 tokens a page" in page


def test_a_chosen_document_is_estimated(client_for, analyst, pipeline, make_document):
    document = make_document()

    page = client_for(analyst).get(reverse("insights:estimate"), {"document": document.pk}).content.decode()

    assert "contract.txt: about" in page


def test_htmx_gets_just_the_table(client_for, analyst, pipeline):
    response = client_for(analyst).get(reverse("insights:estimate"), {"pages": 3}, headers={"HX-Request": "true"})

    page = response.content.decode()
    assert 'id="estimate-table"' in page and "<html" not in page
    assert "3 pages" in page


def test_bad_input_is_refused_with_a_reason(client_for, analyst, pipeline):
    page = client_for(analyst).get(reverse("insights:estimate"), {"volume": 0}).content.decode()

    assert "Documents a month" in page and "greater than or equal to 1" in page
    assert "$ per month" not in page


def test_outsider_cannot_open_the_estimator(client_for, outsider):
    assert client_for(outsider).get(reverse("insights:estimate")).status_code == 403


def test_anonymous_visitor_is_sent_to_log_in(client, db):
    response = client.get(reverse("insights:estimate"))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_upload_page_shows_the_estimate_for_the_chosen_pipeline(client_for, analyst, debate_pipeline):
    response = client_for(analyst).get(reverse("documents:upload"))
    assert 'id="estimate-table"' in response.text
    assert [estimate.pipeline for estimate in response.context["estimates"]] == [debate_pipeline]
    assert f'hx-get="{reverse("insights:estimate")}"' in response.text


def test_estimate_partial_follows_the_upload_pages_pipeline_choice(client_for, analyst, debate_pipeline):
    Pipeline.objects.create(slug="other", name="Other", pattern=Pipeline.Pattern.CHAIN)
    client = client_for(analyst)
    url = reverse("insights:estimate")

    chosen = client.get(url, {"pipeline": debate_pipeline.pk}, headers={"HX-Request": "true"})
    assert [estimate.pipeline for estimate in chosen.context["estimates"]] == [debate_pipeline]
    assert "<html" not in chosen.text

    none = client.get(url, {"pipeline": ""}, headers={"HX-Request": "true"})
    assert none.context["estimates"] is None
    assert "No active pipelines" not in none.text
