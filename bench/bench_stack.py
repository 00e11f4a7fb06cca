"""End to end: how many calls per second one hotline process (AMI bridge + FastAGI IVR +
recordings) handles against the PBX simulator, and what each call costs.

    .venv/bin/python bench/bench_stack.py                          # SQLite and PostgreSQL
    .venv/bin/python bench/bench_stack.py --db sqlite --rates 5,10,20 --seconds 20

Two processes, each pinned to its own CPU: pbxsim (a child process) places inbound calls at a
fixed rate for ``--seconds``; this process runs hotline exactly as ``hotline serve`` wires it
(``hotline.app.Runtime``, scheduler off), over real TCP, with time compressed by ``--speed``
on both sides (ring period 0.5 s at 10: the IVR must answer inside a 0.5 s ring-3 window, ten
times tighter than in real life). Every caller presses 1 and is routed to an agent, who answers
on the first ring and talks 10 simulated seconds. PostgreSQL (a throwaway server,
hotline.devtools.pgserver) floats on both CPUs.

For each rate it prints what was offered and what hotline did with it: calls stored and agreeing
with the simulator's truth log, calls the IVR answered in ring 3 (the answer policy), the worst
event-loop lag, AMI events and database statements per second, and CPU seconds per call of
hotline and, as the baseline measured in the same run, of the simulator doing the PBX side of
the same calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HOTLINE_CPU, PBX_CPU = 0, 1


# -- the simulator's side (child process) ---------------------------------------------------

async def _child(cfg: dict[str, Any]) -> None:
    from pbxsim import (
        AgentBehaviour,
        AgentSpec,
        CallerBehaviour,
        CallerSpec,
        PbxSimulator,
        SimConfig,
    )

    sim = PbxSimulator(SimConfig(
        ami_port=0, agi_url=cfg["agi_url"], speed=cfg["speed"], client_time="real",
        dialplan=REPO / "deploy" / "asterisk" / "extensions.conf",
        record_dir=Path(cfg["tmp"]) / "spool", sounds_dir=Path(cfg["sounds"]),
        truth_log=Path(cfg["tmp"]) / "truth.jsonl", ami_users={"hotline": "sim-secret"},
        channel_vars=("HOTLINE_CALL_ID", "HOTLINE_ATTEMPT_ID", "HOTLINE_CATEGORY"), seed=7,
    ))
    events = [0]

    def count(_name: str, _headers: object) -> None:
        events[0] += 1

    await sim.start()
    sim.hub.listeners.append(count)
    for ext in cfg["agents"]:
        sim.add_agent(AgentSpec(ext, AgentBehaviour(answer_on_ring=1, talk_time=10)))
    print(f"READY {sim.ami_port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # GO
    cpu0, wall0, events[0] = time.process_time(), time.perf_counter(), 0
    interval, total = 1.0 / cfg["rate"], int(cfg["rate"] * cfg["seconds"])
    handles = []
    for i in range(total):
        delay = wall0 + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        handles.append(await sim.place_call(CallerSpec(
            number=f"138{i:08d}", dnid="4008001234",
            behaviour=CallerBehaviour(digits=["1"], talk_time=60, patience=300),
        )))
    placing = time.perf_counter() - wall0
    records = await asyncio.gather(*(h.ended for h in handles))
    await sim.flush()
    result = {
        "calls": total, "placing_seconds": placing, "wall": time.perf_counter() - wall0,
        "cpu": time.process_time() - cpu0, "events": events[0],
        "answered_by_agent": sum(1 for r in records if r["answered_by"]),
        "abandoned": sum(1 for r in records if r["abandoned"]),
        "truth_rings": dict(Counter(str(r["answered_at_ring"]) for r in records)),
        "truth_ring_of": {r["linkedid"]: r["answered_at_ring"] for r in records},
    }
    await sim.stop()
    print("RESULT " + json.dumps(result), flush=True)


# -- hotline's side (this process) ------------------------------------------------------------

class LagMonitor:
    """How late the event loop wakes a 20 ms sleeper: what every call's timing suffers."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.02)
            self.lags.append(time.perf_counter() - start - 0.02)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _pin(cpu: int, pid: int = 0) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {cpu})


def _count_statements(engine: Any) -> dict[str, int]:
    from sqlalchemy import event

    seen = {"statements": 0, "rows": 0, "commits": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def _stmt(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen["statements"] += 1
            seen["rows"] += len(parameters) if executemany else 1

    @event.listens_for(engine, "commit")
    def _commit(conn):  # type: ignore[no-untyped-def]
        seen["commits"] += 1

    return seen


def _call_bytes(engine: Any) -> int | None:
    """PostgreSQL: bytes of the calls and call_legs tables with their indexes and TOAST."""
    if engine.dialect.name != "postgresql":
        return None
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT pg_total_relation_size('calls') + pg_total_relation_size('call_legs')"
        )).scalar_one())


