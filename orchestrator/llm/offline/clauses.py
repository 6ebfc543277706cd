"""The clause heuristics behind the offline stand-in agents: split a contract into
sentences, and rate a sentence against keyword rules as a definite, hedged or merely
mentioned issue of each finding type.

Every rule belongs to one finding type and one tier:
- DEFINITE: the wording settles it ("shall automatically renew", "liability shall not
  be limited", a non-compete with a duration, payment after more than 60 days).
- HEDGED: the wording may be an issue but leaves room ("may renew", "reasonable
  notice", "endeavour to keep confidential", a choice of law).
- MENTION: the topic is touched on ("liability", "terminate", "invoice").

Governing law: the rules do not know the reader's home jurisdiction, so choosing a
law is only HEDGED; a clause that binds disputes to one forum (exclusive jurisdiction,
binding arbitration, a jury waiver) is DEFINITE, since that restriction holds
whatever law is chosen. A missing clause is not flagged: a finding must quote evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.patterns.schemas import FINDING_TYPES

MENTION, HEDGED, DEFINITE = 1, 2, 3
TIER_NAMES = {MENTION: "mention", HEDGED: "hedged", DEFINITE: "definite"}


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
    blocks, start, pos = [], 0, 0
    for i, line in enumerate(lines):
        pos += len(line)
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not following or not _wraps(line, following):
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
_DAYS = re.compile(
    r"(?:(?<![\w.,])\(?(?P<num>\d{1,3})\)?"
    r"|\b(?P<word>thirty|forty[- ]five|sixty|seventy[- ]five|ninety|one hundred (?:and )?(?:twenty|eighty))"
    r"(?:\s*\((?P<paren>\d{1,3})\))?)"
    r"\s+(?:calendar\s+|business\s+|working\s+)?days\b"
    r"|\bnet\s+(?P<net>\d{1,3})\b",
    re.I,
)
_PAYMENT_CONTEXT = re.compile(r"\b(?:pay|paid|payable|payment|payments|invoice[sd]?|remit\w*)\b", re.I)
_DURATION = (
    r"(?:\d+|one|two|three|four|five|six|twelve|eighteen|twenty-four|thirty-six)\s*(?:\(\d+\)\s*)?(?:months?|years?)"
)
_COMPETE = (
    r"(?:\bnot\b(?:,?\s+[\w,]+){0,5}?\s+(?:compete|engage\s+in|be\s+engaged\s+in|solicit|work\s+for)"
    r"|\bnon-?compet\w*|\bnon-?solicit\w*|\bcompeting\s+business)"
)


def _days(match: re.Match[str]) -> int:
    for group in ("num", "paren", "net"):
        if match.group(group):
            return int(match.group(group))
    return _NUMBER_WORDS[" ".join(match.group("word").lower().split())]


def _long_payment_term(match: re.Match[str], sentence: str) -> bool:
    return _days(match) > 60 and bool(_PAYMENT_CONTEXT.search(sentence))


def _r(type_: str, tier: int, name: str, title: str, reason: str, *alternatives: str, accept=None) -> Rule:
    pattern = re.compile("|".join(alternatives), re.I | re.S)
    return Rule(f"{type_}.{name}", type_, tier, pattern, title, reason, accept)


# Within one type, rules are tried strongest tier first, then from the top; the first
# that matches decides.
# Where a pattern spans a sentence, (?P<key>...) marks the deciding words to quote.
# fmt: off
RULES: list[Rule] = [
    _r("auto_renewal", DEFINITE, "automatic", "Automatic renewal",
       "the contract renews unless someone acts, so a missed notice date locks in a new term",
       r"\b(?:automatic(?:ally)?|tacit(?:ly)?)[\s-]+(?:be\s+)?(?:renew|extend|roll)\w*",
       r"\b(?:renew|extend)(?:s|ed)?\s+automatically\b",
       r"\bauto-?renew\w*",
       r"\bevergreen\b"),
    _r("auto_renewal", DEFINITE, "successive", "Renews for successive terms",
       "renewal for further terms is stated as certain",
       r"\b(?:shall|will)\s+(?:be\s+)?(?:renew|extend)(?:ed)?\s+for\s+(?:successive|further|additional|consecutive)\b"),
    _r("auto_renewal", HEDGED, "may_renew", "Possible renewal",
       "renewal is possible but the wording does not say how it is decided",
       r"\bmay\s+(?:be\s+)?(?:renew|extend)\w*",
       r"\boption\s+to\s+(?:renew|extend)\b",
       r"\bsuccessive\s+(?:periods|terms)\b",
       r"\brenewal\s+term\b"),
    _r("auto_renewal", MENTION, "renew", "Renewal mentioned", "the sentence touches on renewal",
       r"\brenew\w*"),

    _r("termination", DEFINITE, "only_for_cause", "Termination only for cause",
       "there is no way out of the contract for convenience",
       r"\bonly\s+(?:for|upon|on|in\s+the\s+event\s+of)\s+(?:cause|(?:a\s+)?material\s+breach)"),
    _r("termination", DEFINITE, "not_terminable", "Termination excluded", "a party is barred from terminating",
       r"\b(?:may|shall|can)\s*not\s+(?:be\s+)?terminat\w*",
       r"\bcannot\s+(?:be\s+)?terminat\w*",
       r"\bnot\s+(?:be\s+)?entitled\s+to\s+terminat\w*",
       r"\bno\s+right\s+to\s+terminat\w*",
       r"\bnon-?cancell?able\b",
       r"\bno\s+termination\s+for\s+convenience\b"),
    _r("termination", DEFINITE, "termination_fee", "Termination fee", "leaving the contract costs a fee",
       r"\b(?:early\s+)?terminat\w*\s+(?:fee|charge|penalty)\b"),
    _r("termination", HEDGED, "vague_notice", "Vague termination notice",
       "the notice period is not fixed, or one side may end the contract at will",
       r"\breasonable\s+(?:prior\s+)?(?:written\s+)?notice\b",
       r"\bterminat\w*(?:\s+\S+){0,6}?\s+(?:at\s+any\s+time|without\s+(?:prior\s+)?notice|at\s+its\s+(?:sole\s+)?discretion)"),
    _r("termination", MENTION, "terminate", "Termination mentioned", "the sentence touches on ending the contract",
       r"\bterminat\w*",
       r"\bcancel\w*",
       r"\bnotice\s+period\b"),

    _r("unlimited_liability", DEFINITE, "not_limited", "Unlimited liability", "liability is stated to have no cap",
       r"\bunlimited\s+liability\b",
       r"\bliab\w*\b.*?(?P<key>\b(?:shall|will)\s+not\s+be\s+(?:limited|capped)|\bunlimited\b)",
       r"\bliable\s+without\s+limit\w*",
       r"\bwithout\s+(?:any\s+)?limit\w*\s+(?:of|on|as\s+to)\s+(?:its\s+|their\s+)?liability",
       r"\bno\s+(?:limitation|cap)\s+(?:of|on)\s+(?:its\s+|their\s+)?liability",
       r"\buncapped\b"),
    _r("unlimited_liability", HEDGED, "fully_liable", "Possibly uncapped liability",
       "the wording suggests liability without a cap",
       r"\bfully\s+liable\b",
       r"\bliable\s+for\s+(?:all|any\s+and\s+all)\s+(?:losses|damages|claims)\b"),

    _r("liability_cap", DEFINITE, "cap", "Liability capped or excluded",
       "a cap or exclusion limits what can be recovered",
       r"\bliability\b.*?(?P<key>\b(?:shall|will)\s+not\s+exceed\b|\bnot\s+to\s+exceed\b"
       r"|\b(?:is|shall\s+be|will\s+be)\s+(?:limited|capped)\s+(?:to|at)\b)",
       r"\bin\s+no\s+event\s+shall\b.*?\bliable\b",
       r"\b(?:shall|will)\s+not\s+be\s+liable\s+for\s+(?:any\s+)?(?:indirect|consequential|special|incidental|punitive|loss)"),
    _r("liability_cap", HEDGED, "vague_limit", "Liability limit unclear",
       "a limit on liability is suggested but not fixed",
       r"\b(?:reasonable|appropriate)\s+limit\w*\s+(?:of|on)\s+liability\b",
       r"\bliability\b.*?\bmay\s+be\s+(?:limited|capped)\b",
       r"\bto\s+the\s+extent\s+permitted\s+by\s+(?:applicable\s+)?law\b"),
    _r("liability_cap", MENTION, "liability", "Liability mentioned", "the sentence touches on liability",
       r"\bliab(?:le|ility|ilities)\b"),

    _r("indemnity", DEFINITE, "indemnify", "Indemnity obligation", "one party must cover the other's losses",
       r"\b(?:shall|will|agrees?\s+to|undertakes?\s+to)\s+(?:\w+\s+){0,3}?indemnif\w*",
       r"\bhold\s+(?:\w+\s+){0,3}?harmless\b"),
    _r("indemnity", HEDGED, "compensate", "Possible indemnity", "the wording may oblige one party to cover losses",
       r"\bmay\s+(?:be\s+)?(?:required|asked)\s+to\s+indemnif\w*",
       r"\bcompensate\b.*?\b(?:loss|losses|damages|claims)\b",
       r"\bmake\s+good\b"),
    _r("indemnity", MENTION, "indemnity", "Indemnity mentioned", "the sentence touches on indemnity",
       r"\bindemni\w*"),

    _r("governing_law", DEFINITE, "forum", "Disputes bound to one forum", "disputes must be heard in one named forum",
       r"\bexclusive\s+(?:jurisdiction|venue)\b",
       r"\b(?:binding|final)\s+arbitration\b",
       r"\bsettled\s+(?:exclusively\s+|finally\s+)?by\s+arbitration\b",
       r"\bwaive\w*\s+(?:\w+\s+){0,4}?jury\b"),
    _r("governing_law", HEDGED, "choice_of_law", "Choice of law or forum",
       "the chosen law or forum may not be the reader's own",
       r"\b(?:governed\s+by|construed\s+in\s+accordance\s+with)\b.*?\blaws?\b",
       r"\bgoverning\s+law\b",
       r"\bjurisdiction\b",
       r"\barbitrat\w*",
       r"\bvenue\b"),
    _r("governing_law", MENTION, "courts", "Dispute forum mentioned", "the sentence touches on where disputes go",
       r"\bcourts?\s+of\b",
       r"\bdispute\s+resolution\b"),

    _r("confidentiality", DEFINITE, "perpetual", "Perpetual confidentiality", "the duty never ends",
       r"\bconfidential\w*\b.*?(?P<key>\bin\s+perpetuity\b|\bperpetual(?:ly)?\b|\bindefinitely\b)",
       r"\b(?:in\s+perpetuity|perpetual(?:ly)?|indefinitely)\b.*?\bconfidential\w*"),
    _r("confidentiality", DEFINITE, "not_confidential", "Confidentiality not protected",
       "information may be disclosed freely",
       r"\bno\s+(?:obligation|duty)\s+(?:of|to\s+(?:keep|maintain))\s+confidential\w*",
       r"\b(?:is|are|shall\s+be)\s+not\s+(?:considered\s+|deemed\s+|treated\s+as\s+)?confidential\b",
       r"\bmay\s+(?:freely\s+)?(?:disclose|publish|share)\b.*?(?P<key>\bany\s+third\s+part(?:y|ies)\b|\bpublicly\b"
       r"|\bwithout\s+(?:the\s+)?(?:prior\s+)?(?:written\s+)?consent\b)"),
    _r("confidentiality", HEDGED, "weak_duty", "Weak confidentiality duty",
       "the duty is only to try, not to keep information confidential",
       r"\b(?:endeavou?r\w*|(?:commercially\s+)?reasonable\s+efforts|best\s+efforts|try)\b.*?\bconfidential\w*",
       r"\bconfidential\w*\b.*?\b(?:where\s+(?:possible|practicable)|as\s+far\s+as\s+(?:possible|practicable))\b"),
    _r("confidentiality", MENTION, "confidential", "Confidentiality mentioned",
       "the sentence touches on confidentiality",
       r"\bconfidential\w*",
       r"\bnon-disclosure\b",
       r"\bproprietary\s+information\b",
       r"\btrade\s+secrets?\b"),

    _r("non_compete", DEFINITE, "with_duration", "Non-compete with a duration",
       "a party may not compete for a fixed period",
       rf"{_COMPETE}.*?(?P<key>\b{_DURATION})\b",
       rf"(?P<key2>\b{_DURATION})\b.*?{_COMPETE}"),
    _r("non_compete", HEDGED, "restraint", "Possible restraint on competition",
       "a restraint on trade without a stated duration",
       _COMPETE,
       r"\bexclusivity\b",
       r"\bexclusive\s+(?:supplier|provider|distributor|dealer|licen[cs]e|rights?)\b"),
    _r("non_compete", MENTION, "compete", "Competition mentioned", "the sentence touches on competition",
       r"\bcompet\w*"),

    _r("payment_terms", DEFINITE, "long_term", "Payment term over 60 days", "payment falls due more than 60 days out",
       _DAYS.pattern, accept=_long_payment_term),
    _r("payment_terms", DEFINITE, "late_interest", "Late payment interest or fees",
       "late payment costs interest or a fee",
       r"\binterest\b.*?\b(?:late|overdue|outstanding|unpaid)\b",
       r"\b(?:late|overdue|unpaid)\b.*?\binterest\b",
       r"\blate\s+(?:payment\s+)?(?:fee|charge|penalty|surcharge)s?\b",
       r"\d+(?:[.,]\d+)?\s*(?:%|per\s*cent|percent)\s+per\s+(?:month|annum|year)\b"),
    _r("payment_terms", HEDGED, "price_change", "Open-ended price or payment terms",
       "prices or payment timing are left open",
       r"\b(?:may|reserves?\s+the\s+right\s+to)\s+(?:\w+\s+){0,2}?(?:adjust|increase|change|revise)\s+"
       r"(?:the\s+|its\s+)?(?:prices?|fees?|rates?|charges?)\b",
       r"\bprices?\b.*?\bmay\s+be\s+(?:adjusted|increased|changed|revised)\b",
       r"\bpay\w*\b.*?\b(?:promptly|in\s+a\s+timely\s+manner|within\s+a\s+reasonable\s+time)\b"),
    _r("payment_terms", MENTION, "payment", "Payment mentioned", "the sentence touches on payment",
       r"\bpay(?:s|ment|ments|able)?\b",
       r"\binvoic\w*",
       r"\bfees?\b"),
]
# fmt: on

_BY_TYPE = {t: sorted((r for r in RULES if r.type == t), key=lambda r: -r.tier) for t in FINDING_TYPES}
# Mention rules are a net for sentences nothing else caught: a sentence already
# flagged for something concrete in the same family needs no "mentions liability" too.
_FAMILY = {"liability_cap": "liability", "unlimited_liability": "liability"}
DEFINITE_SEVERITY = {
    "auto_renewal": "high", "termination": "high", "liability_cap": "medium", "unlimited_liability": "high",
    "indemnity": "high", "governing_law": "medium", "confidentiality": "medium", "non_compete": "high",
    "payment_terms": "medium",
}  # fmt: skip


def rate(text: str, finding_type: str) -> Hit | None:
    """The strongest rule of this finding type that the text meets, if any."""
    for rule in _BY_TYPE.get(finding_type, []):
        for match in rule.pattern.finditer(text):
            if rule.accept is None or rule.accept(match, text):
                return Hit(rule, _deciding_words(match))
    return None


def scan(text: str) -> list[Hit]:
    """Every finding type the sentence raises, at most one hit per type, in FINDING_TYPES order."""
    hits = [hit for t in FINDING_TYPES if (hit := rate(text, t))]
    concrete = {_FAMILY.get(h.rule.type, h.rule.type) for h in hits if h.tier > MENTION}
    return [h for h in hits if h.tier > MENTION or _FAMILY.get(h.rule.type, h.rule.type) not in concrete]


def severity(hit: Hit) -> str:
    if hit.tier == DEFINITE:
        return DEFINITE_SEVERITY[hit.rule.type]
    return "medium" if hit.tier == HEDGED else "low"


def explain(hit: Hit) -> str:
    """Which rule fired, on which words, and why that matters."""
    if hit.tier == MENTION:
        return f"Mentions “{hit.phrase}” (rule {hit.rule.name}): {hit.rule.reason}."
    return f"{TIER_NAMES[hit.tier].capitalize()} wording “{hit.phrase}” (rule {hit.rule.name}): {hit.rule.reason}."


def _deciding_words(match: re.Match[str]) -> str:
    for group in ("key", "key2"):
        if group in match.re.groupindex and match.group(group):
            return " ".join(match.group(group).split())
    words = " ".join(match.group(0).split())
    return words if len(words) <= 80 else f"{words[:38]} … {words[-38:]}"


# --- clauses -----------------------------------------------------------------

# A top-level clause opens a line: "4. Termination", "Article 4 – Termination", "§ 4 Kündigung".
# Sub-clauses ("4.1 ...") stay inside their clause.
_CLAUSE_START = re.compile(
    r"^\s*(?:(?P<num>\d{1,2})\.(?!\d)|(?:article|section|clause|artikel|art\.|§)\s*(?P<num2>\d{1,3})[.:]?)"
    r"\s*[–—-]?\s*(?P<rest>\S.*)$",
    re.I,
)
# Headings name a clause's type in several languages, even where its sentences do not.
HEADING_TYPES = {
    "termination": r"terminat|cancell|kündigung|résiliation|resolución|recesso",
    "indemnity": r"indemn|hold harmless|freistellung|schadlos|garantie|indemnización",
    "liability_cap": r"liabilit|haftung|responsabilit",
    "governing_law": r"governing law|applicable law|jurisdiction|disputes?|gerichtsstand|anwendbares recht"
    r"|droit applicable|ley aplicable|arbitration",
    "confidentiality": r"confidential|non-disclosure|vertraulich|geheimhaltung|confidentialit",
    "auto_renewal": r"renewal|verlängerung|reconduction|renovación",
    "payment_terms": r"payment|fees|invoic|zahlung|vergütung|paiement|pago|compensation|prices?",
    "non_compete": r"non-?compet|competition|wettbewerb|concurrence|competencia|restrictive covenant",
}
_HEADING_RULES = {kind: re.compile(pattern, re.I) for kind, pattern in HEADING_TYPES.items()}
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
    in a document without numbering, by heading lines; each typed by its heading
    and by what its sentences say (definite wording, or hedged wording for all but
    renewal, where "may renew" is no automatic renewal)."""
    lines = text.splitlines(keepends=True)
    numbered = [i for i, line in enumerate(lines) if _CLAUSE_START.match(line)]
    if len(numbered) >= 2:
        starts = _sequential(lines, numbered)
    else:
        starts = [i for i, line in enumerate(lines) if line.strip() and _is_heading(line.strip())]
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
        clauses.append(Clause(number, heading, body, clause_types(heading, body)))
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


def clause_types(heading: str, text: str) -> list[str]:
    found = {kind for kind, rule in _HEADING_RULES.items() if rule.search(heading)}
    for sentence in split_sentences(text):
        for hit in scan(sentence.text):
            kind = _CLAUSE_TYPE.get(hit.rule.type, hit.rule.type)
            if hit.tier == DEFINITE or (hit.tier == HEDGED and kind != "auto_renewal"):
                found.add(kind)
    return [kind for kind in HEADING_TYPES if kind in found]
