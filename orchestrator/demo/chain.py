"""The demo Extraction chain: extract -> normalize -> enrich -> format, with a
shadow normalizer (a candidate version) compared on every run, and the small
knowledge base the enrich stage reads."""

from orchestrator.patterns import schemas

STAGE_TEMPLATE = """You are the {stage} stage of an extraction chain.
The record handed on by the stage before you:
{record}

<document>
{document}
</document>"""

PROMPTS = {
    "stage-extract": (
        "Chain: extract",
        "You extract an invoice's fields exactly as written, without interpreting them: invoice_number, "
        "issue_date, due_date, total, net, tax, currency, vendor, customer (null when absent). For each field "
        "found, quote the line it was read from under evidence.",
        STAGE_TEMPLATE,
    ),
    "stage-normalize": (
        "Chain: normalize",
        "You normalise the record's fields: amounts to numbers (4.904,94 and 4,904.94 are both 4904.94: the "
        "last separator with one or two digits after it is the decimal mark), dates to YYYY-MM-DD (25.11.2026 "
        "is day first), currencies to ISO 4217 codes (€ is EUR). Note how you read each value.",
        STAGE_TEMPLATE,
    ),
    "stage-normalize-candidate": (
        "Chain: normalize (candidate)",
        "You normalise the record's fields: amounts to numbers, dates to YYYY-MM-DD, currencies to ISO 4217 "
        "codes. Note how you read each value.",
        STAGE_TEMPLATE,
    ),
    "stage-enrich": (
        "Chain: enrich",
        "You match the record's vendor and customer against the knowledge base below and add each one's "
        "canonical name, country and risk rating. Add nothing for a party the knowledge base does not list.",
        STAGE_TEMPLATE + "\n\nKnowledge base:\n{knowledge}",
    ),
    "stage-format": (
        "Chain: format",
        "You produce the final record, a one-line summary of it, and warnings a reader should check "
        "(missing total, net plus tax not the total, unknown or high-risk parties, due before issue).",
        STAGE_TEMPLATE,
    ),
}

AGENTS = [
    # slug, name, role, profile, prompt, output schema, input schema, uses knowledge
    ("stage-extract", "Extract", "extract", "stage-extract", schemas.EXTRACTED, {}, False),
    ("stage-normalize", "Normalize", "normalize", "stage-normalize", schemas.NORMALIZED, schemas.NORMALIZE_INPUT,
     False),
    ("stage-normalize-candidate", "Normalize (candidate)", "normalize-naive", "stage-normalize-candidate",
     schemas.NORMALIZED, schemas.NORMALIZE_INPUT, False),
    ("stage-enrich", "Enrich", "enrich", "stage-enrich", schemas.ENRICHED, schemas.ENRICH_INPUT, True),
    ("stage-format", "Format", "format", "stage-format", schemas.FORMATTED, schemas.FORMAT_INPUT, False),
]  # fmt: skip

# The kind of document the pipeline reads (Pipeline.document_type): a purchase order or a
# contract run through it says it was not reviewed instead of yielding invoice fields.
DOCUMENT_TYPE = "invoice"

SLOTS = [
    ("stage:1:extract", "stage-extract"),
    ("stage:2:normalize", "stage-normalize"),
    ("shadow:2:normalize", "stage-normalize-candidate"),
    ("stage:3:enrich", "stage-enrich"),
    ("stage:4:format", "stage-format"),
]

KNOWLEDGE = [
    # kind, canonical name, aliases, country, risk, note
    ("vendor", "ACME Maschinenbau GmbH", ["ACME", "Acme Maschinenbau"], "DE", "low", "Framework supplier since 2019"),
    ("vendor", "Northwind Logistics Ltd", ["Northwind", "Northwind Logistics"], "GB", "medium", ""),
    ("vendor", "Initech Software LLC", ["Initech"], "US", "low", ""),
    ("counterparty", "Globex Trading Ltd", ["Globex", "Globex Trading"], "GB", "medium", ""),
    ("counterparty", "Umbrella Holdings S.A.", ["Umbrella Holdings", "Umbrella SA"], "LU", "high",
     "Enhanced due diligence required"),
    ("counterparty", "Contoso AG", ["Contoso"], "CH", "low", ""),
]  # fmt: skip
