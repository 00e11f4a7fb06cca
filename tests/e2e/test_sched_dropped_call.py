"""Rule 1.15 end to end: an inbound consultation whose line drops (cause 38 after the agent
answered) is called back at once by the same agent: pbxsim → bridge (abnormal end) →
dropped-call task → scheduler → Originate → that agent's phone rings first → the caller."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from hotline.db.models import Call, OutboundTask
from hotline.db.session import session_factory
from hotline.domain.enums import CallDirection, CallOutcome, TaskStatus, TaskType
from pbxsim import AgentBehaviour, CallerBehaviour, CallerSpec, CustomerBehaviour
from tests.e2e.outbound import at, attempts_of, originate_records, scheduler_settings, wait_until
from tests.e2e.stack import HOTLINE_NUMBER, running_stack

CALLER = "13800000001"


def tasks(engine: Engine) -> list[OutboundTask]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(OutboundTask)))


async def test_dropped_call_is_called_back_at_once_by_the_same_agent(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    # 1001 has been ready the longest, so it takes the inbound call; 1002 stays free all
    # along, and still the callback goes to 1001.
    agents = {"1001": AgentBehaviour(answer_on_ring=1), "1002": AgentBehaviour(answer_on_ring=1)}
    async with running_stack(tmp_path, engine, db_url, sounds, agents, scheduler=True,
                             scheduler_settings=scheduler_settings()) as stack:
        sim = stack.sim
        sim.set_customer(CALLER, CustomerBehaviour(answer_after=2.0,
                                                   in_call=CallerBehaviour(talk_time=3.0)))
        call = await sim.place_call(CallerSpec(
            number=CALLER, dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["1"], drop_after=3.0, patience=120),
        ))
        inbound = await call.ended
        await wait_until(lambda: any(t.status is TaskStatus.DONE for t in tasks(engine)),
                         timeout=15, what="the callback answered")
        await sim.wait_idle(10)
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        truth = list(sim.truth)

    assert inbound["answered_by"] == "1001" and inbound["dropped"] == "caller"
    assert inbound["hangup_cause"] == 38

    (task,) = tasks(engine)  # the bridge and the scheduler both saw it: one task
    agent_id = stack.agents["1001"]
    assert (task.type, task.agent_id, task.phone) == (TaskType.DROPPED_CALL, agent_id, f"+86{CALLER}")
    assert (task.status, task.outcome, task.attempts) == (TaskStatus.DONE, CallOutcome.ANSWERED, 1)
    with session_factory(engine)() as s:
        dropped = s.get(Call, task.call_id)
        assert dropped is not None and dropped.abnormal_end and dropped.linkedid == inbound["linkedid"]
        assert dropped.end_reason == "caller-lost"
    (attempt,) = attempts_of(engine, task.id)
    assert attempt.agent_id == agent_id and attempt.outcome is CallOutcome.ANSWERED

    (callback,) = originate_records(truth)
    # The same agent's phone rang first (agent first), then the caller's number...
    assert callback["originate"]["channel"] == "PJSIP/1001"
    assert [o["extension"] for o in callback["offers"]][:1] == ["1001"]
    assert callback["offers"][1]["target"] == f"PJSIP/{CALLER}@carrier"
    assert callback["offers"][1]["outcome"] == "answered"
    # ...at once: well within a second of the drop (ring period 0.5 s here).
    assert at(callback["arrived_at"]) - at(inbound["ended_at"]) < 1.0
    with session_factory(engine)() as s:
        back = s.scalars(select(Call).where(Call.attempt_id == attempt.id)).one()
    assert back.direction is CallDirection.OUTBOUND and back.answered_by_agent_id == agent_id
