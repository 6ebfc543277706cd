"""The generic scheduler. The database is the source of truth; RQ only
carries "run step N".

- start_run(): create a run and let its pattern schedule the first steps.
- execute_step(): the RQ job's body: call the model for one step, validate,
  persist, then advance(). In a run in batch mode an Anthropic step is only
  saved as batched; orchestrator.runs.batches sends it and hands the reply to
  finish_batched_step().
- advance(): under a lock on the run row, ask the pattern what comes next and
  schedule it, or store the final result and route review items.

A slot may hold a pipeline instead of an agent (patterns compose): its step starts
a child run, and the child's finish completes the step and advances the parent.
"""

from __future__ import annotations

import json
import logging
import random
import re
import uuid
from decimal import Decimal
from time import monotonic, sleep
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Func, IntegerField
from django.utils import timezone

from review.routing import needs_filing, open_review_items

from . import configcache, jobs
from . import models as signals
from .llm import Completion, PermanentError, ProviderError, Request, TransientError, get_provider, limits, stable_layout
from .models import Agent, KnowledgeEntry, ModelPrice, Pipeline, PipelineSlot, Prompt, PromptVersion, Run, Step
from .patterns import MAX_NESTING, Outcome, RunContext, StepState, decider_for
from .patterns.schemas import output_errors

log = logging.getLogger(__name__)


def start_run(document, pipeline: Pipeline, user=None, batch_mode: bool = False) -> Run:
    """Create a run and schedule its first steps, or hold it while its pipeline's
    monthly budget is spent (release_held_runs starts it later). In batch mode its
    Anthropic steps go through the Message Batches API (orchestrator.runs.batches)."""
    with transaction.atomic():
        held = pipeline.is_over_monthly_budget()
        run = Run.objects.create(
            document=document,
            pipeline=pipeline,
            created_by=user,
            status=Run.Status.HELD if held else Run.Status.QUEUED,
            batch_mode=batch_mode,
            not_reviewed=pipeline.why_not_reviewable(document.text or "", ocr_confidence=document.ocr_confidence),
        )
        if held:
            log.info("run=%s held: pipeline %s has spent its monthly budget", run.pk, pipeline.slug)
            signals.budget_reached.send(Run, run=run, kind="monthly")
        else:
            advance(run.pk)
    run.refresh_from_db()
    return run


def release_held_runs(now=None) -> list[Run]:
    """Start held runs, oldest first, whose pipeline is under its monthly cap again
    (the month turned, or an admin raised or cleared the cap)."""
    released = []
    under: dict[int, bool] = {}
    for run in Run.objects.filter(status=Run.Status.HELD).select_related("pipeline").order_by("created_at", "id"):
        # Started runs spend nothing until their steps finish, so one look per pipeline
        # and pass is as good as many; the next pass sees what these ones spent.
        if run.pipeline_id not in under:
            under[run.pipeline_id] = not run.pipeline.is_over_monthly_budget(now)
        if not under[run.pipeline_id]:
            continue
        with transaction.atomic():
            # Conditional: of two loops releasing at once, only one starts the run.
            if Run.objects.filter(pk=run.pk, status=Run.Status.HELD).update(status=Run.Status.QUEUED):
                advance(run.pk)
                released.append(run)
    return released


def readvance_finished_runs() -> list[int]:
    """Advance again every unfinished run whose steps have all finished: what an
    advance() that failed (a database error, a bug in a decider) leaves behind.
    advance() is idempotent under the run lock, so a run another process is
    advancing right now is only looked at twice. The ids of the runs advanced."""
    from django.db.models import Count, Q

    open_steps = Count("steps", filter=~Q(steps__status__in=[Step.Status.SUCCEEDED, Step.Status.FAILED]))
    stuck = (
        Run.objects.filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING])
        .annotate(open_steps=open_steps, all_steps=Count("steps"))
        .filter(open_steps=0, all_steps__gt=0)
        .values_list("pk", flat=True)
    )
    advanced = []
    for run_id in list(stuck):
        try:
            advance(run_id)
        except Exception:
            log.exception("run=%s could not be re-advanced", run_id)
            continue
        advanced.append(run_id)
    return advanced


