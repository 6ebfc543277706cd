"""Fold the reviewers' decisions back into a run's result once its last review
item is resolved, so the result a reader or an export sees is the settled one."""

from django.db import transaction

from orchestrator.models import Run
from orchestrator.patterns.debate import count_findings

from .models import FINDING_FIELDS, Decision, ReviewItem, ReviewLink


def finalise_run(run: Run) -> None:
    """Rebuild `run.result` from its items' standing decisions and mark it reviewed.

    Does nothing while any item is unresolved. Safe to run again (an admin
    superseding a decision does): each finding is rebuilt from the machine's
    version plus the standing decision, never from an earlier rebuild. Locks
    the run row first: when two reviewers decide a run's last two items at
    once, the second waits here, then sees both resolved and finalises."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        links = list(ReviewLink.objects.filter(run=locked).select_related("item"))
        items = [link.item for link in links]
        if not items or any(item.status != ReviewItem.Status.RESOLVED for item in items):
            return
        decisions = {item.pk: item.current_decision() for item in items}
        # A decision covers the clause: every finding of the item's type this run queued.
        by_key = {key: link.item for link in links for key in link.finding_keys}
        result = dict(locked.result or {})
        findings = [dict(finding) for finding in result.get("findings", [])]
        for finding in findings:
            review = finding.get("review")
            item = by_key.get(finding.get("key"))
            if not review or item is None:
                continue
            decision = decisions.get(item.pk)
            if decision is not None:
                _apply(finding, item, decision)
        result["findings"] = findings
        result["counts"] = {**result.get("counts", {}), **count_findings(findings)}
        locked.result = result
        locked.status = Run.Status.REVIEWED
        locked.save(update_fields=["result", "status"])
    # The caller's copy of the run sees the settled result too.
    run.result, run.status = locked.result, locked.status
    if locked.parent_step_id:
        # A nested run (a Debate inside a Supervisor or Chain): its parent's result takes the decisions.
        from orchestrator.engine import fold_back_review

        fold_back_review(locked)


def _apply(finding: dict, item: ReviewItem, decision: Decision) -> None:
    # Start from the machine's version of this finding, so a superseded edit leaves
    # no trace in the fields; then take the human's where they settled one. The key
    # stays: exports and review items refer to the finding by it.
    machine = {name: finding["review"].get("machine", {}).get(name, finding.get(name)) for name in FINDING_FIELDS}
    finding["review"]["machine"] = machine
    # Only an edit rewrites the finding; any other choice settles whether it is an issue
    # (its value is the group's first finding, which must not overwrite the others' quotes).
    edited = decision.value if decision.choice == Decision.Choice.CUSTOM else None
    for source in (machine, edited):
        finding.update({name: value for name, value in (source or {}).items() if name in FINDING_FIELDS})
    finding["is_issue"] = bool(decision.is_issue if decision.is_issue is not None else decision.value)
    finding["review"] = {
        **finding["review"],
        "item_id": item.pk,
        "decision": {
            "choice": decision.choice,
            "by": decision.decided_by.get_username(),
            "at": decision.created_at.isoformat(),
            "note": decision.note,
        },
    }
