"""The Supervisor decider as a plain function: no database, no Redis."""

from orchestrator.patterns import RunContext, StepState
from orchestrator.patterns.supervisor import decide

SLOTS = ["coordinator", "specialist:financial", "specialist:entities", "specialist:clauses", "assembly"]
CONTEXT = RunContext(run_id=7, slots=SLOTS, stand_in=True)


def done(key: str, output: dict) -> StepState:
    return StepState(key, "succeeded", output)


def failed(key: str, error: str = "Output still invalid after a corrective retry: total: 'x' is not a number"):
    return StepState(key, "failed", None, error)


def classified(*names: str, doc_type: str = "invoice") -> StepState:
    plan = [{"specialist": name, "reason": f"look at {name}"} for name in names]
    return done(
        "coordinator", {"doc_type": doc_type, "confidence": 0.9, "signals": ["keywords: invoice"], "plan": plan}
    )


FINANCIAL = {"fields": {"total": 4904.94, "currency": "EUR"}, "amounts": []}
ENTITIES = {"parties": [{"name": "ACME GmbH", "role": "vendor"}], "organisations": [], "people": [], "emails": []}


def assembled(*fields: tuple[str, object, str]) -> StepState:
    items = [{"name": name, "value": value, "source": source} for name, value, source in fields]
    return done("assembly", {"doc_type": "invoice", "summary": "An invoice.", "fields": items})


def test_it_asks_the_coordinator_first_with_the_configured_specialists():
    outcome = decide(CONTEXT, {})
    [coordinator] = outcome.schedule
    assert coordinator.key == "coordinator"
    assert coordinator.inputs == {"specialists": ["financial", "entities", "clauses"]}
    assert outcome.planned == 5


def test_it_runs_the_planned_specialists_side_by_side():
    outcome = decide(CONTEXT, {"coordinator": classified("financial", "entities")})
    assert [spec.key for spec in outcome.schedule] == ["specialist:financial", "specialist:entities"]
    assert all(spec.parent_key == "coordinator" for spec in outcome.schedule)
    assert outcome.schedule[0].inputs == {"doc_type": "invoice", "task": "look at financial"}
    assert outcome.planned == 4


def test_a_specialist_the_pipeline_lacks_is_skipped_and_reported():
    steps = {"coordinator": classified("financial", "translation")}
    assert [spec.key for spec in decide(CONTEXT, steps).schedule] == ["specialist:financial"]
    steps |= {"specialist:financial": done("specialist:financial", FINANCIAL)}
    steps |= {"assembly": assembled(("total", 4904.94, "financial"))}
    assert decide(CONTEXT, steps).result["skipped"] == ["translation"]


def test_it_waits_for_every_specialist_before_assembling():
    steps = {
        "coordinator": classified("financial", "entities"),
        "specialist:financial": done("specialist:financial", FINANCIAL),
        "specialist:entities": StepState("specialist:entities", "running"),
    }
    outcome = decide(CONTEXT, steps)
    assert outcome.schedule == [] and outcome.result is None and not outcome.error


def test_assembly_gets_the_outputs_of_the_specialists_that_succeeded():
    steps = {
        "coordinator": classified("financial", "entities"),
        "specialist:financial": done("specialist:financial", FINANCIAL),
        "specialist:entities": done("specialist:entities", ENTITIES),
    }
    [assembly] = decide(CONTEXT, steps).schedule
    assert assembly.key == "assembly"
    assert assembly.inputs == {
        "doc_type": "invoice",
        "outputs": {"financial": FINANCIAL, "entities": ENTITIES},
        "missing": [],
    }


def test_the_result_names_the_step_that_produced_each_field():
    steps = {
        "coordinator": classified("financial", "entities"),
        "specialist:financial": done("specialist:financial", FINANCIAL),
        "specialist:entities": done("specialist:entities", ENTITIES),
        "assembly": assembled(
            ("total", 4904.94, "financial"), ("parties", ENTITIES["parties"], "entities"), ("note", "x", "oracle")
        ),
    }
    result = decide(CONTEXT, steps).result
    assert result["fields"]["total"] == 4904.94
    assert result["provenance"] == {
        "doc_type": "coordinator",
        "total": "specialist:financial",
        "parties": "specialist:entities",
        # A source that is no succeeded specialist: the assembler made it up.
        "note": "assembly",
    }
    assert result["partial"] is False and result["findings"] == []
    assert result["doc_type"] == "invoice" and result["stand_in"] is True


def test_a_failed_specialist_gives_a_partial_result_sent_to_review():
    steps = {
        "coordinator": classified("financial", "entities"),
        "specialist:financial": failed("specialist:financial"),
        "specialist:entities": done("specialist:entities", ENTITIES),
    }
    [assembly] = decide(CONTEXT, steps).schedule
    assert assembly.inputs["missing"] == ["financial"]
    assert list(assembly.inputs["outputs"]) == ["entities"]

    steps["assembly"] = assembled(("parties", ENTITIES["parties"], "entities"))
    result = decide(CONTEXT, steps).result
    assert result["partial"] is True
    assert result["missing"][0]["specialist"] == "financial"
    assert "not a number" in result["missing"][0]["error"]
    [finding] = result["findings"]
    assert finding["review"]["reason"] == "partial_result"
    assert "financial" in finding["title"] and "entities" in finding["explanation"]


def test_a_failed_coordinator_fails_the_run():
    outcome = decide(CONTEXT, {"coordinator": failed("coordinator", "timeout")})
    assert "coordinator failed: timeout" in outcome.error


def test_a_failed_assembly_fails_the_run():
    steps = {
        "coordinator": classified("financial"),
        "specialist:financial": done("specialist:financial", FINANCIAL),
        "assembly": failed("assembly", "bad"),
    }
    assert "Assembly failed: bad" in decide(CONTEXT, steps).error


def test_an_empty_plan_goes_straight_to_assembly():
    [assembly] = decide(CONTEXT, {"coordinator": classified(doc_type="other")}).schedule
    assert assembly.key == "assembly" and assembly.inputs["outputs"] == {}


def test_deciding_twice_schedules_the_same_steps():
    steps = {"coordinator": classified("financial", "entities")}
    assert decide(CONTEXT, steps) == decide(CONTEXT, steps)
