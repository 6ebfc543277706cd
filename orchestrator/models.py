"""Pipelines and their parts (agents, prompts, rubrics, prices) and what running
them leaves behind: runs and their steps, the trace of every agent call."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class ModelPrice(models.Model):
    """Dollars per million tokens for one model id."""

    model = models.CharField(max_length=100, unique=True)
    input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    output_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    cache_write_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    cache_read_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    batch_discount = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.5"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return self.model

    def cost(self, input_tokens: int, output_tokens: int, cache_write: int = 0, cache_read: int = 0) -> Decimal:
        total = (
            input_tokens * self.input_per_mtok
            + output_tokens * self.output_per_mtok
            + cache_write * self.cache_write_per_mtok
            + cache_read * self.cache_read_per_mtok
        )
        return (total / Decimal(1_000_000)).quantize(Decimal("0.000001"))


class Prompt(models.Model):
    """A named prompt; its text lives in immutable versions, one of them active."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.ForeignKey("PromptVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    system = models.TextField()
    # Rendered with str.format_map over the step's inputs ({document}, {findings_a}, ...).
    template = models.TextField()
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [models.UniqueConstraint(fields=["prompt", "number"], name="unique_prompt_version")]

    def __str__(self) -> str:
        return f"{self.prompt.slug} v{self.number}"


class Rubric(models.Model):
    """A judge's criteria; like prompts, edited as immutable versions."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    active = models.ForeignKey("RubricVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return self.name


class RubricVersion(models.Model):
    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # [{"id", "title", "weight", "applies_to": [finding types], "guidance"}]
    criteria = models.JSONField()
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rubric", "-number"]
        constraints = [models.UniqueConstraint(fields=["rubric", "number"], name="unique_rubric_version")]

    def __str__(self) -> str:
        return f"{self.rubric.slug} v{self.number}"


class Agent(models.Model):
    class Role(models.TextChoices):
        ADVOCATE = "advocate", "Advocate"
        JUDGE = "judge", "Judge"
        COORDINATOR = "coordinator", "Coordinator"
        SPECIALIST = "specialist", "Specialist"
        STAGE = "stage", "Chain stage"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=Role.choices)
    # Empty means the deployment's default (QUORUM_PROVIDER).
    provider = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=100)
    # For the offline provider: which rule set plays this agent (thorough, strict, ...).
    profile = models.CharField(max_length=50, blank=True)
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT)
    output_schema = models.JSONField()
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=4096)
    timeout_s = models.PositiveIntegerField(default=120)
    queue = models.CharField(max_length=50, default="default")

    def __str__(self) -> str:
        return self.name

    def provider_name(self) -> str:
        return self.provider or settings.QUORUM_PROVIDER


class Pipeline(models.Model):
    class Pattern(models.TextChoices):
        SUPERVISOR = "supervisor", "Supervisor"
        CHAIN = "chain", "Chain"
        DEBATE = "debate", "Debate"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    pattern = models.CharField(max_length=20, choices=Pattern.choices)
    rubric = models.ForeignKey(Rubric, null=True, blank=True, on_delete=models.PROTECT)
    rebuttal_rounds = models.PositiveSmallIntegerField(default=0)
    # Share of agreed findings also sent to a reviewer, to measure correlated errors.
    audit_rate = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.05"))
    budget_per_run = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("orchestrator:pipeline", args=[self.slug])

    def agent_for(self, slot_name: str) -> "Agent":
        return self.slots.select_related("agent__prompt__active").get(name=slot_name).agent

    def uses_stand_in(self) -> bool:
        return any(
            slot.agent and slot.agent.provider_name() == "offline" for slot in self.slots.select_related("agent")
        )


class PipelineSlot(models.Model):
    """A named place in a pipeline (advocate_a, judge, specialist:financial,
    stage:1) filled by an agent."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="slots")
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField(default=0)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT)

    class Meta:
        ordering = ["pipeline", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "name"], name="unique_slot_name")]

    def __str__(self) -> str:
        return f"{self.pipeline.slug}:{self.name}"


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        NEEDS_REVIEW = "needs_review", "Needs review"
        DONE = "done", "Done"
        REVIEWED = "reviewed", "Reviewed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = {Status.NEEDS_REVIEW, Status.DONE, Status.REVIEWED, Status.FAILED, Status.CANCELLED}

    document = models.ForeignKey("documents.Document", on_delete=models.PROTECT, related_name="runs")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    steps_planned = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    # The longest chain of dependent step latencies: the fastest this run could have been.
    critical_path_ms = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.pipeline.slug} on {self.document})"

    def get_absolute_url(self) -> str:
        return reverse("orchestrator:run", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def wall_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None

    def mark_failed(self, error: str) -> None:
        self.status = self.Status.FAILED
        self.error = error
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])


class Step(models.Model):
    """One agent call inside a run: the request, the answer, what it cost."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=100)
    slot = models.CharField(max_length=60)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT)
    parent_key = models.CharField(max_length=100, blank=True)
    # Steps the decider scheduled together share a wave; waves run one after another,
    # so the critical-path floor of a run is the sum over waves of the slowest step.
    wave = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # What the pattern handed this step (besides the document), and what was sent.
    inputs = models.JSONField(default=dict, blank=True)
    request = models.JSONField(null=True, blank=True)
    raw_response = models.TextField(blank=True)
    output = models.JSONField(null=True, blank=True)
    validation_errors = models.JSONField(default=list, blank=True)
    # [{"number", "started_at", "latency_ms", "error_class", "error"}]
    attempts = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    provider = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=100, blank=True)
    prompt_version = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.PROTECT)
    rubric_version = models.ForeignKey(RubricVersion, null=True, blank=True, on_delete=models.PROTECT)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    job_id = models.CharField(max_length=100, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["queued_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_step_key")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.key}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}
