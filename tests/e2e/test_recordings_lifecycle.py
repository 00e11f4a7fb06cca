"""Recordings through the whole of hotline against pbxsim, whose MixMonitor writes real WAV
files: what a flag keeps, what an unflagged call leaves (nothing), and a blacklisted caller's
call recorded from the answer on. Time runs 20 times faster on both sides."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from sqlalchemy import Engine, select

from hotline.db.models import BlacklistEntry, Call, CallFlag
from hotline.db.session import session_factory, transaction
from hotline.domain.enums import FlagSource, RecordingReason
from hotline.domain.spool import SpoolName, parse_spool_file_name
from pbxsim import AgentBehaviour, CallerBehaviour, CallerSpec
from tests.e2e.recordings_support import (
    as_,
    call_key,
    recordings_api,
    spool_files,
    store_files,
    stored_recordings,
    talking,
    wait_for,
)
from tests.e2e.stack import HOTLINE_NUMBER, running_stack

SPEED = 20.0
# Unflagged recordings go at the first sweep after the end (grace 0), once MixMonitor has
# closed the file (settle); both short so the test sees it happen.
FAST_SPOOL = {"flag_grace_minutes": 0, "sweep_seconds": 0.1, "settle_seconds": 0.1}


def sim_seconds(real: float) -> float:
    return real / SPEED


async def test_a_flag_at_minute_two_keeps_the_whole_call_and_unflagged_calls_leave_nothing(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path
) -> None:
    engine = sqlite_engine
    agents = {"1001": AgentBehaviour(answer_on_ring=2), "1002": AgentBehaviour(answer_on_ring=2)}
    async with running_stack(tmp_path, engine, str(engine.url), sounds, agents, speed=SPEED,
                             recordings=FAST_SPOOL) as stack:
        api = recordings_api(stack)
        long_call = await stack.sim.place_call(CallerSpec(
            number="13800000001", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["1"], talk_time=240),
        ))
        await wait_for("the first caller talking to an agent", lambda: talking(long_call))
        short_call = await stack.sim.place_call(CallerSpec(
            number="13800000002", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["1"], talk_time=20),
        ))
        agent = next(c for c in long_call.channel.bridge.channels if c is not long_call.channel)
        extension = agent.name.split("/")[1].split("-")[0]

        await asyncio.sleep(120 / SPEED)  # minute 2 of the conversation
        assert spool_files(stack), "MixMonitor records into the spool from the answer on"
        reply = await api.post("/api/recordings/flags", headers=as_(f"agent{extension}"), json={
            "reason": "other", "reason_text": "threatened to post the agent's name online",
        })
        assert reply.status_code == 200, reply.text
        flag = reply.json()
        assert flag["call_key"] == call_key(long_call), "the agent's current call was flagged"
        assert flag["step"] == "none" and flag["pbx_error"] is None, "the conversation goes on"

        short_truth = await short_call.ended
        # the unflagged call's file is gone at the first sweeps after its end
        short_name = Path(short_truth["recordings"][0]["path"]).name
        await wait_for("the unflagged recording deleted",
                       lambda: short_name not in {p.name for p in spool_files(stack)}, 3.0)
        assert talking(long_call), "the flagged call is still going on"
        long_truth = await long_call.ended
        await wait_for("the flagged recording stored", lambda: stored_recordings(stack), 3.0)
        await wait_for("an empty spool", lambda: not spool_files(stack), 3.0)
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]

        [rec] = stored_recordings(stack)
        [kept] = store_files(stack)
        with session_factory(engine)() as s:
            row = s.scalar(select(Call).where(Call.linkedid == long_truth["linkedid"]))
            user_id = s.scalar(select(CallFlag.flagged_by_id))
        assert row is not None
        # the whole conversation, minutes 0-4, not only what came after the flag
        assert long_truth["talk_seconds"] > 239
        assert abs(rec.duration_seconds - long_truth["talk_seconds"]) <= 0.5
        assert rec.call_id == row.id and rec.agent_id == stack.agents[extension]
        assert rec.reason is RecordingReason.OTHER and rec.flagged_by_id == user_id
        assert rec.caller_number == "+8613800000001"
        assert parse_spool_file_name(kept.name) == SpoolName(
            "pbx1", long_truth["linkedid"], long_truth["uniqueid"])
        local_day = row.answered_at.astimezone(stack.settings.tz).strftime("%Y/%m/%d")
        assert rec.storage_key == f"{local_day}/{row.id}/{kept.name}"
        assert rec.sha256 == hashlib.sha256(kept.read_bytes()).hexdigest()
        # and the agent of the call downloads exactly that file
        download = await api.get(f"/api/recordings/{rec.id}/download",
                                 headers=as_(f"agent{extension}"))
        assert download.status_code == 200 and download.content == kept.read_bytes()


async def test_a_blacklisted_callers_call_is_recorded_from_the_answer_and_kept(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path
) -> None:
    engine = sqlite_engine
    with transaction(session_factory(engine)) as s:
        s.add(BlacklistEntry(phone="+8613900001111", reason="malicious complaints"))
    # blacklisted callers go to team leaders and supervisors only (rule 9.15)
    agents = {"1001": AgentBehaviour(answer_on_ring=2), "2001": AgentBehaviour(answer_on_ring=2)}
    async with running_stack(tmp_path, engine, str(engine.url), sounds, agents, speed=SPEED,
                             agent_roles={"2001": "team_leader"}, recordings=FAST_SPOOL) as stack:
        call = await stack.sim.place_call(CallerSpec(
            number="13900001111", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["2"], talk_time=30),
        ))
        truth = await call.ended
        await wait_for("the recording stored", lambda: stored_recordings(stack), 3.0)
        await wait_for("an empty spool", lambda: not spool_files(stack), 3.0)

    assert truth["answered_by"] == "2001"
    [made] = truth["recordings"]  # one recording: the whole call, no bridged-only one on top
    assert parse_spool_file_name(Path(made["path"]).name) == SpoolName(
        "pbx1", truth["linkedid"], truth["uniqueid"], whole_call=True)
    [rec] = stored_recordings(stack)
    assert rec.reason is RecordingReason.BLACKLIST and rec.flagged_by_id is None
    assert rec.agent_id == stack.agents["2001"]
    # from the IVR's answer on: the greeting, the menu and the wait for the team leader too
    assert rec.duration_seconds >= truth["talk_seconds"] + 5
    assert abs(rec.duration_seconds - made["seconds"]) <= 0.01
    with session_factory(engine)() as s:
        [flag] = s.scalars(select(CallFlag)).all()
    assert flag.source is FlagSource.BLACKLIST and flag.call_key == f"pbx1:{truth['linkedid']}"
