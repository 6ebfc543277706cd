"""Pipelines and their parts (agents, prompts, rubrics, prices) and what running
them leaves behind: runs and their steps, the trace of every agent call."""

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import connection, models
from django.db.models import F, Q, Sum
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from orchestrator.llm.prices import Price

from .patterns import MAX_NESTING


def month_start(moment: datetime) -> datetime:
    """The first instant of `moment`'s calendar month, in the deployment's time zone."""
    local = timezone.localtime(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class ModelPrice(models.Model):
    """Dollars per million tokens for one model id."""

    model = models.CharField(max_length=100, unique=True)
    input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    output_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    # Writing the 5-minute cache; the 1-hour cache is billed at its own rate.
    cache_write_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    cache_write_1h_per_mtok = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(0))
    cache_read_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    batch_discount = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.5"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return self.model

    @classmethod
    def price_for(cls, model: str) -> Price | None:
        """What calls to `model` cost now; None when it has no row (a self-hosted
        model, say), and such calls are recorded without a charge."""
        from .configcache import cached

        def load() -> Price | None:
            row = cls.objects.filter(model=model).first()
            return row.as_price() if row else None

        return cached(("price", model), load)

    def as_price(self) -> Price:
        return Price(**{field.name: getattr(self, field.name) for field in dataclasses.fields(Price)})


class Versioned(models.Model):
    """What prompts and rubrics share: their content lives in immutable numbered
    versions (`versions`), one of them `active`. Steps point at the version they
    ran with, so a version is never edited: revising adds one, activating moves
    the pointer (a rollback is an activation too)."""

    # The version fields that hold the content (what revise() takes).
    content_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def revise(self, content: dict, note: str, user) -> "Version":
        """Save `content` as the next version and make it active. (A concurrent revise
        of the same object fails on the unique number rather than overwriting.)"""
        number = (self.versions.aggregate(top=models.Max("number"))["top"] or 0) + 1
        # A field the content leaves out (an older export without a rubric's policy) keeps its default.
        fields = {name: content[name] for name in self.content_fields if name in content}
        version = self.versions.create(number=number, note=note, created_by=user, **fields)
        self.activate(version)
        return version

    def activate(self, version: "Version") -> None:
        """Make one of this object's versions the one new steps use."""
        if getattr(version, f"{self._meta.model_name}_id") != self.pk:
            raise ValueError(f"{version} is not a version of {self.slug}")
        self.active = version
        self.save(update_fields=["active"])


class Prompt(Versioned):
    """A named prompt; its text lives in immutable versions, one of them active."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.ForeignKey("PromptVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    content_fields = ("system", "template")

    def __str__(self) -> str:
        return self.name


class Version(models.Model):
    """What every version of a Versioned object has besides its content."""

    number = models.PositiveIntegerField()
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class PromptVersion(Version):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    system = models.TextField()
    # {name} placeholders filled from the step's inputs ({document}, {findings_a}, ...) by
    # engine.render; other braces (JSON examples) are left as they are.
    template = models.TextField()

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [models.UniqueConstraint(fields=["prompt", "number"], name="unique_prompt_version")]

    def __str__(self) -> str:
        return f"{self.prompt.slug} v{self.number}"


class Rubric(Versioned):
    """A judge's criteria; like prompts, edited as immutable versions."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    active = models.ForeignKey("RubricVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    content_fields = ("criteria", "policy")

    def __str__(self) -> str:
        return self.name


