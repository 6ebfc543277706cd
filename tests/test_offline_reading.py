"""The offline stand-in's reading rules on short snippets: for each clause type a
clause that is there, one that is not, and a mere mention that is no clause; and
invoice fields in each layout and language the rules read."""

from datetime import date
from decimal import Decimal

import pytest

from orchestrator.llm.offline import clauses, fields


def _types(text: str) -> set[str]:
    return {hit.rule.type for _, _, hit in clauses.read(text)}


def _tier(text: str, kind: str) -> int | None:
    tiers = [hit.tier for _, _, hit in clauses.read(text) if hit.rule.type == kind]
    return max(tiers) if tiers else None


# --- clause types: present, absent, mentioned -------------------------------------

PRESENT = {
    "auto_renewal": [
        "The licence renews automatically for further one-year periods unless cancelled.",
        "Der Vertrag verlängert sich um jeweils ein Jahr, wenn er nicht gekündigt wird.",
        "Le bail est reconduit tacitement d'année en année.",
        "El servicio se prorrogará tácitamente por periodos de seis meses.",
        "De overeenkomst wordt stilzwijgend verlengd met telkens één jaar.",
    ],
    "termination": [
        "The Client may terminate this agreement on thirty days' written notice.",
        "Either party may end this contract by giving two months' notice.",
        "Der Mieter kann den Vertrag mit einer Frist von drei Monaten kündigen.",
        "Chaque partie pourra résilier le contrat par lettre recommandée.",
        "La empresa podrá resolver el contrato si el proveedor incumple.",
        "Elke partij kan de overeenkomst opzeggen met inachtneming van een opzegtermijn van een maand.",
    ],
    "liability_cap": [
        "The Contractor's total liability shall not exceed twice the contract price.",
        "Neither party is liable for any indirect or consequential damage.",
        "Die Haftung ist auf den Auftragswert begrenzt.",
        "La responsabilité du vendeur est limitée au prix de la commande.",
        "De aansprakelijkheid is beperkt tot het factuurbedrag.",
    ],
    "unlimited_liability": [
        "The Supplier's liability for data breaches shall not be limited.",
        "The caps in this clause do not apply to claims under the indemnity in clause 9.",
    ],
    "indemnity": [
        "The Agency shall indemnify the Brand against all claims arising from its campaigns.",
        "The Customer will defend the Provider against any claim brought by its end users.",
        "Der Lieferant stellt den Besteller von Ansprüchen Dritter frei.",
        "De opdrachtnemer vrijwaart de opdrachtgever voor aanspraken van derden.",
    ],
    "governing_law": [
        "This contract shall be governed by the laws of the State of New York.",
        "Es gilt österreichisches Recht.",
        "Le présent accord est soumis au droit belge.",
        "Este acuerdo se rige por las leyes de México.",
        "Op deze overeenkomst is Belgisch recht van toepassing.",
    ],
    "confidentiality": [
        "The Consultant shall keep all client data strictly confidential.",
        "The Recipient shall not disclose the Confidential Information to any third party.",
        "Der Berater wird alle Informationen vertraulich behandeln.",
        "Le prestataire s'engage à une stricte confidentialité.",
        "Las partes mantendrán la información en estricta confidencialidad.",
    ],
    "non_compete": [
        "For one year after leaving, the Seller shall not carry on any business in competition with the Buyer.",
        "During the term the Franchisee will not operate or be engaged in any competing restaurant.",
        "Der Geschäftsführer unterliegt einem Wettbewerbsverbot von zwei Jahren.",
        "Le cédant s'interdit toute activité concurrente pendant trois ans.",
        "Het personeelslid is gebonden aan een concurrentiebeding.",
    ],
    "payment_terms": [
        "The Buyer shall pay each invoice within 30 days of receipt.",
        "Fees are invoiced quarterly in advance.",
        "Die Rechnungen sind innerhalb von 10 Tagen zahlbar.",
        "Les factures sont payables à 30 jours.",
        "El cliente pagará mediante transferencia dentro de los quince días siguientes.",
        "Betaling dient te geschieden binnen 14 dagen na factuurdatum.",
    ],
}

