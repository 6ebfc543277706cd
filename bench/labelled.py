"""How well the offline stand-in agents read the labelled set in insights/labelled/.

Runs each labelled document through the demo pipelines' deciders in-process, with
the offline provider playing every step on the inputs the engine builds (the
document, its info, the step's own inputs; the knowledge base for the enrich stage),
each output checked against its agent's schema as the engine checks it. No
database, queue or worker is needed, so a test can assert floors on the figures.

Figures per part (train: insights/labelled/*.json; holdout: insights/labelled/holdout/;
unseen: insights/labelled/unseen/, written after the rules):
- contract-debate: clause-type precision and recall counting a type as found when
  any finding of the type is reported, and again counting only findings judged an
  issue; review items per contract (findings the current routing sends to a human);
- document-supervisor's clause specialist: the same, from the types of the clauses it returns;
- document-supervisor and extraction-chain on invoices: accuracy per field and overall;
- documents a pipeline must say it did not review (not_reviewed.json: another language or
  script, a purchase order on an invoice pipeline): the reasons given right, and the
  labelled contracts and invoices wrongly refused by their own pipeline.

    .venv/bin/python -m bench.labelled            # prints the table
    make bench ARGS=labelled                      # the same inside the benchmark run
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent / "insights" / "labelled"
PARTS = {"train": ROOT, "holdout": ROOT / "holdout", "unseen": ROOT / "unseen"}
_INVOICE_PIPELINES = ("document-supervisor", "extraction-chain")
INVOICE_FIELDS = ["vendor", "invoice_number", "issue_date", "total", "currency"]
# The clause specialist's types name the clause; a finding type may name what is wrong with it.
_CLAUSE_OF = {"unlimited_liability": "liability_cap"}


def load(part: str, kind: str) -> list[dict[str, Any]]:
    """[{"name", "text", "expected"}] of one part's contracts, invoices or not_reviewed."""
    folder = PARTS[part]
    if not (folder / f"{kind}.json").exists():
        return []
    rows = json.loads((folder / f"{kind}.json").read_text(encoding="utf-8"))
    return [
        {"name": Path(row["path"]).stem, "text": (folder / row["path"]).read_text(encoding="utf-8"), **row}
        for row in rows
    ]


# --- running a pattern in-process ----------------------------------------------


def _agents() -> dict[str, dict[str, Any]]:
    from orchestrator.demo import chain, debate, supervisor

    agents = {}
    for slug, _name, role, profile, _prompt, schema, _queue in [*debate.AGENTS, *supervisor.AGENTS]:
        agents[slug] = {"role": role, "profile": profile, "schema": schema, "input_schema": None, "knowledge": False}
    for slug, _name, profile, _prompt, schema, input_schema, knowledge in chain.AGENTS:
        agents[slug] = {
            "role": "stage", "profile": profile, "schema": schema, "input_schema": input_schema or None,
            "knowledge": knowledge,
        }  # fmt: skip
    return agents


def _pipelines() -> dict[str, dict[str, Any]]:
    from orchestrator.demo import chain, debate, supervisor

    return {
        "contract-debate": {
            "pattern": "debate", "slots": debate.SLOTS, "criteria": debate.CRITERIA,
            "document_type": debate.DOCUMENT_TYPE,
        },
        "document-supervisor": {
            "pattern": "supervisor", "slots": supervisor.SLOTS, "criteria": [], "document_type": "",
        },
        "extraction-chain": {
            "pattern": "chain", "slots": chain.SLOTS, "criteria": [], "document_type": chain.DOCUMENT_TYPE,
        },
    }  # fmt: skip


def not_reviewed(slug: str, text: str) -> str:
    """Why the engine would mark a run of the demo pipeline `slug` (on the stand-in) on
    `text` "Not reviewed", or ""."""
    from orchestrator.models import Pipeline

    pipeline = Pipeline(slug=slug, document_type=_pipelines()[slug]["document_type"])
    return pipeline.why_not_reviewable(text, stand_in=True)