def advance(run_id: int) -> None:
    """Decide and schedule what comes next. The row lock makes fan-in race-free:
    when two steps finish at once, exactly one of them schedules the next wave."""
    # No savepoint when called inside a step's settling transaction: nothing here is
    # caught and retried within it, and a savepoint is two more round trips a step.
    with transaction.atomic(savepoint=False):
        run = Run.objects.select_for_update().get(pk=run_id)
        run.pipeline = _pipeline(run.pipeline_id)
        if run.status == Run.Status.HELD:
            return
        # Deciders read outputs and statuses; the traces (requests, raw replies) stay in the database.
        steps = _steps_of(run)
        if run.is_finished:
            # A step that finishes after its run failed or stopped was still paid
            # for: the run's totals and progress are the sum of its steps again.
            _count_steps(run, steps)
            run.save(update_fields=[*_TOTAL_FIELDS, "steps_done"])
            return
        states = {key: StepState(key, step.status, step.output, step.error) for key, step in steps.items()}
        slots = _slots(run.pipeline_id)
        try:
            outcome = decider_for(run.pipeline.pattern)(context_for(run, list(slots.values())), states)
        except (KeyError, TypeError, ValueError) as error:
            # A decider that cannot read the outputs it was given is a failed run, not a stuck one.
            outcome = Outcome(run.steps_planned, error=f"The {run.pipeline.pattern} pattern could not go on: {error!r}")
        unfilled = sorted({spec.slot for spec in outcome.schedule if spec.slot not in slots})
        if unfilled:
            outcome = Outcome(
                outcome.planned, error=f"Pipeline {run.pipeline.slug} has nothing in slot {unfilled[0]!r}"
            )
        run.steps_planned = max(outcome.planned, len(steps))
        # Totals and progress are the sum of the steps at every step's finish, not only the run's.
        _count_steps(run, steps)
        if run.started_at is None:
            run.started_at = timezone.now()
        if outcome.error:
            _finish(run, steps, status=Run.Status.FAILED, error=outcome.error)
        elif outcome.result is not None:
            _finish(run, steps, outcome=outcome)
        elif (budget := _budget_reached(run, outcome, steps)) is not None:
            if all(step.is_finished for step in steps.values()):
                _stop_for_budget(run, steps, outcome, spent=budget)
            else:
                # Steps still in flight are being paid for: the last of them to finish
                # advances the run again and stops it with its cost counted.
                run.save(update_fields=["steps_planned", "steps_done", "started_at", *_TOTAL_FIELDS])
        else:
            run.status = Run.Status.RUNNING if steps or outcome.schedule else run.status
            children = _schedule(run, outcome, slots, steps)
            run.save(update_fields=["status", "steps_planned", "steps_done", "started_at", *_TOTAL_FIELDS])
            # Only once this run's row is saved: a child run that finishes at once advances this run again.
            for step, pipeline in children:
                _start_child_run(run, step, pipeline)


def _pipeline(pipeline_id: int) -> Pipeline:
    """The pipeline with its rubric's active version, as every advance reads it."""
    return configcache.cached(
        ("pipeline", pipeline_id), lambda: Pipeline.objects.select_related("rubric__active").get(pk=pipeline_id)
    )


def _slots(pipeline_id: int) -> dict[str, PipelineSlot]:
    """The pipeline's slots by name, with their agents and nested pipelines: read
    at every step's finish, changed only by an admin (configcache)."""

    def load() -> dict[str, PipelineSlot]:
        slots = PipelineSlot.objects.filter(pipeline_id=pipeline_id).select_related("agent", "subpipeline")
        return {slot.name: slot for slot in slots}

    return configcache.cached(("slots", pipeline_id), load)


def _budget_reached(run: Run, outcome: Outcome, steps: dict[str, Step]) -> Decimal | None:
    """What the run has spent, when it has reached its pipeline's per-run cap and
    the pattern wants new steps; else None. A step holding a pipeline carries its
    child run's cost once that run finishes (_finish_parent_step)."""
    cap = run.pipeline.budget_per_run
    if cap is None or not any(spec.key not in steps for spec in outcome.schedule):
        return None
    # A replay's reused steps were paid for by the run they came from.
    spent = sum((step.cost for step in steps.values() if step.copied_from_id is None), Decimal(0))
    return spent if spent >= cap else None


def _stop_for_budget(run: Run, steps: dict[str, Step], outcome: Outcome, *, spent: Decimal) -> None:
    # The steps done stay with their outputs; the result says how far the run got and why it stopped.
    run.result = {
        "stopped": "budget",
        "spent": str(spent),
        "cap": str(run.pipeline.budget_per_run),
        "steps_done": sorted(key for key, step in steps.items() if step.status == Step.Status.SUCCEEDED),
        "not_started": [spec.key for spec in outcome.schedule if spec.key not in steps],
    }
    signals.budget_reached.send(Run, run=run, kind="per_run")
    _finish(run, steps, status=Run.Status.STOPPED_BUDGET)


def _steps_of(run: Run) -> dict[str, Step]:
    """The run's steps by key, with only what deciding and counting read: their
    traces (requests, raw replies) stay in the database, and fewer columns are
    fewer to compile and build at every step's finish."""
    return {step.key: step for step in run.steps.only(*_DECIDED_FROM)}


# What advance() and what it calls read of a run's steps.
_DECIDED_FROM = (
    "run_id", "key", "status", "output", "error", "wave", "agent_id", "copied_from_id", "latency_ms",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost",
)  # fmt: skip


