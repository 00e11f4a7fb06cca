"""The AMI bridge against the PBX simulator: what it stores is what really happened.

Both tests run a whole hotline (IVR, router, bridge, writer) against pbxsim over TCP with time
compressed, and judge the database by pbxsim's truth log (tests/e2e/truth.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hotline.db.models import Call, OutboundTask
from pbxsim import AgentBehaviour, CallerBehaviour, CallerSpec, Scenario
from tests.e2e.stack import HOTLINE_NUMBER, Stack, running_stack
from tests.e2e.truth import assert_db_matches_truth, dropped_call

# Answering agents of every kind, and the ones who make the bridge work: a phone that never
# answers (the ring-5 deadline, ring-no-answer pauses), a busy one, a rejecting one, one that
# is not registered, and agents whose line drops mid-call.
MIXED_AGENTS: dict[str, AgentBehaviour] = {
    "1001": AgentBehaviour(answer_on_ring=1),
    "1002": AgentBehaviour(answer_on_ring=2),
    "1003": AgentBehaviour(answer_on_ring=2, talk_time=(4, 10)),
    "1004": AgentBehaviour(answer_on_ring=3),
    "1005": AgentBehaviour(answer_on_ring=3),
    "1006": AgentBehaviour(answer_on_ring=3, talk_time=(3, 12)),
    "1007": AgentBehaviour(answer_on_ring=4),
    "1008": AgentBehaviour(answer_on_ring=4),
    "1009": AgentBehaviour(answer_on_ring=5),
    "1010": AgentBehaviour(answer_on_ring=(1, 5)),
    "1011": AgentBehaviour(answer_on_ring=(2, 4)),
    "1012": AgentBehaviour(answer_on_ring=(3, 5)),
    "1013": AgentBehaviour(answer_on_ring=(2, 5), talk_time=(5, 15)),
    "1014": AgentBehaviour(answer_on_ring=2, drop_after=(3, 8)),
    "1015": AgentBehaviour(answer_on_ring=3, drop_after=(2, 10)),
    "1016": AgentBehaviour(answer_on_ring=(1, 4)),
    "1017": AgentBehaviour(mode="never"),
    "1018": AgentBehaviour(mode="never"),
    "1019": AgentBehaviour(mode="busy"),
    "1020": AgentBehaviour(mode="reject", answer_after=4),
    "1021": AgentBehaviour(registered=False),
}

MIXED_CALLS = {
    "seed": 20,
    "calls": 200,
    "arrival": {"interval": 1.4},
    "mix": [
        {"name": "talks", "weight": 12, "digits": ["1"], "talk_time": [4, 20], "patience": 150},
        {"name": "complaint", "weight": 2, "digits": ["2"], "talk_time": [4, 20], "patience": 150},
        {"name": "gives-up-waiting", "weight": 3, "digits": ["3"], "patience": [25, 60]},
        {"name": "hangs-up-ringing", "weight": 1, "digits": [], "patience": [2, 9]},
        {"name": "caller-drops", "weight": 2, "digits": ["1"], "drop_after": [2, 8],
         "patience": 150},
        {"name": "silent", "weight": 1, "digits": [], "patience": 150},
    ],
}


async def _bring_back_paused(stack: Stack, every: float) -> None:
    """A supervisor who sets agents paused for ring-no-answer ready again, now and then."""
    bridge = stack.runtime.bridge
    while True:
        await asyncio.sleep(every)
        for live in list(bridge.agents):
            if live.reason == "ring-no-answer":
                await bridge.set_ready(live.info.agent_id)


@pytest.mark.parametrize("db_kind", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
async def test_200_mixed_calls_are_stored_exactly_as_they_happened(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    speed = 25.0
    async with running_stack(tmp_path, engine, db_url, sounds, MIXED_AGENTS, speed=speed,
                             wrap_up_seconds=5 / speed, timestamp_events=True) as stack:
        supervisor = asyncio.ensure_future(_bring_back_paused(stack, every=60 / speed))
        try:
            run = await stack.sim.run_scenario(Scenario.from_dict(MIXED_CALLS))
        finally:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await stack.runtime.bridge.writer.flush(10)
        truth = list(stack.sim.truth)
        deadlines = stack.runtime.bridge.deadlines.stats

    assert_db_matches_truth(engine, truth, keep=tmp_path)
    # the mix did exercise what it is meant to
    summary = run.summary()
    offers = Counter(o["outcome"] for r in truth for o in r["offers"])
    assert summary["calls"] == summary["ended"] == len(truth) == 200
    assert summary["answered_by_agent"] >= 100 and summary["abandoned"] >= 10
    assert {"1", "2", "3", "4", "5"} <= set(summary["answer_ring"])
    assert min(offers["noanswer"], offers["busy"], offers["rejected"], offers["cancelled"]) >= 3
    assert sum(1 for r in truth if dropped_call(r) and r["dropped"] == "caller") >= 3
    assert sum(1 for r in truth if dropped_call(r) and r["dropped"] == "agent") >= 3
    # every no-answer offer was taken away by the bridge; on a loaded machine a Hangup may
    # also cross an offer ending by itself at that instant (caller gone, phone picked up),
    # which the truth-log comparison above has already judged
    assert offers["noanswer"] <= deadlines.hung_up <= offers["noanswer"] + 2
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Call)) == 200
        assert s.scalar(select(func.count()).select_from(OutboundTask)) == sum(
            1 for r in truth if dropped_call(r))


async def test_ring_5_deadline_takes_the_call_and_the_next_agent_rings_at_once(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path
) -> None:
    """A phone that never answers loses the call at 5·P after it started ringing (±0.2 s),
    measured by the PBX, and the next agent's phone rings within a second."""
    speed = 10.0
    period = 5.0 / speed
    agents = {"1001": AgentBehaviour(mode="never"), "1002": AgentBehaviour(answer_on_ring=3)}
    db_url = str(sqlite_engine.url)
    async with running_stack(tmp_path, sqlite_engine, db_url, sounds, agents, speed=speed,
                             timestamp_events=True) as stack:
        call = await stack.sim.place_call(CallerSpec(
            number="13800000005", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["1"], talk_time=10, patience=120),
        ))
        truth = await call.ended
        await stack.runtime.bridge.writer.flush(5)

    first, second = truth["offers"]
    assert (first["extension"], first["outcome"], first["cause"]) == ("1001", "noanswer", 19)
    rang = _at(first["ended_at"]) - _at(first["ringing_at"])
    assert abs(rang.total_seconds() - 5 * period) <= 0.2, rang
    assert (second["extension"], second["outcome"]) == ("1002", "answered")
    assert (_at(second["ringing_at"]) - _at(first["ended_at"])).total_seconds() < 1.0
    assert truth["answered_by"] == "1002"
    assert_db_matches_truth(sqlite_engine, [truth], keep=tmp_path)
    with Session(sqlite_engine) as s:
        legs = {leg.agent_id: leg for leg in s.scalars(select(Call)).one().legs if leg.agent_id}
    missed = legs[stack.agents["1001"]]
    assert missed.dial_status == "NOANSWER" and missed.hangup_cause == 19


def _at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)
