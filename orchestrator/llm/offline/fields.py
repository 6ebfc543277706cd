"""The field heuristics behind the offline stand-in agents: find amounts,
currencies, dates, invoice numbers, parties and other entities in a document's
text by patterns and labels, and read them into canonical values.

Numbers and dates come in several languages' formats: 4.904,94 and 4,904.94;
25.11.2026, 2026-11-25, 11/25/2026, 25 November 2026, 25. November 2026,
November 25, 2026, 25 novembre 2026. Readers return what they found verbatim
(`raw`) beside what it means, so an extract stage can pass on the raw text and a
normalize stage can interpret it, as a model would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

# --- numbers -----------------------------------------------------------------

# A number as written: grouped thousands (4.904,94 / 4,904.94 / 4 904,94 / 4'904.94)
# or plain (4904.94 / 4904,94). The lookarounds keep it from matching inside a date
# (25.11.2026), an id (INV-2026-0042) or a longer number; a minus sign before it is no
# hyphen of an id (a deduction: "-15.000,00 €").
_NUMBER = re.compile(
    r"(?<![\w.,/])(?<![\w.,/]-)"
    r"(?P<num>\d{1,3}(?P<sep>[.,'\u00a0\u202f ])\d{3}(?:(?P=sep)\d{3})*(?:[.,]\d{1,2})?"
    r"|\d+(?:[.,]\d{1,2})?)"
    r"(?![\w%]|[.,]\d|\s?%|\s\d{4,})"  # nor the start of an id ("TVA FR 12 345678901")
)
CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "Fr.": "CHF", "CHF": "CHF"}
CURRENCY_CODES = {"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD", "INR", "CNY"}
_CURRENCY = r"(?:€|\$|£|¥|₹|\b(?:" + "|".join(sorted(CURRENCY_CODES)) + r")\b)"
_BEFORE = re.compile(_CURRENCY + r"\s{0,3}$")
_AFTER = re.compile(r"^\s{0,2}" + _CURRENCY)


def parse_number(raw: str) -> Decimal | None:
    """The value of a number written with either decimal mark. With both marks the
    last one is the decimal mark; with one mark used once and followed by exactly
    three digits it groups thousands (1.234 and 1,234 are both 1234); otherwise it
    is the decimal mark (12,50 is 12.5)."""
    text = raw.strip().replace("\u00a0", " ").replace("\u202f", " ").replace("'", "").replace(" ", "")
    if not re.fullmatch(r"\d[\d.,]*", text):
        return None
    marks = [ch for ch in text if ch in ".,"]
    if not marks:
        digits = text
    elif len(set(marks)) == 2:
        decimal_mark = marks[-1]
        group_mark = "," if decimal_mark == "." else "."
        if marks.count(decimal_mark) > 1:
            return None
        digits = text.replace(group_mark, "").replace(decimal_mark, ".")
    else:
        mark = marks[0]
        groups_thousands = len(marks) > 1 or len(text.rsplit(mark, 1)[1]) == 3
        digits = text.replace(mark, "" if groups_thousands else ".")
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def parse_number_naive(raw: str) -> Decimal | None:
    """How a careless reader takes a number: commas group thousands, the point is
    decimal, always. Wrong for 4.904,94 (it reads 4.90494): the shadow normalizer
    uses it, to show what a stage comparison catches."""
    text = raw.strip().replace(",", "").replace(" ", "").replace("'", "")
    if text.count(".") > 1:
        head, _, tail = text.partition(".")
        text = f"{head}.{tail.replace('.', '')}"
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def currency_code(raw: str | None) -> str | None:
    if not raw:
        return None
    text = raw.strip()
    if text.upper() in CURRENCY_CODES:
        return text.upper()
    return CURRENCY_SYMBOLS.get(text)


# --- amounts -----------------------------------------------------------------

_LABELS = [
    # (label, pattern). The label nearest the amount names it; of two ending at the same
    # place the longer wins ("Totaal excl. btw" is net, not tax; "Net à payer" a total).
    ("tax", r"\b(?:vat|tax|sales\s+tax|mwst|ust|umsatzsteuer|mehrwertsteuer|tva|iva|btw|gst|hst|moms)\b(?!\s*incl)"),
    (
        "net",
        r"\b(?:sub-?total|subtotaal|net(?:\s+amount|\s+total)?|total\s+net|zwischensumme|netto\w*|nettosumme"
        r"|summe\s+netto|total\s+ht|montant\s+ht|total\s+hors\s+(?:tva|taxes?)|hors\s+tva|base\s+imponible"
        r"|imponibile|suma|importe\s+neto|total\s+before\s+tax"
        r"|tota(?:al|l|le)\s+(?:excl|exkl|excluding|ohne|zonder|hors|sin)\.?\s*(?:btw|vat|tva|mwst|ust|iva|tax)?)\b",
    ),
    (
        "total",
        r"\b(?:tota(?:al|l|le)\s+(?:incl|inkl|including|ttc)\.?\s*(?:btw|vat|tva|mwst|ust|iva|tax)?|grand\s+total"
        r"|total\s+(?:amount\s+)?(?:due|payable)|amount\s+(?:due|payable)|balance\s+due|totaal\s+te\s+betalen"
        r"|totaal(?:bedrag)?|te\s+betalen|gesamt\w*|rechnungsbetrag|endbetrag|zu\s+zahlen|total\s+ttc|montant\s+total"
        r"|net\s+à\s+payer|total\s+à\s+payer|importe\s+total|total\s+factura|total\s+a\s+pagar"
        r"|totale(?:\s+(?:documento|fattura|da\s+pagare))?|summe|total"
        # What is left to pay, which follows the invoice total when something was paid before it.
        r"|balance|amount\s+outstanding|outstanding|restbetrag|offener\s+betrag|reste\s+à\s+payer"
        r"|solde(?:\s+(?:dû|à\s+payer))?|importe\s+pendiente|pendiente\s+de\s+pago|saldo(?:\s+da\s+pagare)?"
        r"|openstaand(?:\s+bedrag)?)\b",
    ),
    # What was paid or withheld before the amount due: a deposit, a part payment, a withholding.
    (
        "paid",
        r"\b(?:(?:less\s+)?amount\s+paid|paid(?:\s+to\s+date)?|(?:less\s+)?payments?(?:\s*/\s*credits?)?"
        r"(?:\s+received)?|(?:less\s+)?deposit(?:\s+(?:paid|received))?|prepayment|part\s+payment"
        r"|withholding(?:\s+tax)?|retention|abschlag\w*|anzahlung|(?:bereits\s+)?(?:ge|be)zahlt|vorauszahlung"
        r"|einbehalt|acompte(?:\s+versé)?|déjà\s+(?:réglé|payé|versé)|retenue(?:\s+de\s+garantie)?"
        r"|anticipo(?:\s+recibido)?|pagado|entrega\s+a\s+cuenta|retención|irpf|acconto(?:\s+già\s+versato)?"
        r"|già\s+(?:pagato|versato)|ritenuta|reeds\s+betaald|aanbetaling|voorschot|betaald|inhouding)\b",
    ),
    ("fee", r"\b(?:fee|fees|price|prices|rate|charge|gebühr|vergütung|preis|prix|honoraires)\b"),
]
_LABEL_PATTERNS = [(label, re.compile(pattern, re.I)) for label, pattern in _LABELS]
_UNIT = re.compile(
    r"\)?\s*(?:calendar\s+|business\s+)?(?:days?|tagen?|jours|días|dias|dagen|giorni|weeks?|wochen|semaines|months?"
    r"|monate?n?|mois|meses|maanden|mesi|years?|jahre?n?|ans|años|jaar|anni|hours?|std|heures|horas|uren|ore|%|x\b)",
    re.I,
)
_INCLUDING = re.compile(r"\b(?:incl\w*|inkl\w*|including|ttc)\b", re.I)


@dataclass(frozen=True)
class Amount:
    raw: str  # the number as written
    value: Decimal
    currency_raw: str  # the symbol or code as written, or ""
    label: str  # total | net | tax | paid | fee | ""
    line: str


def find_amounts(text: str) -> list[Amount]:
    """Money amounts in document order: numbers with a currency beside them, or
    on a line whose label says what they are (Total, VAT, Subtotal, ...)."""
    found = []
    for line in text.splitlines():
        original = line
        # An IBAN's digit groups are no amounts.
        line = _IBAN.sub(lambda match: " " * len(match.group(0)), line)
        for match in _NUMBER.finditer(line):
            raw = match.group("num")
            value = parse_number(raw)
            if value is None:
                continue
            before, after = line[: match.start()], line[match.end() :]
            symbol = _BEFORE.search(before) or _AFTER.search(after)
            label = _label(before)
            # Without a currency only a line's own label (Total, VAT, Subtotal) makes a number money,
            # and not "three (3) months" after "fees paid in".
            if not symbol and (label in ("", "fee") or _UNIT.match(after)):
                continue
            currency_raw = symbol.group(0).strip() if symbol else ""
            found.append(Amount(raw, value, currency_raw, label, original.strip()))
    return found


def _label(before: str) -> str:
    """The label of an amount: the label nearest before it on its line, within 60
    characters, or further off when only space, pipes and currency stand between
    (a wide table row: "| Gesamtsumme EUR |     |     | 8.746,50 |")."""
    near = before[-160:]
    found = []
    for label, pattern in _LABEL_PATTERNS:
        for match in pattern.finditer(near):
            found.append((match.end(), match.end() - match.start(), label))
    if not found:
        return ""
    end, _, label = max(found)
    # Other figures between the label and the amount (not a rate: "VAT @ 20%") mean the
    # label names something else ("totaalbedrag binnen 30 dagen ... op NL91 ABNA 0417").
    between = re.sub(r"\d+(?:[.,]\d+)?\s*%|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b", "", near[end:])
    if re.search(r"\d", between) or len(between) > 60 and not re.fullmatch(r"[\s|:.€$£¥₹A-Z]*", between):
        return ""
    if label == "tax" and _INCLUDING.search(near[-60:]) and re.search(r"\btota\w*\b", near[-60:], re.I):
        return "total"  # "Total incl. VAT"
    return label


def main_currency(amounts: list[Amount]) -> str | None:
    codes = [code for amount in amounts if (code := currency_code(amount.currency_raw))]
    return max(set(codes), key=codes.count) if codes else None


_ANY_CURRENCY = re.compile(_CURRENCY + r"|\bCHF\b|\beuros?\b|\bEuro\b")


def document_currency(amounts: list[Amount], text: str) -> tuple[str, str] | None:
    """(code, as written) of the invoice's currency: the total's, else the commonest
    beside amounts, else the commonest written anywhere ("Gesamtsumme EUR", "in euros")."""
    total = pick(amounts, "total")
    if total and currency_code(total.currency_raw):
        return currency_code(total.currency_raw), total.currency_raw
    if code := main_currency(amounts):
        raw = next(a.currency_raw for a in amounts if currency_code(a.currency_raw) == code)
        return code, raw
    # A code in the label of a total ("Gesamtsumme EUR") before one anywhere (where "CAD" may be design software).
    labelled = "\n".join(amount.line for amount in amounts if amount.label in ("total", "net", "tax"))
    written = [match.group(0) for match in _ANY_CURRENCY.finditer(labelled)]
    written = written or [match.group(0) for match in _ANY_CURRENCY.finditer(text)]
    codes = [currency_code(raw) or ("EUR" if raw.lower().startswith("euro") else None) for raw in written]
    known = [(code, raw) for code, raw in zip(codes, written, strict=True) if code]
    if not known:
        return None
    best = max({code for code, _ in known}, key=[code for code, _ in known].count)
    return best, next(raw for code, raw in known if code == best)


def pick(amounts: list[Amount], label: str) -> Amount | None:
    """The amount a document gives for `label`: the last one so labelled (a grand
    total follows subtotals); for the total, the last before a payment or withholding
    that follows one (what is left to pay after a deposit is no invoice total), and
    failing a label the largest with a currency."""
    labelled = [amount for amount in amounts if amount.label == label]
    if label == "total" and labelled:
        after = amounts[amounts.index(labelled[0]) :]
        paid = next((amount for amount in after if amount.label == "paid"), None)
        if paid:
            labelled = [amount for amount in after[: after.index(paid)] if amount.label == "total"]
    if labelled:
        return labelled[-1]  # the last "total" line: section totals come before the grand total
    if label == "total":
        priced = [amount for amount in amounts if amount.currency_raw and amount.label in ("", "total")]
        return max(priced, key=lambda amount: amount.value, default=None)
    return None


# --- dates -------------------------------------------------------------------

MONTHS = {
    # English, German, French, Spanish, Italian, Dutch; full names and common abbreviations.
    **{name: n for n, names in enumerate([
        ["january", "jan", "januar", "janvier", "enero", "gennaio", "januari", "jänner"],
        ["february", "feb", "februar", "février", "fevrier", "febrero", "febbraio", "februari"],
        ["march", "mar", "märz", "maerz", "mars", "marzo", "maart"],
        ["april", "apr", "avril", "abril", "aprile"],
        ["may", "mai", "mayo", "maggio", "mei"],
        ["june", "jun", "juni", "juin", "junio", "giugno"],
        ["july", "jul", "juli", "juillet", "julio", "luglio"],
        ["august", "aug", "août", "aout", "agosto", "augustus"],
        ["september", "sep", "sept", "septembre", "septiembre", "settembre"],
        ["october", "oct", "oktober", "octobre", "octubre", "ottobre", "okt"],
        ["november", "nov", "novembre", "noviembre"],
        ["december", "dec", "dezember", "décembre", "decembre", "diciembre", "dicembre", "dez"],
    ], start=1) for name in names},
}  # fmt: skip
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    ("iso", re.compile(r"\b(?P<year>\d{4})-(?P<a>\d{1,2})-(?P<b>\d{1,2})\b")),
    ("numeric", re.compile(r"(?<![\d.])(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})\b")),
    ("day_month", re.compile(
        r"\b(?P<day>\d{1,2})(?:st|nd|rd|th|er)?\.?\s+(?:de\s+)?" + _MONTH + r",?\s+(?:de\s+)?(?P<year>\d{4})\b", re.I
    )),
    ("month_day", re.compile(r"\b" + _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})\b", re.I)),
]  # fmt: skip


@dataclass(frozen=True)
class FoundDate:
    raw: str
    value: date
    label: str  # issue | due | order | delivery | effective | ""
    line: str


def parse_date(raw: str, *, day_first: bool = True) -> date | None:
    """The date a string writes, in any of the formats above. Numeric dates are
    read day first (25.11.2026, 25/11/2026) unless only month first makes sense
    (11/25/2026); `day_first=False` reads ambiguous ones month first, as a US reader would."""
    for kind, pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(raw.strip())
        if match:
            return _date_of(kind, match, day_first)
    return None


def _date_of(kind: str, match: re.Match[str], day_first: bool) -> date | None:
    groups = match.groupdict()
    year = int(groups["year"])
    if year < 100:
        year += 2000
    if kind == "iso":
        month, day = int(groups["a"]), int(groups["b"])
    elif kind == "numeric":
        a, b = int(groups["a"]), int(groups["b"])
        month_first = b > 12 or (not day_first and a <= 12)
        day, month = (b, a) if month_first else (a, b)
    else:
        day, month = int(groups["day"]), MONTHS[groups["month"].lower()]
    try:
        return date(year, month, day)
    except ValueError:
        return None


_DATE_LABELS = [
    # The label nearest before a date names it; of two ending at the same place the longer
    # wins ("PO Date" is an order date, "Due Date" a due date, "Date" the invoice date).
    ("due", re.compile(
        r"\b(?:due(?:\s+date)?|payable\s+by|pay\s+by|payment\s+(?:date|due)|fällig\w*|zahlbar\s+bis|zahlungsziel"
        r"|échéance|date\s+d'échéance|date\s+limite(?:\s+de\s+paiement)?|vencimiento|fecha\s+de\s+vencimiento"
        r"|vervaldatum|uiterste\s+betaaldatum|scadenza|data\s+(?:di\s+)?scadenza)\b", re.I)),
    ("order", re.compile(
        r"\b(?:order\s+date|date\s+of\s+order|po\s+date|purchase\s+order\s+date|your\s+order(?:\s+of)?|bestelldatum"
        r"|bestellung\s+vom|auftrag\s+vom|auftragsdatum|date\s+de\s+(?:la\s+)?commande|commande\s+du"
        r"|fecha\s+(?:de(?:l)?\s+)?pedido|pedido\s+del?|data\s+(?:dell'\s*)?ordine|ordine\s+del|besteldatum|orderdatum"
        r"|bestelling\s+van)\b", re.I)),
    ("delivery", re.compile(
        r"\b(?:delivery\s+date|date\s+of\s+(?:delivery|supply)|lieferdatum|leistungsdatum|liefertermin"
        r"|date\s+de\s+livraison|fecha\s+de\s+entrega|leverdatum|data\s+(?:di\s+)?consegna"
        r"|service\s+(?:period|month|date)|leistungszeitraum|période)\b", re.I)),
    ("issue", re.compile(
        r"\b(?:invoice\s+date|date\s+of\s+(?:issue|invoice)|issue\s+date|date\s+issued|issued(?:\s+on)?|tax\s+point"
        r"|rechnungsdatum|belegdatum|date\s+de\s+(?:la\s+)?facture|date\s+d'émission|fecha\s+(?:de\s+)?(?:factura"
        r"|emisión|expedición)|factuurdatum|data\s+(?:della\s+)?fattura|data\s+(?:di\s+)?emissione|date|datum|fecha"
        r"|data)\b", re.I)),
    ("effective", re.compile(r"\b(?:effective|commence\w*|dated)\b", re.I)),
]  # fmt: skip


def _nearest_label(text: str, labels: list[tuple[str, re.Pattern[str]]]) -> tuple[str, int] | None:
    """(label, where it ends) of the label nearest the end of `text`, the longer on a tie."""
    found = [
        (match.end(), match.end() - match.start(), name) for name, pattern in labels for match in pattern.finditer(text)
    ]
    if not found:
        return None
    end, _, name = max(found)
    return name, end


# --- cells: text laid out in columns --------------------------------------------

_CELL = re.compile(r"[^|\s](?:[^|]*?[^|\s])?(?=\s{2,}|\s*\||\s*$)")
_RULE_ROW = re.compile(r"^[\s|:+=_-]*$")


def cells(line: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each cell of a line: runs of text apart by two spaces or a pipe."""
    return [(match.start(), match.end(), match.group(0)) for match in _CELL.finditer(line)]


