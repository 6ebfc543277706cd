"""JSON Schemas of what agents must return, and the one formatter of what breaks
them. Every output is validated against its agent's schema before a pattern uses
it (engine.execute_step); the Chain checks each stage's input contract the same way."""

import json
from typing import Any

from jsonschema import Draft202012Validator

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
                    # The id of the criterion that decided the verdict ("" when none applied).
                    # Optional, so judges configured before it existed stay valid.
                    "decided_by": {"type": "string"},
                    "rationale": {"type": "string"},
                },
            },
        },
    },
}


# --- checking an instance against a schema -----------------------------------


# Compiled validators by schema text: building one (and its reference resolver)
# costs more than checking a reply, and every step of an agent checks against the
# same schema. Schemas are few (one per agent version), so the cache stays small.
_VALIDATORS: dict[str, Draft202012Validator] = {}


def _validator(schema: dict) -> Draft202012Validator:
    key = json.dumps(schema, sort_keys=True)
    validator = _VALIDATORS.get(key)
    if validator is None:
        if len(_VALIDATORS) > 256:
            _VALIDATORS.clear()
        validator = _VALIDATORS[key] = Draft202012Validator(schema)
    return validator


def problems(instance: Any, schema: dict | None, limit: int = 20) -> list[tuple[str, str]]:
    """(field, message) for each way `instance` breaks `schema`, fields named as
    slash paths ("fields/total"). A missing property is named as the field itself,
    so "fields/currency: is required" says where to look."""
    if not schema:
        return []
    found = []
    for error in sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = [str(part) for part in error.absolute_path]
        message = error.message
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [name for name in error.validator_value if name not in error.instance]
            path, message = [*path, *missing[:1]], "is required but missing"
        found.append(("/".join(path) or "(root)", message))
    return found[:limit]


def output_errors(output: Any, schema: dict | None, limit: int = 20) -> list[str]:
    """What is wrong with an agent's parsed reply, one "field: message" line each,
    as the step's trace keeps them and the corrective retry shows them to the model.
    None is a reply that did not parse as JSON at all."""
    if output is None:
        return ["The reply was not valid JSON."]
    return [f"{field}: {message}" for field, message in problems(output, schema, limit)]


# --- Supervisor --------------------------------------------------------------

DOC_TYPES = ["invoice", "contract", "report", "correspondence", "other"]

# The coordinator: what the document is, and which specialists to call.
CLASSIFICATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["doc_type", "confidence", "signals", "plan"],
    "properties": {
        "doc_type": {"type": "string", "enum": DOC_TYPES},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        # What the classification rests on: keywords and layout seen.
        "signals": {"type": "array", "items": {"type": "string"}},
        "plan": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["specialist", "reason"],
                "properties": {"specialist": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}

_TEXT_OR_NULL = {"type": ["string", "null"]}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_ISO_DATE_OR_NULL = {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_CURRENCY_OR_NULL = {"type": ["string", "null"], "pattern": "^[A-Z]{3}$"}

# Money and dates in canonical form: numbers, ISO 4217 codes, ISO 8601 dates.
FINANCIAL_FIELDS = {
    "type": "object",
    "required": ["invoice_number", "issue_date", "due_date", "total", "net", "tax", "currency"],
    "properties": {
        "invoice_number": _TEXT_OR_NULL,
        "issue_date": _ISO_DATE_OR_NULL,
        "due_date": _ISO_DATE_OR_NULL,
        "total": _NUMBER_OR_NULL,
        "net": _NUMBER_OR_NULL,
        "tax": _NUMBER_OR_NULL,
        "currency": _CURRENCY_OR_NULL,
    },
}

FINANCIAL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["fields", "amounts"],
    "properties": {
        "fields": FINANCIAL_FIELDS,
        # Every amount seen, as written and as read.
        "amounts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["raw", "value", "currency", "label"],
                "properties": {
                    "raw": {"type": "string"},
                    "value": {"type": "number"},
                    "currency": _CURRENCY_OR_NULL,
                    "label": {"type": "string"},
                },
            },
        },
    },
}

_NAMES = {"type": "array", "items": {"type": "string"}}
ENTITIES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["parties", "organisations", "people", "emails", "ibans"],
    "properties": {
        "parties": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "role"],
                "properties": {"name": {"type": "string", "minLength": 1}, "role": {"type": "string"}},
            },
        },
        "organisations": _NAMES,
        "people": _NAMES,
        "emails": _NAMES,
        "ibans": _NAMES,
    },
}

