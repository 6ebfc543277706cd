"""Sample document texts for demos and benchmarks: an invoice in German number and
date formats, one in English formats, a supply contract and a letter."""

INVOICE_DE = """ACME Maschinenbau GmbH
Hauptstraße 1, 10115 Berlin
USt-IdNr. DE123456789

Rechnung Nr. RE-2026-0042
Rechnungsdatum: 25.11.2026
Fällig am: 25.12.2026

Rechnungsempfänger:
Globex Trading Ltd
1 Market Street, London

Pos. Beschreibung           Menge   Preis
1    Wartung Q4              1       4.121,80 EUR

Zwischensumme: 4.121,80 EUR
MwSt 19%: 783,14 EUR
Gesamtbetrag: 4.904,94 EUR

Bitte überweisen Sie den Betrag bis zum Fälligkeitsdatum auf IBAN DE89 3704 0044 0532 0130 00.
Kontakt: Frau Anna Schmidt, anna.schmidt@acme.example
"""

INVOICE_EN = """Northwind Logistics Ltd
12 Harbour Road, Southampton SO14 2AQ

INVOICE
Invoice No. NW-88231
Invoice date: November 25, 2026
Due date: 2026-12-27

Bill to:
Umbrella Holdings S.A.
8 Rue du Fort, Luxembourg

Description                      Amount
Freight, Hamburg to Southampton  £3,912.50
Customs handling                   £180.00

Subtotal: £4,092.50
VAT (20%): £818.50
Total due: £4,911.00

Payment within 30 days to IBAN GB29 NWBK 6016 1331 9268 19.
Attn: Mr Peter Grant, accounts@northwind.example
"""

CONTRACT = """MASTER SUPPLY AGREEMENT

This Master Supply Agreement is made on 1 March 2026 between ACME Maschinenbau GmbH (the "Supplier")
and Contoso AG (the "Customer").

1. Term and Renewal. This Agreement shall automatically renew for successive twelve-month terms unless \
either party gives ninety days' written notice.

2. Termination. The Customer may terminate this Agreement only for cause.

3. Liability. The Supplier's liability under this Agreement shall not be limited.

4. Payment. Invoices are payable within 90 days, and late payments bear interest of 2% per month. \
The annual fee is EUR 48.000,00.

5. Confidentiality. Each party shall keep the other's confidential information secret for five years \
after termination.

6. Non-compete. The Customer shall not engage any competing supplier for 24 months after termination.

7. Indemnity. The Supplier shall indemnify the Customer against third-party claims arising from defects.

8. Governing Law. This Agreement is governed by the laws of Switzerland; the courts of Zurich shall have \
exclusive jurisdiction.

Signed by: Maria Keller
"""

LETTER = """Globex Trading Ltd
1 Market Street
London

12 March 2026

Dear Ms Schmidt,

Re: Delivery schedule

Thank you for your letter of 3 March. I am writing to confirm that the spare parts will ship in April,
and that our invoice will follow the delivery.

Kind regards,
John Carter
"""

SAMPLES = {
    "invoice-de.txt": INVOICE_DE,
    "invoice-en.txt": INVOICE_EN,
    "supply-contract.txt": CONTRACT,
    "letter.txt": LETTER,
}
