from django.contrib import admin
from django.utils import timezone

from .models import Claim, Decision, ReviewItem


class ClaimInline(admin.TabularInline):
    model = Claim
    extra = 0
    can_delete = False
    fields = readonly_fields = ("user", "claimed_at", "expires_at", "released_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DecisionInline(admin.TabularInline):
    model = Decision
    fk_name = "item"
    extra = 0
    can_delete = False
    fields = readonly_fields = ("decided_by", "choice", "note", "seconds_spent", "supersedes", "created_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = ("title", "reason", "status", "run", "claimed_by", "claim_expires_at", "created_at")
    list_filter = ("reason", "status", "run__pipeline")
    search_fields = ("title", "finding_key", "finding_type")
    list_select_related = ("run__pipeline", "run__document", "claimed_by")
    # Items are made by pipelines and settled in the inbox; here an admin only
    # looks, or frees an item a reviewer claimed and walked away from.
    fields = readonly_fields = (
        "run", "reason", "finding_key", "finding_type", "title", "positions", "judge",
        "status", "claimed_by", "claim_expires_at", "created_at", "resolved_at",
    )  # fmt: skip
    inlines = [ClaimInline, DecisionInline]
    actions = ["release_claims"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting an item would take its decisions, the audit trail, with it.
        return False

    @admin.action(description="Release the selected items' claims")
    def release_claims(self, request, queryset) -> None:
        claimed = queryset.filter(status=ReviewItem.Status.CLAIMED)
        Claim.objects.filter(item__in=claimed, released_at__isnull=True).update(released_at=timezone.now())
        released = claimed.update(status=ReviewItem.Status.OPEN, claimed_by=None, claim_expires_at=None)
        self.message_user(request, f"Released {released} item(s).")


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    """Read-only: decisions are the audit trail and are append-only."""

    list_display = ("item", "choice", "decided_by", "seconds_spent", "created_at")
    list_filter = ("choice", "item__reason", "item__run__pipeline")
    search_fields = ("item__title", "note", "decided_by__username")
    list_select_related = ("item", "decided_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