def cell_below(lines: list[str], index: int, start: int, end: int) -> tuple[int, int, str] | None:
    """The cell under the span start..end on the next line with text (a table rule skipped):
    the value a label above it names, as in a table's header row or a label above its value."""
    for following in lines[index + 1 : index + 4]:
        if not following.strip() or _RULE_ROW.match(following):
            continue
        best, overlap = None, 0
        for cell in cells(following):
            shared = min(end, cell[1]) - max(start, cell[0])
            if shared > overlap or (shared == overlap == 0 and best is None and abs(cell[0] - start) <= 3):
                best, overlap = cell, shared
        return best
    return None


def _cell_above(lines: list[str], index: int, start: int, end: int) -> str:
    for previous in reversed(lines[max(0, index - 3) : index]):
        if not previous.strip() or _RULE_ROW.match(previous):
            continue
        for cell in cells(previous):
            if min(end, cell[1]) - max(start, cell[0]) > 0:
                return cell[2]
        return ""
    return ""


def date_order(text: str) -> bool:
    """Whether numeric dates are written day first: yes, unless one can only be read
    month first (02/27/2026) and none only day first, or every numeric date is
    ambiguous and the amounts are in dollars (a US invoice)."""
    pattern = _DATE_PATTERNS[1][1]
    day_only = month_only = ambiguous = False
    for match in pattern.finditer(text):
        a, b = int(match.group("a")), int(match.group("b"))
        day_only |= a > 12 >= b
        month_only |= b > 12 >= a
        ambiguous |= a <= 12 and b <= 12
    if month_only and not day_only:
        return False
    if ambiguous and not day_only and not month_only:
        return "$" not in text or "€" in text
    return True


