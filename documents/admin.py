from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Documents arrive only through the upload page, which checks and reads
    them; here an admin can inspect them, correct the detected type, or delete."""

    list_display = ["original_name", "kind", "doc_type", "page_count", "size", "uploaded_by", "created_at"]
    list_filter = ["kind", "doc_type", "created_at"]
    search_fields = ["original_name", "sha256"]
    date_hierarchy = "created_at"
    list_select_related = ["uploaded_by"]
    fields = [
        "original_name", "original", "kind", "doc_type", "size", "page_count", "sha256",
        "uploaded_by", "created_at", "text",
    ]  # fmt: skip
    readonly_fields = [
        "original_name", "original", "kind", "size", "page_count", "sha256", "uploaded_by", "created_at", "text",
    ]  # fmt: skip

    def get_queryset(self, request: HttpRequest):
        # The text can run to megabytes; only the change page reads it (one query more).
        return super().get_queryset(request).defer("text")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Original file")
    def original(self, document: Document) -> str:
        # Through the download view, which always sends an attachment; never the storage URL.
        return format_html('<a href="{}">Download</a>', reverse("documents:download", args=[document.pk]))
