"""Requests the live APIs accept: every seeded agent's schema goes out in the
subset structured output takes (and replies are still checked against the full
schema), the strict stand-in servers refuse what the real APIs refuse, and the
cache breakpoints land only where they pay."""

import json

import anthropic
import openai
import pytest
from django.urls import reverse

from orchestrator import engine
from orchestrator.demo.seed import seed_all
from orchestrator.llm import Request, get_provider, stable_layout
from orchestrator.llm.anthropic import api_schema, message_params, min_cacheable_tokens
from orchestrator.llm.openai_compat import strict_schema
from orchestrator.models import Agent, Step
from orchestrator.patterns.schemas import FINANCIAL, FINDINGS, JUDGEMENT, output_errors
from tests.messages_api import error_body, message_body, messages_api, schema_problems  # noqa: F401 (fixture)
from tests.openai_api import chat_body, openai_api, strict_problems  # noqa: F401 (fixture)

FINDING = {
    "type": "auto_renewal",
    "title": "Automatic renewal",
    "severity": "high",
    "evidence": "This Agreement shall automatically renew.",
    "explanation": "Definite wording.",
}


@pytest.fixture
def api(messages_api, settings):  # noqa: F811
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_BASE_URL = messages_api.url
    return messages_api


@pytest.fixture
def local(openai_api, settings):  # noqa: F811
    settings.OPENAI_BASE_URL = openai_api.url + "/v1"
    settings.OPENAI_API_KEY = ""
    return openai_api


def _request(schema: dict, **overrides) -> Request:
    values = {
        "system": "You are a careful contract reviewer.",
        "messages": [{"role": "user", "content": "Review this contract: ..."}],
        "model": "claude-haiku-4-5",
        "output_schema": schema,
        "max_tokens": 1024,
        "timeout_s": 10.0,
        "role": "advocate",
    }
    return Request(**{**values, **overrides})


def _seeded_schemas() -> dict[str, dict]:
    seed_all(password="x")
    schemas = {agent.slug: agent.output_schema for agent in Agent.objects.exclude(output_schema=None)}
    assert len(schemas) >= 10  # the debate, supervisor and chain agents
    return schemas


# --- the schema transform, agent by agent ------------------------------------------


def test_every_seeded_agents_schema_is_sent_as_the_strict_server_takes_it(db, api):
    for slug, schema in _seeded_schemas().items():
        api.enqueue(message_body("{}"))
        get_provider("anthropic").complete(_request(schema))
        sent = api.requests[-1].body["output_config"]["format"]["schema"]
        assert sent == api_schema(schema), slug
        assert schema_problems(sent) == [], slug
    assert api.refused == []


def test_the_sdks_transform_moves_constraints_into_descriptions():
    sent = api_schema(FINDINGS)
    title = sent["properties"]["findings"]["items"]["properties"]["title"]
    assert "minLength" not in title and "minLength: 1" in title["description"]
    assert sent["additionalProperties"] is False
    # Type lists ("string or null") become anyOf, the pattern kept in words.
    currency = api_schema(FINANCIAL)["properties"]["fields"]["properties"]["currency"]
    assert currency["anyOf"][1] == {"type": "null"} and "^[A-Z]{3}$" in currency["anyOf"][0]["description"]
    assert schema_problems(api_schema(FINANCIAL)) == []


def test_the_strict_server_refuses_a_raw_schema_with_the_apis_400(api):
    params = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Review."}],
        "output_config": {"format": {"type": "json_schema", "schema": JUDGEMENT}},
    }
    client = anthropic.Anthropic(api_key="k", base_url=api.url, max_retries=0)

    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**params)

    assert caught.value.status_code == 400
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "'minimum' is not supported" in caught.value.body["error"]["message"]
    # Transformed, the same schema goes through.
    api.enqueue(message_body('{"verdicts": []}'))
    params["output_config"]["format"]["schema"] = api_schema(JUDGEMENT)
    assert client.messages.create(**params).content[0].text == '{"verdicts": []}'


@pytest.mark.parametrize(
    "change, refusal",
    [
        ({"temperature_bogus": 1}, "temperature_bogus: Extra inputs are not permitted"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            "roles must alternate",
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "{"}]},
            "the final message must be a user message",
        ),
        (
            {"system": [{"type": "text", "text": "Short.", "cache_control": {"type": "ephemeral"}}]},
            "below the minimum of 4096 tokens",
        ),
        (
            {"system": [{"type": "text", "text": "x" * 20_000, "cache_control": {"type": "ephemeral"}}] * 5},
            "A maximum of 4 blocks with cache_control",
        ),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}}},
            "'additionalProperties' must be explicitly set to false",
        ),
    ],
)
def test_the_strict_server_refuses_what_the_real_api_refuses(api, change, refusal):
    body = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "a"}], **change}
    client = anthropic.Anthropic(api_key="k", base_url=api.url, max_retries=0)

    with pytest.raises(anthropic.BadRequestError, match=refusal):
        client.post("/v1/messages", body=body, cast_to=anthropic.types.Message)

    assert len(api.refused) == 1


