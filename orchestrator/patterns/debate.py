"""Debate: two advocates read the document independently and in parallel,
optionally answer each other in rebuttal rounds, and a judge with a rubric
reconciles them. Findings both advocates raise pass straight through; the
pipeline's routing policy (review.policy) says which disagreements go to a human,
and a share of the findings it does not queue is sampled for audit.

Step keys: advocate:a, advocate:b, rebuttal:<n>:a, rebuttal:<n>:b, judge.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from review.policy import route

from . import Call, Outcome, RunContext, StepSpec, StepState

SLOT_A, SLOT_B, SLOT_JUDGE = "advocate_a", "advocate_b", "judge"
# Rebuttal steps render the advocate's rebuttal prompt (Agent.rebuttal_prompt).
REBUTTAL = "rebuttal"
# How sure we are of a finding both advocates raised when the judge gave no verdict on it.
AGREED_CONFIDENCE = 0.9


def decide(context: RunContext, steps: dict[str, StepState]) -> Outcome:
    planned = 2 + 2 * context.rebuttal_rounds + 1
    for step in steps.values():
        if step.failed:
            return Outcome(planned, error=f"Step {step.key} failed: {step.error}")

    # Round 0: both advocates at once.
    a, b = steps.get("advocate:a"), steps.get("advocate:b")
    if a is None and b is None:
        return Outcome(planned, schedule=[StepSpec("advocate:a", SLOT_A), StepSpec("advocate:b", SLOT_B)])
    if not (a and b and a.succeeded and b.succeeded):
        return Outcome(planned)
    findings_a, findings_b = a.output["findings"], b.output["findings"]

    # Rebuttal rounds: each advocate sees the other's findings and concedes or defends.
    for number in range(1, context.rebuttal_rounds + 1):
        key_a, key_b = f"rebuttal:{number}:a", f"rebuttal:{number}:b"
        ra, rb = steps.get(key_a), steps.get(key_b)
        if ra is None and rb is None:
            previous = "advocate" if number == 1 else f"rebuttal:{number - 1}"
            return Outcome(
                planned,
                schedule=[
                    StepSpec(
                        key_a, SLOT_A, _rebuttal_inputs(number, findings_a, findings_b), f"{previous}:a", REBUTTAL
                    ),
                    StepSpec(
                        key_b, SLOT_B, _rebuttal_inputs(number, findings_b, findings_a), f"{previous}:b", REBUTTAL
                    ),
                ],
            )
        if not (ra and rb and ra.succeeded and rb.succeeded):
            return Outcome(planned)
        findings_a, findings_b = ra.output["findings"], rb.output["findings"]

    matches = match_findings(findings_a, findings_b)
    judge = steps.get("judge")
    if judge is None:
        inputs = {"matches": matches, "criteria": context.criteria}
        return Outcome(planned, schedule=[StepSpec("judge", SLOT_JUDGE, inputs)])
    if not judge.succeeded:
        return Outcome(planned)

    verdicts = {verdict["key"]: verdict for verdict in judge.output["verdicts"]}
    return _final(context, planned, matches, verdicts)


WAVES_NOTE = ""  # waves() are the calls every run makes


def waves(slots: list[str], rebuttal_rounds: int = 0) -> list[list[Call]]:
    """The calls a document takes, wave by wave: both advocates, each rebuttal round
    (the advocates' rebuttal prompts), the judge."""
    advocates = [Call(name) for name in (SLOT_A, SLOT_B) if name in slots]
    rebuttals = [Call(call.slot, REBUTTAL) for call in advocates]
    return [advocates, *([rebuttals] * rebuttal_rounds), [Call(SLOT_JUDGE)]]


def slot_problems(names: list[str]) -> list[str]:
    """What a debate's slots lack to run."""
    missing = [name for name in (SLOT_A, SLOT_B, SLOT_JUDGE) if name not in names]
    return [f"a debate needs a slot named {', '.join(repr(name) for name in missing)}."] if missing else []


def _rebuttal_inputs(number: int, own: list[dict], other: list[dict]) -> dict[str, Any]:
    return {"round": number, "own_findings": own, "other_findings": other}


def _final(context: RunContext, planned: int, matches: list[dict], verdicts: dict[str, dict]) -> Outcome:
    findings = []
    for match in matches:
        verdict = verdicts.get(match["key"])
        position = match["a"] or match["b"]
        agreed = match["status"] == "agreed"
        finding = {
            **{field: position[field] for field in ("type", "title", "severity", "evidence", "explanation")},
            "key": match["key"],
            "status": match["status"],
            "flagged_by": [side for side in ("a", "b") if match[side]],
            "a": match["a"],
            "b": match["b"],
            "judge": verdict,
            # Agreement passes straight through; a dispute carries the judge's view until a human decides.
            "is_issue": True if agreed else bool(verdict and verdict["is_issue"]),
            "confidence": verdict["confidence"] if verdict else (AGREED_CONFIDENCE if agreed else 0.5),
            "review": None,
        }
        # The pipeline's routing policy says whether a human sees it; every finding
        # keeps the rule that routed it, queued or not.
        finding["routing"] = route(finding, context.policy, context.run_id, context.audit_rate)
        if finding["routing"]["queued"]:
            finding["review"] = {"reason": finding["routing"]["reason"], "item_id": None, "decision": None}
        findings.append(finding)
    result = {
        "pattern": "debate",
        "stand_in": context.stand_in,
        "findings": findings,
        "counts": count_findings(findings),
    }
    return Outcome(planned, result=result)


def count_findings(findings: list[dict]) -> dict[str, int]:
    """The result's "counts": what the decider found, and again once reviewers
    have settled the disputes (review.finalise), so the two can never count differently."""
    return {
        "agreed": sum(f.get("status") == "agreed" for f in findings),
        "disputed": sum(f.get("status") == "disputed" for f in findings),
        "issues": sum(bool(f.get("is_issue")) for f in findings),
    }


def match_findings(findings_a: list[dict], findings_b: list[dict]) -> list[dict]:
    """Pair A's and B's findings item by item: same type and the same (or nearly
    the same) evidence. Unpaired findings are disputes."""
    unmatched_b = list(findings_b)
    pairs: list[tuple[dict | None, dict | None]] = []
    for finding in findings_a:
        partner = next((other for other in unmatched_b if _same_finding(finding, other)), None)
        if partner is not None:
            unmatched_b.remove(partner)
        pairs.append((finding, partner))
    pairs.extend((None, finding) for finding in unmatched_b)

    numbers: dict[str, int] = {}
    matches = []
    for a, b in pairs:
        kind = (a or b)["type"]
        numbers[kind] = numbers.get(kind, 0) + 1
        matches.append(
            {
                "key": f"{kind}:{numbers[kind]}",
                "type": kind,
                "status": "agreed" if a and b else "disputed",
                "a": a,
                "b": b,
            }
        )
    return matches


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _same_finding(a: dict, b: dict) -> bool:
    if a["type"] != b["type"]:
        return False
    ea, eb = _normal(a["evidence"]), _normal(b["evidence"])
    return ea == eb or ea in eb or eb in ea or difflib.SequenceMatcher(None, ea, eb).ratio() >= 0.8
