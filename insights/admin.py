"""Admin for labelled sets (documents and their expected answers) and, read-only,
the evaluations started from the evaluations page or `manage.py evaluate`."""

from django.contrib import admin

from .models import Evaluation, LabelledDocument, LabelledSet


class LabelledDocumentInline(admin.TabularInline):
    model = LabelledDocument
    extra = 0
    raw_id_fields = ["document"]


@admin.register(LabelledSet)
class LabelledSetAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [LabelledDocumentInline]


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["id", "labelled_set", "pipeline", "status", "created_by", "created_at"]
    list_filter = ["status", "pipeline"]
    readonly_fields = ["labelled_set", "pipeline", "group", "status", "figures", "created_by", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False  # started from the evaluations page or `manage.py evaluate`
