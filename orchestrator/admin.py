"""Admin: the knowledge base the enrich stage reads, pipelines and their slots
(swap a stage or a specialist by giving its slot another agent or pipeline), agents,
and prompts and rubrics, whose text is saved as immutable versions that can be
diffed and rolled back to."""

from __future__ import annotations

import difflib
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from review.policy import DEFAULT_POLICY, policy_problems

from .configuration.validation import criteria_problems, pipeline_problems
from .models import (
    Agent,
    KnowledgeEntry,
    ModelPrice,
    Pipeline,
    PipelineSlot,
    Prompt,
    PromptVersion,
    ProviderLimit,
    Rubric,
    RubricVersion,
    Run,
)

RUNS_PER_VERSION = 50


@admin.register(KnowledgeEntry)
class KnowledgeEntryAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "country", "risk", "updated_at")
    list_filter = ("kind", "risk", "country")
    search_fields = ("name", "aliases", "note")


class PipelineSlotFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """Refuse a pipeline that could not run, judged on the slots as submitted."""
        super().clean()
        if any(self.errors):
            return
        slots = [
            form.instance
            for form in self.forms
            if form.has_changed() or form.instance.pk
            if not (self.can_delete and self._should_delete_form(form))
        ]
        problems = pipeline_problems(self.instance, slots)
        if problems:
            raise ValidationError(problems)


class PipelineSlotInline(admin.TabularInline):
    model = PipelineSlot
    formset = PipelineSlotFormSet
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


# --- Prompts and rubrics: immutable versions --------------------------------


def version_text(version: PromptVersion | RubricVersion) -> str:
    """What a diff compares: the prompt's two texts, or the criteria as indented JSON."""
    if isinstance(version, PromptVersion):
        return f"# system\n{version.system}\n\n# template\n{version.template}\n"
    text = json.dumps(version.criteria, indent=2, ensure_ascii=False) + "\n"
    if version.policy:
        text += "# routing policy\n" + json.dumps(version.policy, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return text


class PromptForm(forms.ModelForm):
    # Not model fields: they seed the next version, which is created only when they change.
    system = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 100}), strip=False)
    template = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "cols": 100}), strip=False)
    note = forms.CharField(required=False, max_length=300, help_text="Why this change: shown in the version list.")

    class Meta:
        model = Prompt
        fields = ("slug", "name", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.active:
            self.fields["system"].initial = self.instance.active.system
            self.fields["template"].initial = self.instance.active.template

    # Browsers send textareas with CRLF line ends; stored text has LF, and an unchanged
    # prompt must not become a new version just by being saved from a browser.
    def clean_system(self) -> str:
        return self.cleaned_data["system"].replace("\r\n", "\n")

    def clean_template(self) -> str:
        return self.cleaned_data["template"].replace("\r\n", "\n")

    def text_changed(self) -> bool:
        active = self.instance.active
        data = self.cleaned_data
        return active is None or (data["system"], data["template"]) != (active.system, active.template)


class IndentedJSONField(forms.JSONField):
    """JSON shown indented, a key a line: the seeded criteria as one 2,000-character
    line leave an admin adding a criterion to hunt for brackets in a textarea."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what the admin typed, kept as typed to be corrected
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class RubricForm(forms.ModelForm):
    criteria = IndentedJSONField(
        widget=forms.Textarea(attrs={"rows": 20, "cols": 100}),
        help_text='A JSON list of {"id", "title", "weight", "applies_to": [finding types], "guidance"}.',
    )
    policy = IndentedJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 100}),
        help_text="The routing policy: which findings go to a human (empty: the default). Keys: "
        + ", ".join(DEFAULT_POLICY),
    )
    note = forms.CharField(required=False, max_length=300, help_text="Why this change: shown in the version list.")

    class Meta:
        model = Rubric
        fields = ("slug", "name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.active:
            self.fields["criteria"].initial = self.instance.active.criteria
            self.fields["policy"].initial = self.instance.active.policy

    def clean_criteria(self) -> list:
        criteria = self.cleaned_data["criteria"]
        problems = criteria_problems(criteria)
        if problems:
            raise ValidationError(problems)
        return criteria

    def clean_policy(self) -> dict:
        policy = self.cleaned_data.get("policy") or {}
        problems = policy_problems(policy)
        if problems:
            raise ValidationError(problems)
        return policy

    def text_changed(self) -> bool:
        active = self.instance.active
        data = self.cleaned_data
        return active is None or (data["criteria"], data["policy"]) != (active.criteria, active.policy)


class VersionedAdmin(admin.ModelAdmin):
    """Shared by prompts and rubrics: the change page edits the active version's text
    and lists every version with a diff link and a "Make active" button."""

    change_form_template = "admin/orchestrator/versioned_change_form.html"
    version_model: type[PromptVersion] | type[RubricVersion]
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("slug", "name")
    list_display = ("name", "slug", "active")

    def save_model(self, request: HttpRequest, obj: Prompt | Rubric, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if form.text_changed():
            version = obj.revise(form.cleaned_data, form.cleaned_data["note"], request.user)
            messages.info(request, f"Saved as version {version.number}, now active. Earlier versions are kept.")

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<int:object_id>/diff/", self.admin_site.admin_view(self.diff_view), name=f"{name}_diff"),
            path(
                "<int:object_id>/activate/<int:version_id>/",
                self.admin_site.admin_view(self.activate_view),
                name=f"{name}_activate",
            ),
            *super().get_urls(),
        ]

    def _get_versioned(self, request: HttpRequest, object_id: int, write: bool) -> Prompt | Rubric:
        obj = get_object_or_404(self.model, pk=object_id)
        allowed = self.has_change_permission(request, obj) if write else self.has_view_permission(request, obj)
        if not allowed:
            raise PermissionDenied
        return obj

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        obj = self.get_object(request, object_id)
        versions = list(obj.versions.select_related("created_by").order_by("-number")) if obj else []
        context = {
            "versions": versions,
            "active_id": obj.active_id if obj else None,
            "version_opts": self.version_model._meta,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def diff_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Unified diff of two versions (?a=<number>&b=<number>); by default the active
        one against the one before it. Lines are escaped by the template."""
        obj = self._get_versioned(request, object_id, write=False)
        versions = {version.number: version for version in obj.versions.all()}
        try:
            new = versions[int(request.GET.get("b") or (obj.active.number if obj.active else max(versions)))]
            old = versions[
                int(request.GET.get("a") or max([n for n in versions if n < new.number], default=new.number))
            ]
        except (KeyError, ValueError):
            raise Http404("No such version.") from None
        lines = difflib.unified_diff(
            version_text(old).splitlines(),
            version_text(new).splitlines(),
            f"v{old.number}",
            f"v{new.number}",
            lineterm="",
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": f"{obj}: v{old.number} → v{new.number}",
            "old": old,
            "new": new,
            "numbers": sorted(versions),
            "lines": [(line[:1] if line[:1] in "+-@" else " ", line) for line in lines],
        }
        return TemplateResponse(request, "admin/orchestrator/version_diff.html", context)

    @method_decorator(require_POST)
    def activate_view(self, request: HttpRequest, object_id: int, version_id: int) -> HttpResponse:
        """Roll back (or forward) in one click: versions never change, so this only
        moves the active pointer. admin_view has already checked staff and CSRF."""
        obj = self._get_versioned(request, object_id, write=True)
        version = get_object_or_404(obj.versions, pk=version_id)
        obj.activate(version)
        messages.success(request, f"Version {version.number} of {obj} is active.")
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        )


