"""Trace retention: raw requests, replies and attempts past a pipeline's retention
move to daily gzip'd archives; the step page reads them back when asked."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from orchestrator import engine
from orchestrator.models import Run, Step
from tests.test_engine import RENEWAL, script_a_debate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _archive_dir(settings, tmp_path):
    settings.ARCHIVE_DIR = tmp_path / "archive"


def an_agreed_debate(scripted, pipeline) -> None:
    """Both advocates find the renewal clause: nothing for a reviewer, the run is done."""
    pipeline.audit_rate = 0
    pipeline.save(update_fields=["audit_rate"])
    scripted.take_over_pipeline(pipeline)
    scripted.enqueue("advocate:thorough", [{"findings": [RENEWAL]}])
    scripted.enqueue("advocate:strict", [{"findings": [RENEWAL]}])
    scripted.enqueue("judge", [{"verdicts": []}])


def age(run: Run, days: int) -> None:
    """As if the run had finished `days` ago."""
    then = timezone.now() - timedelta(days=days)
    run.steps.update(finished_at=then)
    Run.objects.filter(pk=run.pk).update(finished_at=then)


def test_an_archived_step_is_read_back_on_the_step_page(make_document, debate_pipeline, scripted, run_jobs,
                                                       client_for, analyst, settings):  # fmt: skip
    an_agreed_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.DONE
    step = run.steps.get(key="advocate:a")
    system = step.request["system"]
    output, cost, tokens, findings = step.output, step.cost, step.input_tokens, run.result["findings"]
    debate_pipeline.trace_retention_days = 30
    debate_pipeline.save(update_fields=["trace_retention_days"])

    age(run, 10)  # within the retention: kept
    call_command("archivetraces")
    assert Step.objects.get(pk=step.pk).request is not None

    age(run, 40)
    call_command("archivetraces")
    step.refresh_from_db()
    assert (step.request, step.raw_response, step.attempts) == (None, "", [])
    assert step.archived_on is not None
    assert (step.output, step.cost, step.input_tokens) == (output, cost, tokens)
    run.refresh_from_db()
    assert run.result["findings"] == findings
    assert list(settings.ARCHIVE_DIR.glob("steps-*.jsonl.gz"))

    client = client_for(analyst)
    page = client.get(step_url := f"/runs/{run.pk}/steps/{step.pk}/").content.decode()
    assert "Show archived request" in page
    assert system[:60] not in page
    page = client.get(step_url + "?archived=1").content.decode()
    assert "read back from the archive" in page
    assert system[:60].replace("'", "&#x27;") in page
    # Still cleared in the database: reading it back does not restore the row.
    assert Step.objects.get(pk=step.pk).request is None


def test_a_run_under_review_is_not_archived(make_document, debate_pipeline, scripted, run_jobs):
    script_a_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.NEEDS_REVIEW
    debate_pipeline.trace_retention_days = 1
    debate_pipeline.save(update_fields=["trace_retention_days"])
    age(run, 40)

    with pytest.raises(CommandError, match="under review"):
        call_command("archivetraces", "--run", str(run.pk))
    call_command("archivetraces")  # the daily sweep leaves it too
    assert not run.steps.filter(request__isnull=True).exists()
    assert not run.steps.exclude(archived_on=None).exists()


def test_the_reaper_archives_once_a_day(make_document, debate_pipeline, scripted, run_jobs, capsys):
    an_agreed_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    debate_pipeline.trace_retention_days = 7
    debate_pipeline.save(update_fields=["trace_retention_days"])
    age(run, 8)
    call_command("keeprunsmoving")
    assert "archived the raw traces of 3 step(s)" in capsys.readouterr().out
    assert run.steps.filter(archived_on=None).count() == 0
