"""Scheduler benchmark: 100,000 pending tasks.

Measures, in one run and on one database engine:

1. planning: the time to plan the next calling window over 100,000 pending tasks (median of
   3), and the peak Python memory while doing it;
2. dispatch: the achieved rate of new calls through the full dialler (claim, attempt row
   committed before the Originate, settlement) under the pacing limits, against an in-process
   PBX that answers at once;
3. baseline, the same tasks as plain APScheduler 3 date jobs without the planning layer:
   the time to schedule them in APScheduler's SQLAlchemy job store (its "plan"), the time to
   find the due ones, the peak memory, and the rate at which APScheduler fires due jobs
   (unpaced, no attempt rows: it has no notion of either).

Each figure is printed with its ratio to the baseline measured in the same run.

    .venv/bin/python bench/bench_scheduler.py [--tasks 100000] [--dispatch 3000] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hotline.db import migrate  # noqa: E402
from hotline.db.session import make_engine, session_factory, transaction  # noqa: E402
from hotline.domain.enums import TaskType  # noqa: E402
from hotline.domain.ports import OriginateResult  # noqa: E402
from hotline.settings import load_settings  # noqa: E402
from scheduler.planner import plan_window  # noqa: E402
from scheduler.tasks import TaskSpec, add_tasks  # noqa: E402
from scheduler.windows import WindowPolicy  # noqa: E402

SH = dt.timezone(dt.timedelta(hours=8))
# Monday 23 November 2026, 12:30 in Shanghai: the rest period; the next window opens at 14:00.
NOW = dt.datetime(2026, 11, 23, 12, 30, tzinfo=SH).astimezone(dt.UTC)
TYPES = list(TaskType)


def specs(n: int) -> list[TaskSpec]:
    out = []
    for i in range(n):
        due = NOW + dt.timedelta(seconds=(i * 7919) % (3 * 86400))  # spread over three days
        out.append(TaskSpec(type=TYPES[i % len(TYPES)], phone=f"+86139{i:08d}", due_at=due,
                            dedupe_key=f"bench:{i}", deadline_at=due + dt.timedelta(hours=48)))
    return out


class InstantPbx:
    """Answers every Originate at once (customer first), so the dialler is what is timed."""

    def __init__(self, target: int) -> None:
        self.sent = 0
        self.target = target
        self.reached = asyncio.Event()

    async def originate(self, **kw: Any) -> OriginateResult:
        self.sent += 1
        if self.sent >= self.target:
            self.reached.set()
        return OriginateResult(str(kw["action_id"]), True, 4, "PJSIP/carrier-00000001", "1.1")

    async def core_show_channels(self) -> list[dict[str, str]]:
        return []

    async def hangup(self, channel: str, cause: int = 16) -> None: ...
    async def redirect(self, *a: Any, **kw: Any) -> None: ...
    async def setvar(self, *a: Any) -> None: ...
    async def getvar(self, *a: Any) -> str | None:
        return None
    async def mixmonitor(self, *a: Any, **kw: Any) -> None: ...
    async def stop_mixmonitor(self, *a: Any) -> None: ...


def peak_mb(fn: Any) -> tuple[Any, float]:
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 1e6


async def dispatch_rate(url: str, settings: Any, calls: int) -> tuple[float, int]:
    from scheduler.service import OutboundScheduler

    engine = make_engine(url)
    pbx = InstantPbx(calls)
    # Thursday 19:00: every task is due, so the dialler always has work.
    opened = dt.datetime(2026, 11, 26, 19, 0, tzinfo=SH).astimezone(dt.UTC)
    svc = OutboundScheduler(settings, engine, pbx, clock=lambda: opened,  # type: ignore[arg-type]
                            dispatch_poll_seconds=0.005)
    runner = asyncio.create_task(svc.run())
    await svc.leading.wait()
    start = time.perf_counter()
    await asyncio.wait_for(pbx.reached.wait(), 600)
    elapsed = time.perf_counter() - start
    done = pbx.sent
    await svc.stop()
    await runner
    engine.dispose()
    return done / elapsed, done


async def dispatch_rate_pbxsim(url: str, settings: Any, calls: int, tmp: str) -> dict[str, float]:
    """The same dispatch through the real path: the AMI bridge's PbxActions over TCP to pbxsim
    (deploy/asterisk/extensions.conf, customers whose line is busy, so each Originate comes
    back at once with Reason 5), the bridge's records on the bus, settlement. Pacing is read
    back from pbxsim's truth log: the most calls up at once and started within one second."""
    from ami_bridge.service import Bridge
    from hotline.bus import EventBus
    from pbxsim import CustomerBehaviour, PbxSimulator, SimConfig
    from scheduler.service import OutboundScheduler

    sim = PbxSimulator(SimConfig(
        ami_port=0, speed=100.0, client_time="real",
        dialplan=REPO / "deploy" / "asterisk" / "extensions.conf",
        record_dir=Path(tmp) / "spool", ami_users={"hotline": "bench-secret"},
        channel_vars=("HOTLINE_CALL_ID", "HOTLINE_ATTEMPT_ID", "HOTLINE_CATEGORY"),
    ))
    await sim.start()
    sim.set_default_customer(CustomerBehaviour(mode="busy"))
    ami = settings.ami.model_dump()
    ami.update(port=sim.ami_port, secret="bench-secret")
    settings = settings.model_copy(update={"ami": type(settings.ami)(**ami)})
    engine = make_engine(url)
    bus = EventBus()
    bridge = Bridge(settings, engine, bus)
    opened = dt.datetime(2026, 11, 26, 19, 0, tzinfo=SH).astimezone(dt.UTC)
    svc = OutboundScheduler(settings, engine, bridge.actions, router=bridge.router,
                            clock=lambda: opened, dispatch_poll_seconds=0.005)
    svc.subscribe(bus)
    await bus.start()
    await bridge.start()
    await bridge.client.wait_connected(5)
    runner = asyncio.create_task(svc.run())
    await svc.leading.wait()
    start = time.perf_counter()
    while len(sim.truth) < calls:  # noqa: ASYNC110 - pbxsim offers no event for this
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    await svc.stop()
    await runner
    await bridge.stop()
    await bus.stop()
    truth = list(sim.truth)
    await sim.stop()
    engine.dispose()
    stamps = sorted(
        (dt.datetime.fromisoformat(r["arrived_at"]).timestamp(),
         dt.datetime.fromisoformat(r["ended_at"]).timestamp()) for r in truth
    )
    starts = [a for a, _ in stamps]
    edges = sorted([(a, 1) for a, _ in stamps] + [(b, -1) for _, b in stamps])
    up = most = 0
    for _, step in edges:
        up += step
        most = max(most, up)
    j = per_second = 0
    for i, t in enumerate(starts):
        while starts[j] <= t - 1.0:
            j += 1
        per_second = max(per_second, i - j + 1)
    return {"rate": len(truth) / elapsed, "calls": len(truth), "at_once": most,
            "per_second": per_second}