CLAUSE_TYPES = [
    "termination",
    "indemnity",
    "liability_cap",
    "governing_law",
    "confidentiality",
    "auto_renewal",
    "payment_terms",
    "non_compete",
]

CLAUSES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["clauses"],
    "properties": {
        "clauses": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["number", "heading", "types", "text"],
                "properties": {
                    "number": {"type": "string"},
                    "heading": {"type": "string"},
                    "types": {"type": "array", "items": {"type": "string", "enum": CLAUSE_TYPES}},
                    "text": {"type": "string"},
                },
            },
        },
    },
}

METADATA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["language", "page_count", "title", "word_count"],
    "properties": {
        "language": {"type": "string", "pattern": "^([a-z]{2}|und)$"},
        "page_count": {"type": ["integer", "null"], "minimum": 1},
        "title": {"type": "string"},
        "word_count": {"type": "integer", "minimum": 0},
    },
}

# The assembler: one result from the specialists' outputs, each field with its source.
ASSEMBLY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["doc_type", "summary", "fields"],
    "properties": {
        "doc_type": {"type": "string", "enum": DOC_TYPES},
        "summary": {"type": "string"},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "value", "source"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "value": {},
                    # The specialist whose output the value was taken from.
                    "source": {"type": "string"},
                },
            },
        },
    },
}

# --- Chain stages ------------------------------------------------------------
# Every stage passes a record {"fields": {...}, ...} on; each boundary has a contract.

RECORD_FIELDS = ["invoice_number", "issue_date", "due_date", "total", "net", "tax", "currency", "vendor", "customer"]

# extract: the fields as written in the document, not yet interpreted.
EXTRACTED = {
    "type": "object",
    "additionalProperties": False,
    "required": ["fields", "evidence"],
    "properties": {
        "fields": {
            "type": "object",
            "required": RECORD_FIELDS,
            "properties": {name: _TEXT_OR_NULL for name in RECORD_FIELDS},
        },
        # The line each field was read from.
        "evidence": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

_NORMAL_FIELDS = {
    **FINANCIAL_FIELDS["properties"],
    "vendor": _TEXT_OR_NULL,
    "customer": _TEXT_OR_NULL,
}

# normalize: numbers, ISO dates and currency codes.
NORMALIZED = {
    "type": "object",
    "required": ["fields", "notes"],
    "properties": {
        "fields": {"type": "object", "required": RECORD_FIELDS, "properties": _NORMAL_FIELDS},
        # How each value was read ("total: '4.904,94' read with a decimal comma").
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}

_PARTY_FACTS = {
    "vendor_country": _TEXT_OR_NULL,
    "vendor_risk": {"type": ["string", "null"], "enum": ["low", "medium", "high", None]},
    "customer_country": _TEXT_OR_NULL,
    "customer_risk": {"type": ["string", "null"], "enum": ["low", "medium", "high", None]},
}

# enrich: parties matched against the knowledge base, canonical names and facts added.
ENRICHED = {
    "type": "object",
    "required": ["fields", "matches"],
    "properties": {
        "fields": {
            "type": "object",
            "required": [*RECORD_FIELDS, *_PARTY_FACTS],
            "properties": {**_NORMAL_FIELDS, **_PARTY_FACTS},
        },
        "matches": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "found", "entry"],
                "properties": {
                    "field": {"type": "string"},
                    "found": {"type": "string"},
                    "entry": _TEXT_OR_NULL,
                },
            },
        },
    },
}

# format: the final record, a one-line summary, and what a reader should check.
FORMATTED = {
    "type": "object",
    "required": ["fields", "summary", "warnings"],
    "properties": {
        "fields": {"type": "object", "properties": {**_NORMAL_FIELDS, **_PARTY_FACTS}},
        "summary": {"type": "string", "minLength": 1},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}

# Input contracts: what each stage needs from the stage before it.
NORMALIZE_INPUT = {
    "type": "object",
    "required": ["fields"],
    "properties": {"fields": EXTRACTED["properties"]["fields"]},
}
ENRICH_INPUT = {"type": "object", "required": ["fields"], "properties": {"fields": NORMALIZED["properties"]["fields"]}}
FORMAT_INPUT = {"type": "object", "required": ["fields"], "properties": {"fields": ENRICHED["properties"]["fields"]}}