def context_for(run: Run, slots: list[PipelineSlot] | None = None) -> RunContext:
    pipeline = run.pipeline
    if slots is None:
        slots = list(pipeline.slots.select_related("agent", "subpipeline"))
    active = pipeline.rubric.active if pipeline.rubric else None
    criteria = active.criteria if active else []
    return RunContext(
        run_id=run.pk,
        rebuttal_rounds=pipeline.rebuttal_rounds,
        audit_rate=float(pipeline.audit_rate),
        criteria=criteria,
        policy=active.policy if active else {},
        stand_in=pipeline.uses_stand_in(slots),
        slots=[slot.name for slot in sorted(slots, key=lambda slot: (slot.position, slot.name))],
        input_schemas={slot.name: slot.agent.input_schema for slot in slots if slot.agent and slot.agent.input_schema},
    )


def _schedule(
    run: Run, outcome: Outcome, slots: dict[str, PipelineSlot], steps: dict[str, Step]
) -> list[tuple[Step, Pipeline]]:
    """Create the steps and enqueue their jobs on commit. Returns the steps whose
    slot holds a pipeline, with that pipeline: the caller starts their child runs."""
    wave = 1 + max((step.wave for step in steps.values()), default=0)
    # The run row is locked and `steps` holds all of its steps, so a key not among them
    # is new; the unique (run, key) constraint is the backstop.
    new = [
        Step(
            run=run,
            key=spec.key,
            slot=spec.slot,
            agent=slots[spec.slot].agent,
            inputs=spec.inputs,
            parent_key=spec.parent_key,
            prompt_kind=spec.prompt,
            wave=wave,
            job_id=jobs.new_job_id() if slots[spec.slot].agent else "",
        )
        for spec in outcome.schedule
        if spec.key not in steps
    ]
    children = []
    for step in Step.objects.bulk_create(new):
        if step.agent:
            jobs.enqueue_step_on_commit(step)
        else:
            children.append((step, slots[step.slot].subpipeline))
    return children


# --- composition: a slot that holds a pipeline -------------------------------


def _start_child_run(run: Run, step: Step, pipeline: Pipeline) -> None:
    """The step's work is a whole run of another pipeline on the same document. It
    has no RQ job of its own: the child run's steps are the jobs, and the child's
    completion finishes the step and advances this run (_finish_parent_step)."""
    depth, parent = 1, run
    while parent.parent_step_id:
        depth, parent = depth + 1, parent.parent_step.run
    step.status, step.started_at = Step.Status.RUNNING, timezone.now()
    if depth > MAX_NESTING:
        _fail_step(step, f"Pipelines nest deeper than {MAX_NESTING} levels here; is a pipeline holding itself?")
        advance(run.pk)
        return
    step.save(update_fields=["status", "started_at"])
    # The child spends on its own pipeline's budget: held while that is spent
    # (release_held_runs starts it later, and the parent step waits for it).
    held = pipeline.is_over_monthly_budget()
    child = Run.objects.create(
        document_id=run.document_id,
        pipeline=pipeline,
        created_by_id=run.created_by_id,
        parent_step=step,
        status=Run.Status.HELD if held else Run.Status.QUEUED,
        # Its own page must not read "Done" where its pipeline could not review the document.
        not_reviewed=pipeline.why_not_reviewable(run.document.text or "", ocr_confidence=run.document.ocr_confidence),
    )
    if held:
        log.info("run=%s held: pipeline %s has spent its monthly budget", child.pk, pipeline.slug)
    else:
        advance(child.pk)


def _finish_parent_step(child: Run) -> None:
    """A child run finished: its result is the parent step's output, its totals the
    step's usage (so costs roll up), its floor the step's latency. Done in the
    child's transaction, so the two can never disagree."""
    step = Step.objects.select_for_update().get(pk=child.parent_step_id)
    if step.is_finished:
        return
    if child.status == Run.Status.FAILED:
        step.status, step.error = Step.Status.FAILED, f"Run {child.pk} of {child.pipeline.slug} failed: {child.error}"
    elif child.status == Run.Status.STOPPED_BUDGET:
        # Its result is a stub, not what the parent's pattern reads: the parent sees a failed step.
        step.status = Step.Status.FAILED
        step.error = f"Run {child.pk} of {child.pipeline.slug} stopped at its per-run budget"
    else:
        step.status, step.output = Step.Status.SUCCEEDED, child.result
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost"):
        setattr(step, field, getattr(child, field))
    step.latency_ms = child.critical_path_ms
    step.model = f"pipeline:{child.pipeline.slug}"
    step.finished_at = timezone.now()
    step.save()
    advance(step.run_id)


_TOTAL_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost")


def _count_steps(run: Run, steps: dict[str, Step]) -> None:
    """Set the run's totals to the sum of its own steps (a replay's reused steps
    were paid for in the run they came from) and its progress to the steps
    finished: the caller saves. `steps` are all the run's steps, read under the
    run's lock, so no step is missing from the sums."""
    own = [step for step in steps.values() if step.copied_from_id is None]
    for field in _TOTAL_FIELDS:
        setattr(run, field, sum((getattr(step, field) for step in own), Decimal(0) if field == "cost" else 0))
    run.steps_done = sum(step.is_finished for step in steps.values())


