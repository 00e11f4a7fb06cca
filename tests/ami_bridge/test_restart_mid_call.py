"""A bridge killed mid-call (SIGKILL) and a new one started on the same database: the calls
in progress keep every fact the dead bridge had stored, and end as they really end.

pbxsim plays the calls over real AMI (a small dialplan of its own: the IVR's part is played
by the dialplan, so no FastAGI server is needed); bridge A follows them and stores them, then
dies without a goodbye; bridge B starts, resynchronises (CoreShowChannels) and follows them to
their end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

import ami_bridge.service
from ami_bridge.service import Bridge
from hotline.bus import EventBus
from hotline.db.models import Call
from hotline.settings import Settings
from pbxsim import AgentBehaviour, AgentSpec, PbxSimulator, SimConfig
from pbxsim.behaviours import CallerBehaviour, CallerSpec
from tests.factories import make_user

SPEED = 10.0  # a ring period of 0.5 s
ANSWERED = "4008000001"  # the IVR answers at ring 2, then agent 1001 answers at ring 3
IVR_ONLY = "4008000002"  # the IVR answers at ring 2, plays, and ends the call itself
DIALPLAN = f"""
[hotline-inbound]
exten => {ANSWERED},1,Wait(6)
 same => n,Answer()
 same => n,Dial(PJSIP/1001,60)
 same => n,Hangup()
exten => {IVR_ONLY},1,Wait(6)
 same => n,Answer()
 same => n,Wait(30)
 same => n,Hangup(16)

[hotline-agents]
exten => _1XXX,1,Dial(PJSIP/${{EXTEN}},30)
 same => n,Hangup()
