"""Time from a flag request to the AMI action being sent, at 100 concurrent calls, through
the real bridge against pbxsim. Target: p99 under 50 ms.

    .venv/bin/python bench/bench_flags.py [--calls 100] [--rate 20] [--rounds 3]
                                          [--db sqlite|postgresql|both]

A whole hotline (hotline.app.Runtime: bridge, IVR, recordings, with the recordings API over
in-process HTTP) runs against pbxsim in a process of its own, as Asterisk would be, over real
TCP; simulated time runs 10x faster (call set-up only: every figure is real time). Each round
places ``--calls`` inbound calls that each reach their own agent and stay up, then sends one
request per call, at Poisson arrivals of ``--rate`` per second, three times over:

* baseline: a route that signs the agent in exactly as the recordings router does (``X-User``
  stand-in read from the database, then the user read again) and sends one AMI Setvar on the
  call, nothing else: the floor any flag pays (HTTP, sign-in, the AMI link);
* warning: the agent flags the call abusive (``POST /api/recordings/flags``): the flag is
  written while Setvar x3 and the Redirect to the S15 warning go out;
* closing: once the callers are back with their agents, the agents flag again: Setvar x2 and
  the Redirect that plays S16 and ends the call.

A last round sends every request of a wave at the same instant (a stress figure, measured
from that instant: it mostly shows what 100 simultaneous HTTP requests cost one process).
Latency runs from the moment a request was due (event-loop lag counts) to when the
recordings service hands the action to the bridge's AMI client, which writes it to the socket
at once. Printed: p50/p95/p99/max in milliseconds, and each p99 over the baseline's p99.
PostgreSQL is a throwaway server on loopback (hotline.devtools.pgserver), or the one in
HOTLINE_BENCH_DATABASE_URL (a superuser URL).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from fastapi import Depends, FastAPI, Header, HTTPException, Request  # noqa: E402
from sqlalchemy import Engine, make_url, select  # noqa: E402

from hotline.accounts.passwords import hash_password  # noqa: E402
from hotline.app import Runtime  # noqa: E402
from hotline.db import migrate  # noqa: E402
from hotline.db.models import Agent, User  # noqa: E402
from hotline.db.session import make_engine, session_factory, transaction  # noqa: E402
from hotline.domain.enums import Role  # noqa: E402
from hotline.settings import HoursSettings, Settings  # noqa: E402
from ivr.prompts.build import build_prompts  # noqa: E402
from ivr.prompts.catalogue import LANGUAGES, load_catalogue  # noqa: E402
from pbxsim import (  # noqa: E402
    AgentBehaviour,
    AgentSpec,
    CallerBehaviour,
    CallerSpec,
    PbxSimulator,
    SimConfig,
)
from recordings.access import Actor, as_actor  # noqa: E402
from recordings.http import create_router  # noqa: E402
from recordings.live import TrackedCall  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPEED = 10.0
TARGET_MS = 50.0


class TimedPbx:
    """The bridge's PbxActions, noting when each action on a channel is handed to the AMI
    client (which writes it to the socket before awaiting the reply)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.first: dict[str, float] = {}
        self.redirect_at: dict[str, float] = {}

    def reset(self) -> None:
        self.first.clear()
        self.redirect_at.clear()

    async def setvar(self, channel: str, name: str, value: str) -> None:
        self.first.setdefault(channel, time.perf_counter())
        await self.inner.setvar(channel, name, value)

    async def redirect(self, channel: str, *args: Any, **kwargs: Any) -> None:
        now = time.perf_counter()
        self.first.setdefault(channel, now)
        self.redirect_at[channel] = now
        await self.inner.redirect(channel, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def settings_for(tmp: Path, db_url: str, ami_port: int, agi_port: int, sounds: Path) -> Settings:
    return Settings(
        database={"url": db_url},
        ami={"port": ami_port, "secret": "sim-secret", "ping_interval": 1.0, "ping_timeout": 2.0},
        agi={"port": agi_port},
        ring={"on_seconds": 1.0 / SPEED, "off_seconds": 4.0 / SPEED},
        hours={"open": "00:00", "close": "23:59", "rest_start": None, "rest_end": None,
               "calendar": "none"},
        ivr={"flows_dir": REPO / "callflows", "prompts_file": REPO / "callflows" / "prompts.yaml",
             "sounds_dir": sounds, "overrides_dir": tmp / "recorded"},
        recordings={"store_dir": tmp / "store", "spool_dir": tmp / "spool",
                    "cache_dir": tmp / "cache", "flag_grace_minutes": 0, "sweep_seconds": 1.0},
    )


def add_agents(engine: Engine, n: int) -> list[str]:
    password = hash_password("bench bench bench")
    extensions = [str(2000 + i) for i in range(n)]
    with transaction(session_factory(engine)) as s:
        for ext in extensions:
            user = User(username=f"agent{ext}", role=Role.AGENT, password_hash=password,
                        display_name=f"agent {ext}")
            user.agent = Agent(extension=ext, interface=f"PJSIP/{ext}")
            s.add(user)
    return extensions


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api(runtime: Runtime, engine: Engine, pbx: TimedPbx) -> httpx.AsyncClient:
    """The recordings router with a sign-in stand-in, plus the baseline route."""
    sessions = session_factory(engine)

    def current_user(x_user: str = Header(default="")) -> User:
        with sessions() as s:
            user = s.scalar(select(User).where(User.username == x_user))
        if user is None:
            raise HTTPException(401, "sign in first")
        return user

    # Dependencies as defaults: with postponed annotations FastAPI cannot see local names.
    def actor(request: Request, who: User = Depends(current_user)) -> Actor:  # noqa: B008
        # what recordings.http does before any route: the user's role read again
        with sessions() as s:
            found = as_actor(s, who, request.client.host if request.client else None)
        if found is None:
            raise HTTPException(401, "sign in first")
        return found

    app = FastAPI()
    app.include_router(create_router(runtime.recordings, current_user))

    @app.post("/bench/setvar")
    async def setvar(channel: str, me: Actor = Depends(actor)) -> dict[str, str]:  # noqa: B008
        await pbx.setvar(channel, "HOTLINE_BENCH", "1")
        return {"ok": channel}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                             timeout=30.0)


