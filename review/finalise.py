"""Fold the reviewers' decisions back into a run's result once its last review
item is resolved, so the result a reader or an export sees is the settled one."""

from django.db import transaction

from orchestrator.models import Run

from .models import Decision, ReviewItem


def finalise_run(run: Run) -> None:
    """Rebuild `run.result` from its items' decisions and mark it reviewed.

    Does nothing while any item is unresolved. Locks the run row first: when
    two reviewers decide a run's last two items at once, the second waits
    here, then sees both items resolved and is the one that finalises."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        items = list(locked.review_items.all())
        if not items or any(item.status != ReviewItem.Status.RESOLVED for item in items):
            return
        decisions = {item.pk: item.current_decision() for item in items}
        by_key = {item.finding_key: item.pk for item in items}
        result = dict(locked.result or {})
        findings = [dict(finding) for finding in result.get("findings", [])]
        for finding in findings:
            review = finding.get("review")
            if not review:
                continue
            item_id = review.get("item_id") or by_key.get(finding.get("key"))
            decision = decisions.get(item_id)
            if decision is not None:
                _apply(finding, decision)
        result["findings"] = findings
        result["counts"] = {**result.get("counts", {}), **_counts(findings)}
        locked.result = result
        locked.status = Run.Status.REVIEWED
        locked.save(update_fields=["result", "status"])
    # The caller's copy of the run sees the settled result too.
    run.result, run.status = locked.result, locked.status


def _apply(finding: dict, decision: Decision) -> None:
    side = {Decision.Choice.ACCEPT_A: "a", Decision.Choice.ACCEPT_B: "b"}.get(decision.choice)
    chosen = finding.get(side) if side else None
    if chosen is not None:
        # The finding now reads as the accepted advocate gave it; its key stays,
        # since exports and review items refer to the finding by key.
        finding.update({name: value for name, value in chosen.items() if name != "key"})
    finding["is_issue"] = chosen is not None
    finding["review"] = {
        **finding["review"],
        "decision": {
            "choice": decision.choice,
            "by": decision.decided_by.get_username(),
            "at": decision.created_at.isoformat(),
            "note": decision.note,
        },
    }


def _counts(findings: list[dict]) -> dict:
    return {
        "agreed": sum(1 for finding in findings if finding.get("status") == "agreed"),
        "disputed": sum(1 for finding in findings if finding.get("status") == "disputed"),
        "issues": sum(1 for finding in findings if finding.get("is_issue")),
    }