def find_dates(text: str, *, day_first: bool | None = None) -> list[FoundDate]:
    """Dates in document order, each with what it is the date of: the label nearest
    before it on its line (after any earlier date), or the label above it (a table's
    header, a label on the line before), or the label of a range it ends ("1 April to
    30 June"). `day_first` None reads the document's own convention (date_order)."""
    if day_first is None:
        day_first = date_order(text)
    found = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        taken: list[tuple[int, int]] = []
        for kind, pattern in _DATE_PATTERNS:
            for match in pattern.finditer(line):
                if any(start < match.end() and match.start() < end for start, end in taken):
                    continue
                value = _date_of(kind, match, day_first)
                if value is not None:
                    taken.append(match.span())
                    found.append((index, match, value))
    dated: list[FoundDate] = []
    previous_on_line: dict[int, tuple[int, str]] = {}
    for index, match, value in sorted(found, key=lambda item: (item[0], item[1].start())):
        line = lines[index]
        since, inherited = previous_on_line.get(index, (0, ""))
        before = line[since : match.start()][-40:]
        nearest = _nearest_label(before, _DATE_LABELS)
        above = None if nearest else _nearest_label(_cell_above(lines, index, match.start(), match.end()), _DATE_LABELS)
        label = (nearest or above or (inherited, 0))[0]
        previous_on_line[index] = (match.end(), label)
        dated.append(FoundDate(match.group(0), value, label, line.strip()))
    return dated


