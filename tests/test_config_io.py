"""exportconfig and importconfig: configuration moves between installations as
JSON, by slug, without ever rewriting a version's text."""

import json

import pytest
from django.core.management import CommandError, call_command

from orchestrator.configuration.transfer import export_config
from orchestrator.models import (
    Agent,
    KnowledgeEntry,
    ModelPrice,
    Pipeline,
    PipelineSlot,
    Prompt,
    PromptVersion,
    Rubric,
    RubricVersion,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(contract_supervisor, chain_pipeline, admin_user):
    """All the seeded pipelines, with one prompt at v2 rolled back to v1."""
    prompt = Prompt.objects.get(slug="advocate-thorough")
    v1 = prompt.active
    prompt.revise({"system": "Be brief.", "template": v1.template}, "Shorter", admin_user)
    prompt.activate(v1)
    rubric = Rubric.objects.get(slug="contract-compliance")
    rubric.revise({"criteria": [*rubric.active.criteria, {"id": "new", "title": "New", "weight": 1.5}]}, "", admin_user)


def _wipe() -> None:
    PipelineSlot.objects.all().delete()
    Pipeline.objects.all().delete()
    Agent.objects.all().delete()
    Prompt.objects.update(active=None)
    Rubric.objects.update(active=None)
    PromptVersion.objects.all().delete()
    RubricVersion.objects.all().delete()
    Prompt.objects.all().delete()
    Rubric.objects.all().delete()
    KnowledgeEntry.objects.all().delete()
    ModelPrice.objects.all().delete()


def _export(tmp_path) -> dict:
    path = tmp_path / "config.json"
    call_command("exportconfig", output=path)
    return json.loads(path.read_text())


def test_export_wipe_import_gives_the_same_configuration(configured, tmp_path):
    before = _export(tmp_path)
    assert {"prompts", "rubrics", "agents", "pipelines", "knowledge", "model_prices"} <= before.keys()
    _wipe()

    call_command("importconfig", tmp_path / "config.json")

    assert _export(tmp_path) == before
    assert Prompt.objects.get(slug="advocate-thorough").active.number == 1
    assert Rubric.objects.get(slug="contract-compliance").active.number == 2


def test_importing_twice_changes_nothing(configured, tmp_path):
    before = _export(tmp_path)
    versions = PromptVersion.objects.count(), RubricVersion.objects.count()

    call_command("importconfig", tmp_path / "config.json")
    call_command("importconfig", tmp_path / "config.json")

    assert (PromptVersion.objects.count(), RubricVersion.objects.count()) == versions
    assert _export(tmp_path) == before


def test_import_adds_missing_versions_by_number(configured, tmp_path):
    data = export_config()
    prompt = next(item for item in data["prompts"] if item["slug"] == "debate-judge")
    prompt["versions"].append({**prompt["versions"][0], "number": 2, "system": "Judge strictly."})
    prompt["active"] = 2
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(data))

    call_command("importconfig", path)

    judge = Prompt.objects.get(slug="debate-judge")
    assert (judge.active.number, judge.active.system) == (2, "Judge strictly.")


def test_import_refuses_different_text_under_an_existing_version_number(configured, tmp_path):
    data = export_config()
    prompt = next(item for item in data["prompts"] if item["slug"] == "debate-judge")
    prompt["versions"][0]["template"] = "Something else"
    prompt["name"] = "Renamed by the import"
    path = tmp_path / "conflict.json"
    path.write_text(json.dumps(data))

    with pytest.raises(CommandError, match="'debate-judge' version 1 already exists here with a different template"):
        call_command("importconfig", path)

    judge = Prompt.objects.get(slug="debate-judge")
    assert judge.name != "Renamed by the import"  # one transaction: nothing was saved
    assert judge.active.template != "Something else"


def test_import_refuses_a_pipeline_that_could_not_run(configured, tmp_path):
    data = export_config()
    pipeline = next(item for item in data["pipelines"] if item["slug"] == "contract-debate")
    pipeline["slots"] = [slot for slot in pipeline["slots"] if slot["name"] != "judge"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))

    with pytest.raises(CommandError, match="a debate needs a slot named 'judge'"):
        call_command("importconfig", path)

    assert Pipeline.objects.get(slug="contract-debate").slots.filter(name="judge").exists()


def test_import_refuses_invalid_rubric_criteria(configured, tmp_path):
    data = export_config()
    data["rubrics"][0]["versions"].append({"number": 9, "criteria": [{"title": "No id", "weight": "x"}], "note": ""})
    path = tmp_path / "criteria.json"
    path.write_text(json.dumps(data))

    with pytest.raises(CommandError, match="has no id"):
        call_command("importconfig", path)


def test_import_refuses_a_file_it_did_not_write(db, tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"hello": 1}')

    with pytest.raises(CommandError, match="Unknown file format"):
        call_command("importconfig", path)
