"""IVR benchmark: inbound calls offered all at once to the hotline's default flow on pbxsim,
run by the FastAGI server and, in the same run, by a classic AGI process per call.

    .venv/bin/python bench/bench_ivr.py [--calls 200] [--classic-calls 50] [--speed 10] [--arrival-ms 5]

Both runs place the same calls on the PBX simulator (this process, playing Asterisk): the
callers dial the hotline number one every 5 ms (all in progress at once), hear ringing to
ring 3, the greeting and the menu, press 4 ("call me back"), hear the confirmation and the
closing line, and the IVR stores a
``requested`` callback task (SQLite) and hangs up. Nothing but the transport differs:

* FastAGI: ``deploy/asterisk/extensions.conf`` (``AGI(agi://.../inbound)``) to hotline's FastAGI
  server, running in a process of its own (this script with ``--serve-ivr``), as ``hotline
  serve`` runs beside Asterisk. The server measures, per session, the time from accepting the
  connection to writing the first command (target: p99 < 20 ms).
* classic AGI: ``AGI(hotline-agi,inbound)``: pbxsim starts one ``hotline-agi`` process per
  call and speaks AGI on its stdin/stdout, as Asterisk does (the baseline).

Reported for both: calls per second (calls / time from the first arrival to the last hang-up),
the PBX's wait from starting AGI() to the first command (AMI Newexten AGI -> AGIExecStart), CPU
time per call of the hotline side, and that every call went through the flow correctly.
Settings go to hotline the same way for both: ``HOTLINE_*`` environment variables.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HOTLINE_NUMBER = "4008001234"
CLASSIC_DIALPLAN = """
[general]
[hotline-inbound]
exten => _X.,1,NoOp(hotline inbound from ${CALLERID(num)} to ${EXTEN})
 same => n,Set(__HOTLINE_CALL_ID=${UNIQUEID})
 same => n,AGI(hotline-agi,inbound)
 same => n,Hangup()