def _cancel_queued(run: Run) -> int:
    """A run that failed or stopped will not read its queued steps: they are
    cancelled (failed with a reason, never sent to a model) rather than paid for.
    Their jobs find them no longer queued and do nothing."""
    return run.steps.filter(status=Step.Status.QUEUED, agent__isnull=False).update(
        status=Step.Status.FAILED, error=CANCELLED, finished_at=timezone.now()
    )


# The error of a step cancelled because its run ended before it started.
CANCELLED = "Cancelled: the run ended before this step started, so it was never sent to a model."


def _finish(run: Run, steps: dict[str, Step], *, status: str = "", error: str = "", outcome: Outcome | None = None):
    if outcome is None and _cancel_queued(run):
        steps = _steps_of(run)  # as cancelled
    # A replay's reused steps were paid for, and timed, in the run they came from.
    own = [step for step in steps.values() if step.copied_from_id is None]
    _count_steps(run, steps)
    run.critical_path_ms = critical_path_ms(own)
    run.finished_at = timezone.now()
    run.error = error
    if outcome is not None:
        run.result = outcome.result
        # The pattern marked the findings a human must see; file them in the inbox (it
        # reads the result from the row). A run holding a nested run whose findings
        # await review awaits that review too.
        own_items = []
        if needs_filing(run.result):
            run.save()
            own_items = open_review_items(run)
        nested = any(step.agent_id is None for step in steps.values()) and _children_in_review(run)
        status = Run.Status.NEEDS_REVIEW if own_items or nested else Run.Status.DONE
    run.status = status
    run.save()
    log.info("run=%s finished status=%s cost=%s", run.pk, run.status, run.cost)
    (signals.run_failed if run.status == Run.Status.FAILED else signals.run_finished).send(Run, run=run)
    if run.parent_step_id:
        _finish_parent_step(run)


def _children_in_review(run: Run) -> bool:
    return Run.objects.filter(parent_step__run=run, status=Run.Status.NEEDS_REVIEW).exists()


def fold_back_review(child: Run) -> None:
    """Reviewers settled a nested run's findings (review.finalise): give its parent
    step the settled result and put each settled finding in place of the machine's
    wherever the parent's result carries it (a Supervisor's fields, a Chain's
    record), so the parent's result, status, run page and CSVs show the decisions.
    The parent is reviewed once every nested run's review and its own are done;
    then its own parent in turn."""
    from review.models import ReviewItem

    if not child.parent_step_id:
        return
    settled = {f["key"]: f for f in (child.result or {}).get("findings", []) if isinstance(f, dict) and "key" in f}
    with transaction.atomic():
        step = Step.objects.select_for_update().get(pk=child.parent_step_id)
        if step.status != Step.Status.SUCCEEDED:
            return
        Step.objects.filter(pk=step.pk).update(output=child.result)
        parent = Run.objects.select_for_update().get(pk=step.run_id)
        if parent.status not in (Run.Status.NEEDS_REVIEW, Run.Status.DONE, Run.Status.REVIEWED):
            return  # still running (its next advance reads the new output) or failed
        parent.result = _swap_findings(parent.result, settled)
        pending = _children_in_review(parent) or any(
            item.status != ReviewItem.Status.RESOLVED for item in parent.review_items.all()
        )
        parent.status = Run.Status.NEEDS_REVIEW if pending else Run.Status.REVIEWED
        parent.save(update_fields=["result", "status"])
    if not pending:
        fold_back_review(parent)


def _swap_findings(value: Any, settled: dict[str, dict]) -> Any:
    if isinstance(value, dict):
        return {key: _swap_findings(item, settled) for key, item in value.items()}
    if isinstance(value, list):
        return [
            settled[item["key"]]
            if isinstance(item, dict) and item.get("key") in settled and "evidence" in item
            else _swap_findings(item, settled)
            for item in value
        ]
    return value


def critical_path_ms(steps) -> int:
    """Waves run one after another and the steps of a wave side by side, so the
    fastest possible run is the sum over waves of each wave's slowest step."""
    slowest: dict[int, int] = {}
    for step in steps:
        slowest[step.wave] = max(slowest.get(step.wave, 0), step.latency_ms or 0)
    return sum(slowest.values())


# --- executing one step ------------------------------------------------------


def execute_step(step_id: int) -> None:
    """Run one step. Safe to deliver twice: only the delivery that moves the
    step from queued to running calls the model."""
    # Few joins (a wide one costs milliseconds to plan): the prompt and rubric
    # versions come from configcache. get(), not first(): no ORDER BY to compile.
    try:
        step = Step.objects.select_related("agent", "run__document").get(pk=step_id, agent__isnull=False)
    except Step.DoesNotExist:
        return
    with jobs.step_context(step.run_id, step.pk):  # every line logged from here names the run and step
        _execute(step)