@admin.register(Prompt)
class PromptAdmin(VersionedAdmin):
    form = PromptForm
    version_model = PromptVersion
    fieldsets = (
        (None, {"fields": ("slug", "name", "description")}),
        ("Active version", {"fields": ("system", "template", "note")}),
    )


@admin.register(Rubric)
class RubricAdmin(VersionedAdmin):
    form = RubricForm
    version_model = RubricVersion
    fieldsets = ((None, {"fields": ("slug", "name")}), ("Active version", {"fields": ("criteria", "policy", "note")}))


class VersionAdmin(admin.ModelAdmin):
    """Versions are read-only: steps point at them, so their text must stay what
    those steps were given. A new version is made by editing the prompt or rubric."""

    list_display = ("__str__", "note", "created_by", "created_at")
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="Runs that used it (latest 50)")
    def runs(self, version: PromptVersion | RubricVersion) -> str:
        field = "steps__prompt_version" if isinstance(version, PromptVersion) else "steps__rubric_version"
        runs = Run.objects.filter(**{field: version}).select_related("pipeline").distinct()[:RUNS_PER_VERSION]
        if not runs:
            return "None yet."
        items = format_html_join(
            "",
            '<li><a href="{}">Run {}</a>: {}, {} ({})</li>',
            (
                (
                    reverse("orchestrator:run", args=[run.pk]),
                    run.pk,
                    run.pipeline,
                    run.get_status_display(),
                    run.created_at.date(),
                )
                for run in runs
            ),
        )
        return format_html("<ul>{}</ul>", items)


@admin.register(PromptVersion)
class PromptVersionAdmin(VersionAdmin):
    list_filter = ("prompt",)
    fields = readonly_fields = ("prompt", "number", "system", "template", "note", "created_by", "created_at", "runs")


@admin.register(RubricVersion)
class RubricVersionAdmin(VersionAdmin):
    list_filter = ("rubric",)
    fields = readonly_fields = ("rubric", "number", "criteria", "policy", "note", "created_by", "created_at", "runs")


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """Prices are edited here; steps keep the rates they were charged at, so an
    edit changes future costs only."""

    list_display = [
        "model", "input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_write_1h_per_mtok",
        "cache_read_per_mtok", "batch_discount", "updated_at",
    ]  # fmt: skip
    search_fields = ["model"]


@admin.register(ProviderLimit)
class ProviderLimitAdmin(admin.ModelAdmin):
    """Rate limits per provider and model, shared by every worker through Redis."""

    list_display = ["provider", "model", "max_concurrent", "requests_per_minute", "tokens_per_minute"]
