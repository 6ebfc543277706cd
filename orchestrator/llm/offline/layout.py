"""The layout heuristics behind the offline coordinator and metadata specialist:
what kind of document this is (by keywords and by how its lines are laid out),
its language, title and length."""

from __future__ import annotations

import re
from collections import Counter

from . import clauses, fields

# Each keyword counts once however often it appears; several languages per type.
KEYWORDS = {
    "invoice": [
        "invoice", "rechnung", "facture", "factura", "fattura", "bill to", "billed to", "amount due", "total due",
        "balance due", "subtotal", "vat", "mwst", "ust-id", "tva", "iban", "payment due", "due date", "qty",
        "unit price", "zahlbar", "rechnungsnummer", "rechnungsdatum", "rechnungsbetrag", "gesamtbetrag", "nettobetrag",
        "factuur", "btw", "totaal", "subtotaal", "vervaldatum", "fattura", "imponibile", "iva", "totale",
        "partita iva", "base imponible", "total factura", "total a pagar", "importe", "total ttc", "total ht",
        "n° de facture", "numéro de facture", "net à payer", "invoice no", "invoice #", "amount due",
    ],
    "contract": [
        "agreement", "contract", "vertrag", "contrat", "contrato", "the parties", "hereinafter", "whereas",
        "governing law", "in witness whereof", "terminate", "termination", "effective date", "indemnif",
        "liability", "confidential", "shall", "overeenkomst", "partijen", "ondergetekenden", "contratto",
        "le parti", "les parties", "las partes", "cláusula", "vereinbart", "vertragsparteien", "arbeitsvertrag",
    ],
    "report": [
        "executive summary", "introduction", "conclusion", "findings", "recommendation", "methodology",
        "quarter", "annual report", "analysis", "figure", "table", "results", "outlook", "bericht", "rapport",
        "key figures", "year over year",
    ],
    "correspondence": [
        "dear", "sincerely", "kind regards", "best regards", "yours faithfully", "yours truly", "re:",
        "sehr geehrte", "mit freundlichen grüßen", "madame", "monsieur", "cordialement", "please find",
        "thank you for your", "i am writing",
    ],
}  # fmt: skip
_CLAUSE_NUMBER = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|§\s*\d+|(?:article|section|clause)\s+\d+)\s+\S", re.I)
_SALUTATION = re.compile(r"^\s*(?:dear|hello|hi|sehr geehrte\w*|liebe\w*|madame|monsieur|cher|chère)\b", re.I)
_CLOSING = re.compile(
    r"^\s*(?:sincerely|kind regards|best regards|regards|yours (?:faithfully|sincerely|truly)"
    r"|mit freundlichen grüßen|cordialement|best)\b",
    re.I,
)
MIN_SCORE = 3

# What a commercial paper calls itself in its title, in the languages the rules read. An order,
# a quote, a delivery note or a credit note carries amounts and dates as an invoice does, but
# asks for no payment (or gives money back): it must not be read as one.
_TITLES = [
    ("invoice", r"(?:tax\s+|vat\s+|commercial\s+)?invoice|rechnung|facture|factura|fattura|factuur"),
    ("pro forma invoice", r"pro[\s-]?forma(?:\s+invoice)?|pro[\s-]?forma-?rechnung|facture\s+pro[\s-]?forma"
                          r"|factura\s+pro[\s-]?forma|fattura\s+pro[\s-]?forma|pro[\s-]?forma\s*factuur"),
    ("purchase order", r"purchase\s+order|bestellung|bestellschein|bon\s+de\s+commande|orden\s+de\s+compra"
                       r"|ordine\s+(?:di\s+)?acquisto|buono\s+d'ordine|inkooporder|bestelbon"),
    ("order confirmation", r"order\s+confirmation|sales\s+order|auftragsbestätigung|confirmation\s+de\s+commande"
                           r"|confirmación\s+de\s+pedido|conferma\s+d'ordine|orderbevestiging"),
    ("quotation", r"quotation|quote|estimate|angebot|kostenvoranschlag|devis|presupuesto|cotización|preventivo"
                  r"|offerta|offerte"),
    ("delivery note", r"delivery\s+note|packing\s+(?:slip|list)|lieferschein|bon\s+de\s+livraison|albarán"
                      r"|documento\s+di\s+trasporto|ddt|bolla\s+di\s+consegna|pakbon|leveringsbon"),
    ("credit note", r"credit\s+(?:note|memo)|gutschrift|(?:facture\s+d')?avoir|nota\s+de\s+cr[ée]dito"
                    r"|nota\s+di\s+credito|creditnota|creditfactuur"),
]  # fmt: skip
# A title alone in its cell, or with the paper's number after it ("Gutschrift Nr. G-2026-14").
_TITLE = re.compile(
    r"(?P<title>" + "|".join(f"(?P<t{index}>{pattern})" for index, (_, pattern) in enumerate(_TITLES)) + r")"
    r"(?:\s+(?:no\.?|nr\.?|n[°º.]+|#|number|nummer|numéro|número|numero)?\s*:?\s*[A-Z0-9][\w/.-]*)?\s*:?",
    re.I,
)


