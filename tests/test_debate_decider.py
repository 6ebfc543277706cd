"""The Debate decider as a plain function: no database, no Redis."""

from orchestrator.patterns import RunContext, StepState
from orchestrator.patterns.debate import decide, match_findings

RENEWAL = "This Agreement shall automatically renew for successive 12-month terms."
LIABILITY = "The Supplier's liability shall not be limited."
NOTICE = "Either party may terminate on reasonable notice."


def finding(kind: str, evidence: str, title: str = "A finding") -> dict:
    return {"type": kind, "title": title, "severity": "high", "evidence": evidence, "explanation": "rule"}


def done(key: str, output: dict) -> StepState:
    return StepState(key, "succeeded", output)


def test_it_starts_both_advocates_at_once():
    outcome = decide(RunContext(run_id=1), {})
    assert [spec.key for spec in outcome.schedule] == ["advocate:a", "advocate:b"]
    assert outcome.planned == 3
    assert outcome.result is None


def test_it_waits_for_the_slower_advocate():
    steps = {"advocate:a": done("advocate:a", {"findings": []}), "advocate:b": StepState("advocate:b", "running")}
    outcome = decide(RunContext(run_id=1), steps)
    assert outcome.schedule == [] and outcome.result is None and not outcome.error


def test_the_judge_gets_the_matched_findings_and_the_rubric():
    criteria = [{"id": "auto-renewal-notice", "applies_to": ["auto_renewal"]}]
    steps = {
        "advocate:a": done(
            "advocate:a", {"findings": [finding("auto_renewal", RENEWAL), finding("termination", NOTICE)]}
        ),
        "advocate:b": done("advocate:b", {"findings": [finding("auto_renewal", RENEWAL)]}),
    }
    outcome = decide(RunContext(run_id=1, criteria=criteria), steps)
    [judge] = outcome.schedule
    assert judge.key == "judge"
    assert judge.inputs["criteria"] == criteria
    statuses = {match["key"]: match["status"] for match in judge.inputs["matches"]}
    assert statuses == {"auto_renewal:1": "agreed", "termination:1": "disputed"}


def test_agreement_passes_through_and_disagreement_goes_to_review():
    steps = {
        "advocate:a": done(
            "advocate:a", {"findings": [finding("auto_renewal", RENEWAL), finding("termination", NOTICE)]}
        ),
        "advocate:b": done("advocate:b", {"findings": [finding("auto_renewal", RENEWAL)]}),
        "judge": done(
            "judge",
            {
                "verdicts": [
                    {
                        "key": "auto_renewal:1",
                        "is_issue": True,
                        "recommendation": "accept_a",
                        "confidence": 0.95,
                        "criteria": ["auto-renewal-notice"],
                        "rationale": "both",
                    },
                    {
                        "key": "termination:1",
                        "is_issue": False,
                        "recommendation": "accept_b",
                        "confidence": 0.7,
                        "criteria": [],
                        "rationale": "hedged",
                    },
                ]
            },
        ),
    }
    outcome = decide(RunContext(run_id=1, audit_rate=0.0), steps)
    findings = {f["key"]: f for f in outcome.result["findings"]}
    assert findings["auto_renewal:1"]["is_issue"] is True
    assert findings["auto_renewal:1"]["review"] is None
    assert findings["termination:1"]["is_issue"] is False
    assert findings["termination:1"]["review"]["reason"] == "disagreement"
    assert findings["termination:1"]["a"] == finding("termination", NOTICE)
    assert findings["termination:1"]["b"] is None
    assert findings["termination:1"]["judge"]["recommendation"] == "accept_b"
    assert outcome.result["counts"] == {"agreed": 1, "disputed": 1, "issues": 1}


def test_every_agreed_finding_is_sampled_at_audit_rate_one():
    steps = {
        "advocate:a": done("advocate:a", {"findings": [finding("auto_renewal", RENEWAL)]}),
        "advocate:b": done("advocate:b", {"findings": [finding("auto_renewal", RENEWAL)]}),
        "judge": done("judge", {"verdicts": []}),
    }
    outcome = decide(RunContext(run_id=7, audit_rate=1.0), steps)
    assert [f["review"]["reason"] for f in outcome.result["findings"]] == ["audit_sample"]


def test_a_failed_advocate_fails_the_run_with_its_error():
    steps = {
        "advocate:a": StepState("advocate:a", "failed", error="HTTP 401: invalid x-api-key"),
        "advocate:b": done("advocate:b", {"findings": []}),
    }
    outcome = decide(RunContext(run_id=1), steps)
    assert outcome.error == "Step advocate:a failed: HTTP 401: invalid x-api-key"


def test_rebuttal_rounds_run_before_the_judge():
    a0 = {"findings": [finding("liability_cap", LIABILITY)]}
    b0 = {"findings": []}
    steps = {"advocate:a": done("advocate:a", a0), "advocate:b": done("advocate:b", b0)}
    outcome = decide(RunContext(run_id=1, rebuttal_rounds=1), steps)
    assert outcome.planned == 5
    assert [spec.key for spec in outcome.schedule] == ["rebuttal:1:a", "rebuttal:1:b"]
    assert outcome.schedule[0].inputs["other_findings"] == []
    assert outcome.schedule[1].inputs["other_findings"] == a0["findings"]


def test_findings_match_on_type_and_near_identical_evidence():
    a = [finding("auto_renewal", RENEWAL), finding("liability_cap", LIABILITY)]
    b = [
        finding("auto_renewal", "  this agreement shall automatically renew for successive 12-month terms"),
        finding("unlimited_liability", LIABILITY),
    ]
    matches = match_findings(a, b)
    assert [(m["key"], m["status"]) for m in matches] == [
        ("auto_renewal:1", "agreed"),
        ("liability_cap:1", "disputed"),
        ("unlimited_liability:1", "disputed"),
    ]
