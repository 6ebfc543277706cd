"""The demo Contract review (Debate) pipeline: prompts, rubric, agents."""

from orchestrator.patterns import schemas

ADVOCATE_TEMPLATE = """Review the contract below and list its compliance findings as JSON.
Finding types: {finding_types}.
For every finding quote, as evidence, the exact sentence of the contract it rests on.

<document>
{document}
</document>"""

REBUTTAL_TEMPLATE = """Rebuttal round {round}. You reviewed the contract below; so did the other advocate.
For each of your findings: defend it with the sentence that proves it, or concede it.
For each of the other advocate's findings you did not raise: adopt it if the contract's wording
carries it, quoting the sentence, or leave it out. Reply with your findings after this round.
Finding types: {finding_types}.

Your findings:
{own_findings}

The other advocate's findings:
{other_findings}

<document>
{document}
</document>"""

PROMPTS = {
    "advocate-thorough": (
        "Advocate A (thorough)",
        "You are advocate A, a careful compliance analyst. Be thorough and conservative: flag anything "
        "that might be a compliance issue, including hedged or ambiguous wording.",
        ADVOCATE_TEMPLATE,
    ),
    "advocate-strict": (
        "Advocate B (strict)",
        "You are advocate B, a precise compliance lawyer. Flag only definite issues, each with the exact "
        "quoted sentence that proves it. Do not flag vague or hedged wording.",
        ADVOCATE_TEMPLATE,
    ),
    "advocate-thorough-rebuttal": (
        "Advocate A (thorough), rebuttal",
        "You are advocate A, a careful compliance analyst, answering the other advocate. Hold any point whose "
        "wording is definite or hedged; concede mere mentions nobody else saw.",
        REBUTTAL_TEMPLATE,
    ),
    "advocate-strict-rebuttal": (
        "Advocate B (strict), rebuttal",
        "You are advocate B, a precise compliance lawyer, answering the other advocate. Hold only points the "
        "contract states definitely, and adopt the other side's points only when their wording is definite.",
        REBUTTAL_TEMPLATE,
    ),
    "debate-judge": (
        "Judge",
        "You are the judge between two compliance advocates. Apply the rubric's criteria to each matched "
        "finding and say whether it is a real issue, which advocate to follow, how confident you are, and "
        "which criteria decided it.",
        """Rubric criteria:
{criteria}

Findings of advocate A and advocate B, matched item by item:
{matches}

The contract:
<document>
{document}
</document>""",
    ),
}

CRITERIA = [
    {
        "id": "auto-renewal-notice",
        "title": "Automatic renewal without a clear notice period",
        "weight": 3,
        "applies_to": ["auto_renewal"],
        "guidance": "Flag renewals that happen automatically unless notice is given.",
    },
    {
        "id": "liability-exposure",
        "title": "Liability uncapped or capped unclearly",
        "weight": 3,
        "applies_to": ["liability_cap", "unlimited_liability", "indemnity"],
        "guidance": "Unlimited liability or broad indemnities are issues; a clear cap is acceptable.",
    },
    {
        "id": "termination-rights",
        "title": "Termination rights one-sided or missing",
        "weight": 2,
        "applies_to": ["termination"],
        "guidance": "We must be able to terminate for convenience with notice.",
    },
    {
        "id": "governing-law",
        "title": "Governing law and jurisdiction stated",
        "weight": 1,
        "applies_to": ["governing_law"],
        "guidance": "Note the governing law; foreign law needs legal sign-off.",
    },
    {
        "id": "confidentiality-bounded",
        "title": "Confidentiality obligations clear and bounded",
        "weight": 2,
        "applies_to": ["confidentiality"],
        "guidance": "Obligations should be explicit and limited in time.",
    },
    {
        "id": "restrictive-covenants",
        "title": "Non-compete and restrictive covenants",
        "weight": 3,
        "applies_to": ["non_compete"],
        "guidance": "Any non-compete binding us is an issue for legal review.",
    },
    {
        "id": "payment-policy",
        "title": "Payment terms within policy (60 days, no penalty interest)",
        "weight": 2,
        "applies_to": ["payment_terms"],
        "guidance": "Terms over 60 days or penalty interest breach policy.",
    },
]

AGENTS = [
    # slug, name, role, profile, prompt, schema, queue
    (
        "advocate-a-thorough",
        "Advocate A (thorough)",
        "advocate",
        "thorough",
        "advocate-thorough",
        schemas.FINDINGS,
        "advocates",
    ),
    (
        "advocate-b-strict",
        "Advocate B (strict)",
        "advocate",
        "strict",
        "advocate-strict",
        schemas.FINDINGS,
        "advocates",
    ),
    ("debate-judge", "Judge", "judge", "", "debate-judge", schemas.JUDGEMENT, "judges"),
]

# The kind of document the pipeline reviews (Pipeline.document_type).
DOCUMENT_TYPE = "contract"

SLOTS = [("advocate_a", "advocate-a-thorough"), ("advocate_b", "advocate-b-strict"), ("judge", "debate-judge")]

# Each advocate's prompt for rebuttal rounds (Agent.rebuttal_prompt).
REBUTTAL_PROMPTS = {
    "advocate-a-thorough": "advocate-thorough-rebuttal",
    "advocate-b-strict": "advocate-strict-rebuttal",
}
