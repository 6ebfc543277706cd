"""The offline provider: deterministic, rule-based stand-ins for the agents, so
Quorum runs and demos with no API key and no network. It is a stand-in, labelled so
wherever it runs (is_stand_in): it reads clauses by rules, not as a model would.

It reads `request.inputs` (rules cannot read prose) and plays these roles:

- advocate, inputs {"document"} -> FINDINGS: one finding per clause type the
  contract has (clauses.py reads which sentences are clauses of which type, and how
  they read: definite issue, hedged, or present without a definite issue), quoting the
  sentence that reads strongest. Profile "thorough" reports every clause type present;
  "strict" only definite issues. Strict's findings are therefore a subset of thorough's.
- advocate, inputs {"document", "own_findings", "other_findings", "round"} -> FINDINGS:
  a rebuttal round. Own findings the other side also raised are defended; the rest
  are defended only if their evidence meets the profile's bar to hold a point
  (strict: definite; thorough: hedged or definite), else conceded. Other-side
  findings whose evidence meets the same bar are adopted.
- judge, inputs {"matches", "criteria", "document"} -> JUDGEMENT, one verdict per
  match: the rubric criterion for the finding's type decides, and the verdict names
  it (decided_by, where the agent's schema has that field).
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
    "thorough": {"flag": clauses.PRESENT, "hold": clauses.HEDGED},
    "strict": {"flag": clauses.DEFINITE, "hold": clauses.DEFINITE},
}
# How sure the judge is of a disputed point: strong either way when the evidence is
# clear (definite wording is an issue; a clause that meets the policy, such as a clear
# cap, is not); least sure for hedged wording, which a careful reader could take either
# way (and which the review inbox should therefore see).
_DISPUTE_CONFIDENCE = {clauses.DEFINITE: 0.9, clauses.HEDGED: 0.6, clauses.PRESENT: 0.85}
# Whether a chosen law is foreign to the reader is not in the text: a choice of law
# that meets the policy is still only moderately sure not to be an issue.
_TYPE_CONFIDENCE = {("governing_law", clauses.PRESENT): 0.7}
# How sure the judge is that quoted evidence is no clause of the finding's type at all.
_NOT_A_CLAUSE_CONFIDENCE = 0.8
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
        return judge(request.inputs, with_decided_by=_schema_has_decided_by(request.output_schema))
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
    """One finding per clause type whose strongest sentence reaches `min_tier`, quoting
    that sentence (the first of the strongest), in document order. A reviewer decides a
    clause, not each of its sentences; a mere mention of a topic is no clause."""
    best: dict[str, tuple[clauses.Sentence, str, clauses.Hit]] = {}
    for sentence, heading, hit in clauses.read(document):
        kind = hit.rule.type
        if kind not in best or hit.tier > best[kind][2].tier:
            best[kind] = (sentence, heading, hit)
    chosen = sorted(best.values(), key=lambda item: (item[0].start, clauses.FINDING_TYPES.index(item[2].rule.type)))
    findings = [
        _finding(hit, sentence.text, _explanation(hit, heading))
        for sentence, heading, hit in chosen
        if hit.tier >= min_tier
    ]
    return {"findings": _unique(findings)}


def _explanation(hit: clauses.Hit, heading: str) -> str:
    under = f" Under the heading “{heading}”." if heading and hit.rule.name.endswith(".heading") else ""
    return clauses.explain(hit) + under


def rebut(document: str, inputs: dict[str, Any], hold: int) -> dict[str, Any]:
    """One rebuttal round: defend, concede or adopt, as the module docstring says."""
    own = _required(inputs, "own_findings", list)
    other = _required(inputs, "other_findings", list)
    round_no = inputs.get("round", 1)
    kept: list[dict[str, Any]] = []

    for finding in own:
        hit = _read(document, finding.get("evidence", ""), finding.get("type", ""))
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
        located = clauses.locate(document, theirs.get("evidence", ""))
        sentence = located[0] if located else None
        hit = located and clauses.rate(sentence.text, theirs.get("type", ""), located[1])
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


def _read(document: str, evidence: str, finding_type: str) -> clauses.Hit | None:
    """How a quote reads as a clause of the type, under the heading it stands under in
    the document (a quote not found there is read on its own)."""
    located = clauses.locate(document, evidence) if document else None
    return clauses.rate(evidence, finding_type, located[1] if located else "")


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


def judge(inputs: dict[str, Any], with_decided_by: bool = True) -> dict[str, Any]:
    """One verdict per match. Agreed findings stand. A disputed one is judged by the
    rubric criterion for its type, on how its evidence reads in the document: definite
    wording is an issue; a clause that meets the policy (a clear cap, a fixed notice
    period) is not, and the judge is sure of both; hedged wording is not a definite
    issue, and the judge is unsure. A criterion applies to a match when its applies_to
    lists the finding's type, or is empty (a general criterion); of those, the one
    that names the type, then the heaviest, decides."""
    matches = _required(inputs, "matches", list)
    criteria = inputs.get("criteria") or []
    document = inputs.get("document") if isinstance(inputs.get("document"), str) else ""
    verdicts = []
    for match in matches:
        verdict = _verdict(match, criteria, document)
        if not with_decided_by:
            verdict.pop("decided_by")
        verdicts.append(verdict)
    return {"verdicts": verdicts}


def _verdict(match: dict[str, Any], criteria: list[dict[str, Any]], document: str) -> dict[str, Any]:
    a, b = match.get("a"), match.get("b")
    finding = a or b
    if finding is None:
        raise PermanentError(f"Match {match.get('key')!r} has no finding from either advocate")
    finding_type = match.get("type") or finding.get("type", "")
    applied = [c for c in criteria if not c.get("applies_to") or finding_type in c["applies_to"]]
    hits = {side: _read(document, f.get("evidence", ""), finding_type) for side, f in (("a", a), ("b", b)) if f}
    # The side whose wording is strongest is the one to judge (A on a tie).
    flagged = max(hits, key=lambda side: hits[side].tier if hits[side] else 0)
    hit = hits[flagged]
    wording = _wording(hit)
    deciding = _deciding(applied, finding_type)
    test = f"“{deciding.get('title', deciding.get('id'))}”" if deciding else "the wording alone"

    if match.get("status") == "agreed" and a and b:
        is_issue, recommendation = True, "accept_a"
        confidence = 0.95 if hit and hit.tier == clauses.DEFINITE else 0.9
        decision = f"Both advocates flagged it; {wording}. It stands under {test}."
    else:
        is_issue = bool(hit and hit.tier == clauses.DEFINITE)
        other = "b" if flagged == "a" else "a"
        # With both sides present (they differ in detail) the stronger version wins either way.
        recommendation = f"accept_{flagged}" if is_issue or (a and b) else f"accept_{other}"
        if hit:
            confidence = _TYPE_CONFIDENCE.get((finding_type, hit.tier), _DISPUTE_CONFIDENCE[hit.tier])
        else:
            confidence = _NOT_A_CLAUSE_CONFIDENCE
        who = "Both advocates raised it but differ" if a and b else f"Only advocate {flagged.upper()} flagged it"
        side = f"{who}; {wording}"
        if is_issue:
            decision = f"{side}, so it is an issue under {test}."
        elif hit and hit.tier == clauses.HEDGED:
            decision = f"{side}: not a definite issue under {test}, but a reader may take it either way."
        elif hit:
            decision = f"{side}: the clause is there and meets {test}, so it is not an issue."
        else:
            decision = f"{side}, so it is not an issue."

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
        "decided_by": str(deciding.get("id")) if deciding else "",
        "rationale": rationale,
    }


def _deciding(applied: list[dict[str, Any]], finding_type: str) -> dict[str, Any] | None:
    """The criterion that decides: one naming the type before a general one, then the heaviest."""
    if not applied:
        return None
    return max(
        applied,
        key=lambda c: (finding_type in (c.get("applies_to") or []), float(c.get("weight", 1) or 0)),
    )


def _wording(hit: clauses.Hit | None) -> str:
    if hit is None:
        return "the evidence is no clause of this type"
    if hit.tier == clauses.PRESENT:
        return f"the evidence is such a clause (“{hit.phrase}”) with no definite issue in its wording"
    return f"the evidence says “{hit.phrase}”, {clauses.TIER_NAMES[hit.tier]} wording"


# --- helpers -----------------------------------------------------------------


def _schema_has_decided_by(schema: dict[str, Any] | None) -> bool:
    """Whether the judge's schema has room for decided_by: agents saved before it existed
    keep their old schema, which forbids extra fields."""
    if not schema:
        return True
    try:
        verdict = schema["properties"]["verdicts"]["items"]
    except (KeyError, TypeError):
        return True
    return "decided_by" in (verdict.get("properties") or {}) or verdict.get("additionalProperties", True) is not False


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
