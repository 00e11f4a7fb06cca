"""Dialling through the running scheduler with a frozen clock: windows, retries and their
outcomes, agent first and customer first, invalid numbers, and crashes between writing an
attempt and sending it, and after sending it. The PBX is a small in-test PbxActions that
records every Originate."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hotline.db.models import Agent, Call, CallLeg, OutboundAttempt, OutboundTask
from hotline.db.session import session_factory, transaction
from hotline.domain.enums import (
    AgentState,
    AttemptState,
    CallDirection,
    CallOutcome,
    LegRole,
    TaskStatus,
    TaskType,
)
from hotline.domain.events import CallRecord, LegRecord
from hotline.settings import Settings
from scheduler.agents import DatabasePicker
from scheduler.dialler import Dialler, PlannedTask
from scheduler.leader import LeaderLease
from scheduler.pacing import Pacer
from scheduler.service import OutboundScheduler
from scheduler.tasks import TaskSpec, add_task
from tests.outages import database_unreachable
from tests.scheduler.conftest import (
    MONDAY_10,
    FakePbx,
    FrozenClock,
    add_agent,
    local,
    make_settings,
    wait_for,
)


@contextlib.asynccontextmanager
async def running(settings: Settings, engine: Engine, pbx: FakePbx, clock: FrozenClock,
                  **kw: Any) -> AsyncIterator[OutboundScheduler]:
    svc = OutboundScheduler(settings, engine, pbx, clock=clock, dispatch_poll_seconds=0.02, **kw)
    runner = asyncio.create_task(svc.run())
    try:
        await asyncio.wait_for(svc.leading.wait(), 10)
        yield svc
    finally:
        await svc.stop()
        await asyncio.wait_for(runner, 10)


def new_task(engine: Engine, settings: Settings, *, type: TaskType = TaskType.REQUESTED,
             phone: str = "+8613912345678", due: dt.datetime = MONDAY_10,
             agent_id: int | None = None, key: str = "t1") -> int:
    with transaction(session_factory(engine)) as s:
        task_id = add_task(s, TaskSpec(type=type, phone=phone, due_at=due, dedupe_key=key,
                                       agent_id=agent_id), settings)
    assert task_id is not None
    return task_id


def task_row(engine: Engine, task_id: int) -> OutboundTask:
    with session_factory(engine)() as s:
        task = s.get(OutboundTask, task_id)
        assert task is not None
        return task


def attempts_of(engine: Engine, task_id: int) -> list[OutboundAttempt]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(OutboundAttempt).where(OutboundAttempt.task_id == task_id)
                              .order_by(OutboundAttempt.id)))


def settled(engine: Engine, task_id: int, n: int) -> bool:
    return sum(a.state is AttemptState.SETTLED for a in attempts_of(engine, task_id)) >= n


def scripted(*reasons: int):  # type: ignore[no-untyped-def]
    queue = list(reasons)
    return lambda args: queue.pop(0) if queue else 4


async def test_retries_with_configured_delay_and_an_outcome_per_attempt(engine: Engine) -> None:
    settings = make_settings(mode="customer_first", retries=2, retry_delay_seconds=600)
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx(script=scripted(5, 3, 4))  # busy, no answer, answered
    task_id = new_task(engine, settings)
    async with running(settings, engine, pbx, clock) as svc:
        await wait_for(lambda: settled(engine, task_id, 1))
        task = task_row(engine, task_id)
        assert (task.status, task.attempts, task.outcome) == (TaskStatus.PENDING, 1, CallOutcome.BUSY)
        assert task.next_attempt_at == MONDAY_10 + dt.timedelta(seconds=600)
        await asyncio.sleep(0.2)  # the retry delay has not passed: nothing more is dialled
        assert len(pbx.sent) == 1
        clock.advance(seconds=600)
        svc.wake()
        await wait_for(lambda: settled(engine, task_id, 2))
        clock.advance(seconds=600)
        svc.wake()
        await wait_for(lambda: settled(engine, task_id, 3))
    task = task_row(engine, task_id)
    assert (task.status, task.outcome, task.attempts) == (TaskStatus.DONE, CallOutcome.ANSWERED, 3)
    attempts = attempts_of(engine, task_id)
    assert [a.outcome for a in attempts] == [CallOutcome.BUSY, CallOutcome.NO_ANSWER,
                                             CallOutcome.ANSWERED]
    assert [s.action_id for s in pbx.sent] == [f"attempt-{a.id}" for a in attempts]
    first = pbx.sent[0].args
    assert (first["channel"], first["context"], first["exten"]) == (
        "PJSIP/13912345678@carrier", "hotline-outbound-ivr", "s")
    assert first["variables"]["HOTLINE_ATTEMPT_ID"] == str(attempts[0].id)


async def test_task_fails_after_its_last_retry(engine: Engine) -> None:
    settings = make_settings(mode="customer_first", retries=1, retry_delay_seconds=60)
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx(script=lambda args: 5)
    task_id = new_task(engine, settings)
    async with running(settings, engine, pbx, clock) as svc:
        await wait_for(lambda: settled(engine, task_id, 1))
        clock.advance(seconds=61)
        svc.wake()
        await wait_for(lambda: settled(engine, task_id, 2))
        clock.advance(seconds=3600)
        svc.wake()
        await asyncio.sleep(0.2)
    task = task_row(engine, task_id)
    assert (task.status, task.outcome, task.attempts) == (TaskStatus.FAILED, CallOutcome.BUSY, 2)
    assert len(pbx.sent) == 2


async def test_invalid_number_fails_at_once_without_dialling(engine: Engine) -> None:
    settings = make_settings(mode="customer_first")
    pbx = FakePbx()
    # Looks like E.164 (the column accepts it) but phonenumbers knows it is no number.
    task_id = new_task(engine, settings, phone="+8612345678")
    async with running(settings, engine, pbx, FrozenClock(MONDAY_10)):
        await wait_for(lambda: task_row(engine, task_id).status is TaskStatus.FAILED)
    assert pbx.sent == []
    task = task_row(engine, task_id)
    assert task.outcome is CallOutcome.INVALID_NUMBER
    (attempt,) = attempts_of(engine, task_id)
    assert attempt.outcome is CallOutcome.INVALID_NUMBER and attempt.sent_at is None


async def test_agent_first_rings_the_agent_then_settles_from_the_customer_leg(engine: Engine) -> None:
    settings = make_settings(mode="agent_first")
    with transaction(session_factory(engine)) as s:
        agent = add_agent(s)
        agent_id, interface = agent.id, agent.interface
    clock = FrozenClock(MONDAY_10)
    # The agent does not answer, then answers; the answered call stays up on the PBX.
    pbx = FakePbx(script=scripted(3, 4), hold_answered=True)
    task_id = new_task(engine, settings, type=TaskType.DROPPED_CALL, agent_id=agent_id)
    async with running(settings, engine, pbx, clock) as svc:
        await wait_for(lambda: settled(engine, task_id, 1))
        (first,) = attempts_of(engine, task_id)
        assert first.agent_failed and first.outcome is CallOutcome.FAILED
        task = task_row(engine, task_id)
        # The customer was never dialled: the attempt is given back, tried again in 60 s.
        assert (task.status, task.attempts) == (TaskStatus.PENDING, 0)
        assert task.next_attempt_at == MONDAY_10 + dt.timedelta(seconds=60)
        clock.advance(seconds=60)
        svc.wake()
        await wait_for(lambda: len(pbx.sent) == 2 and attempts_of(engine, task_id)[-1].state
                       is AttemptState.CONNECTED)
        second = attempts_of(engine, task_id)[-1]
        await asyncio.sleep(0.2)  # only the agent's leg is up: still waiting for the customer
        assert attempts_of(engine, task_id)[-1].state is AttemptState.CONNECTED
        await svc.dialler.on_customer_dial_end(second.id, "ANSWER")
        pbx.hang_up(second.id)
        await wait_for(lambda: svc.pacer.active == 0)
    args = pbx.sent[0].args
    assert (args["channel"], args["context"], args["exten"]) == (
        interface, "hotline-outbound", "13912345678")
    assert args["timeout"] == pytest.approx(2.5)  # ring 5 of the compressed cadence
    task = task_row(engine, task_id)
    assert (task.status, task.outcome, task.attempts) == (TaskStatus.DONE, CallOutcome.ANSWERED, 1)


async def test_task_waits_for_its_agent_then_goes_to_any_agent_when_overdue(engine: Engine) -> None:
    settings = make_settings(mode="agent_first", overdue_reassign_after_seconds=1800)
    with transaction(session_factory(engine)) as s:
        owner = add_agent(s, ready=False)
        other = add_agent(s)
        owner_id, other_interface = owner.id, other.interface
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx()
    task_id = new_task(engine, settings, type=TaskType.CASE_REPLY, agent_id=owner_id)
    async with running(settings, engine, pbx, clock) as svc:
        await asyncio.sleep(0.2)
        assert pbx.sent == []  # the owner is not ready; nobody else takes it yet
        clock.advance(minutes=31)
        await svc.tick()
        await wait_for(lambda: len(pbx.sent) == 1)
    assert pbx.sent[0].args["channel"] == other_interface
    task = task_row(engine, task_id)
    assert task.original_agent_id == owner_id


async def test_a_task_due_in_the_rest_period_waits_for_the_window(engine: Engine) -> None:
    settings = make_settings(mode="customer_first")
    clock = FrozenClock(local(2026, 11, 23, 12, 30))
    pbx = FakePbx()
    task_id = new_task(engine, settings, due=local(2026, 11, 23, 12, 20))
    async with running(settings, engine, pbx, clock) as svc:
        await asyncio.sleep(0.25)
        assert pbx.sent == []
        clock.now = local(2026, 11, 23, 13, 59)
        svc.wake()
        await asyncio.sleep(0.1)
        assert pbx.sent == []
        clock.now = local(2026, 11, 23, 14, 0)
        svc.wake()
        await wait_for(lambda: len(pbx.sent) == 1)
    assert task_row(engine, task_id).status is TaskStatus.DONE


# -- crashes -------------------------------------------------------------------------------


def crashed_leader(engine: Engine, settings: Settings, pbx: FakePbx, task_id: int,
                   clock: FrozenClock) -> tuple[LeaderLease, Dialler, Any]:
    """A leader that wrote (committed) an attempt for ``task_id``; the caller decides whether
    its Originate left before the "crash"."""
    lease = LeaderLease(engine, lease_seconds=settings.scheduler.lease_seconds)
    assert lease.try_acquire()
    sessions = session_factory(engine)
    dialler = Dialler(settings, sessions, pbx, lease, Pacer(5, 100), DatabasePicker(sessions),
                      clock=clock)
    task = task_row(engine, task_id)
    flight = dialler.prepare(PlannedTask(task.id, task.type, task.phone, task.agent_id), None)
    assert flight is not None
    return lease, dialler, flight


async def test_crash_between_writing_the_attempt_and_sending_it(engine: Engine) -> None:
    settings = make_settings(mode="customer_first", retry_delay_seconds=600)
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx()
    task_id = new_task(engine, settings)
    lease, _dialler, flight = crashed_leader(engine, settings, pbx, task_id, clock)
    orphan = flight.attempt_id
    lease.release()  # the process dies: its lock goes with it; nothing was sent
    async with running(settings, engine, pbx, clock) as svc:
        # The new leader leaves the old leader's attempt alone until its lease has surely
        # expired, and meanwhile does not dial the task either.
        (a,) = attempts_of(engine, task_id)
        assert a.state is AttemptState.PREPARED
        await wait_for(lambda: settled(engine, task_id, 1))
        (a,) = attempts_of(engine, task_id)
        assert a.outcome is CallOutcome.FAILED and "never re-sent" in a.detail
        assert pbx.sent == []
        clock.advance(seconds=600)  # the task's retry
        svc.wake()
        await wait_for(lambda: task_row(engine, task_id).status is TaskStatus.DONE)
    (sent,) = pbx.for_task(task_id)  # dialled exactly once, by a new attempt
    assert sent.action_id != f"attempt-{orphan}"
    assert all(s.action_id != f"attempt-{orphan}" for s in pbx.sent)


async def test_crash_after_sending_finds_the_live_call_and_never_redials(engine: Engine) -> None:
    settings = make_settings(mode="customer_first")
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx(hold_answered=True)
    task_id = new_task(engine, settings)
    lease, dialler, flight = crashed_leader(engine, settings, pbx, task_id, clock)
    task = task_row(engine, task_id)
    # The Originate leaves and the customer answers; the process dies before settling it.
    await pbx.originate(**dialler.originate_args(flight, PlannedTask(task.id, task.type,
                                                                     task.phone, None)))
    lease.release()
    async with running(settings, engine, pbx, clock) as svc:
        await wait_for(lambda: settled(engine, task_id, 1))
        (a,) = attempts_of(engine, task_id)
        assert a.outcome is CallOutcome.ANSWERED and a.uniqueid is not None
        assert svc.pacer.active == 1  # the adopted call counts against the pacing limit
        pbx.hang_up(a.id)
        await wait_for(lambda: svc.pacer.active == 0)
        await asyncio.sleep(0.2)
    assert len(pbx.for_task(task_id)) == 1
    assert task_row(engine, task_id).status is TaskStatus.DONE


async def test_originate_error_resolved_from_the_pbx_not_resent(engine: Engine) -> None:
    settings = make_settings(mode="customer_first", retry_delay_seconds=600)
    clock = FrozenClock(MONDAY_10)

    class LinkDrops(FakePbx):
        async def originate(self, **kw: Any):  # type: ignore[no-untyped-def]
            await super().originate(**kw)  # it reaches Asterisk and rings...
            raise ConnectionError("AMI link lost")  # ...but the response is lost

    pbx = LinkDrops(hold_answered=True)
    task_id = new_task(engine, settings)
    async with running(settings, engine, pbx, clock):
        await wait_for(lambda: settled(engine, task_id, 1))
        await asyncio.sleep(0.2)
    (a,) = attempts_of(engine, task_id)
    assert a.outcome is CallOutcome.ANSWERED  # seen up on the PBX
    assert len(pbx.sent) == 1



async def test_a_response_the_database_cannot_take_is_resolved_once_it_is_back(engine: Engine) -> None:
    """PostgreSQL goes away between the Originate and its response (issue 9's faults in one
    hour): the attempt was left 'dialling' and never settled. It is now resolved from the PBX
    once the database is back, and never dialled again."""
    settings = make_settings(mode="customer_first", retry_delay_seconds=600)
    clock = FrozenClock(MONDAY_10)
    outage = database_unreachable(engine)
    loop = asyncio.get_running_loop()
    back = asyncio.Event()

    def end_outage() -> None:
        outage.__exit__(None, None, None)
        back.set()

    class DatabaseGoesAway(FakePbx):
        async def originate(self, **kw: Any):  # type: ignore[no-untyped-def]
            result = await super().originate(**kw)  # it rings, the customer answers...
            outage.__enter__()  # ...and the database is away when the response comes
            loop.call_later(0.5, end_outage)
            return result

    pbx = DatabaseGoesAway(hold_answered=True)
    task_id = new_task(engine, settings)
    async with running(settings, engine, pbx, clock):
        await asyncio.wait_for(back.wait(), 10)
        await wait_for(lambda: settled(engine, task_id, 1), timeout=15)
    (a,) = attempts_of(engine, task_id)
    assert a.outcome is CallOutcome.ANSWERED  # seen up on the PBX
    assert len(pbx.sent) == 1

def store_call(engine: Engine, attempt_id: int, *, ended: bool, customer_answered: bool,
               customer_status: str | None = None) -> int:
    """The bridge's stored record of an attempt's call (what the crashed process had written
    before it died)."""
    with transaction(session_factory(engine)) as s:
        call = Call(pbx="pbx1", linkedid=f"1795390{attempt_id}.1", uniqueid=f"1795390{attempt_id}.1",
                    direction=CallDirection.OUTBOUND, caller_number="+8613912345678",
                    arrived_at=MONDAY_10, answered_at=MONDAY_10 if customer_answered else None,
                    ended_at=MONDAY_10 + dt.timedelta(seconds=30) if ended else None,
                    attempt_id=attempt_id)
        s.add(call)
        s.flush()
        s.add(CallLeg(call_id=call.id, pbx="pbx1", uniqueid=call.uniqueid,
                      channel="PJSIP/carrier-00000001", role=LegRole.CUSTOMER,
                      created_at=MONDAY_10, dial_status=customer_status,
                      answered_at=MONDAY_10 if customer_answered else None))
        return call.id


async def test_crash_after_sending_and_the_call_ended_meanwhile_is_read_from_the_stored_call(
    engine: Engine,
) -> None:
    """The double-call window of phase 1: the Originate left, the customer answered, and the
    process died; by the time a new leader looks, the call is over and the PBX has no trace
    of it. The bridge had stored the call with its attempt id: answered, never redialled."""
    settings = make_settings(mode="customer_first", retry_delay_seconds=600)
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx()  # the call does not stay up: CoreShowChannels shows nothing
    task_id = new_task(engine, settings)
    lease, dialler, flight = crashed_leader(engine, settings, pbx, task_id, clock)
    task = task_row(engine, task_id)
    await pbx.originate(**dialler.originate_args(flight, PlannedTask(task.id, task.type,
                                                                     task.phone, None)))
    store_call(engine, flight.attempt_id, ended=False, customer_answered=True)
    lease.release()
    async with running(settings, engine, pbx, clock) as svc:
        await wait_for(lambda: settled(engine, task_id, 1))
        clock.advance(seconds=601)  # past any retry delay
        svc.wake()
        await asyncio.sleep(0.3)
    (a,) = attempts_of(engine, task_id)
    assert a.outcome is CallOutcome.ANSWERED and "stored call" in a.detail
    assert task_row(engine, task_id).status is TaskStatus.DONE
    assert len(pbx.sent) == 1


async def test_crash_while_it_rang_is_not_redialled_automatically(engine: Engine) -> None:
    """Stored, so it was dialled; but its record stops while the customer's phone rang, and
    whether they answered afterwards is unknown: the task fails for a person to look at
    rather than ring the customer a second time."""
    settings = make_settings(mode="agent_first", retry_delay_seconds=600)
    with transaction(session_factory(engine)) as s:
        agent_id = add_agent(s).id
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx()
    task_id = new_task(engine, settings, agent_id=agent_id)
    lease, dialler, flight = crashed_leader(engine, settings, pbx, task_id, clock)
    store_call(engine, flight.attempt_id, ended=False, customer_answered=False)
    lease.release()
    async with running(settings, engine, pbx, clock) as svc:
        await wait_for(lambda: settled(engine, task_id, 1))
        clock.advance(seconds=601)
        svc.wake()
        await asyncio.sleep(0.3)
    (a,) = attempts_of(engine, task_id)
    assert a.outcome is CallOutcome.FAILED and "not dialled again automatically" in a.detail
    task = task_row(engine, task_id)
    assert (task.status, task.outcome) == (TaskStatus.FAILED, CallOutcome.FAILED)
    assert pbx.sent == []


async def test_agent_first_attempt_is_settled_from_the_bridges_record(engine: Engine) -> None:
    """The bridge's CallUpdated records of the call settle the attempt (the customer leg's
    DIALSTATUS) and free its pacing slot at the call's end."""
    settings = make_settings(mode="agent_first", retry_delay_seconds=600)
    with transaction(session_factory(engine)) as s:
        agent_id = add_agent(s).id
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx()
    task_id = new_task(engine, settings, agent_id=agent_id)
    async with running(settings, engine, pbx, clock) as svc:
        await wait_for(lambda: len(pbx.sent) == 1 and attempts_of(engine, task_id)[0].state
                       is AttemptState.CONNECTED)
        (a,) = attempts_of(engine, task_id)
        legs = (
            LegRecord(uniqueid="1.1", channel="PJSIP/1001-1", role="agent", agent_id=agent_id,
                      created_at=MONDAY_10, answered_at=MONDAY_10),
            LegRecord(uniqueid="1.2", channel="PJSIP/carrier-2", role="customer", agent_id=None,
                      created_at=MONDAY_10, dial_status="BUSY"),
        )
        rec = CallRecord(pbx="pbx1", linkedid="1.1", uniqueid="1.1", direction="outbound",
                         caller_number="+8613912345678", dialled_number=None,
                         arrived_at=MONDAY_10, legs=legs, attempt_id=a.id)
        await svc.dialler.on_call_record(rec)
        assert attempts_of(engine, task_id)[0].outcome is CallOutcome.BUSY
        assert svc.pacer.active == 1  # the agent's leg is still up
        await svc.dialler.on_call_record(dataclasses.replace(rec, ended_at=MONDAY_10))
        assert svc.pacer.active == 0
    task = task_row(engine, task_id)
    assert (task.status, task.outcome, task.attempts) == (TaskStatus.PENDING, CallOutcome.BUSY, 1)


