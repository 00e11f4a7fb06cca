"""Exactly once, end to end. A hotline Runtime with the scheduler runs in a child process and
is killed with SIGKILL (no clean stop: its sockets closed by the kernel, its PostgreSQL
sessions and advisory lock ended by the server, whatever it had not written lost) at the
worst moments; a new Runtime takes over in this process. pbxsim's truth log counts what
really reached the PBX: every attempt id is originated at most once, and no task rings its
customer twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from hotline.domain.enums import AttemptState, CallOutcome, TaskStatus
from hotline.settings import Settings
from pbxsim import AgentBehaviour, AgentSpec, CallerBehaviour, CustomerBehaviour, PbxSimulator
from tests.e2e.outbound import (
    all_attempts,
    attempts_of,
    calls_of_attempt,
    new_task,
    originate_records,
    originates_per_attempt,
    originates_per_task,
    postgres_only,
    scheduler_settings,
    sqlite_only,
    task_row,
    wait_until,
)
from tests.e2e.stack import (
    add_agents,
    child_runtime,
    free_port,
    new_simulator,
    running_runtime,
    stack_settings,
)

CUSTOMER = "13900000001"
SCHED = scheduler_settings(retries=1, retry_delay_seconds=1.0)


@dataclass
class World:
    """pbxsim and the database, which outlive every hotline process of a test."""

    sim: PbxSimulator
    settings: Settings
    agi_port: int
    agent_ids: dict[str, int]
    sched: dict[str, Any]

    def child(self, tmp: Path, db_url: str, sounds: Path, **kw: Any):  # type: ignore[no-untyped-def]
        return child_runtime(tmp, db_url, sounds, ami_port=self.sim.ami_port,
                             agi_port=self.agi_port, agent_ids=self.agent_ids,
                             scheduler_settings=self.sched, **kw)


@asynccontextmanager
async def world(tmp: Path, engine: Engine, db_url: str, sounds: Path,
                agents: dict[str, AgentBehaviour], sched: dict[str, Any] = SCHED,
                ) -> AsyncIterator[World]:
    agi_port = free_port()
    sim = new_simulator(tmp, sounds, agi_port=agi_port)
    await sim.start()
    try:
        ids = add_agents(engine, agents)
        for ext, behaviour in agents.items():
            sim.add_agent(AgentSpec(ext, behaviour))
        settings = stack_settings(tmp, db_url, ami_port=sim.ami_port, agi_port=agi_port,
                                  sounds=sounds, scheduler=sched)
        yield World(sim, settings, agi_port, ids, sched)
    finally:
        await sim.stop()


async def customer_ringing(sim: PbxSimulator, count: int = 1) -> None:
    """Until ``count`` customers' phones ring (carrier legs dialled by ``hotline-outbound``)."""
    def ringing() -> int:
        assert sim.pbx is not None
        return sum(1 for c in sim.pbx.channels.values()
                   if c.name.startswith("PJSIP/carrier-") and c.state == 5)

    while ringing() < count:  # noqa: ASYNC110 - pbxsim offers no event for this
        await asyncio.sleep(0.02)


