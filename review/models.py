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


class NotYours(Exception):
    """The compliance controls keep this reviewer off the item: it is on a run they
    started, they already gave the first of two decisions, or it waits for an admin."""


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
        under a claim that has run out; none the compliance controls keep from them."""
        now = now or timezone.now()
        return self.filter(
            Q(status=ReviewItem.Status.OPEN)
            | Q(status=ReviewItem.Status.CLAIMED, claimed_by=user)
            | Q(status=ReviewItem.Status.CLAIMED, claim_expires_at__lte=now)
        ).without_controls_against(user)

    def without_controls_against(self, user) -> "ReviewItemQuerySet":
        """Leave out what the compliance controls keep from `user`: items on runs they
        started (unless the policy allows it) and four-eyes items they already decided."""
        if user is None or user.pk is None:
            return self
        return self.exclude(Q(own_runs_allowed=False) & Q(links__run__created_by=user)).exclude(
            decisions__decided_by=user
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

    # The run that first raised the finding; `runs` holds every run that raised it
    # since (a nested Debate and a direct one, a replay, a re-run), through ReviewLink.
    run = models.ForeignKey("orchestrator.Run", on_delete=models.CASCADE, related_name="review_items")
    runs = models.ManyToManyField("orchestrator.Run", through="ReviewLink", related_name="linked_review_items")
    # The run's document, copied (a run never changes document): one pending item per
    # finding type per document, whichever runs raised it.
    document = models.ForeignKey(
        "documents.Document", on_delete=models.CASCADE, related_name="+", null=True, editable=False
    )
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
    # pipeline reported it, "group": [{"run", "key", "a", "b", "finding", "judge"}
    # for every finding of the type in the document]}: a/b/finding are the first
    # of the group. Items from patterns without advocates have no a/b.
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
    # Four eyes (the policy's four_eyes_severities): two reviewers who agree, or an admin
    # when they do not (`escalated`). And whether whoever started a linked run may decide.
    reviews_needed = models.PositiveSmallIntegerField(default=1)
    escalated = models.BooleanField(default=False)
    own_runs_allowed = models.BooleanField(default=False)

    objects = ReviewItemQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "finding_key"], name="unique_item_per_finding"),
            # A reviewer decides a clause once, however many runs raised it (items
            # without a type are not grouped).
            models.UniqueConstraint(
                fields=["document", "finding_type"],
                condition=Q(status__in=PENDING) & ~Q(finding_type=""),
                name="one_pending_item_per_document_type",
            ),
        ]
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
        if self.document_id is None and self.run_id is not None:
            self.document_id = self.run.document_id
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding and self.run_id is not None:
            # The first run is linked like any other, with the keys of its findings in the group.
            group = (self.positions or {}).get("group") or []
            keys = [member["key"] for member in group if member.get("run") in (None, self.run_id)]
            ReviewLink.objects.get_or_create(
                item=self, run_id=self.run_id, defaults={"finding_keys": keys or [self.finding_key]}
            )

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

    def group(self) -> list[dict]:
        """Every finding of the item's type in the document, from every linked run."""
        positions = self.positions or {}
        return positions.get("group") or [
            {
                "key": self.finding_key,
                "a": positions.get("a"),
                "b": positions.get("b"),
                "finding": positions.get("finding"),
            }
        ]

    def quotes(self) -> list[tuple[str, str]]:
        """(whose, quoted evidence) for each position shown: "a" and "b", or the
        pipeline's own "finding" when there were no advocates; then every other
        quote of the group, each once."""
        positions = self.positions or {}
        if self.has_advocates:
            quotes = [(side, (positions.get(side) or {}).get("evidence", "")) for side in ("a", "b")]
        else:
            quotes = [("finding", (self.machine_finding() or {}).get("evidence", ""))]
        seen = {quote for _, quote in quotes}
        for member in self.group()[1:]:
            for side in ("a", "b", "finding"):
                quote = (member.get(side) or {}).get("evidence", "")
                if quote and quote not in seen:
                    seen.add(quote)
                    quotes.append((f"quote {len(seen)}", quote))
        return quotes

    def choices(self) -> list[tuple[str, str]]:
        """The decisions that mean something here, none two ways of saying the same:
        on an audit sample the agents agreed, so they were right or wrong together;
        anywhere else the finding stands, is edited, or is not an issue."""
        C = Decision.Choice
        if self.reason == self.Reason.AUDIT_SAMPLE:
            return [(C.AGENTS_RIGHT, C.AGENTS_RIGHT.label), (C.AGENTS_WRONG, C.AGENTS_WRONG.label)]
        return [(C.STANDS, C.STANDS.label), (C.CUSTOM, C.CUSTOM.label), (C.NOT_ISSUE, C.NOT_ISSUE.label)]

    def outcome(self, choice: str, value: dict | None = None) -> tuple[bool, dict | None]:
        """What `choice` makes of the finding: (is it an issue, the finding as settled)."""
        positions = self.positions or {}
        C = Decision.Choice
        if choice == C.NOT_ISSUE:
            return False, None
        if choice == C.CUSTOM:
            if not value:
                raise ValueError("An edited finding needs its value.")
            return True, {"type": self.finding_type, **value}
        if choice in (C.CONFIRM, C.STANDS):
            return True, self.machine_finding()
        if choice in (C.AGENTS_RIGHT, C.AGENTS_WRONG):
            agents = self.machine_is_issue is not False
            is_issue = agents if choice == C.AGENTS_RIGHT else not agents
            return is_issue, self.machine_finding() if is_issue else None
        if choice in (C.ACCEPT_A, C.ACCEPT_B):
            # Kept for decisions recorded before the choices said what they mean.
            finding = positions.get("a" if choice == C.ACCEPT_A else "b")
            return finding is not None, finding
        raise ValueError(f"Unknown choice {choice!r}")

    def judge_is_issue(self) -> bool | None:
        """The judge's verdict on the clause, or None when there was no judge."""
        judged = (self.judge or {}).get("is_issue")
        if judged is None and self.recommendation:
            judged = self.outcome(self.recommendation)[0]
        return judged

    def overturns(self, choice: str, value: dict | None = None) -> bool:
        """Whether `choice` goes against the machine's verdict, so a note is owed.

        Compared by outcome (is it an issue), not by label. An edited finding always
        replaces what the machine said, and "agents wrong" always goes against them.
        Without a judge (the advocates agreed, or there were none) only a decision
        that it is not an issue goes against the pipeline."""
        C = Decision.Choice
        if choice in (C.CUSTOM, C.AGENTS_WRONG):
            return True
        if choice == C.AGENTS_RIGHT:
            return False
        judged = self.judge_is_issue()
        if judged is None:
            return not self.outcome(choice, value)[0]
        return self.outcome(choice, value)[0] != bool(judged)

    def decide(
        self,
        user,
        choice: str,
        note: str = "",
        seconds_spent: int | None = None,
        value: dict | None = None,
        now: datetime | None = None,
        arbiter: bool = False,
    ) -> "Decision":
        """Record `user`'s decision and resolve the item; finalise the runs for
        which this was the last open item.

        Four eyes: an item needing two reviewers stays open after the first
        decision; the second resolves it when both settle the finding the same way,
        or escalates it to an admin (`arbiter`) when they do not.
        Exactly one decision per item whatever the concurrency: the item row is
        locked, so a second decider waits and then sees the first one's
        decision; the partial unique constraint stops anything that slips past.
        Raises AlreadyDecided, ClaimedByOther or NotYours; nothing is written then.
        `now` is the decision's time (the clock, injectable for imports and tests:
        a decision's time cannot be changed once written)."""
        now = now or timezone.now()
        with transaction.atomic():
            item = ReviewItem.objects.select_for_update().get(pk=self.pk)
            if item.is_resolved:
                raise AlreadyDecided(item.current_decision())
            if item.is_held_by_other(user, now):
                raise ClaimedByOther(item)
            stage = item._stage_for(user, arbiter)
            if seconds_spent is None and item.claimed_by_id == user.pk:
                # No open time from the page: count from when they claimed it.
                held = item.claims.filter(user=user).order_by("-claimed_at").first()
                seconds_spent = int((now - held.claimed_at).total_seconds()) if held else None
            try:
                with transaction.atomic():
                    decision = item._record(user, choice, value, note, seconds_spent, now, stage=stage)
            except IntegrityError:
                raise AlreadyDecided(item.current_decision()) from None
            open_claims = item.claims.filter(ended_at__isnull=True)
            open_claims.filter(user=user).end(Claim.End.DECIDED, by=user)
            open_claims.end(Claim.End.EXPIRED)
            item.claim_expires_at = None
            if stage == Decision.Stage.FIRST and item.reviews_needed > 1:
                # The first of two: back to the inbox for a second reviewer.
                item.status, item.claimed_by = self.Status.OPEN, None
                item.save(update_fields=["status", "claimed_by", "claim_expires_at"])
            elif stage == Decision.Stage.SECOND and not item._agree(item._first(), decision):
                # The two reviewers disagree: an admin settles it.
                item.status, item.claimed_by, item.escalated = self.Status.OPEN, None, True
                item.save(update_fields=["status", "claimed_by", "claim_expires_at", "escalated"])
            else:
                item.status = self.Status.RESOLVED
                item.resolved_at = now
                item.save(update_fields=["status", "resolved_at", "claim_expires_at"])
                item.finalise_runs()
            review_decided.send(ReviewItem, item=item, decision=decision)
        self.refresh_from_db()
        return decision

    def _first(self) -> "Decision | None":
        return self.decisions.filter(stage=Decision.Stage.FIRST, superseded_by__isnull=True).first()

    def on_own_run(self, user) -> bool:
        """Whether `user` started one of the runs that raised this item."""
        return self.links.filter(run__created_by=user).exists() or self.run.created_by_id == user.pk

    def _stage_for(self, user, arbiter: bool) -> str:
        """Which decision `user` would give now; raises NotYours when the controls forbid it."""
        if not self.own_runs_allowed and self.on_own_run(user):
            raise NotYours("You started a run that raised this item: another reviewer decides it.")
        if self.escalated:
            if not arbiter:
                raise NotYours("The two reviewers disagreed: an admin decides this item.")
            return Decision.Stage.ARBITER
        first = self._first()
        if first is None:
            return Decision.Stage.FIRST
        if self.reviews_needed < 2:
            raise AlreadyDecided(first)
        if first.decided_by_id == user.pk:
            raise NotYours("You gave the first decision: a second reviewer must decide too.")
        return Decision.Stage.SECOND

    def may_decide(self, user, arbiter: bool = False) -> str:
        """Why `user` may not decide the item now, or "" when they may."""
        try:
            self._stage_for(user, arbiter)
        except (NotYours, AlreadyDecided) as refusal:
            return str(refusal)
        return ""

    @staticmethod
    def _agree(first: "Decision | None", second: "Decision") -> bool:
        return first is not None and (first.is_issue, first.value) == (second.is_issue, second.value)

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
        if not reason.strip():
            raise ValueError("Superseding a decision needs a reason.")
        with transaction.atomic():
            item = ReviewItem.objects.select_for_update().get(pk=self.pk)
            standing = item.current_decision()
            if standing is None or standing.pk != previous.pk:
                raise NotDecided(standing)
            decision = item._record(admin, choice, value, reason, seconds_spent, now or timezone.now(), standing)
            item.finalise_runs()
        return decision

    def finalise_runs(self) -> None:
        """Fold the standing decision into every run the item is linked to (each
        run waits for its other items)."""
        from .finalise import finalise_run

        for run in self.runs.order_by("pk"):
            finalise_run(run)

    def _record(self, user, choice, value, note, seconds_spent, now, supersedes=None, stage=None) -> "Decision":
        """Write a decision with what it settles the finding to."""
        is_issue, settled = self.outcome(choice, value)
        return Decision.objects.create(
            stage=stage or (supersedes.stage if supersedes else Decision.Stage.FIRST),
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
        """The decision that stands: the latest one no other decision supersedes (an
        admin's over the two reviewers', the second's over the first). None while the
        item waits for a second reviewer or an admin: a first decision alone settles nothing."""
        if self.status != self.Status.RESOLVED:
            return None
        return self.decisions.filter(superseded_by__isnull=True).select_related("decided_by").order_by("-id").first()

    def history(self, now: datetime | None = None, viewer=None, admin: bool = True) -> list[Event]:
        """Every claim, release, reassignment, expiry and decision, in order. While the
        item waits for a second reviewer, `viewer` (unless an admin) sees only their own
        decision: the second reviewer sees the first decision only after deciding."""
        now = now or timezone.now()
        hide_others = not admin and self.status != self.Status.RESOLVED and not self.escalated
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
            if hide_others and decision.decided_by_id != getattr(viewer, "pk", None):
                events.append(Event(decision.created_at, "a reviewer", "gave the first of two decisions"))
                continue
            what = "superseded the decision with" if decision.supersedes_id else "decided"
            events.append(Event(decision.created_at, decision.decided_by.get_username(), what, decision))
        return sorted(events, key=lambda event: event.at)


class ReviewLink(models.Model):
    """A run that raised the item's finding, and the keys its findings have in that run's result."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="links")
    run = models.ForeignKey("orchestrator.Run", on_delete=models.CASCADE, related_name="review_links")
    finding_keys = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["item", "run"], name="one_link_per_item_run")]

    def __str__(self) -> str:
        return f"item {self.item_id} ← run {self.run_id}"


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
        # What a reviewer is offered (ReviewItem.choices): on a disagreement or a
        # partial result, the first three; on an audit sample, the last two.
        STANDS = "stands", "The finding stands"
        CUSTOM = "custom", "Edit it"
        NOT_ISSUE = "not_issue", "Not an issue"
        AGENTS_RIGHT = "agents_right", "Agents right"
        AGENTS_WRONG = "agents_wrong", "Agents wrong"
        # Earlier choices, kept so the decisions recorded with them still read.
        ACCEPT_A = "accept_a", "Accept A"
        ACCEPT_B = "accept_b", "Accept B"
        CONFIRM = "confirm", "Confirm the finding"

    class Stage(models.TextChoices):
        FIRST = "first", "First decision"
        SECOND = "second", "Second reviewer"
        ARBITER = "arbiter", "Admin, after two reviewers disagreed"

    # PROTECT: deleting an item (or its run) must not take the audit trail with it.
    item = models.ForeignKey(ReviewItem, on_delete=models.PROTECT, related_name="decisions")
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.FIRST)
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
            # Exactly one decision per item and stage (first, second reviewer, admin),
            # whatever the concurrency.
            models.UniqueConstraint(
                fields=["item", "stage"], condition=models.Q(supersedes__isnull=True), name="one_decision_per_stage"
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


class LoadEntry(models.Model):
    """What one document's finished runs in a pipeline bring to that pipeline's review
    load (review.load), each thing once, dated by the newest of those runs that brings
    it: the document itself; each disputed finding as routing reads it (its run's
    document, type, severity, the judge's confidence), nested runs' included; each
    review item linked to the runs, with what the agreement figures read of it.

    The load is measured over a pipeline's latest RECENT_RUNS finished runs: a thing is
    among them when its date is at or after the oldest of those runs. So the dashboard
    reads a few thousand entries instead of the findings, links, items and decisions
    of 2,000 runs per pipeline (a second for 15 pipelines: bench.runpages).

    Worked out by review.load.fold() from the runs, links, items and decisions for the
    (pipeline, document) pairs LoadChange queues, entries being neither sums nor
    differences; readers work the queued pairs out themselves, so the figures are
    exact whether the reaper has folded them yet or not."""

    class Kind(models.TextChoices):
        DOCUMENT = "document"
        DISPUTED = "disputed"
        ITEM = "item"

    pipeline = models.ForeignKey("orchestrator.Pipeline", on_delete=models.CASCADE, related_name="+", db_index=False)
    # The document whose runs (and the runs they started) these entries come from.
    document = models.ForeignKey("documents.Document", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The newest finished run of (pipeline, document) that brings the thing: its place in
    # the pipeline's runs, newest first (created_at, then id).
    latest_at = models.DateTimeField()
    latest_run = models.BigIntegerField()
    # The document a disputed finding's run or an item is on.
    about_document = models.BigIntegerField(null=True)
    # A disputed finding as routing reads it, each value as the result has it.
    type = models.JSONField(null=True)
    severity = models.JSONField(null=True)
    confidence = models.JSONField(null=True)
    # An item: resolved with a standing decision; the judge's is_issue; the decision's.
    item_id = models.BigIntegerField(null=True)
    finding_type = models.CharField(max_length=50, null=True)
    decided = models.BooleanField(null=True)
    judge_is_issue = models.JSONField(null=True)
    decision_is_issue = models.BooleanField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["pipeline", "latest_at", "latest_run"], name="load_entry_latest"),
            models.Index(fields=["pipeline", "document"], name="load_entry_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_id}/{self.document_id} {self.kind} at run {self.latest_run}"


class LoadChange(models.Model):
    """Something a pipeline's review-load entries for a document are made of changed (a
    run of theirs, or one they started; a link, item or decision of those runs):
    appended by PostgreSQL triggers (migration review 0008), in the writer's
    transaction and without locking any shared row; emptied by review.load.fold()."""

    pipeline = models.ForeignKey("orchestrator.Pipeline", on_delete=models.CASCADE, related_name="+", db_index=False)
    document = models.ForeignKey("documents.Document", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        indexes = [models.Index(fields=["pipeline", "document"], name="load_change_pair")]

    def __str__(self) -> str:
        return f"{self.pipeline_id}/{self.document_id}"


# Signals for whoever must learn of review work (notify: webhooks, e-mail). Sent inside
# the transaction that opens or decides; receivers defer with transaction.on_commit.
review_opened = Signal()  # run=Run, items=[ReviewItem] newly opened
review_decided = Signal()  # item=ReviewItem, decision=Decision
