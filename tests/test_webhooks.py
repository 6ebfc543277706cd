"""Webhooks: signed deliveries to a real local HTTP receiver, worked by a real RQ
worker process with its scheduler, retried with backoff, logged, sent again from
admin; and a webhook that cannot be queued never fails the run it reports."""

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import django_rq
import pytest
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.worker import SimpleWorker

from notify import webhooks
from notify.models import Delivery, WebhookEndpoint
from orchestrator import engine
from orchestrator.models import Run
from tests.conftest import database_url

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """An HTTP server in a thread that records each request and answers the
    statuses it is given in turn (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"thanks" if status == 200 else b"not now")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/quorum"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.requests) >= count, f"only {len(self.requests)} of {count} requests arrived"
        return self.requests


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.fixture
def webhook_worker(queues):
    """A real `rqworker` on the webhooks queue, with the scheduler that retries need."""
    env = {**os.environ, "DATABASE_URL": database_url()}
    command = [sys.executable, "manage.py", "rqworker", "webhooks", "--with-scheduler",
               "--worker-class", "rq.worker.SimpleWorker"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def engine_jobs(queues):
    """Work the run's steps in this process, leaving the webhooks queue to the worker."""

    def work() -> None:
        engine_queues = [queue for queue in queues if queue.name != "webhooks"]
        SimpleWorker(engine_queues, connection=queues[0].connection).work(burst=True)

    return work


def endpoint_for(receiver: Receiver, *events: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url=receiver.url, events=list(events), description="compliance system")


def verify(secret: str, header: str, body: bytes) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def wait_for_delivery(delivery: Delivery, status: str, timeout: float = 60) -> Delivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery.refresh_from_db()
        if delivery.status == status:
            return delivery
        time.sleep(0.1)
    raise AssertionError(f"delivery stayed {delivery.status} ({delivery.error})")


def test_run_finished_reaches_the_receiver_signed(
    receiver, webhook_worker, engine_jobs, make_document, debate_pipeline
):
    endpoint = endpoint_for(receiver, "run.finished")
    run = engine.start_run(make_document(), debate_pipeline)
    engine_jobs()

    request = receiver.wait_for(1)[0]
    headers, body = request["headers"], request["body"]
    assert headers["Quorum-Event"] == "run.finished"
    assert verify(endpoint.secret, headers["Quorum-Signature"], body)
    assert not verify("whsec_someone-else", headers["Quorum-Signature"], body)
    payload = json.loads(body)
    assert payload["event"] == "run.finished" and payload["id"] == headers["Quorum-Delivery"]
    run.refresh_from_db()
    assert payload["data"]["run"]["id"] == run.pk
    assert payload["data"]["run"]["status"] == run.status
    assert payload["data"]["run"]["url"].endswith(f"/api/v1/runs/{run.pk}")
    delivery = wait_for_delivery(Delivery.objects.get(), Delivery.Status.SUCCEEDED)
    assert (delivery.attempts, delivery.response_status, delivery.response_body) == (1, 200, "thanks")
    assert delivery.response_ms is not None


