"""The demo Document supervisor pipeline: coordinator, four specialists, assembler.
A second pipeline holds the Contract review Debate as its clause specialist."""

from orchestrator.patterns import schemas

COORDINATOR_TEMPLATE = """Classify the document below as one of: invoice, contract, report, correspondence, other.
Say which keywords and which features of its layout your call rests on.
Then plan which specialists to call, choosing only from: {specialists}.
Give each planned specialist one sentence saying what it should look for.

<document>
{document}
</document>"""

SPECIALIST_TEMPLATE = """The document below is a {doc_type}. Your task: {task}.
Reply with JSON only, following the schema you were given. Copy values as the document
gives them, and leave a field null when the document does not give it.

<document>
{document}
</document>"""

ASSEMBLER_TEMPLATE = """Merge the specialists' outputs below into one result for this {doc_type}.
List every field once, with the value and the name of the specialist it came from ("source").
Do not invent values. Specialists that failed (their output is missing): {missing}.

Specialists' outputs:
{outputs}"""

PROMPTS = {
    "supervisor-coordinator": (
        "Supervisor coordinator",
        "You are the coordinator of a document-processing team. You classify documents and decide which "
        "specialists should read them. You never extract data yourself.",
        COORDINATOR_TEMPLATE,
    ),
    "specialist-financial": (
        "Financial extraction specialist",
        "You extract financial data: the invoice number, issue and due dates (as YYYY-MM-DD), the total, net "
        "and tax amounts as numbers (read 4.904,94 and 4,904.94 both as 4904.94) and the ISO 4217 currency.",
        SPECIALIST_TEMPLATE,
    ),
    "specialist-entities": (
        "Entity recognition specialist",
        "You find the parties (with their role), organisations, people, email addresses and IBANs named in a "
        "document, each exactly as written.",
        SPECIALIST_TEMPLATE,
    ),
    "specialist-clauses": (
        "Clause analysis specialist",
        "You split contracts into their top-level clauses by headings and numbering and give each clause's "
        "types: termination, indemnity, liability_cap, governing_law, confidentiality, auto_renewal, "
        "payment_terms, non_compete.",
        SPECIALIST_TEMPLATE,
    ),
    "specialist-metadata": (
        "Metadata tagging specialist",
        "You tag a document's language (ISO 639-1), page count, title and word count.",
        SPECIALIST_TEMPLATE,
    ),
    "supervisor-assembler": (
        "Supervisor assembler",
        "You assemble one result from several specialists' outputs and record, for every field, which "
        "specialist produced it.",
        ASSEMBLER_TEMPLATE,
    ),
}

AGENTS = [
    # slug, name, role, profile, prompt, schema, queue
    ("supervisor-coordinator", "Coordinator", "coordinator", "", "supervisor-coordinator", schemas.CLASSIFICATION,
     "coordinator"),
    ("specialist-financial", "Financial extraction", "specialist", "financial", "specialist-financial",
     schemas.FINANCIAL, "specialists"),
    ("specialist-entities", "Entity recognition", "specialist", "entities", "specialist-entities",
     schemas.ENTITIES, "specialists"),
    ("specialist-clauses", "Clause analysis", "specialist", "clauses", "specialist-clauses", schemas.CLAUSES,
     "specialists"),
    ("specialist-metadata", "Metadata tagging", "specialist", "metadata", "specialist-metadata", schemas.METADATA,
     "specialists"),
    ("supervisor-assembler", "Assembler", "assembler", "", "supervisor-assembler", schemas.ASSEMBLY, "coordinator"),
]  # fmt: skip

SLOTS = [
    ("coordinator", "supervisor-coordinator"),
    ("specialist:financial", "specialist-financial"),
    ("specialist:entities", "specialist-entities"),
    ("specialist:clauses", "specialist-clauses"),
    ("specialist:metadata", "specialist-metadata"),
    ("assembly", "supervisor-assembler"),
]
