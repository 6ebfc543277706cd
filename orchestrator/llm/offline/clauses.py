"""The clause reading behind the offline stand-in agents: split a contract into
sentences, find which sentences are clauses of each finding type, and grade how
each reads against the kind of policy a contract rubric sets. Rules, not a model:
the stand-in is labelled as such wherever it runs.

A sentence is a clause of a type when its wording does what such a clause does (a
liability cap limits an amount or kind of liability; a non-compete restrains a party
from competing), in English, German, French, Spanish, Dutch or Italian; or when it
stands under a heading that names the type and is on the heading's topic. A mere
mention is no clause: "public liability insurance", "exclusive distributor",
"competitive pricing", "permitted by law", "on termination" raise nothing.

Every rule belongs to one finding type and one tier:
- DEFINITE: the clause is an issue as written ("shall automatically renew", "liability
  shall not be limited", a non-compete, payment after more than 60 days, late interest).
- HEDGED: it may be an issue but leaves room ("reasonable notice", "endeavour to keep
  confidential", an indemnity for third-party claims only).
- PRESENT: the clause is there and raises no definite issue (a clear cap, a choice of
  law, termination on a fixed notice, payment within 30 days, the uncapped liability
  the law requires for death, injury or fraud: no contract may do otherwise, so a
  reviewer has nothing to decide).

Governing law: the rules do not know the reader's home jurisdiction, so choosing a
law is only PRESENT; a clause that binds disputes to one forum (exclusive jurisdiction,
binding arbitration, a jury waiver) is DEFINITE, since that restriction holds
whatever law is chosen. A missing clause is not flagged: a finding must quote evidence.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.patterns.schemas import FINDING_TYPES

PRESENT, HEDGED, DEFINITE = 1, 2, 3
TIER_NAMES = {PRESENT: "present", HEDGED: "hedged", DEFINITE: "definite"}


@dataclass(frozen=True)
class Sentence:
    text: str  # verbatim slice of the document
    start: int


@dataclass(frozen=True)
class Rule:
    name: str
    type: str
    tier: int
    pattern: re.Pattern[str]
    title: str
    reason: str
    # An extra test on a match, for what a regex cannot say ("more than 60 days").
    accept: Callable[[re.Match[str], str], bool] | None = None
    # Whether the rule shows on its own that the sentence is a clause of its type.
    alone: bool = True


@dataclass(frozen=True)
class Hit:
    rule: Rule
    phrase: str  # the deciding words, verbatim from the sentence

    @property
    def tier(self) -> int:
        return self.rule.tier


# --- sentences ---------------------------------------------------------------

# Clause numbers need a dot ("4.", "4.2") so a line starting "30 days" is not one.
_ENUMERATION = re.compile(r"\s*(?:(?:\d+\.)+\d*|\(?[a-z]\)|\(?[ivx]+\)|[-•*–])\s+", re.I)
_ONLY_ENUMERATION = re.compile(r"\s*(?:(?:\d+\.)*\d+|\(?[a-z]|\(?[ivx]+|[a-z]\)|\d+\))\.?\s*", re.I)
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "inc", "ltd", "co", "corp", "no", "nos", "art", "arts", "sec", "secs", "cl",
    "para", "cf", "vs", "mr", "mrs", "ms", "dr", "st", "approx", "incl", "excl", "p", "pp", "u.s", "u.k",
}  # fmt: skip
_HEADING_SMALL_WORDS = {"and", "of", "the", "for", "to", "in", "on", "or", "a", "an", "by", "with", "&"}
# Shouted sentences ("LIABILITY SHALL NOT BE LIMITED.") are common in contracts; a verb
# tells them from a heading.
_SENTENCE_VERBS = {"shall", "will", "may", "must", "is", "are", "be", "not", "means"}
MAX_SENTENCE = 2000  # characters
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)")


# Page furniture, as text extracted from a paginated document carries it: a page number
# ("Page 7 of 32", "- 7 -") or a running header or footer repeated on every page. It is no
# sentence and no heading, and a sentence does not run on into it.
_PAGE_MARK = re.compile(r"^\s*(?:-\s*\d+\s*-|\d{1,4}|page\s+\d+(?:\s*(?:of|/)\s*\d+)?)\s*$"
                        r"|\bpage\s+\d+\s*(?:of|/)\s*\d+\s*$", re.I)  # fmt: skip
_RUNNING_MIN = 3  # a running header or footer repeats on at least this many pages
_RUNNING_MAX_WORDS = 12


def furniture(lines: list[str]) -> set[int]:
    """The indexes of the lines that are page furniture."""
    masked = [re.sub(r"\d+", "#", line.strip()) for line in lines]
    counts: dict[str, int] = {}
    for line in masked:
        counts[line] = counts.get(line, 0) + 1
    return {
        index
        for index, (line, plain) in enumerate(zip(masked, lines, strict=True))
        if line
        and (
            _PAGE_MARK.search(plain)
            or (
                counts[line] >= _RUNNING_MIN
                and any(ch.isalpha() for ch in line)
                and len(line.split()) <= _RUNNING_MAX_WORDS
                and not line.endswith((".", ":", ";"))
            )
        )
    }


def split_sentences(text: str) -> list[Sentence]:
    """The document's sentences in order, each a verbatim slice, headings left out.

    Breaks at sentence ends and at line breaks, except where a line merely wraps a
    sentence (no closing punctuation, and the next line is not a new clause), so
    PDF-wrapped text still reads as whole sentences.
    """
    sentences = []
    for start, end in _blocks(text):
        for s_start, s_end in _split_block(text, start, end):
            sentence = _trimmed(text, s_start, s_end)
            if sentence and not _is_heading(sentence.text):
                sentences.append(sentence)
    return sentences


def _blocks(text: str) -> list[tuple[int, int]]:
    lines = text.splitlines(keepends=True)
    skipped = furniture(lines)
    blocks, start, pos = [], 0, 0
    for i, line in enumerate(lines):
        pos += len(line)
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if i in skipped:
            start = pos  # left out of every sentence
        elif not following or i + 1 in skipped or not _wraps(line, following):
            blocks.append((start, pos))
            start = pos
    return blocks


def _wraps(line: str, following: str) -> bool:
    """Whether `following` continues the sentence that `line` leaves open."""
    line, following = line.strip(), following.strip()
    if not line or not following or line[-1] in ".:;!?" or _is_heading(line):
        return False
    return not _ENUMERATION.match(following)


def _split_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [piece for span in _sentence_spans(text, start, end) for piece in _cap_length(text, *span)]


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, seg_start = [], start
    for match in _SENTENCE_END.finditer(text, start, end):
        cut = match.end()
        rest = text[cut:end].lstrip()
        if not rest or not (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"'(“"):
            continue
        so_far = text[seg_start:cut]
        last_word = so_far.rstrip(".!?\"')]").split()[-1].lower() if so_far.split() else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        if _ONLY_ENUMERATION.fullmatch(so_far):  # "4." before "Renewal"
            continue
        spans.append((seg_start, cut))
        seg_start = cut
    spans.append((seg_start, end))
    return spans


def _cap_length(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut runaway "sentences" (tables, unpunctuated extraction) at a space, because
    the rules' two-part patterns take time quadratic in sentence length."""
    pieces = []
    while end - start > MAX_SENTENCE:
        cut = text.rfind(" ", start + MAX_SENTENCE // 2, start + MAX_SENTENCE)
        cut = cut if cut > 0 else start + MAX_SENTENCE
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _trimmed(text: str, start: int, end: int) -> Sentence | None:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    enumeration = _ENUMERATION.match(piece, lead)
    if enumeration:
        lead = enumeration.end()
    body = piece[lead:].rstrip()
    if not any(ch.isalpha() for ch in body):
        return None
    return Sentence(body, start + lead)


def _is_heading(text: str) -> bool:
    """A title such as "Limitation of Liability." or "TERM AND TERMINATION"."""
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    if not words or len(words) > 8 or text.rstrip().endswith((",", ";", ":", "?", "!")):
        return False
    if any(w.lower() in _SENTENCE_VERBS for w in words):
        return False
    if text.isupper():
        return True
    return all(w[0].isupper() or w.lower() in _HEADING_SMALL_WORDS for w in words)


# --- rules -------------------------------------------------------------------

_NUMBER_WORDS = {
    "thirty": 30, "forty-five": 45, "forty five": 45, "sixty": 60, "seventy-five": 75, "seventy five": 75,
    "ninety": 90, "one hundred twenty": 120, "one hundred and twenty": 120, "one hundred eighty": 180,
    "one hundred and eighty": 180,
}  # fmt: skip
_DAY_WORDS = r"(?:calendar\s+|business\s+|working\s+)?(?:days?|Tage[n]?|Kalendertage[n]?|jours|días|dagen|giorni)"
_DAYS = re.compile(
    r"(?:(?<![\w.,])\(?(?P<num>\d{1,3})\)?"
    r"|\b(?P<word>thirty|forty[- ]five|sixty|seventy[- ]five|ninety|one hundred (?:and )?(?:twenty|eighty))"
    r"(?:\s*\((?P<paren>\d{1,3})\))?)"
    rf"\s+{_DAY_WORDS}\b"
    r"|\bnet\s+(?P<net>\d{1,3})\b",
    re.I,
)
_PAYMENT_CONTEXT = re.compile(
    r"\b(?:pay|paid|payable|payment|payments|invoice[sd]?|remit\w*|zahlbar|Zahlung\w*|fällig|Rechnung\w*"
    r"|payables?|paiement|factures?|pagará|abonará|pago|factura|betal\w*|factu\w+|pagament\w*|fattur\w*)\b",
    re.I,
)
_END_OF_MONTH = re.compile(r"\b(?:end\s+of\s+(?:the\s+)?month|fin\s+de\s+mois|Monatsende|fin\s+de\s+mes"
                           r"|fine\s+mese)\b", re.I)  # fmt: skip
# Carve-outs the law itself makes (death, personal injury, fraud, wilful misconduct): uncapped
# everywhere, so only hedged as an issue.
_STATUTORY = re.compile(
    r"\b(?:death|personal\s+injury|bodily\s+injury|fraud\w*|wil(?:l)?ful|intent\w*|gross\s+negligence|Vorsatz"
    r"|grobe\w*\s+Fahrlässigkeit|Verletzung\s+des\s+Lebens|faute\s+lourde|dol|dolo|culpa\s+grave|opzet"
    r"|grove\s+schuld)\b",
    re.I,
)
_BROAD_CARVE_OUT = re.compile(
    r"\b(?:confidential\w*|section|clause|indemn\w*|data|intellectual|infring\w*|payment|Vertraulich\w*"
    r"|Datenschutz|confidentialité|confidencialidad)\b",
    re.I,
)


def _days(match: re.Match[str]) -> int:
    for group in ("num", "paren", "net"):
        if match.group(group):
            return int(match.group(group))
    return _NUMBER_WORDS[" ".join(match.group("word").lower().split())]


def _long_payment_term(match: re.Match[str], sentence: str) -> bool:
    return _days(match) > 60 and bool(_PAYMENT_CONTEXT.search(sentence))


def _month_end_term(match: re.Match[str], sentence: str) -> bool:
    # "60 days from the end of the month": up to 90 days in fact.
    return 45 <= _days(match) <= 60 and bool(_END_OF_MONTH.search(sentence) and _PAYMENT_CONTEXT.search(sentence))


def _statutory_only(match: re.Match[str], sentence: str) -> bool:
    return bool(_STATUTORY.search(sentence)) and not _BROAD_CARVE_OUT.search(sentence)


def _not_statutory_only(match: re.Match[str], sentence: str) -> bool:
    return not _statutory_only(match, sentence)


_NOTHING_LIMITS = re.compile(r"\bnothing\b[^.;]{0,60}?\b(?:limit|exclud|restrict)", re.I)


def _limits(match: re.Match[str], sentence: str) -> bool:
    # "Nothing in this Agreement limits or excludes liability for fraud" lifts a cap; it sets none.
    return not _NOTHING_LIMITS.search(sentence)


# The rules keep to one sentence with [^.;]; a clause number's dot ("clauses 16.2 and 16.3",
# "§ 4.1") is no sentence end.
_IN_SENTENCE = r"(?:[^.;]|(?<=\d)\.(?=\d))"


def _r(
    type_: str, tier: int, name: str, title: str, reason: str, *alternatives: str, accept=None, alone: bool = True
) -> Rule:
    pattern = re.compile("|".join(alternatives).replace("[^.;]", _IN_SENTENCE), re.I | re.S)
    return Rule(f"{type_}.{name}", type_, tier, pattern, title, reason, accept, alone)


# Word lists the patterns share. A token is a word with its trailing comma ("lists,").
_TOKENS = r"(?:[\s,]+[\w'’.-]+){0,%d}?[\s,]+"
_RESTRAINED = (
    r"(?:compete|engage(?:\s+in)?|be\s+engaged\s+in|work\s+for|provide\s+services\s+to|manufacture|market"
    r"|promote|sell|supply|distribute|carry\s+on|be\s+(?:employed|interested)\s+(?:by|in))"
)
_COMPETITION = r"(?:compet\w+|in\s+competition|rival\w*)"

# Every type's rules. A rule that is `alone` shows on its own that the sentence is a clause
# of its type; the others only grade a sentence that some rule (or its heading, see
# HEADINGS) already shows to be one. Within a type the strongest tier that matches
# decides, then the first rule from the top. (?P<key>...) marks the deciding words.
# fmt: off
RULES: list[Rule] = [
    # --- automatic renewal: the term goes on unless someone acts -------------------
    _r("auto_renewal", DEFINITE, "automatic", "Automatic renewal",
       "the contract renews unless someone acts, so a missed notice date locks in a new term",
       r"\b(?:automatic(?:ally)?|tacit(?:ly)?)[\s-]+(?:be\s+)?(?:renew|extend|roll|continu)\w*",
       r"\b(?:renew|extend)(?:s|ed)?\s+automatically\b",
       r"\bauto-?renew\w*",
       r"\bevergreen\b",
       r"\b(?:shall|will)\s+(?:be\s+)?(?:renew|extend)(?:ed)?\s+for\s+(?:successive|further|additional|consecutive)\b",
       r"\brenews?\s+for\s+successive\b",
       r"\bcontinues?\s+(?:from\s+)?(?:month\s+to\s+month|year\s+to\s+year|on\s+a\s+(?:monthly|rolling|yearly)\s+basis)",
       r"\bverlängert\s+sich\b", r"\b(?:stillschweigend|automatisch)\w*\s+verlänger\w*",
       r"\breconduit\w*\s+tacitement\b", r"\btacite\s+reconduction\b",
       r"\brenouvel\w*\s+(?:automatiquement|tacitement)\b",
       r"\bprorrogar\w*\s+(?:tácita|automática)mente\b", r"\bprórrogas?\s+(?:tácitas?|automáticas?)\b",
       r"\brenovar\w*\s+automáticamente\b",
       r"\b(?:stilzwijgend|automatisch)\s+(?:\w+\s+)?verlengd\b",
       r"\b(?:tacitamente|automaticamente)\s+rinnovat\w*", r"\brinnov\w+\s+(?:tacitamente|automaticamente)\b",
       r"\btacito\s+rinnovo\b"),

    # --- termination: a party's right to end the contract --------------------------------
    _r("termination", DEFINITE, "only_for_cause", "Termination only for cause",
       "there is no way out of the contract for convenience",
       r"\bterminat\w*\b[^.;]{0,80}?(?P<key>\bonly\s+(?:for|upon|on|in\s+the\s+event\s+of)\s+(?:cause|(?:a\s+)?material\s+breach))",
       alone=True),
    _r("termination", DEFINITE, "not_terminable", "Termination excluded", "a party is barred from terminating",
       r"\b(?:may|shall|can)\s*not\s+(?:be\s+)?terminat\w*",
       r"\bcannot\s+(?:be\s+)?terminat\w*",
       r"\bnot\s+(?:be\s+)?entitled\s+to\s+terminat\w*",
       r"\bno\s+right\s+to\s+terminat\w*",
       r"\bnon-?cancell?able\b",
       r"\bno\s+termination\s+for\s+convenience\b",
       r"\bordentliche\s+Kündigung\s+ist\s+ausgeschlossen\b"),
    _r("termination", DEFINITE, "termination_fee", "Termination fee", "leaving the contract costs a fee",
       r"\b(?:early\s+)?terminat\w*\s+(?:fee|charge|penalty)\b"),
    _r("termination", HEDGED, "vague_notice", "Vague termination notice",
       "the notice period is not fixed, or one side may end the contract at will",
       r"\bterminat\w*\b[^.;]{0,60}?(?P<key>\breasonable\s+(?:prior\s+)?(?:written\s+)?notice\b)",
       r"\bterminat\w*(?:\s+\S+){0,6}?\s+(?:at\s+any\s+time|without\s+(?:prior\s+)?notice|at\s+its\s+(?:sole\s+)?discretion)",
       r"\bwith\s+or\s+without\s+(?:cause|notice)\b",
       r"\bat-?\s?will\b",
       r"\b(?:terminat\w*|end)\b[^.;]{0,60}?\bon\s+payment\s+of\b", alone=False),
    _r("termination", PRESENT, "right", "Termination right", "a party may end the contract",
       r"\b(?:may|can|shall\s+be\s+entitled\s+to|is\s+entitled\s+to|are\s+entitled\s+to|(?:has|have)\s+the\s+right\s+to"
       r"|right\s+to)\s+(?:\w+\s+){0,3}?(?:terminate|cancel|rescind)\b",
       r"\b(?:may|can)\s+(?:\w+\s+){0,2}?end\s+(?:this|the|your|its|our)\s+(?:\w+\s+)?(?:agreement|contract|lease|licen[cs]e"
       r"|engagement|employment|hire|subcontract|subscription|order|appointment)\b",
       r"\bterminat\w*\s+(?:this|the)\s+(?:\w+\s+)?(?:agreement|contract|lease|licen[cs]e|msa|sow|engagement"
       r"|employment|subcontract|hire|subscription)\b[^.;]{0,60}?\b(?:notice|immediate\w*|convenience|cause|breach"
       r"|insolven\w*|written)",
       r"\bterminable\b", r"\bre-?enter\b",
       r"\bkündig\w*", r"\bKündigung\w*",
       r"\b(?:peut|peuvent|pourra|pourront|droit\s+de)\s+(?:\w+\s+){0,4}?résilier\b",
       r"\brésilier\s+(?:le|ce|la|les)\s+(?:présent\s+)?(?:contrat|convention|abonnement)\b",
       r"\brésiliation\s+(?:anticipée|pour\s+faute|de\s+plein\s+droit|immédiate)\b",
       r"\brésilié\w*\s+de\s+plein\s+droit\b", r"\bdonner\s+congé\b",
       r"\b(?:podrá|podrán|facultará\w*|derecho\s+a)\b[^.;]{0,60}?\b(?:resolver|rescindir|desistir)\b",
       r"\b(?:resolver|rescindir)\s+el\s+(?:presente\s+)?contrato\b",
       r"\b(?:opzeggen|opzegging|opzegtermijn|ontbinden|ontbinding)\b",
       r"\b(?:recedere|recesso|risolvere\s+il\s+contratto|risoluzione\s+del\s+contratto)\b"),

    # --- liability with no cap (for some or all claims) ---------------------------------
    _r("unlimited_liability", DEFINITE, "not_limited", "Unlimited liability", "liability is stated to have no cap",
       r"\bunlimited\s+liability\b",
       r"\bliab\w*\b[^.;]{0,80}?(?P<key>\b(?:shall|will|is|are)\s+not\s+(?:be\s+)?(?:limited|capped))",
       r"\bliable\s+without\s+limit\w*",
       r"\bwithout\s+(?:any\s+)?limit\w*\s+(?:of|on|as\s+to)\s+(?:its\s+|their\s+)?liability",
       r"\bno\s+(?:limitation|cap)\s+(?:of|on)\s+(?:its\s+|their\s+)?liability",
       r"\buncapped\b",
       r"\b(?:limitations?|caps?|limits?|exclusions?)\b[^.;]{0,60}?(?P<key2>\b(?:do|does|shall|will)\s+not\s+apply"
       r"\s+to)\b",
       r"\bliabilit\w*\b[^.;]{0,40}?(?P<key3>\b(?:other\s+than|except)\s+(?:under|for|in\s+respect\s+of)\s+"
       r"(?:clause|section|article)\b[^.;]{0,40}?)\b(?:is|are|shall\s+be|will\s+be)\s+limited",
       r"\bnothing\s+in\s+this\s+\w+\s+(?:shall\s+)?(?:limits?|excludes?|restricts?)\b[^.;]{0,40}?\bliabilit",
       r"\bhaftet\b[^.;]{0,40}?\b(?:unbeschränkt|unbegrenzt)\b", r"\b(?:unbeschränkt|unbegrenzt)\w*\s+Haftung\b",
       r"\bresponsabilité\s+illimitée\b", r"\bresponsabilidad\s+ilimitada\b", r"\bonbeperkt\s+aansprakelijk\b",
       r"\bresponsabilità\s+illimitata\b",
       accept=_not_statutory_only),
    _r("unlimited_liability", PRESENT, "statutory", "Liability the law leaves uncapped",
       "the cap does not reach death, injury or fraud, which no contract may limit",
       r"\bliab\w*\b[^.;]{0,80}?(?P<key>\b(?:shall|will|is|are)\s+not\s+(?:be\s+)?(?:limited|capped))",
       r"\bnothing\s+in\s+this\s+\w+\s+(?:shall\s+)?(?:limits?|excludes?|restricts?)\b[^.;]{0,40}?\bliabilit",
       r"\bhaftet\b[^.;]{0,40}?\b(?:unbeschränkt|unbegrenzt)\b", r"\b(?:unbeschränkt|unbegrenzt)\w*\s+Haftung\b",
       r"\b(?:limitations?|caps?|limits?|exclusions?)\b[^.;]{0,60}?(?P<key2>\b(?:do|does|shall|will)\s+not\s+apply"
       r"\s+to)\b",
       r"\b(?:this|it)\s+(?:does|shall|will)\s+not\s+(?:limit|exclude|restrict)\s+(?:\w+\s+)?liabilit",
       accept=_statutory_only),
    _r("unlimited_liability", HEDGED, "fully_liable", "Possibly uncapped liability",
       "the wording suggests liability without a cap",
       r"\bfully\s+liable\b",
       r"\bliable\s+for\s+(?:all|any\s+and\s+all)\s+(?:losses|damages|claims)\b"),

    # --- a cap on, or an exclusion of, an amount or kind of liability ----------------------
    _r("liability_cap", HEDGED, "vague_limit", "Liability limit unclear",
       "a limit on liability is suggested but not fixed",
       r"\b(?:reasonable|appropriate)\s+limit\w*\s+(?:of|on)\s+liability\b",
       r"\bliability\b[^.;]{0,60}?\bmay\s+be\s+(?:limited|capped)\b",
       r"\bliabilit\w*\b[^.;]{0,80}?\bto\s+the\s+(?:maximum\s+)?extent\s+permitted\s+by\s+(?:applicable\s+)?law\b"),
    _r("liability_cap", PRESENT, "cap", "Liability capped or excluded",
       "a cap or exclusion limits what can be recovered",
       r"\bliabilit\w*\b[^.;]{0,120}?(?P<key>\b(?:shall|will|does|may)\s+not\s+exceed\b|\bnot\s+to\s+exceed\b"
       r"|\b(?:is|are|shall\s+be|will\s+be|be)\s+(?:limited|capped)\s+(?:to|at)\b|\bcapped\s+at\b)",
       r"\bin\s+no\s+event\b[^.;]{0,80}?\b(?:liab\w+|exceed)\b",
       r"\b(?:shall|will|is|are)\s+not\s+(?:be\s+)?liable\s+(?:to\s+(?:\w+\s+){1,3})?for\s+(?:any\s+)?(?:loss\s+of|lost"
       r"|indirect|consequential|special|incidental|punitive|exemplary)",
       r"\bneither\s+party\s+(?:shall|will|is|are)?\s*(?:be\s+)?liable\b[^.;]{0,80}?\b(?:indirect|consequential"
       r"|loss\s+of|special|incidental|punitive)",
       r"\bexclud\w*\s+(?:all\s+|any\s+)?liability\s+for\b",
       r"\b(?:haft\w*|Haftung)\b[^.;]{0,120}?\b(?:beschränkt|begrenzt|höchstens|ausgeschlossen)\b",
       r"\bhaftet\b[^.;]{0,30}?\bnur\b",
       r"\bresponsabilité\b[^.;]{0,100}?\b(?:limitée|plafonnée|exclue)\b",
       r"\bne\s+(?:pourra|saurait|peut)\s+(?:en\s+aucun\s+cas\s+)?(?:excéder|dépasser)\b",
       r"\bne\s+saurait\s+être\s+tenu\w*\s+(?:pour\s+)?responsable\b",
       r"\bresponsabilidad\b[^.;]{0,100}?\b(?:limitada|no\s+excederá|no\s+podrá\s+exceder)\b",
       r"\baansprakelijkheid\b[^.;]{0,80}?\bbeperkt\s+tot\b", r"\bniet\s+aansprakelijk\s+voor\b",
       r"\bresponsabilità\b[^.;]{0,80}?\blimitata\b", accept=_limits),

    # --- indemnity: one party bears the other's losses or claims ---------------------------
    _r("indemnity", DEFINITE, "broad", "Broad indemnity", "one party must cover the other's losses of every kind",
       r"\bindemnif\w*\b[^.;]{0,80}?(?P<key>\b(?:all|any\s+and\s+all)\s+(?:claims?|costs|losses|liabilities|damages)\b)",
       r"\bharmless\b[^.;]{0,60}?(?P<key2>\b(?:all|any\s+and\s+all|any)\s+(?:claims?|costs|losses|liabilities|damages)\b)",
       alone=False),
    _r("indemnity", HEDGED, "indemnify", "Indemnity obligation", "one party must cover the other's losses",
       r"\b(?:shall|will|agrees?\s+to|undertakes?\s+to|must)\s+(?:\w+\s+){0,4}?(?:indemnif\w*|hold\s+(?:\w+\s+){0,3}?harmless)",
       r"\bhold\s+(?:\w+\s+){0,3}?harmless\b",
       r"\b(?:shall|will)\s+defend\b[^.;]{0,60}?\bclaims?\b",
       r"\b(?:freizustellen|freistellen|stellt\b[^.;]{0,60}?\bfrei\b|schadlos\s+(?:zu\s+)?halt\w*)",
       r"\b(?:garantir|garantit|garantira|garantiront|indemniser|indemnisera)\b[^.;]{0,80}?\bcontre\s+(?:toute\w*\s+)?"
       r"(?:réclamation|action|recours|condamnation)",
       r"\b(?:indemnizará|indemnizarán|mantendrá\s+indemne|mantener\s+indemne)\b",
       r"\bvrijwaar\w*|\bvrijwaring\b", r"\bmanlev\w+|\b(?:tenere|terrà)\s+indenne\b"),

    # --- governing law and forum ------------------------------------------------------
    _r("governing_law", DEFINITE, "forum", "Disputes bound to one forum", "disputes must be heard in one named forum",
       r"\bexclusive\s+(?:jurisdiction|venue)\b",
       r"\b(?:binding|final)\s+(?:and\s+binding\s+)?arbitration\b",
       r"\bsettled\s+(?:exclusively\s+|finally\s+)?(?:by|under)\s+(?:the\s+rules\s+of\s+)?arbitration\b",
       r"\b(?:resolved|determined|decided|settled)\s+(?:exclusively\s+|finally\s+)?by\s+arbitration\b",
       r"\b(?:referred|submitted)\s+to\s+(?:and\s+finally\s+resolved\s+by\s+)?arbitration\b",
       r"\bRules\s+of\s+Arbitration\b",
       r"\bwaive\w*\s+(?:\w+\s+){0,4}?jury\b",
       r"\bcompétence\s+exclusive\b", r"\bausschließlich\w*\s+Gerichtsstand\b", r"\bforo\s+esclusivo\b",
       r"\barbitraje\b", r"\barbitrage\b", r"\bSchiedsgericht\w*", r"\barbitrato\b"),
    _r("governing_law", PRESENT, "choice_of_law", "Choice of law or forum",
       "the chosen law or forum may not be the reader's own",
       r"\b(?:governed\s+by|construed\s+in\s+accordance\s+with|subject\s+to)\b[^.;]{0,40}?\blaws?\s+of\b",
       r"\bgoverned\s+by\s+(?:the\s+)?(?:[\w-]+\s+){0,3}?laws?\b",
       r"\b(?:courts?|tribunals?)\s+of\s+[A-Z][^.;]{0,60}?\bjurisdiction\b",
       r"\bsubmits?\s+to\s+the\s+(?:non-)?(?:exclusive\s+)?jurisdiction\b", r"\battorn\w*\s+to\s+the\s+jurisdiction\b",
       r"\bjurisdiction\s+of\s+the\s+courts\b", r"\blaws?\s+of\s+[A-Z][\w ]{0,40}?\s+(?:shall\s+)?(?:appl|govern)\w*",
       r"\b(?:es\s+gilt|gilt|gelten)\s+(?:das\s+|ausschließlich\s+)?(?:\w+\s+){0,2}?Recht\b",
       r"\bunterliegt\s+(?:dem\s+)?(?:\w+\s+)?Recht\b", r"\bGerichtsstand\b", r"\banwendbare\w*\s+Recht\b",
       r"\b(?:soumis|régi)\w*\s+(?:au|par\s+le)\s+droit\b", r"\bdroit\s+applicable\b", r"\bloi\s+applicable\b",
       r"\btribunal\s+de\s+commerce\s+de\b", r"\bjuridictions?\s+compétentes?\b",
       r"\bse\s+rige\s+por\b", r"\bley\s+aplicable\b", r"\blegislación\s+(?:española|aplicable)\b",
       r"\bse\s+someten\s+a\s+los\s+Juzgados\b", r"\bJuzgados\s+y\s+Tribunales\s+de\b",
       r"\b(?:Nederlands|Belgisch)\s+recht\b", r"\btoepasselijk\s+recht\b", r"\bbevoegde\s+rechter\b",
       r"\brecht\s+van\s+toepassing\b",
       r"\blegge\s+italiana\b", r"\bdiritto\s+italiano\b", r"\bforo\s+competente\b", r"\bregolat\w+\s+dalla\s+legge\b"),

    # --- confidentiality: information must be kept secret ---------------------------------
    _r("confidentiality", DEFINITE, "perpetual", "Perpetual confidentiality", "the duty never ends",
       r"\bconfidential\w*\b[^.;]{0,120}?(?P<key>\bin\s+perpetuity\b|\bperpetual(?:ly)?\b|\bindefinitely\b)",
       r"\b(?:in\s+perpetuity|perpetual(?:ly)?|indefinitely)\b[^.;]{0,120}?\bconfidential\w*",
       r"\bunbefristet\b", r"\bsans\s+limitation\s+de\s+durée\b", r"\bpor\s+tiempo\s+indefinido\b", alone=False),
    _r("confidentiality", DEFINITE, "not_confidential", "Confidentiality not protected",
       "information may be disclosed freely",
       r"\bno\s+(?:obligation|duty)\s+(?:of|to\s+(?:keep|maintain))\s+confidential\w*",
       r"\b(?:is|are|shall\s+be)\s+not\s+(?:considered\s+|deemed\s+|treated\s+as\s+)?confidential\b",
       r"\bmay\s+(?:freely\s+)?(?:disclose|publish|share)\b[^.;]*?(?P<key>\bany\s+third\s+part(?:y|ies)\b|\bpublicly\b"
       r"|\bwithout\s+(?:the\s+)?(?:prior\s+)?(?:written\s+)?consent\b)"),
    _r("confidentiality", HEDGED, "weak_duty", "Weak confidentiality duty",
       "the duty is only to try, not to keep information confidential",
       r"\b(?:endeavou?r\w*|(?:commercially\s+)?reasonable\s+efforts|best\s+efforts|try)\b[^.;]*?\bconfidential\w*",
       r"\bconfidential\w*\b[^.;]*?\b(?:where\s+(?:possible|practicable)|as\s+far\s+as\s+(?:possible|practicable))\b"),
    _r("confidentiality", PRESENT, "duty", "Confidentiality duty", "information must be kept confidential",
       r"\b(?:keep|kept|hold|held|treat|treated|maintain|preserve)\w*" + (_TOKENS % 8)
       + r"(?:confidential|in\s+(?:strict\s+)?confidence|secret)\b",
       r"\b(?:not|never)\s+(?:\w+\s+){0,3}?(?:use\s+or\s+)?(?:disclose|divulge|reveal)\b[^.;]{0,80}?"
       r"\b(?:confidential|information|third\s+part)",
       r"\bconfidentiality\s+(?:obligations?|undertakings?|duty|duties)\b", r"\bduty\s+of\s+confidentiality\b",
       r"\bprotect\b[^.;]{0,60}?\bconfidential\s+information\b",
       r"\bvertraulich\s+(?:zu\s+)?behandeln\b", r"\bStillschweigen\b", r"\bGeheimhaltung\w*", r"\bVerschwiegenheit\w*",
       r"\bconfidentiel(?:le)?s?\b", r"\bconfidentialité\b",
       r"\bconfidencial\w*\b", r"\bsecreto\s+profesional\b",
       r"\bgeheim\s*houd\w*", r"\bvertrouwelijk\w*\s+(?:te\s+)?(?:behandelen|houden)\b",
       r"\briservatezza\b", r"\bstrettamente\s+riservat\w+"),

    # --- non-compete: a party may not compete ------------------------------------------
    _r("non_compete", DEFINITE, "restraint", "Restraint on competition", "a party may not compete",
       r"\bnon-?compet\w*", r"\bcovenant\s+not\s+to\s+compete\b", r"\brestrain\w*\s+from\s+compet\w*",
       r"\b(?:not|never)\b" + (_TOKENS % 12) + _RESTRAINED + r"\b[^.;]{0,160}?\b" + _COMPETITION,
       r"\bWettbewerbsverbot\w*", r"\bnicht\b[^.;]{0,160}?\b(?:Konkurrenz|Wettbewerb|konkurrier\w+)\b",
       r"\bnon-?concurrence\b", r"\bs'interdit\b[^.;]{0,160}?\bconcurren\w+",
       r"\bno\s+competencia\b", r"\bno\s+(?:\w+\s+){0,6}?(?:fabricará|distribuirá|comercializará|competirá|venderá)\b"
       r"[^.;]{0,160}?\bcompit\w+",
       r"\bconcurrentiebeding\b", r"\bniet\b[^.;]{0,120}?\bconcurre\w+",
       r"\b(?:patto\s+di\s+)?non\s+concorrenza\b", r"\bnon\b[^.;]{0,120}?\bconcorren\w+"),

    # --- payment terms: when and how money is paid ----------------------------------------
    _r("payment_terms", DEFINITE, "long_term", "Payment term over 60 days", "payment falls due more than 60 days out",
       _DAYS.pattern, accept=_long_payment_term, alone=False),
    _r("payment_terms", DEFINITE, "late_interest", "Late payment interest or fees",
       "late payment costs interest or a fee",
       r"\binterest\b[^.;]*?\b(?:late|overdue|outstanding|unpaid)\b",
       r"\b(?:late|overdue|unpaid)\b[^.;]*?\binterest\b",
       r"\blate\s+(?:payment\s+)?(?:fee|charge|penalty|surcharge)s?\b",
       r"\b(?:not\s+paid|unpaid)\b[^.;]{0,40}?\baccrue\b",
       r"\bpénalités?\s+(?:de\s+retard|au\s+taux)\b", r"\bretard\b[^.;]{0,60}?\bpénalités?\b",
       r"\bintérêts?\s+de\s+retard\b", r"\bVerzugszinsen\b", r"\bintereses\s+de\s+demora\b",
       r"\b(?:wettelijke\s+)?(?:handels)?rente\b[^.;]{0,40}?\b(?:verschuldigd|verzuim)\b",
       r"\binteressi\s+di\s+mora\b"),
    _r("payment_terms", HEDGED, "month_end", "Payment counted from the month's end",
       "counted from the end of the month the term runs past 60 days",
       _DAYS.pattern, accept=_month_end_term, alone=False),
    _r("payment_terms", HEDGED, "price_change", "Open-ended price or payment terms",
       "prices or payment timing are left open",
       r"\b(?:may|reserves?\s+the\s+right\s+to)\s+(?:\w+\s+){0,2}?(?:adjust|increase|change|revise)\s+"
       r"(?:the\s+|its\s+)?(?:prices?|fees?|rates?|charges?)\b",
       r"\bprices?\b[^.;]*?\bmay\s+be\s+(?:adjusted|increased|changed|revised)\b",
       r"\bpay\w*\b[^.;]*?\b(?:promptly|in\s+a\s+timely\s+manner|within\s+a\s+reasonable\s+time)\b", alone=False),
    _r("payment_terms", PRESENT, "when_paid", "Payment terms", "the contract says when and how payment is made",
       r"\b(?:pay|pays|paid|payable|payment|payments|remit)\b[^.;]{0,80}?\b(?:within|no\s+later\s+than|on\s+or\s+before"
       r"|in\s+advance|in\s+arrears|on\s+receipt|upon\s+receipt|on\s+signature|monthly|quarterly|annually|weekly"
       r"|bi-?weekly|each\s+month|a\s+month|per\s+month|by\s+(?:bank\s+transfer|direct\s+debit|standing\s+order|cheque"
       r"|check)|instal+ments?|days)\b",
       r"\b(?:invoices?|fees?|rent|royalt\w+|salary|charges?|amounts?)\b[^.;]{0,60}?\b(?:are|is|shall\s+be|will\s+be"
       r"|become|becomes)\s+(?:due|payable|invoiced|paid)\b",
       r"\binvoiced\s+(?:annually|monthly|quarterly|each\s+\w+)\b",
       r"\bnet\s+\d{1,3}\b",
       r"\bzahlbar\b", r"\bZahlungsziel\b",
       r"\b(?:Vergütung|Rechnung\w*|Miete|Gehalt|Pauschale|Honorar)\b[^.;]{0,80}?\b(?:fällig|zahlbar|überwiesen"
       r"|zu\s+zahlen|zahlt)\b",
       r"\bpayables?\b", r"\bpaiement\b[^.;]{0,60}?\b(?:jours|à\s+réception|comptant|par\s+(?:virement|prélèvement"
       r"|chèque))\b", r"\bfactur\w+\b[^.;]{0,60}?\b(?:réglées?|jours|mensuellement)\b",
       r"\b(?:abonará|pagará|pagarán|pago|pagadera?s?)\b[^.;]{0,80}?\b(?:plazo|días|dentro|mediante|transferencia"
       r"|anticipad\w+|mensual\w*)\b",
       r"\bbetal\w*\b[^.;]{0,60}?\b(?:binnen|dagen)\b", r"\bbetalingstermijn\b",
       r"\bpagament\w+\b[^.;]{0,60}?\b(?:giorni|bonifico|entro)\b"),
]
# fmt: on

# A heading names the clause its sentences belong to, in several languages; under it,
# a sentence on the heading's topic is a clause of that type even where its own
# wording would not say so ("8. Confidentiality. The Recipient shall not disclose...").
HEADINGS = {
    "termination": (
        r"terminat|ending|cancell|kündigung|résiliation|resolución|rescisión|opzegging|beëindiging"
        r"|recesso|forfeiture|break\b",
        r"\b(?:end|ends|ending|notice|terminat\w*|cancel\w*)\b",
    ),
    "governing_law": (
        r"governing\s+law|applicable\s+law|^law\b|\blaw$|jurisdiction|disputes?|gerichtsstand"
        r"|anwendbares\s+recht|rechtswahl|droit\s+applicable|juridiction|ley\s+aplicable|jurisdicción"
        r"|toepasselijk\s+recht|geschillen|legge\s+applicabile|\bforo\b",
        r"\b(?:law|laws|courts?|jurisdiction|Recht|droit|loi|tribunal|ley|legislación|Juzgados|recht"
        r"|rechter|legge|foro|arbitrat\w*)\b",
    ),
    "confidentiality": (
        r"confidential|non-disclosure|geheimhaltung|vertraulich|verschwiegenheit|confidentialit"
        r"|confidencialidad|geheimhouding|riservatezza",
        r"\b(?:disclos\w+|confidential\w*|secret\w*|information|Informationen|informations?"
        r"|información|informatie|informazioni)\b",
    ),
    "payment_terms": (
        r"payment|fees|charges|\brent\b|salary|compensation|royalt|vergütung|zahlung|gehalt"
        r"|paiement|facturation|renta|\bpago|betaling|pagamento",
        r"\b(?:pay\w*|invoice\w*|due|fällig|zahl\w*|factur\w*|pag\w+|betal\w*|\d+\s+(?:days|Tage|jours"
        r"|días|dagen|giorni))\b",
    ),
    "non_compete": (
        r"non-?compet|restrictive\s+covenant|restrictions?\s+after|wettbewerbsverbot|non-?concurrence"
        r"|no\s+competencia|concurrentiebeding|non\s+concorrenza",
        r"\b(?:compet\w*|engag\w*|work\s+for|tätig|concurren\w*|compit\w*)\b",
    ),
}
_HEADINGS = {kind: (re.compile(heading, re.I), re.compile(topic, re.I)) for kind, (heading, topic) in HEADINGS.items()}
# A clause known only by its heading is graded as its type always is: any non-compete is an issue.
_HEADING_TIER = {"non_compete": DEFINITE}
_HEADING_RULE = {
    kind: Rule(f"{kind}.heading", kind, _HEADING_TIER.get(kind, PRESENT), _HEADINGS[kind][1],
               f"{kind.replace('_', ' ').capitalize()} clause",
               "the sentence belongs to a clause whose heading names it")
    for kind in HEADINGS
}  # fmt: skip

_BY_TYPE = {t: sorted((r for r in RULES if r.type == t), key=lambda r: -r.tier) for t in FINDING_TYPES}
DEFINITE_SEVERITY = {
    "auto_renewal": "high", "termination": "high", "liability_cap": "medium", "unlimited_liability": "high",
    "indemnity": "high", "governing_law": "medium", "confidentiality": "medium", "non_compete": "high",
    "payment_terms": "medium",
}  # fmt: skip


def _matches(rule: Rule, text: str) -> re.Match[str] | None:
    for match in rule.pattern.finditer(text):
        if rule.accept is None or rule.accept(match, text):
            return match
    return None


def rate(text: str, finding_type: str, heading: str = "") -> Hit | None:
    """How the sentence reads as a clause of this type, if it is one: the strongest
    rule that matches, provided some rule shows on its own that the sentence is such a
    clause, or the heading it stands under names the type and the sentence is on topic."""
    rules = _BY_TYPE.get(finding_type, [])
    found = [(rule, match) for rule in rules if (match := _matches(rule, text))]
    present = any(rule.alone for rule, _ in found)
    if not present and heading and finding_type in _HEADINGS:
        named, topic = _HEADINGS[finding_type]
        if named.search(heading) and (match := topic.search(text)):
            present = True
            found.append((_HEADING_RULE[finding_type], match))
    if not present or not found:
        return None
    rule, match = max(found, key=lambda item: item[0].tier)  # the first of the strongest (sorted, heading last)
    return Hit(rule, _deciding_words(match))


def scan(text: str, heading: str = "") -> list[Hit]:
    """Every finding type the sentence is a clause of, at most one hit per type, in FINDING_TYPES order."""
    return [hit for t in FINDING_TYPES if (hit := rate(text, t, heading))]


def read(document: str) -> list[tuple[Sentence, str, Hit]]:
    """(sentence, heading, hit) for every clause sentence of the document, in order.
    A heading set as a sentence of its own ("Precio y pago.") is no clause."""
    return [(sentence, heading, hit) for sentence, heading in headed_sentences(document)
            if sentence.text.rstrip(".: ") != heading
            for hit in scan(sentence.text, heading)]  # fmt: skip


def severity(hit: Hit) -> str:
    if hit.tier == DEFINITE:
        return DEFINITE_SEVERITY[hit.rule.type]
    return "medium" if hit.tier == HEDGED else "low"


def explain(hit: Hit) -> str:
    """Which rule fired, on which words, and why that matters."""
    if hit.tier == PRESENT:
        return (
            f"Clause found: “{hit.phrase}” (rule {hit.rule.name}): {hit.rule.reason}; "
            "the wording raises no definite issue."
        )
    return f"{TIER_NAMES[hit.tier].capitalize()} wording “{hit.phrase}” (rule {hit.rule.name}): {hit.rule.reason}."


def _deciding_words(match: re.Match[str]) -> str:
    for group in ("key", "key2", "key3"):
        if group in match.re.groupindex and match.group(group):
            return " ".join(match.group(group).split())
    words = " ".join(match.group(0).split())
    return words if len(words) <= 80 else f"{words[:38]} … {words[-38:]}"


# --- headings ----------------------------------------------------------------

_NUMBERING = re.compile(
    r"^\s*(?:(?:article|section|clause|artikel|art\.|§|part|teil|partie|cláusula|articolo)\s*\d+[a-z]?\b\.?"
    r"|\d+(?:\.\d+)*\.?(?=\s)|\(?[a-z]\)|[IVX]+\.(?=\s))\s*[–—:-]?\s*",
    re.I,
)
_SEGMENT = re.compile(r"^(?P<head>[^.:;!?]{1,60}?)(?:\.|:|\s[–—-])(?:\s+|$)")
_HEADING_VERBS = _SENTENCE_VERBS | {
    "ist", "sind", "wird", "werden", "gilt", "est", "sont", "sera", "es", "son", "será", "zijn", "wordt", "è", "sono",
    "shall", "you", "we", "our", "your", "this", "dear", "thank",
}  # fmt: skip


def _heading_like(text: str) -> bool:
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    if not words or len(words) > 8 or text.rstrip().endswith((",", ";")):
        return False
    if any(w.lower() in _HEADING_VERBS for w in words):
        return False
    return text.lstrip()[:1].isupper() or text.isupper()


_DETERMINERS = {
    "the", "this", "that", "these", "each", "either", "neither", "any", "all", "no", "le", "la", "les", "el", "los",
    "las", "der", "die", "das", "de", "het", "il", "lo", "gli", "un", "une", "ein", "eine", "a", "an",
}  # fmt: skip


def _not_a_short_sentence(text: str) -> bool:
    """ "The laws of Ireland apply." is a sentence; "Confidentiality." and "Return of Information" are headings."""
    if not text.rstrip().endswith("."):
        return True
    words = text.split()
    return len(words) <= 4 and words[0].lower() not in _DETERMINERS


def line_heading(line: str) -> str | None:
    """The heading a line opens, if it opens one: the whole line ("Confidentiality",
    "§ 5 Vertraulichkeit"), or the title words before a sentence on the same line
    ("6. Notice. After...", "PRIMERA. Objeto. El..."): the last of those title words."""
    rest = _NUMBERING.sub("", line.strip(), count=1)
    if not rest:
        return None
    if _heading_like(rest) and not re.search(r"[.!?]\s+\S", rest) and _not_a_short_sentence(rest):
        return rest.rstrip(".: ")
    heading = None
    for _ in range(3):
        segment = _SEGMENT.match(rest)
        # Title words count only before more text on the line: alone, they were a short sentence.
        if not segment or not _heading_like(segment.group("head")) or not rest[segment.end() :].strip():
            break
        heading = segment.group("head").strip()
        rest = rest[segment.end() :]
    return heading


def headed_sentences(text: str) -> list[tuple[Sentence, str]]:
    """The document's sentences, each with the heading it stands under ("" before any)."""
    starts, headings, position = [], [], 0
    lines = text.splitlines(keepends=True)
    skipped = furniture(lines)
    for index, line in enumerate(lines):
        heading = None if index in skipped else line_heading(line)
        if heading:
            starts.append(position)
            headings.append(heading)
        position += len(line)
    found = []
    for sentence in split_sentences(text):
        index = bisect.bisect_right(starts, sentence.start) - 1
        found.append((sentence, headings[index] if index >= 0 else ""))
    return found


def locate(document: str, evidence: str) -> tuple[Sentence, str] | None:
    """The document sentence a quote came from and its heading, so evidence can be read in context."""
    quote = " ".join(evidence.split()).lower()
    if not quote:
        return None
    for sentence, heading in headed_sentences(document):
        text = " ".join(sentence.text.split()).lower()
        if quote in text or text in quote:
            return sentence, heading
    return None


# --- clauses -----------------------------------------------------------------

# A top-level clause opens a line: "4. Termination", "Article 4 – Termination", "§ 4 Kündigung".
# Sub-clauses ("4.1 ...") stay inside their clause.
_CLAUSE_START = re.compile(
    r"^\s*(?:(?P<num>\d{1,2})\.(?!\d)|(?:article|section|clause|artikel|art\.|§)\s*(?P<num2>\d{1,3})[.:]?)"
    r"\s*[–—-]?\s*(?P<rest>\S.*)$",
    re.I,
)
# The order clause types are listed in.
CLAUSE_ORDER = ["termination", "indemnity", "liability_cap", "governing_law", "confidentiality", "auto_renewal",
                "payment_terms", "non_compete"]  # fmt: skip
# The finding types of the rules, as clause types: a cap and its absence are both about the liability cap.
_CLAUSE_TYPE = {"unlimited_liability": "liability_cap"}


@dataclass(frozen=True)
class Clause:
    number: str
    heading: str
    text: str  # verbatim, heading and sub-clauses included
    types: list[str]


def split_clauses(text: str) -> list[Clause]:
    """The document's top-level clauses by numbering ("1.", "Article 2", "§ 3") or,
    in a document without numbering, by heading lines; each typed by what its
    sentences say, read under the clause's headings (see rate)."""
    lines = text.splitlines(keepends=True)
    numbered = [i for i, line in enumerate(lines) if _CLAUSE_START.match(line)]
    if len(numbered) >= 2:
        starts = _sequential(lines, numbered)
    else:
        skipped = furniture(lines)
        starts = [i for i, line in enumerate(lines) if i not in skipped and line.strip() and _is_heading(line.strip())]
    clauses = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(lines)
        body = "".join(lines[start:end]).strip()
        if not body:
            continue
        match = _CLAUSE_START.match(lines[start])
        number = (match.group("num") or match.group("num2")) if match else ""
        first = match.group("rest").strip() if match else lines[start].strip()
        heading = _heading_of(first)
        clauses.append(Clause(number, heading, body, clause_types(body)))
    return clauses


def _sequential(lines: list[str], candidates: list[int]) -> list[int]:
    # "1." ... "2." ... : a stray "30." inside a clause does not open clause 30.
    starts, expected = [], None
    for i in candidates:
        match = _CLAUSE_START.match(lines[i])
        number = int(match.group("num") or match.group("num2"))
        if expected is None or number == expected:
            starts.append(i)
            expected = number + 1
    return starts


def _heading_of(first_line: str) -> str:
    """ "Term and Renewal. This Agreement ..." -> "Term and Renewal"; "TERMINATION" -> itself."""
    head = re.split(r"(?<=[a-z)])\.\s+|:\s+", first_line, maxsplit=1)[0].strip().rstrip(".:")
    return head if _is_heading(head) else ""


def clause_types(text: str) -> list[str]:
    """The clause types a clause's sentences are clauses of, read under its headings."""
    found = {_CLAUSE_TYPE.get(hit.rule.type, hit.rule.type) for _, _, hit in read(text)}
    return [kind for kind in CLAUSE_ORDER if kind in found]
