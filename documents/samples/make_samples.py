"""Writes the three sample documents next to this file. The outputs are kept
in the repository; run this again only to change them:

    .venv/bin/python documents/samples/make_samples.py
"""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import docx
from fpdf import FPDF

HERE = Path(__file__).resolve().parent

SUPPLY_AGREEMENT = [
    (
        None,
        'This Supply Agreement (the "Agreement") is made on 1 March 2024 between Northwind Components Ltd, '
        "a company registered in England and Wales under number 04512877 whose registered office is at "
        '14 Dockside Way, Bristol BS1 6XN (the "Supplier"), and Harbour Retail Group plc, a company registered '
        "in England and Wales under number 02199634 whose registered office is at 200 Quay Street, "
        'Manchester M3 3HN (the "Customer").',
    ),
    (
        "1. Definitions and Interpretation",
        '1.1 In this Agreement, "Goods" means the electronic components listed in Schedule 1, and "Order" '
        "means a written purchase order for Goods issued by the Customer and accepted by the Supplier.\n"
        "1.2 Headings are for convenience only and do not affect the interpretation of this Agreement.",
    ),
    (
        "2. Supply of Goods",
        "2.1 The Supplier shall supply the Goods to the Customer in accordance with each accepted Order.\n"
        "2.2 The Supplier shall deliver the Goods to the Customer's distribution centre in Warrington within "
        "ten business days of accepting an Order.",
    ),
    (
        "3. Term and Renewal",
        "3.1 This Agreement shall commence on 1 March 2024 and continue for an initial term of 12 months.\n"
        "3.2 This Agreement shall renew automatically for successive 12-month terms unless either party gives "
        "the other at least 90 days' written notice of non-renewal before the end of the then-current term.",
    ),
    (
        "4. Price and Payment",
        "4.1 The price of the Goods shall be the price set out in Schedule 1, exclusive of VAT.\n"
        "4.2 The Customer shall pay each invoice within 90 days of the date of the invoice (net 90).\n"
        "4.3 Any amount not paid when due shall bear interest at 2% per month from the due date until the date "
        "of payment in full, compounded monthly.",
    ),
    (
        "5. Liability",
        "5.1 The Supplier's liability under or in connection with this Agreement, whether arising in contract, "
        "tort (including negligence), breach of statutory duty or otherwise, shall not be limited.\n"
        "5.2 The Supplier shall have unlimited liability for all losses, damages, costs and expenses suffered "
        "by the Customer, including indirect and consequential losses and loss of profit.",
    ),
    (
        "6. Confidentiality",
        "6.1 Each party shall keep confidential all technical and commercial information disclosed to it by "
        "the other party and shall use it only to perform this Agreement.\n"
        "6.2 The obligations in this clause 6 shall survive termination or expiry of this Agreement for a "
        "period of 5 years.",
    ),
    (
        "7. Non-Competition",
        "7.1 During the term of this Agreement and for 24 months after its termination or expiry, the Supplier "
        "shall not supply goods of the same or a similar description to any competitor of the Customer within "
        "the United Kingdom.",
    ),
    (
        "8. Termination",
        "8.1 Either party may terminate this Agreement only for cause, namely a material breach by the other "
        "party which that party fails to remedy within 30 days of receiving written notice of it.\n"
        "8.2 Neither party may terminate this Agreement for convenience.",
    ),
    (
        "9. Governing Law and Jurisdiction",
        "9.1 This Agreement and any dispute or claim arising out of or in connection with it shall be governed "
        "by and construed in accordance with the laws of England and Wales.\n"
        "9.2 The courts of England and Wales shall have exclusive jurisdiction to settle any such dispute or "
        "claim.",
    ),
    (
        "10. General",
        "10.1 This Agreement constitutes the entire agreement between the parties and supersedes all previous "
        "agreements relating to its subject matter.\n"
        "10.2 Neither party may assign this Agreement without the prior written consent of the other party.\n"
        "10.3 Notices under this Agreement shall be in writing and delivered to the registered office of the "
        "receiving party.",
    ),
    (
        "Signed",
        "For and on behalf of Northwind Components Ltd: Eleanor Hughes, Managing Director.\n"
        "For and on behalf of Harbour Retail Group plc: Rajesh Patel, Chief Procurement Officer.",
    ),
]

SERVICES_AGREEMENT = [
    (
        None,
        'This Master Services Agreement (the "Agreement") is entered into on 15 April 2024 between the '
        "parties named in the table below.",
    ),
    (
        "1. Services",
        "1.1 The Consultant will provide the consulting services described in each Statement of Work, as the "
        "parties may agree from time to time.\n"
        "1.2 The Consultant will use reasonable endeavours to meet any timetable set out in a Statement of Work.",
    ),
    (
        "2. Term and Renewal",
        "2.1 This Agreement starts on the date above and continues for one year.\n"
        "2.2 The Agreement may renew for a further period if the parties so wish, and either party may give "
        "reasonable notice that it does not wish to renew.",
    ),
    (
        "3. Fees and Payment",
        "3.1 The Client will pay the fees set out in each Statement of Work.\n"
        "3.2 The Client will make payment within a reasonable time after receiving a correct invoice.",
    ),
    (
        "4. Liability",
        "4.1 Liability may be limited as agreed between the parties, which may be recorded in the relevant "
        "Statement of Work.\n"
        "4.2 Neither party intends to be liable for losses that could not reasonably have been foreseen.",
    ),
    (
        "5. Confidentiality",
        "5.1 The parties will endeavour to keep information confidential where this is appropriate.\n"
        "5.2 Information that is already generally known may be treated as not confidential.",
    ),
    (
        "6. Data Protection",
        "6.1 The Consultant should use commercially reasonable efforts to protect any personal data it "
        "receives from the Client.",
    ),
    (
        "7. Termination",
        "7.1 Either party may terminate this Agreement on reasonable notice where circumstances make this appropriate.",
    ),
    (
        "8. Governing Law",
        "8.1 This Agreement is intended to be governed by the laws that apply at the Client's principal place "
        "of business from time to time.",
    ),
]

