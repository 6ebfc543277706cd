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


class PipelineDay(models.Model):
    """A pipeline's dashboard figures for one day of a time zone: its runs created that
    day (count, spend, latency percentiles, failures, agreed and disputed findings) and
    the standing review decisions on disagreements made that day. The dashboard reads
    these few hundred rows instead of aggregating every run and decision of its window
    (30k runs and 15k decisions, 100 ms and more: bench.runpages).

    Worked out by insights.days.fold() from the runs and decisions themselves, for the
    (pipeline, day) keys that PipelineDayChange queues: figures such as percentiles do
    not add up, so a change marks its day to be worked out again rather than appending
    a difference as StepSpend does. The dashboard works out queued keys itself, so what
    it shows is exact whether the reaper has folded them yet or not."""

    pipeline = models.ForeignKey("orchestrator.Pipeline", on_delete=models.CASCADE, related_name="+", db_index=False)
    # The time zone whose calendar `day` is in (the dashboard's days are local days).
    zone = models.CharField(max_length=64)
    day = models.DateField()
    runs = models.IntegerField(default=0)
    spend = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    failed = models.IntegerField(default=0)
    finished = models.IntegerField(default=0)
    p50_s = models.FloatField(null=True)
    p95_s = models.FloatField(null=True)
    agreed = models.BigIntegerField(default=0)
    disputed = models.BigIntegerField(default=0)
    decisions = models.IntegerField(default=0)  # standing decisions on disagreements
    overturned = models.IntegerField(default=0)  # of which against the judge

    class Meta:
        constraints = [models.UniqueConstraint(fields=["zone", "pipeline", "day"], name="one_pipeline_day_per_zone")]

    def __str__(self) -> str:
        return f"{self.pipeline_id} {self.day} ({self.zone}): {self.runs} runs"


class PipelineDayChange(models.Model):
    """Something a pipeline's day figures are made of changed at `at` (a run created
    then, a decision made then): appended by PostgreSQL triggers on runs, review items
    and decisions (migration insights 0002), in the writer's transaction and without
    locking any shared row; emptied by insights.days.fold()."""

    pipeline = models.ForeignKey("orchestrator.Pipeline", on_delete=models.CASCADE, related_name="+", db_index=False)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["pipeline", "at"], name="pipeline_day_change")]

    def __str__(self) -> str:
        return f"{self.pipeline_id} at {self.at:%Y-%m-%d %H:%M}"