def apscheduler_baseline(url: str, n: int, fire: int) -> dict[str, float]:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    engine = make_engine(url)
    store = SQLAlchemyJobStore(engine=engine)
    sched = BackgroundScheduler(jobstores={"default": store}, timezone="Asia/Shanghai")
    sched.start(paused=True)
    all_specs = specs(n)

    def schedule() -> None:
        for sp in all_specs:
            sched.add_job(_noop, "date", run_date=sp.due_at, id=sp.dedupe_key,
                          args=[sp.dedupe_key], misfire_grace_time=None)

    t0 = time.perf_counter()
    schedule()
    schedule_s = time.perf_counter() - t0
    window_end = dt.datetime(2026, 11, 23, 20, 0, tzinfo=SH).astimezone(dt.UTC)
    t0 = time.perf_counter()
    store.get_due_jobs(window_end)
    due_s = time.perf_counter() - t0
    _, due_peak = peak_mb(lambda: store.get_due_jobs(window_end))
    sched.shutdown(wait=False)

    # Firing rate: `fire` jobs due now, run by APScheduler's executor as fast as it can.
    sched2 = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine,
                                                                          tablename="bench_fire")},
                                 executors={"default": {"type": "threadpool", "max_workers": 10}})
    sched2.start(paused=True)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    for i in range(fire):
        sched2.add_job(_count, "date", run_date=soon, id=f"f{i}",
                       misfire_grace_time=None)
    time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()))
    t0 = time.perf_counter()
    sched2.resume()
    while FIRED["n"] < fire and time.perf_counter() - t0 < 120:
        time.sleep(0.005)
    fire_s = time.perf_counter() - t0
    sched2.shutdown(wait=True)
    engine.dispose()
    return {"schedule_s": schedule_s, "due_s": due_s,
            "peak_mb": due_peak, "fire_rate": FIRED["n"] / fire_s}


