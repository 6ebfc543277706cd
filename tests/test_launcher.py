"""`make run`'s launcher brings the whole app up on embedded servers and leaves
nothing running after Ctrl-C or after being killed outright."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(port: int, launcher: subprocess.Popen, var: Path, timeout: float = 120) -> dict:
    """/healthz says ok (all an anonymous caller is told) and four workers have
    registered in the launcher's Valkey."""
    import redis
    from rq import Worker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert launcher.poll() is None, "the launcher exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                health = json.load(response)
            connection = redis.Redis(unix_socket_path=str(var / "embedded" / "valkey.sock"))
            if health["status"] == "ok" and Worker.count(connection=connection) >= 4:
                return health
        except (OSError, redis.RedisError):
            pass
        time.sleep(0.5)
    raise AssertionError("the app did not come up")


def _everything(launcher: subprocess.Popen, var_dir: Path) -> list[psutil.Process]:
    """The launcher's descendants plus the embedded servers (PostgreSQL is
    daemonised by pg_ctl, so it is not a descendant)."""
    processes = psutil.Process(launcher.pid).children(recursive=True)
    pid_file = var_dir / "embedded" / "pg" / "postmaster.pid"
    processes.append(psutil.Process(int(pid_file.read_text().split()[0])))
    return processes


def _all_gone(processes: list[psutil.Process], timeout: float = 30) -> list[str]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [" ".join(p.cmdline()[:4]) for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture
def launch(tmp_path):
    started = []

    def start() -> tuple[subprocess.Popen, int]:
        port = _free_port()
        # A file, not a pipe: nobody reads a pipe while the app runs, and a full one blocks every writer.
        log = open(tmp_path / "launcher.log", "wb")  # noqa: SIM115 - closed with the launcher
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(QUORUM_VAR_DIR=str(tmp_path / "var"), PORT=str(port), QUORUM_DEMO_PASSWORD="demo-pass-123")
        launcher = subprocess.Popen(
            [sys.executable, "-m", "config.devserver"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        started.append(launcher)
        return launcher, port

    yield start
    for launcher in started:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)


def test_ctrl_c_stops_the_servers_and_every_worker(launch, tmp_path):
    launcher, port = launch()
    health = _wait_healthy(port, launcher, tmp_path / "var")
    assert health == {"status": "ok"}
    processes = _everything(launcher, tmp_path / "var")
    commands = [" ".join(process.cmdline()) for process in processes]
    # The workers listen on the queues settings list; the reaper runs under its new name.
    assert any(f"rqworker-pool {' '.join(settings.RQ_QUEUE_NAMES)} " in command for command in commands)
    assert any("keeprunsmoving --every 10" in command for command in commands)

    os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    assert launcher.wait(timeout=60) == 0
    assert _all_gone(processes) == []
    output = (tmp_path / "launcher.log").read_text()
    assert f"http://127.0.0.1:{port}/" in output
    assert "analyst: demo-pass-123" in output


def test_a_killed_launcher_leaves_nothing_running(launch, tmp_path):
    launcher, port = launch()
    _wait_healthy(port, launcher, tmp_path / "var")
    processes = _everything(launcher, tmp_path / "var")

    launcher.kill()  # SIGKILL: no handler, no atexit
    launcher.wait()
    assert _all_gone(processes) == []


def _beside(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """A manage.py command from a second terminal: no DATABASE_URL, REDIS_URL or SECRET_KEY."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env["QUORUM_VAR_DIR"] = str(tmp_path / "var")
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_commands_run_beside_a_running_launcher_and_say_so_when_none_runs(launch, tmp_path):
    nothing = _beside(tmp_path, "check")
    assert nothing.returncode != 0
    assert "no `make run` is running" in nothing.stderr

    launcher, port = launch()
    _wait_healthy(port, launcher, tmp_path / "var")
    contract = tmp_path / "beside.txt"
    contract.write_text("This Agreement shall automatically renew for successive twelve-month terms.\n")
    ingested = _beside(tmp_path, "ingestdocuments", str(contract), "--pipeline", "contract-debate", "--wait")
    assert ingested.returncode == 0, ingested.stderr
    # The app's own workers ran it: the run is on the running app's run list.
    counted = _beside(
        tmp_path, "shell", "--no-imports", "-c",
        "from orchestrator.models import Run; print(Run.objects.filter(document__original_name='beside.txt').count())",
    )  # fmt: skip
    assert counted.stdout.strip() == "1", counted.stderr
    assert _beside(tmp_path, "keeprunsmoving").returncode == 0

    os.killpg(launcher.pid, signal.SIGINT)
    assert launcher.wait(timeout=60) == 0
    assert "no `make run` is running" in _beside(tmp_path, "check").stderr


def test_links_in_webhooks_and_e_mails_point_at_the_port_make_run_serves(monkeypatch, tmp_path):
    from config.devserver import set_defaults

    monkeypatch.setenv("QUORUM_VAR_DIR", str(tmp_path))
    environ: dict[str, str] = {}
    set_defaults(environ, "8123")
    assert environ["QUORUM_BASE_URL"] == "http://127.0.0.1:8123"
    chosen = {"QUORUM_BASE_URL": "https://quorum.example.com"}
    set_defaults(chosen, "8123")
    assert chosen["QUORUM_BASE_URL"] == "https://quorum.example.com"
