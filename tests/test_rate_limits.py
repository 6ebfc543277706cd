"""Provider rate limits are shared by every worker: two RQ worker processes call a
local Messages API server that answers 429 whenever more calls than its limit are
in flight. With the limit set in the admin's ProviderLimit, the server never has
to say 429, and the steps over the limit were put back in their queues (with a
delay, by the workers' scheduler) rather than holding a worker."""

import io
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import django_rq
import pytest
from django.conf import settings
from django.core.management import call_command

from orchestrator import engine, jobs
from orchestrator.llm import limits
from orchestrator.models import Agent, ProviderLimit, Run
from tests.conftest import database_url
from tests.messages_api import error_body, message_body

pytestmark = pytest.mark.django_db(transaction=True)


class LimitedAPI:
    """Answers like the Messages API, 429 above `limit` calls in flight."""

    def __init__(self, limit: int) -> None:
        self.limit, self.in_flight, self.most, self.calls, self.refused = limit, 0, 0, 0, 0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"])).decode()
                with api.lock:
                    api.calls += 1
                    api.in_flight += 1
                    api.most = max(api.most, api.in_flight)
                    over = api.in_flight > api.limit
                    api.refused += over
                try:
                    if over:
                        self._send(429, error_body("rate_limit_error", "too many"), {"retry-after": "1"})
                        return
                    time.sleep(0.3)  # long enough for calls to overlap
                    text = '{"verdicts": []}' if '"verdicts"' in body else '{"findings": []}'
                    self._send(200, message_body(text), {})
                finally:
                    with api.lock:
                        api.in_flight -= 1

            def _send(self, status: int, body: dict, headers: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def limited_api():
    api = LimitedAPI(limit=1)
    yield api
    api.server.shutdown()


@pytest.fixture
def two_workers(queues, limited_api):
    env = {**os.environ, "DATABASE_URL": database_url(), "ANTHROPIC_API_KEY": "sk-test",
           "ANTHROPIC_BASE_URL": limited_api.url}  # fmt: skip
    command = [sys.executable, "manage.py", "rqworker", *settings.RQ_QUEUE_NAMES, "--with-scheduler",
               "--worker-class", "rq.worker.SimpleWorker"]  # fmt: skip
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(2)]  # fmt: skip
    yield processes
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def test_two_workers_share_the_limit_and_never_exceed_the_providers(
    make_document, debate_pipeline, limited_api, two_workers
):
    agents = Agent.objects.filter(pipelineslot__pipeline=debate_pipeline)
    agents.update(provider="anthropic", model="claude-haiku-4-5")
    ProviderLimit.objects.create(provider="anthropic", model="", max_concurrent=1)
    connection = django_rq.get_connection()
    connection.delete(limits.DEFERRED_KEY)

    runs = [engine.start_run(make_document(f"Contract {n}."), debate_pipeline) for n in range(4)]
    while Run.objects.filter(pk__in=[run.pk for run in runs]).exclude(status__in=Run.FINISHED).exists():
        time.sleep(0.5)

    assert set(Run.objects.filter(pk__in=[run.pk for run in runs]).values_list("status", flat=True)) <= {
        Run.Status.DONE,
        Run.Status.NEEDS_REVIEW,
    }
    assert limited_api.calls == 12  # 3 steps a run, each called once
    assert limited_api.refused == 0 and limited_api.most == 1  # never more in flight than the provider allows
    # Steps over the limit went back to their queues instead of waiting in a worker.
    assert int(connection.get(limits.DEFERRED_KEY) or 0) > 0


@pytest.fixture
def one_call_at_a_time(queues):
    """At most one Anthropic call in flight; no slot left over for other tests."""
    ProviderLimit.objects.create(provider="anthropic", model="", max_concurrent=1)
    keys = limits._keys("anthropic", "")
    jobs.redis().delete(*keys)
    yield
    jobs.redis().delete(*keys)


def take(holder: str) -> limits.Lease | float:
    return limits.try_acquire("anthropic", "claude-sonnet-4-5", 100, lease_s=3600, holder=holder)


def test_a_slot_is_free_again_once_the_job_holding_it_stops_beating(one_call_at_a_time):
    """A worker killed mid-call (a deploy, the OOM killer) frees its concurrency slot
    as soon as its job's heartbeat key expires, not after the lease's whole term:
    else a few killed workers starve every step of the provider for minutes."""
    redis = jobs.redis()
    redis.set(jobs.alive_key("step-killed"), "1", ex=60)
    assert isinstance(take("step-killed"), limits.Lease)
    assert take("step-waiting") > 0  # the slot is held while its job beats
    redis.delete(jobs.alive_key("step-killed"))  # what expiry does once its process is gone
    assert isinstance(take("step-waiting"), limits.Lease)


def test_a_slot_taken_outside_a_job_is_kept_until_its_lease_runs_out(one_call_at_a_time):
    assert isinstance(take(""), limits.Lease)
    assert take("step-waiting") > 0


def test_steps_deferred_for_their_rate_limit_run_when_no_scheduler_is_left(
    make_document, debate_pipeline, queues, run_jobs, settings
):
    """The worker holding RQ's scheduler lock was killed: the other workers take the
    scheduler over only at their 10-minute maintenance pass, so the steps the limiter
    deferred would wait that long. The reaper enqueues them once they are overdue."""
    ProviderLimit.objects.create(provider="offline", model="", max_concurrent=1)
    keys = limits._keys("offline", "")
    jobs.redis().delete(*keys)
    elsewhere = limits.try_acquire("offline", "", 1, lease_s=3600, holder="")  # another worker's call
    run = engine.start_run(make_document("The term renews itself each year."), debate_pipeline)
    run_jobs()  # a worker with no scheduler: both advocates are deferred
    assert sum(queue.scheduled_job_registry.count for queue in queues) == 2
    elsewhere.release()

    settings.QUORUM_SCHEDULER_GRACE_S = 0
    time.sleep(2)  # past their time: a deferral for a full slot is 1-1.5 s
    out = io.StringIO()
    call_command("keeprunsmoving", stdout=out)
    run_jobs()

    assert "enqueued 2 deferred job(s)" in out.getvalue()
    run.refresh_from_db()
    assert run.status in (Run.Status.DONE, Run.Status.NEEDS_REVIEW)
    jobs.redis().delete(*keys)