class RubricVersion(Version):
    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="versions")
    # [{"id", "title", "weight", "applies_to": [finding types], "guidance"}]
    criteria = models.JSONField()
    # The routing policy (review.policy): which findings go to a human. Versioned with the
    # criteria because it reads the judge those criteria steer. Empty: the default policy.
    policy = models.JSONField(default=dict, blank=True)

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
        ASSEMBLER = "assembler", "Assembler"
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
    # Advocates answer each other in rebuttal rounds, which need different instructions
    # than the first reading; the model, profile and schema stay the agent's own.
    rebuttal_prompt = models.ForeignKey(
        Prompt,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For rebuttal rounds (advocates). Empty: rebuttals use the main prompt.",
    )
    output_schema = models.JSONField()
    # What the agent must be handed, checked before it is called (a Chain stage's contract
    # with the stage before it). Empty: anything.
    input_schema = models.JSONField(default=dict, blank=True)
    uses_knowledge = models.BooleanField(
        default=False, help_text="Hand the agent the knowledge base (known counterparties and vendors) as {knowledge}."
    )
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=4096)
    timeout_s = models.PositiveIntegerField(default=120)
    queue = models.CharField(max_length=50, default="default")

    def __str__(self) -> str:
        return self.name

    def provider_name(self) -> str:
        return self.provider or settings.QUORUM_PROVIDER

    def prompt_for(self, kind: str) -> Prompt:
        """The prompt a step of this kind renders: "rebuttal" or the main one."""
        if kind == Step.PromptKind.REBUTTAL and self.rebuttal_prompt_id:
            return self.rebuttal_prompt
        return self.prompt


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
    rebuttal_rounds = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(2)])
    # Share of agreed findings also sent to a reviewer, to measure correlated errors.
    audit_rate = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.05"))
    budget_per_run = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Dollars. A run that has spent this schedules no further step and stops. Empty: no cap.",
    )
    monthly_budget = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Dollars a calendar month. Once spent, new runs are held until the month turns or the cap is "
        "raised. Empty: no cap.",
    )
    # The kind of document this pipeline is for (a classifier's doc_type); empty: any.
    document_type = models.CharField(
        max_length=40,
        blank=True,
        help_text="The kind of document this pipeline reviews (contract, invoice, ...). A run on a document "
        "that does not look like one says it was not reviewed. Empty: any document.",
    )
    is_active = models.BooleanField(default=True)
    trace_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days a finished step keeps its raw request, reply and attempts in the database; older ones "
        "move to compressed daily archives (archivetraces), still shown on the step page when asked. "
        "Outputs, costs, tokens and findings stay forever. Empty: keep them all.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("orchestrator:pipeline", args=[self.slug])

    def clean(self) -> None:
        # A negative cap is never "under": every run of the pipeline would be held (or
        # stopped) for good, and an audit rate outside 0-1 is no share at all.
        errors = {}
        for name in ("budget_per_run", "monthly_budget"):
            value = getattr(self, name)
            if value is not None and value < 0:
                errors[name] = "A budget cannot be negative. Leave it empty for no cap."
        if self.audit_rate is not None and not 0 <= self.audit_rate <= 1:
            errors["audit_rate"] = "A share of agreed findings: from 0 (none) to 1 (all)."
        if errors:
            raise ValidationError(errors)

    def agent_for(self, slot_name: str) -> "Agent":
        return self.slots.select_related("agent__prompt__active").get(name=slot_name).agent

    def uses_stand_in(self, slots: "list[PipelineSlot] | None" = None) -> bool:
        """Whether any agent here or in a pipeline a slot holds is the offline stand-in."""
        for slot in slots if slots is not None else self.slots.select_related("agent", "subpipeline"):
            if slot.agent and slot.agent.provider_name() == "offline":
                return True
            if slot.subpipeline and slot.subpipeline.uses_stand_in():
                return True
        return False

    def contains(self, other: "Pipeline", depth: int = 0) -> bool:
        """Whether `other` is this pipeline or is held, at any depth, by one of its slots."""
        if self.pk == other.pk:
            return True
        if depth > MAX_NESTING:
            return True  # deeper than runs may nest: treat as a cycle
        held = Pipeline.objects.filter(pk__in=self.slots.exclude(subpipeline=None).values("subpipeline"))
        return any(pipeline.contains(other, depth + 1) for pipeline in held)

    def spent_this_month(self, now: datetime | None = None) -> Decimal:
        """What runs people started on this pipeline spent this calendar month, nested
        runs' cost included (it rolls up into their parent step), replays' reused steps not."""
        start = month_start(now or timezone.now())
        # The steps' quarter-hour sums (StepSpend), not the steps: this runs before every run starts.
        spent = StepSpend.objects.filter(pipeline=self, period__gte=start).aggregate(total=Sum("cost"))["total"]
        return spent or Decimal(0)

    def is_over_monthly_budget(self, now: datetime | None = None) -> bool:
        return self.monthly_budget is not None and self.spent_this_month(now) >= self.monthly_budget

    def why_not_reviewable(self, text: str, stand_in: bool | None = None, ocr_confidence: float | None = None) -> str:
        """Why a run of this pipeline on `text` cannot count as a review, or "".
        An empty result on five bytes, a contract review of an invoice, invoice fields
        read from a purchase order, or findings on a scan OCR could barely read must never
        read as a clean document. `stand_in`: whether the offline stand-in plays a step
        (None: look at the slots); `ocr_confidence`: the document's mean OCR confidence,
        when any of its text came from a scan."""
        from .llm.offline.layout import classify, not_an_invoice, unread_language  # cheap, deterministic rules

        if ocr_confidence is not None and ocr_confidence < settings.QUORUM_MIN_OCR_CONFIDENCE:
            return (
                f"its text was read from a scan at {ocr_confidence:.0f}% mean OCR confidence, too unreliable "
                "to review: unchecked (a sharper or upright scan reads better)"
            )
        length, text = len(text.strip()), text[:CLASSIFY_CHARS]
        # The stand-in's rules read six languages; finding nothing in a seventh is no review. Said
        # first: 150 characters of Chinese are a whole invoice, not too little text.
        if (self.uses_stand_in() if stand_in is None else stand_in) and (unread := unread_language(text)):
            return f"written in {unread}, which the offline rule-based stand-in cannot read: unchecked"
        if length < MIN_REVIEW_CHARS:
            return f"{length} character{'s' if length != 1 else ''} of text"
        if self.document_type == "invoice" and (kind := not_an_invoice(text)):
            return f"this is {_article(kind)} {kind}, not an invoice"
        if self.document_type:
            doc_type, _, _ = classify(text)
            if doc_type != self.document_type:
                return f"this does not look like {_article(self.document_type)} {self.document_type}" + (
                    f" (it reads as {doc_type})" if doc_type != "other" else ""
                )
        return ""


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