def titled(text: str) -> str:
    """What the paper calls itself ("invoice", "purchase order", "credit note"...) in the
    first title that stands alone in its cell near the top, or ""."""
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines[:15]:
        for _, _, cell in fields.cells(line):
            for part in cell.split(" / "):  # a bilingual title: "ใบแจ้งหนี้ / ใบกำกับภาษี", "Quote / Angebot"
                match = _TITLE.fullmatch(part.strip())
                if match:
                    index = next(
                        int(name[1:]) for name, value in match.groupdict().items() if name[1:].isdigit() and value
                    )
                    return _TITLES[index][0]
    return ""


def not_an_invoice(text: str) -> str:
    """The kind of commercial paper `text` says it is when that is no invoice ("purchase
    order", "quotation", "delivery note", "credit note"...), or ""."""
    kind = titled(text)
    return "" if kind == "invoice" else kind


def classify(text: str) -> tuple[str, float, list[str]]:
    """(doc_type, confidence, signals). Keyword hits score one each; the layout
    (lines of amounts, numbered clauses, a letter's salutation and closing, long
    paragraphs under headings) scores three. Too little evidence is "other"."""
    lowered = text.lower()
    scores: Counter[str] = Counter()
    signals: dict[str, list[str]] = {kind: [] for kind in KEYWORDS}
    for kind, words in KEYWORDS.items():
        hits = [word for word in words if re.search(r"(?<!\w)" + re.escape(word), lowered)]
        scores[kind] += len(hits)
        if hits:
            signals[kind].append("keywords: " + ", ".join(hits[:6]))

    lines = [line for line in text.splitlines() if line.strip()]
    amount_lines = sum(bool(fields.find_amounts(line)) for line in lines)
    if amount_lines >= 3:
        scores["invoice"] += 3
        signals["invoice"].append(f"layout: {amount_lines} lines carry amounts")
    numbered = sum(bool(_CLAUSE_NUMBER.match(line)) for line in lines)
    if numbered >= 3:
        scores["contract"] += 3
        signals["contract"].append(f"layout: {numbered} numbered clauses")
    # What the sentences do, in any language the clause rules read: a paper with clauses
    # of three or more kinds (payment, termination, governing law...) is a contract,
    # whatever else it looks like (a letter of engagement, a fee schedule).
    kinds = sorted({hit.rule.type for _, _, hit in clauses.read(text[:60000])})
    if len(kinds) >= 3:
        scores["contract"] += 2 + len(kinds)
        signals["contract"].append(f"clauses of {len(kinds)} kinds: {', '.join(kinds[:5])}")
    if any(_SALUTATION.match(line) for line in lines[:8]) and any(_CLOSING.match(line) for line in lines[-8:]):
        scores["correspondence"] += 4
        signals["correspondence"].append("layout: a salutation at the top and a closing at the end")
    paragraphs = [block for block in re.split(r"\n\s*\n", text) if block.strip()]
    long = sum(len(block) > 400 for block in paragraphs)
    if long >= 2 and numbered < 3:
        scores["report"] += 3
        signals["report"].append(f"layout: {long} long paragraphs")

    ranked = scores.most_common()
    if not ranked or ranked[0][1] < MIN_SCORE:
        return "other", 0.5, ["too little evidence for any type"]
    best, top = ranked[0]
    if best == "invoice" and (kind := not_an_invoice(text)):
        return "other", 0.5, [f"titled {kind}, which is not an invoice", *signals["invoice"]]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    confidence = round(min(0.99, 0.5 + 0.5 * (top - runner_up) / top), 2)
    return best, confidence, signals[best]


# Common words, and the commonest words of business papers (short invoices have few of the former).
STOPWORDS = {
    "en": {"the", "and", "of", "to", "in", "is", "for", "shall", "this", "with", "be", "by", "on", "or", "invoice",
           "total", "due", "please", "amount"},
    "de": {"der", "die", "und", "das", "ist", "nicht", "mit", "für", "von", "zu", "den", "im", "des", "eine", "auf",
           "sie", "bitte", "rechnung", "betrag", "datum"},
    "fr": {"le", "la", "les", "et", "des", "est", "pour", "dans", "une", "du", "au", "sur", "par", "que", "facture",
           "montant", "veuillez"},
    "es": {"el", "los", "las", "y", "que", "en", "por", "para", "una", "con", "del", "se", "es", "al", "factura",
           "importe"},
    "it": {"il", "di", "che", "e", "per", "non", "una", "sono", "della", "del", "con", "gli", "le", "alla", "fattura",
           "importo"},
    "nl": {"de", "het", "een", "en", "van", "is", "dat", "op", "voor", "met", "niet", "zijn", "aan", "te", "factuur",
           "bedrag"},
    # Languages the rules do not read, known so a document in one is said to be unread, not clean.
    "pt": {"do", "da", "dos", "das", "em", "não", "uma", "ao", "pela", "pelo", "são", "sua", "seu", "fatura", "emissão",
           "vencimento", "pagamento", "transferência", "obrigado"},
    "pl": {"i", "w", "z", "na", "się", "nie", "jest", "oraz", "przez", "dla", "lub", "umowy", "umowa", "że", "ze"},
}  # fmt: skip
# The languages the clause and field rules read (clauses.py, fields.py).
READ_LANGUAGES = {"en", "de", "fr", "es", "it", "nl"}
LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch",
    "pt": "Portuguese", "pl": "Polish", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ar": "Arabic",
    "he": "Hebrew", "ru": "Russian", "uk": "Ukrainian", "el": "Greek", "th": "Thai", "hi": "Hindi",
}  # fmt: skip

