"""The offline provider's Supervisor and Chain roles: coordinator, specialists,
assembler and chain stages, and the field and layout rules behind them."""

from datetime import date
from decimal import Decimal

import jsonschema
import pytest

from orchestrator.demo.documents import CONTRACT, INVOICE_DE, INVOICE_EN, LETTER
from orchestrator.llm import PermanentError, Request, get_provider
from orchestrator.llm.offline.clauses import split_clauses
from orchestrator.llm.offline.fields import find_amounts, find_ibans, find_parties, parse_date, parse_number
from orchestrator.llm.offline.layout import classify, language, page_count
from orchestrator.patterns import schemas

ALL = ["financial", "entities", "clauses", "metadata"]
REPORT = (
    "Quarterly Operations Report Q3 2026\n\nExecutive Summary\n\n"
    + "Operations in the third quarter exceeded the plan in every region, with throughput up and costs flat. " * 6
    + "\n\nResults\n\n"
    + "Revenue rose in the quarter, and the analysis of the figures shows stable margins across the group. " * 6
    + "\n\nConclusion\nWe recommend continuing the programme.\n"
)
KNOWLEDGE = [
    {"kind": "vendor", "name": "ACME Maschinenbau GmbH", "aliases": ["ACME"], "country": "DE", "risk": "low"},
    {"kind": "counterparty", "name": "Globex Trading Ltd", "aliases": [], "country": "GB", "risk": "medium"},
]


def _complete(role, profile="", schema=None, **inputs):
    request = Request(system="", messages=[{"role": "user", "content": "."}], model="offline-rules", role=role,
                      profile=profile, inputs=inputs)  # fmt: skip
    output = get_provider("offline").complete(request).output
    if schema is not None:
        jsonschema.validate(output, schema)
    return output


# --- numbers and dates ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("4.904,94", "4904.94"), ("4,904.94", "4904.94"), ("4904.94", "4904.94"), ("4904,94", "4904.94"),
        ("4 904,94", "4904.94"), ("4'904.94", "4904.94"), ("1.234.567,8", "1234567.8"), ("12,50", "12.50"),
        ("1,234", "1234"), ("1.234", "1234"), ("783", "783"),
    ],
)  # fmt: skip
def test_numbers_are_read_in_either_convention(raw, value):
    assert parse_number(raw) == Decimal(value)


@pytest.mark.parametrize(
    "raw",
    ["25.11.2026", "2026-11-25", "25 November 2026", "25. November 2026", "November 25, 2026", "25/11/2026",
     "11/25/2026", "25 novembre 2026", "25. Nov. 2026", "25 de noviembre de 2026"],
)  # fmt: skip
def test_dates_are_read_in_several_formats_and_languages(raw):
    assert parse_date(raw) == date(2026, 11, 25)


def test_an_ambiguous_numeric_date_is_read_day_first_unless_told_otherwise():
    assert parse_date("03/04/2026") == date(2026, 4, 3)
    assert parse_date("03/04/2026", day_first=False) == date(2026, 3, 4)


def test_amounts_need_a_currency_or_a_label_and_skip_rates_and_durations():
    amounts = find_amounts("Fees are due within 30 days.\nMwSt 19%: 783,14 EUR\nTotal: 1.000,00\nfor 24 months")
    assert [(a.raw, a.label) for a in amounts] == [("783,14", "tax"), ("1.000,00", "total")]


def test_ibans_are_checked():
    assert find_ibans("IBAN DE89 3704 0044 0532 0130 00 and DE00 3704 0044 0532 0130 00") == [
        "DE89 3704 0044 0532 0130 00"
    ]


# --- the coordinator ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "doc_type"),
    [(INVOICE_DE, "invoice"), (INVOICE_EN, "invoice"), (CONTRACT, "contract"), (LETTER, "correspondence"),
     (REPORT, "report"), ("Shopping list: eggs, milk.", "other")],
)  # fmt: skip
def test_the_coordinator_classifies_by_keywords_and_layout(document, doc_type):
    output = _complete("coordinator", document=document, specialists=ALL, schema=schemas.CLASSIFICATION)
    assert output["doc_type"] == doc_type
    assert output["signals"]


