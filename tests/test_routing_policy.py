"""The routing policy as a reviewer's team lead would check it: what reaches the inbox,
what is recorded instead, and that the audit sample is drawn the same every time."""

import pytest

from orchestrator.patterns import RunContext, StepState
from orchestrator.patterns.debate import decide
from review.policy import policy_problems, route, sampled

CAP = "Liability is capped at the fees paid in the prior twelve months."
VENUE = "The courts of Delaware have exclusive jurisdiction."


def position(kind: str, evidence: str, severity: str) -> dict:
    return {"type": kind, "title": kind, "severity": severity, "evidence": evidence, "explanation": "rule"}


def verdict(key: str, confidence: float, is_issue: bool = False) -> dict:
    return {
        "key": key,
        "is_issue": is_issue,
        "recommendation": "accept_a" if is_issue else "accept_b",
        "confidence": confidence,
        "criteria": [],
        "rationale": "",
    }


def debate(policy: dict, confidence: float, severity: str = "low", audit_rate: float = 0.0, run_id: int = 1) -> dict:
    """A's one-sided finding on the venue clause, which B did not raise, judged with `confidence`."""
    steps = {
        "advocate:a": StepState("advocate:a", "succeeded", {"findings": [position("jurisdiction", VENUE, severity)]}),
        "advocate:b": StepState("advocate:b", "succeeded", {"findings": []}),
        "judge": StepState("judge", "succeeded", {"verdicts": [verdict("jurisdiction:1", confidence)]}),
    }
    [finding] = decide(RunContext(run_id=run_id, audit_rate=audit_rate, policy=policy), steps).result["findings"]
    return finding


def test_the_default_policy_does_not_queue_a_confident_low_severity_settlement():
    settled = debate({}, confidence=0.9, severity="low")
    assert settled["review"] is None
    assert settled["routing"]["rule"] == "judge_settled" and settled["routing"]["queued"] is False
    assert "judge settled" in settled["routing"]["why"]
    # Less sure, or more severe: a human sees it.
    assert debate({}, confidence=0.6, severity="low")["review"]["reason"] == "disagreement"
    assert debate({}, confidence=0.9, severity="high")["routing"]["rule"] == "disagreement"


def test_an_admin_policy_moves_the_threshold_and_the_severity_of_a_type():
    assert debate({"settle_confidence": 0.95}, confidence=0.9)["routing"]["rule"] == "disagreement"
    assert debate({"settle_severities": ["low", "medium", "high"]}, 0.9, "high")["review"] is None
    # The policy's severity for the type wins over the advocate's.
    assert debate({"severity_by_type": {"jurisdiction": "high"}}, 0.99, "low")["routing"]["rule"] == "disagreement"


def test_types_always_or_never_queued():
    assert debate({"always_queue_types": ["jurisdiction"]}, 0.99)["review"]["reason"] == "disagreement"
    never = debate({"never_queue_types": ["jurisdiction"]}, 0.1, "high")
    assert never["review"] is None and never["routing"]["rule"] == "never_queue_type"


def test_what_is_not_queued_is_still_audit_sampled_deterministically():
    everything = debate({}, confidence=0.9, audit_rate=1.0)
    assert everything["review"]["reason"] == "audit_sample"
    assert everything["routing"]["rule"] == "judge_settled+audit_sample"
    # About the audit rate over many runs, and the same draw every time for a run.
    draws = [sampled(run_id, "jurisdiction:1", 0.2) for run_id in range(2000)]
    assert 0.17 < sum(draws) / len(draws) < 0.23
    assert draws == [sampled(run_id, "jurisdiction:1", 0.2) for run_id in range(2000)]
    assert [debate({}, 0.9, audit_rate=0.2, run_id=n)["review"] is not None for n in range(50)] == draws[:50]


def test_agreed_findings_are_not_queued_by_the_policy():
    finding = {"type": "x", "key": "x:1", "status": "agreed", "severity": "high", "judge": None}
    assert route(finding, {}, 1, 0.0)["rule"] == "agreed"


def test_policy_validation_names_what_is_wrong():
    assert policy_problems({}) == []
    assert policy_problems({"settle_confidence": 0.7, "settle_severities": ["low", "medium"]}) == []
    problems = policy_problems(
        {"settle_confidence": 2, "settle_severities": ["tiny"], "colour": "red", "severity_by_type": {"x": "huge"}}
    )
    assert any("settle_confidence" in p for p in problems)
    assert any("settle_severities" in p for p in problems)
    assert any("colour" in p for p in problems)
    assert any("severity_by_type" in p for p in problems)
    assert policy_problems({"always_queue_types": ["a"], "never_queue_types": ["a"]}) == [
        "A type cannot be both always and never queued: a."
    ]


def test_an_admin_sets_the_policy_as_a_new_rubric_version(debate_pipeline, admin_user, client_for):
    import json

    from django.urls import reverse

    from orchestrator.models import Rubric

    rubric = Rubric.objects.get()
    url = reverse("admin:orchestrator_rubric_change", args=[rubric.pk])
    post = {"slug": rubric.slug, "name": rubric.name, "criteria": json.dumps(rubric.active.criteria), "note": ""}
    client = client_for(admin_user)

    refused = client.post(url, {**post, "policy": json.dumps({"settle_confidence": 1.5})})
    assert refused.status_code == 200 and "settle_confidence must be a number" in refused.content.decode()
    rubric.refresh_from_db()
    assert rubric.active.number == 1

    policy = {"settle_confidence": 0.7, "never_queue_types": ["jurisdiction"]}
    assert client.post(url, {**post, "policy": json.dumps(policy), "note": "fewer items"}).status_code == 302
    rubric.refresh_from_db()
    assert rubric.active.number == 2 and rubric.active.policy == policy
    assert rubric.versions.get(number=1).policy == {}


@pytest.mark.django_db(transaction=True)
def test_the_run_page_and_the_findings_csv_say_which_rule_routed_each_finding(
    make_document, debate_pipeline, scripted, run_jobs, client_for, analyst
):
    import csv
    import io

    from orchestrator import engine
    from review.models import ReviewItem
    from tests.test_engine import NON_COMPETE, PAYMENT, RENEWAL, verdict

    debate_pipeline.audit_rate = 0
    debate_pipeline.save(update_fields=["audit_rate"])
    scripted.take_over_pipeline(debate_pipeline)
    scripted.enqueue("advocate:thorough", [{"findings": [RENEWAL, NON_COMPETE]}])
    scripted.enqueue("advocate:strict", [{"findings": [RENEWAL, PAYMENT]}])
    # The judge is sure the low-severity payment dispute is no issue: settled, not queued.
    verdicts = [verdict("non_compete:1", True, 0.6), verdict("payment_terms:1", False, 0.9)]
    scripted.enqueue("judge", [{"verdicts": verdicts}])
    run = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    run.refresh_from_db()
    assert list(ReviewItem.objects.filter(run=run).values_list("finding_type", flat=True)) == ["non_compete"]

    client = client_for(analyst)
    page = client.get(run.get_absolute_url()).text
    assert 'data-rule="judge_settled"' in page and "Not queued: the judge settled the disagreement" in page
    assert 'data-rule="disagreement"' in page and 'data-rule="agreed"' in page
    body = b"".join(client.get("/runs/findings.csv").streaming_content).decode()
    rows = {row["finding"]: row for row in csv.DictReader(io.StringIO(body))}
    assert rows["payment_terms:1"]["routing_rule"] == "judge_settled"
    assert rows["payment_terms:1"]["review_reason"] == ""
    assert rows["non_compete:1"]["routing_rule"] == "disagreement"