# Letters of scripts other than Latin. The rules' words are all Latin, so a text mostly in
# another script is unread however short it is and however few spaces it has. A Chinese,
# Japanese or Korean character carries about what three Latin letters do.
_SCRIPTS = {
    "kana": (re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]"), 3),
    "han": (re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"), 3),
    "hangul": (re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]"), 3),
    "cyrillic": (re.compile(r"[\u0400-\u04ff]"), 1),
    "greek": (re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]"), 1),
    "arabic": (re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]"), 1),
    "hebrew": (re.compile(r"[\u0590-\u05ff]"), 1),
    "thai": (re.compile(r"[\u0e00-\u0e7f]"), 1),
    "devanagari": (re.compile(r"[\u0900-\u097f]"), 1),
}
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f\u1e00-\u1eff]")
# Above this share of its letters (weighted as above) in other scripts, a text is in another
# script; below it the Latin part is read (an English contract with a Japanese annex).
FOREIGN_SHARE = 0.6


def _foreign(text: str) -> tuple[str, float]:
    """(language, share): the language written in the commonest script other than Latin
    ("und" when the script is shared by several languages or not known here), and the
    weighted share of the text's letters in scripts other than Latin."""
    raw = {script: len(pattern.findall(text)) for script, (pattern, _) in _SCRIPTS.items()}
    latin = len(_LATIN.findall(text))
    counts = Counter({script: count * _SCRIPTS[script][1] for script, count in raw.items()})
    # Letters of any other script (Georgian, Tamil...); vowel signs are no letters to isalpha().
    counts["other"] = max(0, sum(ch.isalpha() for ch in text) - latin - sum(raw.values()))
    foreign = sum(counts.values())
    if not foreign:
        return "und", 0.0
    script = counts.most_common(1)[0][0]
    if script in ("kana", "han"):  # Japanese writes kana between its kanji; Chinese none
        code = "ja" if counts["kana"] >= 0.1 * (counts["kana"] + counts["han"]) else "zh"
    elif script == "cyrillic":
        letters = set(text.lower())
        code = "uk" if letters & set("їєґ") else "ru" if letters & set("ыэъ") else "und"
    else:
        code = {"hangul": "ko", "greek": "el", "arabic": "ar", "hebrew": "he", "thai": "th", "devanagari": "hi"}.get(
            script, "und"
        )
    return code, foreign / (foreign + latin)


def language(text: str) -> str:
    """ISO 639-1 code of the text's language: by its script when most of it is in one other
    than Latin, else of the language whose common words appear most; or "und"."""
    sample = text[:20000]
    foreign, share = _foreign(sample)
    if share >= FOREIGN_SHARE:
        return foreign
    words = Counter(re.findall(r"[^\W\d_]+", sample.lower()))
    scores = {code: sum(words[word] for word in stopwords) for code, stopwords in STOPWORDS.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] >= 3 else "und"


# Below this many words a text without enough common words (a terse invoice of labels and
# figures) is not taken for an unknown language: the rules read its labels and numbers.
UNREAD_MIN_WORDS = 150


def unread_language(text: str) -> str:
    """The language of `text` when the rules cannot read it ("Polish", "Japanese", "an
    unrecognised language"), or "" when they can."""
    code = language(text)
    if code in READ_LANGUAGES:
        return ""
    in_latin = _foreign(text[:20000])[1] < FOREIGN_SHARE
    if code == "und" and in_latin and word_count(text) < UNREAD_MIN_WORDS:
        return ""
    return LANGUAGE_NAMES.get(code, "an unrecognised language")


def title(text: str) -> str:
    """The first short line that reads as a title, else the first line, shortened."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines[:10]:
        short = 1 <= len(line.split()) <= 12 and len(line) <= 120 and any(c.isalpha() for c in line)
        if short and not line.endswith((",", ";")) and (line.isupper() or line.istitle() or not line.endswith(".")):
            return line
    return lines[0][:120] if lines else ""


def page_count(text: str, known: int | None) -> int | None:
    """The page count extraction found, else what the text says ("Page 2 of 5",
    form feeds), else unknown: a plain-text file has no pages."""
    if known:
        return known
    of = [int(match.group(1)) for match in re.finditer(r"\bpage\s+\d+\s+of\s+(\d+)\b", text, re.I)]
    if of:
        return max(of)
    if "\f" in text:
        return text.count("\f") + 1
    return None


def word_count(text: str) -> int:
    return len(re.findall(r"\w+", text))
