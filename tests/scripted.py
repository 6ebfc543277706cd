"""A scripted model for engine and pattern tests, after the mock model of
simonw/llm: a test enqueues the replies each agent will give, runs the steps,
and reads back what each agent was asked (`history`). Steps then return what
the test says, not what the offline rules happen to find in a document.

An agent's replies are named by its role, or by "role:profile" where agents of
one role differ ("advocate:thorough", "stage:normalize"); the role:profile queue
is read first, then the role's. A reply is the parsed JSON the model returns
(a dict or list), a str (the raw text, JSON or not) or a ProviderError to raise.

The script lives in Redis, not in memory, so a step run by an RQ worker in
another process (the `worker` fixture) reads the same replies as one run by an
in-process burst worker; ScriptedWorker registers the provider in such a process.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import django_rq
from rq.worker import SimpleWorker

from orchestrator import configcache
from orchestrator.llm import PROVIDERS, Completion, PermanentError, ProviderError, Request, TransientError, Usage

NAME = "scripted"
_PREFIX = "quorum:test:scripted:"
_HISTORY = _PREFIX + "history"


def register() -> None:
    PROVIDERS[NAME] = "tests.scripted.ScriptedProvider"


class ScriptedProvider:
    name = NAME
    is_stand_in = False
    supports_schema = True

    # In-process only: held replies wait here until as many calls are in flight
    # (Script.release_together), so two steps finish at the same moment.
    barrier: threading.Barrier | None = None

    def complete(self, request: Request) -> Completion:
        agent = f"{request.role}:{request.profile}" if request.profile else request.role
        redis = _redis()
        redis.rpush(_HISTORY, json.dumps({"agent": agent, **dataclasses.asdict(request)}))
        raw = redis.lpop(_PREFIX + agent) or redis.lpop(_PREFIX + request.role)
        if raw is None:
            raise PermanentError(f"Nothing scripted for {agent}")
        reply = json.loads(raw)
        if ScriptedProvider.barrier is not None:
            ScriptedProvider.barrier.wait(timeout=60)
        if "error" in reply:
            error = reply["error"]
            if error["transient"]:
                raise TransientError(error["message"], retry_after=error["retry_after"])
            raise PermanentError(error["message"])
        if "text" in reply:
            text = reply["text"]
            try:
                output = json.loads(text)
            except ValueError:
                output = None
        else:
            output, text = reply["output"], json.dumps(reply["output"])
        return Completion(
            output=output,
            raw_text=text,
            usage=Usage(input_tokens=reply["input_tokens"], output_tokens=reply["output_tokens"]),
            latency_ms=reply["latency_ms"],
            model=request.model,
        )


class ScriptedWorker(SimpleWorker):
    """An RQ SimpleWorker that knows the scripted provider, for workers started
    as their own process (`--worker-class tests.scripted.ScriptedWorker`)."""

    def __init__(self, *args, **kwargs):
        register()
        super().__init__(*args, **kwargs)


class Script:
    """A test's handle on the scripted model."""

    def enqueue(
        self, agent: str, replies: list[Any], *, input_tokens: int = 100, output_tokens: int = 50, latency_ms: int = 10
    ) -> None:
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "latency_ms": latency_ms}
        _redis().rpush(_PREFIX + agent, *(json.dumps({**_reply(reply), **usage}) for reply in replies))

    def history(self, agent: str | None = None) -> list[dict[str, Any]]:
        """The requests received, oldest first (Request's fields plus "agent")."""
        requests = [json.loads(raw) for raw in _redis().lrange(_HISTORY, 0, -1)]
        return [request for request in requests if agent is None or request["agent"] == agent]

    def take_over(self, agents) -> None:
        """Make these agents (a queryset) answer from the script."""
        agents.update(provider=NAME)
        configcache.changed()  # a bulk update sends no signal

    def take_over_pipeline(self, pipeline) -> None:
        """Every agent of `pipeline`, and of the pipelines its slots hold, answers from the script."""
        from orchestrator.models import Agent

        held, found = {pipeline.pk}, {pipeline.pk}
        while found:
            found = set(pipeline.__class__.objects.filter(held_by__pipeline__in=found).values_list("pk", flat=True))
            found -= held
            held |= found
        self.take_over(Agent.objects.filter(pipelineslot__pipeline__in=held))

    def release_together(self, calls: int) -> threading.Barrier:
        """Hold each reply until `calls` calls are in flight, then let them all return."""
        ScriptedProvider.barrier = threading.Barrier(calls)
        return ScriptedProvider.barrier

    def clear(self) -> None:
        redis = _redis()
        keys = list(redis.scan_iter(_PREFIX + "*"))
        if keys:
            redis.delete(*keys)
        ScriptedProvider.barrier = None


def _reply(reply: Any) -> dict[str, Any]:
    if isinstance(reply, ProviderError):
        transient = isinstance(reply, TransientError)
        retry_after = reply.retry_after if transient else None
        return {"error": {"transient": transient, "message": str(reply), "retry_after": retry_after}}
    if isinstance(reply, str):
        return {"text": reply}
    return {"output": reply}


_CONNECTION = []


def _redis():
    # One client per process: django_rq.get_connection opens a new socket each call.
    if not _CONNECTION:
        _CONNECTION.append(django_rq.get_connection("default"))
    return _CONNECTION[0]
