"""Patterns are deciders: plain functions from a run's persisted state to what
should happen next. They touch no database and no queue, so they are tested as
plain functions; the engine does the I/O.

    decide(context, steps) -> Outcome
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# How deep pipelines may nest (a slot holding a pipeline whose slot holds another...):
# the engine fails a step that would go deeper, the estimator stops counting there,
# and a pipeline held deeper than this is treated as a cycle.
MAX_NESTING = 4


@dataclass(frozen=True)
class StepSpec:
    """A step the decider wants run: its key is unique within the run."""

    key: str
    slot: str
    inputs: dict[str, Any] = field(default_factory=dict)
    parent_key: str = ""
    # Which of the agent's prompts to render: "" (its main prompt) or "rebuttal".
    prompt: str = ""


@dataclass(frozen=True)
class StepState:
    """What the decider may know of a step already scheduled."""

    key: str
    status: str  # queued | running | succeeded | failed
    output: Any = None
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def finished(self) -> bool:
        return self.succeeded or self.failed


@dataclass(frozen=True)
class RunContext:
    run_id: int
    rebuttal_rounds: int = 0
    audit_rate: float = 0.0
    criteria: list[dict[str, Any]] = field(default_factory=list)
    stand_in: bool = False
    # The pipeline's slot names in their configured order (the Supervisor's specialists,
    # the Chain's stages), and the input contract of each slot whose agent declares one.
    slots: list[str] = field(default_factory=list)
    input_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """Exactly one of: steps to schedule (possibly none: wait), a final result, an error.
    A result marks each finding a human must see with finding["review"] = {"reason": ...}."""

    planned: int
    schedule: list[StepSpec] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str = ""


Decider = Callable[[RunContext, dict[str, StepState]], Outcome]


def decider_for(pattern: str) -> Decider:
    from . import chain, debate, supervisor

    deciders: dict[str, Decider] = {"debate": debate.decide, "supervisor": supervisor.decide, "chain": chain.decide}
    try:
        return deciders[pattern]
    except KeyError:
        raise ValueError(f"The {pattern} pattern is not available yet") from None
