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
# (25.11.2026), an id (INV-2026-0042) or a longer number.
_NUMBER = re.compile(
    r"(?<![\w.,/-])"
    r"(?P<num>\d{1,3}(?P<sep>[.,'\u00a0\u202f ])\d{3}(?:(?P=sep)\d{3})*(?:[.,]\d{1,2})?"
    r"|\d+(?:[.,]\d{1,2})?)"
    r"(?![\w%]|[.,]\d|\s?%)"
)
CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "Fr.": "CHF", "CHF": "CHF"}
CURRENCY_CODES = {"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD", "INR", "CNY"}
_CURRENCY = r"(?:€|\$|£|¥|₹|\b(?:" + "|".join(sorted(CURRENCY_CODES)) + r")\b)"
_BEFORE = re.compile(_CURRENCY + r"\s?$")
_AFTER = re.compile(r"^\s?" + _CURRENCY)


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
    # (label, pattern): tried in order; the first that matches the text before an amount names it.
    ("tax", r"\b(?:vat|tax|sales\s+tax|mwst|ust|umsatzsteuer|mehrwertsteuer|tva|iva|btw)\b(?!\s*incl)"),
    (
        "net",
        r"\b(?:sub-?total|net(?:\s+amount|\s+total)?|total\s+net|zwischensumme|netto\w*|total\s+ht|montant\s+ht"
        r"|base\s+imponible|imponibile)\b",
    ),
    (
        "total",
        r"\b(?:grand\s+total|total\s+(?:amount\s+)?(?:due|payable)|amount\s+due|balance\s+due|total"
        r"|gesamt\w*|rechnungsbetrag|endbetrag|summe|zu\s+zahlen|total\s+ttc|montant\s+total|net\s+à\s+payer"
        r"|importe\s+total|totale)\b",
    ),
    ("fee", r"\b(?:fee|fees|price|prices|rate|charge|gebühr|vergütung|preis|prix|honoraires)\b"),
]
_LABEL_PATTERNS = [(label, re.compile(pattern, re.I)) for label, pattern in _LABELS]
_UNIT = re.compile(r"\)?\s*(?:calendar\s+|business\s+)?(?:days?|tage|jours|weeks?|months?|years?|%|x\b)", re.I)
_INCLUDING = re.compile(r"\b(?:incl\w*|inkl\w*|including|ttc)\b", re.I)


@dataclass(frozen=True)
class Amount:
    raw: str  # the number as written
    value: Decimal
    currency_raw: str  # the symbol or code as written, or ""
    label: str  # total | net | tax | fee | ""
    line: str


def find_amounts(text: str) -> list[Amount]:
    """Money amounts in document order: numbers with a currency beside them, or
    on a line whose label says what they are (Total, VAT, Subtotal, ...)."""
    found = []
    for line in text.splitlines():
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
            found.append(Amount(raw, value, currency_raw, label, line.strip()))
    return found


def _label(before: str) -> str:
    # A label is the words just before the amount on its line (within the last 60 characters).
    near = before[-60:]
    for label, pattern in _LABEL_PATTERNS:
        if pattern.search(near):
            if label == "tax" and _INCLUDING.search(near) and re.search(r"\btotal\b", near, re.I):
                return "total"  # "Total incl. VAT"
            return label
    return ""


def main_currency(amounts: list[Amount]) -> str | None:
    codes = [code for amount in amounts if (code := currency_code(amount.currency_raw))]
    return max(set(codes), key=codes.count) if codes else None


def pick(amounts: list[Amount], label: str) -> Amount | None:
    """The amount a document gives for `label`: the last one so labelled (a grand
    total follows subtotals); for the total, failing a label, the largest with a currency."""
    labelled = [amount for amount in amounts if amount.label == label]
    if labelled:
        return labelled[-1]
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
    label: str  # issue | due | effective | ""
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
    ("due", re.compile(
        r"\b(?:due|payable\s+by|payment\s+date|fällig\w*|zahlbar\s+bis|échéance|vencimiento|scadenza)\b", re.I
    )),
    ("issue", re.compile(r"\b(?:invoice\s+date|date\s+of\s+issue|issue\s+date|issued|date|rechnungsdatum|datum"
                         r"|date\s+de\s+facture|fecha|data)\b", re.I)),
    ("effective", re.compile(r"\b(?:effective|commence\w*|dated)\b", re.I)),
]  # fmt: skip


