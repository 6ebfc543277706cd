"""Each pattern module owns its shape: the registry hands the engine, the estimator
and validation the same module, so a pattern is described in one place only."""

import subprocess
import sys

import pytest

from orchestrator import patterns
from orchestrator.patterns import Call, chain, debate, supervisor

WELL_FORMED = {
    "debate": [debate.SLOT_A, debate.SLOT_B, debate.SLOT_JUDGE],
    "supervisor": [supervisor.COORDINATOR, supervisor.SPECIALIST + "financial", supervisor.ASSEMBLY],
    "chain": ["stage:1:extract", "stage:2:normalize"],
}


@pytest.mark.parametrize("name", sorted(patterns.PATTERNS))
def test_every_pattern_decides_estimates_and_validates(name):
    module = patterns.pattern(name)
    assert patterns.decider_for(name) is module.decide
    assert module.slot_problems(WELL_FORMED[name]) == []
    assert module.slot_problems([]) != []
    calls = [call for wave in module.waves(WELL_FORMED[name]) for call in wave]
    assert {call.slot for call in calls} == set(WELL_FORMED[name])
    assert isinstance(module.WAVES_NOTE, str)


def test_an_unknown_pattern_is_refused():
    with pytest.raises(ValueError, match="not available"):
        patterns.decider_for("round-robin")


def test_debate_waves_follow_the_rebuttal_rounds():
    waves = debate.waves(WELL_FORMED["debate"], rebuttal_rounds=2)
    assert len(waves) == 4
    assert waves[1] == waves[2] == [Call(debate.SLOT_A, debate.REBUTTAL), Call(debate.SLOT_B, debate.REBUTTAL)]


def test_chain_waves_are_what_the_chain_runs():
    """A shadow runs beside its stage; a shadow of a stage that does not exist never runs."""
    slots = ["stage:2:normalize", "shadow:2:normalize", "stage:1:extract", "shadow:7:orphan"]
    assert chain.waves(slots) == [
        [Call("stage:1:extract")],
        [Call("stage:2:normalize"), Call("shadow:2:normalize")],
    ]


def test_patterns_load_without_django():
    """Deciders are plain functions: importing them loads no Django and no database driver."""
    code = (
        "import sys, orchestrator.patterns; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('django', 'psycopg')]; "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
