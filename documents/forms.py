from django import forms

from orchestrator.models import Pipeline

DEFAULT_PIPELINE = "contract-debate"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A list of files; each is judged on its own later, so one empty file
    does not refuse the whole batch."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single_file_clean = super().clean
        if isinstance(data, list | tuple) and data:
            return [single_file_clean(item, initial) for item in data]
        # An empty list is no file at all: let FileField say it is required.
        return [single_file_clean(data or None, initial)]


def _active_pipelines():
    return Pipeline.objects.filter(is_active=True)


class UploadForm(forms.Form):
    files = MultipleFileField(label="Files")
    pipeline = forms.ModelChoiceField(
        queryset=_active_pipelines(),
        required=False,
        empty_label="No run, just upload",
        label="Start a run with",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pipeline"].initial = _active_pipelines().filter(slug=DEFAULT_PIPELINE).first()
