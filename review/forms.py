import time

from django import forms
from django.core import signing

from orchestrator.models import Pipeline

from .models import Decision, ReviewItem

# The decision form carries, signed, when the reviewer opened the item, so the
# time taken is measured from the page they read and cannot be edited.
OPENED_SALT = "review.item-opened"
OPENED_MAX_AGE_S = 24 * 60 * 60


def opened_token(item: ReviewItem) -> str:
    return signing.dumps({"item": item.pk, "at": int(time.time())}, salt=OPENED_SALT)


def seconds_since_opened(token: str, item: ReviewItem) -> int | None:
    """Seconds since the item page was opened, or None for a missing, forged,
    stale or other item's token."""
    try:
        opened = signing.loads(token, salt=OPENED_SALT, max_age=OPENED_MAX_AGE_S)
    except signing.BadSignature:
        return None
    if not isinstance(opened, dict) or opened.get("item") != item.pk:
        return None
    return max(0, int(time.time()) - int(opened.get("at", 0)))


class InboxFilterForm(forms.Form):
    CLAIMED_CHOICES = [("", "Anyone or no one"), ("me", "Claimed by me"), ("unclaimed", "Unclaimed")]

    reason = forms.ChoiceField(choices=[("", "Any reason"), *ReviewItem.Reason.choices], required=False)
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.all(), to_field_name="slug", required=False, empty_label="Any pipeline"
    )
    claimed = forms.ChoiceField(choices=CLAIMED_CHOICES, required=False, label="Claimed")


class DecisionForm(forms.Form):
    CHOICES = [
        (Decision.Choice.ACCEPT_A, "Accept A"),
        (Decision.Choice.ACCEPT_B, "Accept B"),
        (Decision.Choice.NOT_ISSUE, "Not an issue"),
    ]

    choice = forms.ChoiceField(choices=CHOICES, widget=forms.RadioSelect)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    opened = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, item: ReviewItem, **kwargs):
        super().__init__(*args, **kwargs)
        self.item = item
        if not self.is_bound:
            self.initial.setdefault("opened", opened_token(item))

    def clean(self) -> dict:
        cleaned = super().clean()
        choice = cleaned.get("choice")
        if choice and self.item.overturns(choice) and not cleaned.get("note", "").strip():
            against = "the judge's recommendation" if self.item.recommendation else "what both advocates agreed"
            self.add_error("note", f"Say why in a note: this decision goes against {against}.")
        return cleaned

    def seconds_spent(self) -> int | None:
        return seconds_since_opened(self.cleaned_data.get("opened", ""), self.item)
