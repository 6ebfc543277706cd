from django import forms
from django.db.models import QuerySet

from .models import Pipeline, Run

NOT_REVIEWED = "not_reviewed"


class RunFilterForm(forms.Form):
    """The runs list's filters; the CSV export reads the same ones."""

    # As the list shows them: a finished run that could not review its document reads
    # "Not reviewed", so it is found under that and not under Done.
    status = forms.ChoiceField(
        choices=[("", "Any status"), *Run.Status.choices, (NOT_REVIEWED, "Not reviewed")], required=False
    )
    pipeline = forms.ModelChoiceField(
        Pipeline.objects.all(), required=False, empty_label="Any pipeline", to_field_name="slug"
    )
    q = forms.CharField(required=False, label="Document", max_length=200)

    def filter(self, runs: QuerySet[Run]) -> QuerySet[Run]:
        if not self.is_valid():
            return runs.none()
        data = self.cleaned_data
        if data["status"] == NOT_REVIEWED:
            runs = runs.filter(status__in=Run.FINISHED_OK).exclude(not_reviewed="")
        elif data["status"] in Run.FINISHED_OK:
            runs = runs.filter(status=data["status"], not_reviewed="")
        elif data["status"]:
            runs = runs.filter(status=data["status"])
        if data["pipeline"]:
            runs = runs.filter(pipeline=data["pipeline"])
        if data["q"]:
            runs = runs.filter(document__original_name__icontains=data["q"])
        return runs


class StartRunForm(forms.Form):
    pipeline = forms.ModelChoiceField(Pipeline.objects.filter(is_active=True), to_field_name="slug")


class CompareRunsForm(forms.Form):
    a = forms.IntegerField(min_value=1, label="Run")
    b = forms.IntegerField(min_value=1, label="Compare with run")

    # A mistyped number comes back to the form with what is wrong, not to a bare 404
    # that leaves the run page and the number behind.
    def clean_a(self) -> int:
        return _existing_run(self.cleaned_data["a"])

    def clean_b(self) -> int:
        return _existing_run(self.cleaned_data["b"])


def _existing_run(run_id: int) -> int:
    if not Run.objects.filter(pk=run_id).exists():
        raise forms.ValidationError(f"There is no run {run_id}.")
    return run_id