async def test_pacing_limits_concurrent_calls_and_new_calls_per_second(engine: Engine) -> None:
    settings = make_settings(mode="customer_first", max_concurrent_calls=3,
                             new_calls_per_second=10)
    pbx = FakePbx(ring_seconds=0.15)
    ids = [new_task(engine, settings, phone=f"+86139123456{i:02d}", key=f"t{i}") for i in range(20)]
    async with running(settings, engine, pbx, FrozenClock(MONDAY_10)):
        await wait_for(lambda: all(task_row(engine, i).status is TaskStatus.DONE for i in ids))
    starts = sorted(s.at for s in pbx.sent)
    assert len(starts) == 20
    assert pbx.max_active <= 3
    # In any one second at most 10 calls started, spaced evenly rather than in bursts (so
    # that the PBX, which reads them a little later each, sees no more than 10 either).
    assert max(sum(1 for t in starts if a <= t < a + 1.0) for a in starts) <= 10
    # (1.1 s / 10: the pacer's margin for Originates reaching the PBX unevenly)
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.11 - 1e-3
    assert starts[-1] - starts[0] >= 19 * 0.11 - 1e-3


async def test_holiday_and_adjusted_working_saturday(engine: Engine) -> None:
    from scheduler.planner import due_now
    from scheduler.windows import WindowPolicy

    settings = make_settings()
    policy = WindowPolicy(settings)
    working = new_task(engine, settings, type=TaskType.FIRST_CONTACT, due=local(2026, 9, 30, 21, 0), key="w")
    dropped = new_task(engine, settings, type=TaskType.DROPPED_CALL, due=local(2026, 9, 30, 21, 0), key="d")
    with session_factory(engine)() as s:
        def due(at: dt.datetime) -> set[int]:
            return {t.id for t in due_now(s, policy, at, 100)}

        # National Day (1 October 2026, a Thursday): only the dropped-call callback rings.
        assert due(local(2026, 10, 1, 10, 0)) == {dropped}
        assert due(local(2026, 10, 1, 7, 59)) == set()
        assert due(local(2026, 10, 8, 8, 0)) == {working, dropped}
    saturday = new_task(engine, settings, type=TaskType.FIRST_CONTACT, due=local(2026, 2, 13, 21, 0), key="s")
    with session_factory(engine)() as s:
        # 14 February 2026 is a Saturday made a working day: the task rings that morning;
        # an ordinary Saturday (21 February falls in the Spring Festival, so take 7 March)
        # is not a calling day.
        assert saturday in {t.id for t in due_now(s, policy, local(2026, 2, 14, 9, 0), 100)}
        assert policy.next_open(local(2026, 3, 7, 9, 0), task_row(engine, saturday).window) == local(2026, 3, 9, 8, 0)


