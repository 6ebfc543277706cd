"""The offline provider: deterministic, rule-based stand-ins for the agents, so
Quorum runs and demos with no API key and no network.

It reads `request.inputs` (rules cannot read prose) and plays these roles:

- advocate, inputs {"document"} -> FINDINGS. Profile "thorough" flags every sentence
  any rule in clauses.py meets (definite, hedged or a mere mention); "strict" flags
  only definite wording. Strict's findings are therefore a subset of thorough's.
- advocate, inputs {"document", "own_findings", "other_findings", "round"} -> FINDINGS:
  a rebuttal round. Own findings the other side also raised are defended; the rest
  are defended only if their evidence meets the profile's bar to hold a point
  (strict: definite; thorough: hedged or definite), else conceded. Other-side
  findings whose evidence meets the same bar are adopted.
- judge, inputs {"matches", "criteria"} -> JUDGEMENT, one verdict per match.
- coordinator, specialist, assembler and stage: the Supervisor's and the Chain's
  agents, played as specialists.py describes.
"""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from orchestrator.llm import Completion, PermanentError, Request, TransientError, Usage, estimate_tokens

from . import clauses, specialists

# The lowest tier each profile flags at first, and the lowest it holds to under rebuttal.
PROFILES = {
    "thorough": {"flag": clauses.MENTION, "hold": clauses.HEDGED},
    "strict": {"flag": clauses.DEFINITE, "hold": clauses.DEFINITE},
}
# How sure the judge is of a disputed point: strong either way for definite wording or
# a bare mention; least sure for hedged wording, which a careful reader could take
# either way (and which the review inbox should therefore see).
_DISPUTE_CONFIDENCE = {clauses.DEFINITE: 0.9, clauses.HEDGED: 0.6, clauses.MENTION: 0.8}
_LATENCY = re.compile(r"(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?")


