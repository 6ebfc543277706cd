"""The offline provider: rule-based advocates and judge, no network."""

import json

import jsonschema
import pytest
from django.core.exceptions import ImproperlyConfigured

from orchestrator.llm import PermanentError, Request, estimate_tokens, get_provider
from orchestrator.llm.offline.clauses import split_sentences
from orchestrator.llm.offline.provider import parse_latency
from orchestrator.patterns.schemas import FINDINGS, JUDGEMENT

CONTRACT = """MASTER SERVICES AGREEMENT

1. Definitions
1.1 "Services" means the hosting and support services described in Schedule 1, e.g. hosting, monitoring and backups.

2. Term and Renewal
2.1 This Agreement commences on the Effective Date and continues for an initial term of twelve (12) months.
2.2 Renewal. This Agreement shall automatically renew for successive one-year terms unless either party gives \
written notice of non-renewal at least ninety (90) days before the end of the then-current term.
2.3 The parties may renew any Statement of Work by mutual agreement.

3. Fees and Payment
3.1 The Customer shall pay each invoice within ninety (90) days of receipt.
3.2 Late payments bear interest at 1.5% per month.
3.3 The monthly fee for the initial term is EUR 4.904,94 excluding VAT.

4. Termination
4.1 The Customer may terminate this Agreement only for material breach by the Supplier.
4.2 The Supplier may terminate this Agreement on reasonable notice.

5. LIMITATION OF LIABILITY
5.1 The Supplier's aggregate liability under this Agreement shall not exceed the fees paid in the three (3) months \
preceding the claim.
5.2 The Customer's liability for breach of clause 7 shall not be limited.
5.3 Each party remains liable for its own
employees and subcontractors.

6. Indemnity
6.1 The Customer shall indemnify and hold harmless the Supplier against all claims arising from the Customer's use \
of the Services.

7. Confidentiality
7.1 Each party shall endeavour to keep confidential the other party's Confidential Information.
7.2 The confidentiality obligations in this clause 7 survive termination in perpetuity.

8. Non-Competition
8.1 During the term and for twenty-four (24) months thereafter, the Customer shall not, directly or indirectly, \
engage in any business that competes with the Supplier.

9. Governing Law
9.1 This Agreement is governed by the laws of England and Wales.
9.2 The courts of London shall have exclusive jurisdiction over any dispute arising out of this Agreement.
"""

# Clauses whose wording leaves room: thorough flags them, strict does not.
HEDGED = """1. Termination. The Supplier may terminate this Agreement on reasonable notice.
2. Confidentiality. Each party shall endeavour to keep confidential the other party's information.
3. Liability. The Supplier's aggregate liability shall not exceed the fees paid in the preceding year.
4. Law. This Agreement is governed by the laws of Ireland.
"""

CRITERIA = [
    {"id": "renewal", "title": "Renewal terms", "weight": 2, "applies_to": ["auto_renewal"], "guidance": "..."},
    {"id": "exit", "title": "Exit rights", "weight": 2, "applies_to": ["termination"], "guidance": "..."},
    {
        "id": "exposure",
        "title": "Financial exposure",
        "weight": 3,
        "applies_to": ["liability_cap", "unlimited_liability", "indemnity", "payment_terms"],
        "guidance": "...",
    },
]


def _complete(role, profile="", **inputs):
    request = Request(
        system="You review contracts.",
        messages=[{"role": "user", "content": "Please review."}],
        model="offline-rules",
        role=role,
        profile=profile,
        inputs=inputs,
    )
    return get_provider("offline").complete(request)


def _findings(profile, document=CONTRACT):
    output = _complete("advocate", profile, document=document).output
    jsonschema.validate(output, FINDINGS)
    return output["findings"]


def _points(findings):
    return {(f["type"], f["evidence"]) for f in findings}


def _judge(matches, criteria=CRITERIA):
    output = _complete("judge", matches=matches, criteria=criteria).output
    jsonschema.validate(output, JUDGEMENT)
    return {v["key"]: v for v in output["verdicts"]}