def test_agent_state_is_read_from_the_database(engine: Engine) -> None:
    # DatabasePicker offers only ready agents (the bridge keeps agents.state).
    with transaction(session_factory(engine)) as s:
        ready = add_agent(s)
        add_agent(s, ready=False)
        ready_id = ready.id
    picker = DatabasePicker(session_factory(engine))

    async def pick_twice() -> tuple[Any, Any]:
        return await picker.pick("x", None), await picker.pick("y", None)

    first, second = asyncio.run(pick_twice())
    assert first.agent_id == ready_id and second is None
    with Session(engine) as s:
        assert s.get(Agent, ready_id).state is AgentState.READY  # type: ignore[union-attr]


async def test_an_attempt_is_not_sent_once_the_lease_has_lapsed(engine: Engine) -> None:
    settings = make_settings(mode="customer_first")
    clock = FrozenClock(MONDAY_10)
    pbx = FakePbx()
    task_id = new_task(engine, settings)
    lease, dialler, flight = crashed_leader(engine, settings, pbx, task_id, clock)
    lease._valid_until = 0.0  # no heartbeat confirmed the lock in time
    task = task_row(engine, task_id)
    await dialler.dial(flight, PlannedTask(task.id, task.type, task.phone, None))
    lease.release()
    assert pbx.sent == []
    (a,) = attempts_of(engine, task_id)
    assert a.state is AttemptState.SETTLED and "not sent" in a.detail
    task = task_row(engine, task_id)
    assert (task.status, task.attempts) == (TaskStatus.PENDING, 0)  # the try is given back


