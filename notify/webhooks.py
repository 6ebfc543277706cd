"""Signed webhook deliveries. Each (event, endpoint) is a Delivery row and an RQ
job on the `webhooks` queue, retried with backoff for about a day.

Signature: header `Quorum-Signature: t=<unix seconds>,v1=<hex>` where hex is
HMAC-SHA256(endpoint secret, f"{t}.{raw body}"). The timestamp is that of the
attempt, so a receiver can refuse old replays (README: "Webhooks")."""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import django_rq
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from rq import Retry, get_current_job

from .models import Delivery, WebhookEndpoint

log = logging.getLogger(__name__)

QUEUE = "webhooks"
# Seconds before each retry: 10 s, 1 min, 5 min, 30 min, 1 h, 3 h, 6 h, 12 h —
# about 22.6 hours in all. Non-zero intervals need an RQ scheduler: worker pools
# run one; a single `rqworker` needs --with-scheduler.
RETRY_INTERVALS = [10, 60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600]
TIMEOUT_S = 10
USER_AGENT = "Quorum-Webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def send_event(event: str, data: dict | Callable[[], dict]) -> list[Delivery]:
    """Record and enqueue a delivery of `event` to every endpoint that wants it.
    `data` may be a function: called only when some endpoint wants the event (most
    runs finish with nobody listening, and building a payload reads the database).
    Never raises: a webhook must not fail the run or decision it reports."""
    deliveries = []
    try:
        endpoints = [endpoint for endpoint in WebhookEndpoint.objects.filter(is_active=True) if endpoint.wants(event)]
        if endpoints and callable(data):
            data = data()
        for endpoint in endpoints:
            delivery = Delivery.objects.create(
                endpoint=endpoint, event=event, payload={"event": event, "created_at": timezone.now().isoformat(),
                                                         "data": data},
            )  # fmt: skip
            delivery.payload["id"] = str(delivery.event_id)
            delivery.save(update_fields=["payload"])
            enqueue(delivery)
            deliveries.append(delivery)
    except Exception:
        log.exception("webhook %s could not be recorded", event)
    return deliveries


def enqueue(delivery: Delivery) -> bool:
    """Put a delivery on the webhooks queue; a Redis failure is logged on the row, not raised."""
    intervals = getattr(settings, "QUORUM_WEBHOOK_RETRY_INTERVALS", RETRY_INTERVALS)
    try:
        django_rq.get_queue(QUEUE).enqueue(
            deliver_job,
            delivery.pk,
            retry=Retry(max=len(intervals), interval=intervals),
            job_timeout=TIMEOUT_S * 3,
            result_ttl=3600,
            failure_ttl=7 * 86400,
        )
        return True
    except Exception as error:
        log.exception("webhook delivery %s could not be enqueued", delivery.pk)
        Delivery.objects.filter(pk=delivery.pk).update(error=f"could not be queued: {error!r}")
        return False


def send_again(delivery: Delivery) -> bool:
    """The admin's "send again": the same event (same id) as a fresh delivery cycle."""
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.PENDING, error="")
    return enqueue(delivery)


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx; RQ retries the job."""


def deliver_job(delivery_id: int) -> int:
    """RQ job: POST the delivery once. Raises DeliveryFailed on a non-2xx answer or
    a network error, so RQ's Retry schedules the next attempt."""
    delivery = Delivery.objects.select_related("endpoint").get(pk=delivery_id)
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    if not delivery.endpoint.url.startswith(("http://", "https://")):
        raise DeliveryFailed(f"not an http(s) URL: {delivery.endpoint.url!r}")
    request = urllib.request.Request(  # noqa: S310 - an admin's http(s) URL, checked above
        delivery.endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Quorum-Event": delivery.event,
            "Quorum-Delivery": str(delivery.event_id),
            "Quorum-Signature": sign(delivery.endpoint.secret, timestamp, body),
        },
    )
    started = time.monotonic()
    status, text, error = None, "", ""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            status, text = response.status, response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as failed:
        status, text = failed.code, failed.read(2000).decode(errors="replace")
    except (OSError, ValueError) as failed:
        error = f"{type(failed).__name__}: {failed}"
    elapsed_ms = int((time.monotonic() - started) * 1000)
    ok = status is not None and 200 <= status < 300
    job = get_current_job()
    retries_left = job.retries_left if job is not None and job.retries_left is not None else 0
    if ok:
        outcome = Delivery.Status.SUCCEEDED
    else:
        outcome = Delivery.Status.RETRYING if retries_left > 0 else Delivery.Status.FAILED
        error = error or f"HTTP {status}"
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=outcome,
        attempts=F("attempts") + 1,
        response_status=status,
        response_ms=elapsed_ms,
        response_body=text,
        error="" if ok else error,
        last_attempt_at=now,
        delivered_at=now if ok else None,
    )
    if not ok:
        raise DeliveryFailed(f"delivery {delivery.pk} to {delivery.endpoint.url}: {error}")
    return status