def test_the_signature_timestamp_is_the_attempts_own(receiver, webhook_worker):
    endpoint_for(receiver, "run.failed")
    before = int(time.time())
    webhooks.send_event("run.failed", {"run": {"id": 1}})
    header = receiver.wait_for(1)[0]["headers"]["Quorum-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert int(header.split(",")[0][2:]) >= before


def test_only_endpoints_that_asked_for_the_event_get_it(receiver, webhook_worker):
    endpoint_for(receiver, "review.decided")
    WebhookEndpoint.objects.create(url=receiver.url, events=["run.finished"], is_active=False)
    assert webhooks.send_event("run.finished", {"run": {"id": 1}}) == []
    assert len(webhooks.send_event("review.decided", {"review_item": {"id": 1}})) == 1
    assert receiver.wait_for(1)[0]["headers"]["Quorum-Event"] == "review.decided"


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(receiver, webhook_worker, settings):
    settings.QUORUM_WEBHOOK_RETRY_INTERVALS = [1, 2, 4]
    endpoint = endpoint_for(receiver, "run.finished")
    receiver.statuses = [500, 503]
    (delivery,) = webhooks.send_event("run.finished", {"run": {"id": 7}})

    delivery = wait_for_delivery(delivery, Delivery.Status.SUCCEEDED)
    requests = receiver.wait_for(3)
    assert delivery.attempts == 3 and delivery.response_status == 200 and delivery.error == ""
    # The same event each time (receivers deduplicate on it), each attempt signed afresh.
    assert {r["headers"]["Quorum-Delivery"] for r in requests} == {str(delivery.event_id)}
    assert all(verify(endpoint.secret, r["headers"]["Quorum-Signature"], r["body"]) for r in requests)


def test_the_default_backoff_lasts_about_a_day():
    total = sum(webhooks.RETRY_INTERVALS)
    assert 20 * 3600 <= total <= 26 * 3600
    assert sorted(webhooks.RETRY_INTERVALS) == webhooks.RETRY_INTERVALS


def test_a_receiver_that_keeps_failing_is_given_up_on_and_sent_again_from_admin(
    receiver, webhook_worker, settings, client, admin_user
):
    settings.QUORUM_WEBHOOK_RETRY_INTERVALS = [1]
    endpoint_for(receiver, "budget.reached")
    receiver.statuses = [500, 500]
    (delivery,) = webhooks.send_event("budget.reached", {"run": {"id": 3}})
    delivery = wait_for_delivery(delivery, Delivery.Status.FAILED)
    assert delivery.attempts == 2 and delivery.response_status == 500 and delivery.error == "HTTP 500"

    client.force_login(admin_user)
    log = client.get("/admin/notify/delivery/").content.decode()
    assert "budget.reached" in log and "Failed, gave up" in log
    response = client.post("/admin/notify/delivery/", {"action": "send_again", "_selected_action": [delivery.pk]})
    assert response.status_code == 302
    delivery = wait_for_delivery(delivery, Delivery.Status.SUCCEEDED)
    assert delivery.attempts == 3 and len(receiver.requests) == 3


def test_a_webhook_that_cannot_be_queued_never_fails_the_run(
    receiver, engine_jobs, make_document, debate_pipeline, monkeypatch, caplog
):
    endpoint_for(receiver, "run.finished")
    get_queue = django_rq.get_queue

    def redis_down_for_webhooks(name="default", *args, **kwargs):
        if name == "webhooks":
            raise RedisConnectionError("Connection refused")
        return get_queue(name, *args, **kwargs)

    monkeypatch.setattr(django_rq, "get_queue", redis_down_for_webhooks)
    run = engine.start_run(make_document(), debate_pipeline)
    engine_jobs()
    run.refresh_from_db()
    assert run.status in {Run.Status.DONE, Run.Status.NEEDS_REVIEW}
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING
    assert "could not be queued" in delivery.error
    assert "could not be enqueued" in caplog.text


def test_deciding_an_item_sends_review_decided(receiver, webhook_worker, client, reviewer):
    from api.models import ApiToken
    from tests.test_review import make_run

    endpoint = endpoint_for(receiver, "review.decided", "review.opened")
    item = make_run().review_items.get()
    _, secret = ApiToken.issue(reviewer, "t", ["review"])
    client.post(f"/api/v1/review-items/{item.pk}/decide", {"choice": "stands"}, content_type="application/json",
                headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
    events = {json.loads(r["body"])["event"]: r for r in receiver.wait_for(2)}
    decided = json.loads(events["review.decided"]["body"])["data"]
    assert decided["review_item"]["id"] == item.pk and decided["decision"]["choice"] == "stands"
    assert decided["decision"]["decided_by"] == reviewer.username
    assert json.loads(events["review.opened"]["body"])["data"]["review_item"]["id"] == item.pk
    assert verify(endpoint.secret, events["review.decided"]["headers"]["Quorum-Signature"],
                  events["review.decided"]["body"])  # fmt: skip


def test_the_readme_verifier_accepts_our_signature_and_refuses_a_forged_one():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    code = re.search(r"```python\n(# Verify a Quorum webhook.*?)```", readme, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own README's example
    body = b'{"event":"run.finished"}'
    header = webhooks.sign("whsec_abc", int(time.time()), body)
    assert namespace["verify"]("whsec_abc", header, body)
    assert not namespace["verify"]("whsec_abc", header, body + b" ")
    old = webhooks.sign("whsec_abc", int(time.time()) - 3600, body)
    assert not namespace["verify"]("whsec_abc", old, body)
    assert len(code.strip().splitlines()) <= 12


def test_an_admin_registers_an_endpoint_with_its_events(client, admin_user):
    client.force_login(admin_user)
    form = client.get("/admin/notify/webhookendpoint/add/").content.decode()
    assert "whsec_" in form  # a fresh secret is proposed
    response = client.post(
        "/admin/notify/webhookendpoint/add/",
        {"url": "https://contracts.example.com/quorum", "description": "contract system",
         "events": ["run.finished", "review.decided"], "secret": "whsec_shared", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["run.finished", "review.decided"] and endpoint.secret == "whsec_shared"


def test_only_admins_see_the_webhook_admin(client, reviewer):
    client.force_login(reviewer)
    assert client.get("/admin/notify/delivery/").status_code in {302, 403}
