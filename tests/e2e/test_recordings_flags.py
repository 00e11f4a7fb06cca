"""Flags on live calls through the whole of hotline against pbxsim: the agent's feature code
and the API, the civil-language warning then the end of the call (pbxsim runs
[hotline-warning] from deploy/asterisk/extensions.conf), and extortion's procedure prompt,
legal hold and escalation. Time runs 20 times faster on both sides."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from hotline.db.models import (
    Agent,
    Call,
    CallFlag,
    Escalation,
    EscalationRecipient,
    OutboundTask,
    User,
)
from hotline.db.session import session_factory, transaction
from hotline.domain.enums import AgentState, FlagSource, RecordingReason, Role
from hotline.domain.events import Alert, EscalationRaised
from pbxsim import AgentBehaviour, AgentFlag, CallerBehaviour, CallerSpec, CallHandle
from tests.e2e.recordings_support import (
    Heard,
    as_,
    call_key,
    recordings_api,
    spool_files,
    stored_recordings,
    talking,
    wait_for,
)
from tests.e2e.stack import HOTLINE_NUMBER, running_stack
from tests.factories import make_user

SPEED = 20.0
SPOOL = {"flag_grace_minutes": 0, "sweep_seconds": 0.1, "settle_seconds": 0.1}


def heard(call: CallHandle, prompt: str) -> int:
    """How many times the caller's call played the prompt (caller or agent side)."""
    return sum(1 for p in call.record.prompts if p.endswith(f"/zh-CN/{prompt}"))


def redirected(call: CallHandle, exten: str) -> bool:
    return any(r.endswith(f"->hotline-warning,{exten}") for r in call.record.redirects)