# Sentences that name a type's topic without being such a clause.
MENTIONS = {
    "auto_renewal": ["The Tenant may request a new lease on renewal terms to be agreed.", "Renewal is not automatic."],
    "termination": ["On termination the Licensee shall return all copies.", "The termination date is 1 May."],
    "liability_cap": [
        "The Contractor shall hold public liability insurance of £5 million.",
        "Each party remains liable for its own staff.",
        "Deze overeenkomst laat de aansprakelijkheid van partijen onverlet.",
    ],
    "unlimited_liability": ["Liability is dealt with in clause 12."],
    "indemnity": [
        "The indemnity in clause 9 survives.",
        "Une indemnité de 40 euros est due pour frais de recouvrement.",
    ],
    "governing_law": ["Interest accrues at the highest rate permitted by law.", "Statutory sick pay applies."],
    "confidentiality": ["The envelope was marked confidential by the courier."],
    "non_compete": [
        "The Distributor is appointed exclusive distributor for Norway.",
        "We chose the supplier after a competitive tender, for its competitive prices.",
        "Neither party shall solicit the other's employees for twelve months.",
        "Each party remains free to develop similar products.",
    ],
    "payment_terms": ["The price list is attached as Annex A.", "Samples are supplied free of charge."],
}


@pytest.mark.parametrize(
    ("kind", "sentence"), [(kind, sentence) for kind, sentences in PRESENT.items() for sentence in sentences]
)
def test_a_clause_of_the_type_is_found(kind, sentence):
    assert kind in _types(sentence)


@pytest.mark.parametrize(
    ("kind", "sentence"), [(kind, sentence) for kind, sentences in MENTIONS.items() for sentence in sentences]
)
def test_a_mention_is_no_clause(kind, sentence):
    assert kind not in _types(sentence)


@pytest.mark.parametrize("kind", sorted(PRESENT))
def test_an_unrelated_clause_is_not_taken_for_the_type(kind):
    unrelated = "The Supplier shall deliver the goods to the Customer's warehouse in Rotterdam. Delivery is DAP."
    assert kind not in _types(unrelated)


def test_a_heading_names_the_clause_of_the_sentences_under_it():
    text = "9. Restrictive covenants\n9.1 For twelve months the Employee will not work for a competitor.\n"
    plain = "For twelve months the Employee will not work for a competitor."

    assert "non_compete" in _types(text)
    assert "non_compete" in _types(plain)  # the wording carries it on its own too
    assert "confidentiality" in _types("CONFIDENTIALITY\nNo information about the project may be disclosed.")
    assert "confidentiality" not in _types("GENERAL\nNo information about the project is given here.")


@pytest.mark.parametrize(
    ("text", "kind", "tier"),
    [
        ("This agreement shall automatically renew for successive terms.", "auto_renewal", clauses.DEFINITE),
        ("The Customer may terminate only for material breach.", "termination", clauses.DEFINITE),
        ("The Supplier may terminate this Agreement on reasonable notice.", "termination", clauses.HEDGED),
        ("Either party may terminate this Agreement on 60 days' written notice.", "termination", clauses.PRESENT),
        ("The Supplier's liability shall not exceed the fees paid.", "liability_cap", clauses.PRESENT),
        # The law leaves it uncapped whatever the contract says: there, but no issue.
        ("Nothing in this Agreement limits liability for death or fraud.", "unlimited_liability", clauses.PRESENT),
        ("Liability for breach of clause 8 shall not be limited.", "unlimited_liability", clauses.DEFINITE),
        ("The Agent shall indemnify the Owner against all losses arising from the works.", "indemnity",
         clauses.DEFINITE),
        ("The Licensor shall indemnify the Licensee for third-party patent claims.", "indemnity", clauses.HEDGED),
        ("The courts of Paris have exclusive jurisdiction.", "governing_law", clauses.DEFINITE),
        ("This Agreement is governed by Irish law.", "governing_law", clauses.PRESENT),
        ("The duty to keep information confidential continues indefinitely.", "confidentiality", clauses.DEFINITE),
        ("The Recipient shall use reasonable efforts to keep the data confidential.", "confidentiality",
         clauses.HEDGED),
        ("Invoices are payable within 90 days of receipt.", "payment_terms", clauses.DEFINITE),
        ("Overdue amounts bear interest at 8% per annum.", "payment_terms", clauses.DEFINITE),
        ("Invoices are payable within 30 days of receipt.", "payment_terms", clauses.PRESENT),
    ],
)  # fmt: skip
def test_clauses_are_graded_by_what_the_rubric_would_say(text, kind, tier):
    assert _tier(text, kind) == tier


