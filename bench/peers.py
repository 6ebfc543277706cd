"""Quorum beside the peers a team would otherwise build on: the same Debate-shaped
work (two calls in parallel, then one that needs both) done durably on the same
PostgreSQL by LangGraph with its PostgreSQL checkpointer (a checkpoint written
before each next step: durability="sync") and by DBOS (durable workflows: each
step's result recorded before the next).

1. At L = 0 (the "model" returns at once): 30 runs one after another, in process;
   milliseconds per step (run wall / 3) is each library's own cost per step.
2. At L = 1 s per call with 4-way concurrency (4 threads, 8 runs): each run's wall
   over its floor (2 s: the slower advocate, then the judge).
3. Quorum's step is measured here too, in turn with the peers' (ROUNDS rounds, the
   least of each kept): a step on an in-process SimpleWorker with the scripted
   model (bench.stepprofile). Its wall over floor is patterns.debate's at L = 1 s
   on 4 workers, read from the figures of this or an earlier `make bench`.
The peers make no queue hop; Quorum's step is an RQ job plus its durable writes.
Benchmark-only dependencies: bench/requirements.txt, installed by `make bench`.
"""

import json
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RUNS_L0 = 30
ROUNDS = 3
RUNS_L1 = 8
CONCURRENCY = 4
FLOOR_S = 2.0


def _database_url(name: str | None = None) -> str:
    from django.db import connection

    db = connection.settings_dict
    database = name or db["NAME"]
    if db["HOST"].startswith("/"):
        return f"postgresql://{db['USER']}@/{database}?host={db['HOST']}"
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{database}"


def _measure(debate, latency_s: float) -> dict:
    """debate(latency_s) runs one Debate durably; returns wall seconds."""
    debate(0.0)  # warm: tables, connections, imports
    if latency_s == 0:
        walls = [debate(0.0) for _ in range(RUNS_L0)]
        return {"step_ms": round(statistics.mean(walls) * 1000 / 3, 2)}
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        walls = list(pool.map(lambda _: debate(latency_s), range(RUNS_L1)))
    return {"wall_over_floor": round(statistics.mean(walls) / (FLOOR_S * latency_s), 3)}


def _langgraph():
    from typing import TypedDict

    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.graph import END, START, StateGraph
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    class State(TypedDict, total=False):
        latency: float
        a: str
        b: str
        verdict: str

    def advocate(name):
        def node(state: State) -> dict:
            time.sleep(state["latency"])
            return {name: f"findings of {name}"}

        return node

    def judge(state: State) -> dict:
        time.sleep(state["latency"])
        return {"verdict": f"{state['a']} vs {state['b']}"}

    builder = StateGraph(State)
    builder.add_node("a", advocate("a"))
    builder.add_node("b", advocate("b"))
    builder.add_node("judge", judge)
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    builder.add_edge(["a", "b"], "judge")
    builder.add_edge("judge", END)
    pool = ConnectionPool(
        _database_url(), max_size=CONCURRENCY * 2, open=True,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )  # fmt: skip
    saver = PostgresSaver(pool)
    saver.setup()
    graph = builder.compile(checkpointer=saver)

    def debate(latency_s: float) -> float:
        started = time.perf_counter()
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        result = graph.invoke({"latency": latency_s}, config, durability="sync")
        assert result["verdict"]
        return time.perf_counter() - started

    return debate, pool.close


def _dbos():
    from dbos import DBOS

    DBOS(config={"name": "quorum-peers", "system_database_url": _database_url("quorum_dbos_sys")})

    @DBOS.step()
    def call(name: str, latency_s: float) -> str:
        time.sleep(latency_s)
        return f"findings of {name}"

    @DBOS.workflow()
    def advocate(name: str, latency_s: float) -> str:
        return call(name, latency_s)

    @DBOS.workflow()
    def debate_workflow(latency_s: float) -> str:
        a = DBOS.start_workflow(advocate, "a", latency_s)
        b = DBOS.start_workflow(advocate, "b", latency_s)
        return call(f"judge of {a.get_result()} and {b.get_result()}", latency_s)

    DBOS.launch()

    def debate(latency_s: float) -> float:
        started = time.perf_counter()
        assert debate_workflow(latency_s)
        return time.perf_counter() - started

    return debate, DBOS.destroy


def _quorum_wall_over_floor() -> float | None:
    """patterns.debate's wall over floor at L = 1 s on 4 workers, from this bench's
    results file (this run's or an earlier one's)."""
    path = Path(os.environ.get("QUORUM_BENCH_OUT") or "var/bench/latest.json")
    figures = json.loads(path.read_text()) if path.exists() else {}
    return ((figures.get("patterns") or {}).get("debate") or {}).get("wall_over_floor")


def _steps_side_by_side(started: dict) -> dict[str, float]:
    """Each one's milliseconds a step at L = 0, the peers' and Quorum's measured in
    turn, ROUNDS times, the least of each kept: on a shared machine one measure
    taken minutes apart from another compares loads, not engines."""
    from bench.stepprofile import debate_batches, step_ms

    steps: dict[str, list[float]] = {name: [] for name in [*started, "quorum"]}
    with debate_batches() as batches:
        for _ in range(ROUNDS):
            for name, (debate, _stop) in started.items():
                steps[name].append(_measure(debate, 0.0)["step_ms"])
            steps["quorum"].append(step_ms(batches)[0])
    return {name: round(min(values), 2) for name, values in steps.items()}


def run() -> dict:
    started = {}
    for name, start in (("langgraph", _langgraph), ("dbos", _dbos)):
        try:
            started[name] = start()
        except ImportError as error:
            print(f"   {name}: not installed ({error}); `make bench` installs bench/requirements.txt")
    peers: dict = {}
    try:
        steps = _steps_side_by_side(started)
        for name, (debate, _stop) in started.items():
            peers[name] = {"step_ms": steps[name], **_measure(debate, 1.0)}
            print(f"   {name}: {peers[name]}", flush=True)
    finally:
        for _debate, stop in started.values():
            stop()
    quorum = {"step_ms": steps["quorum"], "wall_over_floor": _quorum_wall_over_floor()}
    if peers:
        peers["quorum_step_over_best"] = round(quorum["step_ms"] / min(f["step_ms"] for f in peers.values()), 2)
    if peers and quorum["wall_over_floor"]:
        best = min(figures["wall_over_floor"] for figures in peers.values() if isinstance(figures, dict))
        peers["quorum_wall_over_floor_over_best"] = round(quorum["wall_over_floor"] / best, 3)
    peers["quorum"] = quorum
    peers["load_average_1m"] = round(os.getloadavg()[0], 1)
    print(f"   quorum: {quorum}", flush=True)
    return {"peers": peers}
