"""The IVR's database side on SQLite and PostgreSQL: blacklist lookups and requested callbacks
(one OutboundTask of type requested per call, due at the next calling window)."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import BlacklistEntry, Call, Customer, OutboundTask
from hotline.db.session import transaction
from hotline.domain.enums import (
    CallDirection,
    CallDisposition,
    CallingWindow,
    Role,
    TaskStatus,
    TaskType,
)
from hotline.settings import Settings
from ivr.store import CallbackRequest, SqlCallStore
from scheduler.rules import RULES, RuleContext
from tests.ivr.asterisk import ScriptedAsterisk
from tests.ivr.conftest import CALLER_E164, NATIONAL_DAY, WEEKDAY_MORNING, StartIvr, frozen
from tests.ivr.fakes import FakeRouter, Seat
from tests.outages import database_unreachable


def _request(call: str = "pbx1:1795390124.68", asked: dt.datetime = WEEKDAY_MORNING) -> CallbackRequest:
    return CallbackRequest(CALLER_E164, call, "pbx1", call.split(":", 1)[1], asked.astimezone(dt.UTC))


async def test_blacklist_lookup(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as s:
        s.add(BlacklistEntry(phone=CALLER_E164, reason="malicious complaints (rule 3.4)"))
    store = SqlCallStore(sessions, settings)
    assert await store.is_blacklisted(CALLER_E164) is True
    assert await store.is_blacklisted("+8613900000000") is False


async def test_callback_task_once_per_call(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as s:
        s.add(Customer(phone=CALLER_E164, name="王芳"))
    store = SqlCallStore(sessions, settings)
    first = await store.request_callback(_request())
    again = await store.request_callback(_request())
    other_call = await store.request_callback(_request("pbx1:1795390999.1"))

    assert first.created and not again.created and other_call.created
    assert again.task_id == first.task_id != other_call.task_id
    with sessions() as s:
        task = s.get(OutboundTask, first.task_id)
        assert task is not None
        assert task.type is TaskType.REQUESTED and task.status is TaskStatus.PENDING
        assert task.phone == CALLER_E164 and task.window is CallingWindow.WORKING_HOURS
        # asked in business hours: due at once, to be dialled before the morning window closes
        assert task.due_at == WEEKDAY_MORNING
        assert task.deadline_at == WEEKDAY_MORNING.replace(hour=12)
        assert task.max_attempts == settings.scheduler.max_attempts
        assert task.dedupe_key == "requested:pbx1:1795390124.68"
        customer = s.scalar(select(Customer.id).where(Customer.phone == CALLER_E164))
        assert task.customer_id == customer


async def test_concurrent_requests_of_one_call_make_one_task(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    store = SqlCallStore(sessions, settings)
    results = await asyncio.gather(*(store.request_callback(_request()) for _ in range(5)))
    assert len({r.task_id for r in results}) == 1
    assert sum(r.created for r in results) == 1


async def test_callback_asked_in_the_rest_period_is_due_when_it_ends(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    result = await SqlCallStore(sessions, settings).request_callback(
        _request(asked=WEEKDAY_MORNING.replace(hour=12, minute=30)))
    assert result.due_at == WEEKDAY_MORNING.replace(hour=14)
    with sessions() as s:
        task = s.get(OutboundTask, result.task_id)
        assert task is not None
        assert task.due_at == WEEKDAY_MORNING.replace(hour=14)
        assert task.deadline_at == WEEKDAY_MORNING.replace(hour=20)


async def test_ivr_request_and_scheduler_sweep_make_one_task(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """The scheduler's requested rule also creates this task from the stored call (disposition
    callback_requested); whichever runs second finds the first one's task."""
    stored = await SqlCallStore(sessions, settings).request_callback(_request())
    with transaction(sessions) as s:
        s.add(Call(pbx="pbx1", linkedid="1795390124.68", uniqueid="1795390124.68",
                   direction=CallDirection.INBOUND, caller_number=CALLER_E164,
                   arrived_at=WEEKDAY_MORNING, ended_at=WEEKDAY_MORNING,
                   disposition=CallDisposition.CALLBACK_REQUESTED))
    with transaction(sessions) as s:
        swept = RULES["requested"](RuleContext(s, settings, WEEKDAY_MORNING.astimezone(dt.UTC)))
    assert swept.created == []
    with sessions() as s:
        assert s.scalars(select(OutboundTask.id)).all() == [stored.task_id]


async def test_callback_booked_by_a_call_on_a_holiday(
    start_ivr: StartIvr, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """A caller on National Day accepts the callback offer: the task is in the database, due at
    08:00 on 8 October (the first working morning after the Golden Week)."""
    store = SqlCallStore(sessions, settings)
    server = await start_ivr(router=FakeRouter([Seat(1, "1001")]), store=store, clock=frozen(NATIONAL_DAY))
    call = await ScriptedAsterisk(server.port, digits=["1"]).run()

    assert call.variables["HOTLINE_DISPOSITION"] == "callback_requested"
    with sessions() as s:
        [task] = s.scalars(select(OutboundTask)).all()
    assert task.type is TaskType.REQUESTED and task.phone == CALLER_E164
    assert task.due_at == dt.datetime(2026, 10, 8, 0, 0, tzinfo=dt.UTC)


async def test_blacklisted_in_the_database_is_recorded_from_the_start(
    start_ivr: StartIvr, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions.begin() as s:
        s.add(BlacklistEntry(phone=CALLER_E164, reason="extortion attempts"))
    server = await start_ivr(router=FakeRouter([Seat(1, "2001", Role.TEAM_LEADER)]), store=SqlCallStore(sessions, settings))
    call = await ScriptedAsterisk(server.port, digits=["1"], dials=["ANSWER"]).run()
    assert call.commands[call.index("ANSWER") + 1].line.startswith("EXEC MixMonitor")
    assert call.first("EXEC Dial").line == "EXEC Dial PJSIP/2001,4"


async def test_blacklisted_caller_is_still_recognised_while_the_database_is_away(
    start_ivr: StartIvr, engine: Engine, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """PostgreSQL restarting: the lookup fails, and the copy of the blacklist the IVR read
    before answers instead, so the caller still goes to a team leader, recorded from the start."""
    with sessions.begin() as s:
        s.add(BlacklistEntry(phone=CALLER_E164, reason="extortion attempts"))
    store = SqlCallStore(sessions, settings)
    assert await store.is_blacklisted("+8613900000000") is False  # an earlier call read the list
    server = await start_ivr(router=FakeRouter([Seat(1, "1001"), Seat(2, "2001", Role.TEAM_LEADER)]),
                             store=store)
    with database_unreachable(engine):
        call = await ScriptedAsterisk(server.port, digits=["1"], dials=["ANSWER"]).run()
    assert call.commands[call.index("ANSWER") + 1].line.startswith("EXEC MixMonitor")
    assert call.first("EXEC Dial").line == "EXEC Dial PJSIP/2001,4"
    assert store.blacklist.answered_from_copy == 1