"""
TARGET_P99 = 0.020


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), 0 <= q <= 100."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hotline_env(tmp: Path, db_url: str, sounds: Path, speed: float, agi_port: int) -> dict[str, str]:
    return {
        "HOTLINE_DATABASE__URL": db_url,
        "HOTLINE_AGI__PORT": str(agi_port),
        "HOTLINE_RING__ON_SECONDS": str(1.0 / speed),
        "HOTLINE_RING__OFF_SECONDS": str(4.0 / speed),
        # open all day, every day: the benchmark must not depend on when it runs
        "HOTLINE_HOURS__OPEN": "00:00", "HOTLINE_HOURS__CLOSE": "23:59",
        "HOTLINE_HOURS__REST_START": "", "HOTLINE_HOURS__REST_END": "",
        "HOTLINE_HOURS__CALENDAR": "none",
        "HOTLINE_IVR__FLOWS_DIR": str(REPO / "callflows"),
        "HOTLINE_IVR__PROMPTS_FILE": str(REPO / "callflows" / "prompts.yaml"),
        "HOTLINE_IVR__SOUNDS_DIR": str(sounds),
        "HOTLINE_IVR__OVERRIDES_DIR": str(tmp / "recorded"),
        "HOTLINE_RECORDINGS__SPOOL_DIR": str(tmp / "spool"),
        "HOTLINE_LOG_LEVEL": "WARNING",
    }


# -- the FastAGI server process ------------------------------------------------------------------

async def serve_ivr() -> None:
    """``--serve-ivr``: the IVR as ``hotline serve`` runs it (settings from HOTLINE_*), until
    stdin closes; then its figures as one JSON line."""
    from hotline.db.session import engine_from_settings, session_factory
    from hotline.logging_setup import configure_logging
    from hotline.settings import load_settings
    from ivr.classic import NoAgents
    from ivr.service import build_ivr
    from ivr.store import SqlCallStore

    settings = load_settings(None)
    configure_logging(settings.log_level, settings.secret_values())
    engine = engine_from_settings(settings)
    # The benchmark's path never reaches an agent; NoAgents is what hotline-agi has too.
    server = build_ivr(settings, router=NoAgents(), store=SqlCallStore(session_factory(engine), settings))
    await server.start()
    print(f"READY {server.port}", flush=True)
    loop = asyncio.get_running_loop()
    # "mark" on stdin: forget the sessions so far (the warm-up) and note the CPU time used;
    # end of stdin: stop, and report what happened since the mark.
    mark = 0.0
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "mark":
            server.stats.first_command_seconds.clear()
            server.stats.environment_seconds.clear()
            mark = _cpu_seconds()
            print("MARKED", flush=True)
    await server.stop()
    stats = server.stats
    print(json.dumps({
        "first_command_seconds": list(stats.first_command_seconds),
        "environment_seconds": list(stats.environment_seconds), "sessions": stats.sessions,
        "crashes": stats.crashes, "command_errors": stats.command_errors,
        "cpu_seconds": _cpu_seconds() - mark,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }), flush=True)
    engine.dispose()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the PBX side ---------------------------------------------------------------------------------

@dataclass
class Run:
    name: str
    calls: int
    seconds: float = 0.0
    pbx_wait: list[float] = field(default_factory=list)  # AGI() start -> first command
    records: list[dict[str, Any]] = field(default_factory=list)
    tasks: int = 0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    server: dict[str, Any] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after

    @property
    def cps(self) -> float:
        return self.calls / self.seconds

    def correct(self) -> int:
        """Calls that went through the flow as the rules say."""
        return sum(1 for r in self.records if not self.faults(r))

    @staticmethod
    def faults(record: dict[str, Any]) -> list[str]:
        found = []
        if record["answered_at_ring"] != 3:
            found.append(f"answered at ring {record['answered_at_ring']}")
        if not record["prompts"] or Path(record["prompts"][0]).name != "greeting":
            found.append("greeting not first")
        if record["variables"].get("HOTLINE_DISPOSITION") != "callback_requested":
            found.append("no callback requested")
        return found

    def fault_summary(self) -> str:
        counts = Counter(f for r in self.records for f in self.faults(r))
        return ", ".join(f"{n} {what}" for what, n in counts.most_common())


def watch_agi_starts(sim: Any, run: Run) -> None:
    """Time from the dialplan starting AGI() on a channel to its first AGI command, from the
    PBX's own events (Newexten Application: AGI, then AGIExecStart)."""
    started: dict[str, float] = {}
    seen: set[str] = set()

    def on_event(name: str, headers: list[tuple[str, str]]) -> None:
        if name == "Newexten":
            h = dict(headers)
            if h.get("Application") == "AGI":
                started[h["Uniqueid"]] = time.perf_counter()
        elif name == "AGIExecStart":
            uid = dict(headers).get("Uniqueid", "")
            if uid in started and uid not in seen:
                seen.add(uid)
                run.pbx_wait.append(time.perf_counter() - started[uid])

    sim.hub.listeners.append(on_event)


def caller(i: int) -> Any:
    from pbxsim import CallerBehaviour, CallerSpec

    return CallerSpec(number=f"139{i:08d}", dnid=HOTLINE_NUMBER,
                      behaviour=CallerBehaviour(digits=["4"], think_time=0.5))


async def warm_up(sim: Any, run: Run) -> None:
    """One call first, not counted: code paths, caches and files warm on both sides, as in a
    PBX and an IVR that have been running."""
    call = await sim.place_call(caller(99_999_999))
    await asyncio.wait_for(call.ended, 120)
    run.pbx_wait.clear()


async def place_calls(sim: Any, run: Run, gap: float) -> None:
    start = time.perf_counter()
    handles = []
    for i in range(run.calls):
        handles.append(await sim.place_call(caller(i)))
        await asyncio.sleep(gap)
    run.records = list(await asyncio.wait_for(asyncio.gather(*(h.ended for h in handles)), 900))
    run.seconds = time.perf_counter() - start


def max_concurrent(records: list[dict[str, Any]]) -> int:
    """The most calls in progress at one moment (from the PBX's truth records)."""
    edges = sorted([(r["arrived_at"], 1) for r in records] + [(r["ended_at"], -1) for r in records],
                   key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def count_tasks(db_url: str) -> int:
    from sqlalchemy import func, select

    from hotline.db.models import OutboundTask
    from hotline.db.session import make_engine

    engine = make_engine(db_url)
    with engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(OutboundTask))
    engine.dispose()
    return int(n or 0)


def sim_config(tmp: Path, speed: float, sounds: Path, **kw: Any) -> Any:
    from pbxsim import SimConfig

    return SimConfig(ami_port=0, speed=speed, client_time="real", record_dir=tmp / "spool",
                     sounds_dir=sounds, seed=5, **kw)