def run_pipeline(slug: str, text: str, run_id: int = 1, audit_rate: float = 0.05) -> dict[str, Any]:
    """The result the engine would store for a run of the demo pipeline `slug` on `text`."""
    from orchestrator.demo import chain
    from orchestrator.llm import Request, get_provider
    from orchestrator.patterns import RunContext, StepState, decider_for
    from orchestrator.patterns.schemas import problems

    pipeline, agents = _pipelines()[slug], _agents()
    holders = {slot: agents[agent] for slot, agent in pipeline["slots"]}
    context = RunContext(
        run_id=run_id,
        audit_rate=audit_rate,
        criteria=pipeline["criteria"],
        stand_in=True,
        slots=[slot for slot, _ in pipeline["slots"]],
        input_schemas={slot: agent["input_schema"] for slot, agent in holders.items() if agent["input_schema"]},
    )
    knowledge = [
        {"kind": kind, "name": name, "aliases": aliases, "country": country, "risk": risk, "note": note}
        for kind, name, aliases, country, risk, note in chain.KNOWLEDGE
    ]
    provider, decide, steps = get_provider("offline"), decider_for(pipeline["pattern"]), {}
    info = {"name": "document.txt", "kind": "text", "page_count": None}
    for _ in range(50):
        outcome = decide(context, steps)
        if outcome.error:
            raise RuntimeError(f"{slug}: {outcome.error}")
        if outcome.result is not None:
            return outcome.result
        if not outcome.schedule:
            raise RuntimeError(f"{slug}: the decider waits for nothing")
        for spec in outcome.schedule:
            agent = holders[spec.slot]
            inputs = {"document": text, "document_info": info, **spec.inputs}
            if agent["knowledge"]:
                inputs["knowledge"] = knowledge
            request = Request(
                system="", messages=[{"role": "user", "content": text}], model="offline-rules",
                role=agent["role"], profile=agent["profile"], inputs=inputs,
            )  # fmt: skip
            output = provider.complete(request).output
            if found := problems(output, agent["schema"]):
                raise RuntimeError(f"{slug} {spec.key}: output breaks its schema: {found[:3]}")
            steps[spec.key] = StepState(spec.key, "succeeded", output)
    raise RuntimeError(f"{slug}: no result after 50 decisions")


# --- scoring ---------------------------------------------------------------------


def _rates(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = round(tp / (tp + fp), 3) if tp + fp else None
    recall = round(tp / (tp + fn), 3) if tp + fn else None
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall}


def type_rates(pairs: list[tuple[set[str], set[str]]]) -> dict[str, Any]:
    """Precision and recall of document-level types over (expected, reported) pairs,
    overall and per type."""
    per: dict[str, dict[str, int]] = {}
    for want, got in pairs:
        for kind in want | got:
            entry = per.setdefault(kind, {"tp": 0, "fp": 0, "fn": 0})
            entry["tp" if kind in want and kind in got else "fp" if kind in got else "fn"] += 1
    total = {key: sum(entry[key] for entry in per.values()) for key in ("tp", "fp", "fn")}
    return {**_rates(**total), "types": {kind: _rates(**entry) for kind, entry in sorted(per.items())}}


def score_contracts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    reported, judged, specialist, items, detail, refused = [], [], [], [], [], []
    for index, row in enumerate(rows, start=1):
        want = {finding["type"] for finding in row["expected"]["findings"] if finding.get("is_issue", True)}
        result = run_pipeline("contract-debate", row["text"], run_id=index)
        findings = result["findings"]
        got = {finding["type"] for finding in findings}
        issues = {finding["type"] for finding in findings if finding["is_issue"]}
        reported.append((want, got))
        judged.append((want, issues))
        # The decider has applied the pipeline's routing policy (the default one here); findings
        # of one type become one review item.
        items.append(len({finding["type"] for finding in findings if finding["review"] is not None}))
        clauses = run_pipeline("document-supervisor", row["text"], run_id=index)["fields"].get("clauses") or []
        typed = {kind for clause in clauses for kind in clause["types"]}
        specialist.append(({_CLAUSE_OF.get(kind, kind) for kind in want}, typed))
        detail.append(
            {"name": row["name"], "missed": sorted(want - got), "extra": sorted(got - want), "items": items[-1]}
        )
        if reason := not_reviewed("contract-debate", row["text"]):
            refused.append(f"{row['name']}: {reason}")
    return {
        "reported": type_rates(reported),
        "judged_issue": type_rates(judged),
        "clause_specialist": type_rates(specialist),
        "review_items_per_doc": round(sum(items) / len(items), 2) if items else None,
        "detail": detail,
        "refused": refused,
    }