def pick_date(dates: list[FoundDate], label: str) -> FoundDate | None:
    labelled = [found for found in dates if found.label == label]
    if labelled:
        return labelled[0]
    if label == "issue":
        return next((found for found in dates if found.label == ""), None)
    return None


# --- identifiers -------------------------------------------------------------

# How invoices label their number, in several languages. A bare "Invoice" counts only
# when an identifier follows it on the line ("INVOICE 2026-07").
_NUMBER_LABEL = re.compile(
    r"\b(?:invoice\s*(?:no\.?|number|nr\.?|#|num\.?)|inv\.?\s*(?:no\.?|#)|rechnungs?\s*-?\s*(?:nummer|nr\.?)"
    r"|rechnungsnr\.?|re\.?-nr\.?|n[°ºo]\.?\s*(?:de\s+)?factur[ae]|num[ée]ro\s+de\s+factur[ae]|factur[ae]\s*n[°ºo.]*"
    r"|n\.?º\s*(?:de\s+)?factura|número\s+de\s+factura|factura\s+n[úu]m(?:ero)?\.?|factuurnummer|factuurnr\.?"
    r"|factuur\s*(?:nr\.?|nummer)|fattura\s*(?:n\.?|nr\.?|numero|num\.?)|numero\s+(?:di\s+)?fattura|n\.\s*fattura"
    r"|invoice(?=\s+[A-Z]{0,6}[-/]?\d))(?![\w])",
    re.I,
)
_ID = re.compile(r"[A-Z0-9][A-Z0-9\-/._]*\d[A-Z0-9\-/._]*|[A-Z0-9]*\d[A-Z0-9]*", re.I)
_ID_LEAD = re.compile(r"^[\s:#.°º]*")