def find_dates(text: str, *, day_first: bool = True) -> list[FoundDate]:
    found = []
    for line in text.splitlines():
        taken: list[tuple[int, int]] = []
        for kind, pattern in _DATE_PATTERNS:
            for match in pattern.finditer(line):
                if any(start < match.end() and match.start() < end for start, end in taken):
                    continue
                value = _date_of(kind, match, day_first)
                if value is None:
                    continue
                taken.append(match.span())
                before = line[: match.start()][-40:]
                label = next((name for name, rule in _DATE_LABELS if rule.search(before)), "")
                found.append(FoundDate(match.group(0), value, label, line.strip()))
    return found


def pick_date(dates: list[FoundDate], label: str) -> FoundDate | None:
    labelled = [found for found in dates if found.label == label]
    if labelled:
        return labelled[0]
    if label == "issue":
        return next((found for found in dates if found.label == ""), None)
    return None


# --- identifiers -------------------------------------------------------------

_INVOICE_NUMBER = re.compile(
    r"\b(?:invoice|inv|rechnung|facture|factura|fattura)\s*"
    r"(?:no\.?|number|nr\.?|nummer|#|n[°ºo]\.?|num(?:ber|éro|ero)?\.?)\s*[:#]?\s*"
    r"(?P<id>[A-Z0-9][A-Z0-9\-/._]*\d[A-Z0-9\-/._]*)",
    re.I,
)


def find_invoice_number(text: str) -> tuple[str, str] | None:
    """(number, line) of the first invoice number, e.g. from "Invoice No. INV-2026-0042"."""
    for line in text.splitlines():
        match = _INVOICE_NUMBER.search(line)
        if match:
            return match.group("id").rstrip("._-/"), line.strip()
    return None


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
    r"(?:GmbH(?:\s*&\s*Co\.?\s*KG)?|AG|KG|SE|Ltd\.?|Limited|LLC|L\.L\.C\.|LLP|Inc\.?|Corp\.?|Corporation|plc|PLC"
    r"|S\.A\.S?\.?|SAS|SARL|S\.à\s?r\.l\.|S\.r\.l\.|S\.p\.A\.|B\.V\.|BV|N\.V\.|NV|Oy|AB|ApS|A/S|Co\.)"
)
_NAME_WORD = r"(?:[A-Z][\w&'’.-]*|&|and|und|of|de|van|von)"
_ORGANISATION = re.compile(
    r"\b(?P<name>[A-Z][\w&'’.-]*(?:[ \t]+" + _NAME_WORD + r"){0,5}?[ \t,]+" + _SUFFIX + r")(?![\w])"
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
    lines = text.splitlines()
    for index, line in enumerate(lines[:80]):
        for role, pattern in _PARTY_LABELS:
            labelled = pattern.match(line)
            if not labelled or any(party["role"] == role for party in parties):
                continue
            rest = labelled.group("rest").strip()
            if not rest:
                rest = next((following.strip() for following in lines[index + 1 : index + 4] if following.strip()), "")
            name = _clean_party(rest)
            if name and not any(party["name"] == name for party in parties):
                parties.append({"name": name, "role": role})
    if not any(party["role"] == "vendor" for party in parties):
        # The letterhead: the first organisation on the first lines that is not already a party
        # (the vendor of an invoice, the sender of a letter).
        head = "\n".join(lines[:12])
        named = {party["name"] for party in parties}
        issuer = next((name for name in find_organisations(head) if name not in named), None)
        if issuer:
            parties.insert(0, {"name": issuer, "role": "issuer"})
    return parties


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
