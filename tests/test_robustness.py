"""Nothing lost, nothing paid twice: loss detection by heartbeat (a backlog is never
a loss), fencing of duplicate executions, and the reaper that keeps runs moving.
Real PostgreSQL, Valkey and RQ worker processes."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal

import django_rq
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rq.job import Job, JobStatus

from orchestrator import engine, jobs
from orchestrator.models import Agent, ModelPrice, Run, Step
from tests.conftest import database_url
from tests.test_engine import script_a_debate

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, what: str, every: float = 0.2):
    """Poll until predicate() is truthy (no upper bound on time: a slow machine only waits longer)."""
    while not (value := predicate()):
        time.sleep(every)
    return value


@pytest.fixture
def slow_worker(queues):
    """A real RQ worker process whose offline model takes 120 s per call and whose
    steps heartbeat every second; killed with SIGKILL by the test."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "QUORUM_OFFLINE_LATENCY": "120",
        "QUORUM_STEP_HEARTBEAT_S": "1",
    }
    command = [sys.executable, "manage.py", "rqworker", *settings.RQ_QUEUE_NAMES,
               "--worker-class", "rq.worker.SimpleWorker"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_killed_worker_whose_job_still_reads_started_is_requeued_but_a_slow_live_call_never(
    make_document, debate_pipeline, slow_worker, settings
):
    settings.QUORUM_STEP_HEARTBEAT_S = 1
    run = engine.start_run(make_document(), debate_pipeline)
    running = wait_for(lambda: run.steps.filter(status=Step.Status.RUNNING).first(), "a running step")
    assert running.worker, "the step names the worker that runs it"
    wait_for(lambda: django_rq.get_connection().exists(jobs.alive_key(running.job_id)), "its heartbeat")

    # A live call, however slow: an hour later by the clock, still not lost.
    later = timezone.now() + timedelta(hours=1)
    assert running.pk not in {step.pk for step in engine.requeue_stuck(now=later)}
    assert Step.objects.get(pk=running.pk).job_id == running.job_id

    os.kill(slow_worker.pid, signal.SIGKILL)
    slow_worker.wait()
    job = Job.fetch(running.job_id, connection=django_rq.get_connection())
    assert job.get_status() == JobStatus.STARTED  # what RQ still says about the dead worker's job
    # Its heartbeat expires within 3 beats; then the reaper puts the step back in its queue.
    requeued = wait_for(lambda: [s for s in engine.requeue_stuck() if s.pk == running.pk], "the requeue", every=1)
    step = Step.objects.get(pk=requeued[0].pk)
    assert step.status == Step.Status.QUEUED and step.job_id != running.job_id and not step.claim
    assert step.attempts[-1]["error_class"] == "LostJob" and running.worker in step.attempts[-1]["error"]
    assert django_rq.get_queue(step.agent.queue).count >= 1


def test_a_backlog_longer_than_the_agents_timeout_is_never_taken_for_lost(
    make_document, debate_pipeline, scripted, run_jobs
):
    script_a_debate(scripted, debate_pipeline)
    Agent.objects.filter(pipelineslot__pipeline=debate_pipeline).update(timeout_s=1)
    run = engine.start_run(make_document(), debate_pipeline)
    # The steps have waited in their queues for a day: a backlog, not a loss.
    for hours in (1, 24):
        assert engine.requeue_stuck(now=timezone.now() + timedelta(hours=hours)) == []
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.NEEDS_REVIEW
    assert not any(a["error_class"] == "LostJob" for step in run.steps.all() for a in step.attempts)


def test_the_reapers_pass_asks_redis_no_more_for_a_longer_backlog(make_document, debate_pipeline):
    """A pass reads each queue once (jobs.waiting_jobs), not each waiting step's job
    and queue in turn: at ten thousand queued steps that was 4 s a pass (make bench
    ARGS=reaper), and the reaper passes every 10 s."""
    redis = jobs.redis()

    def commands_in_one_pass() -> int:
        before = redis.info("stats")["total_commands_processed"]
        assert engine.requeue_stuck(now=timezone.now() + timedelta(hours=1)) == []
        return redis.info("stats")["total_commands_processed"] - before

    document = make_document()
    engine.start_run(document, debate_pipeline)
    commands_in_one_pass()  # the first opens this process's connections
    short = commands_in_one_pass()  # 2 steps waiting
    for _ in range(20):
        engine.start_run(document, debate_pipeline)
    assert Step.objects.filter(status=Step.Status.QUEUED).count() == 42
    assert commands_in_one_pass() == short


def test_a_queued_step_whose_job_is_gone_is_requeued(make_document, debate_pipeline, scripted, run_jobs):
    script_a_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    django_rq.get_queue("advocates").empty()  # a wiped Redis: the jobs are gone
    requeued = engine.requeue_stuck(now=timezone.now() + timedelta(seconds=30))
    assert len(requeued) >= 1
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.NEEDS_REVIEW


def test_a_step_whose_worker_died_between_taking_its_job_and_starting_it_is_requeued(
    make_document, debate_pipeline, scripted, run_jobs
):
    """A worker takes a job off its queue first and marks it started after: killed
    in between, it leaves the job reading "queued" in no queue at all, which RQ
    never recovers. Seen in make chaos: one run waited for ever."""
    script_a_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    queue = django_rq.get_queue("advocates")
    taken = queue.connection.lpop(queue.key).decode()  # what the killed worker did, and no more
    assert Job.fetch(taken, connection=queue.connection).get_status() == JobStatus.QUEUED
    lost = run.steps.get(job_id=taken)

    requeued = engine.requeue_stuck(now=timezone.now() + timedelta(seconds=30))

    assert [step.pk for step in requeued] == [lost.pk]  # the other advocate waits in the queue: not lost
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.NEEDS_REVIEW


def test_two_executions_of_one_step_racing_save_once_and_both_calls_are_recorded(
    make_document, debate_pipeline, scripted, queues
):
    """The job of a running step vanished, so the reaper gave the step to a second
    job while the first execution was still calling the model. Both calls return
    together (a barrier): only the holder of the claim saves; the other call is
    recorded as a discarded attempt with its cost, and overwrites nothing."""
    script_a_debate(scripted, debate_pipeline)
    second_reply = {"findings": []}
    scripted.enqueue("advocate:thorough", [second_reply])  # for the second execution
    scripted.release_together(2)
    run = engine.start_run(make_document(), debate_pipeline)
    step = run.steps.get(key="advocate:a")
    ModelPrice.objects.update_or_create(
        model=step.agent.model,
        defaults={"input_per_mtok": Decimal(3), "output_per_mtok": Decimal(15), "cache_write_per_mtok": Decimal(0),
                  "cache_read_per_mtok": Decimal(0)},
    )  # fmt: skip
    errors = []

    def execute() -> None:
        try:
            engine.execute_step(step.pk)
        except Exception as error:  # noqa: BLE001 - returned to the test
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=execute)
    first.start()
    wait_for(lambda: len(scripted.history("advocate:thorough")) == 1, "the first call in flight")
    # No heartbeat (it runs outside an RQ job): the reaper takes it for lost.
    assert step.pk in {s.pk for s in engine.requeue_stuck(now=timezone.now() + timedelta(minutes=5))}
    second = threading.Thread(target=execute)
    second.start()
    first.join()
    second.join()
    assert errors == []

    step.refresh_from_db()
    assert len(scripted.history("advocate:thorough")) == 2  # both calls were made...
    calls = [a for a in step.attempts if a["error_class"] != "LostJob"]
    assert len(calls) == 2  # ...and both are on the step's trace
    discarded = [a for a in calls if a.get("discarded")]
    assert len(discarded) == 1 and "cost" in discarded[0]["note"]
    assert step.status == Step.Status.SUCCEEDED
    # The saved output is the second execution's (it holds the claim), never the first's.
    assert step.output == second_reply
    # Both calls were paid for (100 in at $3/M, 50 out at $15/M each), and the step's cost says so.
    assert step.cost == 2 * Decimal("0.00105")
    assert step.input_tokens == 200