# --- invoices: layouts and languages -----------------------------------------------

SAME_LINE_EN = """Hollow Oak Joinery Ltd
3 Mill Street, Bath BA1 1AA

Invoice No.: HOJ-0311
Invoice date: 12 March 2026
Order date: 2 March 2026
Due date: 11 April 2026

Bill to: Crescent Dental Ltd

Oak shelving, fitted            £1,200.00
Subtotal                        £1,200.00
VAT 20%                           £240.00
Total                           £1,440.00
"""

LABEL_ABOVE_DE = """Glaserei Brandl GmbH · Ringstraße 4 · 80331 München

An
Café Isartor
Isartorplatz 1
80331 München
                                          Rechnungsnummer
                                          R-7781
                                          Lieferdatum
                                          03.03.2026
                                          Rechnungsdatum
                                          05.03.2026

Pos. Leistung                    Betrag
1    Schaufensterscheibe         1.820,00 €
Nettobetrag                      1.820,00 €
19 % USt.                          345,80 €
Rechnungsbetrag                  2.165,80 €
"""

TABLE_FR = """FACTURE

Client : Librairie des Quais, Bordeaux

N° de facture     Date de commande     Date de facture     Échéance
F-0412            02/02/2026           09/02/2026          11/03/2026

Désignation                          Montant
Étagères sur mesure                  2 400,00 €
Total HT                             2 400,00 €
TVA 20 %                               480,00 €
Total TTC                            2 880,00 €

Menuiserie Garnier SARL – 12 rue Sainte-Catherine, 33000 Bordeaux – TVA FR 12 345678901
"""

PIPE_TABLE_ES = """Factura

| Nº Factura | Fecha de pedido | Fecha emisión |
|------------|-----------------|---------------|
| B-0098     | 01/06/2026      | 15/06/2026    |

| Concepto            | Importe    |
| Reparación tejado   | 950,00     |
| Base imponible      | 950,00     |
| IVA 21%             | 199,50     |
| TOTAL               | 1.149,50 € |

Cubiertas Navarro, S.L. · CIF B31234567 · IBAN ES91 2100 0418 4502 0005 1332
"""

TWO_COLUMNS_NL = """Schildersbedrijf Visser                     Factuur
Kerkstraat 8                                Factuurnummer: 2026-031
2011 AB Haarlem                             Factuurdatum: 18-05-2026
                                            Vervaldatum: 17-06-2026
Aan: Tandartspraktijk Molenaar

Schilderwerk praktijkruimte                      € 3.150,00
BTW 21%                                            € 661,50
Totaal te betalen                                € 3.811,50

KvK 12345678 · BTW NL001234567B01
"""

US_IT_SAME_LINE = [
    (
        """Sunrise Plumbing Inc.
Invoice #: 5521        Date: 04/03/2026
PO Date: 03/28/2026    Due: 05/03/2026
Total                  $860.00
""",
        "Sunrise Plumbing Inc.",
        "5521",
        date(2026, 4, 3),
        Decimal("860.00"),
        "USD",
    ),
    (
        """Ferramenta Bellini S.r.l.
Fattura n. 77/2026 del 21/07/2026
Imponibile                      1.000,00
IVA 22%                           220,00
Totale fattura             € 1.220,00
""",
        "Ferramenta Bellini S.r.l.",
        "77/2026",
        date(2026, 7, 21),
        Decimal("1220.00"),
        "EUR",
    ),
]