class PipelineSlot(models.Model):
    """A named place in a pipeline (advocate_a, judge, specialist:financial,
    stage:2:normalize) filled by an agent, or by another pipeline: patterns
    compose (a Debate as a Supervisor's clause specialist or as a Chain stage)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="slots")
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField(default=0)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT)
    subpipeline = models.ForeignKey(
        Pipeline,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="held_by",
        help_text="Instead of an agent: a pipeline whose run's result is this slot's output.",
    )

    class Meta:
        ordering = ["pipeline", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="unique_slot_name"),
            models.CheckConstraint(
                condition=models.Q(agent__isnull=False, subpipeline__isnull=True)
                | models.Q(agent__isnull=True, subpipeline__isnull=False),
                name="slot_holds_agent_or_pipeline",
                violation_error_message="A slot holds either an agent or a pipeline.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline.slug}:{self.name}"

    def clean(self) -> None:
        if self.subpipeline_id and self.pipeline_id and self.subpipeline.contains(self.pipeline):
            raise ValidationError({"subpipeline": "A pipeline cannot hold itself, directly or through another."})

    @property
    def holder(self) -> "Agent | Pipeline":
        return self.agent or self.subpipeline


class KnowledgeEntry(models.Model):
    """A known counterparty or vendor, as admins keep it: what the enrich stage
    looks names up in (canonical name, country, risk rating)."""

    class Kind(models.TextChoices):
        COUNTERPARTY = "counterparty", "Counterparty"
        VENDOR = "vendor", "Vendor"

    class Risk(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField("canonical name", max_length=200, unique=True)
    aliases = models.TextField(blank=True, help_text="Other spellings seen in documents, one per line.")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 code, e.g. DE.")
    risk = models.CharField(max_length=10, choices=Risk.choices, default=Risk.LOW)
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "knowledge entries"

    def __str__(self) -> str:
        return self.name

    def as_input(self) -> dict:
        aliases = [line.strip() for line in self.aliases.splitlines() if line.strip()]
        return {
            "kind": self.kind,
            "name": self.name,
            "aliases": aliases,
            "country": self.country,
            "risk": self.risk,
            "note": self.note,
        }


# Below this much text a run's empty result says nothing about the document.
MIN_REVIEW_CHARS = 200
CLASSIFY_CHARS = 50_000


class RunQuerySet(models.QuerySet):
    def top_level(self) -> "RunQuerySet":
        """Runs people started, not those a slot holding a pipeline started inside them:
        their cost is already part of their parent's."""
        return self.filter(parent_step__isnull=True)