def test_the_reaper_survives_a_broken_database_connection_and_re_advances_a_stalled_run(
    make_document, debate_pipeline, scripted, run_jobs, capsys
):
    """Both advocates finished but the run never scheduled its judge (an advance()
    that failed). The reaper's first pass meets a connection the server has
    killed (what a PostgreSQL restart does); it logs, goes on, and moves the run."""
    import psycopg
    from django.core.management import call_command

    script_a_debate(scripted, debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    for step in run.steps.all():
        engine.execute_step(step.pk)
    run.steps.filter(key="judge").delete()  # as if the advance that scheduled it had failed
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    queues = [django_rq.get_queue(name) for name in settings.RQ_QUEUE_NAMES]
    for queue in queues:
        queue.empty()

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])

    call_command("keeprunsmoving", "--every", "0.01", "--passes", "2")
    errors = capsys.readouterr().err
    assert "failed" in errors  # the broken pass said so...
    assert run.steps.filter(key="judge").count() == 1  # ...and the run moved on all the same
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.NEEDS_REVIEW


def test_a_batch_stranded_while_submitting_goes_back_to_pending(make_document, debate_pipeline, queues):
    from orchestrator.runs import batches

    run = engine.start_run(make_document(), debate_pipeline)
    stale = f"submitting-{int(time.time()) - 3600}-dead"
    live = f"submitting-{int(time.time())}-alive"
    first, second = run.steps.all()[:2]
    Step.objects.filter(pk=first.pk).update(status=Step.Status.BATCHED, batch_id=stale)
    Step.objects.filter(pk=second.pk).update(status=Step.Status.BATCHED, batch_id=live)
    assert batches.recover_submitting() == 1
    assert Step.objects.get(pk=first.pk).batch_id == ""
    assert Step.objects.get(pk=second.pk).batch_id == live  # a submit in progress is left alone