def test_the_coordinator_plans_only_specialists_the_pipeline_has():
    output = _complete("coordinator", document=CONTRACT, specialists=["entities", "clauses"])
    assert [item["specialist"] for item in output["plan"]] == ["clauses", "entities"]
    output = _complete("coordinator", document=INVOICE_DE, specialists=ALL)
    assert [item["specialist"] for item in output["plan"]] == ["financial", "entities", "metadata"]


def test_layout_alone_can_make_the_call():
    doc_type, _, signals = classify(
        "1. Scope. A.\n2. Term. B.\n3. Price. C.\n4. Law. D.\nhereinafter the parties agree"
    )
    assert doc_type == "contract" and any("numbered clauses" in signal for signal in signals)


# --- specialists ------------------------------------------------------------------


def test_financial_reads_the_german_invoice():
    output = _complete("specialist", "financial", document=INVOICE_DE, schema=schemas.FINANCIAL)
    assert output["fields"] == {
        "invoice_number": "RE-2026-0042", "issue_date": "2026-11-25", "due_date": "2026-12-25",
        "total": 4904.94, "net": 4121.8, "tax": 783.14, "currency": "EUR",
        "vendor": "ACME Maschinenbau GmbH", "customer": "Globex Trading Ltd",
    }  # fmt: skip


def test_financial_reads_the_english_invoice():
    fields = _complete("specialist", "financial", document=INVOICE_EN, schema=schemas.FINANCIAL)["fields"]
    assert (fields["total"], fields["currency"], fields["issue_date"]) == (4911, "GBP", "2026-11-25")


def test_entities_finds_parties_people_emails_and_ibans():
    output = _complete("specialist", "entities", document=INVOICE_DE, schema=schemas.ENTITIES)
    assert {"name": "Globex Trading Ltd", "role": "customer"} in output["parties"]
    assert output["people"] == ["Anna Schmidt"]
    assert output["emails"] == ["anna.schmidt@acme.example"]
    assert output["ibans"] == ["DE89 3704 0044 0532 0130 00"]


def test_contract_parties_come_with_their_roles():
    assert find_parties(CONTRACT) == [
        {"name": "ACME Maschinenbau GmbH", "role": "supplier"},
        {"name": "Contoso AG", "role": "customer"},
    ]


def test_clauses_are_split_by_numbering_and_typed():
    output = _complete("specialist", "clauses", document=CONTRACT, schema=schemas.CLAUSES)
    by_number = {clause["number"]: clause for clause in output["clauses"]}
    assert list(by_number) == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert by_number["1"]["heading"] == "Term and Renewal" and by_number["1"]["types"] == ["auto_renewal"]
    assert by_number["4"]["types"] == ["payment_terms"]
    assert by_number["7"]["types"] == ["indemnity"]
    assert by_number["8"]["types"] == ["governing_law"]
    assert by_number["5"]["text"].startswith("5. Confidentiality.")


def test_clauses_without_numbering_are_split_at_headings():
    text = "TERMINATION\nEither party may terminate at any time.\n\nGoverning Law\nThe laws of Ireland apply."
    clauses = split_clauses(text)
    assert [(c.heading, c.types) for c in clauses] == [
        ("TERMINATION", ["termination"]),
        ("Governing Law", ["governing_law"]),
    ]


def test_metadata_tags_language_title_and_length():
    output = _complete(
        "specialist", "metadata", document=INVOICE_DE, document_info={"page_count": 2}, schema=schemas.METADATA
    )
    assert output["language"] == "de" and output["page_count"] == 2
    assert output["title"] == "ACME Maschinenbau GmbH" and output["word_count"] > 50
    assert language(CONTRACT) == "en" and language("Le contrat est signé par les parties et la société.") == "fr"
    assert page_count("Page 1 of 3\n...\nPage 3 of 3", None) == 3 and page_count("no pages", None) is None