def score_invoices(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from insights.evaluation import same_value  # the harness's own comparison

    figures: dict[str, Any] = {}
    for slug in _INVOICE_PIPELINES:
        right = {name: 0 for name in INVOICE_FIELDS}
        misses = []
        for index, row in enumerate(rows, start=1):
            got = run_pipeline(slug, row["text"], run_id=index).get("fields") or {}
            for name, value in row["expected"]["fields"].items():
                if same_value(value, got.get(name)):
                    right[name] += 1
                else:
                    misses.append(f"{row['name']} {name}: want {value!r}, got {got.get(name)!r}")
        count = len(rows)
        figures[slug] = {
            "fields": {name: round(right[name] / count, 3) for name in INVOICE_FIELDS},
            "overall": round(sum(right.values()) / (count * len(INVOICE_FIELDS)), 3),
            "misses": misses,
        }
    figures["refused"] = [
        f"{row['name']}: {reason}" for row in rows if (reason := not_reviewed("extraction-chain", row["text"]))
    ]
    return figures


def score_not_reviewed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Of the (document, pipeline) pairs not_reviewed.json lists, those given the reason it expects."""
    right, misses = 0, []
    for row in rows:
        for slug, want in row["expected"]["not_reviewed"].items():
            got = not_reviewed(slug, row["text"])
            if got == want:
                right += 1
            else:
                misses.append(f"{row['name']} on {slug}: want {want!r}, got {got!r}")
    return {"right": right, "count": right + len(misses), "misses": misses}


def measure(part: str) -> dict[str, Any]:
    return {
        "contracts": score_contracts(load(part, "contracts")),
        "invoices": score_invoices(load(part, "invoices")),
        "not_reviewed": score_not_reviewed(load(part, "not_reviewed")),
    }


def run() -> dict[str, Any]:
    """For bench/__main__: the headline figures of both parts."""
    figures = {}
    for part in PARTS:
        measured = measure(part)
        contracts, invoices = measured["contracts"], measured["invoices"]
        figures[part] = {
            "debate_type_precision_reported": contracts["reported"]["precision"],
            "debate_type_recall_reported": contracts["reported"]["recall"],
            "debate_type_precision_judged": contracts["judged_issue"]["precision"],
            "debate_type_recall_judged": contracts["judged_issue"]["recall"],
            "clause_specialist_precision": contracts["clause_specialist"]["precision"],
            "clause_specialist_recall": contracts["clause_specialist"]["recall"],
            "review_items_per_contract": contracts["review_items_per_doc"],
            **{f"{slug}_field_accuracy": invoices[slug]["overall"] for slug in _INVOICE_PIPELINES},
            "wrongly_not_reviewed": len(contracts["refused"]) + len(invoices["refused"]),
            "not_reviewed_right": f"{measured['not_reviewed']['right']}/{measured['not_reviewed']['count']}",
        }
    return {"labelled": figures}


def report(part: str, verbose: bool = False) -> str:
    measured = measure(part)
    contracts, invoices = measured["contracts"], measured["invoices"]
    lines = [f"== {part}: {len(contracts['detail'])} contracts"]
    for label in ("reported", "judged_issue", "clause_specialist"):
        rates = contracts[label]
        lines.append(f"  {label:18} precision {rates['precision']}  recall {rates['recall']}")
    lines.append(f"  review items per contract (routing policy, grouped by type): {contracts['review_items_per_doc']}")
    if verbose:
        for kind, rates in contracts["reported"]["types"].items():
            lines.append(f"    {kind:20} tp {rates['tp']:2} fp {rates['fp']:2} fn {rates['fn']:2}")
        for row in contracts["detail"]:
            lines.append(f"    {row['name']:28} items {row['items']:3} missed {row['missed']} extra {row['extra']}")
    lines.extend(f"  not reviewed, wrongly: {refused}" for refused in contracts["refused"])
    count = len(load(part, "invoices"))
    lines.append(f"== {part}: {count} invoices")
    for slug in _INVOICE_PIPELINES:
        figures = invoices[slug]
        per = "  ".join(f"{name} {share:.2f}" for name, share in figures["fields"].items())
        lines.append(f"  {slug:20} overall {figures['overall']:.2f}  {per}")
        if verbose:
            lines.extend(f"    {miss}" for miss in figures["misses"])
    lines.extend(f"  not reviewed, wrongly: {refused}" for refused in invoices["refused"])
    if (refusals := measured["not_reviewed"])["count"]:
        lines.append(f"== {part}: not reviewed, with the reason expected: {refusals['right']}/{refusals['count']}")
        lines.extend(f"    {miss}" for miss in refusals["misses"])
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Nothing here touches the database or the queue: settings only need their addresses.
    os.environ.setdefault("DATABASE_URL", "postgres://unused@localhost:1/unused")
    os.environ.setdefault("REDIS_URL", "redis://localhost:1/0")
    import django

    django.setup()
    verbose = "-v" in argv
    parts = [part for part in argv if part in PARTS] or list(PARTS)
    for part in parts:
        print(report(part, verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
