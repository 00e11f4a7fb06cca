"""One inbound call through the whole of hotline: pbxsim → IVR → bridge router → agent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from hotline.db.models import Call, CallLeg
from hotline.db.session import session_factory
from pbxsim import AgentBehaviour, CallerBehaviour, CallerSpec
from tests.e2e.stack import HOTLINE_NUMBER, running_stack


async def test_inbound_call_is_answered_at_ring_3_and_stored(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    agents = {"1001": AgentBehaviour(answer_on_ring=2, talk_time=5)}
    async with running_stack(tmp_path, engine, db_url, sounds, agents) as stack:
        call = await stack.sim.place_call(CallerSpec(
            number="13800000001", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["1"], talk_time=60, patience=120),
        ))
        truth = await call.ended
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
    with session_factory(engine)() as s:
        row = s.scalars(select(Call)).one()
        legs = s.scalars(select(CallLeg).where(CallLeg.call_id == row.id)).all()
    assert truth["answered_by"] == "1001", truth
    assert row.rings_at_answer == 3
    assert row.answered_by_agent_id == stack.agents["1001"]
    assert row.disposition == "answered"
    assert row.category == "inquiry"
    assert row.caller_number == "+8613800000001"
    assert any(leg.role == "agent" and leg.rings_at_answer == 2 for leg in legs)