def test_an_unknown_specialist_profile_is_a_permanent_error():
    with pytest.raises(PermanentError, match="no profile 'tax'"):
        _complete("specialist", "tax", document=INVOICE_DE)


# --- the assembler -------------------------------------------------------------------


def test_the_assembler_lists_every_field_with_its_source_first_come_first_served():
    outputs = {
        "financial": {"fields": {"total": 1, "currency": "EUR"}, "amounts": []},
        "metadata": {"language": "de", "title": "T", "page_count": None, "word_count": 3},
        "clauses": {"pattern": "debate", "stand_in": True, "findings": [{"title": "F"}], "counts": {}},
        "late": {"fields": {"total": 2}},
    }
    output = _complete("assembler", doc_type="invoice", outputs=outputs, missing=["entities"], schema=schemas.ASSEMBLY)
    sources = {item["name"]: (item["value"], item["source"]) for item in output["fields"]}
    assert sources["total"] == (1, "financial")
    assert sources["language"] == ("de", "metadata")
    assert sources["findings"] == ([{"title": "F"}], "clauses")
    assert "pattern" not in sources and "counts" not in sources
    assert output["summary"].endswith("Missing: entities.")


# --- chain stages -------------------------------------------------------------------


def _chain(document, normalizer="normalize", knowledge=KNOWLEDGE):
    extracted = _complete("stage", "extract", document=document, record={}, schema=schemas.EXTRACTED)
    jsonschema.validate(extracted, schemas.NORMALIZE_INPUT)
    normalized = _complete("stage", normalizer, document=document, record=extracted, schema=schemas.NORMALIZED)
    enriched = _complete("stage", "enrich", document=document, record=normalized, knowledge=knowledge)
    jsonschema.validate(enriched, schemas.ENRICHED)
    formatted = _complete("stage", "format", document=document, record=enriched, schema=schemas.FORMATTED)
    return extracted, normalized, enriched, formatted


def test_extract_keeps_values_as_written_and_normalize_reads_them():
    extracted, normalized, _, _ = _chain(INVOICE_DE)
    assert extracted["fields"]["total"] == "4.904,94" and extracted["fields"]["issue_date"] == "25.11.2026"
    assert extracted["evidence"]["total"] == "Gesamtbetrag: 4.904,94 EUR"
    assert normalized["fields"]["total"] == 4904.94 and normalized["fields"]["issue_date"] == "2026-11-25"
    assert "total: '4.904,94' read as 4904.94" in normalized["notes"]


def test_the_naive_normalizer_misreads_a_decimal_comma():
    _, normalized, _, _ = _chain(INVOICE_DE, normalizer="normalize-naive")
    assert normalized["fields"]["total"] == 4.90494


def test_enrich_matches_parties_by_name_or_alias_from_the_knowledge_it_is_handed():
    knowledge = [{**KNOWLEDGE[0], "name": "Acme Maschinenbau", "aliases": ["ACME Maschinenbau GmbH"]}]
    _, _, enriched, formatted = _chain(INVOICE_DE, knowledge=knowledge)
    assert enriched["fields"]["vendor"] == "Acme Maschinenbau"
    assert (enriched["fields"]["vendor_country"], enriched["fields"]["vendor_risk"]) == ("DE", "low")
    assert enriched["fields"]["customer_risk"] is None
    assert "The customer Globex Trading Ltd is not in the knowledge base." in formatted["warnings"]


def test_format_summarises_and_warns_when_the_sums_do_not_add_up():
    record = {"fields": {"invoice_number": "X-1", "total": 100, "net": 80, "tax": 10, "currency": "EUR"}}
    output = _complete("stage", "format", document="", record=record, schema=schemas.FORMATTED)
    assert output["summary"] == "Invoice X-1: EUR 100.00."
    assert "Net 80 plus tax 10 is not the total 100." in output["warnings"]


def test_an_unknown_stage_profile_is_a_permanent_error():
    with pytest.raises(PermanentError, match="no profile 'translate'"):
        _complete("stage", "translate", document=INVOICE_DE)