def _execute(step: Step) -> None:
    if step.status != Step.Status.QUEUED:
        if step.is_finished:
            advance(step.run_id)  # a re-delivery after the step finished: make sure the run moved on
        return
    try:
        request = build_request(step)
    except ProviderError as error:
        if _claim(step, None):
            _fail(step, str(error))
            _settle(step)
        return
    if step.run.batch_mode and step.agent.provider_name() == "anthropic":
        # Saved with its request for batches.submit_pending; the batch's result settles it.
        if _claim(step, request, status=Step.Status.BATCHED):
            log.info("run=%s step=%s key=%s batched", step.run_id, step.pk, step.key)
        return
    # The provider's rate limit, shared by all workers: over it, the step goes back to
    # its queue with a delay instead of holding this worker.
    lease = limits.try_acquire(step.agent.provider_name(), request.model, limits.estimate_tokens(request),
                               lease_s=request.timeout_s + 30)  # fmt: skip
    if not isinstance(lease, limits.Lease):
        _defer(step, lease)
        return
    claimed = False
    try:
        claimed = _claim(step, request)
    finally:
        if not claimed:  # another delivery got there first, or the database is away
            lease.release()
    if not claimed:
        return
    log.info("run=%s step=%s key=%s starting", step.run_id, step.pk, step.key)
    step._lease, step._lease_fresh = lease, True
    try:
        _call_agent(step, request)
    except ClaimLost:
        log.warning("run=%s step=%s key=%s taken over by another execution; stopped", step.run_id, step.pk, step.key)
        return
    except ProviderError as error:
        _fail(step, str(error))
    except Exception as error:  # noqa: BLE001 - a bug must fail the step visibly, not strand the run
        log.exception("run=%s step=%s crashed", step.run_id, step.pk)
        _fail(step, f"Internal error: {error!r}")
    finally:
        step._lease.release()
    log.info("run=%s step=%s key=%s %s", step.run_id, step.pk, step.key, step.status)
    _settle(step)


def _defer(step: Step, wait_s: float) -> None:
    """Put a queued step back in its queue to run in `wait_s` (jittered, so the
    steps deferred together do not all come back at once), under a new job id."""
    delay = wait_s * random.uniform(1.0, 1.5)
    job_id = jobs.new_job_id()
    if Step.objects.filter(pk=step.pk, status=Step.Status.QUEUED, job_id=step.job_id).update(job_id=job_id):
        log.info("run=%s step=%s key=%s over its rate limit; back in %.1fs", step.run_id, step.pk, step.key, delay)
        jobs.enqueue_step(step.pk, job_id, step.agent.queue, step.agent.timeout_s, delay_s=delay)
        limits.count_deferral()


def _slot(step: Step, request: Request) -> None:
    """Hold a rate-limit slot for the next provider call: the first call uses the
    one taken before the claim; a retry or corrective call takes a new one,
    waiting in the worker (it holds the step now) at most the retry-after cap a time."""
    if getattr(step, "_lease_fresh", False):
        step._lease_fresh = False
        return
    if hasattr(step, "_lease"):
        step._lease.release()
    while True:
        got = limits.try_acquire(step.provider, request.model, limits.estimate_tokens(request), request.timeout_s + 30)
        if isinstance(got, limits.Lease):
            step._lease = got
            return
        sleep(min(got, float(settings.QUORUM_RETRY_AFTER_CAP_S)))


def _claim(step: Step, request: Request | None, status: str = Step.Status.RUNNING) -> bool:
    """Move the step from queued to running (or batched); True for the delivery
    that did. What is about to be asked is written in the same update, so a crash
    mid-call still leaves a trace of it."""
    step.status, step.started_at = status, timezone.now()
    _take_claim(step, uuid.uuid4().hex)
    step.worker = jobs.current_worker()
    fields = {"status": step.status, "started_at": step.started_at, "claim": step.claim, "worker": step.worker}
    if request is not None:
        step.request = _request_json(request)
        step.prompt_version = prompt_and_version(step.agent, step.prompt_kind)[1]
        rubric = _pipeline(step.run.pipeline_id).rubric
        step.rubric_version_id = rubric.active_id if rubric else None
        step.provider = step.agent.provider_name()
        step.model = request.model
        fields |= {name: getattr(step, name) for name in ("request", "prompt_version", "rubric_version_id", "provider")}
        fields["model"] = step.model
    return bool(Step.objects.filter(pk=step.pk, status=Step.Status.QUEUED).update(**fields))