@pytest.fixture
def nested(make_document, contract_supervisor, scripted, run_jobs):
    """contract-supervisor on a contract; its nested debate answers from the script
    and files two disputes (non_compete:1, payment_terms:1)."""
    from orchestrator.demo.documents import CONTRACT
    from orchestrator.models import Pipeline

    script_a_debate(scripted, Pipeline.objects.get(slug="contract-debate"))
    run = engine.start_run(make_document(CONTRACT, "contract.txt"), contract_supervisor)
    run_jobs()
    run.refresh_from_db()
    return run


def test_decisions_on_a_nested_debate_finalise_the_parent_run(nested, reviewer, client_for, analyst):
    child = nested.steps.get(key="specialist:clauses").child_run
    assert nested.status == Run.Status.NEEDS_REVIEW  # waiting for the nested debate's reviewers
    # One item per finding type; the routing policy may settle the low-severity payment dispute.
    items = {item.finding_type: item for item in child.review_items.all()}
    items.pop("non_compete").decide(reviewer, "not_issue", "Carve-out in clause 12.")
    nested.refresh_from_db()
    if items:
        assert nested.status == Run.Status.NEEDS_REVIEW  # one of two decided
    for item in items.values():
        item.decide(reviewer, "stands", "Checked against the contract.")

    nested.refresh_from_db()
    assert nested.status == Run.Status.REVIEWED
    findings = {f["key"]: f for f in nested.result["fields"]["findings"]}
    assert findings["non_compete:1"]["is_issue"] is False
    assert findings["non_compete:1"]["review"]["decision"]["note"] == "Carve-out in clause 12."
    if "payment_terms" in items:
        assert findings["payment_terms:1"]["is_issue"] is True
    assert nested.steps.get(key="specialist:clauses").output == Run.objects.get(pk=child.pk).result

    client = client_for(analyst)
    page = client.get(f"/runs/{nested.pk}/").content.decode()
    assert "Carve-out in clause 12." in page or "Reviewed" in page
    csv = b"".join(client.get("/runs/export.csv").streaming_content).decode()
    row = next(line for line in csv.splitlines() if line.startswith(f"{nested.pk},"))
    assert "reviewed" in row


def _spend(pipeline, make_document, cost: str) -> None:
    spent = make_document(f"What was spent: {cost}.", "spent.txt")
    run = Run.objects.create(document=spent, pipeline=pipeline, status=Run.Status.DONE)
    Step.objects.create(run=run, key="advocate:a", slot="advocate_a", status=Step.Status.SUCCEEDED, cost=cost)


