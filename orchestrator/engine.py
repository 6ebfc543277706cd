"""The generic scheduler. The database is the source of truth; RQ only
carries "run step N".

- start_run(): create a run and let its pattern schedule the first steps.
- execute_step(): the RQ job's body: call the model for one step, validate,
  persist, then advance().
- advance(): under a lock on the run row, ask the pattern what comes next and
  schedule it, or store the final result and route review items.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from jsonschema import Draft202012Validator

from review.routing import open_review_items

from . import jobs
from .llm import Completion, PermanentError, ProviderError, Request, TransientError, get_provider
from .models import Agent, ModelPrice, Pipeline, Run, Step
from .patterns import Outcome, RunContext, StepState, decider_for

log = logging.getLogger(__name__)


def start_run(document, pipeline: Pipeline, user=None) -> Run:
    with transaction.atomic():
        run = Run.objects.create(document=document, pipeline=pipeline, created_by=user)
        advance(run.pk)
    run.refresh_from_db()
    return run


def advance(run_id: int) -> None:
    """Decide and schedule what comes next. The row lock makes fan-in race-free:
    when two steps finish at once, exactly one of them schedules the next wave."""
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("pipeline", "document").get(pk=run_id)
        if run.is_finished:
            return
        steps = {step.key: step for step in run.steps.all()}
        states = {key: StepState(key, step.status, step.output, step.error) for key, step in steps.items()}
        try:
            outcome = decider_for(run.pipeline.pattern)(context_for(run), states)
        except (KeyError, TypeError, ValueError) as error:
            # A decider that cannot read the outputs it was given is a failed run, not a stuck one.
            outcome = Outcome(run.steps_planned, error=f"The {run.pipeline.pattern} pattern could not go on: {error!r}")
        run.steps_planned = max(outcome.planned, len(steps))
        run.steps_done = sum(step.is_finished for step in steps.values())
        if run.started_at is None:
            run.started_at = timezone.now()
        if outcome.error:
            _finish(run, steps, status=Run.Status.FAILED, error=outcome.error)
        elif outcome.result is not None:
            _finish(run, steps, outcome=outcome)
        else:
            run.status = Run.Status.RUNNING if steps or outcome.schedule else run.status
            _schedule(run, outcome, wave=1 + max((step.wave for step in steps.values()), default=0))
            run.save()


def context_for(run: Run) -> RunContext:
    pipeline = run.pipeline
    criteria = pipeline.rubric.active.criteria if pipeline.rubric and pipeline.rubric.active else []
    return RunContext(
        run_id=run.pk,
        rebuttal_rounds=pipeline.rebuttal_rounds,
        audit_rate=float(pipeline.audit_rate),
        criteria=criteria,
        stand_in=pipeline.uses_stand_in(),
    )


def _schedule(run: Run, outcome: Outcome, wave: int) -> None:
    if not outcome.schedule:
        return
    agents = {slot.name: slot.agent for slot in run.pipeline.slots.select_related("agent")}
    for spec in outcome.schedule:
        agent = agents.get(spec.slot)
        if agent is None:
            raise ValueError(f"Pipeline {run.pipeline.slug} has no agent in slot {spec.slot!r}")
        step, created = Step.objects.get_or_create(
            run=run,
            key=spec.key,
            defaults={
                "slot": spec.slot,
                "agent": agent,
                "inputs": spec.inputs,
                "parent_key": spec.parent_key,
                "wave": wave,
                "job_id": jobs.new_job_id(),
            },
        )
        if created:
            jobs.enqueue_step_on_commit(step)


def _finish(run: Run, steps: dict[str, Step], *, status: str = "", error: str = "", outcome: Outcome | None = None):
    totals = run.steps.aggregate(
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        cache_read_tokens=Sum("cache_read_tokens"),
        cache_write_tokens=Sum("cache_write_tokens"),
        cost=Sum("cost"),
    )
    for field, value in totals.items():
        setattr(run, field, value or 0)
    run.critical_path_ms = critical_path_ms(steps.values())
    run.finished_at = timezone.now()
    run.error = error
    if outcome is not None:
        run.result = outcome.result
        run.save()
        # The pattern marked the findings a human must see; file them in the inbox.
        status = Run.Status.NEEDS_REVIEW if open_review_items(run) else Run.Status.DONE
    run.status = status
    run.save()
    log.info("run=%s finished status=%s cost=%s", run.pk, run.status, run.cost)


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
    claimed = Step.objects.filter(pk=step_id, status=Step.Status.QUEUED).update(
        status=Step.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        step = Step.objects.filter(pk=step_id).only("status", "run_id").first()
        if step is not None and step.is_finished:
            advance(step.run_id)  # a re-delivery after the step finished: make sure the run moved on
        return

    step = Step.objects.select_related("agent__prompt__active", "run__document", "run__pipeline").get(pk=step_id)
    log.info("run=%s step=%s key=%s starting", step.run_id, step.pk, step.key)
    try:
        _call_agent(step)
    except ProviderError as error:
        _fail_step(step, str(error))
    except Exception as error:  # noqa: BLE001 - a bug must fail the step visibly, not strand the run
        log.exception("run=%s step=%s crashed", step.run_id, step.pk)
        _fail_step(step, f"Internal error: {error!r}")
    log.info("run=%s step=%s key=%s %s", step.run_id, step.pk, step.key, step.status)
    advance(step.run_id)


def build_request(step: Step) -> Request:
    agent: Agent = step.agent
    version = agent.prompt.active
    if version is None:
        raise PermanentError(f"Prompt {agent.prompt.slug} has no active version")
    inputs = {"document": step.run.document.text, **step.inputs}
    return Request(
        system=version.system,
        messages=[{"role": "user", "content": render(version.template, inputs)}],
        model=agent.model,
        output_schema=agent.output_schema,
        max_tokens=agent.max_tokens,
        temperature=agent.temperature,
        timeout_s=agent.timeout_s,
        role=agent.role,
        profile=agent.profile,
        inputs=inputs,
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


def _call_agent(step: Step) -> None:
    request = build_request(step)
    # Saved before the call, so a crash mid-call still leaves a trace of what was asked.
    step.request = _request_json(request)
    step.prompt_version = step.agent.prompt.active
    step.rubric_version = step.run.pipeline.rubric.active if step.run.pipeline.rubric else None
    step.provider = step.agent.provider_name()
    step.model = request.model
    step.save(update_fields=["request", "prompt_version", "rubric_version", "provider", "model"])

    provider = get_provider(step.provider)
    completion = _complete_with_retries(step, provider, request)
    errors = validation_errors(completion.output, request.output_schema)
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
        errors = validation_errors(completion.output, request.output_schema)
        if errors:
            step.validation_errors = step.validation_errors + errors
            step.raw_response = completion.raw_text
            raise PermanentError("Output still invalid after a corrective retry: " + "; ".join(errors))

    step.output = completion.output
    step.raw_response = completion.raw_text
    step.status = Step.Status.SUCCEEDED
    step.finished_at = timezone.now()
    step.save()


def _complete_with_retries(step: Step, provider, request: Request) -> Completion:
    max_attempts = settings.QUORUM_STEP_MAX_ATTEMPTS
    while True:
        number = len(step.attempts) + 1
        started = time.monotonic()
        try:
            completion = provider.complete(request)
        except ProviderError as error:
            latency = int((time.monotonic() - started) * 1000)
            step.attempts = [*step.attempts, _attempt(number, latency, error)]
            step.latency_ms = (step.latency_ms or 0) + latency
            step.save(update_fields=["attempts", "latency_ms"])
            if not isinstance(error, TransientError) or number >= max_attempts:
                raise
            time.sleep(min(error.retry_after or 2 ** (number - 1), 30))
            continue
        step.attempts = [*step.attempts, _attempt(number, completion.latency_ms)]
        _add_usage(step, completion)
        return completion


def _attempt(number: int, latency_ms: int, error: ProviderError | None = None) -> dict[str, Any]:
    return {
        "number": number,
        "at": timezone.now().isoformat(),
        "latency_ms": latency_ms,
        "error_class": type(error).__name__ if error else "",
        "error": str(error) if error else "",
    }


def _add_usage(step: Step, completion: Completion) -> None:
    usage = completion.usage
    step.input_tokens += usage.input_tokens
    step.output_tokens += usage.output_tokens
    step.cache_write_tokens += usage.cache_write_tokens
    step.cache_read_tokens += usage.cache_read_tokens
    step.latency_ms = (step.latency_ms or 0) + completion.latency_ms
    price = ModelPrice.objects.filter(model=completion.model).first()
    if price is not None:
        step.cost += price.cost(
            usage.input_tokens, usage.output_tokens, usage.cache_write_tokens, usage.cache_read_tokens
        )
    step.model = completion.model


def validation_errors(output: Any, schema: dict | None) -> list[str]:
    if output is None:
        return ["The reply was not valid JSON."]
    if not schema:
        return []
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(output), key=lambda e: list(e.absolute_path))
    ][:20]


def _fail_step(step: Step, error: str) -> None:
    step.status = Step.Status.FAILED
    step.error = error
    step.finished_at = timezone.now()
    step.save()


def _request_json(request: Request) -> dict[str, Any]:
    return {
        "system": request.system,
        "messages": request.messages,
        "model": request.model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "output_schema": request.output_schema,
    }


# --- recovering lost steps ---------------------------------------------------


def requeue_stuck(now=None) -> list[Step]:
    """Re-enqueue steps whose job was lost: the job is gone from Redis or failed
    (a killed worker), or the step has been running longer than its timeout.
    A step lost three times fails, so a poisoned step cannot loop forever."""
    now = now or timezone.now()
    requeued = []
    active = Step.objects.filter(status__in=[Step.Status.QUEUED, Step.Status.RUNNING]).select_related("agent")
    for step in active:
        if not jobs.is_lost(step, now):
            continue
        lost = sum(attempt.get("error_class") == "LostJob" for attempt in step.attempts) + 1
        attempts = [
            *step.attempts,
            {
                "number": len(step.attempts) + 1,
                "at": now.isoformat(),
                "latency_ms": 0,
                "error_class": "LostJob",
                "error": f"job lost while {step.status}; requeued",
            },
        ]
        if lost >= 3:
            Step.objects.filter(pk=step.pk, status=step.status).update(
                status=Step.Status.FAILED, attempts=attempts, finished_at=now, error="The step's job was lost 3 times."
            )
            advance(step.run_id)
            continue
        job_id = jobs.new_job_id()
        with transaction.atomic():
            updated = Step.objects.filter(pk=step.pk, status=step.status, job_id=step.job_id).update(
                status=Step.Status.QUEUED, job_id=job_id, queued_at=now, started_at=None, attempts=attempts
            )
            if updated:
                step.job_id, step.status = job_id, Step.Status.QUEUED
                jobs.enqueue_step_on_commit(step)
                requeued.append(step)
    return requeued