def _by_evidence(findings, words):
    [found] = [f for f in findings if words in f["evidence"]]
    return found


# --- sentences ---------------------------------------------------------------


def test_sentences_are_verbatim_and_skip_headings():
    sentences = [s.text for s in split_sentences(CONTRACT)]

    assert all(text in CONTRACT for text in sentences)
    assert "Renewal." not in sentences and "LIMITATION OF LIABILITY" not in sentences
    assert sentences[0].startswith('"Services" means') and sentences[0].endswith("monitoring and backups.")
    assert "The monthly fee for the initial term is EUR 4.904,94 excluding VAT." in sentences
    assert "Each party remains liable for its own\nemployees and subcontractors." in sentences
    assert sentences[2].startswith("This Agreement shall automatically renew")


def test_sentences_split_at_line_breaks_between_clauses():
    text = "The fee is due monthly\n(a) in advance; and\n(b) in euros.\nLATE FEES\nNo late fees apply."

    assert [s.text for s in split_sentences(text)] == [
        "The fee is due monthly",
        "in advance; and",
        "in euros.",
        "No late fees apply.",
    ]


def test_runaway_sentences_are_cut_into_verbatim_pieces():
    text = " ".join(["the supplier shall not be limited in liability and may pay invoices"] * 400)

    sentences = split_sentences(text)

    assert len(sentences) > 1
    assert all(len(s.text) <= 2000 and text[s.start : s.start + len(s.text)] == s.text for s in sentences)


# --- advocates ---------------------------------------------------------------


def test_thorough_flags_more_than_strict_and_strict_is_a_subset():
    thorough, strict = _findings("thorough"), _findings("strict")

    assert len(thorough) > len(strict) > 0
    assert _points(strict) <= _points(thorough)


@pytest.mark.parametrize("profile", ["thorough", "strict"])
def test_evidence_is_copied_verbatim_from_the_document(profile):
    for finding in _findings(profile):
        assert finding["evidence"] in CONTRACT
        assert finding["title"] and finding["explanation"]


def test_strict_finds_the_definite_issues():
    strict = _findings("strict")

    # A clear cap (5.1) is no definite issue: the rubric accepts one. Strict leaves it to thorough.
    assert {f["type"] for f in strict} == {
        "auto_renewal",
        "termination",
        "unlimited_liability",
        "indemnity",
        "governing_law",
        "confidentiality",
        "non_compete",
        "payment_terms",
    }
    assert _by_evidence(strict, "shall automatically renew")["type"] == "auto_renewal"
    assert _by_evidence(strict, "only for material breach")["type"] == "termination"
    assert _by_evidence(strict, "shall not be limited")["type"] == "unlimited_liability"
    assert _by_evidence(strict, "twenty-four (24) months")["type"] == "non_compete"
    assert _by_evidence(strict, "exclusive jurisdiction")["type"] == "governing_law"
    # One finding per clause type, quoting its first definite sentence.
    assert [f["evidence"] for f in strict if f["type"] == "payment_terms"] == [
        "The Customer shall pay each invoice within ninety (90) days of receipt."
    ]


def test_strict_leaves_hedged_wording_alone():
    evidence = " ".join(f["evidence"] for f in _findings("strict"))

    for hedged in ("may renew", "reasonable notice", "endeavour", "governed by the laws", "remains liable"):
        assert hedged not in evidence
    assert _findings("strict", HEDGED) == []


def test_thorough_reports_every_clause_type_present_once():
    thorough = _findings("thorough")

    assert sorted(f["type"] for f in thorough) == sorted(
        ["auto_renewal", "termination", "liability_cap", "unlimited_liability", "indemnity", "governing_law",
         "confidentiality", "non_compete", "payment_terms"]
    )  # fmt: skip
    cap = _by_evidence(thorough, "shall not exceed")
    assert cap["type"] == "liability_cap" and cap["severity"] == "low"
    assert "raises no definite issue" in cap["explanation"]


