"""E-mail to reviewers about review work: at once as items arrive (for those who
chose "immediate"), or a daily digest of new and overdue items (`senddigests`,
which the reaper loop may also call: each reviewer gets at most one a day)."""

import logging
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from config.roles import ADMIN, REVIEWER
from review.models import ReviewItem, sla

from .models import NotificationPreference

log = logging.getLogger(__name__)

Digest = NotificationPreference.Digest
LISTED = 20  # items listed per section; the rest are counted
DAILY = timedelta(hours=23)  # a little under a day, so a daily cron's drift never skips one


def reviewers(choice: str) -> QuerySet:
    """Active reviewers with an e-mail address who chose `choice` (daily when they never chose)."""
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(groups__name__in=[REVIEWER, ADMIN]) | Q(is_superuser=True))
        .distinct()
    )
    chose = NotificationPreference.objects.filter(digest=choice).values("user_id")
    if choice == Digest.DAILY:
        never_chose = ~Q(pk__in=NotificationPreference.objects.values("user_id"))
        return users.filter(Q(pk__in=chose) | never_chose)
    return users.filter(pk__in=chose)


def _link(item: ReviewItem) -> str:
    return settings.QUORUM_BASE_URL.rstrip("/") + item.get_absolute_url()


def _lines(items: QuerySet) -> tuple[list[dict], int]:
    total = items.count()
    listed = [
        {"item": item, "url": _link(item), "document": item.run.document.original_name}
        for item in items.select_related("run__document").defer("run__document__text")[:LISTED]
    ]
    return listed, total


def digest_for(since: datetime | None, now: datetime) -> dict | None:
    """The digest's content: items new since `since` (the last day when None) and
    the overdue ones; None when there is nothing to say."""
    pending = ReviewItem.objects.pending().order_by("created_at", "id")
    new, new_total = _lines(pending.filter(created_at__gt=since or now - timedelta(days=1)))
    overdue, overdue_total = _lines(pending.filter(created_at__lte=now - sla()))
    if not new_total and not overdue_total:
        return None
    return {
        "new": new,
        "new_total": new_total,
        "overdue": overdue,
        "overdue_total": overdue_total,
        "sla_hours": int(sla().total_seconds() // 3600),
        "inbox": settings.QUORUM_BASE_URL.rstrip("/") + "/review/",
        "settings": settings.QUORUM_BASE_URL.rstrip("/") + "/settings/",
    }


def send_daily_digests(now: datetime | None = None) -> int:
    """Send each daily reviewer whose last digest is a day old their digest; the
    number sent. Safe to call often: a reviewer gets at most one a day."""
    now = now or timezone.now()
    sent = 0
    for user in reviewers(Digest.DAILY):
        preference = NotificationPreference.for_user(user)
        if preference.last_digest_at and now - preference.last_digest_at < DAILY:
            continue
        content = digest_for(preference.last_digest_at, now)
        if content is not None:
            subject = f"Quorum: {content['new_total']} new, {content['overdue_total']} overdue review items"
            sent += _mail(user, subject, content)
        preference.last_digest_at = now
        preference.save(update_fields=["last_digest_at"])
    return sent


def enqueue_immediate(item_ids: list[int]) -> None:
    """After items are opened: e-mail the reviewers who want to know at once, from a
    job, so a slow mail server never holds up the run that opened them."""
    try:
        if reviewers(Digest.IMMEDIATE).exists():
            django_rq.get_queue("webhooks").enqueue(send_immediate_job, item_ids, job_timeout=120)
    except Exception:
        log.exception("review e-mails for items %s could not be queued", item_ids)


def send_immediate_job(item_ids: list[int]) -> int:
    """RQ job: one e-mail per immediate reviewer listing the items just opened."""
    items = ReviewItem.objects.pending().filter(pk__in=item_ids).order_by("created_at", "id")
    new, new_total = _lines(items)
    if not new_total:
        return 0
    now = timezone.now()
    overdue_total = ReviewItem.objects.pending().filter(created_at__lte=now - sla()).count()
    content = {
        "new": new,
        "new_total": new_total,
        "overdue": [],
        "overdue_total": overdue_total,
        "sla_hours": int(sla().total_seconds() // 3600),
        "inbox": settings.QUORUM_BASE_URL.rstrip("/") + "/review/",
        "settings": settings.QUORUM_BASE_URL.rstrip("/") + "/settings/",
    }
    subject = f"Quorum: {new_total} new review item{'s' if new_total != 1 else ''}: {new[0]['item'].title}"
    return sum(_mail(user, subject, content) for user in reviewers(Digest.IMMEDIATE))


def _mail(user, subject: str, content: dict) -> int:
    text = render_to_string("notify/digest.txt", {**content, "user": user})
    return send_mail(subject, text, None, [user.email], fail_silently=False)
