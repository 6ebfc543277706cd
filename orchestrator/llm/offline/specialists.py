"""The offline stand-ins for the Supervisor's and the Chain's agents, played by
rules (fields.py, layout.py, clauses.py). Each takes the step's structured
inputs and returns what its agent's schema asks for (schemas.py).

- coordinator {"document", "specialists"} -> CLASSIFICATION: the type and a plan.
- specialist, by profile: financial -> FINANCIAL, entities -> ENTITIES,
  clauses -> CLAUSES, metadata -> METADATA.
- assembler {"doc_type", "outputs", "missing"} -> ASSEMBLY: every field of every
  output, each with the specialist it came from (the first one wins a clash).
- stage, by profile: extract -> EXTRACTED (values as written), normalize ->
  NORMALIZED (numbers, ISO dates, currency codes), normalize-naive (a careless
  normalizer: commas always group thousands, dates month first, for shadow
  comparisons), enrich {"record", "knowledge"} -> ENRICHED, format -> FORMATTED.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal
from typing import Any

from orchestrator.llm import PermanentError

from . import clauses, fields, layout

PLANS = {
    "invoice": [
        ("financial", "read the amounts, dates and invoice number"),
        ("entities", "find who bills whom"),
        ("metadata", "tag language, title and length"),
    ],
    "contract": [
        ("clauses", "split the contract into clauses and type them"),
        ("entities", "find the parties"),
        ("financial", "read fees and payment dates"),
        ("metadata", "tag language, title and length"),
    ],
    "report": [
        ("entities", "find the organisations and people named"),
        ("financial", "read the figures reported"),
        ("metadata", "tag language, title and length"),
    ],
    "correspondence": [("entities", "find sender, recipient and contacts"), ("metadata", "tag language and title")],
    "other": [("metadata", "tag language, title and length"), ("entities", "find the names in it")],
}
# Result bookkeeping of a specialist that is a pipeline: not fields.
_BOOKKEEPING = {"pattern", "stand_in", "counts"}


def coordinator(inputs: dict[str, Any]) -> dict[str, Any]:
    doc_type, confidence, signals = layout.classify(inputs["document"])
    available = inputs.get("specialists") or []
    plan = [{"specialist": name, "reason": why} for name, why in PLANS[doc_type] if name in available]
    return {"doc_type": doc_type, "confidence": confidence, "signals": signals, "plan": plan}


def specialist(profile: str, inputs: dict[str, Any]) -> dict[str, Any]:
    document = inputs["document"]
    if profile == "financial":
        return financial(document)
    if profile == "entities":
        return entities(document)
    if profile == "clauses":
        return {"clauses": [_clause(clause) for clause in clauses.split_clauses(document)]}
    if profile == "metadata":
        known = (inputs.get("document_info") or {}).get("page_count")
        return {
            "language": layout.language(document),
            "page_count": layout.page_count(document, known),
            "title": layout.title(document),
            "word_count": layout.word_count(document),
        }
    raise PermanentError(
        f"The offline specialist has no profile {profile!r}; known: financial, entities, clauses, metadata"
    )


def financial(document: str) -> dict[str, Any]:
    amounts = fields.find_amounts(document)
    reading = fields.read_invoice(document)
    currency = reading.currency[0] if reading.currency else None
    return {
        "fields": {
            "invoice_number": reading.number[0] if reading.number else None,
            "issue_date": reading.issue.value.isoformat() if reading.issue else None,
            "due_date": reading.due.value.isoformat() if reading.due else None,
            **{label: _number(amount.value) if amount else None for label, amount in reading.amounts.items()},
            "currency": currency,
            "vendor": reading.vendor,
            "customer": reading.customer,
        },
        "amounts": [
            {
                "raw": amount.raw,
                "value": _number(amount.value),
                "currency": fields.currency_code(amount.currency_raw) or currency,
                "label": amount.label,
            }
            for amount in amounts
        ],
    }


def entities(document: str) -> dict[str, Any]:
    return {
        "parties": fields.find_parties(document),
        "organisations": fields.find_organisations(document),
        "people": fields.find_people(document),
        "emails": fields.find_emails(document),
        "ibans": fields.find_ibans(document),
    }


def _clause(clause: clauses.Clause) -> dict[str, Any]:
    return {"number": clause.number, "heading": clause.heading, "types": clause.types, "text": clause.text}


def assembler(inputs: dict[str, Any]) -> dict[str, Any]:
    outputs: dict[str, Any] = inputs.get("outputs") or {}
    assembled: list[dict[str, Any]] = []
    taken: set[str] = set()
    for source, output in outputs.items():
        for name, value in _fields_of(output):
            if name not in taken:
                taken.add(name)
                assembled.append({"name": name, "value": value, "source": source})
    doc_type = inputs.get("doc_type") or "other"
    return {
        "doc_type": doc_type,
        "summary": _summary(doc_type, assembled, inputs.get("missing") or []),
        "fields": assembled,
    }


def _fields_of(output: Any) -> list[tuple[str, Any]]:
    if not isinstance(output, dict):
        return [("output", output)]
    found = []
    for key, value in output.items():
        if key in _BOOKKEEPING:
            continue
        if key == "fields" and isinstance(value, dict):
            found.extend(value.items())
        else:
            found.append((key, value))
    return found


def _summary(doc_type: str, assembled: list[dict[str, Any]], missing: list[str]) -> str:
    values = {item["name"]: item["value"] for item in assembled}
    parts = [doc_type.capitalize()]
    if values.get("invoice_number"):
        parts.append(values["invoice_number"])
    if values.get("title"):
        parts.append(f"“{values['title']}”")
    facts = []
    if values.get("total") is not None:
        facts.append(f"total {values.get('currency') or ''} {values['total']:,.2f}".replace("  ", " "))
    if values.get("parties"):
        facts.append("parties: " + ", ".join(party["name"] for party in values["parties"]))
    if values.get("clauses"):
        facts.append(f"{len(values['clauses'])} clauses")
    if values.get("findings"):
        facts.append(f"{len(values['findings'])} findings")
    if values.get("language"):
        facts.append(f"language {values['language']}")
    summary = " ".join(parts) + (": " + "; ".join(facts) if facts else "")
    return summary + (f". Missing: {', '.join(missing)}." if missing else ".")


# --- chain stages -------------------------------------------------------------


def stage(profile: str, inputs: dict[str, Any]) -> dict[str, Any]:
    record = inputs.get("record") or {}
    if profile == "extract":
        return extract(inputs["document"])
    if profile in ("normalize", "normalize-naive"):
        return normalize(record, naive=profile == "normalize-naive")
    if profile == "enrich":
        return enrich(record, inputs.get("knowledge") or [])
    if profile == "format":
        return format_record(record)
    raise PermanentError(
        f"The offline stage has no profile {profile!r}; known: extract, normalize, normalize-naive, enrich, format"
    )


def extract(document: str) -> dict[str, Any]:
    """The fields exactly as the document writes them, and the line each came from."""
    reading = fields.read_invoice(document)
    found: dict[str, Any] = {name: None for name in ("invoice_number", "issue_date", "due_date")}
    evidence: dict[str, str] = {}
    if reading.number:
        found["invoice_number"], evidence["invoice_number"] = reading.number
    for name, picked in (("issue_date", reading.issue), ("due_date", reading.due)):
        if picked:
            found[name], evidence[name] = picked.raw, picked.line
    for label, amount in reading.amounts.items():
        found[label] = amount.raw if amount else None
        if amount:
            evidence[label] = amount.line
    found["currency"] = reading.currency[1] if reading.currency else None
    found["vendor"] = reading.vendor
    found["customer"] = reading.customer
    # How the document writes numeric dates, for the normalizer (03/09/2026 is 9 March in the US).
    found["date_order"] = "day_first" if reading.day_first else "month_first"
    return {"fields": found, "evidence": evidence}


def normalize(record: dict[str, Any], *, naive: bool = False) -> dict[str, Any]:
    raw = record.get("fields") or {}
    read = fields.parse_number_naive if naive else fields.parse_number
    out: dict[str, Any] = {}
    notes = []
    for name in ("total", "net", "tax"):
        value = raw.get(name)
        number = read(value) if isinstance(value, str) else None
        out[name] = _number(number) if number is not None else None
        if value is not None:
            notes.append(f"{name}: {value!r} read as {out[name]}")
    day_first = not naive and raw.get("date_order") != "month_first"
    for name in ("issue_date", "due_date"):
        value = raw.get(name)
        parsed = fields.parse_date(value, day_first=day_first) if isinstance(value, str) else None
        out[name] = parsed.isoformat() if parsed else None
        if value is not None:
            notes.append(f"{name}: {value!r} read as {out[name]}")
    out["currency"] = fields.currency_code(raw.get("currency"))
    out["invoice_number"] = raw.get("invoice_number")
    for name in ("vendor", "customer"):
        out[name] = " ".join(raw[name].split()) if isinstance(raw.get(name), str) else None
    return {"fields": out, "notes": notes}


def enrich(record: dict[str, Any], knowledge: list[dict[str, Any]]) -> dict[str, Any]:
    """Match the vendor and customer against the knowledge base: canonical name,
    country and risk for a known party; nothing invented for an unknown one."""
    out = dict(record.get("fields") or {})
    matches = []
    for role in ("vendor", "customer"):
        found = out.get(role)
        entry = match_entry(found, knowledge) if found else None
        if found:
            matches.append({"field": role, "found": found, "entry": entry["name"] if entry else None})
        entry = entry or {}
        if entry:
            out[role] = entry["name"]
        out[f"{role}_country"] = entry.get("country") or None
        out[f"{role}_risk"] = entry.get("risk") or None
    return {"fields": out, "matches": matches}


_LEGAL_FORM = re.compile(
    r"\b(?:gmbh(?:\s*&\s*co\.?\s*kg)?|ag|kg|se|ltd|limited|llc|llp|inc|corp|corporation|plc|s\.?a\.?s?|sarl"
    r"|s\.?r\.?l|s\.?p\.?a|b\.?v|n\.?v|oy|ab|aps|a/s|co)\b\.?",
    re.I,
)


def _key(name: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", _LEGAL_FORM.sub(" ", name.casefold())).split())


def match_entry(name: str, knowledge: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The entry whose canonical name or an alias is the name (legal form, case and
    punctuation aside), else the closest one at 85 % similarity or more."""
    wanted = _key(name)
    if not wanted:
        return None
    best, best_ratio = None, 0.0
    for entry in knowledge:
        for candidate in [entry.get("name", ""), *(entry.get("aliases") or [])]:
            key = _key(candidate)
            if key == wanted:
                return entry
            ratio = difflib.SequenceMatcher(None, key, wanted).ratio()
            if ratio > best_ratio:
                best, best_ratio = entry, ratio
    return best if best_ratio >= 0.85 else None