def test_thorough_flags_hedged_clauses_that_strict_leaves():
    thorough = _findings("thorough", HEDGED)

    assert _by_evidence(thorough, "reasonable notice")["type"] == "termination"
    assert _by_evidence(thorough, "endeavour to keep confidential")["type"] == "confidentiality"
    assert _by_evidence(thorough, "governed by the laws")["type"] == "governing_law"
    assert {f["severity"] for f in thorough if f["type"] in ("termination", "confidentiality")} == {"medium"}


def test_mentions_are_no_clauses():
    """The keyword flaw the offline advocates had: any sentence naming a topic was a finding."""
    mentions = (
        "Each party remains liable for its own employees. The Tenant shall maintain public liability insurance. "
        "The Distributor is appointed exclusive distributor in the Territory. BrightSpark won a competitive tender. "
        "The parties may renew any Statement of Work by mutual agreement. The monthly fee is EUR 4.904,94. "
        "On termination the Customer may export its data. Interest rates are set by the central bank."
    )

    assert _findings("thorough", mentions) == []


def test_findings_are_in_document_order_and_unique():
    thorough = _findings("thorough")

    positions = [CONTRACT.index(f["evidence"]) for f in thorough]
    assert positions == sorted(positions)
    assert len(_points(thorough)) == len(thorough)


def test_explanation_names_the_rule_that_fired():
    finding = _by_evidence(_findings("strict"), "shall automatically renew")

    assert "auto_renewal.automatic" in finding["explanation"]
    assert "automatically renew" in finding["explanation"]
    assert finding["severity"] == "high"


def test_the_same_input_gives_the_same_output():
    first = _complete("advocate", "thorough", document=CONTRACT)
    second = _complete("advocate", "thorough", document=CONTRACT)

    assert first.raw_text == second.raw_text
    assert json.loads(first.raw_text) == first.output


def test_usage_estimates_prompt_and_output_tokens():
    completion = _complete("advocate", "strict", document=CONTRACT)

    assert completion.usage.input_tokens == estimate_tokens("You review contracts.\nPlease review.")
    assert completion.usage.output_tokens == estimate_tokens(completion.raw_text)
    assert completion.model == "offline-rules"


def test_a_repeated_sentence_is_one_finding():
    clause = "This Agreement shall automatically renew for successive one-year terms."

    findings = _findings("strict", f"1. {clause}\n2. {clause}")

    assert [(f["type"], f["evidence"]) for f in findings] == [("auto_renewal", clause)]


def test_a_document_without_issues_has_no_findings():
    assert _findings("thorough", "The parties met on Tuesday. They agreed on the colour of the logo.") == []


# --- rebuttal ----------------------------------------------------------------


def _rebut(profile, own, other, document=CONTRACT):
    output = _complete("advocate", profile, document=document, own_findings=own, other_findings=other, round=1).output
    jsonschema.validate(output, FINDINGS)
    return output["findings"]


def test_thorough_concedes_clauses_without_issue_and_defends_hedged_points():
    thorough, strict = _findings("thorough", HEDGED), _findings("strict", HEDGED)

    rebuttal = _rebut("thorough", thorough, strict, document=HEDGED)

    kept = " ".join(f["evidence"] for f in rebuttal)
    assert "shall not exceed" not in kept and "governed by" not in kept  # no issue in the wording: conceded
    assert "reasonable notice" in kept and "endeavour" in kept  # hedged: defended
    assert all(f["explanation"].startswith("Round 1: defended;") for f in rebuttal)


def test_thorough_keeps_what_strict_also_raised():
    thorough, strict = _findings("thorough"), _findings("strict")

    assert _points(strict) <= _points(_rebut("thorough", thorough, strict))


def test_strict_defends_its_findings_and_adopts_only_definite_ones():
    thorough, strict = _findings("thorough"), _findings("strict")

    assert _points(_rebut("strict", strict, thorough)) == _points(strict)
    adopted = _rebut("strict", [], thorough)
    assert _points(adopted) == _points(strict)
    assert all("adopted from the other advocate" in f["explanation"] for f in adopted)


