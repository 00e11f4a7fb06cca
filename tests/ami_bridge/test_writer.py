"""The writer stores what the bridge learns, on SQLite and PostgreSQL, and loses nothing when
the database goes away for a while."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from ami_bridge.frames import AmiMessage
from ami_bridge.state import CallTracker
from ami_bridge.writer import CallWriter
from hotline.db import migrate
from hotline.db.models import Agent, Call, CallLeg, Customer, OutboundTask
from hotline.db.session import make_engine
from hotline.domain.events import CallEnded, CallUpdated, DomainEvent
from hotline.settings import Settings
from scheduler.rules.dropped_call import create_dropped_call_task
from tests.ami_bridge.replay import T0, at, capture_events, final_records, replay, tracker
from tests.factories import make_user


def agents_in_db(engine: Engine, *extensions: tuple[str, str]) -> dict[str, int]:
    """Create agents (extension, interface); return extension -> agent id."""
    ids = {}
    with Session(engine) as session, session.begin():
        for ext, interface in extensions:
            user = make_user(session, f"agent{ext}", "agent", extension=ext)
            user.agent.interface = interface
            session.flush()
            ids[ext] = user.agent.id
    return ids


def tracker_for(ids: dict[str, int], interfaces: dict[str, str], pause_after: int = 2) -> CallTracker:
    return tracker(*((ids[ext], ext, interfaces[ext]) for ext in ids), pause_after=pause_after)


async def write_all(writer: CallWriter, events: list[DomainEvent]) -> None:
    await writer.start()
    for e in events:
        writer.handle(e)
    await writer.stop()


async def test_replayed_call_lands_in_calls_and_legs(engine: Engine) -> None:
    interfaces = {"201": "Local/201@agents", "203": "Local/203@agents"}
    ids = agents_in_db(engine, *interfaces.items())
    events = replay(tracker_for(ids, interfaces), capture_events("04"))
    writer = CallWriter(engine, Settings())
    await write_all(writer, events)

    with Session(engine) as s:
        call = s.scalars(select(Call)).one()
        assert (call.pbx, call.linkedid, call.direction, call.dialled_number) == (
            "pbx1", "1795390178.71", "inbound", "101")
        assert (call.arrived_at, call.ringing_at, call.answered_at) == (at(0.621), at(0.624), at(10.626))
        assert (call.rings_at_answer, call.answered_by_agent_id, call.agent_answered_at) == (
            3, ids["203"], at(40.539))
        assert (call.disposition, call.end_reason, call.hangup_cause, call.abnormal_end) == (
            "answered", "agent-hangup", 16, False)
        assert call.ended_at == at(71.363)
        legs = {leg.channel: leg for leg in call.legs}
        assert len(legs) == 5
        first = legs["Local/201@agents-00000015;1"]
        assert (first.role, first.agent_id, first.dial_status, first.answered_at) == (
            "agent", ids["201"], "NOANSWER", None)
        second = legs["Local/203@agents-00000016;1"]
        assert (second.rings_at_answer, second.ringing_at, second.answered_at) == (1, at(37.538), at(40.539))
        agents = {a.extension: a for a in s.scalars(select(Agent))}
        assert agents["203"].state == "wrap_up" and agents["201"].state == "ready"
        assert s.scalar(select(func.count()).select_from(OutboundTask)) == 0
    # a call's burst of updates costs far fewer row writes than updates
    updates = sum(1 for e in events if isinstance(e, CallUpdated))
    assert writer.stats.calls_written < updates and writer.stats.coalesced > 0


def _caller_lost_with_number(number: str):  # type: ignore[no-untyped-def]
    def edit(t: float, m: AmiMessage) -> AmiMessage | None:
        headers = dict(m.headers)
        if m.get("Channel") == "PJSIP/sipp-0000002a":
            if m.name == "Newchannel":
                headers["CallerIDNum"] = number
            if m.name in ("HangupRequest", "Hangup"):
                headers.update({"Cause": "38", "Cause-txt": "Network out of order"})
        return AmiMessage(headers, m.variables, m.multi)
    return edit


async def test_dropped_call_becomes_one_callback_for_the_same_agent(engine: Engine) -> None:
    ids = agents_in_db(engine, ("1001", "PJSIP/agent1001"))
    events = replay(tracker_for(ids, {"1001": "PJSIP/agent1001"}),
                    capture_events("14"), _caller_lost_with_number("13812345678"))
    [end] = [e for e in events if isinstance(e, CallEnded)]
    assert end.abnormal
    writer = CallWriter(engine, Settings())
    await writer.start()
    for e in events:
        writer.handle(e)
    await writer.flush(5)
    writer.handle(end)  # the same end reported again (e.g. after a restart): still one task
    await writer.stop()

    with Session(engine) as s:
        call = s.scalars(select(Call)).one()
        assert (call.caller_number, call.abnormal_end, call.end_reason) == ("+8613812345678", True, "caller-lost")
        task = s.scalars(select(OutboundTask)).one()
        assert (task.type, task.phone, task.agent_id, task.call_id, task.status) == (
            "dropped-call", "+8613812345678", ids["1001"], call.id, "pending")
        assert task.due_at == at(16.289)  # due at once: when the call dropped
        # the scheduler's rule decided it: any day, the SLA counted from the drop (10:00 local)
        assert task.window == "business_hours_any_day"
        assert task.deadline_at == at(16.289) + dt.timedelta(minutes=15)
        assert task.dedupe_key == "dropped-call:pbx1:1795390440.104"
        assert writer.stats.callbacks_created == 1


async def test_dropped_call_after_hours_is_due_when_the_hotline_opens(engine: Engine) -> None:
    ids = agents_in_db(engine, ("1001", "PJSIP/agent1001"))
    events = replay(tracker_for(ids, {"1001": "PJSIP/agent1001"}),
                    capture_events("14"), _caller_lost_with_number("13812345678"))
    late = dt.timedelta(hours=11)  # 21:00 in Shanghai: closed until 08:00 tomorrow
    shifted = [dataclasses.replace(e, at=e.at + late) if isinstance(e, CallEnded) else e for e in events]
    await write_all(CallWriter(engine, Settings()), shifted)
    with Session(engine) as s:
        task = s.scalars(select(OutboundTask)).one()
    opens = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC)  # 08:00 the next day
    assert task.deadline_at == opens + dt.timedelta(minutes=15)


async def test_callback_stored_first_by_the_scheduler_gets_the_call_and_customer(
    engine: Engine,
) -> None:
    """The scheduler reacts to the same CallEnded before the call row exists: one task, and
    the writer fills in what the scheduler could not know."""
    ids = agents_in_db(engine, ("1001", "PJSIP/agent1001"))
    with Session(engine) as s, s.begin():
        s.add(Customer(phone="+8613812345678", name="王女士"))
    events = replay(tracker_for(ids, {"1001": "PJSIP/agent1001"}),
                    capture_events("14"), _caller_lost_with_number("13812345678"))
    [end] = [e for e in events if isinstance(e, CallEnded)]
    with Session(engine) as s, s.begin():
        assert create_dropped_call_task(
            s, Settings(), pbx="pbx1", linkedid="1795390440.104", caller_number=end.caller_number,
            agent_id=end.agent_id, ended_at=end.at,
        ) is not None
        s.execute(sa_update(OutboundTask).values(customer_id=None))  # as if the card came later
    writer = CallWriter(engine, Settings())
    await write_all(writer, events)
    with Session(engine) as s:
        call = s.scalars(select(Call)).one()
        task = s.scalars(select(OutboundTask)).one()
        customer = s.scalars(select(Customer)).one()
    assert writer.stats.callbacks_created == 0
    assert (task.call_id, task.customer_id, task.agent_id) == (call.id, customer.id, ids["1001"])
    assert call.customer_id == customer.id


async def test_call_is_linked_to_the_callers_customer_card(engine: Engine) -> None:
    ids = agents_in_db(engine, ("1001", "PJSIP/agent1001"))
    events = replay(tracker_for(ids, {"1001": "PJSIP/agent1001"}),
                    capture_events("14"), _caller_lost_with_number("13812345678"))
    updates = [e for e in events if isinstance(e, CallUpdated)]
    half = len(updates) // 2
    writer = CallWriter(engine, Settings())
    await writer.start()
    for e in updates[:half]:
        writer.handle(e)
    await writer.flush(5)
    with Session(engine) as s:
        assert s.scalars(select(Call)).one().customer_id is None  # nobody has this number yet
    with Session(engine) as s, s.begin():
        # the agent opens a card for the caller during the call
        customer = Customer(phone="+8613812345678", name="王女士")
        s.add(customer)
        s.flush()
        customer_id = customer.id
    for e in updates[half:]:
        writer.handle(e)
    await writer.stop()
    with Session(engine) as s:
        assert s.scalars(select(Call)).one().customer_id == customer_id


async def test_a_call_linked_by_hand_keeps_its_customer(sqlite_engine: Engine) -> None:
    ids = agents_in_db(sqlite_engine, ("1001", "PJSIP/agent1001"))
    events = replay(tracker_for(ids, {"1001": "PJSIP/agent1001"}),
                    capture_events("14"), _caller_lost_with_number("13812345678"))
    updates = [e for e in events if isinstance(e, CallUpdated)]
    with Session(sqlite_engine) as s, s.begin():
        by_number = Customer(phone="+8613812345678")
        other = Customer(phone="+8613900000002", name="另一位")
        s.add_all([by_number, other])
        s.flush()
        other_id = other.id
    writer = CallWriter(sqlite_engine, Settings())
    await writer.start()
    writer.handle(updates[0])
    await writer.flush(5)
    with Session(sqlite_engine) as s, s.begin():
        # a supervisor links the call to another card: the caller used a relative's phone
        s.execute(sa_update(Call).values(customer_id=other_id))
    for e in updates[1:]:
        writer.handle(e)
    await writer.stop()
    with Session(sqlite_engine) as s:
        assert s.scalars(select(Call)).one().customer_id == other_id


async def test_dropped_call_from_a_number_that_cannot_be_called_is_counted(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    ids = agents_in_db(sqlite_engine, ("1001", "PJSIP/agent1001"))
    events = replay(tracker_for(ids, {"1001": "PJSIP/agent1001"}),
                    capture_events("14"), _caller_lost_with_number("anonymous"))
    writer = CallWriter(sqlite_engine, Settings())
    await write_all(writer, events)
    assert writer.stats.not_callable == 1
    assert "cannot be called back" in caplog.text
    with Session(sqlite_engine) as s:
        assert s.scalar(select(func.count()).select_from(OutboundTask)) == 0
        assert s.scalars(select(Call)).one().abnormal_end is True


async def test_a_record_the_database_refuses_is_skipped_alone(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    events = replay(tracker(), capture_events("07"))
    records = list(final_records(events).values())
    assert len(records) == 3
    bad = dataclasses.replace(records[1], rings_at_answer=0)  # violates rings_at_answer >= 1
    writer = CallWriter(engine, Settings())
    await write_all(writer, [CallUpdated(at=T0, record=r) for r in (records[0], bad, records[2])])
    assert writer.stats.rejected == 1
    assert f"call {bad.call_key}" in caplog.text
    with Session(engine) as s:
        stored = sorted(s.scalars(select(Call.linkedid)))
    assert stored == sorted([records[0].linkedid, records[2].linkedid])


async def test_unreachable_database_keeps_records_bounded_then_catches_up(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Point the writer at a database that refuses connections, then fix it."""
    events = replay(tracker(), capture_events("07"))  # three calls, one after the other
    updates = [e.record for e in events if isinstance(e, CallUpdated)]
    first = {}
    for r in updates:
        first.setdefault(r.linkedid, r)
    a, b, c = (first[k] for k in ("1795390291.85", "1795390295.86", "1795390298.87"))
    finals = final_records(events)
    refusing = make_engine("postgresql://hotline@127.0.0.1:9/nothing")
    writer = CallWriter(refusing, Settings(), max_pending=2, max_delay=0.001, retry_min=0.05, retry_max=0.1)
    await writer.start()
    # calls A, B, C in progress, then A and B finish: only two fit while the database is away
    for record in (a, b, c, finals[a.linkedid], finals[b.linkedid]):
        writer.handle(CallUpdated(at=T0, record=record))
    await asyncio.sleep(0.3)
    assert not writer.healthy and writer.stats.failures >= 1
    assert "database unreachable" in caplog.text
    # the three records dropped were all of calls still in progress
    assert writer.stats.dropped_overflow == 3
    assert "call writer full" in caplog.text and "FINISHED" not in caplog.text

    writer.engine = sqlite_engine  # the database is back
    await writer.flush(5)
    assert writer.healthy
    await writer.stop()
    with Session(sqlite_engine) as s:
        calls = s.scalars(select(Call)).all()
    assert sorted((c.linkedid, c.ended_at is not None) for c in calls) == [
        ("1795390291.85", True), ("1795390295.86", True)]
    refusing.dispose()


