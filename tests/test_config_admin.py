"""Priya's journey in admin: prompt and rubric text saved as immutable versions,
diffed and rolled back in one click, and pipelines that could not run refused."""

from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse

from orchestrator.configuration.validation import pipeline_problems
from orchestrator.models import (
    Agent,
    ModelPrice,
    Pipeline,
    PipelineSlot,
    Prompt,
    PromptVersion,
    Rubric,
    RubricVersion,
    Run,
    Step,
)
from orchestrator.patterns import MAX_NESTING

pytestmark = pytest.mark.django_db


def _prompt_post(prompt: Prompt, **changes) -> dict:
    active = prompt.active
    data = {"slug": prompt.slug, "name": prompt.name, "description": prompt.description}
    return {**data, "system": active.system, "template": active.template, "note": "", **changes}


def _save_prompt(client, prompt: Prompt, **changes):
    url = reverse("admin:orchestrator_prompt_change", args=[prompt.pk])
    return client.post(url, _prompt_post(prompt, **changes))


def test_saving_changed_text_creates_a_new_active_version(debate_pipeline, admin_user, client_for):
    prompt = Prompt.objects.get(slug="advocate-thorough")
    v1 = prompt.active
    original = (v1.system, v1.template)

    response = _save_prompt(client_for(admin_user), prompt, system="Be brief.", note="Shorter")

    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.active.number == 2
    assert (prompt.active.system, prompt.active.note, prompt.active.created_by) == ("Be brief.", "Shorter", admin_user)
    v1.refresh_from_db()
    assert (v1.system, v1.template) == original


def test_saving_unchanged_text_keeps_the_active_version(debate_pipeline, admin_user, client_for):
    prompt = Prompt.objects.get(slug="advocate-thorough")

    _save_prompt(client_for(admin_user), prompt, name="Advocate A, renamed")

    prompt.refresh_from_db()
    assert prompt.name == "Advocate A, renamed"
    assert list(prompt.versions.values_list("number", flat=True)) == [1]


def test_prompt_version_cannot_be_changed_or_deleted(debate_pipeline, admin_user, client_for):
    version = Prompt.objects.get(slug="advocate-thorough").active
    client = client_for(admin_user)

    change = client.post(reverse("admin:orchestrator_promptversion_change", args=[version.pk]), {"system": "x"})
    delete = client.post(reverse("admin:orchestrator_promptversion_delete", args=[version.pk]), {"post": "yes"})

    assert change.status_code == 403
    assert delete.status_code == 403
    assert PromptVersion.objects.get(pk=version.pk).system == version.system


def test_rubric_version_cannot_be_changed_or_deleted(debate_pipeline, admin_user, client_for):
    version = Rubric.objects.get().active
    client = client_for(admin_user)

    assert client.post(reverse("admin:orchestrator_rubricversion_change", args=[version.pk]), {}).status_code == 403
    assert client.post(reverse("admin:orchestrator_rubricversion_delete", args=[version.pk]), {}).status_code == 403


def test_make_active_rolls_back_in_one_click(debate_pipeline, admin_user, client_for):
    prompt = Prompt.objects.get(slug="advocate-thorough")
    v1 = prompt.active
    client = client_for(admin_user)
    _save_prompt(client, prompt, system="Be brief.")
    page = client.get(reverse("admin:orchestrator_prompt_change", args=[prompt.pk]))
    activate = reverse("admin:orchestrator_prompt_activate", args=[prompt.pk, v1.pk])
    assert activate in page.content.decode()

    response = client.post(activate)

    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.active == v1
    assert prompt.versions.count() == 2


def test_make_active_refuses_get(debate_pipeline, admin_user, client_for):
    prompt = Prompt.objects.get(slug="advocate-thorough")
    url = reverse("admin:orchestrator_prompt_activate", args=[prompt.pk, prompt.active.pk])

    assert client_for(admin_user).get(url).status_code == 405


def test_analyst_cannot_make_a_version_active(debate_pipeline, admin_user, analyst, client_for):
    prompt = Prompt.objects.get(slug="advocate-thorough")
    v1 = prompt.active
    prompt.revise({"system": "Be brief.", "template": v1.template}, "", admin_user)

    response = client_for(analyst).post(reverse("admin:orchestrator_prompt_activate", args=[prompt.pk, v1.pk]))

    assert response.status_code == 302 and "/login/" in response["Location"]
    prompt.refresh_from_db()
    assert prompt.active.number == 2


