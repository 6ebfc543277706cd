"""CI's production-layout check: the process types of the Procfile, each on its
own, against a standard PostgreSQL and Redis, with DEBUG=false; one contract
goes through the API end to end, and its signed run.finished webhook arrives.

1. Creates a fresh database on DATABASE_URL's server (dropped at the end) and
   uses Redis database QUORUM_E2E_REDIS_DB (default 7) on REDIS_URL's server.
2. migrate, collectstatic, seeddemo, createapitoken; registers a webhook
   endpoint pointing at a receiver this script serves.
3. Starts gunicorn, two `manage.py rqworker` processes on separate queues
   (advocates / judges, default, coordinator, specialists, webhooks) and the reaper.
4. Uploads a contract with a pipeline, polls the run until it finishes, reads
   its findings, and waits for the signed run.finished webhook.
Exits non-zero (and prints the processes' logs) if any of it fails.
Usage: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
       .venv/bin/python .ci/production_e2e.py
"""

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

BASE = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MANAGE = [PYTHON, str(BASE / "manage.py")]
CONTRACT = (BASE / "documents" / "samples" / "supplier-agreement-clear-issues.pdf").read_bytes()
TIMEOUT_S = float(os.environ.get("QUORUM_E2E_TIMEOUT_S", "240"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append({"headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        parts.append(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def call(method: str, url: str, token: str, body: bytes | None = None, content_type: str = "", **headers) -> dict:
    headers = {"Authorization": f"Bearer {token}", **headers}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - our own server
    if content_type:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our own server
        return json.loads(response.read())


def main() -> int:
    server_url = os.environ["DATABASE_URL"]
    redis_url = os.environ["REDIS_URL"]
    name = f"quorum_e2e_{os.getpid()}"
    parts = urlsplit(server_url)
    database_url = urlunsplit(parts._replace(path=f"/{name}"))
    redis_parts = urlsplit(redis_url)
    redis_e2e = urlunsplit(redis_parts._replace(path=f"/{os.environ.get('QUORUM_E2E_REDIS_DB', '7')}"))
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    port, hook_port = free_port(), free_port()
    receiver = ThreadingHTTPServer(("127.0.0.1", hook_port), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    var = BASE / "var" / "e2e"
    var.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_e2e,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HTTPS": "false",  # plain HTTP on a trusted network; behind TLS in real production
        "STATIC_ROOT": str(var / "static"),
        "MEDIA_ROOT": str(var / "media"),
        "QUORUM_VAR_DIR": str(var),
        "QUORUM_DEMO_PASSWORD": secrets.token_urlsafe(12),
        "QUORUM_BASE_URL": f"http://127.0.0.1:{port}",
    }
    processes: list[tuple[str, subprocess.Popen]] = []
    logs = var / "logs"
    logs.mkdir(exist_ok=True)
    try:
        for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"], ["seeddemo"]):
            subprocess.run([*MANAGE, *command], env=env, check=True, stdout=subprocess.DEVNULL)
        token = subprocess.run([*MANAGE, "createapitoken", "analyst", "--name", "ci", "--scopes", "read,write"],
                               env=env, check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
        secret = "whsec_" + secrets.token_urlsafe(16)
        register = (
            "from notify.models import WebhookEndpoint; "
            f"WebhookEndpoint.objects.create(url='http://127.0.0.1:{hook_port}/hook', secret='{secret}', "
            "events=['run.finished', 'run.failed'])"
        )
        subprocess.run([*MANAGE, "shell", "--no-imports", "-c", register], env=env, check=True)
        worker = ["rqworker", "--worker-class", "rq.worker.SimpleWorker", "--with-scheduler"]
        for label, command in [
            ("web", [PYTHON, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]),
            ("worker-advocates", [*MANAGE, *worker, "advocates"]),
            ("worker-rest", [*MANAGE, *worker, "judges", "default", "coordinator", "specialists", "webhooks"]),
            ("reaper", [*MANAGE, "keeprunsmoving", "--every", "5"]),
        ]:
            log = (logs / f"{label}.log").open("w")
            processes.append((label, subprocess.Popen(command, env=env, cwd=BASE, stdout=log, stderr=log)))
        api = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # gunicorn takes a moment to bind
            try:
                call("GET", f"{api}/pipelines", token)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

        body, content_type = multipart({"pipeline": "contract-debate"}, [("files", "supplier.pdf", CONTRACT)])
        uploaded = call("POST", f"{api}/documents", token, body, content_type, **{"Idempotency-Key": "ci-1"})
        result = uploaded["results"][0]
        if result["status"] == "refused" or not result.get("run"):
            raise SystemExit(f"upload did not start a run: {result}")
        run_id = result["run"]["id"]
        print(f"uploaded document {result['document']['id']} ({result['status']}), run {run_id}", flush=True)
        while (run := call("GET", f"{api}/runs/{run_id}", token))["status"] in {"queued", "running"}:
            if time.monotonic() > deadline:
                raise SystemExit(f"run {run_id} did not finish in {TIMEOUT_S:.0f} s: {run['status']}")
            time.sleep(1)
        if run["status"] not in {"done", "needs_review"} or not run["findings"]:
            raise SystemExit(f"run {run_id} ended {run['status']} with {len(run['findings'])} findings: {run['error']}")
        print(f"run {run_id}: {run['status']}, {len(run['findings'])} findings, {len(run['steps'])} steps, "
              f"cost {run['cost']}", flush=True)  # fmt: skip
        while not Receiver.received:
            if time.monotonic() > deadline:
                raise SystemExit("the run.finished webhook never arrived")
            time.sleep(0.5)
        hook = Receiver.received[0]
        signature = dict(part.split("=", 1) for part in hook["headers"]["Quorum-Signature"].split(","))
        expected = hmac.new(secret.encode(), f"{signature['t']}.".encode() + hook["body"], hashlib.sha256).hexdigest()
        payload = json.loads(hook["body"])
        if not hmac.compare_digest(expected, signature["v1"]) or payload["data"]["run"]["id"] != run_id:
            raise SystemExit(f"the webhook is not a signed run.finished for run {run_id}: {hook}")
        print(f"signed {payload['event']} webhook received for run {run_id}", flush=True)
        for label, process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{label} exited with {process.returncode}")
        print("production layout: OK")
        return 0
    except BaseException:
        for log in sorted(logs.glob("*.log")):
            print(f"----- {log.name} (last 40 lines)\n" + "\n".join(log.read_text().splitlines()[-40:]))
        raise
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        receiver.shutdown()
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