async def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def requests_wave(
    calls: list[TrackedCall], send: Callable[[TrackedCall], Awaitable[httpx.Response]],
    pbx: TimedPbx, offsets: list[float],
) -> tuple[list[float], list[float], list[float]]:
    """One request per call, the i-th ``offsets[i]`` seconds after the start; ms from the
    moment each was due (so event-loop lag counts too) to the first action on the caller's
    channel, to the Redirect, and to the API's answer."""
    pbx.reset()
    due: dict[str, float] = {}
    answered: dict[str, float] = {}
    t0 = time.perf_counter()

    async def one(call: TrackedCall, offset: float) -> None:
        name = call.caller_channel or ""
        due[name] = t0 + offset
        await asyncio.sleep(max(0.0, due[name] - time.perf_counter()))
        reply = await send(call)
        answered[name] = time.perf_counter()
        if reply.status_code != 200:
            raise RuntimeError(f"{name}: {reply.status_code} {reply.text}")

    await asyncio.gather(*(one(c, o) for c, o in zip(calls, offsets, strict=True)))
    ms = 1000.0
    names = [c.caller_channel or "" for c in calls]
    first = [(pbx.first[n] - due[n]) * ms for n in names]
    redirect = [(pbx.redirect_at[n] - due[n]) * ms for n in names if n in pbx.redirect_at]
    reply = [(answered[n] - due[n]) * ms for n in names]
    return first, redirect, reply