async def run_step(kind: str, url: str, rate: float, seconds: float, agents: int, speed: float,
                   sounds: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from ami_bridge.service import BridgeOptions
    from hotline.app import Runtime
    from hotline.db.models import Call
    from hotline.db.session import make_engine, session_factory
    from tests.e2e.stack import add_agents, free_port, stack_settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    engine = make_engine(url)
    extensions = [str(2000 + i) for i in range(agents)]
    ids = add_agents(engine, extensions)
    agi_port = free_port()
    cfg = {"agi_url": f"agi://127.0.0.1:{agi_port}", "speed": speed, "tmp": str(tmp),
           "sounds": str(sounds), "agents": extensions, "rate": rate, "seconds": seconds}
    child = subprocess.Popen(  # noqa: ASYNC220 (started once per step, before timing)
        [sys.executable, __file__, "--child", json.dumps(cfg)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    _pin(PBX_CPU, child.pid)
    assert child.stdout is not None and child.stdin is not None
    ready = await asyncio.to_thread(child.stdout.readline)
    ami_port = int(ready.split()[1])
    settings = stack_settings(tmp, url, ami_port=ami_port, agi_port=agi_port, sounds=sounds,
                              speed=speed, log_level="WARNING")
    runtime = Runtime.build(settings, engine, scheduler=False,
                            bridge_options=BridgeOptions(wrap_up_seconds=30.0 / speed))
    writes = _count_statements(engine)
    from hotline.web.live import KINDS

    live_events = [0]

    async def count_live(_event: object) -> None:
        live_events[0] += 1

    runtime.bus.subscribe("bench-live", count_live, kinds=KINDS)  # what the live feed would get
    if os.environ.get("BENCH_ASYNCIO_DEBUG"):  # name the callbacks that hold the loop
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.05
    await runtime.start()
    lag = LagMonitor()
    try:
        await runtime.bridge.client.wait_connected(5.0)  # type: ignore[attr-defined]
        for agent_id in ids.values():
            await runtime.bridge.log_in(agent_id)
            await runtime.bridge.set_ready(agent_id)
        await asyncio.sleep(0.5)
        await runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        size0 = _call_bytes(engine)
        events0 = runtime.bridge.client.stats.events  # type: ignore[attr-defined]
        live0 = live_events[0]
        writes0 = dict(writes)
        lag.start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        child.stdin.write("GO\n")
        child.stdin.flush()
        line = await asyncio.to_thread(child.stdout.readline)
        while not line.startswith("RESULT "):
            line = await asyncio.to_thread(child.stdout.readline)
        await runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        await lag.stop()
        events = runtime.bridge.client.stats.events - events0  # type: ignore[attr-defined]
        live = live_events[0] - live0
        dropped = sum(s.dropped for s in runtime.bus.stats().values())
    finally:
        await runtime.stop()
        child.wait(30)
    sim = json.loads(line.split(" ", 1)[1])
    with session_factory(engine)() as s:
        stored = s.scalar(select(func.count()).select_from(Call)) or 0
        answered = s.scalar(select(func.count()).select_from(Call)
                            .where(Call.answered_by_agent_id.is_not(None))) or 0
        stored_rings = dict(s.execute(select(Call.linkedid, Call.rings_at_answer)).tuples().all())
        rings = Counter(stored_rings.values())
    size = _call_bytes(engine)
    engine.dispose()
    n = max(sim["calls"], 1)
    lags = sorted(lag.lags) or [0.0]
    rows = writes["rows"] - writes0["rows"]
    commits = writes["commits"] - writes0["commits"]
    # Per-second figures are per-call costs times the offered rate: the steady state, without
    # the step's ramp-down (the last calls still talking after the last arrival).
    return {
        "db": kind, "rate": rate, "offered": sim["calls"],
        "achieved_rate": (n - 1) / sim["placing_seconds"] if n > 1 else rate,
        "stored": stored, "answered_db": answered, "answered_truth": sim["answered_by_agent"],
        "abandoned": sim["abandoned"],
        # The answer policy (rule 1.1): the IVR answers between ring 3 and ring 5. As the PBX
        # saw it (truth log) and as hotline stored it (the bridge dates events when it reads
        # them, so its own lag can shift a call by a ring).
        "in_window_truth": sum(v for k, v in sim["truth_rings"].items() if k in ("3", "4", "5")),
        "in_window_stored": sum(v for k, v in rings.items() if k in (3, 4, 5)),
        "truth_rings": sim["truth_rings"], "rings": {str(k): v for k, v in rings.items()},
        "ring_differs": sum(1 for linkedid, ring in sim["truth_ring_of"].items()
                            if stored_rings.get(linkedid) != ring),
        "lag_p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))], "lag_max_ms": 1000 * lags[-1],
        "events_per_call": events / n, "events_per_s": events / n * rate,
        "sim_events_per_call": sim["events"] / n, "live_events_per_call": live / n,
        "rows_per_call": rows / n, "writes_per_s": rows / n * rate,
        "commits_per_s": commits / wall,
        "cpu_per_call_ms": 1000 * cpu / n, "sim_cpu_per_call_ms": 1000 * sim["cpu"] / n,
        "cpu_busy": cpu / n * rate, "sim_cpu_busy": sim["cpu"] / n * rate,
        "bus_dropped": dropped, "wall": wall,
        "bytes_per_call": (size - size0) / n if size is not None and size0 is not None else None,
    }


def _sounds() -> Path:
    from hotline.settings import HoursSettings
    from ivr.prompts.build import build_prompts
    from ivr.prompts.catalogue import LANGUAGES, load_catalogue

    out = Path(tempfile.mkdtemp(prefix="bench-sounds-"))
    report = build_prompts(
        load_catalogue(REPO / "callflows" / "prompts.yaml"), sounds_dir=out,
        overrides_dir=REPO / "callflows" / "recorded", hours=HoursSettings(),
        voices={"zh-CN": "cmn-latn-pinyin", "en": "en-us"}, languages=LANGUAGES,
    )
    if report.errors:
        raise SystemExit(f"prompts: {report.errors}")
    return out


def _databases(which: str) -> tuple[list[tuple[str, Any]], Any]:
    """(kind, url factory) per database; the PostgreSQL server to clean up, if started."""
    from sqlalchemy import make_url, text

    from hotline.db import migrate
    from hotline.db.session import make_engine

    out: list[tuple[str, Any]] = []
    server = None
    if which in ("sqlite", "both"):
        def sqlite_url() -> str:
            path = Path(tempfile.mkdtemp(prefix="bench-db-")) / "hotline.db"
            engine = make_engine(f"sqlite:///{path}")
            migrate.upgrade(engine)
            engine.dispose()
            return f"sqlite:///{path}"
        out.append(("sqlite", sqlite_url))
    if which in ("postgresql", "both"):
        admin = os.environ.get("HOTLINE_BENCH_DATABASE_URL")
        if not admin:
            from hotline.devtools.pgserver import PostgresServer

            server = PostgresServer().start()
            admin = server.url()

        def pg_url() -> str:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            eng = make_engine(admin)
            with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            eng.dispose()
            url = make_url(admin).set(database=name).render_as_string(hide_password=False)
            engine = make_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
            return url
        out.append(("postgresql", pg_url))
    return out, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rates", default="5,10,20,30,40",
                        help="Calls per second to offer, one step each (default %(default)s).")
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each step.")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="Also write every figure to this file.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_child(json.loads(args.child)))
        return
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    _pin(HOTLINE_CPU)
    sounds = _sounds()
    dbs, server = _databases(args.db)
    rows = []
    try:
        for kind, make_url in dbs:
            for rate in [float(r) for r in args.rates.split(",")]:
                row = asyncio.run(run_step(kind, make_url(), rate, args.seconds, args.agents,
                                           args.speed, sounds))
                rows.append(row)
                ok = (row["stored"] == row["offered"] and row["answered_db"] == row["answered_truth"]
                      == row["offered"] and row["in_window_truth"] == row["offered"])
                print(
                    f"{kind:<10} offered {row['rate']:>5.1f}/s (achieved {row['achieved_rate']:5.1f}) "
                    f"{row['offered']:>4} calls: stored {row['stored']}, agent-answered "
                    f"{row['answered_db']}/{row['answered_truth']} (truth), answered in rings 3-5: "
                    f"{row['in_window_truth']} (truth) {row['in_window_stored']} (stored), "
                    f"{row['ring_differs']} stored with another ring than the PBX's "
                    f"{'OK' if ok else 'NOT OK'} | loop lag p99 "
                    f"{row['lag_p99_ms']:.0f} ms max {row['lag_max_ms']:.0f} ms | "
                    f"{row['events_per_s']:.0f} AMI events/s ({row['events_per_call']:.0f}/call read, "
                    f"{row['sim_events_per_call']:.0f} sent; "
                    f"{row['live_events_per_call']:.1f} live-feed events/call) | "
                    f"{row['writes_per_s']:.0f} rows/s in {row['commits_per_s']:.0f} commits/s "
                    f"({row['rows_per_call']:.1f}/call) | CPU/call hotline "
                    f"{row['cpu_per_call_ms']:.1f} ms, pbxsim {row['sim_cpu_per_call_ms']:.1f} ms "
                    f"(ratio {row['cpu_per_call_ms'] / max(row['sim_cpu_per_call_ms'], 1e-9):.2f}) "
                    f"| busy: hotline {row['cpu_busy']:.0%}, pbxsim {row['sim_cpu_busy']:.0%}"
                    + (f" | {row['bytes_per_call']:.0f} bytes/call in PostgreSQL"
                       if row["bytes_per_call"] is not None else ""),
                    flush=True,
                )
    finally:
        if server is not None:
            server.cleanup()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    for kind in {r["db"] for r in rows}:
        per_call = [r["cpu_per_call_ms"] for r in rows if r["db"] == kind]
        print(f"{kind}: hotline CPU per call, median over the steps: "
              f"{statistics.median(per_call):.1f} ms -> one core's ceiling "
              f"~{1000 / statistics.median(per_call):.0f} calls/s")


if __name__ == "__main__":
    main()
