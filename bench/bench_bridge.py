"""The AMI bridge's speed: events/s against bare panoramisk, decision delay, ring-5 lateness.

    .venv/bin/python bench/bench_bridge.py [--copies 8] [--repeat 3] [--rerecord]

One recorded AMI stream is replayed over loopback TCP by a manager in another process
(bench/ami_replay_server.py, pinned to the last CPU when there are several; the client is not
pinned, so the bridge's writer thread may use a CPU the reader is not using, as in
production) into, in the same run:

(a) a bare ``panoramisk.Manager`` with a no-op handler for every event (the baseline);
(b) the full bridge (``ami_bridge.service.Bridge``: framing, the state machine, the ring-5
    deadlines, the router, the bus, and the writer's batched SQLite writes), timed until the
    last event is handled *and* everything it implies is in the database.

The stream is recorded once (cached in var/bench/): pbxsim runs scenario load-200 (200 inbound
calls, 10 agents, speed 25) against a whole hotline (IVR, bridge) while a second AMI client
with the production read classes (deploy/asterisk/manager.conf, timestampevents on) records
every byte. The replay repeats it ``--copies`` times with every Uniqueid/Linkedid moved so
each copy is new calls. Targets: (b) at least 20,000 events/s and at least half of (a).

Then (c) the same stream at 2,000 events/s, each event stamped with the moment it was written:
the delay until the bridge has decided on it (the state machine applied it and published what
it implies), p50/p99 over the events the state machine reads (target p99 < 5 ms); and (d) 1,000
calls whose agents' phones all start ringing at once (P = 0.4 s, deadline 2 s): how late each
Hangup reaches Asterisk after ringing start + 5·P, and how late the bridge's timers ran
(target p99 < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, insert  # noqa: E402

from ami_bridge.frames import AmiMessage  # noqa: E402
from ami_bridge.service import Bridge  # noqa: E402
from hotline import tuning  # noqa: E402
from hotline.accounts.passwords import hash_password  # noqa: E402
from hotline.db import migrate  # noqa: E402
from hotline.db.models import Agent, User  # noqa: E402
from hotline.db.session import make_engine  # noqa: E402
from hotline.settings import Settings  # noqa: E402

CACHE = REPO / "var" / "bench"
SERVER = REPO / "bench" / "ami_replay_server.py"
# What deploy/asterisk/manager.conf lets hotline read: no cdr, no security.
READ_CLASSES = {b"system", b"call", b"agent", b"user", b"dialplan", b"agi", b"dtmf", b"reporting"}
SENTINEL = b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: BenchDone\r\n\r\n"
RECORD_SPEED = 25.0
_ID = re.compile(rb"\b(1[0-9]{9})\.([0-9]+)\b")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the recording ---------------------------------------------------------------------------


async def _record() -> bytes:
    """Run load-200 through pbxsim and a whole hotline; keep what an AMI client read."""
    from hotline.settings import HoursSettings
    from ivr.prompts.build import build_prompts
    from ivr.prompts.catalogue import LANGUAGES, load_catalogue
    from pbxsim import Scenario
    from tests.e2e.stack import running_stack

    scenario = Scenario.load(REPO / "pbxsim" / "scenarios" / "load-200.yaml")
    agents = {spec.extension: spec.behaviour for spec in scenario.agents()}
    traffic = Scenario.from_dict({k: v for k, v in scenario.model.model_dump().items() if k != "agents"})
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        build_prompts(load_catalogue(REPO / "callflows" / "prompts.yaml"), sounds_dir=tmp / "sounds",
                      overrides_dir=REPO / "callflows" / "recorded", hours=HoursSettings(),
                      voices={"zh-CN": "cmn-latn-pinyin", "en": "en-us"}, languages=LANGUAGES)
        db = tmp / "rec.db"
        engine = make_engine(f"sqlite:///{db}")
        migrate.upgrade(engine)
        async with running_stack(tmp, engine, f"sqlite:///{db}", tmp / "sounds", agents,
                                 speed=RECORD_SPEED, wrap_up_seconds=5 / RECORD_SPEED,
                                 timestamp_events=True) as stack:
            reader, writer = await asyncio.open_connection("127.0.0.1", stack.sim.ami_port)
            await reader.readline()
            writer.write(b"Action: Login\r\nUsername: hotline\r\nSecret: sim-secret\r\nEvents: on\r\n\r\n")
            chunks: list[bytes] = []

            async def collect() -> None:
                while data := await reader.read(1 << 16):
                    chunks.append(data)

            task = asyncio.ensure_future(collect())
            run = await stack.sim.run_scenario(traffic)
            await asyncio.sleep(0.5)
            task.cancel()
            writer.close()
            print(f"recorded: {run.summary()}", file=sys.stderr)
        engine.dispose()
    frames = [f for f in b"".join(chunks).split(b"\r\n\r\n") if f.startswith(b"Event: ")]
    kept = []
    for f in frames:
        m = re.search(rb"\r\nPrivilege: ([a-z]+),", f)
        if m and m.group(1) in READ_CLASSES:
            kept.append(f + b"\r\n\r\n")
    return b"".join(kept)


def recorded_stream(rerecord: bool) -> bytes:
    path = CACHE / "ami-load-200.ami"
    if rerecord or not path.exists():
        print("recording the AMI stream of scenario load-200 (once; cached in var/bench)...", file=sys.stderr)
        data = asyncio.run(_record())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path.read_bytes()


def replicate(stream: bytes, copies: int) -> bytes:
    """``copies`` back-to-back copies, each with its own Uniqueids and Linkedids (and
    timestamps moved along): new calls every time."""
    parts = []
    for k in range(copies):
        shift = k * 1_000_000
        parts.append(stream if k == 0 else _ID.sub(
            lambda m, shift=shift: b"%d.%s" % (int(m[1]) + shift, m[2]), stream))
    return b"".join(parts)


def extensions(stream: bytes) -> list[str]:
    return sorted({m.decode() for m in re.findall(rb"Channel: PJSIP/(\d{4})-", stream)})


# -- the replaying Asterisk --------------------------------------------------------------------


class Replay:
    def __init__(self, stream: bytes, tmp: Path) -> None:
        self.file = tmp / f"stream-{id(stream)}.ami"
        self.file.write_bytes(stream)
        cmd = [sys.executable, str(SERVER), str(self.file)]
        cpus = os.cpu_count() or 1
        if cpus > 1 and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpus - 1), *cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self._read("port"))

    def _read(self, word: str) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split(maxsplit=1)
        assert line and line[0] == word, line
        return line[1]

    def _write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    async def go(self, mode: str = "burst", rate: float = 0.0) -> float:
        self._write(f"go {mode} {rate}")
        return float(await asyncio.to_thread(self._read, "started"))

    async def sent(self) -> float:
        return float(await asyncio.to_thread(self._read, "sent"))

    async def hangups(self) -> dict[str, float]:
        self._write("hangups")
        return json.loads(await asyncio.to_thread(self._read, "hangups"))

    def close(self) -> None:
        try:
            self._write("quit")
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


# -- (a) bare panoramisk ---------------------------------------------------------------------


async def run_panoramisk(stream: bytes, tmp: Path) -> float:
    from panoramisk import Manager

    replay = Replay(stream, tmp)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()

    def noop(_manager: Any, event: Any) -> None:
        if event.get("UserEvent") == "BenchDone" and not done.done():
            done.set_result(time.monotonic())

    manager = Manager(host="127.0.0.1", port=replay.port, username="hotline", secret="bench",
                      ping_delay=600, ping_interval=600, loop=loop)
    manager.register_event("*", noop)
    manager.connect()
    while not manager.authenticated:  # noqa: ASYNC110 - panoramisk has nothing to await
        await asyncio.sleep(0.01)
    started = await replay.go()
    ended = await asyncio.wait_for(done, 300)
    manager.close()
    replay.close()
    return ended - started


async def run_panoramisk_latency(stream: bytes, tmp: Path, rate: float) -> list[float]:
    """The baseline of (c): how long bare panoramisk takes to hand each paced event to a
    no-op handler, on the same machine at the same moment (its noise is in both)."""
    from panoramisk import Manager

    replay = Replay(stream, tmp)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    delays: list[float] = []
    clock = time.monotonic

    def handler(_manager: Any, event: Any) -> None:
        sent = event.get("X-Sent")
        if sent is not None:
            delays.append(clock() - float(sent))
        if event.get("UserEvent") == "BenchDone" and not done.done():
            done.set_result(clock())

    manager = Manager(host="127.0.0.1", port=replay.port, username="hotline", secret="bench",
                      ping_delay=600, ping_interval=600, loop=loop)
    manager.register_event("*", handler)
    manager.connect()
    while not manager.authenticated:  # noqa: ASYNC110 - panoramisk has nothing to await
        await asyncio.sleep(0.01)
    await replay.go("paced", rate)
    await asyncio.wait_for(done, 600)
    manager.close()
    replay.close()
    return delays


# -- (b) the full bridge --------------------------------------------------------------------


def bridge_settings(port: int, db: Path, on: float = 0.04, off: float = 0.16) -> Settings:
    return Settings(
        database={"url": f"sqlite:///{db}"},
        ami={"port": port, "secret": "bench", "ping_interval": 600, "ping_timeout": 60,
             "action_timeout": 30, "reconnect_min": 0.05, "reconnect_max": 0.5},
        ring={"on_seconds": on, "off_seconds": off},
        agents={"wrap_up_seconds": 0.2},
    )


def make_db(tmp: Path, exts: list[str], name: str) -> tuple[Path, Engine]:
    db = tmp / f"{name}-{time.monotonic_ns()}.db"  # a fresh database every run
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    digest = hash_password("bench-password")
    with engine.begin() as conn:
        users = conn.execute(
            insert(User).returning(User.id, sort_by_parameter_order=True),
            [{"username": f"agent{e}", "role": "agent", "password_hash": digest, "display_name": e,
              "active": True} for e in exts],
        ).scalars().all()
        conn.execute(insert(Agent), [
            {"user_id": uid, "extension": e, "interface": f"PJSIP/{e}", "state": "ready",
             "auto_answer": False} for uid, e in zip(users, exts, strict=True)
        ])
    return db, engine


async def start_bridge(replay: Replay, db: Path, engine: Engine, **ring: float) -> Bridge:
    bridge = Bridge(bridge_settings(replay.port, db, **ring), engine)  # with a bus of its own
    await bridge.start()
    await bridge.client.wait_connected(10)
    while bridge.resyncs < 1:  # noqa: ASYNC110 - the resync runs in the bridge's own task
        await asyncio.sleep(0.01)
    tuning.tune_process()  # as hotline serve and hotline bridge run do once started
    return bridge


def on_sentinel(bridge: Bridge, done: asyncio.Future[float]) -> None:
    def seen(message: AmiMessage) -> None:
        if message.get("UserEvent") == "BenchDone" and not done.done():
            done.set_result(time.monotonic())

    bridge.client.events.add(seen, name="bench-done", events=("UserEvent",))


async def run_bridge(stream: bytes, tmp: Path, exts: list[str], name: str) -> dict[str, float]:
    replay = Replay(stream, tmp)
    db, engine = make_db(tmp, exts, name)
    bridge = await start_bridge(replay, db, engine)
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    on_sentinel(bridge, done)
    started = await replay.go()
    read = await asyncio.wait_for(done, 300)
    await bridge.writer.flush(300)
    written = time.monotonic()
    stats = bridge.writer.stats
    await bridge.stop()
    replay.close()
    engine.dispose()
    return {"read": read - started, "total": written - started, "calls_written": stats.calls_written,
            "batches": stats.batches}


# -- (c) decision delay at 2,000 events/s ---------------------------------------------------


async def run_latency(stream: bytes, tmp: Path, exts: list[str], rate: float) -> list[float]:
    replay = Replay(stream, tmp)
    db, engine = make_db(tmp, exts, "latency")
    bridge = await start_bridge(replay, db, engine)
    delays: list[float] = []
    clock: Callable[[], float] = time.monotonic

    def decided(message: AmiMessage) -> None:
        # registered after the state machine, for the same events: runs once it has decided
        sent = message.headers.get("X-Sent")
        if sent is not None:
            delays.append(clock() - float(sent))

    tracker = bridge.tracker
    bridge.client.events.add(decided, name="bench-latency", events=tuple(sorted(tracker.handled_events)),
                             raw_filters=tracker.raw_filters())
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    on_sentinel(bridge, done)
    await replay.go("paced", rate)
    await asyncio.wait_for(done, 600)
    await bridge.stop()
    replay.close()
    engine.dispose()
    return delays


# -- (d) 1,000 phones ringing at once -------------------------------------------------------


def ringing_burst(n: int, base: int = 1800000000) -> tuple[bytes, list[str]]:
    frames, exts = [], []
    for i in range(n):
        ext = str(20000 + i)
        exts.append(ext)
        cu, au = f"{base}.{2 * i}", f"{base}.{2 * i + 1}"
        caller, agent = f"PJSIP/carrier-{2 * i:08x}", f"PJSIP/{ext}-{2 * i + 1:08x}"
        frames += [
            f"Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: @NOW@\r\nChannel: {caller}\r\nChannelState: 4\r\n"
            f"CallerIDNum: 138{i:08d}\r\nContext: hotline-inbound\r\nExten: 4008001234\r\n"
            f"Uniqueid: {cu}\r\nLinkedid: {cu}\r\n\r\n",
            f"Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: @NOW@\r\nChannel: {agent}\r\nChannelState: 0\r\n"
            f"Context: hotline-agents\r\nExten: s\r\nUniqueid: {au}\r\nLinkedid: {cu}\r\n\r\n",
            f"Event: DialBegin\r\nPrivilege: call,all\r\nTimestamp: @NOW@\r\nChannel: {caller}\r\nUniqueid: {cu}\r\n"
            f"Linkedid: {cu}\r\nDestChannel: {agent}\r\nDestUniqueid: {au}\r\nDestLinkedid: {cu}\r\n"
            f"DialString: {ext}\r\n\r\n",
            f"Event: Newstate\r\nPrivilege: call,all\r\nTimestamp: @NOW@\r\nChannel: {agent}\r\nChannelState: 5\r\n"
            f"ChannelStateDesc: Ringing\r\nUniqueid: {au}\r\nLinkedid: {cu}\r\n\r\n",
            f"Event: DialState\r\nPrivilege: call,all\r\nTimestamp: @NOW@\r\nChannel: {caller}\r\nUniqueid: {cu}\r\n"
            f"DestChannel: {agent}\r\nDestUniqueid: {au}\r\nDialStatus: RINGING\r\n\r\n",
        ]
    return "".join(frames).encode(), exts


async def run_deadlines(tmp: Path, n: int = 1000) -> dict[str, Any]:
    stream, exts = ringing_burst(n)
    replay = Replay(stream, tmp)
    db, engine = make_db(tmp, exts, "deadlines")
    bridge = await start_bridge(replay, db, engine, on=0.08, off=0.32)
    deadline = bridge.deadlines.deadline
    started = await replay.go()
    sent = await replay.sent()
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline + 30
    while bridge.deadlines.stats.hung_up + bridge.deadlines.stats.failed < n and loop.time() < end:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    hangups = await replay.hangups()
    timer_lateness = list(bridge.deadlines.stats.lateness)
    await bridge.stop()
    replay.close()
    engine.dispose()
    late = [t - (started + deadline) for t in hangups.values()]
    return {"hangups": len(hangups), "burst_write_ms": (sent - started) * 1000,
            "pbx_p50": pct(late, 0.5), "pbx_p99": pct(late, 0.99), "pbx_max": max(late, default=float("nan")),
            "timer_p50": pct(timer_lateness, 0.5), "timer_p99": pct(timer_lateness, 0.99)}


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of the recording per replay")
    parser.add_argument("--repeat", type=int, default=3, help="runs of (a) and (b) each; medians")
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s of the delay test")
    parser.add_argument("--paced-events", type=int, default=30_000, help="events of the delay test")
    parser.add_argument("--ringing", type=int, default=1000, help="phones ringing at once")
    parser.add_argument("--rerecord", action="store_true", help="record the AMI stream again")
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    recording = recorded_stream(args.rerecord)
    exts = extensions(recording)
    stream = replicate(recording, args.copies) + SENTINEL
    events = stream.count(b"\r\n\r\n")
    print(f"stream: {recording.count(b'Event: ')} events recorded ({len(recording) / 1e6:.1f} MB), "
          f"replayed {args.copies}x: {events} events, {len(stream) / 1e6:.1f} MB; agents {', '.join(exts)}")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bare: list[float] = []
        full: list[float] = []
        reader_only: list[float] = []
        for n in range(args.repeat):
            seconds = asyncio.run(run_panoramisk(stream, tmp))
            bare.append(events / seconds)
            result = asyncio.run(run_bridge(stream, tmp, exts, f"run{n}"))
            full.append(events / result["total"])
            reader_only.append(events / result["read"])
            print(f"  run {n + 1}: panoramisk {bare[-1]:,.0f} ev/s; bridge {full[-1]:,.0f} ev/s "
                  f"(read {reader_only[-1]:,.0f} ev/s; {result['calls_written']:.0f} call rows in "
                  f"{result['batches']:.0f} batches)")
        a, b = statistics.median(bare), statistics.median(full)
        print(f"(a) bare panoramisk, no-op handler : {a:,.0f} events/s (median of {args.repeat})")
        print(f"(b) full bridge, SQLite writes     : {b:,.0f} events/s (median; events read and "
              f"decided: {statistics.median(reader_only):,.0f}/s)")
        print(f"    ratio (b)/(a)                  : {b / a:.2f}   target >= 0.5; (b) target >= 20,000/s")
        print(f"    load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        paced = replicate(recording, args.copies).split(b"\r\n\r\n")[: args.paced_events]
        paced_stream = b"".join(f + b"\r\n\r\n" for f in paced if f) + SENTINEL
        bridge_p99: list[float] = []
        base_p99: list[float] = []
        for _ in range(args.repeat):
            base = [d * 1000 for d in asyncio.run(run_panoramisk_latency(paced_stream, tmp, args.rate))]
            ms = [d * 1000 for d in asyncio.run(run_latency(paced_stream, tmp, exts, args.rate))]
            bridge_p99.append(pct(ms, 0.99))
            base_p99.append(pct(base, 0.99))
            print(f"  at {args.rate:,.0f} events/s: bridge, written -> decided ({len(ms)} events the state "
                  f"machine reads): p50 {pct(ms, 0.5):.2f} ms, p99 {pct(ms, 0.99):.2f} ms, max "
                  f"{max(ms):.1f} ms; bare panoramisk to a no-op handler ({len(base)} events): p50 "
                  f"{pct(base, 0.5):.2f} ms, p99 {pct(base, 0.99):.2f} ms, max {max(base):.1f} ms")
        c, c0 = statistics.median(bridge_p99), statistics.median(base_p99)
        print(f"(c) at {args.rate:,.0f} events/s, p99 from an event's arrival to the bridge's decision: "
              f"{c:.2f} ms (median of {args.repeat}; baseline {c0:.2f} ms, ratio {c / c0:.2f})   "
              f"target p99 < 5 ms")

        runs = [asyncio.run(run_deadlines(tmp, args.ringing)) for _ in range(args.repeat)]
        for d in runs:
            print(f"  {args.ringing} phones ringing at once (burst written in {d['burst_write_ms']:.1f} ms), "
                  f"{d['hangups']} taken away: late at the PBX p50 {d['pbx_p50'] * 1000:.1f} ms, "
                  f"p99 {d['pbx_p99'] * 1000:.1f} ms, max {d['pbx_max'] * 1000:.1f} ms; the bridge's timers "
                  f"p50 {d['timer_p50'] * 1000:.1f} ms, p99 {d['timer_p99'] * 1000:.1f} ms")
        p99 = statistics.median(d["pbx_p99"] for d in runs) * 1000
        print(f"(d) {args.ringing} phones ringing at once: p99 lateness of the ring-5 deadline at the PBX "
              f"{p99:.1f} ms (median of {args.repeat})   target p99 < 100 ms")


if __name__ == "__main__":
    main()