@sqlite_only  # (PostgreSQL: the tests below)
async def test_crash_between_writing_an_attempt_and_sending_it(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    agents = {"1001": AgentBehaviour(answer_on_ring=1)}
    async with world(tmp_path, engine, db_url, sounds, agents) as w:
        w.sim.set_customer(CUSTOMER, CustomerBehaviour(answer_after=1.0,
                                                       in_call=CallerBehaviour(talk_time=1.0)))
        task_id = new_task(engine, w.settings, f"+86{CUSTOMER}", key="t")
        async with w.child(tmp_path, db_url, sounds, hold_originates=True) as child:
            held = await child.line("HELD")
            await child.kill()  # the attempt is committed; its Originate never left
        (orphan,) = attempts_of(engine, task_id)
        assert held == f"HELD attempt-{orphan.id}" and orphan.state is AttemptState.PREPARED
        assert originate_records(w.sim.truth) == []

        async with running_runtime(w.settings, engine, w.agent_ids, scheduler=True):
            await wait_until(lambda: task_row(engine, task_id).status is TaskStatus.DONE,
                             timeout=20, what="the task dialled by the new leader")
            await w.sim.wait_idle(10)
        truth = list(w.sim.truth)

    orphan, retry = attempts_of(engine, task_id)
    # The orphan was found neither on the PBX nor among the stored calls: never sent, and
    # never sent afterwards either. The task rang once, by a new attempt of the new leader.
    assert orphan.outcome is CallOutcome.FAILED and "never re-sent" in orphan.detail
    assert retry.outcome is CallOutcome.ANSWERED and retry.epoch > orphan.epoch
    assert originates_per_attempt(truth) == {retry.id: 1}


@postgres_only
async def test_crash_after_sending_the_live_call_is_adopted_not_redialled(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    agents = {"1001": AgentBehaviour(answer_on_ring=1)}
    async with world(tmp_path, engine, db_url, sounds, agents) as w:
        # The customer answers a second after their phone starts ringing, and talks 2 s.
        w.sim.set_customer(CUSTOMER, CustomerBehaviour(answer_after=10.0,
                                                       in_call=CallerBehaviour(talk_time=20.0)))
        task_id = new_task(engine, w.settings, f"+86{CUSTOMER}", key="t")
        async with w.child(tmp_path, db_url, sounds) as child:
            await customer_ringing(w.sim)
            await child.kill()  # sent, the agent answered, the customer's phone rings
        (attempt,) = attempts_of(engine, task_id)
        # (connected, or still prepared if the kill beat the OriginateResponse's commit)
        assert attempt.state is not AttemptState.SETTLED

        async with running_runtime(w.settings, engine, w.agent_ids, scheduler=True) as runtime:
            await wait_until(lambda: attempts_of(engine, task_id)[0].state is AttemptState.SETTLED,
                             timeout=15, what="the orphan resolved")
            scheduler = runtime.scheduler
            assert scheduler is not None
            assert scheduler.pacer.active == 1  # the adopted call counts against the limit
            await w.sim.wait_idle(10)
            await wait_until(lambda: scheduler.pacer.active == 0, timeout=5,
                             what="the adopted call's slot freed at its end")
            await runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        truth = list(w.sim.truth)

    (attempt,) = attempts_of(engine, task_id)
    assert attempt.outcome is CallOutcome.ANSWERED and "after a restart" in attempt.detail
    assert task_row(engine, task_id).status is TaskStatus.DONE
    assert originates_per_attempt(truth) == {attempt.id: 1}
    (record,) = originate_records(truth)
    assert record["offers"][1]["outcome"] == "answered"  # the customer did talk, once
    # The new bridge adopted the call and followed it to its end.
    (call,) = calls_of_attempt(engine, attempt.id)
    assert call.ended_at is not None and call.answered_by_agent_id == w.agent_ids["1001"]


@sqlite_only
async def test_crash_after_sending_the_call_over_meanwhile_is_not_redialled(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    """The double-call window of phase 1: sent, then the process died, and the call was over
    before anyone looked. The PBX has no trace of it; the stored call (written by the dead
    process while the customer's phone rang) proves it was dialled, and since nobody saw how
    it ended, the task is not dialled again: as the truth log shows, the customer had in
    fact answered."""
    agents = {"1001": AgentBehaviour(answer_on_ring=1)}
    async with world(tmp_path, engine, db_url, sounds, agents) as w:
        w.sim.set_customer(CUSTOMER, CustomerBehaviour(answer_after=5.0,
                                                       in_call=CallerBehaviour(talk_time=5.0)))
        task_id = new_task(engine, w.settings, f"+86{CUSTOMER}", key="t")
        async with w.child(tmp_path, db_url, sounds) as child:
            await customer_ringing(w.sim)
            await asyncio.sleep(0.1)
            await child.kill()
        await w.sim.wait_idle(10)  # the call goes on without hotline, and ends
        (record,) = originate_records(w.sim.truth)
        assert record["offers"][1]["outcome"] == "answered"

        async with running_runtime(w.settings, engine, w.agent_ids, scheduler=True):
            await wait_until(lambda: task_row(engine, task_id).status is TaskStatus.FAILED,
                             timeout=15, what="the orphan resolved")
            await asyncio.sleep(1.5)  # past the retry delay: nothing is dialled again
        truth = list(w.sim.truth)

    (attempt,) = attempts_of(engine, task_id)
    assert attempt.outcome is CallOutcome.FAILED and "stored call" in attempt.detail
    assert "not dialled again automatically" in attempt.detail
    assert originates_per_task(truth, engine) == {task_id: 1}
    # The new bridge closed the call the dead one had left "in progress".
    (call,) = calls_of_attempt(engine, attempt.id)
    assert call.ended_at is not None and call.end_reason == "lost-during-disconnect"


@postgres_only
async def test_two_schedulers_on_one_postgresql_database_dial_each_task_once(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    """Two ``hotline serve`` on one database and one Asterisk: only the leader dials. When it
    is killed mid-call, the other takes over; its own bridge had followed the calls the dead
    leader placed, so their outcomes are known exactly, and the rest is dialled once."""
    agents = {"1001": AgentBehaviour(answer_on_ring=1), "1002": AgentBehaviour(answer_on_ring=1)}
    # no retries: the declined calls are not dialled again (that would be a new attempt)
    async with world(tmp_path, engine, db_url, sounds, agents, scheduler_settings()) as w:
        refuse, answer = ("13900000001", "13900000002"), ("13900000003", "13900000004")
        for number in refuse:  # ring a second, then decline
            w.sim.set_customer(number, CustomerBehaviour(mode="reject", answer_after=10.0))
        for number in answer:
            w.sim.set_customer(number, CustomerBehaviour(answer_after=1.0,
                                                         in_call=CallerBehaviour(talk_time=2.0)))
        async with w.child(tmp_path, db_url, sounds) as first:
            await first.line("LEADING")
            # (a second machine: its own FastAGI port; the dialplan points at the first's)
            other = w.settings.model_copy(update={
                "agi": w.settings.agi.model_copy(update={"port": free_port()})})
            async with running_runtime(other, engine, w.agent_ids, scheduler=True) as second:
                scheduler = second.scheduler
                assert scheduler is not None
                await asyncio.sleep(0.5)
                assert not scheduler.leading.is_set()  # standing by
                tasks = [new_task(engine, w.settings, f"+86{n}", key=n) for n in refuse + answer]
                await customer_ringing(w.sim, 2)  # the leader dialled the first two
                await first.kill()
                await wait_until(lambda: all(task_row(engine, t).status in (TaskStatus.DONE,
                                                                            TaskStatus.FAILED)
                                             for t in tasks), timeout=20, what="every task")
                assert scheduler.leading.is_set()
                await w.sim.wait_idle(10)
        truth = list(w.sim.truth)

    assert originates_per_task(truth, engine) == {t: 1 for t in tasks}
    assert all(n == 1 for n in originates_per_attempt(truth).values())
    attempts = {a.task_id: a for a in all_attempts(engine)}
    assert len(attempts) == len(tasks)  # one attempt per task, none retried
    first_epoch = attempts[tasks[0]].epoch
    for task_id in tasks[:2]:
        # dialled by the first leader, resolved by the second from its own bridge's record
        a = attempts[task_id]
        assert a.epoch == first_epoch and "stored call" in a.detail
        assert a.outcome is CallOutcome.NO_ANSWER  # declined: DIALSTATUS NOANSWER
    for task_id in tasks[2:]:
        a = attempts[task_id]
        assert a.epoch > first_epoch and a.outcome is CallOutcome.ANSWERED