async def test_the_warning_then_the_second_flag_end_the_call_as_abusive(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    agents = {"1001": AgentBehaviour(answer_on_ring=2)}
    async with running_stack(tmp_path, engine, db_url, sounds, agents, speed=SPEED,
                             recordings=SPOOL) as stack:
        api = recordings_api(stack)
        alerts = Heard(stack, Alert)
        # the agent keys *71 on the softphone 10 s into the conversation
        call = await stack.sim.place_call(CallerSpec(
            number="13800000001", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["1"], talk_time=600, label="abusive",
                                      agent_flags=[AgentFlag("*71", after=10)]),
        ))
        await wait_for("the agent's *71 to take the caller to the warning",
                       lambda: redirected(call, "warn"))
        assert not talking(call), "the caller hears the warning alone"
        # the caller hears S15 (the agent too), then Bridge() has them talking again
        await wait_for("the caller back with the agent", lambda: talking(call))
        assert heard(call, "civil_language_warning") == 2
        assert not redirected(call, "close")

        reply = await api.post("/api/recordings/flags", headers=as_("agent1001"),
                               json={"reason": "abusive", "reason_text": "kept swearing"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["step"] == "ended" and reply.json()["pbx_error"] is None
        truth = await call.ended
        await wait_for("the recording stored", lambda: stored_recordings(stack), 3.0)
        await wait_for("an empty spool", lambda: not spool_files(stack), 3.0)
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]

    # the closing line (S16) came after the warning, then hotline hung the caller up
    assert [Path(p).name for p in truth["prompts"]][-3:] == [
        "civil_language_warning", "civil_language_warning", "closing"]
    assert truth["ended_by"] == "pbx" and truth["hangup_cause"] == 16
    agent_channel = truth["offers"][0]["channel"]

    def places(channel: str) -> list[str]:
        return [r.split("->")[1] for r in truth["redirects"] if r.startswith(f"{channel}->")]

    # two dual redirects: the caller to the prompt, the agent to wait (then to be let go)
    assert places(truth["channel"]) == ["hotline-warning,warn", "hotline-warning,close"]
    assert places(agent_channel) == ["hotline-warning,agent-wait", "hotline-warning,agent-end"]
    with session_factory(engine)() as s:
        row = s.scalar(select(Call).where(Call.linkedid == truth["linkedid"]))
        flags = s.scalars(select(CallFlag).order_by(CallFlag.id)).all()
        agent_user = s.scalar(select(User.id).where(User.username == "agent1001"))
    assert row is not None and row.disposition == "abusive"  # read by the bridge from VarSet
    # hotline ended it (not a dropped call to call back), and the agent is free again
    assert row.end_reason == "system-hangup" and callbacks(engine) == 0
    assert agent_state(engine, "1001") is AgentState.WRAP_UP
    assert [(f.reason, f.source, f.flagged_by_id) for f in flags] == [
        (RecordingReason.ABUSIVE, FlagSource.FEATURE_CODE, agent_user),
        (RecordingReason.ABUSIVE, FlagSource.API, agent_user),
    ]
    assert all(f.call_key == call_key(call) for f in flags)
    assert sum(1 for a in alerts.events if a.kind == "call-flagged") == 2
    [rec] = stored_recordings(stack)
    assert rec.reason is RecordingReason.ABUSIVE and rec.call_id == row.id
    # both stretches of conversation, not the prompts played while the caller was out of it
    assert abs(rec.duration_seconds - truth["talk_seconds"]) <= 0.5


async def test_extortion_sets_the_hold_raises_the_escalation_and_plays_the_procedure(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path
) -> None:
    engine = sqlite_engine
    with transaction(session_factory(engine)) as s:
        supervisor = make_user(s, "sun.mei", Role.SUPERVISOR).id
        off_duty_leader = make_user(s, "qian.jun", Role.TEAM_LEADER, extension="2002").id
    # 2001 is the team leader on duty: logged in, paused, so no call is offered to them
    agents = {"1001": AgentBehaviour(answer_on_ring=2), "2001": AgentBehaviour(mode="never")}
    async with running_stack(tmp_path, engine, str(engine.url), sounds, agents, speed=SPEED,
                             agent_roles={"2001": "team_leader"},
                             recordings={**SPOOL, "extortion_prompt": "extortion_notice"}) as stack:
        await stack.runtime.bridge.pause(stack.agents["2001"], "meeting")
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        api = recordings_api(stack)
        escalations = Heard(stack, EscalationRaised)
        call = await stack.sim.place_call(CallerSpec(
            number="13800000009", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["2"], talk_time=90, label="extortion"),
        ))
        await wait_for("the caller talking to the agent", lambda: talking(call))
        reply = await api.post("/api/recordings/flags", headers=as_("sun.mei"), json={
            "call_key": call_key(call), "reason": "extortion",
            "reason_text": "demanded 50,000 yuan or he would post the recording online",
        })
        assert reply.status_code == 200, reply.text
        result = reply.json()
        assert result["step"] == "procedure" and result["escalation_id"] is not None
        await wait_for("the escalation on the bus", lambda: escalations.events)
        await wait_for("the caller back with the agent after the procedure",
                       lambda: redirected(call, "notice") and talking(call))
        assert heard(call, "extortion_notice") == 2  # the caller hears it, and so does the agent
        truth = await call.ended
        await wait_for("the recording stored", lambda: stored_recordings(stack), 3.0)
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]

    leader = _user_of(engine, "agent2001")
    [event] = escalations.events
    assert isinstance(event, EscalationRaised) and event.call_key == call_key(call)
    assert set(event.recipient_user_ids) == {leader, supervisor}
    with session_factory(engine)() as s:
        esc = s.get(Escalation, result["escalation_id"])
        recipients = {(r.user_id, r.role, r.on_duty) for r in s.scalars(
            select(EscalationRecipient).where(EscalationRecipient.escalation_id == esc.id))}
        row = s.scalar(select(Call).where(Call.linkedid == truth["linkedid"]))
    assert recipients == {(leader, Role.TEAM_LEADER, True), (supervisor, Role.SUPERVISOR, False)}
    assert off_duty_leader not in {r[0] for r in recipients}
    assert esc.raised_by_id == supervisor and esc.reason is RecordingReason.EXTORTION
    # the conversation went on to its end; the call is not "abusive"
    assert truth["ended_by"] == "caller" and row.disposition == "answered"
    assert row.end_reason == "caller-hangup" and callbacks(engine) == 0
    [rec] = stored_recordings(stack)
    assert rec.legal_hold and rec.reason is RecordingReason.EXTORTION
    assert esc.recording_id == rec.id and esc.call_id == row.id
    assert abs(rec.duration_seconds - truth["talk_seconds"]) <= 0.5


def callbacks(engine: Engine) -> int:
    with session_factory(engine)() as s:
        return len(s.scalars(select(OutboundTask)).all())


def agent_state(engine: Engine, extension: str) -> AgentState | None:
    with session_factory(engine)() as s:
        return s.scalar(select(Agent.state).where(Agent.extension == extension))


def _user_of(engine: Engine, username: str) -> int | None:
    with session_factory(engine)() as s:
        return s.scalar(select(User.id).where(User.username == username))
