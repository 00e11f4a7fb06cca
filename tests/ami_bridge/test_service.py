"""The Bridge wired end to end against a scripted AMI peer speaking real TCP, and SQLite.

(The end-to-end tests against the PBX simulator come with it; these need only AMI bytes.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ami_bridge.frames import AmiMessage, parse_message
from ami_bridge.service import Bridge, BridgeOptions
from hotline.bus import EventBus
from hotline.db.models import Agent, Call, CallLeg, OutboundTask
from hotline.devtools.captures import load
from hotline.domain.errors import InvalidInput
from hotline.domain.events import (
    AgentRingNoAnswer,
    AgentStateChanged,
    Alert,
    CallEnded,
    DomainEvent,
    LinkStateChanged,
)
from hotline.settings import Settings
from tests.ami_bridge.amipeer import FakeAsterisk, ScriptedAmi, msg
from tests.factories import make_user

MONDAY_10H = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
MONDAY_22H = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)  # 22:00 in Shanghai


def capture_bytes(name: str, until: float | None = None) -> list[bytes]:
    return [m.wire() for m in load(name).streams["ami-mon"].events() if until is None or m.t < until]


def settings(port: int, **ring: float) -> Settings:
    return Settings(
        ami={"port": port, "secret": "s3cret", "ping_interval": 30, "reconnect_min": 0.05,
             "reconnect_max": 0.2, "action_timeout": 2},
        ring=ring or {},
    )


def add_agent(engine: Engine, ext: str = "1001", interface: str = "PJSIP/agent1001",
              state: str = "ready") -> int:
    with Session(engine) as s, s.begin():
        user = make_user(s, f"agent{ext}", "agent", extension=ext)
        user.agent.interface = interface
        user.agent.state = state
        s.flush()
        return user.agent.id


class Recorder:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[DomainEvent] = []
        bus.subscribe("test-recorder", self.events.append)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(self, kind: type, timeout: float = 3.0) -> list:  # type: ignore[type-arg]
        for _ in range(int(timeout / 0.01)):
            if self.of(kind):
                return self.of(kind)
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {kind.__name__} within {timeout}s")


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAsterisk, ScriptedAmi]]:
    asterisk = FakeAsterisk()
    async with ScriptedAmi(asterisk.script) as peer:
        yield asterisk, peer


async def test_bridge_follows_a_call_from_ami_into_the_database(fake, sqlite_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    asterisk, peer = fake
    agent_id = add_agent(sqlite_engine)
    asterisk.devices = {"PJSIP/agent1001": "NOT_INUSE"}
    bus = EventBus()
    rec = Recorder(bus)
    bridge = Bridge(settings(peer.port), sqlite_engine, bus)
    await bus.start()
    await bridge.start()
    await asyncio.wait_for(asterisk.logged_in.wait(), 3)
    await asterisk.wait_action("DeviceStateList", 3)  # the resync ran
    for data in capture_bytes("14"):
        await asterisk.send(data)
    [end] = await rec.wait_for(CallEnded)
    await bridge.stop()
    await bus.stop()

    assert (end.disposition, end.end_reason, end.agent_id) == ("answered", "caller-hangup", agent_id)
    assert [a["Action"] for a in asterisk.actions][:2] == ["CoreShowChannels", "DeviceStateList"]
    with Session(sqlite_engine) as s:
        call = s.scalars(select(Call)).one()
        assert (call.linkedid, call.answered_by_agent_id, call.disposition) == (
            "1795390440.104", agent_id, "answered")
        assert [leg.role for leg in call.legs] == ["caller", "agent"]
        # after the call the agent is in wrap-up; the capture then unregisters the phone
        assert s.get(Agent, agent_id).state == "wrap_up"
    assert [e.up for e in rec.of(LinkStateChanged)] == [True, False]


async def test_ring5_deadline_takes_the_call_from_a_silent_agent(fake, sqlite_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    asterisk, peer = fake
    agent_id = add_agent(sqlite_engine)
    # P = 0.2 s, so the deadline is 1.0 s after the agent's phone started ringing
    cfg = settings(peer.port, on_seconds=0.04, off_seconds=0.16, no_answer_pause_after=1)
    bus = EventBus()
    rec = Recorder(bus)
    bridge = Bridge(cfg, sqlite_engine, bus)
    await bus.start()
    await bridge.start()
    await asterisk.wait_action("DeviceStateList", 3)
    agent_channel = "PJSIP/agent1001-0000002b"
    events = [m for m in load("14").streams["ami-mon"].events() if m.t <= 2.245]
    asterisk.hangup_events[agent_channel] = b"".join([
        msg(("Event", "Hangup"), ("Privilege", "call,all"), ("Channel", agent_channel),
            ("Uniqueid", "1795390440.105"), ("Linkedid", "1795390440.104"), ("Cause", "19"),
            ("Cause-txt", "User alerting, no answer")),
        msg(("Event", "DialEnd"), ("Privilege", "call,all"), ("Channel", "PJSIP/sipp-0000002a"),
            ("Uniqueid", "1795390440.104"), ("DestChannel", agent_channel),
            ("DestUniqueid", "1795390440.105"), ("DialStatus", "NOANSWER")),
    ])
    loop = asyncio.get_running_loop()
    for m in events:
        await asterisk.send(m.wire())
    rang_at = loop.time()  # the last event sent was DialState RINGING
    hangup = await asterisk.wait_action("Hangup", 3)
    took = loop.time() - rang_at
    assert (hangup["Channel"], hangup["Cause"]) == (agent_channel, "19")
    # never before the end of ring 5; after it only by the machine's scheduling delay
    assert 1.0 - 0.05 <= took <= 1.0 + 0.5

    [rna] = await rec.wait_for(AgentRingNoAnswer)
    assert (rna.agent_id, rna.consecutive) == (agent_id, 1)
    paused = [e for e in rec.of(AgentStateChanged) if e.state == "paused"]
    assert paused and paused[-1].reason == "ring-no-answer"
    await bridge.stop()
    await bus.stop()
    with Session(sqlite_engine) as s:
        agent = s.get(Agent, agent_id)
        assert (agent.state, agent.pause_reason) == ("paused", "ring-no-answer")


async def test_a_call_that_ended_while_the_link_was_down_is_closed_on_reconnect(sqlite_engine: Engine) -> None:
    add_agent(sqlite_engine)
    asterisk = FakeAsterisk()
    first_done = asyncio.Event()

    async def script(conn):  # type: ignore[no-untyped-def]
        if conn.index == 0:
            await conn.login()
            for data in capture_bytes("14", until=10.0):
                await conn.send(data)
            await asyncio.sleep(0.2)
            conn.close()  # the link drops mid-conversation
            first_done.set()
            return
        await asterisk.script(conn)  # back: Asterisk has no channels any more

    async with ScriptedAmi(script) as peer:
        bus = EventBus()
        rec = Recorder(bus)
        bridge = Bridge(settings(peer.port), sqlite_engine, bus)
        await bus.start()
        await bridge.start()
        [end] = await rec.wait_for(CallEnded, timeout=5)
        await bridge.stop()
        await bus.stop()
    assert (end.end_reason, end.disposition) == ("lost-during-disconnect", "answered")
    assert [e.up for e in rec.of(LinkStateChanged)][:3] == [True, False, True]
    with Session(sqlite_engine) as s:
        call = s.scalars(select(Call)).one()
        assert call.end_reason == "lost-during-disconnect" and call.ended_at is not None


def _contact_removed() -> AmiMessage:
    return AmiMessage({"Event": "ContactStatus", "URI": "sip:agent1001@127.0.0.1:5070",
                       "ContactStatus": "Removed", "AOR": "agent1001", "EndpointName": "agent1001"})


@pytest.mark.parametrize(("now", "presence", "alerts"), [
    (MONDAY_10H, "ready", 1),        # on duty, business hours
    (MONDAY_22H, "ready", 0),        # after hours
    (MONDAY_10H, "logged_out", 0),   # not on duty
])
async def test_unregistered_softphone_of_an_agent_on_duty_raises_one_alert(
    sqlite_engine: Engine, now: dt.datetime, presence: str, alerts: int
) -> None:
    add_agent(sqlite_engine, state=presence)
    bus = EventBus()
    rec = Recorder(bus)
    bridge = Bridge(settings(9), sqlite_engine, bus, clock=lambda: now)
    await bridge.reload_agents()
    await bus.start()
    bridge.on_ami_event(_contact_removed())
    bridge.check_roster()  # the periodic check does not repeat the alert
    await bus.join()
    found = rec.of(Alert)
    assert len(found) == alerts
    if alerts:
        assert found[0].kind == "agent-unregistered" and found[0].data["extension"] == "1001"
    await bus.stop()


async def test_agent_control_changes_state_and_is_stored(sqlite_engine: Engine) -> None:
    agent_id = add_agent(sqlite_engine, state="logged_out")
    bus = EventBus()
    rec = Recorder(bus)
    bridge = Bridge(settings(9), sqlite_engine, bus, options=BridgeOptions(wrap_up_seconds=0.05))
    await bus.start()
    await bridge.start()  # no Asterisk listening: the bridge keeps trying in the background
    await bridge.log_in(agent_id)
    await bridge.pause(agent_id, "training")
    with pytest.raises(InvalidInput, match="reason"):
        await bridge.pause(agent_id, "  ")
    with pytest.raises(InvalidInput, match="agent_id"):
        await bridge.set_ready(999)
    await bridge.set_ready(agent_id)
    await bridge.log_out(agent_id)
    await bridge.stop()
    await bus.stop()
    assert [(e.state, e.reason) for e in rec.of(AgentStateChanged)] == [
        ("ready", None), ("paused", "training"), ("ready", None), ("logged_out", None)]
    with Session(sqlite_engine) as s:
        assert s.get(Agent, agent_id).state == "logged_out"


async def test_wrap_up_ends_by_itself(sqlite_engine: Engine) -> None:
    agent_id = add_agent(sqlite_engine, ext="201", interface="Local/201@agents")
    bus = EventBus()
    rec = Recorder(bus)
    bridge = Bridge(settings(9), sqlite_engine, bus, options=BridgeOptions(wrap_up_seconds=0.1))
    await bridge.reload_agents()
    await bus.start()
    for m in load("03").streams["ami-mon"].events():
        bridge.on_ami_event(parse_message(m.wire().decode()[:-4]))
    assert bridge.agents.get(agent_id).state == "wrap_up"
    await asyncio.sleep(0.3)
    assert bridge.agents.get(agent_id).state == "ready"
    await bus.join()
    assert [e.state for e in rec.of(AgentStateChanged)][-2:] == ["wrap_up", "ready"]
    await bus.stop()


async def test_slow_and_failing_subscribers_do_not_hold_up_the_bridge(
    fake, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    asterisk, peer = fake
    add_agent(sqlite_engine)
    bus = EventBus()
    rec = Recorder(bus)
    stuck = asyncio.Event()

    async def slow(_event: DomainEvent) -> None:
        await stuck.wait()  # never returns while the call is followed

    def failing(_event: DomainEvent) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe("slow", slow, maxsize=5)
    bus.subscribe("failing", failing)
    bridge = Bridge(settings(peer.port), sqlite_engine, bus)
    await bus.start()
    await bridge.start()
    await asterisk.wait_action("DeviceStateList", 3)
    for data in capture_bytes("14"):
        await asterisk.send(data)
    [end] = await rec.wait_for(CallEnded)
    await bridge.writer.flush(5)
    with Session(sqlite_engine) as s:
        assert s.scalars(select(Call)).one().ended_at is not None
    assert end.disposition == "answered"
    assert bus.stats()["slow"].dropped > 0 and bus.stats()["failing"].errors > 0
    assert "subscriber failing failed" in caplog.text
    stuck.set()
    await bridge.stop()
    await bus.stop()


async def test_calls_left_open_by_a_bridge_that_died_are_closed_at_start(sqlite_engine: Engine) -> None:
    """A crashed bridge leaves its calls "in progress" in the database; the next one finds
    Asterisk without them and closes them at their last sign of life (never as dropped
    calls). Calls of another PBX are not its business."""
    agent_id = add_agent(sqlite_engine)
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with Session(sqlite_engine) as s, s.begin():
        for pbx, linkedid in (("pbx1", "1795390440.104"), ("pbx2", "1795390440.104")):
            call = Call(pbx=pbx, linkedid=linkedid, uniqueid=linkedid, direction="inbound",
                        caller_number="+8613800000001", arrived_at=t0,
                        answered_at=t0 + dt.timedelta(seconds=10),
                        agent_answered_at=t0 + dt.timedelta(seconds=12),
                        answered_by_agent_id=agent_id)
            s.add(call)
            s.flush()
            s.add(CallLeg(call_id=call.id, pbx=pbx, uniqueid=f"{linkedid}1", role="agent",
                          channel="PJSIP/agent1001-0000002b", agent_id=agent_id,
                          created_at=t0 + dt.timedelta(seconds=11),
                          answered_at=t0 + dt.timedelta(seconds=12)))
    asterisk = FakeAsterisk()  # no channels: the calls are long over
    async with ScriptedAmi(asterisk.script) as peer:
        bus = EventBus()
        rec = Recorder(bus)
        bridge = Bridge(settings(peer.port), sqlite_engine, bus)
        await bus.start()
        await bridge.start()
        [end] = await rec.wait_for(CallEnded, timeout=5)
        await bridge.stop()
        await bus.stop()
    assert (end.call_key, end.end_reason, end.disposition, end.abnormal) == (
        "pbx1:1795390440.104", "lost-during-disconnect", "answered", False)
    with Session(sqlite_engine) as s:
        calls = {c.pbx: c for c in s.scalars(select(Call))}
        closed = calls["pbx1"]
        assert closed.ended_at == t0 + dt.timedelta(seconds=12)  # its last sign of life
        assert (closed.end_reason, closed.disposition, closed.abnormal_end) == (
            "lost-during-disconnect", "answered", False)
        assert [leg.ended_at for leg in closed.legs] == [t0 + dt.timedelta(seconds=12)]
        assert calls["pbx2"].ended_at is None
        assert s.scalar(select(func.count()).select_from(OutboundTask)) == 0
