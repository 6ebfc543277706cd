from datetime import timedelta

import django_tables2 as tables
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from .models import ReviewItem

# Badge colours from quorum.css: a disagreement wants attention, an audit
# sample is an agreed finding being checked, the rest are failures.
REASON_BADGES = {
    ReviewItem.Reason.DISAGREEMENT: "disputed",
    ReviewItem.Reason.AUDIT_SAMPLE: "agreed",
    ReviewItem.Reason.PARTIAL_RESULT: "failed",
    ReviewItem.Reason.VALIDATION_FAILURE: "failed",
}
RECOMMENDATIONS = {"accept_a": "Accept A", "accept_b": "Accept B", "not_issue": "Not an issue"}


def overdue_after() -> timedelta:
    return timedelta(hours=getattr(settings, "QUORUM_REVIEW_OVERDUE_HOURS", 24))


class InboxTable(tables.Table):
    title = tables.Column(linkify=True)
    reason = tables.Column()
    pipeline = tables.Column(accessor="run__pipeline__name", verbose_name="Pipeline")
    document = tables.Column(
        accessor="run__document__original_name",
        verbose_name="Document",
        linkify=lambda record: record.run.document.get_absolute_url(),
    )
    age = tables.Column(accessor="created_at", verbose_name="Age")
    claimed_by = tables.Column(
        accessor="claimed_by__username", verbose_name="Claimed by", order_by=("claimed_by__username",), empty_values=()
    )
    judge = tables.Column(verbose_name="Judge", order_by=("judge__confidence",), empty_values=())

    class Meta:
        model = ReviewItem
        fields = ()
        sequence = ("title", "reason", "pipeline", "document", "age", "claimed_by", "judge")
        order_by = ("age",)
        attrs = {"class": "inbox"}
        empty_text = "Nothing waiting for review."

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.now = timezone.now()

    def render_reason(self, value, record: ReviewItem):
        return format_html('<span class="badge {}">{}</span>', REASON_BADGES.get(record.reason, ""), value)

    def render_age(self, value):
        age = timesince(value, self.now)
        if self.now - value > overdue_after():
            return format_html('{} <span class="badge failed">overdue</span>', age)
        return age

    def render_claimed_by(self, record: ReviewItem):
        if not record.claim_is_live(self.now):
            return format_html('<span class="muted">{}</span>', "expired" if record.claimed_by_id else "—")
        name = record.claimed_by.get_username()
        until = timezone.localtime(record.claim_expires_at).strftime("%H:%M")
        who = "you" if self.user is not None and record.claimed_by_id == self.user.pk else name
        return format_html('{} <span class="muted small">until {}</span>', who, until)

    def render_judge(self, record: ReviewItem):
        judge = record.judge or {}
        if not judge.get("recommendation"):
            return format_html('<span class="muted">{}</span>', "none (advocates agreed)")
        confidence = judge.get("confidence")
        label = RECOMMENDATIONS.get(judge["recommendation"], judge["recommendation"])
        if confidence is None:
            return label
        return format_html('{} <span class="muted">{}</span>', label, f"{float(confidence):.0%}")