async def simulator_child(args: argparse.Namespace) -> None:
    """pbxsim in a process of its own, as Asterisk is: it reads ``calls <round>`` (place
    --calls calls) and ``quit`` on stdin and prints ``ready <ami port>`` once listening."""
    tmp = Path(args.tmp)
    sim = PbxSimulator(SimConfig(
        ami_port=0, agi_url=args.agi_url, speed=SPEED, client_time="real",
        dialplan=REPO / "deploy" / "asterisk" / "extensions.conf", record_dir=tmp / "spool",
        sounds_dir=Path(args.sounds), truth_log=tmp / "truth.jsonl",
        ami_users={"hotline": "sim-secret"},
        channel_vars=("HOTLINE_CALL_ID", "HOTLINE_ATTEMPT_ID", "HOTLINE_CATEGORY"), seed=7,
    ))
    await sim.start()
    for i in range(args.calls):
        sim.add_agent(AgentSpec(str(2000 + i), AgentBehaviour(answer_on_ring=1)))
    print(f"ready {sim.ami_port}", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        for i in range(args.calls):
            await sim.place_call(CallerSpec(
                number=f"1380{int(line[1]):03d}{i:04d}", dnid="4008001234",
                behaviour=CallerBehaviour(digits=["1"], talk_time=36000),
            ))
    await sim.stop()


@asynccontextmanager
async def simulator(n: int, agi_port: int, sounds: Path, tmp: Path) -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--sim-child", "--calls", str(n), "--agi-url",
        f"agi://127.0.0.1:{agi_port}", "--sounds", str(sounds), "--tmp", str(tmp),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    ready = (await proc.stdout.readline()).decode().split()
    if not ready or ready[0] != "ready":
        raise RuntimeError(f"pbxsim did not start: {ready}")
    try:
        yield proc.stdin, int(ready[1])
    finally:
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()


def prompt_seconds(sounds: Path, name: str) -> float:
    with wave.open(str(sounds / "zh-CN" / f"{name}.wav")) as w:
        return w.getnframes() / w.getframerate()


async def run_rounds(engine: Engine, db_url: str, args: argparse.Namespace, sounds: Path,
                     tmp: Path) -> dict[str, dict[str, list[float]]]:
    agi_port = free_port()
    add_agents(engine, args.calls)
    async with simulator(args.calls, agi_port, sounds, tmp) as (control, ami_port):
        return await measure(engine, db_url, args.calls, args.rounds, args.rate, sounds, tmp,
                             agi_port, ami_port, control)


async def measure(engine: Engine, db_url: str, n: int, rounds: int, rate: float, sounds: Path,
                  tmp: Path, agi_port: int, ami_port: int, control: asyncio.StreamWriter,
                  ) -> dict[str, dict[str, list[float]]]:
    settings = settings_for(tmp, db_url, ami_port, agi_port, sounds)
    runtime = Runtime.build(settings, engine, scheduler=False)
    pbx = TimedPbx(runtime.recordings.pbx)
    runtime.recordings.pbx = pbx
    rng = random.Random(20261123)

    def spread() -> list[float]:  # Poisson arrivals at `rate` requests per second
        t, out = 0.0, []
        for _ in range(n):
            t += rng.expovariate(rate)
            out.append(t)
        rng.shuffle(out)
        return out

    def at_once() -> list[float]:
        return [0.0] * n

    kinds = ("baseline: one Setvar", "warning: first action", "warning: Redirect",
             "warning: API answer", "closing: first action", "closing: Redirect")
    results: dict[str, dict[str, list[float]]] = {
        "spread": {k: [] for k in kinds}, "burst": {k: [] for k in kinds}}
    await runtime.start()
    client = api(runtime, engine, pbx)
    try:
        await runtime.bridge.client.wait_connected(5.0)  # type: ignore[attr-defined]
        with session_factory(engine)() as s:
            ids = list(s.scalars(select(Agent.id)))
        for agent_id in ids:
            await runtime.bridge.log_in(agent_id)
            await runtime.bridge.set_ready(agent_id)
        # the caller is out of the conversation for the S15 prompt, then back with the agent
        warning = prompt_seconds(sounds, "civil_language_warning") / SPEED + 0.5
        plan = [("spread", spread)] * rounds + [("burst", at_once)]
        for r, (kind, schedule) in enumerate(plan):
            await one_round(r, n, runtime, engine, client, pbx, control, warning,
                            results[kind], schedule)
            await runtime.bridge.writer.flush()  # type: ignore[attr-defined]
            await asyncio.sleep(0.5)
            for agent_id in ids:
                await runtime.bridge.set_ready(agent_id)
    finally:
        await client.aclose()
        await runtime.stop()
    return results


async def one_round(
    r: int, n: int, runtime: Runtime, engine: Engine, client: httpx.AsyncClient,
    pbx: TimedPbx, control: asyncio.StreamWriter, warning: float,
    figures: dict[str, list[float]], schedule: Callable[[], list[float]],
) -> None:
    """n new calls, each talking to its agent, then three waves of requests on the
    ``schedule``: the baseline, the warning flags, the closing flags (which end every call)."""
    rec = runtime.recordings
    before = {c.call_key for c in rec.calls.all()}
    control.write(f"calls {r}\n".encode())
    await control.drain()

    def talking_now() -> list[TrackedCall]:
        return [c for c in rec.calls.all()
                if c.call_key not in before and c.agent_channel and c.live]

    await wait_for(f"{n} calls talking", lambda: len(talking_now()) == n)
    calls = talking_now()
    users = await asyncio.to_thread(usernames, engine, [c.agent_id for c in calls])

    def who(c: TrackedCall) -> dict[str, str]:
        return {"X-User": users[c.agent_id]}  # type: ignore[index]

    def setvar(c: TrackedCall) -> Awaitable[httpx.Response]:
        return client.post("/bench/setvar", params={"channel": c.caller_channel}, headers=who(c))

    def flag(c: TrackedCall) -> Awaitable[httpx.Response]:
        return client.post("/api/recordings/flags", headers=who(c),
                           json={"reason": "abusive", "reason_text": "bench"})

    first, _, _ = await requests_wave(calls, setvar, pbx, schedule())
    figures["baseline: one Setvar"] += first
    first, redirect, reply = await requests_wave(calls, flag, pbx, schedule())
    figures["warning: first action"] += first
    figures["warning: Redirect"] += redirect
    figures["warning: API answer"] += reply
    await asyncio.sleep(warning)
    first, redirect, _ = await requests_wave(calls, flag, pbx, schedule())
    figures["closing: first action"] += first
    figures["closing: Redirect"] += redirect
    await wait_for("the calls to end", lambda: not any(c.live for c in calls), 60)


def usernames(engine: Engine, agent_ids: list[int | None]) -> dict[int, str]:
    with session_factory(engine)() as s:
        rows = s.execute(select(Agent.id, User.username).join(User, User.id == Agent.user_id)
                         .where(Agent.id.in_([a for a in agent_ids if a is not None])))
        return {agent_id: name for agent_id, name in rows}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def table(title: str, figures: dict[str, list[float]]) -> float:
    """Print one table; the worse p99 of the flags' first actions."""
    base = pct(figures["baseline: one Setvar"], 99)
    print(f"\n{title}")
    print("| measure | samples | p50 ms | p95 ms | p99 ms | max ms | p99 / baseline p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, values in figures.items():
        p99 = pct(values, 99)
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | "
              f"{pct(values, 95):.1f} | {p99:.1f} | {max(values):.1f} | {p99 / base:.2f} |")
    return max(pct(figures[k], 99) for k in ("warning: first action", "closing: first action"))


def report(db: str, args: argparse.Namespace, results: dict[str, dict[str, list[float]]]) -> None:
    worst = table(f"{db}: {args.calls} concurrent calls, flags arriving at {args.rate:g}/s "
                  f"(Poisson), {args.rounds} rounds", results["spread"])
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    print(f"flag -> first AMI action, p99: {worst:.1f} ms ({verdict} the {TARGET_MS:.0f} ms "
          "target)")
    table(f"{db}: stress, all {args.calls} calls flagged at the same instant (ms from that "
          "instant)", results["burst"])


def render_sounds(root: Path) -> Path:
    out = root / "sounds"
    result = build_prompts(
        load_catalogue(REPO / "callflows" / "prompts.yaml"), sounds_dir=out,
        overrides_dir=REPO / "callflows" / "recorded", hours=HoursSettings(),
        voices={"zh-CN": "cmn-latn-pinyin", "en": "en-us"}, languages=LANGUAGES,
    )
    if result.errors:
        raise SystemExit(f"prompts could not be built: {result.errors}")
    return out


@asynccontextmanager
async def postgres_engine() -> Any:
    admin_url = os.environ.get("HOTLINE_BENCH_DATABASE_URL")
    server = None
    if not admin_url:
        from hotline.devtools.pgserver import PostgresServer

        server = PostgresServer().start()
        admin_url = server.url()
    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        yield engine, url.render_as_string(hide_password=False)
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        if server is not None:
            server.cleanup()


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-flags-") as tmp_name:
        tmp = Path(tmp_name)
        sounds = render_sounds(tmp)
        if args.db in ("sqlite", "both"):
            url = f"sqlite:///{tmp / 'hotline.db'}"
            engine = make_engine(url)
            migrate.upgrade(engine)
            try:
                results = await run_rounds(engine, url, args, sounds, tmp / "s")
            finally:
                engine.dispose()
            report("SQLite", args, results)
        if args.db in ("postgresql", "both"):
            async with postgres_engine() as (engine, url):
                results = await run_rounds(engine, url, args, sounds, tmp / "p")
            report("PostgreSQL", args, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0,
                        help="flags per second across all calls (Poisson arrivals)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sim-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--agi-url", help=argparse.SUPPRESS)
    parser.add_argument("--sounds", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(simulator_child(args) if args.sim_child else main_async(args))


if __name__ == "__main__":
    main()
