import time
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.core import signing
from django.db.models import Q, QuerySet

from config.roles import ADMIN, REVIEWER
from orchestrator.models import Pipeline

from .inbox_order import SORT_CHOICES, Order
from .models import Decision, ReviewItem, sla

# The decision form carries, signed, when the reviewer opened the item, so the
# time taken is measured from the page they read and cannot be edited.
OPENED_SALT = "review.item-opened"
OPENED_MAX_AGE_S = 24 * 60 * 60
SEVERITIES = [("high", "High"), ("medium", "Medium"), ("low", "Low")]


def opened_token(item: ReviewItem) -> str:
    return signing.dumps({"item": item.pk, "at": int(time.time())}, salt=OPENED_SALT)


def seconds_since_opened(token: str, item: ReviewItem, now: float | None = None) -> int | None:
    """Seconds from the item page's opening to `now` (a Unix time, the clock by
    default), or None for a missing, forged, stale or other item's token."""
    try:
        opened = signing.loads(token, salt=OPENED_SALT, max_age=OPENED_MAX_AGE_S)
    except signing.BadSignature:
        return None
    if not isinstance(opened, dict) or opened.get("item") != item.pk:
        return None
    return max(0, int(time.time() if now is None else now) - int(opened.get("at", 0)))


def _squash(text: str) -> str:
    return " ".join(text.split())


class InboxFilterForm(forms.Form):
    """What the reviewer narrowed the inbox to and how it is sorted. The item
    pages carry the same query string, so j / k and "the next item" follow it."""

    CLAIMED_CHOICES = [
        ("", "Anyone or no one"),
        ("available", "Mine or unclaimed"),
        ("me", "Claimed by me"),
        ("unclaimed", "Unclaimed"),
    ]
    AGE_CHOICES = [("", "Any age"), ("new", "Under an hour"), ("waiting", "Within the SLA"), ("overdue", "Overdue")]

    reason = forms.ChoiceField(choices=[("", "Any reason"), *ReviewItem.Reason.choices], required=False)
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.all(), to_field_name="slug", required=False, empty_label="Any pipeline"
    )
    # Free text rather than a choice: the values are whatever documents carry,
    # and an unknown one simply matches nothing. The view fills the select.
    doc_type = forms.CharField(required=False, max_length=40, label="Document type", widget=forms.Select)
    age = forms.ChoiceField(choices=AGE_CHOICES, required=False)
    claimed = forms.ChoiceField(choices=CLAIMED_CHOICES, required=False, label="Claimed")
    overdue_first = forms.BooleanField(required=False, label="Overdue first")
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hours = sla().total_seconds() / 3600
        self.fields["age"].choices = [*self.AGE_CHOICES[:3], ("overdue", f"Overdue (over {hours:g} h)")]

    def narrow(self, items: QuerySet, user, now: datetime) -> QuerySet:
        """Every filter but the reason, which the counts per reason are taken without."""
        data = self.cleaned_data
        if data["pipeline"]:
            items = items.filter(pipeline=data["pipeline"])
        if data["doc_type"]:
            items = items.filter(run__document__doc_type=data["doc_type"])
        due_before = now - sla()
        if data["age"] == "new":
            items = items.filter(created_at__gt=now - timedelta(hours=1))
        elif data["age"] == "waiting":
            items = items.filter(created_at__gt=due_before)
        elif data["age"] == "overdue":
            items = items.filter(created_at__lte=due_before)
        if data["claimed"] == "available":
            items = items.takeable_by(user, now)
        elif data["claimed"] == "me":
            items = items.claimed_by_user(user, now)
        elif data["claimed"] == "unclaimed":
            items = items.unclaimed(now)
        return items

    def by_reason(self, items: QuerySet) -> QuerySet:
        return items.filter(reason=self.cleaned_data["reason"]) if self.cleaned_data["reason"] else items

    def order(self, now: datetime) -> Order:
        return Order(self.cleaned_data["sort"] or "age", self.cleaned_data["overdue_first"], now)

    def query(self) -> str:
        """The filters and sort as a query string (no page), for links that keep them."""
        if not self.is_valid():
            return ""
        return urlencode([(name, self.data[name]) for name in self.fields if self.data.get(name)])