def test_the_reply_is_still_checked_against_the_full_schema(db, api, make_document, debate_pipeline):
    """The API could not enforce minLength: an empty title comes back, and the
    engine asks for a correction against the full schema."""
    Agent.objects.filter(pipelineslot__pipeline=debate_pipeline).update(provider="anthropic", model="claude-haiku-4-5")
    api.enqueue(message_body(json.dumps({"findings": [{**FINDING, "title": ""}]})))
    api.enqueue(message_body(json.dumps({"findings": [FINDING]})))

    run = engine.start_run(make_document(), debate_pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    step.refresh_from_db()

    assert step.status == Step.Status.SUCCEEDED
    assert step.validation_errors and "title" in step.validation_errors[0]
    assert step.output == {"findings": [FINDING]}
    assert api.refused == [] and len(api.requests) == 2
    assert output_errors({"findings": [{**FINDING, "title": ""}]}, FINDINGS)


# --- the OpenAI-compatible strict mode ---------------------------------------------


def test_every_seeded_agents_schema_goes_out_in_strict_modes_subset(db, local):
    for slug, schema in _seeded_schemas().items():
        local.enqueue(chat_body("{}"))
        get_provider("openai_compat").complete(_request(schema, model="qwen3-8b"))
        sent = local.requests[-1].body["response_format"]["json_schema"]
        assert sent["strict"] is True and sent["schema"] == strict_schema(schema), slug
        assert strict_problems(sent["schema"]) == [], slug
    assert local.refused == []


def test_strict_mode_makes_optional_properties_nullable_and_refuses_raw_schemas(local):
    schema = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string", "maxLength": 5}, "b": {"type": "integer"}},
    }
    sent = strict_schema(schema)
    assert sent["required"] == ["a", "b"] and sent["properties"]["b"]["type"] == ["integer", "null"]
    assert "maxLength: 5" in sent["properties"]["a"]["description"]
    assert strict_problems(sent) == []

    client = openai.OpenAI(api_key="k", base_url=local.url + "/v1", max_retries=0)
    raw = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    with pytest.raises(openai.BadRequestError, match="not permitted in strict mode"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}], response_format=raw)
    assert len(local.refused) == 1


# --- caching that pays ---------------------------------------------------------------


LONG_DOCUMENT = "The Supplier shall deliver the goods on time. " * 400  # about 4,600 tokens


def test_the_document_goes_first_and_is_cached_only_when_it_reaches_the_minimum():
    context, template = stable_layout("Review.\n<document>\n{document}\n</document>", {"document": LONG_DOCUMENT})
    assert context[0].startswith("<document>") and "{document}" not in template

    cached = message_params(_request(FINDINGS, context=context, cache_context=True))
    assert cached["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert cached["system"][1]["text"] == "You are a careful contract reviewer."

    short = message_params(_request(FINDINGS, context=("<document>\nA short note.\n</document>",), cache_context=True))
    assert all("cache_control" not in block for block in short["system"])
    # Read once on this model: not worth the dearer write.
    once = message_params(_request(FINDINGS, context=context, cache_context=False))
    assert all("cache_control" not in block for block in once["system"])
    # Batch mode asks for the 1-hour cache.
    batch = message_params(_request(FINDINGS, context=context, cache_context=True), cache_ttl="1h")
    assert batch["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert min_cacheable_tokens("claude-sonnet-4-5") == 1024 < min_cacheable_tokens("claude-haiku-4-5")


def test_a_debate_on_claude_sends_its_document_first_and_cached(
    db, api, make_document, debate_pipeline, client_for, analyst
):
    Agent.objects.filter(pipelineslot__pipeline=debate_pipeline).update(provider="anthropic", model="claude-sonnet-4-5")
    sonnet = {"model": "claude-sonnet-4-5"}
    api.enqueue(message_body(json.dumps({"findings": [FINDING]}), cache_creation_input_tokens=4600, **sonnet))
    api.enqueue(message_body(json.dumps({"findings": [FINDING]}), cache_read_input_tokens=4600, **sonnet))

    run = engine.start_run(make_document(LONG_DOCUMENT), debate_pipeline)
    for key in ("advocate:a", "advocate:b"):
        engine.execute_step(run.steps.get(key=key).pk)

    assert api.refused == []
    first, second = (received.body for received in api.requests)
    assert first["system"][0] == second["system"][0]  # the shared, cached prefix
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert LONG_DOCUMENT.strip() in first["system"][0]["text"]
    assert LONG_DOCUMENT.strip() not in first["messages"][0]["content"]
    assert first["system"][1]["text"] != second["system"][1]["text"]  # each advocate's own instructions
    b = run.steps.get(key="advocate:b")
    assert b.cache_read_tokens == 4600
    # Sonnet 4.5: A wrote 4,600 tokens at $3.75 instead of $3, B read them at $0.30 instead of $3.
    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert "the prompt cache saved $0.0090" in page
    assert "cache 4,600 read · 0 written" in page and "cache 0 read · 4,600 written" in page
    trace = client_for(analyst).get(reverse("orchestrator:trace", args=[run.pk])).content.decode()
    assert "cache 4600 read, 0 written" in trace


def test_the_estimator_expects_the_document_from_the_cache(db, settings):
    from insights.estimate import estimate_pipeline, size_from_pages
    from orchestrator.models import Pipeline

    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # no token counts: estimated
    seed_all(password="x")
    debate = Pipeline.objects.get(slug="contract-debate-claude")

    contract = estimate_pipeline(debate, size_from_pages(12))  # 7,200 tokens: over Haiku's 4,096
    by_slot = {slot.slot: slot for slot in contract.slots}
    assert (by_slot["advocate_a"].cache_write_tokens, by_slot["advocate_b"].cache_read_tokens) == (7200, 7200)
    assert by_slot["judge"].cache_read_tokens == 0  # alone on its model
    assert 0.3 < contract.cache_share < 0.35
    uncached = estimate_pipeline(debate, size_from_pages(1))  # too short to cache
    assert uncached.cache_share == 0
