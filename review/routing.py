"""Turn the findings a pattern sent to review into review items in the inbox.

One pending item per finding type per document: the findings of one type a run
queued become one item showing every quote (a reviewer decides the clause, not a
sentence), and a run raising a type that already waits for a reviewer on the same
document (a Debate nested in a Supervisor and a direct one, a replay, a re-run) is
linked to that item rather than opening another."""

from django.db import IntegrityError, transaction

from orchestrator.models import Run

from .models import FINDING_FIELDS, ReviewItem, ReviewLink, review_opened

# An item's reason when its findings were queued for different reasons: the one a
# reviewer must treat first.
_REASON_ORDER = ["validation_failure", "partial_result", "disagreement", "audit_sample"]


def _member(run: Run, finding: dict) -> dict:
    return {
        "run": run.pk,
        "key": finding["key"],
        "a": finding.get("a"),
        "b": finding.get("b"),
        "finding": {name: finding[name] for name in FINDING_FIELDS if name in finding},
        "judge": finding.get("judge") or {},
        "is_issue": finding.get("is_issue"),
    }


def _rank(reason: str) -> int:
    return _REASON_ORDER.index(reason) if reason in _REASON_ORDER else len(_REASON_ORDER)


def _reason(findings: list[dict]) -> str:
    return min({finding["review"]["reason"] for finding in findings}, key=_rank)


def _open_or_join(run: Run, kind: str, findings: list[dict]) -> tuple[ReviewItem, bool]:
    """The pending item for (document, type), joined by `run`'s `findings`, or a new
    one; and whether it was opened just now."""
    members = [_member(run, finding) for finding in findings]
    keys = [finding["key"] for finding in findings]
    reason = _reason(findings)
    for _attempt in range(3):
        item = (
            ReviewItem.objects.select_for_update()
            .pending()
            .filter(document_id=run.document_id, finding_type=kind)
            .exclude(finding_type="")
            .first()
        )
        if item is None:
            # Rerunning the same run (open_review_items twice) finds its own resolved item.
            item = ReviewItem.objects.filter(run=run, finding_key=kind).first()
        if item is not None:
            break
        first = findings[0]
        try:
            with transaction.atomic():
                item = ReviewItem.objects.create(
                    run=run,
                    document_id=run.document_id,
                    pipeline_id=run.pipeline_id,
                    reason=reason,
                    finding_key=kind,
                    finding_type=kind,
                    title=first.get("title", "")[:300],
                    positions={
                        "a": first.get("a"),
                        "b": first.get("b"),
                        "finding": members[0]["finding"],
                        "group": members,
                    },
                    judge=_group_judge(members),
                    machine_is_issue=any(bool(member["is_issue"]) for member in members),
                    # The policy's compliance controls, as routed: two reviewers when any
                    # finding of the clause is at a four-eyes severity.
                    reviews_needed=2 if any((f.get("routing") or {}).get("four_eyes") for f in findings) else 1,
                    own_runs_allowed=all((f.get("routing") or {}).get("own_runs") for f in findings),
                )  # save() links `run` with the group's keys
            return item, True
        except IntegrityError:
            continue  # another run opened it a moment ago: join theirs
    else:  # pragma: no cover - three races in a row
        raise RuntimeError(f"Could not open or join the review item for {kind} on document {run.document_id}")
    link, created = ReviewLink.objects.get_or_create(item=item, run=run, defaults={"finding_keys": keys})
    if created:
        positions = dict(item.positions or {})
        group = [*(positions.get("group") or []), *members]
        positions["group"] = group
        item.positions = positions
        item.judge = _group_judge(group)
        item.machine_is_issue = any(bool(member.get("is_issue")) for member in group)
        if _rank(reason) < _rank(item.reason):
            item.reason = reason
        if any((f.get("routing") or {}).get("four_eyes") for f in findings):
            item.reviews_needed = 2
        item.save(update_fields=["positions", "judge", "machine_is_issue", "reason", "reviews_needed"])
    return item, False


def _group_judge(members: list[dict]) -> dict:
    """The judge's view of the clause: the verdict it was least sure of among the
    group's disputed findings (the one a reviewer most needs to weigh)."""
    verdicts = [member["judge"] for member in members if member.get("judge")]
    if not verdicts:
        return {}
    return min(verdicts, key=lambda verdict: verdict.get("confidence", 1.0))


def needs_filing(result: dict | None) -> bool:
    """Whether the pattern marked any finding of `result` for a human."""
    findings = result.get("findings") if isinstance(result, dict) else None
    return isinstance(findings, list) and any(isinstance(f, dict) and f.get("review") for f in findings)


def open_review_items(run: Run) -> list[ReviewItem]:
    """File the findings in `run.result` whose "review" is set, one item per finding
    type per document, and write each item's id back into those findings.

    The pattern decides what needs a human (its routing policy) by setting
    finding["review"] = {"reason": ...}; this only files them. Safe to call twice.
    The caller sets the run's status (needs_review when this returns any items)."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        result = dict(locked.result or {})
        findings = [dict(finding) for finding in result.get("findings", [])]
        by_type: dict[str, list[dict]] = {}
        for finding in findings:
            if finding.get("review"):
                by_type.setdefault(finding.get("type", ""), []).append(finding)
        items, opened = [], []
        for kind, group in by_type.items():
            item, created = _open_or_join(locked, kind, group)
            for finding in group:
                finding["review"] = {"decision": None, **finding["review"], "item_id": item.pk}
            items.append(item)
            opened.extend([item] if created else [])
        result["findings"] = findings
        locked.result = result
        locked.save(update_fields=["result"])
        if opened:
            review_opened.send(ReviewItem, run=locked, items=opened)
    # The caller's copy of the run sees the item ids too.
    run.result = result
    return items
