"""Review items: findings the agents could not settle, and the humans' decisions."""

from django.conf import settings
from django.db import models
from django.urls import reverse


class ReviewItem(models.Model):
    class Reason(models.TextChoices):
        DISAGREEMENT = "disagreement", "Disagreement"
        AUDIT_SAMPLE = "audit_sample", "Audit sample"
        PARTIAL_RESULT = "partial_result", "Partial result"
        VALIDATION_FAILURE = "validation_failure", "Validation failure"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        RESOLVED = "resolved", "Resolved"

    run = models.ForeignKey("orchestrator.Run", on_delete=models.CASCADE, related_name="review_items")
    reason = models.CharField(max_length=30, choices=Reason.choices, db_index=True)
    # The finding this item is about, as keyed in the run's result.
    finding_key = models.CharField(max_length=100)
    finding_type = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=300)
    # {"a": {...finding or null}, "b": {...}}: each advocate's position with its evidence.
    positions = models.JSONField(default=dict)
    # {"recommendation": "accept_a"|"accept_b", "confidence", "criteria": [...], "rationale"}
    judge = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "finding_key"], name="unique_item_per_finding")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("review:item", args=[self.pk])


class Decision(models.Model):
    """Append-only: a decision is never edited; an admin may supersede one."""

    class Choice(models.TextChoices):
        ACCEPT_A = "accept_a", "Accept A"
        ACCEPT_B = "accept_b", "Accept B"
        CUSTOM = "custom", "Edit"
        NOT_ISSUE = "not_issue", "Not an issue"

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="decisions")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    choice = models.CharField(max_length=20, choices=Choice.choices)
    # The finding as the human settled it (or null when it is not an issue).
    value = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)
    seconds_spent = models.PositiveIntegerField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Exactly one first decision per item, whatever the concurrency.
            models.UniqueConstraint(
                fields=["item"], condition=models.Q(supersedes__isnull=True), name="one_decision_per_item"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_choice_display()} on item {self.item_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Decisions are append-only; supersede one instead of editing it.")
        super().save(*args, **kwargs)
