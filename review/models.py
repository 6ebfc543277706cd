"""Review items: findings the agents could not settle, and the humans' decisions."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


def claim_minutes() -> int:
    return getattr(settings, "QUORUM_CLAIM_MINUTES", 15)


class AlreadyDecided(Exception):
    """Someone else's decision on the item stands; ours was not written."""

    def __init__(self, decision: "Decision"):
        self.decision = decision
        super().__init__(f"Already decided by {decision.decided_by} at {decision.created_at:%Y-%m-%d %H:%M}")


class ClaimedByOther(Exception):
    """The item is held by another reviewer whose claim has not expired."""

    def __init__(self, item: "ReviewItem"):
        self.item = item
        super().__init__(f"Claimed by {item.claimed_by} until {item.claim_expires_at:%H:%M}")


class ReviewItemQuerySet(models.QuerySet):
    def pending(self) -> "ReviewItemQuerySet":
        return self.filter(status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED])

    def takeable_by(self, user, now: datetime | None = None) -> "ReviewItemQuerySet":
        """Items `user` may claim or decide now: open, claimed by them, or held
        under a claim that has run out."""
        now = now or timezone.now()
        return self.filter(
            Q(status=ReviewItem.Status.OPEN)
            | Q(status=ReviewItem.Status.CLAIMED, claimed_by=user)
            | Q(status=ReviewItem.Status.CLAIMED, claim_expires_at__lte=now)
        )

    def unclaimed(self, now: datetime | None = None) -> "ReviewItemQuerySet":
        now = now or timezone.now()
        return self.filter(
            Q(status=ReviewItem.Status.OPEN) | Q(status=ReviewItem.Status.CLAIMED, claim_expires_at__lte=now)
        )

    def claimed_by_user(self, user, now: datetime | None = None) -> "ReviewItemQuerySet":
        now = now or timezone.now()
        return self.filter(status=ReviewItem.Status.CLAIMED, claimed_by=user, claim_expires_at__gt=now)


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

    objects = ReviewItemQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "finding_key"], name="unique_item_per_finding")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("review:item", args=[self.pk])

    @property
    def is_resolved(self) -> bool:
        return self.status == self.Status.RESOLVED

    def claim_is_live(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.CLAIMED and self.claim_expires_at is not None and self.claim_expires_at > now

    def is_held_by_other(self, user, now: datetime | None = None) -> bool:
        return self.claim_is_live(now) and self.claimed_by_id != user.pk

    def claim(self, user) -> bool:
        """Take the item for `claim_minutes()`; True when `user` now holds it.

        A conditional UPDATE rather than read-then-write: when two reviewers
        click at once, the row count says which of them got it. Claiming an
        item you already hold renews the claim."""
        now = timezone.now()
        expires = now + timedelta(minutes=claim_minutes())
        got = (
            ReviewItem.objects.filter(pk=self.pk)
            .takeable_by(user, now)
            .update(status=self.Status.CLAIMED, claimed_by=user, claim_expires_at=expires)
        )
        self.refresh_from_db(fields=["status", "claimed_by", "claim_expires_at"])
        if got:
            Claim.objects.create(item=self, user=user, claimed_at=now, expires_at=expires)
        return bool(got)

    def release(self, user) -> bool:
        """Give back a claim `user` holds; True when there was one to give back."""
        now = timezone.now()
        released = ReviewItem.objects.filter(pk=self.pk, status=self.Status.CLAIMED, claimed_by=user).update(
            status=self.Status.OPEN, claimed_by=None, claim_expires_at=None
        )
        self.refresh_from_db(fields=["status", "claimed_by", "claim_expires_at"])
        if released:
            Claim.objects.filter(item=self, user=user, released_at__isnull=True).update(released_at=now)
        return bool(released)

    def outcome(self, choice: str) -> tuple[bool, dict | None]:
        """What `choice` makes of the finding: (is it an issue, the finding as settled)."""
        if choice == Decision.Choice.NOT_ISSUE:
            return False, None
        if choice not in (Decision.Choice.ACCEPT_A, Decision.Choice.ACCEPT_B):
            raise ValueError(f"Cannot settle a finding with {choice!r} yet: choose accept_a, accept_b or not_issue.")
        side = "a" if choice == Decision.Choice.ACCEPT_A else "b"
        finding = (self.positions or {}).get(side)
        # Accepting the advocate who did not flag the finding means it is not an issue.
        return finding is not None, finding

    @property
    def recommendation(self) -> str | None:
        return (self.judge or {}).get("recommendation")

    def overturns(self, choice: str) -> bool:
        """Whether `choice` goes against the machine's verdict, so a note is owed.

        Compared by outcome, not by label: with A alone flagging, "accept B" and
        "not an issue" settle the finding the same way. An audit sample has no
        judge; the advocates agreed it is an issue, so only "not an issue"
        overturns them."""
        if self.recommendation is None:
            return not self.outcome(choice)[0]
        return self.outcome(choice) != self.outcome(self.recommendation)

    def decide(self, user, choice: str, note: str = "", seconds_spent: int | None = None) -> "Decision":
        """Record `user`'s decision and resolve the item; finalise the run when
        this was its last open item.

        Exactly one decision per item whatever the concurrency: the item row is
        locked, so a second decider waits and then sees the first one's
        decision; the partial unique constraint stops anything that slips past.
        Raises AlreadyDecided or ClaimedByOther; nothing is written then."""
        from .finalise import finalise_run

        with transaction.atomic():
            item = ReviewItem.objects.select_for_update().get(pk=self.pk)
            existing = item.current_decision()
            if existing is not None:
                raise AlreadyDecided(existing)
            if item.is_held_by_other(user):
                raise ClaimedByOther(item)
            _, value = item.outcome(choice)
            if seconds_spent is None and item.claimed_by_id == user.pk:
                # No open time from the page: count from when they claimed it.
                held = item.claims.filter(user=user).order_by("-claimed_at").first()
                seconds_spent = int((timezone.now() - held.claimed_at).total_seconds()) if held else None
            try:
                with transaction.atomic():
                    decision = Decision.objects.create(
                        item=item,
                        decided_by=user,
                        choice=choice,
                        value=value,
                        note=note,
                        seconds_spent=seconds_spent,
                    )
            except IntegrityError:
                raise AlreadyDecided(item.current_decision()) from None
            item.status = self.Status.RESOLVED
            item.resolved_at = timezone.now()
            item.claim_expires_at = None
            item.save(update_fields=["status", "resolved_at", "claim_expires_at"])
            finalise_run(item.run)
        self.refresh_from_db()
        return decision

    def current_decision(self) -> "Decision | None":
        """The decision that stands: the latest one no other decision supersedes."""
        return self.decisions.filter(superseded_by__isnull=True).select_related("decided_by").order_by("-id").first()

    def next_for(self, user) -> "ReviewItem | None":
        """The oldest other item `user` can take, claimed for them, so the next
        page opens on an item nobody else is working on."""
        candidates = ReviewItem.objects.pending().takeable_by(user).exclude(pk=self.pk).order_by("created_at", "id")
        for candidate in candidates[:20]:
            if candidate.claim(user):
                return candidate
        return None


class Claim(models.Model):
    """Who held an item when: the claim history shown on the item page."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="claims")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    claimed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["claimed_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} on item {self.item_id}"


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