def test_diff_shows_the_changed_line_escaped(debate_pipeline, admin_user, client_for):
    prompt = Prompt.objects.get(slug="advocate-thorough")
    client = client_for(admin_user)
    _save_prompt(client, prompt, system="Flag <script>alert(1)</script>")

    response = client.get(reverse("admin:orchestrator_prompt_diff", args=[prompt.pk]), {"a": 1, "b": 2})

    body = response.content.decode()
    assert response.status_code == 200
    assert "+Flag &lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body


def test_version_page_lists_the_runs_that_used_it(debate_pipeline, admin_user, client_for, make_document):
    version = Prompt.objects.get(slug="advocate-thorough").active
    run = Run.objects.create(document=make_document(), pipeline=debate_pipeline)
    agent = Agent.objects.get(slug="advocate-a-thorough")
    for key in ("advocate:a", "rebuttal:1:a"):
        Step.objects.create(run=run, key=key, slot="advocate_a", agent=agent, prompt_version=version)
    other = Run.objects.create(
        document=make_document(text="Another contract.", name="other.txt"), pipeline=debate_pipeline
    )

    response = client_for(admin_user).get(reverse("admin:orchestrator_promptversion_change", args=[version.pk]))

    body = response.content.decode()
    assert body.count(reverse("orchestrator:run", args=[run.pk])) == 1
    assert reverse("orchestrator:run", args=[other.pk]) not in body


def _rubric_post(rubric: Rubric, criteria: str) -> dict:
    return {"slug": rubric.slug, "name": rubric.name, "criteria": criteria, "note": ""}


def test_rubric_criterion_added_in_admin_becomes_a_new_version(debate_pipeline, admin_user, client_for):
    import json

    rubric = Rubric.objects.get()
    criteria = [
        *rubric.active.criteria,
        {"id": "renewal-notice", "title": "Flag auto-renewal without notice", "weight": 2, "applies_to": []},
    ]

    response = client_for(admin_user).post(
        reverse("admin:orchestrator_rubric_change", args=[rubric.pk]), _rubric_post(rubric, json.dumps(criteria))
    )

    assert response.status_code == 302
    rubric.refresh_from_db()
    assert rubric.active.number == 2 and rubric.active.criteria[-1]["id"] == "renewal-notice"
    assert RubricVersion.objects.get(rubric=rubric, number=1).criteria == criteria[:-1]


def test_rubric_criteria_are_shown_one_key_a_line_to_edit(debate_pipeline, admin_user, client_for):
    import json

    rubric = Rubric.objects.get()
    page = client_for(admin_user).get(reverse("admin:orchestrator_rubric_change", args=[rubric.pk]))
    shown = page.context["adminform"].form["criteria"].value()
    assert json.loads(shown) == rubric.active.criteria
    assert shown.count("\n") > len(rubric.active.criteria) * 4  # not one long line
    assert '\n    "id": "auto-renewal-notice",\n' in shown