def find_invoice_number(text: str) -> tuple[str, str] | None:
    """(number, line) of the invoice number: after its label on the same line
    ("Invoice No.: BWP-10442", "Fattura n. 118/2026 del ..."), or under it (a label
    above its value, a table header: "N° de facture" over "FA-2026-0093")."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        for label in _NUMBER_LABEL.finditer(line):
            rest = line[label.end() :]
            lead = _ID_LEAD.match(rest).end()
            value = _ID.match(rest, lead)
            if value and not _is_a_date(value.group(0)):
                return value.group(0).rstrip("._-/"), line.strip()
            if rest[lead:].strip() and not re.match(r"\s{2,}|\s*\|", rest):
                continue  # other words follow the label in its cell: no number here
            cell = cell_below(lines, index, label.start(), label.end())
            value = cell and _ID.fullmatch(cell[2].strip(" |"))
            if value and not _is_a_date(value.group(0)):
                return value.group(0).rstrip("._-/"), f"{line.strip()} / {cell[2]}"
    return None


def _is_a_date(text: str) -> bool:
    return parse_date(text) is not None


_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def find_emails(text: str) -> list[str]:
    return _unique(match.group(0) for match in _EMAIL.finditer(text))


def find_ibans(text: str) -> list[str]:
    """IBANs that pass the ISO 7064 mod-97 check, spaced as written."""
    found = []
    for match in _IBAN.finditer(text):
        compact = match.group(0).replace(" ", "")
        rotated = compact[4:] + compact[:4]
        digits = "".join(str(int(ch, 36)) for ch in rotated)
        if 15 <= len(compact) <= 34 and int(digits) % 97 == 1:
            found.append(match.group(0))
    return _unique(found)


# --- parties and other entities ------------------------------------------------

_SUFFIX = (
    r"(?:Co\.,?\s?Ltd\.?|GmbH(?:\s*&\s*Co\.?\s*KG)?|GMBH|AG|KG|OHG|SE|Ltd\.?|LTD\.?|Limited|LIMITED|LLC|L\.L\.C\.|LLP|Inc\.?|INC\.?"
    r"|Corp\.?|CORP\.?|Corporation|plc|PLC|CIC|S\.A\.S?\.?|SAS|SARL|S\.à\s?r\.l\.|S\.r\.l\.|S\.R\.L\.|SRL|S\.p\.A\.|SpA"
    r"|S\.n\.c\.|S\.L\.U?\.?|SLU?|B\.V\.|BV|N\.V\.|NV|V\.O\.F\.|VOF|Oy|AB|ApS|A/S|Co\.|CO\.)"
)
_NAME_WORD = r"(?:[A-Z][\w&'’.-]*|&|and|und|of|de|van|von)"
_ORGANISATION = re.compile(
    r"\b(?P<name>[A-Z][\w&'’.-]*(?:[ \t]{1,2}" + _NAME_WORD + r"){0,5}?(?:,?[ \t]{1,2}|,)" + _SUFFIX + r")(?![\w])"
)
_PERSON = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Herr|Frau|Mme|M)\.?\s+(?P<name>[A-Z][a-zà-ÿ'’-]+(?:\s+[A-Z][a-zà-ÿ'’-]+){0,2})"
    r"|\b(?:Attn|Attention|Contact|Kontakt|Signed(?:\s+by)?|Name|Ansprechpartner|By)\s*:\s*"
    r"(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof|Herr|Frau|Mme|M)\.?\s+)?(?P<name2>[A-Z][a-zà-ÿ'’-]+(?:\s+[A-Z][a-zà-ÿ'’-]+){1,2})"
)
_BETWEEN = re.compile(
    r"\bbetween\s+(?P<a>.+?)\s*(?:\((?:the\s+)?[\"“”']?(?P<role_a>[A-Z][\w ]*?)[\"“”']?\))?\s*,?\s+and\s+"
    r"(?P<b>.+?)\s*(?:\((?:the\s+)?[\"“”']?(?P<role_b>[A-Z][\w ]*?)[\"“”']?\)|[.;\n])",
    re.I | re.S,
)
_PARTY_LABELS = [
    ("customer", re.compile(r"^\s*(?:bill(?:ed)?\s+to|invoice\s+to|sold\s+to|customer|client|buyer"
                            r"|rechnungsempfänger|kunde|facturé\s+à|cliente)\s*:?\s*(?P<rest>.*)$", re.I)),
    ("vendor", re.compile(r"^\s*(?:from|vendor|supplier|seller|issued\s+by|lieferant|verkäufer|fournisseur"
                          r"|proveedor)\s*:?\s*(?P<rest>.*)$", re.I)),
]  # fmt: skip


def find_organisations(text: str) -> list[str]:
    """Names that end in a legal form (GmbH, Ltd, Inc., S.A., ...)."""
    return _unique(" ".join(match.group("name").split()).strip(" ,") for match in _ORGANISATION.finditer(text))


_CLOSING = re.compile(
    r"^\s*(?:sincerely|kind regards|best regards|regards|yours (?:faithfully|sincerely|truly)"
    r"|mit freundlichen grüßen|cordialement)\b",
    re.I,
)
_SIGNATURE = re.compile(r"^\s*([A-Z][a-zà-ÿ'’-]+(?:\s+[A-Z][a-zà-ÿ'’-]+){1,2})\s*$")


def find_people(text: str) -> list[str]:
    """Names after a title (Ms Schmidt, Herr Weber) or a label (Contact:, Signed by:),
    and the name under a letter's closing."""
    people = [(match.group("name") or match.group("name2")).strip() for match in _PERSON.finditer(text)]
    lines = [line for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines[:-1]):
        signature = _CLOSING.match(line) and _SIGNATURE.match(lines[index + 1])
        if signature:
            people.append(signature.group(1))
    return _unique(people)


