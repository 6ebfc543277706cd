"""The routing policy: which of a run's findings go to a human.

A policy is a small JSON document kept on the pipeline's rubric version (so it is
versioned, diffed and rolled back with the criteria the judge applies). It reads
only what every provider's agents report (the advocates' positions, the judge's
verdict and confidence, the finding's type and severity), so it routes the same
whether the findings came from Claude, a self-hosted model or the offline stand-in.

Every finding gets a "routing" entry naming the rule that routed it; a finding the
policy does not queue may still be drawn as an audit sample at the pipeline's audit
rate, deterministically (a hash of the run and finding key, as A2I's activation
conditions sample), so deciding the same run twice samples the same findings.

Pure functions, no database: patterns.debate calls route() while assembling its result.
"""

from __future__ import annotations

import hashlib
from typing import Any

SEVERITIES = ("low", "medium", "high")

# The default: a disagreement the judge settles with high confidence at low severity
# is not queued; every other disagreement is; agreements are only audit-sampled.
DEFAULT_POLICY: dict[str, Any] = {
    "settle_confidence": 0.8,
    "settle_severities": ["low"],
    "severity_by_type": {},
    "always_queue_types": [],
    "never_queue_types": [],
    "four_eyes_severities": [],
    "allow_own_runs": False,
}

# What each rule means, for the run page and the CSV.
RULES = {
    "always_queue_type": "queued: the policy always queues this finding type",
    "never_queue_type": "not queued: the policy never queues this finding type",
    "judge_settled": "not queued: the judge settled the disagreement confidently, at a severity it may settle",
    "disagreement": "queued: the advocates disagree and the judge did not settle it under the policy",
    "agreed": "not queued: both advocates raised it",
    "audit_sample": "queued: drawn as an audit sample at the pipeline's audit rate",
}


def effective(policy: dict[str, Any] | None) -> dict[str, Any]:
    """The policy with the defaults filled in for whatever it leaves out."""
    return {**DEFAULT_POLICY, **(policy or {})}


def policy_problems(policy: Any) -> list[str]:
    """What is wrong with a policy an admin wrote; empty when it can be used."""
    if policy in (None, {}):
        return []
    if not isinstance(policy, dict):
        return ["The routing policy must be a JSON object."]
    problems = []
    unknown = sorted(set(policy) - set(DEFAULT_POLICY))
    if unknown:
        problems.append(f"Unknown policy keys: {', '.join(unknown)} (known: {', '.join(DEFAULT_POLICY)}).")
    threshold = policy.get("settle_confidence", DEFAULT_POLICY["settle_confidence"])
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        problems.append("settle_confidence must be a number from 0 to 1 (the judge's confidence).")
    for key in ("settle_severities", "four_eyes_severities"):
        values = policy.get(key, [])
        if not isinstance(values, list) or any(value not in SEVERITIES for value in values):
            problems.append(f"{key} must be a list of severities among {', '.join(SEVERITIES)}.")
    for key in ("always_queue_types", "never_queue_types"):
        values = policy.get(key, [])
        if not isinstance(values, list) or not all(isinstance(value, str) and value for value in values):
            problems.append(f"{key} must be a list of finding types.")
    both = set(policy.get("always_queue_types") or []) & set(policy.get("never_queue_types") or [])
    if both and not problems:
        problems.append(f"A type cannot be both always and never queued: {', '.join(sorted(both))}.")
    by_type = policy.get("severity_by_type", {})
    if not isinstance(by_type, dict) or any(value not in SEVERITIES for value in by_type.values()):
        problems.append(f"severity_by_type must map finding types to a severity among {', '.join(SEVERITIES)}.")
    if not isinstance(policy.get("allow_own_runs", False), bool):
        problems.append("allow_own_runs must be true or false.")
    return problems


def sampled(run_id: int, key: str, rate: float) -> bool:
    """Deterministic audit sampling: the same run and finding always draw the same."""
    digest = hashlib.sha256(f"{run_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def severity_of(finding: dict[str, Any], policy: dict[str, Any]) -> str:
    """The severity the policy routes by: the type's set severity, or the finding's own."""
    return (policy.get("severity_by_type") or {}).get(finding.get("type", ""), finding.get("severity") or "medium")


def rule_for(finding: dict[str, Any], policy: dict[str, Any]) -> tuple[str, bool]:
    """(the rule, whether it queues) for one finding, before audit sampling."""
    kind = finding.get("type", "")
    if kind in (policy.get("never_queue_types") or []):
        return "never_queue_type", False
    if kind in (policy.get("always_queue_types") or []):
        return "always_queue_type", True
    if finding.get("status") == "agreed":
        return "agreed", False
    verdict = finding.get("judge") or {}
    confidence = verdict.get("confidence")
    if (
        confidence is not None
        and confidence >= policy["settle_confidence"]
        and severity_of(finding, policy) in policy["settle_severities"]
    ):
        return "judge_settled", False
    return "disagreement", True


def route(finding: dict[str, Any], policy: dict[str, Any] | None, run_id: int, audit_rate: float) -> dict[str, Any]:
    """The finding's routing: {"rule", "queued", "reason" (the review item's reason or None),
    "severity" (the one routed by), "why" (the rule in words, for the run page and the CSV)}."""
    policy = effective(policy)
    rule, queued = rule_for(finding, policy)
    reason = "disagreement" if queued and finding.get("status") != "agreed" else "audit_sample" if queued else None
    if not queued and sampled(run_id, finding.get("key", ""), audit_rate):
        rule, queued, reason = f"{rule}+audit_sample", True, "audit_sample"
    return {
        "rule": rule,
        "queued": queued,
        "reason": reason,
        "severity": severity_of(finding, policy),
        "why": describe(rule),
        # For the review item: two reviewers at these severities; whoever started the run may decide.
        "four_eyes": severity_of(finding, policy) in (policy.get("four_eyes_severities") or []),
        "own_runs": bool(policy.get("allow_own_runs")),
    }


def describe(rule: str) -> str:
    """A rule in words (a sampled finding names both rules)."""
    return "; then ".join(RULES.get(part, part) for part in rule.split("+"))
