"""Outbound calls dialled for real: the scheduler → the bridge's PbxActions → pbxsim running
deploy/asterisk/extensions.conf, agent first (``hotline-outbound``) and customer first
(``hotline-outbound-ivr`` and the IVR's ``/outbound`` flow). Each attempt's outcome comes from
the OriginateResponse and the call's events; retries follow the configured count and delay."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from hotline.domain.enums import AttemptState, CallDirection, CallOutcome, TaskStatus
from pbxsim import AgentBehaviour, CallerBehaviour, CustomerBehaviour
from tests.e2e.outbound import (
    at,
    attempts_of,
    calls_of_attempt,
    new_task,
    originate_records,
    originates_per_task,
    scheduler_settings,
    sqlite_only,
    task_row,
    wait_until,
)
from tests.e2e.stack import running_stack

ANSWERS, BUSY, CONGESTED = "13900000001", "13900000002", "13900000003"


async def test_agent_first_outcomes_and_retries(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    agents = {"1001": AgentBehaviour(answer_on_ring=1), "1002": AgentBehaviour(answer_on_ring=1)}
    sched = scheduler_settings(retries=1, retry_delay_seconds=1.0)
    async with running_stack(tmp_path, engine, db_url, sounds, agents, scheduler=True,
                             scheduler_settings=sched) as stack:
        sim = stack.sim
        talk = CallerBehaviour(talk_time=3.0)
        sim.set_customer(ANSWERS, CustomerBehaviour(answer_after=2.0, in_call=talk))
        sim.set_customer(BUSY, CustomerBehaviour(mode="busy", answer_after=1.0))
        sim.set_customer(CONGESTED, CustomerBehaviour(mode="congestion", answer_after=1.0))
        tasks = {
            "answers": new_task(engine, stack.settings, f"+86{ANSWERS}", key="answers"),
            "busy": new_task(engine, stack.settings, f"+86{BUSY}", key="busy"),
            "congested": new_task(engine, stack.settings, f"+86{CONGESTED}", key="congested"),
            "invalid": new_task(engine, stack.settings, "+861234567", key="invalid"),
        }
        stack.runtime.scheduler.wake()  # type: ignore[union-attr]
        await wait_until(lambda: all(task_row(engine, t).status in (TaskStatus.DONE, TaskStatus.FAILED)
                                     for t in tasks.values()), timeout=20, what="every task finished")
        await sim.wait_idle(5)
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        truth = list(sim.truth)

    # What really rang: one call for the customer who answered, two (the first and its one
    # retry) for the busy and the congested line, none for a number that cannot exist.
    per_task = originates_per_task(truth, engine)
    assert per_task == {tasks["answers"]: 1, tasks["busy"]: 2, tasks["congested"]: 2}

    done = task_row(engine, tasks["answers"])
    assert (done.status, done.outcome, done.attempts) == (TaskStatus.DONE, CallOutcome.ANSWERED, 1)
    (answered,) = attempts_of(engine, tasks["answers"])
    assert answered.outcome is CallOutcome.ANSWERED and answered.originate_reason == 4
    # The stored call knows which attempt it dialled, and who talked to whom.
    (call,) = calls_of_attempt(engine, answered.id)
    assert call.direction is CallDirection.OUTBOUND
    assert call.caller_number == f"+86{ANSWERS}"
    assert call.answered_by_agent_id in stack.agents.values()

    for name, outcome in (("busy", CallOutcome.BUSY), ("congested", CallOutcome.FAILED)):
        task = task_row(engine, tasks[name])
        assert (task.status, task.outcome, task.attempts) == (TaskStatus.FAILED, outcome, 2), name
        first, second = attempts_of(engine, tasks[name])
        assert [first.outcome, second.outcome] == [outcome, outcome], name
        # The agent answered (Reason 4); the customer's result is the Dial's DIALSTATUS.
        assert first.originate_reason == 4 and "DIALSTATUS" in first.detail, first.detail
        assert first.settled_at is not None
        assert (second.started_at - first.settled_at).total_seconds() >= 1.0  # retry delay

    invalid = task_row(engine, tasks["invalid"])
    assert (invalid.status, invalid.outcome) == (TaskStatus.FAILED, CallOutcome.INVALID_NUMBER)
    (never,) = attempts_of(engine, tasks["invalid"])
    assert never.state is AttemptState.SETTLED and never.sent_at is None

    # Every Originate rang an agent's phone first (agent first), then the customer.
    for record in originate_records(truth):
        assert record["originate"]["context"] == "hotline-outbound"
        assert record["offers"][0]["extension"] in agents
        assert record["offers"][1]["target"].endswith("@carrier")
    retried = sorted(at(r["arrived_at"]) for r in originate_records(truth)
                     if r["originate"]["exten"] == BUSY)
    assert retried[1] - retried[0] >= 1.0


NO_ANSWER = "13900000004"


async def test_customer_first_outcomes_through_the_outbound_flow(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    agents = {"1001": AgentBehaviour(answer_on_ring=1)}
    sched = scheduler_settings(mode="customer_first", originate_timeout_seconds=1.0,
                               caller_id='"hotline" <4008001234>')
    async with running_stack(tmp_path, engine, db_url, sounds, agents, scheduler=True,
                             scheduler_settings=sched) as stack:
        sim = stack.sim
        sim.set_customer(ANSWERS, CustomerBehaviour(answer_after=2.0,
                                                    in_call=CallerBehaviour(talk_time=3.0)))
        sim.set_customer(BUSY, CustomerBehaviour(mode="busy", answer_after=1.0))
        sim.set_customer(NO_ANSWER, CustomerBehaviour(mode="noanswer"))
        tasks = {
            name: new_task(engine, stack.settings, f"+86{number}", key=name)
            for name, number in (("answers", ANSWERS), ("busy", BUSY), ("no-answer", NO_ANSWER))
        }
        stack.runtime.scheduler.wake()  # type: ignore[union-attr]
        await wait_until(lambda: all(task_row(engine, t).status in (TaskStatus.DONE, TaskStatus.FAILED)
                                     for t in tasks.values()), timeout=20, what="every task finished")
        await sim.wait_idle(10)
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        truth = list(sim.truth)

    expected = {"answers": (CallOutcome.ANSWERED, 4), "busy": (CallOutcome.BUSY, 5),
                "no-answer": (CallOutcome.NO_ANSWER, 3)}
    for name, (outcome, reason) in expected.items():
        (attempt,) = attempts_of(engine, tasks[name])
        assert (attempt.outcome, attempt.originate_reason) == (outcome, reason), name
    assert task_row(engine, tasks["answers"]).status is TaskStatus.DONE
    assert originates_per_task(truth, engine) == {t: 1 for t in tasks.values()}

    (answered,) = [r for r in originate_records(truth) if r["originate"]["exten"] == "s"
                   and r["dialled_number"] == "s" and r["answered_by"] is not None]
    # The customer's phone rang first; once answered, the IVR's outbound flow played its
    # prompt and put the customer through to the agent.
    assert answered["originate"]["channel"] == f"PJSIP/{ANSWERS}@carrier"
    assert answered["originate"]["context"] == "hotline-outbound-ivr"
    assert any("outbound_connecting" in p for p in answered["prompts"])
    assert answered["answered_by"] == "1001"
    (attempt,) = attempts_of(engine, tasks["answers"])
    (call,) = calls_of_attempt(engine, attempt.id)
    assert call.direction is CallDirection.OUTBOUND
    assert call.answered_by_agent_id == stack.agents["1001"]


@sqlite_only
async def test_a_callback_request_goes_to_another_agent_when_the_first_phone_is_busy(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    """The longest-idle agent is the one whose phone never takes a call (always busy): the
    busy hour's callback requests kept being given to it at every retry and never reached
    their customers. After its phone failed once, the next attempt goes to another agent."""
    agents = {"1001": AgentBehaviour(mode="busy"), "1002": AgentBehaviour(answer_on_ring=1)}
    sched = scheduler_settings(agent_retry_delay_seconds=0.3)
    async with running_stack(tmp_path, engine, db_url, sounds, agents, scheduler=True,
                             scheduler_settings=sched) as stack:
        sim = stack.sim
        sim.set_customer(ANSWERS, CustomerBehaviour(answer_after=1.0,
                                                    in_call=CallerBehaviour(talk_time=2.0)))
        task = new_task(engine, stack.settings, f"+86{ANSWERS}", key="callback")
        stack.runtime.scheduler.wake()  # type: ignore[union-attr]
        await wait_until(lambda: task_row(engine, task).status is TaskStatus.DONE,
                         timeout=10, what="the customer called back")
        await sim.wait_idle(5)
        truth = list(sim.truth)

    rang = [r["offers"][0]["extension"] for r in originate_records(truth)]
    assert rang == ["1001", "1002"]  # the busy phone once, then the other agent
    first, second = attempts_of(engine, task)
    assert first.agent_failed and first.agent_id == stack.agents["1001"]
    assert second.outcome is CallOutcome.ANSWERED and second.agent_id == stack.agents["1002"]
