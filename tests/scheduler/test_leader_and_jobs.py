"""One dialling scheduler across machines: leader election on both databases, two schedulers
on one PostgreSQL database dialling each task once (also across a failover), the database
refusing a second open attempt for a task, and APScheduler's jobs kept in the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, func, select, text

from hotline.db.models import OutboundAttempt, OutboundTask, apscheduler_jobs
from hotline.db.session import make_engine, session_factory, transaction
from hotline.domain.enums import AttemptState, TaskStatus, TaskType
from scheduler.agents import DatabasePicker
from scheduler.dialler import Dialler, PlannedTask
from scheduler.leader import LeaderLease
from scheduler.pacing import Pacer
from scheduler.service import JOB_DAILY, JOB_HALF_MONTHLY, JOB_TICK, OutboundScheduler
from scheduler.tasks import TaskSpec, add_tasks
from tests.scheduler.conftest import MONDAY_10, FakePbx, FrozenClock, local, make_settings, wait_for

postgres_only = pytest.mark.parametrize(
    "db_kind", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def make_tasks(engine: Engine, n: int) -> list[int]:
    settings = make_settings()
    with transaction(session_factory(engine)) as s:
        return add_tasks(s, [TaskSpec(type=TaskType.REQUESTED, phone=f"+861391234{i:04d}",
                                      due_at=MONDAY_10, dedupe_key=f"t{i}") for i in range(n)],
                         settings)


def all_done(engine: Engine, ids: list[int]) -> bool:
    with session_factory(engine)() as s:
        done = s.scalar(select(func.count()).select_from(OutboundTask).where(
            OutboundTask.id.in_(ids), OutboundTask.status == TaskStatus.DONE))
    return done == len(ids)


def open_attempts(engine: Engine) -> int:
    with session_factory(engine)() as s:
        return s.scalar(select(func.count()).select_from(OutboundAttempt).where(
            OutboundAttempt.state != AttemptState.SETTLED)) or 0


def test_only_one_lease_at_a_time_and_each_election_raises_the_epoch(engine: Engine) -> None:
    a = LeaderLease(engine, lease_seconds=5, holder="a")
    b = LeaderLease(engine, lease_seconds=5, holder="b")
    assert a.try_acquire() and a.valid()
    assert not b.try_acquire()
    assert a.heartbeat()
    a.release()
    assert not a.valid()
    assert b.try_acquire() and b.epoch == (a_epoch := 1) + 1, a_epoch
    # The old leader cannot come back by heartbeat alone.
    assert not a.heartbeat()
    b.release()


@postgres_only
def test_a_leader_whose_database_session_dies_stands_down(engine: Engine) -> None:
    a = LeaderLease(engine, lease_seconds=5, holder="a")
    assert a.try_acquire()
    assert a._conn is not None
    pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        admin.commit()
    assert not a.heartbeat() and not a.valid()
    b = LeaderLease(engine, lease_seconds=5, holder="b")
    assert b.try_acquire()  # the server released the lock with the session
    b.release()


@postgres_only
async def test_two_schedulers_on_one_postgresql_database_dial_each_task_once(db_url: str) -> None:
    settings = make_settings(mode="customer_first", max_concurrent_calls=5,
                             new_calls_per_second=200)
    engines = [make_engine(db_url), make_engine(db_url)]
    ids = make_tasks(engines[0], 60)
    pbx = FakePbx(ring_seconds=0.01)  # one PBX both would dial through
    clock = FrozenClock(MONDAY_10)
    services = [OutboundScheduler(settings, e, pbx, clock=clock, holder=f"s{i}",
                                  dispatch_poll_seconds=0.02) for i, e in enumerate(engines)]
    runners = [asyncio.create_task(s.run()) for s in services]
    try:
        await wait_for(lambda: any(s.leading.is_set() for s in services))
        first = next(s for s in services if s.leading.is_set())
        second = next(s for s in services if s is not first)
        await wait_for(lambda: len(pbx.sent) >= 15)
        # The leader's database session dies mid-run (machine lost): the other takes over.
        assert first.lease._conn is not None
        pid = first.lease._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engines[1].connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            admin.commit()
        await wait_for(lambda: second.leading.is_set(), timeout=15)
        # Attempts the old leader wrote but never sent are resolved (never re-sent); their
        # tasks take their retry after the retry delay, as new attempts.
        await wait_for(lambda: open_attempts(engines[1]) == 0, timeout=15)
        clock.advance(seconds=settings.scheduler.retry_delay_seconds + 1)
        second.wake()
        await wait_for(lambda: all_done(engines[0], ids), timeout=30)
    finally:
        for s in services:
            await s.stop()
        await asyncio.gather(*runners, return_exceptions=True)
        for e in engines:
            e.dispose()
    per_task: dict[int, int] = {}
    for sent in pbx.sent:
        per_task[sent.task_id] = per_task.get(sent.task_id, 0) + 1
    assert per_task == {i: 1 for i in ids}
    assert second.dialled > 0 and first.dialled > 0


@postgres_only
def test_the_database_refuses_a_second_open_attempt_for_a_task(db_url: str) -> None:
    """Even two dialers that both believe they lead cannot both claim one task."""
    settings = make_settings(mode="customer_first")
    engines = [make_engine(db_url), make_engine(db_url)]
    ids = make_tasks(engines[0], 40)
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def race(k: int) -> None:
        lease = LeaderLease(engines[k], lease_seconds=60)
        lease.epoch = 100 + k  # forced: no election
        sessions = session_factory(engines[k])
        dialler = Dialler(settings, sessions, FakePbx(), lease, Pacer(100, 100),
                          DatabasePicker(sessions))
        barrier.wait()
        for tid in ids:
            if dialler.prepare(PlannedTask(tid, TaskType.REQUESTED, "+8613912340000", None), None):
                claimed[k].append(tid)

    threads = [threading.Thread(target=race, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(claimed[0] + claimed[1]) == sorted(ids)
        with session_factory(engines[0])() as s:
            assert s.scalar(select(func.count()).select_from(OutboundAttempt)) == 40
        # And the index itself: a second open attempt for one task is refused.
        with pytest.raises(Exception, match="uq_outbound_attempts_open_task"):
            with transaction(session_factory(engines[0])) as s:
                s.add(OutboundAttempt(task_id=ids[0], epoch=1, mode="x", state=AttemptState.PREPARED,
                                      agent_failed=False, detail=""))
    finally:
        for e in engines:
            e.dispose()


async def test_apscheduler_keeps_its_jobs_in_the_database_and_the_tick_runs_rules(
    engine: Engine,
) -> None:
    from hotline.crm.service import open_case
    from tests.scheduler.conftest import add_agent

    settings = make_settings(mode="customer_first", tick_seconds=0.3)
    pbx = FakePbx()
    svc = OutboundScheduler(settings, engine, pbx, clock=FrozenClock(MONDAY_10),
                            dispatch_poll_seconds=0.02)
    runner = asyncio.create_task(svc.run())
    try:
        await wait_for(lambda: svc.leading.is_set())
        with session_factory(engine)() as s:
            stored = set(s.scalars(select(apscheduler_jobs.c.id)))
        assert stored == {JOB_TICK, JOB_DAILY, JOB_HALF_MONTHLY}
        assert svc.apscheduler is not None
        daily = svc.apscheduler.get_job(JOB_DAILY)
        half = svc.apscheduler.get_job(JOB_HALF_MONTHLY)
        now = dt.datetime.now(settings.tz)
        assert (daily.next_run_time.hour, daily.next_run_time.minute) == (0, 5)
        assert daily.next_run_time - now <= dt.timedelta(days=1)
        assert half.next_run_time.day in (1, 16)
        # A case opened while the scheduler runs gets its reply task from the next tick,
        # which is then dialled.
        with transaction(session_factory(engine)) as s:
            agent = add_agent(s)
            open_case(s, {"occurred_at": "2026-11-23T09:00:00+08:00", "place": "门店",
                          "person": "王先生", "event": "未到账", "contact_phone": "13912345678",
                          "owner_id": agent.user_id}, created_by_id=agent.user_id, now=MONDAY_10)
        await wait_for(lambda: len(pbx.sent) == 1, timeout=5)
        assert pbx.sent[0].args["variables"]["HOTLINE_TASK_TYPE"] == "case-reply"
    finally:
        await svc.stop()
        await runner


def test_the_top_customers_job_fires_on_the_1st_and_16th() -> None:
    from apscheduler.triggers.cron import CronTrigger

    settings = make_settings()
    trigger = CronTrigger(day="1,16", hour=0, minute=5, timezone=settings.tz)
    fire = trigger.get_next_fire_time(None, local(2026, 11, 2, 9, 0).astimezone(settings.tz))
    assert fire == local(2026, 11, 16, 0, 5)
    fire = trigger.get_next_fire_time(None, local(2026, 11, 16, 0, 6).astimezone(settings.tz))
    assert fire == local(2026, 12, 1, 0, 5)


async def test_the_lease_is_kept_while_the_first_planning_tick_runs_long(engine: Engine) -> None:
    """On a large database the start-up tick and daily rules can take longer than the lease;
    the heartbeat must run meanwhile, or the first calls are refused as sent without a
    lease ("not sent: the leader lease was not valid")."""
    settings = make_settings(lease_seconds=0.6, mode="customer_first")
    pbx = FakePbx()
    svc = OutboundScheduler(settings, engine, pbx, clock=FrozenClock(MONDAY_10),
                            dispatch_poll_seconds=0.02)
    real_tick = svc.tick

    async def slow_tick():  # type: ignore[no-untyped-def]
        await asyncio.sleep(1.5)  # two and a half leases
        return await real_tick()

    svc.tick = slow_tick  # type: ignore[method-assign]
    (task_id,) = make_tasks(engine, 1)
    runner = asyncio.create_task(svc.run())
    try:
        await asyncio.wait_for(svc.leading.wait(), 10)
        assert svc.lease.valid()
        await wait_for(lambda: all_done(engine, [task_id]))
    finally:
        await svc.stop()
        await asyncio.wait_for(runner, 10)
    with session_factory(engine)() as s:
        (attempt,) = s.scalars(select(OutboundAttempt)).all()
    assert "not sent" not in attempt.detail and len(pbx.sent) == 1


@pytest.mark.postgres
async def test_the_scheduler_survives_postgresql_stopping_and_leads_again() -> None:
    """PostgreSQL stopped under a leading scheduler (issue 9's fault): it stands down, keeps
    asking while the server is away, and leads and dials again once it is back. Before, the
    first failed attempt to stand for leader ended its loop: ``hotline serve`` went on without
    a scheduler. (A server of its own: the suite's shared one must not stop.)"""
    from hotline.db import migrate
    from hotline.devtools.pgserver import PostgresServer

    server = PostgresServer().start()
    try:
        engine = make_engine(server.url())
        migrate.upgrade(engine)
        pbx = FakePbx()
        svc = OutboundScheduler(make_settings(mode="customer_first"), engine, pbx,
                                clock=FrozenClock(MONDAY_10),
                                dispatch_poll_seconds=0.02)
        runner = asyncio.create_task(svc.run())
        try:
            await wait_for(lambda: svc.leading.is_set())
            await asyncio.to_thread(server.stop, "fast")
            await wait_for(lambda: not svc.leading.is_set(), timeout=5)
            await asyncio.sleep(1.0)  # several standby polls against a server that is away
            assert not runner.done(), runner
            await asyncio.to_thread(server.restart)
            await wait_for(lambda: svc.leading.is_set(), timeout=10)
            ids = make_tasks(engine, 2)
            svc.wake()
            await wait_for(lambda: len(pbx.sent) == 2, timeout=5)
            assert {m.args["variables"]["HOTLINE_TASK_ID"] for m in pbx.sent} == {
                str(i) for i in ids}
        finally:
            await svc.stop()
            await asyncio.wait_for(runner, 10)
            engine.dispose()
    finally:
        server.cleanup()
