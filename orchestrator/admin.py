"""Admin: the knowledge base the enrich stage reads, pipelines and their slots
(swap a stage or a specialist by giving its slot another agent or pipeline), and agents."""

from django.contrib import admin

from .models import Agent, KnowledgeEntry, Pipeline, PipelineSlot


@admin.register(KnowledgeEntry)
class KnowledgeEntryAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "country", "risk", "updated_at")
    list_filter = ("kind", "risk", "country")
    search_fields = ("name", "aliases", "note")


class PipelineSlotInline(admin.TabularInline):
    model = PipelineSlot
    fk_name = "pipeline"
    extra = 0
    fields = ("name", "position", "agent", "subpipeline")
    autocomplete_fields = ("agent",)


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "pattern", "rebuttal_rounds", "audit_rate", "is_active")
    list_filter = ("pattern", "is_active")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [PipelineSlotInline]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "role", "provider", "model", "profile", "queue")
    list_filter = ("role", "provider", "queue")
    search_fields = ("name", "slug", "model")
    raw_id_fields = ("prompt", "rebuttal_prompt")
