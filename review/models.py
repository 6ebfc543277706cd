"""Review items: findings the agents could not settle, who held them, and the
humans' decisions, which are append-only and form the audit trail."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

# The fields of a finding a reviewer may settle; the rest (key, status, flagged_by,
# the advocates' positions, the judge) describe how the machine got there.
FINDING_FIELDS = ("type", "title", "severity", "evidence", "explanation")


def claim_duration() -> timedelta:
    return timedelta(minutes=getattr(settings, "QUORUM_REVIEW_CLAIM_MINUTES", 15))


def sla() -> timedelta:
    """How long an item may wait before it is overdue."""
    return timedelta(hours=getattr(settings, "QUORUM_REVIEW_SLA_HOURS", 24))


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


class NotDecided(Exception):
    """The decision an admin meant to supersede no longer stands (or never did)."""

    def __init__(self, standing: "Decision | None"):
        self.decision = standing
        super().__init__("The decision to supersede is not the standing one.")


PENDING = ["open", "claimed"]
# Items without a judge sort after the least confident judgement.
JUDGE_CONFIDENCE = Coalesce(Cast(KeyTextTransform("confidence", "judge"), models.FloatField()), Value(2.0))


class ReviewItemQuerySet(models.QuerySet):
    def pending(self) -> "ReviewItemQuerySet":
        # Spelled exactly as the partial indexes' condition, so PostgreSQL uses them.
        return self.filter(status__in=PENDING)

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


@dataclass(frozen=True)
class Event:
    """One line of an item's history."""

    at: datetime
    who: str
    what: str
    decision: "Decision | None" = None


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
    # The run's pipeline, copied here (a run never changes pipeline) so that the
    # inbox's most used filter is served by an index on this table alone rather
    # than a join through 100k runs: 35 ms of every filtered page otherwise.
    pipeline = models.ForeignKey(
        "orchestrator.Pipeline", on_delete=models.PROTECT, related_name="+", null=True, editable=False
    )
    reason = models.CharField(max_length=30, choices=Reason.choices)
    # The finding this item is about, as keyed in the run's result.
    finding_key = models.CharField(max_length=100)
    finding_type = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=300)
    # {"a": finding or null, "b": finding or null, "finding": the finding as the
    # pipeline reported it}. Items from patterns without advocates (a partial
    # result) have only "finding".
    positions = models.JSONField(default=dict)
    # {"recommendation": "accept_a"|"accept_b", "is_issue", "confidence", "criteria": [...], "rationale"}
    judge = models.JSONField(default=dict, blank=True)
    # What the run said before any human looked: the baseline the metrics
    # compare a decision with.
    machine_is_issue = models.BooleanField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewItemQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "finding_key"], name="unique_item_per_finding")]
        indexes = [
            # The inbox lists pending items oldest first, with or without a reason
            # filter. Partial, so the resolved items that pile up over the years
            # never slow it down.
            models.Index(fields=["created_at", "id"], condition=Q(status__in=PENDING), name="review_pending_age"),
            models.Index(
                fields=["reason", "created_at", "id"], condition=Q(status__in=PENDING), name="review_pending_reason"
            ),
            models.Index(
                fields=["pipeline", "reason", "created_at", "id"],
                condition=Q(status__in=PENDING),
                name="review_pending_pipeline",
            ),
            # Sorting by the judge's confidence: the same expression as queue.SORTS["judge"].
            models.Index(
                JUDGE_CONFIDENCE, "created_at", "id", condition=Q(status__in=PENDING), name="review_pending_judge"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.title}"

    def save(self, *args, **kwargs) -> None:
        if self.pipeline_id is None and self.run_id is not None:
            self.pipeline_id = self.run.pipeline_id
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("review:item", args=[self.pk])

    @property
    def is_resolved(self) -> bool:
        return self.status == self.Status.RESOLVED

    @property
    def has_advocates(self) -> bool:
        positions = self.positions or {}
        return bool(positions.get("a") or positions.get("b"))

    @property
    def recommendation(self) -> str | None:
        return (self.judge or {}).get("recommendation")

    def is_overdue(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) - self.created_at > sla()

    def claim_is_live(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.CLAIMED and self.claim_expires_at is not None and self.claim_expires_at > now

    def is_held_by_other(self, user, now: datetime | None = None) -> bool:
        return self.claim_is_live(now) and self.claimed_by_id != user.pk

    # Claims

    def claim(self, user, now: datetime | None = None) -> bool:
        """Take the item for `claim_duration()` from `now`; True when `user` now holds it.

        A conditional UPDATE: when two reviewers click at once, the row count
        says which of them got it (the row lock it takes lasts to the end of
        the transaction, so the claim rows below are written in the same
        order). Claiming an item you hold renews the claim."""
        now = now or timezone.now()
        expires = now + claim_duration()
        with transaction.atomic():
            got = (
                ReviewItem.objects.filter(pk=self.pk)
                .pending()
                .takeable_by(user, now)
                .update(status=self.Status.CLAIMED, claimed_by=user, claim_expires_at=expires)
            )
            if got:
                held = self.claims.filter(ended_at__isnull=True)
                # Renewing a live claim extends it; anything else starts a new one,
                # after closing the claims that ran out (ours or someone else's).
                if not held.filter(user=user, expires_at__gt=now).update(expires_at=expires):
                    held.filter(expires_at__lte=now).end(Claim.End.EXPIRED)
                    Claim.objects.create(item=self, user=user, claimed_at=now, expires_at=expires)
        self.refresh_from_db(fields=["status", "claimed_by", "claim_expires_at"])
        return bool(got)

    def release(self, user, *, by=None) -> bool:
        """Give back the claim `user` holds (or, with `by`, an admin frees it for
        them); True when there was one to give back."""
        with transaction.atomic():
            released = ReviewItem.objects.filter(pk=self.pk, status=self.Status.CLAIMED, claimed_by=user).update(
                status=self.Status.OPEN, claimed_by=None, claim_expires_at=None
            )
            if released:
                self.claims.filter(user=user, ended_at__isnull=True).end(Claim.End.RELEASED, by=by or user)
        self.refresh_from_db(fields=["status", "claimed_by", "claim_expires_at"])
        return bool(released)

    def reassign(self, to, *, by, now: datetime | None = None) -> bool:
        """An admin hands the item to reviewer `to`, ending whoever's claim it
        was under; False when the item is already decided."""
        now = now or timezone.now()
        with transaction.atomic():
            locked = ReviewItem.objects.select_for_update().get(pk=self.pk)
            if locked.is_resolved:
                return False
            held = locked.claims.filter(ended_at__isnull=True)
            held.filter(expires_at__lte=now).end(Claim.End.EXPIRED)
            held.end(Claim.End.REASSIGNED, by=by, at=now)
            expires = now + claim_duration()
            Claim.objects.create(item=locked, user=to, claimed_at=now, expires_at=expires, assigned_by=by)
            ReviewItem.objects.filter(pk=self.pk).update(
                status=self.Status.CLAIMED, claimed_by=to, claim_expires_at=expires
            )
        self.refresh_from_db(fields=["status", "claimed_by", "claim_expires_at"])
        return True

    # Deciding

    def machine_finding(self) -> dict | None:
        """The finding as the pipeline reported it, before any human."""
        positions = self.positions or {}
        return positions.get("finding") or positions.get("a") or positions.get("b")

    def quotes(self) -> list[tuple[str, str]]:
        """(whose, quoted evidence) for each position shown: "a" and "b", or the
        pipeline's own "finding" when there were no advocates."""
        positions = self.positions or {}
        if self.has_advocates:
            return [(side, (positions.get(side) or {}).get("evidence", "")) for side in ("a", "b")]
        return [("finding", (self.machine_finding() or {}).get("evidence", ""))]

    def outcome(self, choice: str, value: dict | None = None) -> tuple[bool, dict | None]:
        """What `choice` makes of the finding: (is it an issue, the finding as settled)."""
        positions = self.positions or {}
        if choice == Decision.Choice.NOT_ISSUE:
            return False, None
        if choice == Decision.Choice.CUSTOM:
            if not value:
                raise ValueError("An edited finding needs its value.")
            return True, {"type": self.finding_type, **value}
        if choice == Decision.Choice.CONFIRM:
            return True, self.machine_finding()
        if choice in (Decision.Choice.ACCEPT_A, Decision.Choice.ACCEPT_B):
            finding = positions.get("a" if choice == Decision.Choice.ACCEPT_A else "b")
            # Accepting the advocate who did not flag the finding means it is not an issue.
            return finding is not None, finding
        raise ValueError(f"Unknown choice {choice!r}")

    def overturns(self, choice: str, value: dict | None = None) -> bool:
        """Whether `choice` goes against the machine's verdict, so a note is owed.

        Compared by outcome, not by label: with A alone flagging, "accept B" and
        "not an issue" settle the finding the same way. An edited finding always
        replaces what the machine said. Without a judge (the advocates agreed, or
        there were none) only "not an issue" goes against it."""
        if choice == Decision.Choice.CUSTOM:
            return True
        if self.recommendation is None:
            return not self.outcome(choice, value)[0]
        return self.outcome(choice, value) != self.outcome(self.recommendation)

    def decide(
        self,
        user,
        choice: str,
        note: str = "",
        seconds_spent: int | None = None,
        value: dict | None = None,
        now: datetime | None = None,
    ) -> "Decision":
        """Record `user`'s decision and resolve the item; finalise the run when
        this was its last open item.

        Exactly one decision per item whatever the concurrency: the item row is
        locked, so a second decider waits and then sees the first one's
        decision; the partial unique constraint stops anything that slips past.
        Raises AlreadyDecided or ClaimedByOther; nothing is written then.
        `now` is the decision's time (the clock, injectable for imports and tests:
        a decision's time cannot be changed once written)."""
        from .finalise import finalise_run

        now = now or timezone.now()
        with transaction.atomic():
            item = ReviewItem.objects.select_for_update().get(pk=self.pk)
            existing = item.current_decision()
            if existing is not None:
                raise AlreadyDecided(existing)
            if item.is_held_by_other(user, now):
                raise ClaimedByOther(item)
            if seconds_spent is None and item.claimed_by_id == user.pk:
                # No open time from the page: count from when they claimed it.
                held = item.claims.filter(user=user).order_by("-claimed_at").first()
                seconds_spent = int((now - held.claimed_at).total_seconds()) if held else None
            try:
                with transaction.atomic():
                    decision = item._record(user, choice, value, note, seconds_spent, now)
            except IntegrityError:
                raise AlreadyDecided(item.current_decision()) from None
            open_claims = item.claims.filter(ended_at__isnull=True)
            open_claims.filter(user=user).end(Claim.End.DECIDED, by=user)
            open_claims.end(Claim.End.EXPIRED)
            item.status = self.Status.RESOLVED
            item.resolved_at = now
            item.claim_expires_at = None
            item.save(update_fields=["status", "resolved_at", "claim_expires_at"])
            finalise_run(item.run)
            review_decided.send(ReviewItem, item=item, decision=decision)
        self.refresh_from_db()
        return decision

    def supersede(
        self,
        admin,
        previous: "Decision",
        choice: str,
        reason: str,
        value: dict | None = None,
        seconds_spent=None,
        now: datetime | None = None,
    ) -> "Decision":
        """An admin replaces the standing decision with a new one that says why.

        The old decision stays as it was, marked superseded; the run is rebuilt
        from the new one. Raises NotDecided when `previous` is no longer the
        standing decision (another admin got there first)."""
        from .finalise import finalise_run

        if not reason.strip():
            raise ValueError("Superseding a decision needs a reason.")
        with transaction.atomic():
            item = ReviewItem.objects.select_for_update().get(pk=self.pk)
            standing = item.current_decision()
            if standing is None or standing.pk != previous.pk:
                raise NotDecided(standing)
            decision = item._record(admin, choice, value, reason, seconds_spent, now or timezone.now(), standing)
            finalise_run(item.run)
        return decision

    def _record(self, user, choice, value, note, seconds_spent, now, supersedes=None) -> "Decision":
        """Write a decision with what it settles the finding to."""
        is_issue, settled = self.outcome(choice, value)
        return Decision.objects.create(
            item=self,
            decided_by=user,
            choice=choice,
            value=settled,
            is_issue=is_issue,
            overturned=self.overturns(choice, value),
            note=note,
            seconds_spent=seconds_spent,
            supersedes=supersedes,
            created_at=now,
        )

    def current_decision(self) -> "Decision | None":
        """The decision that stands: the one no other decision supersedes."""
        return self.decisions.filter(superseded_by__isnull=True).select_related("decided_by").order_by("-id").first()

    def history(self, now: datetime | None = None) -> list[Event]:
        """Every claim, release, reassignment, expiry and decision, in order."""
        now = now or timezone.now()
        events = []
        for claim in self.claims.select_related("user", "assigned_by", "ended_by"):
            holder = claim.user.get_username()
            until = f"until {timezone.localtime(claim.expires_at):%H:%M}"
            if claim.assigned_by_id:
                admin = claim.assigned_by.get_username()
                events.append(Event(claim.claimed_at, admin, f"assigned it to {holder} {until}"))
            else:
                events.append(Event(claim.claimed_at, holder, f"claimed it {until}"))
            if claim.end == Claim.End.RELEASED:
                freed = "released it" if claim.ended_by_id == claim.user_id else f"released {holder}'s claim"
                events.append(Event(claim.ended_at, (claim.ended_by or claim.user).get_username(), freed))
            elif claim.end == Claim.End.REASSIGNED:
                events.append(Event(claim.ended_at, claim.ended_by.get_username(), f"took it from {holder}"))
            elif claim.end == Claim.End.EXPIRED or (not claim.end and claim.expires_at <= now):
                events.append(Event(claim.expires_at, holder, "let the claim expire"))
            # A claim ended by a decision shows as the decision itself.
        for decision in self.decisions.select_related("decided_by", "supersedes"):
            what = "superseded the decision with" if decision.supersedes_id else "decided"
            events.append(Event(decision.created_at, decision.decided_by.get_username(), what, decision))
        return sorted(events, key=lambda event: event.at)


class ClaimQuerySet(models.QuerySet):
    def end(self, end: str, by=None, at: datetime | None = None) -> int:
        """Close these claims. An expired claim ended when it expired, whoever notices."""
        if end == Claim.End.EXPIRED:
            return self.update(end=end, ended_at=models.F("expires_at"))
        return self.update(end=end, ended_at=at or timezone.now(), ended_by=by)


class Claim(models.Model):
    """Who held an item when, and how each hold ended: the item's history."""

    class End(models.TextChoices):
        RELEASED = "released", "Released"
        REASSIGNED = "reassigned", "Reassigned"
        DECIDED = "decided", "Decided"
        EXPIRED = "expired", "Expired"

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="claims")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Set when an admin handed the item to `user` rather than `user` taking it.
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end = models.CharField(max_length=20, choices=End.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = ClaimQuerySet.as_manager()

    class Meta:
        ordering = ["claimed_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} on item {self.item_id}"


class Decision(models.Model):
    """Append-only: a decision is never edited; an admin may supersede one.

    Enforced three times over: save() refuses updates, the admin is read-only,
    and a PostgreSQL trigger (migration 0003) refuses UPDATE and DELETE."""

    class Choice(models.TextChoices):
        ACCEPT_A = "accept_a", "Accept A"
        ACCEPT_B = "accept_b", "Accept B"
        CONFIRM = "confirm", "Confirm the finding"
        CUSTOM = "custom", "Edit"
        NOT_ISSUE = "not_issue", "Not an issue"

    # PROTECT: deleting an item (or its run) must not take the audit trail with it.
    item = models.ForeignKey(ReviewItem, on_delete=models.PROTECT, related_name="decisions")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    choice = models.CharField(max_length=20, choices=Choice.choices)
    # The finding as the human settled it (or null when it is not an issue).
    value = models.JSONField(null=True, blank=True)
    # Derived from the choice when deciding and kept, so the metrics are one query.
    is_issue = models.BooleanField(null=True, blank=True)
    overturned = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    seconds_spent = models.PositiveIntegerField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

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

    def delete(self, *args, **kwargs):
        raise ValueError("Decisions are append-only and are never deleted.")


# Signals for whoever must learn of review work (notify: webhooks, e-mail). Sent inside
# the transaction that opens or decides; receivers defer with transaction.on_commit.
review_opened = Signal()  # run=Run, items=[ReviewItem] newly opened
review_decided = Signal()  # item=ReviewItem, decision=Decision