def find_parties(text: str) -> list[dict[str, str]]:
    """The parties and their roles: from "between A (the "Supplier") and B (the
    "Customer")" in a contract, or the labelled blocks of an invoice (Bill to,
    From, Supplier), where the first organisation named heads the vendor's letterhead."""
    match = _BETWEEN.search(text[:3000])
    if match:
        parties = []
        for side, role in (("a", "role_a"), ("b", "role_b")):
            name = _clean_party(match.group(side))
            if name:
                parties.append({"name": name, "role": (match.group(role) or f"party {side.upper()}").strip().lower()})
        if len(parties) == 2:
            return parties

    parties = []
    customer = find_customer(text)
    vendor = find_issuer(text)
    if vendor:
        parties.append({"name": vendor[0], "role": vendor[1]})
    if customer and customer[0] not in {party["name"] for party in parties}:
        parties.append({"name": customer[0], "role": "customer"})
    return parties


# Labels of an invoice's blocks, alone in their cell ("Bill to:", "Emisor") or before the name.
_VENDOR_LABEL = re.compile(
    r"^(?:from|vendor|supplier|seller|issued\s+by|bill\s+from|lieferant|verkäufer|rechnungssteller|fournisseur"
    r"|prestataire|émetteur|proveedor|emisor|leverancier|fornitore|cedente)\b\s*:?\s*",
    re.I,
)
_CUSTOMER_LABEL = re.compile(
    r"^(?:bill(?:ed)?\s+to|invoice\s+to|sold\s+to|ship\s+to|deliver\s+to|customer|client|buyer|to|an|aan|klant"
    r"|kunde|rechnungsempfänger|leistungsempfänger|facturé\s+à|destinataire|cliente|datos\s+del\s+cliente"
    r"|spett\.?le|attn|t\.a\.v\.|gentile|cessionario)\b\.?\s*:?\s*",
    re.I,
)
# Lines that carry the issuer's registration (VAT, company number, bank): the issuer's own.
_REGISTRATION = re.compile(
    r"\b(?:VAT|USt|UID|MWST|TVA|BTW|KvK|SIRET|SIREN|RCS|RPM|P\.?\s?IVA|Partita\s+IVA|CIF|NIF|Cod\.\s*Fisc|IBAN"
    r"|Amtsgericht|HRB|HRA|Geschäftsführer\w*|Registered|Company\s+(?:No|number)|Reg\.?\s+No|CHE-\d|payable\s+to)",
)
_TITLE_WORDS = re.compile(
    r"^(?:tax\s+)?(?:invoice|rechnung|facture|factura|factuur|fattura|bill|receipt|credit\s+note|gutschrift)\b",
    re.I,
)
_NAME_LINE = re.compile(
    r"^[A-ZÀ-Ý][\w'’.-]*(?:\s+(?:[A-ZÀ-Ý][\w'’.-]*|&|and|of|the|und|de|des|du|da|do|dos|das|van|von|der|den|het"
    r"|e|y|i|di|del|della|la|le|les|el|los|las))+$"
)


