"""A whole hotline against the PBX simulator, in one test process, over real TCP.

:func:`running_stack` starts pbxsim (loaded with ``deploy/asterisk/extensions.conf``) and a
:class:`hotline.app.Runtime` (bridge, IVR, recordings, scheduler) wired as ``hotline serve``
wires them, with time compressed by ``SPEED`` on both sides: hotline's ring cadence is
1 s on / 4 s off divided by SPEED, and pbxsim divides every duration it simulates by the same
factor, so ring counts stay right. Agents are created in the database and registered in pbxsim.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import AsyncIterator, Iterable
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
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """``scheduler_settings``: the ``[scheduler]`` section (its name is taken by the flag that
    starts the scheduler); other keyword arguments override other sections."""
    agi_port = free_port()
    sim = PbxSimulator(SimConfig(
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
    ))
    await sim.start()
    ids = add_agents(engine, agents)
    for ext, behaviour in agents.items():
        sim.add_agent(AgentSpec(ext, behaviour))
    if scheduler_settings is not None:
        overrides["scheduler"] = scheduler_settings
    settings = stack_settings(tmp, db_url, ami_port=sim.ami_port, agi_port=agi_port,
                              sounds=sounds, speed=speed, **overrides)
    runtime = Runtime.build(settings, engine, scheduler=scheduler, clock=clock)
    await runtime.start()
    try:
        await runtime.bridge.client.wait_connected(5.0)  # type: ignore[attr-defined]
        if ready:
            for agent_id in ids.values():
                await runtime.bridge.log_in(agent_id)
                await runtime.bridge.set_ready(agent_id)
        yield Stack(sim, runtime, settings, engine, ids)
    finally:
        await runtime.stop()
        await sim.stop()


def utc(ts: str | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromisoformat(ts)
