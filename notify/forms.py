from django import forms

from .models import Event, NotificationPreference, WebhookEndpoint


class NotificationForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = ["digest"]
        labels = {"digest": "E-mail me about new and overdue items"}
        widgets = {"digest": forms.RadioSelect}


class WebhookEndpointForm(forms.ModelForm):
    """Admin's form: the events as checkboxes rather than raw JSON."""

    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "secret", "is_active"]
