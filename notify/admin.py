from django.contrib import admin, messages

from . import webhooks
from .forms import WebhookEndpointForm
from .models import Delivery, NotificationPreference, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "description", "events", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: what was sent where, how it went, and "send again"."""

    list_display = ["event", "endpoint", "status", "attempts", "response_status", "response_ms", "created_at",
                    "last_attempt_at"]  # fmt: skip
    list_filter = ["status", "event", "endpoint"]
    search_fields = ["event_id"]
    readonly_fields = [field.name for field in Delivery._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Send again")
    def send_again(self, request, queryset) -> None:
        queued = sum(webhooks.send_again(delivery) for delivery in queryset.select_related("endpoint"))
        self.message_user(request, f"{queued} delivery(ies) queued again.", messages.SUCCESS)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "digest", "last_digest_at"]
    list_filter = ["digest"]