def _labelled(text: str, label: re.Pattern[str]) -> list[str]:
    """What follows a label in its cell, or the cell under it and the lines under that (a block)."""
    lines = text.splitlines()
    found = []
    for index, line in enumerate(lines[:80]):
        for start, end, cell in cells(line):
            matched = label.match(cell)
            if not matched:
                continue
            rest = cell[matched.end() :].strip()
            if rest:
                found.append(rest)
                continue
            below = cell_below(lines, index, start, max(end, start + 12))
            if below:
                found.append(below[2])
    return found


def _name_in(text: str) -> str:
    organisation = _ORGANISATION.search(text)
    if organisation:
        return " ".join(organisation.group("name").split()).strip(" ,")
    first = re.split(r"\s*(?:[,(;·|–]|\s-\s)\s*|\s+\d", text.strip(), maxsplit=1)[0].strip(" .:")
    return first if _NAME_LINE.match(first) and not _TITLE_WORDS.match(first) else ""


def find_customer(text: str) -> tuple[str, str] | None:
    """(name, where) of whom the invoice is addressed to: the block under "Bill to", "Kunde", "Cliente"..."""
    for value in _labelled(text, _CUSTOMER_LABEL):
        name = _name_in(value)
        if name:
            return name, value
    return None


def customers(text: str) -> set[str]:
    """Every name standing in a customer block (billing and shipping), folded for comparison."""
    names = set()
    lines = text.splitlines()
    for index, line in enumerate(lines[:80]):
        for start, end, cell in cells(line):
            matched = _CUSTOMER_LABEL.match(cell)
            if not matched:
                continue
            block = [cell[matched.end() :]]
            for following in lines[index + 1 : index + 5]:
                if not following.strip():
                    break
                below = [c for c in cells(following) if min(max(end, start + 12), c[1]) - max(start, c[0]) > 0]
                block.extend(c[2] for c in below)
            for part in block:
                names.update(name.casefold() for name in find_organisations(part))
                if name := _name_in(part):
                    names.add(name.casefold())
    return names


