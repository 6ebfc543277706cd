"""Admin: items and decisions to look at, never to edit. Deciding, reassigning and
superseding happen on the item page, where the rules and the audit trail apply."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied

from .models import Claim, Decision, ReviewItem


class ClaimInline(admin.TabularInline):
    model = Claim
    fk_name = "item"
    extra = 0
    can_delete = False
    fields = readonly_fields = ("user", "assigned_by", "claimed_at", "expires_at", "end", "ended_by", "ended_at")

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
    # looks, or frees items reviewers claimed and walked away from.
    fields = readonly_fields = (
        "run", "reason", "finding_key", "finding_type", "title", "positions", "judge", "machine_is_issue",
        "status", "claimed_by", "claim_expires_at", "created_at", "resolved_at",
    )  # fmt: skip
    inlines = [ClaimInline, DecisionInline]
    actions = ["release_claims"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting an item would take its decisions, the audit trail, with it.
        return False

    @admin.action(description="Release the selected items' claims", permissions=["change"])
    def release_claims(self, request, queryset) -> None:
        # The admin hides the action without the permission; a hand-made POST is refused here too.
        if not self.has_change_permission(request):
            raise PermissionDenied("Releasing claims needs the permission to change review items.")
        released = 0
        for item in queryset.filter(status=ReviewItem.Status.CLAIMED).select_related("claimed_by"):
            released += item.release(item.claimed_by, by=request.user)
        self.message_user(request, f"Released {released} item(s).")


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    """Read-only: decisions are the audit trail and are append-only."""

    list_display = ("item", "choice", "decided_by", "overturned", "seconds_spent", "created_at")
    list_filter = ("choice", "overturned", "item__reason", "item__run__pipeline")
    search_fields = ("item__title", "note", "decided_by__username")
    list_select_related = ("item", "decided_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
