"""Turn the findings a pattern sent to review into review items in the inbox."""

from django.db import transaction

from orchestrator.models import Run

from .models import FINDING_FIELDS, ReviewItem, review_opened


def open_review_items(run: Run) -> list[ReviewItem]:
    """Create a ReviewItem for every finding in `run.result` whose "review" is
    set, and write each item's id back into that finding's review.

    The pattern decides what needs a human (disputed findings, the audit
    sample of agreed ones, a partial result) by setting finding["review"] =
    {"reason": ...}; this only files them. Safe to call twice: items are
    unique per (run, finding key). The caller sets the run's status
    (needs_review when this returns any items)."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        result = dict(locked.result or {})
        findings = [dict(finding) for finding in result.get("findings", [])]
        items, opened = [], []
        for finding in findings:
            review = finding.get("review")
            if not review:
                continue
            item, created = ReviewItem.objects.get_or_create(
                run=locked,
                finding_key=finding["key"],
                defaults={
                    "reason": review["reason"],
                    "pipeline_id": locked.pipeline_id,
                    "finding_type": finding.get("type", ""),
                    "title": finding.get("title", "")[:300],
                    "positions": {
                        "a": finding.get("a"),
                        "b": finding.get("b"),
                        "finding": {name: finding[name] for name in FINDING_FIELDS if name in finding},
                    },
                    "judge": finding.get("judge") or {},
                    "machine_is_issue": finding.get("is_issue"),
                },
            )
            finding["review"] = {"decision": None, **review, "item_id": item.pk}
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