SERVICES_PARTIES = [
    ("Party", "Role", "Address"),
    ("Brightline Consulting LLP", "Consultant", "8 Lantern Court, Leeds LS1 4DY"),
    ("Meridian Logistics Ltd", "Client", "Unit 5, Portside Park, Southampton SO14 3TJ"),
]

INVOICE_LINES = [
    ("HX-20", "Hydraulic hose assembly, 20 mm", 25, "pcs", Decimal("48.90")),
    ("SF-8", "Stainless steel fittings kit, 8 pieces", 40, "kits", Decimal("31.25")),
    ("PG-160", "Pressure gauge 0-160 bar", 12, "pcs", Decimal("84.60")),
    ("SRV-CAL", "On-site calibration service", 5, "h", Decimal("119.95")),
]
VAT_RATE = Decimal("0.20")


def write_supply_agreement(path: Path) -> None:
    pdf = FPDF(format="A4")
    # A fixed date keeps the file (and its SHA-256) the same on every run.
    pdf.set_creation_date(dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC))
    pdf.set_title("Supply Agreement - Northwind Components Ltd and Harbour Retail Group plc")
    pdf.set_margins(22, 20, 22)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "SUPPLY AGREEMENT", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(4)
    for heading, body in SUPPLY_AGREEMENT:
        if heading:
            pdf.set_font("Helvetica", "B", 12)
            pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for paragraph in body.split("\n"):
            pdf.multi_cell(0, 5.5, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        pdf.ln(2)
    pdf.output(str(path))


def write_services_agreement(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Master Services Agreement"
    document.core_properties.author = "Brightline Consulting LLP"
    document.core_properties.created = dt.datetime(2024, 4, 15, 9, 0)
    document.core_properties.modified = dt.datetime(2024, 4, 15, 9, 0)
    document.add_heading("MASTER SERVICES AGREEMENT", level=0)
    for index, (heading, body) in enumerate(SERVICES_AGREEMENT):
        if heading:
            document.add_heading(heading, level=1)
        for paragraph in body.split("\n"):
            document.add_paragraph(paragraph)
        if index == 0:
            table = document.add_table(rows=0, cols=3)
            table.style = "Table Grid"
            for row in SERVICES_PARTIES:
                cells = table.add_row().cells
                for cell, value in zip(cells, row, strict=True):
                    cell.text = value
    document.add_paragraph("Signed for the Consultant by Oliver Grant, Partner, and for the Client by Hannah Ward.")
    document.save(str(path))


def _eu(amount: Decimal) -> str:
    """1234.5 -> 1.234,50, the way the supplier (in Austria) writes amounts."""
    return f"{amount:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def write_invoice(path: Path) -> None:
    rows = []
    subtotal = Decimal(0)
    for code, description, quantity, unit, price in INVOICE_LINES:
        amount = price * quantity
        subtotal += amount
        rows.append(f"{code:<8} {description:<40} {quantity:>4} {unit:<5} {_eu(price):>10} {_eu(amount):>12}")
    vat = (subtotal * VAT_RATE).quantize(Decimal("0.01"))
    total = subtotal + vat
    text = f"""ACME Industrial Supplies GmbH
Industriestrasse 42, 1230 Vienna, Austria
VAT ID: ATU12345678 | Company register: FN 123456x, Commercial Court Vienna
billing@acme-industrial.example | +43 1 234 5678

INVOICE

Invoice number:   2024-117
Invoice date:     5 November 2024
Delivery date:    31 October 2024
Due date:         5 December 2024
Customer number:  C-0482
Purchase order:   HRG-PO-77310

Bill to:
Harbour Retail Group plc
Accounts Payable
200 Quay Street
Manchester M3 3HN
United Kingdom
VAT number: GB 123 4567 89

All amounts are in euro (EUR).

Item     Description                              Qty  Unit  Unit price       Amount
{chr(10).join(rows)}

                                                           Subtotal (net): {_eu(subtotal):>12}
                                                           VAT 20%:        {_eu(vat):>12}
                                                           Total due EUR:  {_eu(total):>12}

Payment terms: net 30 days from the invoice date, without deduction.
Please pay by bank transfer to IBAN AT61 1904 3002 3457 3201, BIC BKAUATWW,
quoting invoice number 2024-117 as the payment reference.
Late payments bear interest at 9.2 percentage points above the base rate of the
European Central Bank, as provided by Austrian commercial law.

Thank you for your business.
"""
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write_supply_agreement(HERE / "supplier-agreement-clear-issues.pdf")
    write_services_agreement(HERE / "services-agreement-ambiguous.docx")
    write_invoice(HERE / "invoice-acme-2024-117.txt")
    print(f"Wrote the samples to {HERE}")