def _result_count(name: str) -> models.GeneratedField:
    """result.counts[name], kept by PostgreSQL beside the result (migration 0016)."""
    return models.GeneratedField(
        expression=models.Func("result", models.Value(name), function="quorum_result_count"),
        output_field=models.IntegerField(null=True),
        db_persist=True,
    )


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        NEEDS_REVIEW = "needs_review", "Needs review"
        DONE = "done", "Done"
        REVIEWED = "reviewed", "Reviewed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        # Waiting for its pipeline's monthly budget: engine.release_held_runs starts it.
        HELD = "held", "Held: monthly budget"
        # Reached its pipeline's per-run cap; the steps done so far are kept.
        STOPPED_BUDGET = "stopped_budget", "Stopped: budget"

    FINISHED = {
        Status.NEEDS_REVIEW,
        Status.DONE,
        Status.REVIEWED,
        Status.FAILED,
        Status.CANCELLED,
        Status.STOPPED_BUDGET,
    }
    # Finished with a result (not failed, cancelled or stopped at a budget).
    FINISHED_OK = {Status.DONE, Status.NEEDS_REVIEW, Status.REVIEWED}

    document = models.ForeignKey("documents.Document", on_delete=models.PROTECT, related_name="runs")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    result = models.JSONField(null=True, blank=True)
    # What the dashboard and the review-load figures read of the result, kept by
    # PostgreSQL beside it (functions in migration 0016) so that they read a few small
    # columns of thousands of runs instead of their whole results: the agreed and
    # disputed counts, and of each agreed or disputed finding only what routing reads.
    agreed_count = _result_count("agreed")
    disputed_count = _result_count("disputed")
    routed_findings = models.GeneratedField(
        expression=models.Func("result", function="quorum_routed_findings"),
        output_field=models.JSONField(null=True),
        db_persist=True,
    )
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
    # Set on the run of a pipeline that fills a slot of another run's pipeline; its
    # result becomes that step's output, and its cost rolls up into it.
    parent_step = models.OneToOneField(
        "Step", null=True, blank=True, on_delete=models.CASCADE, related_name="child_run"
    )
    # A replay reuses `replay_of`'s steps before the step keyed `replay_from`.
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")
    replay_from = models.CharField(max_length=100, blank=True)
    # Anthropic steps go through the Message Batches API (orchestrator.runs.batches): half
    # the price, for results within hours instead of seconds.
    batch_mode = models.BooleanField(default=False)
    # Set at start when the document cannot be reviewed by this pipeline (too little
    # text, not the kind it is for): pages then say "not reviewed", never "no issues".
    not_reviewed = models.CharField(max_length=200, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The runs list (top-level runs, newest first) and its filters, read in
            # index order at a million steps instead of sorted (bench.runpages).
            models.Index(
                F("created_at").desc(), F("id").desc(), condition=Q(parent_step__isnull=True), name="run_top_recent"
            ),
            models.Index(
                "pipeline",
                "status",
                F("created_at").desc(),
                F("id").desc(),
                condition=Q(parent_step__isnull=True),
                name="run_top_pipeline_status",
            ),  # fmt: skip
            # The runs list sorted by cost (most expensive first, or least).
            models.Index(F("cost").desc(), F("id").desc(), condition=Q(parent_step__isnull=True), name="run_top_cost"),
            # Each pipeline's runs, nested ones too, newest first: the dashboard's days
            # (insights.days) and the latest finished runs its review load is measured
            # over (review.load), status included so that the latter skips the others unread.
            models.Index(fields=["pipeline", "-created_at", "-id"], include=["status"], name="run_pipeline_recent"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.pipeline.slug} on {self.document})"

    def get_absolute_url(self) -> str:
        return reverse("orchestrator:run", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def shown_status(self) -> str:
        """The status people read: a finished run that could not review its document
        says so rather than "Done"."""
        if self.not_reviewed and self.status in self.FINISHED_OK:
            return "Not reviewed"
        return self.get_status_display()

    @property
    def shown_status_class(self) -> str:
        return "not_reviewed" if self.shown_status == "Not reviewed" else self.status

    def awaited_review_items(self) -> models.QuerySet:
        """The review items this run's findings went to: those linked to it (a later run
        on the same document joins the open item of an earlier one, whose `run` it is)
        and those of the runs nested under it (contract-supervisor's Debate)."""
        items = self.linked_review_items.model.objects
        return items.filter(Q(links__run=self) | Q(links__run__parent_step__run=self)).distinct()

    def finding_counts(self) -> dict[str, int] | None:
        """How many findings the run's result carries, its own and those a nested
        Debate brought into its fields or record, and how many are issues; None
        when the result never looked for findings (a Supervisor or Chain without a
        Debate), for "0 issues" there would claim a review nobody made."""
        result = self.result if isinstance(self.result, dict) else {}
        fields, record = result.get("fields"), result.get("record")
        # A result that names no pattern (as the tests' hand-made ones) counts its findings as before.
        own_kind = result.get("pattern", "debate" if "findings" in result else None)
        looked = own_kind == "debate" or any(isinstance(part, dict) and "findings" in part for part in (fields, record))
        if not looked:
            return None
        findings = carried_findings(result)
        return {"findings": len(findings), "issues": sum(bool(f.get("is_issue")) for f in findings)}

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

    def cancel(self) -> bool:
        """Cancel the run if no work has started on it (queued, or held for its
        pipeline's monthly budget); True when it was. Conditional, so a run the
        engine or the budget loop starts at the same moment is never cancelled."""
        now = timezone.now()
        cancelled = Run.objects.filter(pk=self.pk, status__in=[self.Status.QUEUED, self.Status.HELD]).update(
            status=self.Status.CANCELLED, finished_at=now
        )
        self.refresh_from_db(fields=["status", "finished_at"])
        return bool(cancelled)


class Step(models.Model):
    """One agent call inside a run: the request, the answer, what it cost."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        # In a run in batch mode: the request is saved and waits in (or for) a
        # Message Batch; orchestrator.runs.batches submits it and reads the result.
        BATCHED = "batched", "Batched"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class PromptKind(models.TextChoices):
        MAIN = "", "Main"
        REBUTTAL = "rebuttal", "Rebuttal"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=100)
    slot = models.CharField(max_length=60)
    # Empty when the slot holds a pipeline: the step's child run does the work.
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT)
    prompt_kind = models.CharField(max_length=20, choices=PromptKind.choices, default=PromptKind.MAIN, blank=True)
    # A replay's reused steps: the step copied, whose trace this one repeats. Their
    # cost and time were spent by the original run, so the replay's totals leave them out.
    copied_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
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
    # One entry per try, written by record_attempt: [{"number", "at", "latency_ms", "error_class", "error"}]
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
    # The rates this step was charged at (Price.as_record(), with the model and
    # whether at the batch discount), kept with it.
    price = models.JSONField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    job_id = models.CharField(max_length=100, blank=True)
    # Fencing: the token the execution that moved the step to running wrote. Only the
    # holder may save the outcome (a conditional update); a duplicate delivery's call
    # is recorded as a discarded attempt. `worker` names the RQ worker that holds it.
    claim = models.CharField(max_length=40, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # The Message Batch a batched step's request went into; empty until submitted.
    batch_id = models.CharField(max_length=100, blank=True, db_index=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The day file (under ARCHIVE_DIR) that holds this step's raw request, reply and
    # attempts since archivetraces cleared them here; null while they are in the row.
    archived_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["queued_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_step_key")]
        indexes = [
            # The spend page's "calls with no price": a handful of steps among a million.
            models.Index(fields=["queued_at"], condition=Q(price__unpriced=True), name="step_unpriced_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.key}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}

    @property
    def holds_pipeline(self) -> bool:
        return self.agent_id is None

    def record_attempt(self, latency_ms: int, error: Exception | None = None, at: datetime | None = None) -> None:
        """Add one try to the step's trace (a call to the model, a batch's answer, a
        lost job); the caller saves. The error's class name is what the trace page
        shows and what the reaper counts lost jobs by."""
        self.attempts = [
            *self.attempts,
            {
                "number": len(self.attempts) + 1,
                "at": (at or timezone.now()).isoformat(),
                "latency_ms": latency_ms,
                "error_class": type(error).__name__ if error else "",
                "error": str(error) if error else "",
            },
        ]


# The quarter hours StepSpend adds steps up by: every time zone's midnight (and so every
# local month) starts on one, so a month is always whole quarter hours.
SPEND_PERIOD = "15 minutes"


class StepSpend(models.Model):
    """What the steps of runs people started cost (their cost, tokens and number),
    per pipeline, provider and quarter hour of the steps' queued_at: exactly the steps
    the spend page and the monthly budget count (not a nested run's, whose cost rolls
    up into its parent step; not a replay's reused ones, paid by their original run),
    so that those read a few thousand rows instead of summing a million steps.

    Kept by PostgreSQL triggers on orchestrator_step (migration 0015_stepspend), not
    by Python: the engine writes a step's cost with a conditional UPDATE (fencing)
    that no model signal sees, and bulk inserts and deletes must count too. Each
    insert, delete and change of a counted column appends its difference as a new
    row, in the step's transaction: appending locks no shared row, so workers never
    wait on one another here (an upsert would hold a pipeline's row until the step's
    transaction, advance() included, commits). fold() adds the appended rows up into
    one per key; readers sum every row, so a figure is exact whether folded or not."""

    # No index of its own: (pipeline, period) below serves it.
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+", db_index=False)
    period = models.DateTimeField()  # the quarter hour's first instant (date_bin over 15 minutes)
    provider = models.CharField(max_length=20, blank=True)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal(0))
    calls = models.BigIntegerField(default=0)  # steps, as Count("id") over them counted them
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    # False on the rows the triggers append, true on fold()'s sums.
    folded = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["pipeline", "period"], name="step_spend_pipeline_period"),
            models.Index(
                fields=["pipeline", "period", "provider"], condition=Q(folded=False), name="step_spend_unfolded"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_id} {self.period:%Y-%m-%d %H:%M} {self.provider}: {self.cost}"

    @classmethod
    def fold(cls) -> int:
        """Replace the rows of every key that has appended ones by their sum, in one
        statement (readers see the rows before or the sum after, never half); the
        number of sums written. The reaper does this every tick. Rows appended
        meanwhile are left for the next fold; two folds at once still keep every sum."""
        with connection.cursor() as cursor:
            cursor.execute(_FOLD_SPEND)
            return cursor.rowcount


_FOLD_SPEND = """
WITH keys AS (
    SELECT DISTINCT pipeline_id, period, provider FROM orchestrator_stepspend WHERE NOT folded
), gone AS (
    DELETE FROM orchestrator_stepspend spend USING keys
    WHERE spend.pipeline_id = keys.pipeline_id AND spend.period = keys.period AND spend.provider = keys.provider
    RETURNING spend.pipeline_id, spend.period, spend.provider, spend.cost, spend.calls, spend.input_tokens,
        spend.output_tokens
)
INSERT INTO orchestrator_stepspend (pipeline_id, period, provider, cost, calls, input_tokens, output_tokens, folded)
SELECT pipeline_id, period, provider, sum(cost), sum(calls), sum(input_tokens), sum(output_tokens), true
FROM gone
GROUP BY pipeline_id, period, provider
HAVING sum(cost) <> 0 OR sum(calls) <> 0 OR sum(input_tokens) <> 0 OR sum(output_tokens) <> 0
"""


class ProviderLimit(models.Model):
    """An admin-set rate limit on one provider's model (blank model: every model of
    the provider without a limit of its own), shared by every worker on every
    machine through Redis (orchestrator.llm.limits). A step over it is put back in
    its queue with a delay instead of holding a worker."""

    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100, blank=True, help_text="Blank: every model of this provider")
    max_concurrent = models.PositiveIntegerField(null=True, blank=True, help_text="Calls in flight at once")
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Input plus output tokens, estimated before each call"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="unique_provider_limit")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.model or '*'}"

    @classmethod
    def for_call(cls, provider: str, model: str) -> "ProviderLimit | None":
        """The limit that applies: the model's own, else the provider-wide one."""
        from .configcache import cached

        def load() -> "ProviderLimit | None":
            found = {limit.model: limit for limit in cls.objects.filter(provider=provider, model__in=[model, ""])}
            return found.get(model) or found.get("")

        return cached(("limit", provider, model), load)


