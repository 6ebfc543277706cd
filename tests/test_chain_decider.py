"""The Chain decider as a plain function: no database, no Redis."""

from orchestrator.patterns import RunContext, StepState, schemas
from orchestrator.patterns.chain import decide, differences, stage_checks

SLOTS = ["stage:1:extract", "stage:2:normalize", "shadow:2:normalize", "stage:3:enrich", "stage:4:format"]
SCHEMAS = {"stage:2:normalize": schemas.NORMALIZE_INPUT, "stage:3:enrich": schemas.ENRICH_INPUT}
CONTEXT = RunContext(run_id=1, slots=SLOTS, input_schemas=SCHEMAS)

RAW = {
    "invoice_number": "RE-1", "issue_date": "25.11.2026", "due_date": None, "total": "4.904,94", "net": None,
    "tax": None, "currency": "EUR", "vendor": "ACME GmbH", "customer": None,
}  # fmt: skip
NORMAL = {**RAW, "issue_date": "2026-11-25", "total": 4904.94}
WRONG = {**NORMAL, "total": 4.90494}


def done(key: str, output: dict) -> StepState:
    return StepState(key, "succeeded", output)


def extracted() -> dict[str, StepState]:
    return {"stage:1:extract": done("stage:1:extract", {"fields": RAW, "evidence": {}})}


def normalized(fields=NORMAL, shadow=NORMAL) -> dict[str, StepState]:
    return {
        **extracted(),
        "stage:2:normalize": done("stage:2:normalize", {"fields": fields, "notes": []}),
        "shadow:2:normalize": done("shadow:2:normalize", {"fields": shadow, "notes": ["other wording"]}),
    }


def finished(fields=NORMAL, shadow=NORMAL) -> dict[str, StepState]:
    enriched = {**fields, "vendor_risk": "low"}
    return {
        **normalized(fields, shadow),
        "stage:3:enrich": done("stage:3:enrich", {"fields": enriched, "matches": []}),
        "stage:4:format": done("stage:4:format", {"fields": enriched, "summary": "Invoice RE-1.", "warnings": []}),
    }


def test_it_starts_with_the_first_stage_on_the_document_alone():
    outcome = decide(CONTEXT, {})
    [extract] = outcome.schedule
    assert extract.key == extract.slot == "stage:1:extract"
    assert extract.inputs == {"stage": "extract", "record": {}}
    assert outcome.planned == 5  # four stages and one shadow


def test_each_stage_gets_the_record_the_stage_before_it_made():
    outcome = decide(CONTEXT, extracted())
    keys = [spec.key for spec in outcome.schedule]
    assert keys == ["stage:2:normalize", "shadow:2:normalize"]
    primary, shadow = outcome.schedule
    assert primary.inputs["record"] == {"fields": RAW, "evidence": {}}
    # The shadow sees exactly what the primary sees.
    assert shadow.inputs == primary.inputs and shadow.parent_key == "stage:2:normalize"


def test_a_stage_whose_input_fails_its_check_is_not_called_and_the_error_names_stage_and_field():
    steps = extracted()
    steps["stage:2:normalize"] = done("stage:2:normalize", {"fields": {**NORMAL, "total": "4.904,94"}, "notes": []})
    steps["shadow:2:normalize"] = done("shadow:2:normalize", {"fields": NORMAL, "notes": []})
    outcome = decide(CONTEXT, steps)
    assert outcome.schedule == []
    assert "Stage 3 (enrich) was not called" in outcome.error
    assert "fields/total" in outcome.error


def test_a_missing_field_is_named_too():
    fields = {name: value for name, value in NORMAL.items() if name != "currency"}
    steps = {**extracted(), "stage:2:normalize": done("stage:2:normalize", {"fields": fields, "notes": []})}
    assert "fields/currency: is required" in decide(CONTEXT, steps).error