class OfflineProvider:
    name = "offline"
    is_stand_in = True
    supports_schema = True

    def complete(self, request: Request) -> Completion:
        started = time.monotonic()
        low, high = parse_latency(settings.QUORUM_OFFLINE_LATENCY)
        output = _play(request)
        if high > 0:
            time.sleep(random.uniform(low, high))
        fault = pick_fault(settings.QUORUM_OFFLINE_FAULTS)
        if fault in {"429", "529"}:
            raise TransientError(
                f"HTTP {fault} (injected by QUORUM_OFFLINE_FAULTS)", retry_after=1 if fault == "429" else None
            )
        if fault == "timeout":
            raise TransientError("Request timed out (injected by QUORUM_OFFLINE_FAULTS)")
        raw_text = json.dumps(output)
        if fault == "badjson":
            output, raw_text = None, raw_text[: len(raw_text) // 2]  # cut short: the corrective retry's case
        usage = Usage(input_tokens=estimate_tokens(_prompt_text(request)), output_tokens=estimate_tokens(raw_text))
        latency_ms = round((time.monotonic() - started) * 1000)
        return Completion(output=output, raw_text=raw_text, usage=usage, latency_ms=latency_ms, model=request.model)


def pick_fault(spec: str) -> str:
    """QUORUM_OFFLINE_FAULTS ("429:0.1,529:0.05,timeout:0.05,badjson:0.05", for
    `make chaos`): draw which fault, if any, this call suffers ("" for none)."""
    if not spec:
        return ""
    draw, cumulative = random.random(), 0.0
    for part in spec.split(","):
        name, _, share = part.strip().partition(":")
        try:
            cumulative += float(share)
        except ValueError:
            raise ImproperlyConfigured(f"QUORUM_OFFLINE_FAULTS: {part!r} is not name:share") from None
        if draw < cumulative:
            return name
    return ""


def parse_latency(value: str) -> tuple[float, float]:
    """QUORUM_OFFLINE_LATENCY as (low, high) seconds: "0", "1" or a range "0.5-1.5"."""
    match = _LATENCY.fullmatch(str(value).strip())
    if not match:
        raise ImproperlyConfigured(
            f"QUORUM_OFFLINE_LATENCY must be seconds such as 0, 1 or a range 0.5-1.5, not {value!r}"
        )
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    if high < low:
        raise ImproperlyConfigured(f"QUORUM_OFFLINE_LATENCY range {value!r} runs backwards; write low-high")
    return low, high


def _play(request: Request) -> dict[str, Any]:
    if request.role == "judge":
        return judge(request.inputs)
    if request.role == "advocate":
        bar = PROFILES.get(request.profile)
        if bar is None:
            raise PermanentError(
                f"The offline advocate has no profile {request.profile!r}; known: {', '.join(PROFILES)}"
            )
        document = _required(request.inputs, "document", str)
        if "own_findings" in request.inputs or "other_findings" in request.inputs:
            return rebut(document, request.inputs, bar["hold"])
        return advocate(document, bar["flag"])
    if request.role in ("coordinator", "specialist", "stage"):
        _required(request.inputs, "document", str)
        if request.role == "coordinator":
            return specialists.coordinator(request.inputs)
        play = specialists.specialist if request.role == "specialist" else specialists.stage
        return play(request.profile, request.inputs)
    if request.role == "assembler":
        _required(request.inputs, "outputs", dict)
        return specialists.assembler(request.inputs)
    raise PermanentError(
        f"The offline provider cannot play the role {request.role!r}; it plays advocate, judge, coordinator, "
        "specialist, assembler and stage. Choose a model provider for this agent."
    )


# --- advocate ----------------------------------------------------------------


def advocate(document: str, min_tier: int) -> dict[str, Any]:
    """Findings for every sentence whose wording reaches `min_tier`, in document order."""
    findings = []
    for sentence in clauses.split_sentences(document):
        for hit in clauses.scan(sentence.text):
            if hit.tier >= min_tier:
                findings.append(_finding(hit, sentence.text, clauses.explain(hit)))
    # A sentence repeated word for word (boilerplate) is one point, not two.
    return {"findings": _unique(findings)}


def rebut(document: str, inputs: dict[str, Any], hold: int) -> dict[str, Any]:
    """One rebuttal round: defend, concede or adopt, as the module docstring says."""
    own = _required(inputs, "own_findings", list)
    other = _required(inputs, "other_findings", list)
    round_no = inputs.get("round", 1)
    sentences = clauses.split_sentences(document)
    kept: list[dict[str, Any]] = []

    for finding in own:
        hit = clauses.rate(finding.get("evidence", ""), finding.get("type", ""))
        if any(_same_point(finding, theirs) for theirs in other):
            why = "the other advocate raised it too. " + _original(finding)
        elif hit and hit.tier >= hold:
            why = clauses.explain(hit)
        else:
            continue  # conceded: the wording does not carry it and nobody else saw it
        kept.append({**finding, "explanation": f"Round {round_no}: defended; {why}"})

    for theirs in other:
        if any(_same_point(theirs, mine) for mine in own):
            continue
        sentence = _locate(theirs.get("evidence", ""), sentences)
        hit = sentence and clauses.rate(sentence.text, theirs.get("type", ""))
        if hit and hit.tier >= hold:
            why = f"Round {round_no}: adopted from the other advocate; {clauses.explain(hit)}"
            kept.append(_finding(hit, sentence.text, why))

    return {"findings": _in_document_order(_unique(kept), document)}


def _finding(hit: clauses.Hit, evidence: str, explanation: str) -> dict[str, Any]:
    return {
        "type": hit.rule.type,
        "title": hit.rule.title,
        "severity": clauses.severity(hit),
        "evidence": evidence,
        "explanation": explanation,
    }


def _normal(text: str) -> str:
    return " ".join(text.split()).lower()


def _same_point(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same type, and one quote contains the other (a model may quote less than a sentence)."""
    if a.get("type") != b.get("type"):
        return False
    ea, eb = _normal(a.get("evidence", "")), _normal(b.get("evidence", ""))
    return bool(ea and eb) and (ea in eb or eb in ea)


def _locate(evidence: str, sentences: list[clauses.Sentence]) -> clauses.Sentence | None:
    """The document sentence a quote came from, so adopted evidence stays verbatim."""
    quote = _normal(evidence)
    if not quote:
        return None
    for sentence in sentences:
        text = _normal(sentence.text)
        if quote in text or text in quote:
            return sentence
    return None


def _original(finding: dict[str, Any]) -> str:
    # Strip an earlier round's prefix so explanations do not pile up round after round.
    return re.sub(r"^Round \d+: [a-z]+; ", "", finding.get("explanation", ""))


def _unique(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, unique = set(), []
    for finding in findings:
        key = (finding["type"], _normal(finding["evidence"]))
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def _in_document_order(findings: list[dict[str, Any]], document: str) -> list[dict[str, Any]]:
    def position(finding: dict[str, Any]) -> int:
        at = document.find(finding["evidence"])
        return at if at >= 0 else len(document)

    return sorted(findings, key=position)  # stable: ties keep type order


# --- judge -------------------------------------------------------------------


def judge(inputs: dict[str, Any]) -> dict[str, Any]:
    """One verdict per match. Agreed findings stand; a disputed one stands only if
    its evidence is definite wording (see clauses.py). A criterion applies to a match
    when its applies_to lists the finding's type, or is empty (a general criterion)."""
    matches = _required(inputs, "matches", list)
    criteria = inputs.get("criteria") or []
    return {"verdicts": [_verdict(match, criteria) for match in matches]}


def _verdict(match: dict[str, Any], criteria: list[dict[str, Any]]) -> dict[str, Any]:
    a, b = match.get("a"), match.get("b")
    finding = a or b
    if finding is None:
        raise PermanentError(f"Match {match.get('key')!r} has no finding from either advocate")
    finding_type = match.get("type") or finding.get("type", "")
    applied = [c for c in criteria if not c.get("applies_to") or finding_type in c["applies_to"]]
    hits = {side: clauses.rate(f.get("evidence", ""), finding_type) for side, f in (("a", a), ("b", b)) if f}
    # The side whose wording is strongest is the one to judge (A on a tie).
    flagged = max(hits, key=lambda side: hits[side].tier if hits[side] else 0)
    hit = hits[flagged]
    wording = _wording(hit)

    if match.get("status") == "agreed" and a and b:
        is_issue, recommendation = True, "accept_a"
        confidence = 0.95 if hit and hit.tier == clauses.DEFINITE else 0.9
        decision = f"Both advocates flagged it; {wording}. It stands."
    else:
        is_issue = bool(hit and hit.tier == clauses.DEFINITE)
        other = "b" if flagged == "a" else "a"
        # With both sides present (they differ in detail) the stronger version wins either way.
        recommendation = f"accept_{flagged}" if is_issue or (a and b) else f"accept_{other}"
        confidence = _DISPUTE_CONFIDENCE[hit.tier] if hit else 0.55
        who = "Both advocates raised it but differ" if a and b else f"Only advocate {flagged.upper()} flagged it"
        side = f"{who}; {wording}"
        decision = f"{side}, so it is an issue." if is_issue else f"{side}, not a definite issue."

    if applied:
        names = ", ".join(f"“{c.get('title', c.get('id'))}” (weight {c.get('weight', 1)})" for c in applied)
        rationale = f"Criteria applied: {names}. {decision}"
    else:
        rationale = f"No rubric criterion applies to {finding_type} findings; judged on wording alone. {decision}"
        confidence = min(confidence, 0.6)

    return {
        "key": str(match.get("key", "")),
        "is_issue": is_issue,
        "recommendation": recommendation,
        "confidence": confidence,
        "criteria": [str(c.get("id")) for c in applied],
        "rationale": rationale,
    }


def _wording(hit: clauses.Hit | None) -> str:
    if hit is None:
        return "no rule recognises the evidence as this kind of issue"
    if hit.tier == clauses.MENTION:
        return f"the evidence only mentions “{hit.phrase}”"
    return f"the evidence says “{hit.phrase}”, {clauses.TIER_NAMES[hit.tier]} wording"


# --- helpers -----------------------------------------------------------------


def _required(inputs: dict[str, Any], name: str, kind: type) -> Any:
    value = inputs.get(name)
    if not isinstance(value, kind):
        raise PermanentError(
            f"The offline provider needs inputs[{name!r}] as {kind.__name__}; got {type(value).__name__}"
        )
    return value


def _prompt_text(request: Request) -> str:
    """The prompt a model would have read, for an honest token estimate."""
    parts = [request.system]
    for message in request.messages:
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(block.get("text", "") for block in content if isinstance(block, dict))
    return "\n".join(parts)