def _settle(step: Step) -> bool:
    """Save the step's outcome and advance its run in one transaction: one durable
    write per step instead of two. Only the execution holding the step's claim
    saves; a duplicate's call is kept as a discarded attempt. Should advancing
    fail, the outcome is still kept (the model is never called again for a call
    already made) and keeprunsmoving re-advances the run. True if this one saved."""
    before = (list(step.attempts), {name: getattr(step, name) for name in _USAGE}, dict(step._fence))
    try:
        with transaction.atomic():
            if not _save_fenced(step, _OUTCOME_FIELDS):
                log.warning("run=%s step=%s key=%s: another execution holds the step; result discarded",
                            step.run_id, step.pk, step.key)  # fmt: skip
                return False
            advance(step.run_id)
        return True
    except Exception:
        # The transaction rolled back: save again from what the step held before it.
        step.attempts, usage, step._fence = before
        for name, value in usage.items():
            setattr(step, name, value)
        _save_fenced(step, _OUTCOME_FIELDS)
        raise


# What a call changes on its step (the request was written when it was claimed).
_OUTCOME_FIELDS = [
    "status", "error", "output", "raw_response", "validation_errors", "price", "latency_ms", "model", "finished_at",
]  # fmt: skip
# Added to what the row holds, never overwritten: a discarded call's cost is kept too.
_USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost")


class ClaimLost(Exception):
    """This execution no longer holds its step (the reaper gave it to another job)."""


def _take_claim(step: Step, token: str) -> None:
    """Remember what the step held when this execution claimed it: _save_fenced
    adds only what this execution did on top of the row."""
    step.claim = token
    step._fence = {"flushed": len(step.attempts), **{name: getattr(step, name) for name in _USAGE}}


def _save_fenced(step: Step, fields: list[str]) -> bool:
    """Fencing: save `fields` only if this execution still holds the step's claim
    (a conditional update under the row lock). Its attempts and usage are added
    to the row's either way; a loser's attempts are marked discarded, with their
    cost, and it overwrites nothing else. True if this execution holds the claim."""
    fence = step._fence
    if step.claim and _save_held(step, fields):
        return True
    mine = step.attempts[fence["flushed"] :]
    delta = {name: getattr(step, name) - fence[name] for name in _USAGE}
    with transaction.atomic(savepoint=False):
        row = Step.objects.select_for_update().only("claim", "attempts", *_USAGE).get(pk=step.pk)
        held = bool(step.claim) and row.claim == step.claim
        if not held:
            note = f"discarded: another execution holds this step (this call cost {delta['cost']})"
            mine = [{**attempt, "discarded": True, "note": note} for attempt in mine]
        attempts = [{**attempt, "number": number} for number, attempt in enumerate([*row.attempts, *mine], 1)]
        values = {"attempts": attempts, **{name: getattr(row, name) + delta[name] for name in _USAGE}}
        if held:
            values |= {name: getattr(step, name) for name in fields}
        Step.objects.filter(pk=step.pk).update(**values)
    step.attempts = attempts
    for name in _USAGE:
        setattr(step, name, values[name])
    step._fence = {"flushed": len(attempts), **{name: values[name] for name in _USAGE}}
    return held


def _save_held(step: Step, fields: list[str]) -> bool:
    """The usual case of _save_fenced in one conditional update: this execution
    still holds the claim and the row's trace is still what it flushed (nobody
    recorded a lost job or a discarded call on it since), so the row becomes what
    `step` holds. False, with nothing written, when either changed."""
    flushed = Func(F("attempts"), function="jsonb_array_length", output_field=IntegerField())
    values = {name: getattr(step, name) for name in ("attempts", *_USAGE, *fields)}
    held = Step.objects.alias(flushed=flushed).filter(pk=step.pk, claim=step.claim, flushed=step._fence["flushed"])
    if not held.update(**values):
        return False
    step._fence = {"flushed": len(step.attempts), **{name: getattr(step, name) for name in _USAGE}}
    return True


def prompt_and_version(agent: Agent, kind: str) -> tuple[Prompt, PromptVersion | None]:
    """The prompt a step of this kind renders and its active version."""

    def load() -> tuple[Prompt, PromptVersion | None]:
        prompt = agent.prompt_for(kind)
        return prompt, prompt.active

    return configcache.cached(("prompt", agent.pk, agent.prompt_id, agent.rebuttal_prompt_id, kind), load)


def build_request(step: Step) -> Request:
    agent: Agent = step.agent
    prompt, version = prompt_and_version(agent, step.prompt_kind)
    if version is None:
        raise PermanentError(f"Prompt {prompt.slug} has no active version")
    document = step.run.document
    inputs = {
        "document": document.text,
        "document_info": {
            "name": document.original_name,
            "kind": document.kind,
            "page_count": document.page_count,
            "text_source": document.text_source or "text",
            "ocr_confidence": document.ocr_confidence,
        },  # fmt: skip
        **step.inputs,
    }
    if agent.uses_knowledge:
        inputs["knowledge"] = [entry.as_input() for entry in KnowledgeEntry.objects.all()]
    # The document (and rubric) first, as context every agent of the run shares.
    context, template = stable_layout(version.template, inputs)
    return Request(
        system=version.system,
        messages=[{"role": "user", "content": render(template, inputs) + document.prompt_note()}],
        context=context,
        cache_context=bool(context) and _context_read_again(step),
        model=agent.model,
        output_schema=agent.output_schema,
        max_tokens=agent.max_tokens,
        temperature=agent.temperature,
        timeout_s=agent.timeout_s,
        role=agent.role,
        profile=agent.profile,
        inputs=inputs,
    )