def test_the_chain_stops_at_a_failed_stage():
    steps = {**extracted(), "stage:2:normalize": StepState("stage:2:normalize", "failed", None, "schema")}
    assert decide(CONTEXT, steps).error == "Stage 2 (normalize) failed: schema"


def test_the_shadow_never_holds_the_chain_up_nor_feeds_it():
    steps = normalized(shadow={**NORMAL, "total": 1})
    steps["shadow:2:normalize"] = StepState("shadow:2:normalize", "running")
    [enrich] = decide(CONTEXT, steps).schedule
    assert enrich.key == "stage:3:enrich"
    assert enrich.inputs["record"]["fields"] == NORMAL


def test_the_result_waits_for_a_running_shadow_then_reports_how_it_compared():
    steps = finished(shadow={**NORMAL, "total": 4.90494})
    running = {**steps, "shadow:2:normalize": StepState("shadow:2:normalize", "running")}
    assert decide(CONTEXT, running).result is None
    [comparison] = decide(CONTEXT, steps).result["shadows"]
    assert comparison["agrees"] is False
    assert comparison["differences"] == [{"field": "total", "primary": 4904.94, "shadow": 4.90494}]


def test_a_shadow_that_words_its_notes_differently_still_agrees():
    [comparison] = decide(CONTEXT, finished()).result["shadows"]
    assert comparison == {
        "stage": "stage:2:normalize",
        "shadow": "shadow:2:normalize",
        "agrees": True,
        "differences": [],
    }


def test_a_failed_shadow_does_not_fail_the_run():
    steps = finished()
    steps["shadow:2:normalize"] = StepState("shadow:2:normalize", "failed", None, "boom")
    result = decide(CONTEXT, steps).result
    assert result["fields"]["total"] == 4904.94
    assert result["shadows"][0]["agrees"] is False and "boom" in result["shadows"][0]["error"]


def test_each_field_names_the_stage_that_introduced_its_final_value():
    result = decide(CONTEXT, finished(fields=WRONG)).result
    assert result["fields"]["total"] == 4.90494
    # Extract read "4.904,94"; normalize made it 4.90494: that is where to look.
    assert result["provenance"]["total"] == "stage:2:normalize"
    assert result["provenance"]["invoice_number"] == "stage:1:extract"
    assert result["provenance"]["vendor_risk"] == "stage:3:enrich"
    assert [entry["value"] for entry in result["trail"]["total"]] == ["4.904,94", 4.90494, 4.90494, 4.90494]
    assert result["findings"] == []


def test_keys_a_later_stage_leaves_out_carry_forward():
    steps = finished()
    steps["stage:4:format"] = done("stage:4:format", {"summary": "S", "warnings": []})
    result = decide(CONTEXT, steps).result
    assert result["fields"]["vendor_risk"] == "low"  # enrich's fields, carried past format
    assert result["record"]["summary"] == "S" and result["record"]["matches"] == []


def test_a_chain_without_stages_says_how_to_configure_one():
    assert "stage:1:<name>" in decide(RunContext(run_id=1, slots=["judge"]), {}).error


def test_stage_checks_mark_the_first_stage_whose_output_failed_a_check():
    steps = extracted()
    steps["stage:2:normalize"] = done("stage:2:normalize", {"fields": {**NORMAL, "total": "oops"}, "notes": []})
    rows = stage_checks(CONTEXT, steps)
    assert [row["ok"] for row in rows] == [True, False, None, None]
    assert rows[1]["first_failure"] and "stage 3 (enrich) refused it: fields/total" in rows[1]["problem"]


def test_differences_compare_fields_not_notes():
    assert differences({"fields": {"a": 1}, "notes": ["x"]}, {"fields": {"a": 1}, "notes": ["y"]}) == []
    assert differences({"fields": {"a": 1}}, {"fields": {"b": 1}}) == [
        {"field": "a", "primary": 1, "shadow": "(absent)"},
        {"field": "b", "primary": "(absent)", "shadow": 1},
    ]
