"""JSON Schemas of what agents must return. Every output is validated against
its agent's schema before a pattern uses it (engine.execute_step)."""

FINDING_TYPES = [
    "auto_renewal",
    "termination",
    "liability_cap",
    "unlimited_liability",
    "indemnity",
    "governing_law",
    "confidentiality",
    "non_compete",
    "payment_terms",
]

FINDING = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "title", "severity", "evidence", "explanation"],
    "properties": {
        "type": {"type": "string", "enum": FINDING_TYPES},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "severity": {"type": "string", "enum": ["high", "medium", "low"]},
        # A verbatim quote from the document: the sentence the finding rests on.
        "evidence": {"type": "string", "minLength": 1},
        "explanation": {"type": "string"},
    },
}

# What an advocate (and an advocate's rebuttal) returns.
FINDINGS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["findings"],
    "properties": {"findings": {"type": "array", "items": FINDING}},
}

# What the judge returns: one verdict per matched finding it was shown.
JUDGEMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["verdicts"],
    "properties": {
        "verdicts": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "is_issue", "recommendation", "confidence", "criteria", "rationale"],
                "properties": {
                    "key": {"type": "string"},
                    "is_issue": {"type": "boolean"},
                    "recommendation": {"type": "string", "enum": ["accept_a", "accept_b"]},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "criteria": {"type": "array", "items": {"type": "string"}},
                    "rationale": {"type": "string"},
                },
            },
        },
    },
}