@pytest.mark.parametrize(
    "criteria, message",
    [
        ('[{"title": "No id", "weight": 1}]', "Criterion 1 has no id"),
        ('[{"id": "a", "title": "A", "weight": 1}, {"id": "a", "title": "B", "weight": 1}]', "is used twice"),
        ('[{"id": "a", "title": "A", "weight": "high"}]', "the weight must be a number"),
        ('{"id": "a"}', "Criteria must be a JSON list"),
    ],
)
def test_invalid_rubric_criteria_are_refused_with_a_reason(debate_pipeline, admin_user, client_for, criteria, message):
    rubric = Rubric.objects.get()

    response = client_for(admin_user).post(
        reverse("admin:orchestrator_rubric_change", args=[rubric.pk]), _rubric_post(rubric, criteria)
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert rubric.versions.count() == 1


def _pipeline_post(pipeline: Pipeline, slots: list[dict]) -> dict:
    fields = {
        name: ("on" if value is True else value)
        for name, value in model_to_dict(pipeline).items()
        if value is not None and value is not False and name != "id"
    }
    formset = {
        "slots-TOTAL_FORMS": len(slots),
        "slots-INITIAL_FORMS": sum(1 for slot in slots if slot.get("id")),
        "slots-MIN_NUM_FORMS": 0,
        "slots-MAX_NUM_FORMS": 1000,
    }
    for number, slot in enumerate(slots):
        formset |= {f"slots-{number}-{key}": value for key, value in slot.items()}
        formset[f"slots-{number}-pipeline"] = pipeline.pk
    return {**fields, **formset}


def _slots(pipeline: Pipeline) -> list[dict]:
    return [
        {"id": slot.pk, "name": slot.name, "position": slot.position, "agent": slot.agent_id or ""}
        for slot in pipeline.slots.all()
    ]


def test_pipeline_saved_unchanged_in_admin_is_accepted(debate_pipeline, admin_user, client_for):
    url = reverse("admin:orchestrator_pipeline_change", args=[debate_pipeline.pk])

    response = client_for(admin_user).post(url, _pipeline_post(debate_pipeline, _slots(debate_pipeline)))

    assert response.status_code == 302, response.context["errors"] if response.context else response


@pytest.mark.parametrize("field, value", [("monthly_budget", "-5"), ("budget_per_run", "-0.01"), ("audit_rate", "1.5")])
def test_a_budget_or_audit_rate_that_is_no_amount_is_refused_in_admin(
    debate_pipeline, admin_user, client_for, field, value
):
    """A monthly budget of -5 is always spent: every new run would be held for good."""
    url = reverse("admin:orchestrator_pipeline_change", args=[debate_pipeline.pk])
    data = {**_pipeline_post(debate_pipeline, _slots(debate_pipeline)), field: value}

    response = client_for(admin_user).post(url, data)

    assert response.status_code == 200 and field in response.context["adminform"].form.errors
    debate_pipeline.refresh_from_db()
    assert getattr(debate_pipeline, field) != Decimal(value)


def test_debate_without_a_judge_is_refused_in_admin(debate_pipeline, admin_user, client_for):
    slots = _slots(debate_pipeline)
    for slot in slots:
        if slot["name"] == "judge":
            slot["DELETE"] = "on"
    url = reverse("admin:orchestrator_pipeline_change", args=[debate_pipeline.pk])

    response = client_for(admin_user).post(url, _pipeline_post(debate_pipeline, slots))

    assert response.status_code == 200
    assert "a debate needs a slot named &#x27;judge&#x27;" in response.content.decode()
    assert debate_pipeline.slots.filter(name="judge").exists()


def test_agent_with_unknown_model_is_refused_in_admin(debate_pipeline, admin_user, client_for):
    Agent.objects.filter(slug="debate-judge").update(provider="anthropic", model="claude-imaginary-9")
    url = reverse("admin:orchestrator_pipeline_change", args=[debate_pipeline.pk])

    response = client_for(admin_user).post(url, _pipeline_post(debate_pipeline, _slots(debate_pipeline)))

    assert response.status_code == 200
    assert "claude-imaginary-9" in response.content.decode()


# pipeline_problems, each kind of problem


def _pipeline(slug: str, pattern: str, **slots) -> Pipeline:
    pipeline = Pipeline.objects.create(slug=slug, name=slug, pattern=pattern)
    for position, (name, holder) in enumerate(slots.items()):
        held = {"subpipeline": holder} if isinstance(holder, Pipeline) else {"agent": holder}
        PipelineSlot.objects.create(pipeline=pipeline, name=name.replace("__", ":"), position=position, **held)
    return pipeline


def test_seeded_pipelines_have_no_problems(debate_pipeline, contract_supervisor, chain_pipeline):
    for pipeline in Pipeline.objects.all():
        assert pipeline_problems(pipeline) == [], pipeline.slug


def test_debate_missing_advocates_is_a_problem(debate_pipeline):
    judge = Agent.objects.get(slug="debate-judge")

    problems = pipeline_problems(_pipeline("lonely-judge", "debate", judge=judge))

    assert problems == ["lonely-judge: a debate needs a slot named 'advocate_a', 'advocate_b'."]


def test_supervisor_without_specialists_or_assembly_is_a_problem(debate_pipeline):
    agent = Agent.objects.get(slug="debate-judge")

    problems = pipeline_problems(_pipeline("thin-supervisor", "supervisor", coordinator=agent))

    assert any("'assembly'" in problem for problem in problems)
    assert any("at least one specialist" in problem for problem in problems)


def test_chain_without_stages_is_a_problem(debate_pipeline):
    agent = Agent.objects.get(slug="debate-judge")

    problems = pipeline_problems(_pipeline("no-stages", "chain", shadow__1__x=agent))

    assert any("a chain needs at least one stage" in problem for problem in problems)


def test_cycle_of_nested_pipelines_is_a_problem(debate_pipeline):
    agent = Agent.objects.get(slug="debate-judge")
    outer = _pipeline("outer", "chain", stage__1__a=agent)
    inner = _pipeline("inner", "chain", stage__1__outer=outer)
    PipelineSlot.objects.create(pipeline=outer, name="stage:2:inner", position=1, subpipeline=inner)

    problems = pipeline_problems(outer)

    assert any("a cycle of nested pipelines" in problem for problem in problems)


def test_unknown_model_is_a_problem_unless_offline(debate_pipeline):
    judge = Agent.objects.get(slug="debate-judge")
    judge.model = "claude-imaginary-9"
    judge.save()
    assert pipeline_problems(debate_pipeline) == []  # the offline stand-in needs no price

    judge.provider = "anthropic"
    judge.save()

    problems = pipeline_problems(debate_pipeline)
    assert problems == [
        "Slot 'judge': agent 'debate-judge' uses model 'claude-imaginary-9', which has no price: "
        "add a Model price row for it or pick a known model."
    ]
    ModelPrice.objects.create(
        model="claude-imaginary-9",
        input_per_mtok=1,
        output_per_mtok=1,
        cache_write_per_mtok=1,
        cache_read_per_mtok=1,
    )
    assert pipeline_problems(debate_pipeline) == []


def test_prompt_without_active_version_is_a_problem(debate_pipeline):
    Prompt.objects.filter(slug="advocate-strict-rebuttal").update(active=None)

    problems = pipeline_problems(debate_pipeline)

    assert problems == [
        "Slot 'advocate_b': agent 'advocate-b-strict': its rebuttal prompt 'advocate-strict-rebuttal' "
        "has no active version; save a version of it."
    ]


def test_text_sent_with_browser_line_ends_is_not_a_new_version(debate_pipeline, admin_user, client_for):
    prompt = Prompt.objects.get(slug="advocate-thorough")
    template = prompt.active.template.replace("\n", "\r\n")

    _save_prompt(client_for(admin_user), prompt, template=template)

    assert prompt.versions.count() == 1


def test_admin_pages_open(debate_pipeline, admin_user, client_for):
    client = client_for(admin_user)
    rubric = Rubric.objects.get()
    rubric.revise({"criteria": [{"id": "only", "title": "Only", "weight": 1}]}, "", admin_user)
    urls = [
        reverse("admin:orchestrator_prompt_add"),
        reverse("admin:orchestrator_prompt_changelist"),
        reverse("admin:orchestrator_rubric_change", args=[rubric.pk]),
        reverse("admin:orchestrator_rubric_diff", args=[rubric.pk]),
        reverse("admin:orchestrator_rubricversion_changelist"),
        reverse("admin:orchestrator_rubricversion_change", args=[rubric.active.pk]),
        reverse("admin:orchestrator_pipeline_add"),
    ]
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_new_prompt_added_in_admin_starts_at_version_1(db, admin_user, client_for):
    data = {"slug": "fresh", "name": "Fresh", "description": "", "system": "S", "template": "{document}", "note": ""}

    response = client_for(admin_user).post(reverse("admin:orchestrator_prompt_add"), data)

    assert response.status_code == 302
    prompt = Prompt.objects.get(slug="fresh")
    assert (prompt.active.number, prompt.active.created_by) == (1, admin_user)


def test_pipelines_nested_deeper_than_the_limit_are_a_problem(debate_pipeline):
    agent = Agent.objects.get(slug="debate-judge")
    held = _pipeline("level-0", "chain", stage__1__a=agent)
    for level in range(1, MAX_NESTING + 1):
        held = _pipeline(f"level-{level}", "chain", stage__1__held=held)
    assert pipeline_problems(held) == []  # the innermost run is nested exactly MAX_NESTING levels deep

    too_deep = _pipeline("too-deep", "chain", stage__1__held=held)

    [problem] = pipeline_problems(too_deep)
    assert f"would run nested {MAX_NESTING + 1} levels deep" in problem
    assert f"at most {MAX_NESTING} levels" in problem
