"""The forms of the insights pages: what to estimate, and which pipelines to evaluate on which set."""

import csv
import json

from django import forms

from documents.models import Document
from orchestrator.models import Pipeline

from .estimate import DEFAULT_VOLUME, Size, size_from_pages, size_from_tokens, size_of_document, typical_size
from .models import LabelledSet


class EstimateForm(forms.Form):
    """A document, or a size in pages or tokens (else a typical document), and a
    monthly volume."""

    document = forms.ModelChoiceField(
        Document.objects.all(), required=False, empty_label="A typical document (from your uploads)"
    )
    pages = forms.IntegerField(required=False, min_value=1, max_value=10_000)
    tokens = forms.IntegerField(required=False, min_value=1, max_value=10_000_000, label="or tokens")
    volume = forms.IntegerField(
        required=False, min_value=1, max_value=100_000_000, initial=DEFAULT_VOLUME, label="Documents a month"
    )
    # Set by the upload page: estimate only the pipeline about to run. Absent: all active ones.
    pipeline = forms.ModelChoiceField(Pipeline.objects.filter(is_active=True), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The menu lists recent documents only (a deployment may hold thousands);
        # any document id still validates, and a chosen older one is kept listed.
        field = self.fields["document"]
        shown = Document.objects.only("pk", "original_name")
        chosen = str(self.data.get("document", ""))
        recent = list(shown[:100])
        if chosen.isdigit() and all(document.pk != int(chosen) for document in recent):
            recent += list(shown.filter(pk=int(chosen)))
        field.widget.choices = [("", field.empty_label)] + [(d.pk, d.original_name) for d in recent]

    def chosen_size(self) -> Size:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("document"):
            return size_of_document(data["document"])
        if data.get("tokens"):
            return size_from_tokens(data["tokens"])
        if data.get("pages"):
            return size_from_pages(data["pages"])
        return typical_size()

    def chosen_volume(self) -> int:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return data.get("volume") or DEFAULT_VOLUME

    def chosen_pipelines(self):
        """The active pipelines to estimate; none when the upload page says no run will start."""
        active = Pipeline.objects.filter(is_active=True).select_related("rubric__active")
        if "pipeline" not in self.data:
            return active
        chosen = self.cleaned_data.get("pipeline") if self.is_valid() else None
        return active.filter(pk=chosen.pk) if chosen else active.none()


class EvaluateForm(forms.Form):
    labelled_set = forms.ModelChoiceField(LabelledSet.objects.all(), to_field_name="slug", label="Labelled set")
    pipelines = forms.ModelMultipleChoiceField(
        Pipeline.objects.filter(is_active=True),
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
        help_text="Each runs over every document of the set; the report compares them side by side.",
    )


class LabelsForm(forms.Form):
    """A labelled set from a CSV or JSON file of {document_id, expected} rows: the
    importlabels command's format, minus server paths (a browser names documents
    already uploaded)."""

    name = forms.CharField(max_length=200, label="Set name")
    file = forms.FileField(label="CSV or JSON file", help_text="Rows of document_id and expected (JSON).")

    MAX_BYTES = 5 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is over 5 MB; use manage.py importlabels for large sets.")
        try:
            text = upload.read().decode("utf-8-sig")
            rows = (
                json.loads(text) if upload.name.lower().endswith(".json") else list(csv.DictReader(text.splitlines()))
            )
        except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
            raise forms.ValidationError(f"Not a readable CSV or JSON file: {error}") from None
        if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
            raise forms.ValidationError("The file holds no rows.")
        if any(row.get("path") for row in rows):
            raise forms.ValidationError("Rows here name documents by document_id; upload the files first.")
        missing = [str(i + 1) for i, row in enumerate(rows) if not row.get("document_id") or "expected" not in row]
        if missing:
            raise forms.ValidationError(f"Rows {', '.join(missing[:10])} lack a document_id or an expected answer.")
        return rows