@pytest.mark.parametrize(
    ("text", "vendor", "number", "issued", "total", "currency"),
    [
        (SAME_LINE_EN, "Hollow Oak Joinery Ltd", "HOJ-0311", date(2026, 3, 12), Decimal("1440.00"), "GBP"),
        (LABEL_ABOVE_DE, "Glaserei Brandl GmbH", "R-7781", date(2026, 3, 5), Decimal("2165.80"), "EUR"),
        (TABLE_FR, "Menuiserie Garnier SARL", "F-0412", date(2026, 2, 9), Decimal("2880.00"), "EUR"),
        (PIPE_TABLE_ES, "Cubiertas Navarro, S.L.", "B-0098", date(2026, 6, 15), Decimal("1149.50"), "EUR"),
        (TWO_COLUMNS_NL, "Schildersbedrijf Visser", "2026-031", date(2026, 5, 18), Decimal("3811.50"), "EUR"),
        *US_IT_SAME_LINE,
    ],
    ids=["label-beside-en", "label-above-de", "table-header-fr", "pipe-table-es", "two-columns-nl", "us-dates",
         "same-line-it"],
)  # fmt: skip
def test_invoice_fields_are_read_by_label_and_layout(text, vendor, number, issued, total, currency):
    reading = fields.read_invoice(text)

    assert reading.vendor == vendor
    assert reading.number[0] == number
    assert reading.issue.value == issued
    assert reading.amounts["total"].value == total
    assert reading.currency[0] == currency


def test_order_delivery_and_due_dates_are_not_the_invoice_date():
    labels = {found.raw: found.label for found in fields.find_dates(SAME_LINE_EN)}
    assert labels == {"12 March 2026": "issue", "2 March 2026": "order", "11 April 2026": "due"}
    above = {found.raw: found.label for found in fields.find_dates(LABEL_ABOVE_DE)}
    assert above == {"03.03.2026": "delivery", "05.03.2026": "issue"}


def test_the_customer_is_not_taken_for_the_issuer():
    text = "INVOICE\nInvoice No. 7\nBill to:\nNorthgate Hotels Ltd\n\nTotal £90.00\n\nPayable to Quayside Laundry Ltd"
    assert fields.read_invoice(text).vendor == "Quayside Laundry Ltd"
    assert fields.read_invoice(text).customer == "Northgate Hotels Ltd"


def test_a_co_ltd_is_named_whole():
    text = "Shenzhen Brightpath Electronics Co., Ltd.\n深圳市明途电子有限公司\nINVOICE\nInvoice No.: BP-7\n"
    text += "Total  USD 7,470.00"
    assert fields.read_invoice(text).vendor == "Shenzhen Brightpath Electronics Co., Ltd."


def test_the_last_total_line_wins_over_section_totals_and_payment_sentences():
    text = (
        "Invoice No: 9\nLabour\n  Total labour  $500.00\nParts\n  Total parts  $120.00\n"
        "Total amount due  $620.00\nPay the total amount within 30 days to IBAN DE89 3704 0044 0532 0130 00."
    )
    assert fields.read_invoice(text).amounts["total"].value == Decimal("620.00")


