"""What evaluations are made of: labelled sets (documents with the answers a
pipeline should give) and evaluations (a pipeline run over a set, and its scores).

These models began in the orchestrator app and moved here without moving their
rows: they keep their orchestrator_* tables (migrations: orchestrator 0007 and
insights 0001 change Django's state only)."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class LabelledSet(models.Model):
    """Documents with the answers a pipeline should give, to measure pipelines against."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "orchestrator_labelledset"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LabelledDocument(models.Model):
    labelled_set = models.ForeignKey(LabelledSet, on_delete=models.CASCADE, related_name="documents")
    document = models.ForeignKey("documents.Document", on_delete=models.PROTECT, related_name="+")
    # Contracts: {"findings": [{"type": "auto_renewal", "is_issue": true}]}, the issue
    # types a run should report. Invoices: {"fields": {"total": "4904.94", ...}}.
    expected = models.JSONField()

    class Meta:
        db_table = "orchestrator_labelleddocument"
        ordering = ["labelled_set", "id"]
        constraints = [models.UniqueConstraint(fields=["labelled_set", "document"], name="unique_labelled_document")]

    def __str__(self) -> str:
        return f"{self.labelled_set.slug}:{self.document}"


class Evaluation(models.Model):
    """One pipeline run over every document of a labelled set, and its scores."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"

    labelled_set = models.ForeignKey(LabelledSet, on_delete=models.CASCADE, related_name="evaluations")
    pipeline = models.ForeignKey("orchestrator.Pipeline", on_delete=models.PROTECT, related_name="evaluations")
    # Evaluations started together (one form, one command) share it: the report's side-by-side table.
    group = models.CharField(max_length=40, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    figures = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "orchestrator_evaluation"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} ({self.pipeline.slug} on {self.labelled_set.slug})"

    def get_absolute_url(self) -> str:
        return reverse("insights:evaluation", args=[self.pk])


class EvaluationRun(models.Model):
    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="runs")
    labelled_document = models.ForeignKey(LabelledDocument, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey("orchestrator.Run", on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "orchestrator_evaluationrun"
        ordering = ["evaluation", "id"]

    def __str__(self) -> str:
        return f"{self.evaluation_id}:{self.run_id}"