"""


@dataclass
class StoredCall:
    arrived_at: dt.datetime
    answered_at: dt.datetime | None
    rings_at_answer: int | None
    answered_by_agent_id: int | None
    legs: dict[str, tuple[str, dt.datetime, str | None, int | None]]  # uniqueid -> facts
    disposition: str | None = None
    end_reason: str | None = None
    ended_at: dt.datetime | None = None


def stored(engine: Engine) -> dict[str, StoredCall]:
    """The stored calls by dialled number."""
    with Session(engine) as s:
        return {
            c.dialled_number or "": StoredCall(
                c.arrived_at, c.answered_at, c.rings_at_answer, c.answered_by_agent_id,
                {leg.uniqueid: (str(leg.role), leg.created_at, leg.dial_status, leg.rings_at_answer)
                 for leg in c.legs},
                str(c.disposition) if c.disposition else None, c.end_reason, c.ended_at,
            )
            for c in s.scalars(select(Call).options(selectinload(Call.legs)))
        }


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[PbxSimulator]:
    simulator = PbxSimulator(SimConfig(
        ami_port=0, speed=SPEED, client_time="real", dialplan_text=DIALPLAN,
        record_dir=tmp_path / "spool", ami_users={"hotline": "sim-secret"},
        timestamp_events=True, seed=3,
    ))
    await simulator.start()
    simulator.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=3)))
    try:
        yield simulator
    finally:
        await simulator.stop()


def bridge_settings(sim: PbxSimulator, db_url: str) -> Settings:
    return Settings(
        database={"url": db_url},
        ami={"port": sim.ami_port, "secret": "sim-secret", "ping_interval": 1.0,
             "ping_timeout": 1.0, "reconnect_min": 0.05, "reconnect_max": 0.5},
        ring={"on_seconds": 1.0 / SPEED, "off_seconds": 4.0 / SPEED},
    )


async def started(settings: Settings, engine: Engine) -> tuple[Bridge, EventBus]:
    bus = EventBus()
    bridge = Bridge(settings, engine, bus)
    await bus.start()
    await bridge.start()
    await until(lambda: bridge.resyncs > 0)
    return bridge, bus


async def sigkill(bridge: Bridge, bus: EventBus) -> None:
    """What SIGKILL leaves of a bridge: what its writer had not written yet is gone, its
    AMI link is cut without a goodbye, nothing is flushed."""
    writer: Any = bridge.writer
    writer._task.cancel()
    await asyncio.gather(writer._task, return_exceptions=True)
    await bus.stop(drain=False)
    await bridge.client.stop()
    await bridge.deadlines.close()


async def test_a_call_in_progress_keeps_its_stored_facts_across_a_bridge_killed_mid_call(
    sim: PbxSimulator, engine: Engine, db_url: str
) -> None:
    with Session(engine) as s, s.begin():
        agent_id = make_user(s, "agent1001", "agent", extension="1001").agent.id  # type: ignore[union-attr]
    settings = bridge_settings(sim, db_url)
    bridge_a, bus_a = await started(settings, engine)

    # the caller talks to the agent for 20 s after the answer, then hangs up
    answered = await sim.place_call(CallerSpec("13800000001", dnid=ANSWERED,
                                               behaviour=CallerBehaviour(talk_time=20)))
    ivr_only = await sim.place_call(CallerSpec("13800000002", dnid=IVR_ONLY))

    def a_stored_the_answers() -> bool:
        calls = stored(engine)
        return (
            ANSWERED in calls and calls[ANSWERED].answered_by_agent_id == agent_id
            and any(facts[2] == "ANSWER" for facts in calls[ANSWERED].legs.values())
            and IVR_ONLY in calls and calls[IVR_ONLY].rings_at_answer is not None
        )

    await until(a_stored_the_answers)
    before = stored(engine)
    await sigkill(bridge_a, bus_a)
    killed = dt.datetime.now(dt.UTC)

    bridge_b, bus_b = await started(settings, engine)
    await asyncio.wait_for(asyncio.gather(answered.ended, ivr_only.ended), 20)
    await until(lambda: all(c.ended_at is not None for c in stored(engine).values()))
    await bridge_b.stop()
    await bus_b.stop()
    after = stored(engine)

    assert before[ANSWERED].rings_at_answer == 2 and before[IVR_ONLY].rings_at_answer == 2
    for dialled in (ANSWERED, IVR_ONLY):
        was, now = before[dialled], after[dialled]
        # arrival, the IVR's answer and its ring, the answering agent: as A stored them
        assert (now.arrived_at, now.answered_at, now.rings_at_answer, now.answered_by_agent_id) == (
            was.arrived_at, was.answered_at, was.rings_at_answer, was.answered_by_agent_id), dialled
        # every leg A stored keeps its birth, its offer's outcome and its ring at answer
        assert {uid: now.legs[uid] for uid in was.legs} == was.legs, dialled
        # and the end is what happened after B was up, not a loss
        assert now.ended_at is not None and now.ended_at > killed

    agent_legs = [f for f in after[ANSWERED].legs.values() if f[0] == "agent"]
    assert [(f[2], f[3]) for f in agent_legs] == [("ANSWER", 3)]
    assert (after[ANSWERED].disposition, after[ANSWERED].end_reason) == ("answered", "caller-hangup")
    assert after[ANSWERED].answered_by_agent_id == agent_id
    assert (after[IVR_ONLY].disposition, after[IVR_ONLY].end_reason) == ("ivr_only", "system-hangup")


async def test_a_caller_hanging_up_as_the_restarted_bridge_connects_is_seen(
    sim: PbxSimulator, sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new bridge knows the calls left in progress before its link is up: a caller who
    hangs up while it is still busy with the database (here: slow, 0.5 s a read) is stored
    as a caller's hang-up, not as a system hang-up or a call lost in a disconnect."""
    engine = sqlite_engine
    with Session(engine) as s, s.begin():
        make_user(s, "agent1001", "agent", extension="1001")
    settings = bridge_settings(sim, str(engine.url))
    bridge_a, bus_a = await started(settings, engine)
    answered = await sim.place_call(CallerSpec("13800000001", dnid=ANSWERED,
                                               behaviour=CallerBehaviour(talk_time=60)))
    await until(lambda: ANSWERED in stored(engine)
                and any(f[2] == "ANSWER" for f in stored(engine)[ANSWERED].legs.values()))
    await sigkill(bridge_a, bus_a)

    loop = asyncio.get_running_loop()
    bus_b = EventBus()
    bridge_b = Bridge(settings, engine, bus_b)
    read = ami_bridge.service.open_call_records

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        if bridge_b.client.connected:  # the link is up: the caller hangs up now
            loop.call_soon_threadsafe(answered.hang_up)
        time.sleep(0.5)
        return read(*args, **kwargs)

    monkeypatch.setattr(ami_bridge.service, "open_call_records", slow_read)
    await bus_b.start()
    await bridge_b.start()
    await asyncio.wait_for(answered.ended, 10)
    await until(lambda: stored(engine)[ANSWERED].ended_at is not None)
    await bridge_b.stop()
    await bus_b.stop()
    after = stored(engine)[ANSWERED]
    assert (after.disposition, after.end_reason) == ("answered", "caller-hangup")