@pytest.mark.postgres
async def test_postgresql_outage_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """A PostgreSQL server of its own, stopped for real in the middle of the traffic."""
    from hotline.devtools.pgserver import PostgresServer

    caplog.set_level(logging.INFO)
    server = PostgresServer().start()
    try:
        engine = make_engine(server.url())
        migrate.upgrade(engine)
        writer = CallWriter(engine, Settings(), max_delay=0.001, retry_min=0.1, retry_max=0.3)
        await writer.start()
        first = replay(tracker(), capture_events("07"))
        for e in first:
            writer.handle(e)
        await writer.flush(10)

        await asyncio.to_thread(server.stop, "fast")  # (this test server runs without durable commits)
        second = replay(tracker(), capture_events("11")) + replay(tracker(), capture_events("05"))
        for e in second:
            writer.handle(e)
        for _ in range(100):
            if not writer.healthy:
                break
            await asyncio.sleep(0.05)
        assert not writer.healthy and writer.pending > 0

        await asyncio.to_thread(server.restart)
        await writer.flush(20)
        await writer.stop()
        assert "database reachable again" in caplog.text
        with Session(engine) as s:
            linkedids = sorted(s.scalars(select(Call.linkedid)))
            legs = s.scalar(select(func.count()).select_from(CallLeg))
        assert linkedids == sorted(["1795390291.85", "1795390295.86", "1795390298.87",
                                    "1795390410.102", "1795390253.76"])
        assert legs == 3 + 1 + 3
        engine.dispose()
    finally:
        await asyncio.to_thread(server.cleanup)