def _noop(key: str) -> None:  # pragma: no cover - never fires in the baseline
    pass


FIRED = {"n": 0}


def _count() -> None:
    FIRED["n"] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--dispatch", type=int, default=3_000)
    ap.add_argument("--concurrent", type=int, default=100)
    ap.add_argument("--per-second", type=float, default=500.0)
    ap.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    ap.add_argument("--pbxsim", type=int, default=2_000, metavar="CALLS",
                    help="also dispatch this many calls through the AMI bridge to pbxsim "
                         "(0: skip)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="hotline-bench-")
    url = args.db or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
    base_url = f"sqlite:///{os.path.join(tmp, 'apscheduler.db')}" if not args.db else args.db
    os.environ.pop("HOTLINE_CONFIG", None)
    settings = load_settings(database={"url": url}, scheduler={
        "mode": "customer_first", "max_concurrent_calls": args.concurrent,
        "new_calls_per_second": args.per_second, "tick_seconds": 3600, "lease_seconds": 5,
        "reconcile_seconds": 0.05})

    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    t0 = time.perf_counter()
    with transaction(sessions) as s:
        add_tasks(s, specs(args.tasks), settings, batch=5000)
    create_s = time.perf_counter() - t0
    policy = WindowPolicy(settings)
    times, planned = [], 0
    for _ in range(3):
        with sessions() as s:
            t0 = time.perf_counter()
            planned = len(plan_window(s, policy, NOW).entries)
            times.append(time.perf_counter() - t0)
    with sessions() as s:  # memory apart: tracemalloc slows Python down several times
        _, peak = peak_mb(lambda: plan_window(s, policy, NOW))
    engine.dispose()
    plan_s = statistics.median(times)
    rate, dialled = asyncio.run(dispatch_rate(url, settings, args.dispatch))
    real = asyncio.run(dispatch_rate_pbxsim(url, settings, args.pbxsim, tmp)) if args.pbxsim else None

    base = apscheduler_baseline(base_url, args.tasks, min(args.dispatch, 3000))
    print(f"engine: {make_engine(url).dialect.name}; {args.tasks:,} pending tasks "
          f"(stored in {create_s:.2f} s)")
    print(f"plan next window: {plan_s * 1000:.0f} ms for {planned:,} planned tasks "
          f"(median of 3), peak {peak:.1f} MB")
    print(f"  baseline APScheduler date jobs: schedule {base['schedule_s']:.2f} s + find due "
          f"{base['due_s'] * 1000:.0f} ms, peak {base['peak_mb']:.1f} MB")
    print(f"  ratio plan / (schedule + find due): "
          f"{plan_s / (base['schedule_s'] + base['due_s']):.3f}; "
          f"plan / find due alone: {plan_s / base['due_s']:.2f}; memory "
          f"{peak / base['peak_mb']:.2f}")
    print(f"dispatch: {rate:.0f} calls/s over {dialled:,} calls under limits "
          f"{args.concurrent} at once, {args.per_second:.0f}/s "
          f"({100 * rate / args.per_second:.0f}% of the rate limit)")
    print(f"  baseline APScheduler firing (unpaced, no attempt rows): {base['fire_rate']:.0f} "
          f"jobs/s; ratio {rate / base['fire_rate']:.2f}")
    if real is not None:
        print(f"dispatch through the AMI bridge to pbxsim: {real['rate']:.0f} calls/s over "
              f"{real['calls']:,.0f} Originates ({100 * real['rate'] / args.per_second:.0f}% of "
              f"the rate limit); at the PBX: at most {real['at_once']:.0f} up at once, "
              f"{real['per_second']:.0f} started within one second")
        print(f"  ratio to the in-process dispatch: {real['rate'] / rate:.2f}; to APScheduler "
              f"firing: {real['rate'] / base['fire_rate']:.2f}")


if __name__ == "__main__":
    main()
