"""Batch mode: the steps of runs started with batch_mode go to Anthropic's
Message Batches API (half the price, results within 24 hours). keeprunsmoving
calls submit_pending() and poll() on every tick."""

from __future__ import annotations

import logging
import time
import uuid

from django.db.models import Q

from orchestrator import engine
from orchestrator.llm import PermanentError, ProviderError, Request, TransientError
from orchestrator.llm import anthropic as claude
from orchestrator.models import Step

log = logging.getLogger(__name__)

# Marks steps one submit_pending() has taken while its batch is being created, so
# a second loop running at the same time does not send them again.
_SUBMITTING = "submitting-"


def submit_pending() -> int:
    """Send every batched step not yet in a batch as one new Message Batch; how
    many steps went. A transient failure leaves them for the next tick; a request
    the API refuses fails them."""
    # The time in the token lets recover_submitting() tell a stranded mark from a live one.
    token = f"{_SUBMITTING}{int(time.time())}-{uuid.uuid4().hex}"
    if not Step.objects.filter(status=Step.Status.BATCHED, batch_id="").update(batch_id=token):
        return 0
    steps = list(Step.objects.filter(status=Step.Status.BATCHED, batch_id=token))
    try:
        batch_id = claude.submit_batch({_custom_id(step): _request(step) for step in steps})
    except TransientError as error:
        log.warning("batch of %s step(s) not submitted, will retry: %s", len(steps), error)
        Step.objects.filter(batch_id=token).update(batch_id="")
        return 0
    except ProviderError as error:
        for step in steps:
            engine.finish_batched_step(step, error)
        return 0
    Step.objects.filter(batch_id=token).update(batch_id=batch_id)
    log.info("submitted batch %s with %s step(s)", batch_id, len(steps))
    return len(steps)


def recover_submitting(older_than_s: int = 15 * 60) -> int:
    """Put back to pending the steps marked "submitting-…" by a submit_pending()
    that died before it stored its batch id (marks older than `older_than_s`; a
    live submit takes seconds). How many steps. Should that batch have reached
    Anthropic, its steps are sent again: a second, discounted, call rather than
    a run stuck forever."""
    now = int(time.time())
    stranded = set()
    marks = Step.objects.filter(status=Step.Status.BATCHED, batch_id__startswith=_SUBMITTING)
    for mark in marks.order_by().values_list("batch_id", flat=True).distinct():
        stamp = mark[len(_SUBMITTING) :].split("-", 1)[0]
        # An old-style mark (no time in it) can only come from before this version: stranded.
        if not stamp.isdigit() or now - int(stamp) > older_than_s:
            stranded.add(mark)
    if not stranded:
        return 0
    recovered = Step.objects.filter(status=Step.Status.BATCHED, batch_id__in=stranded).update(batch_id="")
    log.warning("%s step(s) stranded while submitting a batch are pending again", recovered)
    return recovered


def poll() -> int:
    """Look at every open batch; for each that has ended, settle its steps with
    their results (which advances their runs). How many steps were settled."""
    open_batches = (
        Step.objects.filter(status=Step.Status.BATCHED)
        .exclude(Q(batch_id="") | Q(batch_id__startswith=_SUBMITTING))
        .order_by()  # Step's default ordering would make distinct() keep one row per step
        .values_list("batch_id", flat=True)
        .distinct()
    )
    settled = 0
    for batch_id in list(open_batches):
        try:
            results = claude.batch_results(batch_id)
        except TransientError as error:
            log.warning("batch %s not read, will retry: %s", batch_id, error)
            continue
        except ProviderError as error:
            results = {}
            missing: ProviderError = error
        else:
            if results is None:
                continue
            missing = PermanentError(f"Batch {batch_id} ended without a result for this step")
        for step in Step.objects.filter(status=Step.Status.BATCHED, batch_id=batch_id).select_related("agent"):
            settled += engine.finish_batched_step(step, results.get(_custom_id(step), missing))
    return settled


def _custom_id(step: Step) -> str:
    return f"step-{step.pk}"


def _request(step: Step) -> Request:
    """The request execute_step saved on the step, as the provider sends it."""
    sent = step.request
    return Request(
        system=sent["system"],
        messages=sent["messages"],
        model=sent["model"],
        output_schema=sent["output_schema"],
        max_tokens=sent["max_tokens"],
        temperature=sent["temperature"],
        context=tuple(sent.get("context") or ()),
        cache_context=bool(sent.get("cache_context")),
    )
