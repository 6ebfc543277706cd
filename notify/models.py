"""Telling the outside world: webhook endpoints an admin registers, each delivery
with its attempts, and how each reviewer wants to hear of review work."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Event(models.TextChoices):
    RUN_FINISHED = "run.finished", "run.finished: a run is done, needs review, or stopped at its budget"
    RUN_FAILED = "run.failed", "run.failed"
    REVIEW_OPENED = "review.opened", "review.opened: an item entered the inbox"
    REVIEW_DECIDED = "review.decided", "review.decided"
    BUDGET_REACHED = "budget.reached", "budget.reached: a run stopped at its cap, or was held for the monthly one"


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # Shared with the receiver, which checks each request's signature with it.
    secret = models.CharField(max_length=100, default=_new_secret)
    events = models.JSONField(default=list, help_text="The events sent to this endpoint.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["url"]

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event: str) -> bool:
        return self.is_active and event in self.events


class Delivery(models.Model):
    """One event sent to one endpoint; retried by RQ (see notify.webhooks.RETRY_INTERVALS)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Failed, will retry"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed, gave up"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=Event.choices)
    # The receiver's deduplication key: a retry or a "send again" repeats it.
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class NotificationPreference(models.Model):
    class Digest(models.TextChoices):
        IMMEDIATE = "immediate", "Immediately, as items arrive"
        DAILY = "daily", "A daily digest"
        NONE = "none", "None"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=20, choices=Digest.choices, default=Digest.DAILY)
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.digest}"

    @classmethod
    def for_user(cls, user) -> "NotificationPreference":
        """The user's preference; a reviewer who never chose gets the daily digest."""
        return cls.objects.get_or_create(user=user)[0]