def format_record(record: dict[str, Any]) -> dict[str, Any]:
    """The final record, a one-line summary and what a reader should double-check."""
    values = dict(record.get("fields") or {})
    warnings = []
    total, net, tax = values.get("total"), values.get("net"), values.get("tax")
    if total is None:
        warnings.append("No total found.")
    elif (
        net is not None
        and tax is not None
        and abs(Decimal(str(net)) + Decimal(str(tax)) - Decimal(str(total))) > Decimal("0.01")
    ):
        warnings.append(f"Net {net} plus tax {tax} is not the total {total}.")
    for role in ("vendor", "customer"):
        if values.get(role) and values.get(f"{role}_risk") is None:
            warnings.append(f"The {role} {values[role]} is not in the knowledge base.")
        if values.get(f"{role}_risk") == "high":
            warnings.append(f"The {role} {values[role]} is rated high risk.")
    if values.get("issue_date") and values.get("due_date") and values["due_date"] < values["issue_date"]:
        warnings.append("The due date is before the issue date.")
    what = f"Invoice {values['invoice_number']}" if values.get("invoice_number") else "Document"
    parts = [what]
    if values.get("vendor"):
        parts.append(f"from {values['vendor']}")
    if values.get("customer"):
        parts.append(f"to {values['customer']}")
    summary = " ".join(parts)
    if total is not None:
        summary += f": {values.get('currency') or ''} {total:,.2f}".replace(":  ", ": ")
    if values.get("issue_date"):
        summary += f", issued {values['issue_date']}"
    if values.get("due_date"):
        summary += f", due {values['due_date']}"
    return {"fields": values, "summary": summary + ".", "warnings": warnings}


def _number(value: Decimal) -> float | int:
    """JSON has no decimals: whole amounts as int, others as float (two places are exact enough)."""
    return int(value) if value == value.to_integral_value() else float(value)
