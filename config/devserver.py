"""`make run`: the whole app on one machine with embedded defaults.

1. Starts embedded PostgreSQL and Valkey under var/ (unless DATABASE_URL /
   REDIS_URL name servers to use).
2. Migrates and seeds the demo data (idempotent).
3. Starts a pool of RQ workers on the queues settings list, the reaper that
   keeps runs moving (keeprunsmoving) and the web server.
4. On Ctrl-C or SIGTERM stops them all, then the servers. Children die with
   this process even if it is killed outright, and a watchdog stops the servers.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from config.embedded import BASE_DIR, die_with_parent, local_secret_key, publish, services_for, unpublish

MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]


def main() -> int:
    port = os.environ.get("PORT", "8000")
    workers = os.environ.get("QUORUM_WORKERS", "4")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))  # the terminal went away
    # Started in the background by a script, SIGINT arrives ignored; Ctrl-C and
    # `kill -INT` must still shut everything down.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    with services_for() as environ:
        set_defaults(environ, port)
        subprocess.run([*MANAGE, "migrate", "--noinput", "-v", "0"], env=environ, check=True)
        if environ["DEBUG"].lower() not in {"1", "true", "yes", "on"}:
            subprocess.run([*MANAGE, "collectstatic", "--noinput", "-v", "0"], env=environ, check=True)
        subprocess.run([*MANAGE, "seeddemo"], env=environ, check=True)
        queues = queue_names(environ)
        children = [
            subprocess.Popen(
                # SimpleWorker runs jobs in the worker process instead of forking one per
                # job: a step hop costs about a third as much (bench/patterns.py). A killed
                # worker loses its step either way; keeprunsmoving (below) recovers it.
                [
                    *MANAGE,
                    "rqworker-pool",
                    *queues,
                    "--num-workers",
                    workers,
                    "--worker-class",
                    "rq.worker.SimpleWorker",
                ],
                env=environ,
                preexec_fn=die_with_parent,
            ),  # fmt: skip
            reaper(environ),
            subprocess.Popen(
                [*MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
                env=environ,
                preexec_fn=die_with_parent,
            ),
        ]
        # Commands run from a second terminal (manage.py ingestdocuments ...) find these servers.
        publish(environ)
        print(
            f"\nQuorum is up after {time.monotonic() - started:.1f}s: http://127.0.0.1:{port}/  "
            f"({workers} workers). Log in with a demo user above. Ctrl-C stops everything.\n",
            flush=True,
        )
        try:
            while True:
                time.sleep(0.5)
                if children[1].poll() is not None:
                    # The reaper survives errors in its passes; should it die anyway,
                    # start it again rather than take the whole app down.
                    print("keeprunsmoving stopped; starting it again.", file=sys.stderr, flush=True)
                    children[1] = reaper(environ)
                if any(child.poll() is not None for child in children):
                    break
            print("A Quorum process stopped; shutting the rest down.", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            unpublish()
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()


def set_defaults(environ: dict[str, str], port: str) -> None:
    """What `make run` sets where the environment does not say otherwise."""
    # The product as users meet it: no debug pages, static files as in production.
    # QUORUM_DEBUG=1 (or DEBUG=true, e.g. `make run DEBUG=true`) is the developer's switch.
    debug = os.environ.get("QUORUM_DEBUG", "").lower() in {"1", "true", "yes", "on"}
    environ.setdefault("DEBUG", "true" if debug else "false")
    environ.setdefault("HTTPS", "false")
    environ.setdefault("SECRET_KEY", local_secret_key(Path(os.environ.get("QUORUM_VAR_DIR") or BASE_DIR / "var")))
    # Webhook payloads and e-mails link to this server: on the port it serves
    # (`PORT=8123 make run`), not the settings' default of 8000.
    environ.setdefault("QUORUM_BASE_URL", f"http://127.0.0.1:{port}")


def reaper(environ: dict[str, str]) -> subprocess.Popen:
    """keeprunsmoving every 10 s: with steps' 5 s heartbeats (3 to expire), a
    killed worker's step is back in its queue within about 30 s."""
    return subprocess.Popen([*MANAGE, "keeprunsmoving", "--every", "10"], env=environ, preexec_fn=die_with_parent)


def queue_names(environ: dict[str, str]) -> list[str]:
    """The queues the workers listen on: settings.RQ_QUEUE_NAMES, the one list of
    them. Settings read the servers' URLs, so they can be loaded only once the
    servers are up and `environ` names them."""
    os.environ.update(environ)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    return list(settings.RQ_QUEUE_NAMES)


if __name__ == "__main__":
    sys.exit(main())