def test_adopted_evidence_is_the_whole_document_sentence():
    other = [{**_by_evidence(_findings("strict"), "shall not be limited"), "evidence": "shall not be limited"}]

    [adopted] = _rebut("strict", [], other)

    assert adopted["evidence"] == "The Customer's liability for breach of clause 7 shall not be limited."


# --- judge -------------------------------------------------------------------


def _match(key, status, a=None, b=None):
    finding = a or b
    return {"key": key, "type": finding["type"], "status": status, "a": a, "b": b}


def test_judge_gives_one_verdict_per_match_applying_criteria():
    thorough, strict = _findings("thorough"), _findings("strict")
    strict_points = _points(strict)
    matches = [
        _match(f"m{i}", "agreed", f, f)
        if (f["type"], f["evidence"]) in strict_points
        else _match(f"m{i}", "disputed", a=f)
        for i, f in enumerate(thorough)
    ]

    verdicts = _judge(matches)

    assert set(verdicts) == {m["key"] for m in matches}
    for match in matches:
        verdict = verdicts[match["key"]]
        expected = [c["id"] for c in CRITERIA if match["type"] in c["applies_to"]]
        assert verdict["criteria"] == expected
        if match["status"] == "agreed":
            assert verdict["is_issue"] and verdict["confidence"] >= (0.9 if expected else 0.5)


def test_judge_upholds_an_agreed_finding_with_high_confidence():
    finding = _by_evidence(_findings("strict"), "shall automatically renew")

    verdict = _judge([_match("renewal", "agreed", finding, finding)])["renewal"]

    assert verdict["is_issue"] and verdict["recommendation"] == "accept_a"
    assert verdict["confidence"] >= 0.9
    assert verdict["criteria"] == ["renewal"]
    assert "Renewal terms" in verdict["rationale"] and "automatically renew" in verdict["rationale"]


def test_judge_sides_with_definite_evidence_in_a_dispute():
    finding = _by_evidence(_findings("strict"), "only for material breach")

    verdict = _judge([_match("exit", "disputed", b=finding)])["exit"]

    assert verdict["is_issue"] and verdict["recommendation"] == "accept_b"
    assert 0.5 <= verdict["confidence"] <= 0.95
    assert "Exit rights" in verdict["rationale"] and "only for material breach" in verdict["rationale"]


def test_judge_rejects_hedged_evidence_with_less_confidence_than_definite():
    hedged = _by_evidence(_findings("thorough", HEDGED), "reasonable notice")
    definite = _by_evidence(_findings("thorough"), "only for material breach")

    verdicts = _judge([_match("hedged", "disputed", a=hedged), _match("definite", "disputed", a=definite)])

    assert not verdicts["hedged"]["is_issue"] and verdicts["hedged"]["recommendation"] == "accept_b"
    assert "reasonable notice" in verdicts["hedged"]["rationale"]
    assert 0.5 <= verdicts["hedged"]["confidence"] < verdicts["definite"]["confidence"] <= 0.95


def test_judge_prefers_the_stronger_version_when_both_sides_differ():
    weak = {**_by_evidence(_findings("thorough", HEDGED), "reasonable notice"), "severity": "low"}
    strong = _by_evidence(_findings("thorough"), "only for material breach")

    verdict = _judge([_match("exit", "disputed", a=weak, b=strong)])["exit"]

    assert verdict["is_issue"] and verdict["recommendation"] == "accept_b"
    assert "Both advocates raised it but differ" in verdict["rationale"]


def test_judge_clears_a_clause_that_meets_the_rubric_with_high_confidence():
    cap = _by_evidence(_findings("thorough"), "shall not exceed")

    verdict = _judge([_match("cap", "disputed", a=cap)])["cap"]

    assert not verdict["is_issue"] and verdict["recommendation"] == "accept_b"
    assert verdict["confidence"] >= 0.8
    assert verdict["decided_by"] == "exposure"
    assert "meets “Financial exposure”" in verdict["rationale"]