def _context_read_again(step: Step) -> bool:
    """Whether this step's document is read again on the same model within the
    run: by another agent of the pipeline on that model, or by this agent's
    rebuttals. Only then does caching it pay for the dearer cache write."""
    agent = step.agent
    if agent.rebuttal_prompt_id or step.prompt_kind == Step.PromptKind.REBUTTAL:
        return True
    return any(
        slot.agent and slot.agent_id != agent.pk and slot.agent.model == agent.model
        for slot in _slots(step.run.pipeline_id).values()
    )


def render(template: str, inputs: dict[str, Any]) -> str:
    """Fill {name} placeholders. Unknown names and other braces are left alone,
    so prompts may contain JSON examples."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in inputs:
            return match.group(0)
        item = inputs[name]
        return item if isinstance(item, str) else json.dumps(item, indent=2, ensure_ascii=False)

    return re.sub(r"\{(\w+)\}", value, template)


def _call_agent(step: Step, request: Request) -> None:
    """Call the model, check the reply against the schema (one corrective retry),
    and set the outcome on `step`; the caller saves it."""
    provider = get_provider(step.provider)
    completion = _complete_with_retries(step, provider, request)
    errors = output_errors(completion.output, request.output_schema)
    if errors:
        # One corrective retry that shows the model what was wrong.
        step.validation_errors = errors
        corrective = Request(
            **{
                **request.__dict__,
                "messages": [
                    *request.messages,
                    {"role": "assistant", "content": completion.raw_text or "(empty reply)"},
                    {
                        "role": "user",
                        "content": "Your reply did not match the required JSON schema:\n- "
                        + "\n- ".join(errors)
                        + "\nReply again with only the corrected JSON.",
                    },
                ],
            }
        )
        completion = _complete_with_retries(step, provider, corrective)
        errors = output_errors(completion.output, request.output_schema)
        if errors:
            step.validation_errors = step.validation_errors + errors
            step.raw_response = completion.raw_text
            raise PermanentError("Output still invalid after a corrective retry: " + "; ".join(errors))

    step.output = completion.output
    step.raw_response = completion.raw_text
    step.status = Step.Status.SUCCEEDED
    step.finished_at = timezone.now()


def _complete_with_retries(step: Step, provider, request: Request) -> Completion:
    """Call the provider, retrying transient errors (429, 529, timeouts) with jittered
    exponential backoff. The budget counts only this call's provider attempts: a
    lost job recorded on the step uses none of it."""
    max_attempts = settings.QUORUM_STEP_MAX_ATTEMPTS
    number = 0
    while True:
        number += 1
        _slot(step, request)
        started = monotonic()
        try:
            completion = provider.complete(request)
        except ProviderError as error:
            latency = int((monotonic() - started) * 1000)
            step.record_attempt(latency, error)
            step.latency_ms = (step.latency_ms or 0) + latency
            if not _save_fenced(step, ["latency_ms"]):
                raise ClaimLost() from error
            if not isinstance(error, TransientError) or number >= max_attempts:
                raise
            sleep(backoff_s(number, error.retry_after))
            continue
        step.record_attempt(completion.latency_ms)
        _add_usage(step, completion)
        return completion


def backoff_s(number: int, retry_after: float | None = None) -> float:
    """The wait before retry `number`+1: the provider's retry-after when it gave one,
    else 1, 2, 4 ... seconds with full jitter (so workers hit by one 429 burst do not
    retry in step); never more than QUORUM_RETRY_AFTER_CAP_S."""
    cap = float(settings.QUORUM_RETRY_AFTER_CAP_S)
    if retry_after is not None:  # retry-after: 0 means "now", not "back off"
        return min(float(retry_after), cap)
    return min(cap, random.uniform(0.5, 1.0) * 2 ** (number - 1))


def _add_usage(step: Step, completion: Completion, *, batch: bool = False) -> None:
    usage = completion.usage
    step.input_tokens += usage.input_tokens
    step.output_tokens += usage.output_tokens
    # One column for both caches' writes; the cost below tells their rates apart.
    step.cache_write_tokens += usage.cache_write_tokens + usage.cache_write_1h_tokens
    step.cache_read_tokens += usage.cache_read_tokens
    step.latency_ms = (step.latency_ms or 0) + completion.latency_ms
    price = ModelPrice.price_for(completion.model)
    if price is not None:
        step.cost += price.cost(usage, batch=batch)
        step.price = {"model": completion.model, **price.as_record(), "batch": batch}
    elif not getattr(get_provider(step.provider or "offline"), "is_stand_in", False):
        # Validation refuses unpriced models, but a reply may name another (a new
        # dated id): its cost is unknown, not zero, and the step and the spend page say so.
        step.price = {"model": completion.model, "unpriced": True, "batch": batch}
        log.warning("run=%s step=%s model %s has no price: cost not counted", step.run_id, step.pk, completion.model)
    step.model = completion.model


def finish_batched_step(step: Step, outcome: Completion | ProviderError) -> bool:
    """Settle a batched step with what its Message Batch returned, priced at the
    batch discount, and advance its run. Output that does not match the agent's
    schema fails the step: batch mode makes no corrective retry, which would cost
    another batch round trip of up to a day. False if another poll settled it first."""
    token = uuid.uuid4().hex
    if not Step.objects.filter(pk=step.pk, status=Step.Status.BATCHED).update(status=Step.Status.RUNNING, claim=token):
        return False
    _take_claim(step, token)
    # The wait for the batch is the step's latency: what the run's critical path is made of.
    waited = int((timezone.now() - step.started_at).total_seconds() * 1000) if step.started_at else 0
    with jobs.step_context(step.run_id, step.pk):
        if isinstance(outcome, ProviderError):
            step.record_attempt(waited, outcome)
            step.latency_ms = waited
            _fail(step, str(outcome))
        else:
            step.record_attempt(waited)
            _add_usage(step, outcome, batch=True)
            step.latency_ms = waited
            step.raw_response = outcome.raw_text
            errors = output_errors(outcome.output, (step.request or {}).get("output_schema"))
            if errors:
                step.validation_errors = errors
                _fail(step, "Output invalid (batch mode makes no corrective retry): " + "; ".join(errors))
            else:
                step.output = outcome.output
                step.status = Step.Status.SUCCEEDED
                step.finished_at = timezone.now()
        log.info("run=%s step=%s key=%s %s from batch", step.run_id, step.pk, step.key, step.status)
        _settle(step)
    return True


def _fail(step: Step, error: str) -> None:
    step.status = Step.Status.FAILED
    step.error = error
    step.finished_at = timezone.now()


def _fail_step(step: Step, error: str) -> None:
    _fail(step, error)
    step.save()


def _request_json(request: Request) -> dict[str, Any]:
    return {
        "system": request.system,
        "messages": request.messages,
        "model": request.model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "output_schema": request.output_schema,
        "context": list(request.context),
        "cache_context": request.cache_context,
    }


# --- recovering lost steps ---------------------------------------------------

# What requeue_stuck reads of each queued or running step.
_REAPED_BY = ("run_id", "status", "job_id", "queued_at", "started_at", "worker")


class LostJob(Exception):
    """A step's RQ job that will never finish it (recorded as an attempt, never raised)."""


