"""Patterns are deciders: plain functions from a run's persisted state to what
should happen next. They touch no database and no queue, so they are tested as
plain functions; the engine does the I/O.

Each pattern is one module (debate, chain, supervisor) that owns its shape and
answers every question asked of it:

    decide(context, steps) -> Outcome              what the engine runs next
    waves(slots, rebuttal_rounds) -> [[Call]]       the estimator's calls per document, wave by wave
    WAVES_NOTE                                      what the estimate must say of those waves ("" if nothing)
    slot_problems(slot_names) -> [str]              what validation and config import refuse

A fourth pattern is one new module with these three functions and one line in PATTERNS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

# How many levels of nested runs a top-level run may hold (a slot holding a
# pipeline whose slot holds a pipeline...): the engine fails a step that would
# nest deeper, validation refuses such a configuration, the estimator stops there.
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
    # The rubric version's routing policy (review.policy); empty: the default.
    policy: dict[str, Any] = field(default_factory=dict)
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


@dataclass(frozen=True)
class Call:
    """One model call a pattern makes for a document, as the estimator counts it:
    which slot, with which of its agent's prompts ("" or "rebuttal", as StepSpec.prompt)."""

    slot: str
    prompt: str = ""


Decider = Callable[[RunContext, dict[str, StepState]], Outcome]


def pattern(name: str) -> ModuleType:
    """The module of the pattern `name` (KeyError when there is none)."""
    return PATTERNS[name]


def decider_for(name: str) -> Decider:
    try:
        return pattern(name).decide
    except KeyError:
        raise ValueError(f"The {name} pattern is not available yet") from None


# Imported last: each pattern module imports the types above from this package.
from . import chain, debate, supervisor  # noqa: E402

# Pipeline.pattern -> the module that decides, estimates and validates it.
PATTERNS: dict[str, ModuleType] = {"debate": debate, "supervisor": supervisor, "chain": chain}