async def test_an_agent_missing_from_the_database_does_not_cost_the_call(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The bridge still knew agent 777 when the call was taken; the database no longer has it."""
    events = replay(tracker((777, "201", "Local/201@agents"), (778, "203", "Local/203@agents")),
                    capture_events("04"))
    writer = CallWriter(engine, Settings())
    await write_all(writer, events)
    assert writer.stats.rejected == 0
    assert "agent 778 is not in the database" in caplog.text
    with Session(engine) as s:
        call = s.scalars(select(Call)).one()
        assert call.answered_by_agent_id is None and call.disposition == "answered"
        assert all(leg.agent_id is None for leg in call.legs) and len(call.legs) == 5


async def test_a_fault_of_ours_on_one_record_neither_stops_the_writer_nor_costs_the_rest(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, any exception the writer did not expect ended its worker task silently and
    nothing was written again."""
    records = list(final_records(replay(tracker(), capture_events("07"))).values())
    poisoned = records[1].linkedid

    class Buggy(CallWriter):
        def _write_legs(self, conn, records, ids):  # type: ignore[no-untyped-def]
            if any(r.linkedid == poisoned for r in records):
                raise RuntimeError("a bug")
            super()._write_legs(conn, records, ids)

    writer = Buggy(sqlite_engine, Settings())
    await writer.start()
    for r in records:
        writer.handle(CallUpdated(at=T0, record=r))
    await writer.flush(5)
    writer.handle(CallUpdated(at=T0, record=records[0]))  # the worker is still there
    await writer.flush(5)
    await writer.stop()
    assert writer.stats.rejected == 1
    assert "RuntimeError: a bug" in caplog.text
    with Session(sqlite_engine) as s:
        stored = sorted(s.scalars(select(Call.linkedid)))
    assert stored == sorted(r.linkedid for r in records if r.linkedid != poisoned)


async def test_an_outbound_call_is_stored_with_its_attempt(engine: Engine) -> None:
    """calls.attempt_id is what lets the scheduler, after a crash, tell an attempt that was
    dialled from one that never left."""
    from tests.ami_bridge.test_outbound_calls import AGENT_ANSWERS, CUSTOMER_BUSY, feed

    ids = agents_in_db(engine, ("1001", "PJSIP/1001"))
    events = feed(tracker_for(ids, {"1001": "PJSIP/1001"}), AGENT_ANSWERS + CUSTOMER_BUSY)
    await write_all(CallWriter(engine, Settings()), events)
    with Session(engine) as s:
        call = s.scalars(select(Call)).one()
        assert (call.attempt_id, call.direction, call.caller_number) == (7, "outbound", "+8613900000001")
        assert {leg.role: leg.dial_status for leg in call.legs} == {"agent": "ANSWER", "customer": "BUSY"}
        assert s.scalar(select(Call.id).where(Call.attempt_id == 7)) == call.id


async def test_a_call_adopted_without_its_stored_record_is_merged_into_its_row(engine: Engine) -> None:
    """A bridge restarted mid-call that could not read the stored calls adopts the call from
    the channel list alone (arrival estimated from the channel's age, rings unknown). Its
    records fill in the row; they never move what the dead bridge stored."""
    ids = agents_in_db(engine, ("1001", "PJSIP/agent1001"))
    interfaces = {"1001": "PJSIP/agent1001"}
    events = capture_events("14")
    before = [e for e in events if e[0] < 10.0]
    after = [e for e in events if e[0] >= 10.0]
    await write_all(CallWriter(engine, Settings()), replay(tracker_for(ids, interfaces), before))
    with Session(engine) as s:
        was = s.scalars(select(Call)).one()
        stored = (was.arrived_at, was.answered_at, was.rings_at_answer, was.answered_by_agent_id)
        stored_legs = {leg.uniqueid: (leg.created_at, leg.dial_status, leg.rings_at_answer)
                       for leg in was.legs}
    assert stored[2] is not None and any(d == "ANSWER" for _c, d, _r in stored_legs.values())

    fresh = tracker_for(ids, interfaces)
    bridge = "5cd2576b-b110-49a5-b584-bdfa5bc81534"
    adopted = fresh.resync([
        {"Channel": "PJSIP/sipp-0000002a", "Uniqueid": "1795390440.104", "Linkedid": "1795390440.104",
         "ChannelState": "6", "Duration": "00:00:03", "BridgeId": bridge},
        {"Channel": "PJSIP/agent1001-0000002b", "Uniqueid": "1795390440.105",
         "Linkedid": "1795390440.104", "ChannelState": "6", "Duration": "00:00:02", "BridgeId": bridge},
    ], at(12.0))
    assert final_records(adopted)["1795390440.104"].adopted
    await write_all(CallWriter(engine, Settings()), adopted + replay(fresh, after))

    with Session(engine) as s:
        call = s.scalars(select(Call)).one()
        assert (call.arrived_at, call.answered_at, call.rings_at_answer, call.answered_by_agent_id) == stored
        assert {leg.uniqueid: (leg.created_at, leg.dial_status, leg.rings_at_answer)
                for leg in call.legs} == stored_legs
        # how it ended comes from the new bridge
        assert (call.ended_at, call.end_reason, call.disposition) == (at(16.289), "caller-hangup", "answered")
        assert all(leg.ended_at is not None for leg in call.legs)
