from django import forms

from documents.models import Document

from .models import Scope


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “contract system import”.")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[Scope.READ])


class DocumentFilterForm(forms.Form):
    """The documents list's filters, checked as a form checks them (a NUL character,
    which PostgreSQL cannot compare, or an unknown kind is an error, not a 500)."""

    q = forms.CharField(required=False, max_length=255)
    kind = forms.ChoiceField(required=False, choices=Document.Kind.choices)
    doc_type = forms.CharField(required=False, max_length=50)
    uploaded_by = forms.CharField(required=False, max_length=150)

    def filter(self, documents):
        data = self.cleaned_data
        if data["q"]:
            documents = documents.filter(original_name__icontains=data["q"])
        if data["kind"]:
            documents = documents.filter(kind=data["kind"])
        if data["doc_type"]:
            documents = documents.filter(doc_type=data["doc_type"])
        if data["uploaded_by"]:
            documents = documents.filter(uploaded_by__username=data["uploaded_by"])
        return documents