class DecisionForm(forms.Form):
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    opened = forms.CharField(required=False, widget=forms.HiddenInput)
    # The finding as the reviewer rewrites it, for the "edit" choice.
    title = forms.CharField(required=False, max_length=300)
    severity = forms.ChoiceField(choices=[("", "—"), *SEVERITIES], required=False)
    evidence = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Quote the document exactly, or leave empty.",
    )
    explanation = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)

    def __init__(self, *args, item: ReviewItem, document_text: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.item = item
        self.document_text = document_text
        self.fields["choice"] = forms.ChoiceField(choices=item.choices(), widget=forms.RadioSelect)
        self.order_fields(["choice"])
        if not self.is_bound:
            self.initial.setdefault("opened", opened_token(item))
            # Editing starts from the version the judge preferred (or the only one).
            positions = item.positions or {}
            side = {"accept_a": "a", "accept_b": "b"}.get(item.recommendation or "", "")
            start = positions.get(side) or item.machine_finding() or {}
            for name in ("title", "severity", "evidence", "explanation"):
                self.initial.setdefault(name, start.get(name, ""))

    def clean(self) -> dict:
        cleaned = super().clean()
        choice = cleaned.get("choice")
        if choice == Decision.Choice.CUSTOM:
            self._clean_edit(cleaned)
        if choice and self.item.overturns(choice, self.value()):
            self._require_note(cleaned)
        return cleaned

    def _clean_edit(self, cleaned: dict) -> None:
        if not cleaned.get("title", "").strip():
            self.add_error("title", "An edited finding needs a title.")
        if not cleaned.get("severity"):
            self.add_error("severity", "Choose a severity.")
        evidence = _squash(cleaned.get("evidence", ""))
        # Compared with runs of whitespace squashed: extracted text wraps where a quote does not.
        if evidence and evidence not in _squash(self.document_text):
            self.add_error("evidence", "The evidence must be quoted exactly from the document (or left empty).")

    def _require_note(self, cleaned: dict) -> None:
        if cleaned.get("note", "").strip():
            return
        if cleaned.get("choice") == Decision.Choice.CUSTOM:
            against = "an edited finding replaces what the agents said"
        elif cleaned.get("choice") == Decision.Choice.AGENTS_WRONG:
            against = "this decision says both agents were wrong"
        elif self.item.judge_is_issue() is not None:
            against = "this decision goes against the judge's recommendation"
        else:
            against = "this decision goes against what the pipeline found"
        self.add_error("note", f"Say why in a note: {against}.")

    def value(self) -> dict | None:
        """The finding as edited, for the "edit" choice; None otherwise."""
        data = self.cleaned_data
        if data.get("choice") != Decision.Choice.CUSTOM:
            return None
        return {
            "title": data.get("title", "").strip(),
            "severity": data.get("severity", ""),
            "evidence": data.get("evidence", "").strip(),
            "explanation": data.get("explanation", "").strip(),
        }

    def seconds_spent(self) -> int | None:
        return seconds_since_opened(self.cleaned_data.get("opened", ""), self.item)


class SupersedeForm(DecisionForm):
    """An admin's replacement for the standing decision; the reason is required."""

    supersedes = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].required = True
        self.fields["note"].label = "Reason"
        self.fields["note"].widget.attrs["placeholder"] = "Why the standing decision is replaced"

    def _require_note(self, cleaned: dict) -> None:
        pass  # always required here


def reviewers() -> QuerySet:
    return (
        get_user_model()
        .objects.filter(Q(groups__name__in=[REVIEWER, ADMIN]) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("username")
    )


class AssignForm(forms.Form):
    reviewer = forms.ModelChoiceField(queryset=reviewers(), to_field_name="username", label="Assign to")


class MetricsForm(forms.Form):
    DAYS = [(7, "Last 7 days"), (14, "Last 14 days"), (30, "Last 30 days"), (90, "Last 90 days")]
    DEFAULT_DAYS = 14

    days = forms.TypedChoiceField(
        choices=DAYS, coerce=int, required=False, empty_value=DEFAULT_DAYS, initial=DEFAULT_DAYS, label="Period"
    )
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.all(), to_field_name="slug", required=False, empty_label="Every pipeline"
    )
