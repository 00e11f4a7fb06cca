"""A whole hotline against the PBX simulator, in one test process, over real TCP.

:func:`running_stack` starts pbxsim (loaded with ``deploy/asterisk/extensions.conf``) and a
:class:`hotline.app.Runtime` (bridge, IVR, recordings, scheduler) wired as ``hotline serve``
wires them, with time compressed by ``SPEED`` on both sides: hotline's ring cadence is
1 s on / 4 s off divided by SPEED, and pbxsim divides every duration it simulates by the same
factor, so ring counts stay right. Agents are created in the database and registered in pbxsim.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from hotline.app import Runtime
from hotline.db.session import session_factory, transaction
from hotline.settings import Settings
from pbxsim import AgentBehaviour, AgentSpec, PbxSimulator, SimConfig
from tests.factories import make_user

REPO = Path(__file__).resolve().parents[2]
SPEED = 10.0
HOTLINE_NUMBER = "4008001234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_settings(tmp: Path, db_url: str, *, ami_port: int, agi_port: int, sounds: Path,
                   speed: float = SPEED, **overrides: Any) -> Settings:
    """Hotline settings for a compressed-time run; open every day and all day unless the test
    says otherwise, so a test's outcome never depends on when CI runs it."""
    values: dict[str, Any] = {
        "database": {"url": db_url},
        "ami": {"port": ami_port, "secret": "sim-secret", "ping_interval": 1.0,
                "ping_timeout": 1.0, "reconnect_min": 0.05, "reconnect_max": 0.5},
        "agi": {"port": agi_port},
        "ring": {"on_seconds": 1.0 / speed, "off_seconds": 4.0 / speed},
        "hours": {"open": "00:00", "close": "23:59", "rest_start": None, "rest_end": None,
                  "calendar": "none"},
        "ivr": {"flows_dir": REPO / "callflows", "prompts_file": REPO / "callflows" / "prompts.yaml",
                "sounds_dir": sounds, "overrides_dir": tmp / "recorded"},
        "recordings": {"store_dir": tmp / "store", "spool_dir": tmp / "spool",
                       "cache_dir": tmp / "cache"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


@dataclass
class Stack:
    sim: PbxSimulator
    runtime: Runtime
    settings: Settings
    engine: Engine
    agents: dict[str, int]  # extension -> agent id


def add_agents(engine: Engine, extensions: Iterable[str], role: str = "agent") -> dict[str, int]:
    ids: dict[str, int] = {}
    with transaction(session_factory(engine)) as s:
        for ext in extensions:
            user = make_user(s, f"agent{ext}", role, extension=ext)
            assert user.agent is not None
            ids[ext] = user.agent.id
    return ids


def new_simulator(tmp: Path, sounds: Path, *, agi_port: int, speed: float = SPEED,
                  timestamp_events: bool = False) -> PbxSimulator:
    """pbxsim as every end-to-end test runs it (not started yet). ``timestamp_events`` makes
    it stamp every AMI event (``timestampevents = yes``, as deploy/asterisk/manager.conf has
    it)."""
    return PbxSimulator(SimConfig(
        ami_port=0,
        agi_url=f"agi://127.0.0.1:{agi_port}",
        speed=speed,
        client_time="real",  # hotline runs compressed too: its timeouts are real seconds
        dialplan=REPO / "deploy" / "asterisk" / "extensions.conf",
        record_dir=tmp / "spool",
        sounds_dir=sounds,
        truth_log=tmp / "truth.jsonl",
        ami_users={"hotline": "sim-secret"},
        channel_vars=("HOTLINE_CALL_ID", "HOTLINE_ATTEMPT_ID", "HOTLINE_CATEGORY"),
        seed=7,
        timestamp_events=timestamp_events,
    ))


@asynccontextmanager
async def running_runtime(
    settings: Settings,
    engine: Engine,
    agent_ids: dict[str, int],
    *,
    scheduler: bool = False,
    ready: bool = True,
    clock: Any = None,
) -> AsyncIterator[Runtime]:
    """A Runtime in this process, started, linked to the PBX, its agents logged in and ready;
    stopped cleanly on the way out."""
    runtime = Runtime.build(settings, engine, scheduler=scheduler, clock=clock)
    await runtime.start()
    try:
        await runtime.bridge.client.wait_connected(5.0)  # type: ignore[attr-defined]
        if ready:
            for agent_id in agent_ids.values():
                await runtime.bridge.log_in(agent_id)
                await runtime.bridge.set_ready(agent_id)
        yield runtime
    finally:
        await runtime.stop()


@asynccontextmanager
async def running_stack(
    tmp: Path,
    engine: Engine,
    db_url: str,
    sounds: Path,
    agents: dict[str, AgentBehaviour],
    *,
    speed: float = SPEED,
    scheduler: bool = False,
    ready: bool = True,
    clock: Any = None,
    scheduler_settings: dict[str, Any] | None = None,
    roles: dict[str, str] | None = None,
    agent_roles: dict[str, str] | None = None,
    wrap_up_seconds: float | None = None,
    timestamp_events: bool = False,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """``scheduler_settings``: the ``[scheduler]`` section (its name is taken by the flag that
    starts the scheduler); other keyword arguments override other sections. ``roles`` (or its
    older name ``agent_roles``): extension -> role of its user (default "agent"), e.g.
    {"2001": "team_leader"}; team leaders and supervisors take calls too. ``wrap_up_seconds``
    sets ``agents.wrap_up_seconds`` (real seconds; default 30, so an agent takes one call per
    test unless the test compresses it too)."""
    if wrap_up_seconds is not None:
        overrides["agents"] = {"wrap_up_seconds": wrap_up_seconds}
    if scheduler_settings is not None:
        overrides["scheduler"] = scheduler_settings
    agi_port = free_port()
    sim = new_simulator(tmp, sounds, agi_port=agi_port, speed=speed,
                        timestamp_events=timestamp_events)
    await sim.start()
    try:
        roles = {**(agent_roles or {}), **(roles or {})}
        created: dict[str, int] = {}
        for role in dict.fromkeys(roles.get(ext, "agent") for ext in agents):
            created.update(add_agents(engine, [e for e in agents if roles.get(e, "agent") == role],
                                      role))
        ids = {ext: created[ext] for ext in agents}
        for ext, behaviour in agents.items():
            sim.add_agent(AgentSpec(ext, behaviour))
        settings = stack_settings(tmp, db_url, ami_port=sim.ami_port, agi_port=agi_port,
                                  sounds=sounds, speed=speed, **overrides)
        async with running_runtime(settings, engine, ids, scheduler=scheduler, ready=ready,
                                   clock=clock) as runtime:
            yield Stack(sim, runtime, settings, engine, ids)
    finally:
        await sim.stop()


@dataclass
class ChildRuntime:
    """A Runtime in a child process (tests/e2e/child_runtime.py), to be killed like a crashed
    ``hotline serve``: SIGKILL, so nothing is stopped or flushed, the kernel closes its
    sockets and PostgreSQL ends its sessions (and with them the scheduler's advisory lock)."""

    proc: asyncio.subprocess.Process
    log: Path
    lines: list[str]

    async def line(self, prefix: str, timeout: float = 15.0) -> str:
        """The next line of its output starting with ``prefix`` (READY, LEADING, HELD ...)."""
        assert self.proc.stdout is not None
        async def read() -> str:
            assert self.proc.stdout is not None
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"child exited ({self.proc.returncode}) before "
                                         f"{prefix!r}:\n{self.log.read_text()[-3000:]}")
                text = raw.decode().strip()
                self.lines.append(text)
                if text.startswith(prefix):
                    return text
        try:
            return await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {prefix!r} from the child within {timeout:g} s:\n"
                                 f"{self.log.read_text()[-3000:]}") from None

    async def kill(self) -> None:
        """SIGKILL, by its own pid, and reap it."""
        if self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()


@asynccontextmanager
async def child_runtime(
    tmp: Path,
    db_url: str,
    sounds: Path,
    *,
    ami_port: int,
    agi_port: int,
    agent_ids: dict[str, int],
    speed: float = SPEED,
    hold_originates: bool = False,
    name: str = "child",
    scheduler_settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[ChildRuntime]:
    """Start a Runtime (scheduler on) in a child process against the simulator on
    ``ami_port``, and wait until it is connected with its agents ready. With
    ``hold_originates`` its Originates are written to the database but never leave: the
    child prints ``HELD attempt-<id>`` and waits (to be killed between the two steps)."""
    if scheduler_settings is not None:
        overrides["scheduler"] = scheduler_settings
    spec = {
        "tmp": str(tmp), "db_url": db_url, "sounds": str(sounds), "ami_port": ami_port,
        "agi_port": agi_port, "speed": speed, "agents": agent_ids,
        "hold_originates": hold_originates, "overrides": overrides,
    }
    spec_file = tmp / f"{name}.json"
    spec_file.write_text(json.dumps(spec, default=str))
    log = tmp / f"{name}.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.e2e.child_runtime", str(spec_file),
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=err,
        )
    child = ChildRuntime(proc, log, [])
    try:
        await child.line("READY", timeout=30)
        yield child
    finally:
        await child.kill()


def utc(ts: str | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromisoformat(ts)


@asynccontextmanager
async def web_server(stack: Stack) -> AsyncIterator[str]:
    """The web app wired to the running stack as ``hotline serve`` wires it (live bus, agent
    control, the recordings service, ``hotline.app.serving_web``) on a free port in this
    event loop; yields its base URL."""
    from hotline.app import serving_web

    port = free_port()
    web = stack.settings.web.model_copy(update={"host": "127.0.0.1", "port": port})
    settings = stack.settings.model_copy(update={"web": web})
    async with serving_web(settings, stack.engine, stack.runtime):
        yield f"http://127.0.0.1:{port}"


def clock_from(moment: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock that reads ``moment`` now and runs on in real time: the whole hotline (hours,
    calling windows, stored times) lives on that day while the calls really happen."""
    start = time.monotonic()
    origin = moment.astimezone(dt.UTC)
    return lambda: origin + dt.timedelta(seconds=time.monotonic() - start)


def add_blacklisted(engine: Engine, phone: str, reason: str = "malicious calls") -> None:
    """Put an E.164 number on the blacklist."""
    from hotline.db.models import BlacklistEntry

    with transaction(session_factory(engine)) as s:
        s.add(BlacklistEntry(phone=phone, reason=reason))