def test_judge_names_the_criterion_that_decided():
    criteria = [
        *CRITERIA,
        {"id": "general", "title": "Evidence quality", "weight": 5, "applies_to": [], "guidance": "..."},
    ]
    finding = _by_evidence(_findings("strict"), "only for material breach")

    verdict = _judge([_match("exit", "disputed", b=finding)], criteria=criteria)["exit"]

    # The criterion that names the type decides, though a general one weighs more.
    assert verdict["criteria"] == ["exit", "general"] and verdict["decided_by"] == "exit"
    assert "so it is an issue under “Exit rights”" in verdict["rationale"]


def test_judge_reads_evidence_under_its_heading_in_the_document():
    document = "7. Confidentiality\n7.1 The Recipient shall not share the information with anyone else.\n"
    finding = {"type": "confidentiality", "title": "t", "severity": "low", "evidence": "The Recipient shall not share "
               "the information with anyone else.", "explanation": ""}  # fmt: skip
    match = _match("conf", "disputed", a=finding)

    alone = _judge([match])["conf"]
    output = _complete("judge", matches=[match], criteria=CRITERIA, document=document).output
    in_context = output["verdicts"][0]

    assert "no clause of this type" in alone["rationale"]
    assert "the clause is there" in in_context["rationale"]


def test_judge_leaves_decided_by_out_where_the_agents_schema_has_no_room_for_it():
    """Judges configured before decided_by existed keep their schema, which forbids extra fields."""
    old = json.loads(json.dumps(JUDGEMENT))
    del old["properties"]["verdicts"]["items"]["properties"]["decided_by"]
    finding = _by_evidence(_findings("strict"), "shall automatically renew")
    request = Request(system="", messages=[{"role": "user", "content": "."}], model="offline-rules", role="judge",
                      inputs={"matches": [_match("r", "agreed", finding, finding)], "criteria": CRITERIA},
                      output_schema=old)  # fmt: skip

    output = get_provider("offline").complete(request).output

    jsonschema.validate(output, old)
    assert "decided_by" not in output["verdicts"][0]


def test_judge_says_when_no_criterion_applies():
    finding = _by_evidence(_findings("strict"), "exclusive jurisdiction")

    verdict = _judge([_match("law", "disputed", a=finding)])["law"]

    assert verdict["criteria"] == []
    assert "No rubric criterion applies" in verdict["rationale"]
    assert verdict["confidence"] <= 0.6


def test_a_criterion_without_types_applies_to_every_finding():
    finding = _by_evidence(_findings("strict"), "exclusive jurisdiction")
    general = [{"id": "evidence", "title": "Evidence quality", "weight": 1, "applies_to": [], "guidance": "..."}]

    verdict = _judge([_match("law", "agreed", finding, finding)], criteria=general)["law"]

    assert verdict["criteria"] == ["evidence"]


# --- errors and latency -------------------------------------------------------


def test_an_unknown_role_is_a_permanent_error():
    with pytest.raises(PermanentError, match="cannot play the role 'translator'"):
        _complete("translator", document=CONTRACT)


def test_an_unknown_profile_is_a_permanent_error():
    with pytest.raises(PermanentError, match="no profile 'lenient'"):
        _complete("advocate", "lenient", document=CONTRACT)


def test_an_advocate_needs_a_document():
    with pytest.raises(PermanentError, match="document"):
        _complete("advocate", "strict")


@pytest.mark.parametrize(
    ("value", "expected"), [("0", (0.0, 0.0)), ("1", (1.0, 1.0)), ("0.5-1.5", (0.5, 1.5)), (" 2 ", (2.0, 2.0))]
)
def test_latency_knob_parses(value, expected):
    assert parse_latency(value) == expected


@pytest.mark.parametrize("value", ["", "fast", "-1", "1-", "2-1", "1-2-3", "1s", "nan"])
def test_latency_knob_rejects_bad_values(value):
    with pytest.raises(ImproperlyConfigured, match="QUORUM_OFFLINE_LATENCY"):
        parse_latency(value)


def test_latency_knob_slows_each_call(settings):
    settings.QUORUM_OFFLINE_LATENCY = "0.2-0.3"

    completion = _complete("advocate", "strict", document=CONTRACT)

    assert 200 <= completion.latency_ms < 1000