# The invoice total, a payment or withholding made before it was due, and what is left to pay.
PAID_BEFORE = [
    ("Invoice Total AUD   20,147.60\nLess Amount Paid     5,000.00\nAMOUNT DUE AUD      15,147.60", "20147.60"),
    ("Total   $4,665.20\nPayments/Credits   -$1,500.00\nBalance Due   $3,165.20", "4665.20"),
    ("Total amount due  £2,400.00\nLess deposit received  £600.00\nBalance due  £1,800.00", "2400.00"),
    ("Rechnungsbetrag  34.605,20 €\nabzüglich Abschlagszahlung vom 12.06.2026  -15.000,00 €\n"
     "Noch zu zahlen  19.605,20 €", "34605.20"),
    ("Gesamtbetrag  5.950,00 EUR\nbereits gezahlt  2.000,00 EUR\nRestbetrag  3.950,00 EUR", "5950.00"),
    ("Total TTC  16 080,00 €\nAcompte versé le 15/06/2026  4 824,00 €\nNet à payer  11 256,00 €", "16080.00"),
    ("Total TTC  1 200,00 €\nDéjà réglé  200,00 €\nReste à payer  1 000,00 €", "1200.00"),
    ("Total factura  10.285,00 €\nAnticipo recibido  3.000,00 €\nTotal a pagar  7.285,00 €", "10285.00"),
    ("Totale documento  € 31.232,00\nAcconto già versato  € 10.000,00\nTotale da pagare  € 21.232,00", "31232.00"),
    ("Totaal incl. btw  € 21.598,50\nReeds betaald (aanbetaling)  € 6.000,00\nNog te betalen  € 15.598,50", "21598.50"),
    ("Totaalbedrag  € 900,00\nVoorschot  € 300,00\nTe betalen  € 600,00", "900.00"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "total"),
    PAID_BEFORE,
    ids=["en-au", "en-us", "en-gb", "de-abschlag", "de-restbetrag", "fr-acompte", "fr-reste", "es", "it",
         "nl-aanbetaling", "nl-voorschot"],
)  # fmt: skip
def test_the_invoice_total_is_not_what_is_left_after_a_payment(lines, total):
    text = f"INVOICE\nInvoice No. 77\nInvoice date: 3 March 2026\n{lines}\n"
    assert fields.read_invoice(text).amounts["total"].value == Decimal(total)


def test_with_nothing_paid_the_amount_due_is_the_total():
    text = "INVOICE\nInvoice No. 78\nSubtotal  £1,000.00\nVAT 20%  £200.00\nBalance due  £1,200.00\n"
    assert fields.read_invoice(text).amounts["total"].value == Decimal("1200.00")


# --- long documents as PDF extraction gives them ------------------------------------

FOOTER = "Services Agreement – Acme / Birch – CONFIDENTIAL          Page {} of 3"
PAGED = "\n".join(
    [
        "4. SUPPLIER OBLIGATIONS",
        "4.1 The Supplier shall perform the Services with reasonable skill and care.",
        FOOTER.format(1),
        "",
        "4.2 The Supplier shall share information with the Customer's other suppliers when asked.",
        "4.3 The Supplier shall keep its staff vetted.",
        FOOTER.format(2),
        "",
        "16. LIMITATION OF LIABILITY",
        "16.4 The limitations in clauses 16.2 and 16.3 do not apply to the Supplier's liability under",
        "clause 12 (Data Protection).",
        "21. DISPUTES",
        "21.2 Any dispute shall be referred to and finally resolved by arbitration under the LCIA Rules.",
        FOOTER.format(3),
    ]
)


def test_a_running_footer_is_neither_a_heading_nor_part_of_a_quote():
    from orchestrator.llm.offline.provider import advocate

    # The footer says CONFIDENTIAL on every page: the sentences after it are no confidentiality clause.
    assert "confidentiality" not in _types(PAGED)
    quotes = [finding["evidence"] for finding in advocate(PAGED, clauses.PRESENT)["findings"]]
    assert quotes and not any("Page" in quote or "CONFIDENTIAL" in quote for quote in quotes)
    assert all(quote in PAGED for quote in quotes)


def test_a_clause_number_inside_a_sentence_does_not_end_it():
    # "clauses 16.2 and 16.3": the carve-out from the cap is read whole, as a definite issue.
    assert _tier(PAGED, "unlimited_liability") == clauses.DEFINITE


def test_a_dispute_finally_resolved_by_arbitration_is_bound_to_one_forum():
    assert _tier(PAGED, "governing_law") == clauses.DEFINITE
    assert _tier("Any dispute shall be submitted to arbitration in Geneva.", "governing_law") == clauses.DEFINITE


def test_a_french_lease_ends_by_congé_or_by_forfeiture():
    assert "termination" in _types("Le Preneur aura la faculté de donner congé à l'expiration de chaque période.")
    assert "termination" in _types("À défaut de paiement, le bail sera résilié de plein droit.")


def test_a_cap_that_does_not_limit_liability_for_death_is_the_uncapped_liability_the_law_requires():
    text = "6.1 Liability is limited to £15,000.\n6.2 This does not limit liability for death or personal injury."
    assert _tier(text, "unlimited_liability") == clauses.PRESENT