# Signals for whoever must learn of a run's end (notify: webhooks). Each is sent from
# the one place its transition happens in engine.py, inside that transaction: receivers
# defer their work with transaction.on_commit and never raise into the engine.
run_finished = Signal()  # run=Run: done, needs review, or stopped at its budget
run_failed = Signal()  # run=Run
budget_reached = Signal()  # run=Run, kind="per_run"|"monthly"


def carried_findings(result: Any) -> list[dict]:
    """Every finding a run's result carries: its own, then those nested runs brought."""
    if not isinstance(result, dict):
        return []
    own = [finding for finding in result.get("findings") or [] if isinstance(finding, dict)]
    return [*own, *brought_findings(result)]


def brought_findings(result: Any) -> list[dict]:
    """The findings nested runs brought into a result's fields or record."""
    if not isinstance(result, dict):
        return []
    return [*nested_findings(result.get("fields")), *nested_findings(result.get("record"))]


def nested_findings(value: Any) -> list[dict]:
    """The findings a nested pipeline brought into a result's fields (a Debate as
    a Supervisor's clause specialist) or record (a Debate as a Chain stage). The runs list and its
    exports show top-level runs only, so without these a batch through
    contract-supervisor would export a findings file with none of its findings.
    A finding is what fold_back_review takes one for: an object with a key and evidence."""
    if isinstance(value, dict):
        return [finding for item in value.values() for finding in nested_findings(item)]
    if isinstance(value, list):
        return [
            finding
            for item in value
            for finding in (
                [item] if isinstance(item, dict) and "key" in item and "evidence" in item else nested_findings(item)
            )
        ]
    return []