def requeue_stuck(now=None) -> list[Step]:
    """Re-enqueue steps whose job was lost (jobs.is_lost: the job is gone from Redis,
    or the process running it stopped its heartbeat), never steps only waiting in
    a queue. A step lost QUORUM_STEP_MAX_LOSSES times fails, so a poisoned step
    cannot loop forever."""
    now = now or timezone.now()
    requeued = []
    # A step whose slot holds a pipeline has no job: its child run's steps are reaped instead.
    active = Step.objects.filter(status__in=[Step.Status.QUEUED, Step.Status.RUNNING], agent__isnull=False)
    # Only what telling a lost job costs: a backlog's steps are read by thousands each
    # pass, and a lost one's attempts are loaded when it is requeued.
    active = active.select_related("agent").only(*_REAPED_BY, "agent__queue", "agent__timeout_s")
    waiting = jobs.waiting_jobs()  # before the steps: a step queued after it is looked at job by job
    for step in active.iterator(chunk_size=2000):
        if not jobs.is_lost(step, now, waiting):
            continue
        lost = sum(attempt.get("error_class") == LostJob.__name__ for attempt in step.attempts) + 1
        where = f" on worker {step.worker}" if step.status == Step.Status.RUNNING and step.worker else ""
        step.record_attempt(0, LostJob(f"job lost while {step.status}{where}; requeued"), at=now)
        attempts = step.attempts
        limit = settings.QUORUM_STEP_MAX_LOSSES
        if lost >= limit:
            Step.objects.filter(pk=step.pk, status=step.status, job_id=step.job_id).update(
                status=Step.Status.FAILED,
                attempts=attempts,
                finished_at=now,
                claim="",
                error=f"The step's job was lost {limit} times.",
            )
            advance(step.run_id)
            continue
        job_id = jobs.new_job_id()
        with transaction.atomic():
            # Clearing the claim fences off the lost execution should it still be alive.
            updated = Step.objects.filter(pk=step.pk, status=step.status, job_id=step.job_id).update(
                status=Step.Status.QUEUED, job_id=job_id, queued_at=now, started_at=None, attempts=attempts,
                claim="", worker="",
            )  # fmt: skip
            if updated:
                step.job_id, step.status = job_id, Step.Status.QUEUED
                jobs.enqueue_step_on_commit(step, at_front=True)
                requeued.append(step)
    return requeued
