"""Worker log lines carry the run and the step."""

import logging

import pytest

from orchestrator import engine
from orchestrator.jobs import StepFilter

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_line_logged_during_a_step_names_its_run_and_step(make_document, debate_pipeline, queues, caplog):
    run = engine.start_run(make_document(), debate_pipeline)
    step = run.steps.get(key="advocate:a")
    caplog.handler.addFilter(StepFilter())
    with caplog.at_level(logging.INFO):
        engine.execute_step(step.pk)
    records = [record for record in caplog.records if record.name == "orchestrator.engine"]
    assert records, "the engine logged nothing"
    assert {(record.run, record.step) for record in records} == {(run.pk, step.pk)}
