"""Issue 9's faults: the whole 2,000-call busy hour with a fault injected during it, and what
the fault cost, judged by pbxsim's truth log (tests/e2e/busy_hour.py).

    .venv/bin/python bench/busy_hour.py                              # all faults, speed 20
    .venv/bin/python bench/busy_hour.py --faults ami,pbx --calls 600 # a shorter look

One run per fault, each on a fresh PostgreSQL database (a throwaway server,
hotline.devtools.pgserver), each playing ``pbxsim/scenarios/busy-hour.yaml`` into a whole
hotline (bridge, IVR, recordings, scheduler) with time compressed ``--speed``-fold on both
sides, and first a run without any fault: the baseline, measured in the same invocation.

Faults, injected while calls arrive:

* ``ami``: the AMI connection reset under the bridge five times, evenly spread;
* ``pbx``: pbxsim (Asterisk) restarted once, down ``--pbx-down`` real seconds; callers who
  arrive meanwhile are refused at the carrier (counted, never placed);
* ``pg``: the PostgreSQL server stopped for ``--pg-down`` real seconds (30 by default, *not*
  scaled by the speed: at speed 20 that is ten simulated minutes of the hour) and started
  again;
* ``kill``: hotline (a Runtime as ``hotline serve`` runs it, in a child process) killed with
  SIGKILL and a new one started at once (in this process, as the crash tests do);
* ``together`` (not in the default list): ``ami``, ``pbx`` and ``pg`` in one run, one after
  the other (drops at 5-25% of the arrivals, the PBX restart at 35%, PostgreSQL at 55%).

For each it prints: calls placed; **lost** (a call the PBX had that the database does not);
**duplicated** (a call stored twice); **callbacks dialled twice** (an attempt originated
twice, or a customer who answered a callback called again); **callback requests lost** (a
caller the IVR told "we will call you back" without a task to do it); **other disagreements** with
the truth log, callbacks or recordings (tests/e2e/busy_hour.py's judge; the first few are
listed); **time to recover** (ami/pbx: from the fault until the bridge had resynchronised;
pg: from the server's restart until the bridge's writer had written the records it kept
during the outage; kill: from
SIGKILL until the new bridge had resynchronised); and the run's wall time against the
baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, make_url, text  # noqa: E402

from hotline.db import migrate  # noqa: E402
from hotline.db.session import make_engine  # noqa: E402
from hotline.devtools.pgserver import PostgresServer  # noqa: E402
from hotline.settings import HoursSettings  # noqa: E402
from ivr.prompts.build import build_prompts  # noqa: E402
from ivr.prompts.catalogue import LANGUAGES, load_catalogue  # noqa: E402
from tests.e2e.busy_hour import (  # noqa: E402
    FAST_RECORDINGS,
    BusyHour,
    Verdict,
    agent_behaviours,
    bring_back_paused,
    busy_hour,
    busy_hour_settings,
    judge,
    play,
    run_busy_hour,
    settle,
)
from tests.e2e.stack import (  # noqa: E402
    REPO,
    Stack,
    add_agents,
    child_runtime,
    free_port,
    new_simulator,
    running_runtime,
    stack_settings,
)

FAULTS = ("ami", "pbx", "pg", "kill")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Outcome:
    name: str
    run: BusyHour
    verdict: Verdict
    recoveries: list[float] = field(default_factory=list)
    note: str = ""


async def until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the system did not recover in time")
        await asyncio.sleep(0.01)


def fresh_database(admin_url: str) -> str:
    name = f"busy_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(make_engine(url))
    return url


def build_sounds(out: Path) -> Path:
    report = build_prompts(
        load_catalogue(REPO / "callflows" / "prompts.yaml"), sounds_dir=out,
        overrides_dir=REPO / "callflows" / "recorded", hours=HoursSettings(),
        voices={"zh-CN": "cmn-latn-pinyin", "en": "en-us"}, languages=LANGUAGES,
    )
    if report.errors:
        raise SystemExit(f"prompts could not be built: {report.errors}")
    return out


# -- one run per fault -----------------------------------------------------------------------

async def in_process(name: str, args: argparse.Namespace, tmp: Path, engine: Engine, url: str,
                     sounds: Path, server: PostgresServer) -> Outcome:
    """A run with hotline in this process; the fault is injected by a coroutine alongside the
    callers, at moments spread over the arrivals."""
    arrivals = busy_hour(args.calls).plan()[-1].at / args.speed
    recoveries: list[float] = []
    outages: list[tuple[dt.datetime, dt.datetime]] = []
    pbx_up = [True]

    async def resynchronised(stack: Stack, since: int) -> dt.datetime:
        bridge = stack.runtime.bridge
        await until(lambda: bridge.resyncs > since)
        return now()

    begun = [0.0]

    async def until_share(share: float) -> None:
        """Sleep until ``share`` of the arrivals have gone by since the callers started."""
        if not begun[0]:
            begun[0] = time.monotonic()
        await asyncio.sleep(max(0.0, begun[0] + share * arrivals - time.monotonic()))

    async def ami(stack: Stack, shares: tuple[float, ...] = tuple(i / 6 for i in range(1, 6))) -> None:
        for share in shares:
            await until_share(share)
            since, cut = stack.runtime.bridge.resyncs, now()
            stack.sim.faults.drop_ami()
            back = await resynchronised(stack, since)
            outages.append((cut, back))
            recoveries.append((back - cut).total_seconds())

    async def pbx(stack: Stack, share: float = 0.4) -> None:
        await until_share(share)
        since, cut = stack.runtime.bridge.resyncs, now()
        pbx_up[0] = False
        try:
            await stack.sim.restart(down_for=args.pbx_down)
        finally:
            pbx_up[0] = True
        back = await resynchronised(stack, since)
        outages.append((cut, back))
        recoveries.append((back - cut).total_seconds())
        for agent_id in stack.agents.values():  # the agents' desks carry on
            await stack.runtime.bridge.set_ready(agent_id)

    async def pg(stack: Stack, share: float = 0.4) -> None:
        await until_share(share)
        await asyncio.to_thread(server.stop, "fast")
        await asyncio.sleep(args.pg_down)
        await asyncio.to_thread(server.restart)
        back = time.monotonic()
        writer = stack.runtime.bridge.writer
        # the writer noticed the outage, and has written its backlog since
        await until(lambda: writer.stats.failures > 0 and writer.healthy  # type: ignore[attr-defined]
                    and writer._retry is None, timeout=300)  # type: ignore[attr-defined]
        recoveries.append(time.monotonic() - back)

    async def together(stack: Stack) -> None:
        """All three in one hour, one after the other: the AMI link dropped five times in
        the first quarter, the PBX restarted at 35%, PostgreSQL stopped at 55%."""
        begun[0] = time.monotonic()
        await ami(stack, (0.05, 0.10, 0.15, 0.20, 0.25))
        await pbx(stack, 0.35)
        await pg(stack, 0.55)

    during = {"ami": ami, "pbx": pbx, "pg": pg, "together": together, "none": None}[name]
    run = await run_busy_hour(tmp, engine, url, sounds, calls=args.calls, speed=args.speed,
                              during=during, accepting=lambda: pbx_up[0])
    run.outages = outages
    return Outcome(name, run, judge(engine, run), recoveries)


async def kill(args: argparse.Namespace, tmp: Path, engine: Engine, url: str,
               sounds: Path) -> Outcome:
    """hotline in a child process, SIGKILLed 40% into the arrivals; a new Runtime started at
    once takes over (pbxsim and the callers carry on throughout)."""
    scenario = busy_hour(args.calls)
    arrivals = scenario.plan()[-1].at / args.speed
    options = busy_hour_settings(args.speed)
    started = time.monotonic()
    agi_port = free_port()
    sim = new_simulator(tmp, sounds, agi_port=agi_port, speed=args.speed, timestamp_events=True)
    await sim.start()
    try:
        behaviours = agent_behaviours(scenario)
        ids = add_agents(engine, behaviours)
        for spec in scenario.agents():
            sim.add_agent(spec)
        overrides = {"agents": {"wrap_up_seconds": options["wrap_up_seconds"]},
                     "recordings": FAST_RECORDINGS}
        settings = stack_settings(tmp, url, ami_port=sim.ami_port, agi_port=agi_port,
                                  sounds=sounds, speed=args.speed,
                                  scheduler=options["scheduler_settings"], **overrides)
        async with child_runtime(tmp, url, sounds, ami_port=sim.ami_port, agi_port=agi_port,
                                 agent_ids=ids, speed=args.speed,
                                 scheduler_settings=options["scheduler_settings"],
                                 **overrides) as child:
            player = asyncio.ensure_future(play(sim, scenario))  # once hotline is ready
            await asyncio.sleep(0.4 * arrivals)
            cut = now()
            await child.kill()
        async with running_runtime(settings, engine, ids, scheduler=True) as runtime:
            await until(lambda: runtime.bridge.resyncs > 0)
            back = now()
            stack = Stack(sim, runtime, settings, engine, ids)
            supervisor = asyncio.ensure_future(bring_back_paused(stack, every=60 / args.speed))
            played = await player
            supervisor.cancel()
            playing = time.monotonic() - started
            await settle(stack)
            run = BusyHour(list(sim.truth), settings, ids, outages=[(cut, back)],
                           wall_seconds=time.monotonic() - started, scenario_seconds=playing,
                           refused=played.refused)
    finally:
        await sim.stop()
    return Outcome("kill", run, judge(engine, run), [(back - cut).total_seconds()])


# -- report ----------------------------------------------------------------------------------

LABELS = {
    "none": "no fault (baseline)",
    "ami": "AMI link dropped 5 times",
    "pbx": "pbxsim (Asterisk) restarted",
    "pg": "PostgreSQL stopped",
    "kill": "hotline serve SIGKILLed, restarted",
    "together": "AMI dropped 5 times, pbxsim restarted and PostgreSQL stopped, in one hour",
}


def report(o: Outcome, baseline: Outcome | None, args: argparse.Namespace) -> None:
    v, run = o.verdict, o.run
    label = LABELS[o.name] + (f" {args.pg_down:g} s" if o.name in ("pg", "together") else "")
    ratio = f"{run.wall_seconds / baseline.run.wall_seconds:.2f}" if baseline else "1.00"
    recover = ", ".join(f"{r:.2f}" for r in o.recoveries) or "-"
    requests_lost = sum(1 for p in v.problems if p.endswith("asked to be called back and has no task"))
    other = len(v.problems) - v.lost - v.duplicated - requests_lost
    print(f"\n== {label}", flush=True)
    print(f"  calls placed {v.calls:,} (refused while the PBX was down: {run.refused}); "
          f"dropped {v.dropped}, flagged {v.flagged}")
    print(f"  calls lost {v.lost}  duplicated {v.duplicated}  callbacks dialled twice "
          f"{v.callbacks_dialled_twice}  callback requests lost {requests_lost} of "
          f"{v.callback_requests}  other disagreements {other}")
    print(f"  time to recover (s): {recover}")
    print(f"  wall {run.wall_seconds:.0f} s (calls arriving {run.scenario_seconds:.0f} s), "
          f"ratio to the baseline {ratio}")
    for line in v.problems[:args.show]:
        print(f"    - {line}")
    if len(v.problems) > args.show:
        print(f"    ... and {len(v.problems) - args.show} more")


async def main(args: argparse.Namespace) -> None:
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS) - {"together"}
    if unknown:
        raise SystemExit(f"--faults: unknown {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(FAULTS)}, together)")
    root = Path(tempfile.mkdtemp(prefix="bench-busy-hour-"))
    print(f"busy hour: {args.calls:,} calls at speed {args.speed:g} on PostgreSQL; work in {root}",
          flush=True)
    logging.basicConfig(level=logging.WARNING, filename=root / "hotline.log",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"hotline's log: {root / 'hotline.log'}", flush=True)
    sounds = build_sounds(root / "sounds")
    server = PostgresServer().start()
    try:
        baseline = None
        for name in (["none"] if args.baseline else []) + faults:
            tmp = root / name
            tmp.mkdir()
            url = fresh_database(server.url())
            engine = make_engine(url)
            if name == "kill":
                outcome = await kill(args, tmp, engine, url, sounds)
            else:
                outcome = await in_process(name, args, tmp, engine, url, sounds, server)
            engine.dispose()
            if name == "none":
                baseline = outcome
            report(outcome, baseline, args)
    finally:
        server.cleanup()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faults", default=",".join(FAULTS),
                   help="comma-separated: ami,pbx,pg,kill, or together (ami, pbx and pg in one run)")
    p.add_argument("--calls", type=int, default=2000, help="calls of busy-hour.yaml (2,000: all)")
    p.add_argument("--speed", type=float, default=20.0, help="time compression on both sides")
    p.add_argument("--pg-down", type=float, default=30.0, help="real seconds PostgreSQL is down")
    p.add_argument("--pbx-down", type=float, default=2.0, help="real seconds pbxsim is down")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the run without faults")
    p.add_argument("--show", type=int, default=8, help="disagreements listed per run")
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