async def run_fastagi(tmp: Path, calls: int, speed: float, sounds: Path, db_url: str, gap: float) -> Run:
    from pbxsim import PbxSimulator

    run = Run("FastAGI", calls)
    port = free_port()
    env = {**os.environ, **hotline_env(tmp, db_url, sounds, speed, port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-ivr", env=env, cwd=tmp,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    ready = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
    assert ready[:1] == ["READY"], ready
    sim = PbxSimulator(sim_config(tmp, speed, sounds, agi_url=f"agi://127.0.0.1:{ready[1]}",
                                  dialplan=REPO / "deploy" / "asterisk" / "extensions.conf"))
    watch_agi_starts(sim, run)
    await sim.start()
    # The simulator plays Asterisk (C, no pauses): keep Python's collector from stalling it
    # while it sends environment blocks, so the waits measured are hotline's.
    gc.collect()
    gc.freeze()
    try:
        await warm_up(sim, run)
        proc.stdin.write(b"mark\n")
        assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"MARKED"
        load = os.getloadavg()[0]
        await place_calls(sim, run, gap)
        run.load = (load, os.getloadavg()[0])
    finally:
        gc.unfreeze()
        await sim.stop()
        proc.stdin.close()
        run.server = json.loads((await asyncio.wait_for(proc.stdout.readline(), 60)).decode())
        await proc.wait()
    run.cpu_seconds = run.server["cpu_seconds"]
    run.peak_rss_mb = run.server["max_rss_kb"] / 1024
    run.tasks = count_tasks(db_url) - 1  # not the warm-up call's
    return run


def rss_mb(pattern: str) -> float:
    """The summed resident memory of every process whose command line contains ``pattern``."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if pattern.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def sample_rss(pattern: str, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], await asyncio.to_thread(rss_mb, pattern))
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except TimeoutError:
            pass


async def run_classic(tmp: Path, calls: int, speed: float, sounds: Path, db_url: str, gap: float) -> Run:
    from pbxsim import PbxSimulator

    run = Run("classic AGI (process per call)", calls)
    # Asterisk hands its own environment to the AGI processes: hotline's settings go there.
    os.environ.update(hotline_env(tmp, db_url, sounds, speed, free_port()))
    os.chdir(tmp)
    sim = PbxSimulator(sim_config(tmp, speed, sounds, dialplan_text=CLASSIC_DIALPLAN,
                                  agi_dir=Path(sys.executable).parent))
    watch_agi_starts(sim, run)
    await sim.start()
    await warm_up(sim, run)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = [0.0]
    stop = asyncio.Event()
    sampler = asyncio.get_running_loop().create_task(sample_rss("hotline-agi", peak, stop))
    try:
        load = os.getloadavg()[0]
        await place_calls(sim, run, gap)
        run.load = (load, os.getloadavg()[0])
    finally:
        await sim.stop()
        stop.set()
        await sampler
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.cpu_seconds = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    run.peak_rss_mb = peak[0]
    run.tasks = count_tasks(db_url) - 1  # not the warm-up call's
    return run


# -- set-up and report ----------------------------------------------------------------------------

def prepare(tmp: Path, sounds: Path | None) -> tuple[Path, Path]:
    """Prompts rendered (espeak-ng) unless given, and a migrated SQLite database to copy."""
    from hotline.db import migrate
    from hotline.db.session import make_engine
    from hotline.settings import HoursSettings
    from ivr.prompts.build import build_prompts
    from ivr.prompts.catalogue import LANGUAGES, load_catalogue

    if sounds is None:
        sounds = tmp / "sounds"
        report = build_prompts(
            load_catalogue(REPO / "callflows" / "prompts.yaml"), sounds_dir=sounds,
            overrides_dir=REPO / "callflows" / "recorded", hours=HoursSettings(),
            voices={"zh-CN": "cmn-latn-pinyin", "en": "en-us"}, languages=LANGUAGES,
        )
        if report.errors:
            raise SystemExit(f"prompt build failed: {report.errors}")
    template = tmp / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return sounds, template


def fresh_db(template: Path, path: Path) -> str:
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def report(fast: Run, classic: Run) -> None:
    def ms(v: float) -> str:
        return f"{v * 1000:.1f}"

    first = fast.server["first_command_seconds"]
    env = fast.server["environment_seconds"]
    own = [f - e for f, e in zip(first, env, strict=True)]
    p99 = percentile(first, 99)
    print()
    print(f"FastAGI server, {len(first)} sessions (p50 / p99 / max, ms):")
    for label, values in (("connection -> first command", first),
                          ("  of which waiting for the environment block", env),
                          ("  of which hotline's own work", own)):
        print(f"  {label:46} {ms(percentile(values, 50)):>7} {ms(percentile(values, 99)):>7} "
              f"{ms(max(values)):>7}")
    print(f"  target: p99 connection -> first command < {ms(TARGET_P99)} ms: "
          f"{'met' if p99 < TARGET_P99 else 'NOT met'}")
    print()
    header = f"{'':34} {'calls':>6} {'ok':>5} {'tasks':>6} {'at once':>8} {'seconds':>8} " \
             f"{'calls/s':>8} {'PBX wait p50/p99 ms':>20} {'CPU ms/call':>12} {'peak RSS MB':>12}"
    print(header)
    for run in (fast, classic):
        wait = f"{ms(percentile(run.pbx_wait, 50))}/{ms(percentile(run.pbx_wait, 99))}"
        print(f"{run.name:34} {run.calls:>6} {run.correct():>5} {run.tasks:>6} "
              f"{max_concurrent(run.records):>8} {run.seconds:>8.2f} "
              f"{run.cps:>8.2f} {wait:>20} {run.cpu_seconds / run.calls * 1000:>12.1f} "
              f"{run.peak_rss_mb:>12.0f}")
    for run in (fast, classic):
        if run.correct() < run.calls:
            print(f"{run.name}: {run.calls - run.correct()} call(s) off the rules: {run.fault_summary()}")
    print()
    fast_cpu, classic_cpu = fast.cpu_seconds / fast.calls, classic.cpu_seconds / classic.calls
    print(f"ratio FastAGI / classic: {fast.cps / classic.cps:.1f}x calls per second in this run "
          f"(FastAGI's bounded by the calls' own length), {classic_cpu / fast_cpu:.1f}x less CPU "
          f"per call: one core serves ~{1 / fast_cpu:.0f} calls/s (FastAGI) vs "
          f"~{1 / classic_cpu:.2f} (classic)")
    print("machine load (1-minute average) before/after: " + ", ".join(
        f"{run.name.split()[0]} {run.load[0]:.1f}/{run.load[1]:.1f}" for run in (fast, classic)))
    if fast.server["crashes"] or fast.server["command_errors"]:
        print(f"WARNING: FastAGI sessions failed: {fast.server}")


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ivr-"))
    try:
        sounds, template = prepare(tmp, args.sounds)
        print(f"{args.calls} calls at once (FastAGI), {args.classic_calls} (classic AGI); "
              f"speed {args.speed:g} (ring period {5 / args.speed:g} s); "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
        gap = args.arrival_ms / 1000
        for folder in ("fast", "classic"):
            (tmp / folder).mkdir()
        fast = await run_fastagi(tmp / "fast", args.calls, args.speed, sounds,
                                 fresh_db(template, tmp / "fast.db"), gap)
        print(f"FastAGI run done in {fast.seconds:.1f} s", flush=True)
        classic = await run_classic(tmp / "classic", args.classic_calls, args.speed, sounds,
                                    fresh_db(template, tmp / "classic.db"), gap)
        print(f"classic AGI run done in {classic.seconds:.1f} s", flush=True)
        report(fast, classic)
    finally:
        os.chdir(REPO)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls at once over FastAGI (200)")
    parser.add_argument("--classic-calls", type=int, default=50,
                        help="calls as classic AGI processes (50: each process holds ~70 MB, "
                             "so 200 at once would need ~14 GB)")
    parser.add_argument("--speed", type=float, default=10.0,
                        help="time compression of the calls, PBX and hotline alike (10)")
    parser.add_argument("--arrival-ms", type=float, default=5.0,
                        help="milliseconds between two calls' arrivals (5: 200 calls in 1 s)")
    parser.add_argument("--sounds", type=Path, default=None,
                        help="rendered prompts to use (default: render them into a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--serve-ivr", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ivr:
        asyncio.run(serve_ivr())
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