async def test_an_agent_whose_phone_never_rang_is_free_when_the_attempt_ends() -> None:
    """An agent-first callback to a phone that answers busy never rings it: the agent must be
    free for the next call as soon as the attempt is over, not after the reservation's
    timeout (the demo's always-busy phone held its agent 10 s per attempt)."""
    import datetime as dt

    from ami_bridge.agents import AgentBook, AgentInfo
    from ami_bridge.router import Router
    from hotline.domain.enums import AgentState, Role
    from scheduler.agents import RouterPicker

    book = AgentBook()
    book.add(AgentInfo(1, "1001", "PJSIP/1001", role=Role.AGENT), presence=AgentState.READY,
             idle_since=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    router = Router(book, reservation_timeout=10.0)
    picker = RouterPicker(router, sessions=None)  # type: ignore[arg-type]
    offer = await picker.pick("task-1", None)
    assert offer is not None and router.reserved_for(1) == "task-1"
    picker.finished(offer)  # the Originate came back BUSY: the phone never rang
    assert router.reserved_for(1) is None
    again = await picker.pick("task-2", None)
    assert again is not None and again.agent_id == 1
    router.close()


async def test_a_task_whose_agent_phone_failed_is_offered_to_another_agent_first() -> None:
    """The longest-idle agent is the one whose phone never takes a call; picking it at every
    retry kept a callback from ever reaching its customer. The task goes to another agent,
    or waits for one; after ``forget_after`` the first may be tried again."""
    import datetime as dt

    from ami_bridge.agents import AgentBook, AgentInfo
    from ami_bridge.router import Router
    from hotline.domain.enums import AgentState, Role
    from scheduler.agents import RouterPicker

    book = AgentBook()
    day = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    for agent_id, minutes in ((1, 0), (2, 5)):  # 1 idle the longest
        book.add(AgentInfo(agent_id, f"100{agent_id}", f"PJSIP/100{agent_id}", role=Role.AGENT),
                 presence=AgentState.READY, idle_since=day + dt.timedelta(minutes=minutes))
    router = Router(book, reservation_timeout=10.0)
    picker = RouterPicker(router, sessions=None, forget_after=0.2)  # type: ignore[arg-type]
    offer = await picker.pick("task-1", None)
    assert offer is not None and offer.agent_id == 1
    picker.finished(offer, agent_failed=True)  # the phone was busy
    other = await picker.pick("task-1", None)
    assert other is not None and other.agent_id == 2
    # another task still gets the longest-idle agent
    third = await picker.pick("task-2", None)
    assert third is not None and third.agent_id == 1
    picker.release(third)
    # agent 2 is taken: task-1 waits rather than ring the failing phone again...
    assert await picker.pick("task-1", None) is None
    await asyncio.sleep(0.25)
    # ...until its failure is forgotten
    again = await picker.pick("task-1", None)
    assert again is not None and again.agent_id == 1
    router.close()