def find_issuer(text: str) -> tuple[str, str] | None:
    """(name, role) of who issued an invoice or letter: a labelled vendor block
    ("From", "Supplier", "Emisor"); else the first organisation that is not a customer
    in the letterhead, then on the lines that carry a VAT number, IBAN or company
    registration (often a footer); else a name standing alone atop the letterhead
    ("Hannah Whitfield") or leading such a registration line."""
    for value in _labelled(text, _VENDOR_LABEL):
        if name := _name_in(value):
            return name, "vendor"
    taken = customers(text)
    lines = [line for line in text.splitlines() if line.strip()]
    head = lines[:12]
    registered = [line for line in lines if _REGISTRATION.search(line)] + lines[-4:]
    for block in (head, registered):
        for line in block:
            for name in find_organisations(line):
                if name.casefold() not in taken:
                    return name, "issuer"
    for line in [*lines[:3], *registered]:
        first = cells(line)[0][2] if cells(line) else ""
        name = _name_in(first)
        if name and name.casefold() not in taken and len(name.split()) >= 2:
            return name, "issuer"
    return None


def _clean_party(text: str) -> str:
    text = " ".join(text.split())
    # "ACME GmbH, Hauptstraße 1, 10115 Berlin" names ACME GmbH; so does "ACME GmbH (registered ...)".
    organisation = _ORGANISATION.search(text)
    if organisation:
        return " ".join(organisation.group("name").split()).strip(" ,")
    return re.split(r"\s*[,(;]|\s+\d", text, maxsplit=1)[0].strip(" .:\"“”'")[:120]


def _unique(items) -> list[str]:
    seen, unique = set(), []
    for item in items:
        key = item.casefold()
        if item and key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


# --- an invoice, read as a whole -----------------------------------------------------


@dataclass(frozen=True)
class InvoiceReading:
    number: tuple[str, str] | None  # (number, line)
    issue: FoundDate | None
    due: FoundDate | None
    amounts: dict[str, Amount | None]  # total, net, tax
    currency: tuple[str, str] | None  # (code, as written)
    vendor: str | None
    customer: str | None
    day_first: bool


def read_invoice(text: str) -> InvoiceReading:
    """Every field an invoice's reader wants, by label and layout: the number after or
    under its label; the invoice date, not the order, delivery or due date beside it;
    the last total line; the issuer from the letterhead, footer, VAT or IBAN line."""
    amounts = find_amounts(text)
    day_first = date_order(text)
    dates = find_dates(text, day_first=day_first)
    customer = find_customer(text)
    vendor = find_issuer(text)
    return InvoiceReading(
        number=find_invoice_number(text),
        issue=pick_date(dates, "issue"),
        due=pick_date(dates, "due"),
        amounts={label: pick(amounts, label) for label in ("total", "net", "tax")},
        currency=document_currency(amounts, text),
        vendor=vendor[0] if vendor else None,
        customer=customer[0] if customer else None,
        day_first=day_first,
    )