def test_a_replay_is_held_while_its_pipelines_monthly_budget_is_spent(
    make_document, debate_pipeline, scripted, run_jobs
):
    from orchestrator.models import Pipeline
    from orchestrator.runs.replay import replay_from

    script_a_debate(scripted, debate_pipeline)
    original = engine.start_run(make_document(), debate_pipeline)
    run_jobs()
    debate_pipeline.monthly_budget = Decimal("1.00")
    debate_pipeline.save()
    _spend(debate_pipeline, make_document, "1.00")

    replay = replay_from(original.steps.get(key="judge"))
    assert replay.status == Run.Status.HELD
    assert not replay.steps.filter(copied_from__isnull=True).exists()  # nothing new was called

    Pipeline.objects.filter(pk=debate_pipeline.pk).update(monthly_budget=None)
    scripted.enqueue("judge", [{"verdicts": []}])
    assert [run.pk for run in engine.release_held_runs()] == [replay.pk]
    run_jobs()
    replay.refresh_from_db()
    assert replay.is_finished and replay.status != Run.Status.FAILED


def test_a_nested_run_is_held_while_its_pipelines_monthly_budget_is_spent(
    make_document, contract_supervisor, scripted, run_jobs
):
    from orchestrator.demo.documents import CONTRACT
    from orchestrator.models import Pipeline

    debate = Pipeline.objects.get(slug="contract-debate")
    script_a_debate(scripted, debate)
    debate.monthly_budget = Decimal("1.00")
    debate.save()
    _spend(debate, make_document, "1.00")

    run = engine.start_run(make_document(CONTRACT, "contract.txt"), contract_supervisor)
    run_jobs()
    child = Run.objects.get(parent_step__run=run)
    assert child.status == Run.Status.HELD and not child.steps.exists()
    run.refresh_from_db()
    assert not run.is_finished  # the parent waits for its held child

    Pipeline.objects.filter(pk=debate.pk).update(monthly_budget=None)
    engine.release_held_runs()
    run_jobs()
    run.refresh_from_db()
    assert run.status == Run.Status.NEEDS_REVIEW  # the nested debate's disputes await review


def test_lost_jobs_do_not_use_the_retry_budget_of_provider_errors(
    make_document, debate_pipeline, scripted, run_jobs, settings
):
    """A step lost twice (two LostJob entries) still gets its full budget of three
    provider attempts: two 429s, then an answer."""
    from orchestrator.llm import TransientError

    settings.QUORUM_STEP_MAX_ATTEMPTS = 3
    settings.QUORUM_RETRY_AFTER_CAP_S = 0  # no waiting between the retries here
    script_a_debate(scripted, debate_pipeline)
    scripted.take_over_pipeline(debate_pipeline)
    run = engine.start_run(make_document(), debate_pipeline)
    step = run.steps.get(key="advocate:a")
    django_rq.get_queue("advocates").empty()
    for _ in range(2):  # lost twice: its job vanished from Redis
        Step.objects.filter(pk=step.pk).update(queued_at=timezone.now() - timedelta(minutes=1))
        assert step.pk in {s.pk for s in engine.requeue_stuck()}
        django_rq.get_queue("advocates").empty()
    # Its reply comes after two rate-limit answers.
    from tests.scripted import _PREFIX, _redis

    first = _redis().lpop(_PREFIX + "advocate:thorough")
    scripted.enqueue("advocate:thorough", [TransientError("HTTP 429", retry_after=0)] * 2)
    _redis().rpush(_PREFIX + "advocate:thorough", first)
    engine.execute_step(step.pk)
    step.refresh_from_db()
    assert step.status == Step.Status.SUCCEEDED
    assert [a["error_class"] for a in step.attempts] == ["LostJob", "LostJob", "TransientError", "TransientError", ""]


def test_the_offline_provider_injects_the_faults_it_is_told(settings):
    from orchestrator.llm import Request, TransientError
    from orchestrator.llm.offline.provider import OfflineProvider, pick_fault

    assert pick_fault("") == ""
    assert pick_fault("badjson:1") == "badjson"
    settings.QUORUM_OFFLINE_FAULTS = "429:1"
    request = Request(system="", messages=[{"role": "user", "content": "x"}], model="m", output_schema=None,
                      max_tokens=10, temperature=0, timeout_s=5, role="advocate", profile="thorough",
                      inputs={"document": "x"})  # fmt: skip
    with pytest.raises(TransientError, match="429"):
        OfflineProvider().complete(request)
