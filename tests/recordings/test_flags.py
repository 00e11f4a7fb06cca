"""Flags as the agent and the supervisor see them: the warning, the second flag ending the
call, extortion's legal hold and escalation, and who may flag what."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from hotline.bus import EventBus
from hotline.db.models import AuditLog, CallFlag, Escalation, Recording
from hotline.domain.enums import EscalationStatus, FlagSource, RecordingReason, Role
from hotline.domain.errors import InvalidInput
from hotline.domain.events import Alert, CallFlagged, EscalationRaised
from recordings.errors import FlagNotStored, Forbidden, NotFound
from recordings.flags import store_flag
from recordings.service import RecordingService
from tests.recordings.helpers import RecordingPbx, make_settings

W = "hotline-warning"


async def live_call(new_call, seconds: float = 30, **kw):  # type: ignore[no-untyped-def]
    call = new_call(**kw)
    await call.arrive()
    await call.answer()
    call.talk(seconds)
    return call


async def test_abusive_warning_then_second_flag_ends_the_call(
    service: RecordingService, pbx: RecordingPbx, new_call, people
) -> None:
    call = await live_call(new_call)
    caller, agent = call.caller_channel, call.agent_channel
    # the IVR's rendered prompts (S15, S16), by absolute path as the IVR plays them
    sounds = service.settings.ivr.sounds_dir.resolve() / "zh-CN"
    warning, closing = str(sounds / "civil_language_warning"), str(sounds / "closing")

    first = await service.flag(people.agent, {"reason": "abusive", "reason_text": "swearing"})
    assert first.step == "warning" and first.pbx_error is None
    assert pbx.actions == [
        ("setvar", caller, "HOTLINE_AGENT_CHANNEL", agent),
        ("setvar", caller, "HOTLINE_PROMPT", warning),
        ("setvar", agent, "HOTLINE_PROMPT", warning),
        ("redirect", caller, W, "warn", 1, agent, W, "agent-wait", 1),
    ]
    pbx.actions.clear()

    second = await service.flag(people.agent, {"reason": "abusive"})
    assert second.step == "ended"
    assert pbx.actions == [
        ("setvar", caller, "HOTLINE_DISPOSITION", "abusive"),
        ("setvar", caller, "HOTLINE_PROMPT", closing),
        ("redirect", caller, W, "close", 1, agent, W, "agent-end", 1),
    ]
    pbx.actions.clear()

    third = await service.flag(people.agent, {"reason": "abusive"})
    assert third.step == "none" and pbx.actions == [], "the call is already being ended"


async def test_feature_code_flags_from_the_bridge_go_the_same_way(
    service: RecordingService, pbx: RecordingPbx, new_call, people, sessions
) -> None:
    call = await live_call(new_call)
    await service.handle(CallFlagged(at=call.clock(), call_key=call.key, reason="abusive",
                                     flagged_by_user_id=None))  # *71: the bridge knows the channel
    assert pbx.actions[-1][:4] == ("redirect", call.caller_channel, W, "warn")
    with sessions() as s:
        flag = s.scalar(select(CallFlag))
    assert flag.source is FlagSource.FEATURE_CODE
    assert flag.flagged_by_id == people.agent.user_id


async def test_a_pbx_failure_is_reported_and_the_flag_is_kept(
    service: RecordingService, pbx: RecordingPbx, new_call, people, sessions
) -> None:
    call = await live_call(new_call)
    pbx.fail_with = ConnectionError("AMI link down")
    result = await service.flag(people.agent, {"reason": "abusive"})
    assert result.step == "none" and "AMI link down" in (result.pbx_error or "")
    with sessions() as s:
        assert s.scalar(select(CallFlag.call_key)) == call.key


async def test_extortion_sets_legal_hold_and_raises_the_escalation(
    service: RecordingService, pbx: RecordingPbx, new_call, people, sessions, clock
) -> None:
    bus = EventBus()
    seen: list[Alert] = []
    bus.subscribe("pages", seen.append, kinds=(Alert,))
    service.bus = bus
    await bus.start()
    call = await live_call(new_call)
    result = await service.flag(people.agent, {"reason": "extortion",
                                               "reason_text": "wants 50000 yuan or he posts"})
    await bus.stop()
    assert result.step == "none", "no procedure prompt configured: nothing is played"
    assert pbx.actions == []

    with sessions() as s:
        esc = s.get(Escalation, result.escalation_id)
        recipients = {(r.user_id, r.role, r.on_duty) for r in esc.recipients}
    assert esc.status is EscalationStatus.OPEN and esc.raised_by_id == people.agent.user_id
    # the team leader on duty (logged in) and every supervisor; not the off-duty leader
    assert recipients == {
        (people.leader.user_id, Role.TEAM_LEADER, True),
        (people.supervisor.user_id, Role.SUPERVISOR, False),
    }
    [event] = seen
    assert isinstance(event, EscalationRaised)
    assert event.escalation_id == esc.id and event.call_key == call.key
    assert set(event.recipient_user_ids) == {people.leader.user_id, people.supervisor.user_id}

    await call.end()
    clock.advance(seconds=3)
    await service.sweep()
    with sessions() as s:
        rec = s.scalar(select(Recording))
        esc = s.get(Escalation, result.escalation_id)
    assert rec.legal_hold and rec.reason is RecordingReason.EXTORTION
    assert esc.recording_id == rec.id and esc.call_id == call.call_id


async def test_extortion_procedure_prompt_is_played_when_configured(
    tmp_path, sessions, pbx: RecordingPbx, clock, new_call, people
) -> None:
    svc = RecordingService(
        make_settings(tmp_path, extortion_prompt="/var/lib/hotline/prompts/zh-CN/procedure"),
        sessions, pbx=pbx, clock=clock,
    )
    call = new_call()
    call.service = svc
    await call.arrive()
    await call.answer()
    result = await svc.flag(people.agent, {"reason": "extortion"})
    assert result.step == "procedure"
    assert ("setvar", call.caller_channel, "HOTLINE_PROMPT",
            "/var/lib/hotline/prompts/zh-CN/procedure") in pbx.actions
    assert pbx.actions[-1] == ("redirect", call.caller_channel, W, "notice", 1,
                               call.agent_channel, W, "agent-wait", 1)


async def test_a_prompt_missing_from_the_sounds_is_named_at_start(
    tmp_path, sessions, caplog
) -> None:
    settings = make_settings(tmp_path, extortion_prompt="extortion_notice")
    rendered = settings.ivr.sounds_dir / "zh-CN"
    rendered.mkdir(parents=True)
    for name in ("civil_language_warning", "extortion_notice"):  # "closing" was never built
        (rendered / f"{name}.wav").write_bytes(b"RIFF")
    svc = RecordingService(settings, sessions)
    assert svc.extortion_prompt == str(rendered.resolve() / "extortion_notice")
    await svc.start()
    await svc.stop()
    problems = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(problems) == 1, problems
    assert "recordings.closing_prompt" in problems[0]
    assert str(rendered.resolve() / "closing.wav") in problems[0]


async def test_when_none_is_on_duty_every_team_leader_is_told(
    service: RecordingService, new_call, people, sessions
) -> None:
    from hotline.db.models import Agent
    from hotline.db.session import transaction
    from hotline.domain.enums import AgentState

    with transaction(sessions) as s:
        s.get(Agent, people.leader.agent_id).state = AgentState.LOGGED_OUT
    await live_call(new_call)
    result = await service.flag(people.agent, {"reason": "extortion"})
    with sessions() as s:
        esc = s.get(Escalation, result.escalation_id)
        leaders = {(r.user_id, r.on_duty) for r in esc.recipients if r.role is Role.TEAM_LEADER}
    assert leaders == {(people.leader.user_id, False), (people.off_duty_leader.user_id, False)}


async def test_other_needs_a_reason_and_bad_input_names_the_field(
    service: RecordingService, new_call, people, sessions
) -> None:
    await live_call(new_call)
    with pytest.raises(InvalidInput) as err:
        await service.flag(people.agent, {"reason": "other", "reason_text": "   "})
    assert err.value.problems == [("reason_text", "is required when the reason is 'other'")]
    with pytest.raises(InvalidInput) as err:
        await service.flag(people.agent, {"reason": "rude"})
    assert err.value.problems[0][0] == "reason"
    with pytest.raises(InvalidInput):
        await service.flag(people.agent, {"reason": "blacklist"})
    with sessions() as s:
        assert s.scalar(select(CallFlag)) is None, "a refused flag stores nothing"


async def test_an_agent_flags_only_their_own_call_a_supervisor_any(
    service: RecordingService, pbx: RecordingPbx, new_call, people, sessions
) -> None:
    call = await live_call(new_call)
    with pytest.raises(Forbidden):
        await service.flag(people.other_agent, {"call_key": call.key, "reason": "abusive"})
    with pytest.raises(NotFound, match="no current call"):
        await service.flag(people.other_agent, {"reason": "abusive"})
    result = await service.flag(people.supervisor, {"call_key": call.key, "reason": "abusive"})
    assert result.step == "warning"
    with pytest.raises(NotFound):
        await service.flag(people.supervisor, {"call_key": "pbx1:999.1", "reason": "abusive"})
    with sessions() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "call.flagged")).all()
    assert [(a.actor_id, a.object_id) for a in audit] == [(people.supervisor.user_id, call.key)]


async def test_a_call_not_followed_since_a_restart_can_still_be_flagged_by_id(
    service: RecordingService, new_call, people, sessions, clock
) -> None:
    call = await live_call(new_call, 40)
    await call.end()
    restarted = RecordingService(service.settings, sessions, pbx=service.pbx, clock=clock)
    clock.advance(minutes=2)
    result = await restarted.flag(people.agent, {"call_id": call.call_id, "reason": "abusive"})
    assert result.recording_id is not None
    with sessions() as s:
        rec = s.get(Recording, result.recording_id)
    assert abs(rec.duration_seconds - 40) <= 0.5


class SlowRepliesPbx(RecordingPbx):
    """An AMI link whose replies come only when the test says: each action is noted when it
    is sent, and completes when released."""

    def __init__(self) -> None:
        super().__init__()
        self.replies = asyncio.Event()

    async def setvar(self, channel: str, name: str, value: str) -> None:
        await super().setvar(channel, name, value)
        await self.replies.wait()

    async def redirect(self, channel: str, *args: object, **kwargs: object) -> None:
        await super().redirect(channel, *args, **kwargs)  # type: ignore[arg-type]
        await self.replies.wait()


async def test_the_warning_goes_out_in_one_burst_without_waiting_for_each_reply(
    tmp_path, sessions, clock, new_call, people
) -> None:
    pbx = SlowRepliesPbx()
    svc = RecordingService(make_settings(tmp_path), sessions, pbx=pbx, clock=clock)
    call = new_call()
    call.service = svc
    await call.arrive()
    await call.answer()
    flagging = asyncio.ensure_future(svc.flag(people.agent, {"reason": "abusive"}))
    for _ in range(200):
        if len(pbx.actions) == 4:
            break
        await asyncio.sleep(0.005)
    # all four sent, in order, while no reply has come yet
    assert [a[0] for a in pbx.actions] == ["setvar", "setvar", "setvar", "redirect"]
    assert not flagging.done()
    pbx.replies.set()
    assert (await flagging).step == "warning"


async def test_the_warning_does_not_wait_for_the_flags_commit(
    service: RecordingService, pbx: RecordingPbx, new_call, people, sessions, monkeypatch
) -> None:
    call = await live_call(new_call)
    committed = threading.Event()
    slow_commit = threading.Event()
    def slow_store(session, **flag):  # type: ignore[no-untyped-def]
        slow_commit.wait(5)  # a busy database
        stored = store_flag(session, **flag)
        committed.set()
        return stored

    monkeypatch.setattr("recordings.service.store_flag", slow_store)
    flagging = asyncio.ensure_future(service.flag(people.agent, {"reason": "abusive"}))
    for _ in range(200):
        if pbx.actions and pbx.actions[-1][0] == "redirect":
            break
        await asyncio.sleep(0.005)
    assert pbx.actions[-1][:4] == ("redirect", call.caller_channel, W, "warn")
    assert not committed.is_set(), "the caller is warned while the flag is being written"
    slow_commit.set()
    result = await flagging
    assert result.step == "warning" and committed.is_set()
    with sessions() as s:
        assert s.scalar(select(CallFlag.id)) == result.flag_id


async def test_a_flag_the_database_loses_after_the_warning_is_reported_and_still_counts(
    service: RecordingService, pbx: RecordingPbx, new_call, people, sessions, monkeypatch
) -> None:
    call = await live_call(new_call)

    def broken(session, **flag):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT INTO call_flags", {}, Exception("disk I/O error"))

    monkeypatch.setattr("recordings.service.store_flag", broken)
    with pytest.raises(FlagNotStored, match=r"warned \(S15\).*flag the call again") as refused:
        await service.flag(people.agent, {"reason": "abusive"})
    assert refused.value.status == 503
    assert pbx.actions[-1][:4] == ("redirect", call.caller_channel, W, "warn")
    monkeypatch.undo()
    # the caller has been warned: the next abusive flag ends the call
    again = await service.flag(people.agent, {"reason": "abusive"})
    assert again.step == "ended"


async def test_a_blacklist_the_database_refuses_plays_nothing(
    service: RecordingService, pbx: RecordingPbx, new_call, people
) -> None:
    await live_call(new_call, caller=None)  # withheld number
    with pytest.raises(InvalidInput, match="cannot be blacklisted"):
        await service.flag(people.agent, {"reason": "abusive", "blacklist": True})
    assert pbx.actions == []


async def test_a_softphone_flag_while_the_database_is_away_is_kept_and_stored_when_it_is_back(
    service: RecordingService, pbx: RecordingPbx, new_call, people, sessions, clock, monkeypatch
) -> None:
    """*71 while PostgreSQL restarts (issue 9's fault): nobody is there to flag again, so the
    flag waits for the database and the recording is kept meanwhile, even past the grace
    period; once the database is back the flag is taken and the recording stored. Before,
    the flag was dropped with an error in the log and the sweep deleted the recording."""
    service.FLAG_RETRY_MIN = service.FLAG_RETRY_MAX = 0.01  # type: ignore[misc]
    call = await live_call(new_call)
    flagged_at = clock()
    away = [True]
    real_actor = RecordingService._actor

    def actor(self: RecordingService, user_id: int):  # type: ignore[no-untyped-def]
        if away[0]:
            raise OperationalError("SELECT users", {}, Exception("connection refused"))
        return real_actor(self, user_id)

    monkeypatch.setattr(RecordingService, "_actor", actor)
    await service.handle(CallFlagged(at=flagged_at, call_key=call.key, reason="abusive",
                                     flagged_by_user_id=None))
    await call.end()
    clock.advance(minutes=30)  # far past the grace period
    await asyncio.sleep(0.05)  # retries meet the database still away
    await service.sweep()
    assert call.spool_file.exists(), "deleted while its flag waited for the database"

    away[0] = False
    for _ in range(200):
        with sessions() as s:
            if s.scalar(select(CallFlag)) is not None:
                break
        await asyncio.sleep(0.01)
    with sessions() as s:
        flag = s.scalar(select(CallFlag))
    assert flag is not None and flag.source is FlagSource.FEATURE_CODE
    assert flag.flagged_by_id == people.agent.user_id
    assert flag.flagged_at == flagged_at  # when the agent dialled it, not when stored
    await asyncio.sleep(0.05)
    report = await service.sweep()
    assert report.deleted == []
    with sessions() as s:
        rec = s.scalar(select(Recording))
    assert rec is not None and rec.reason is RecordingReason.ABUSIVE
    assert rec.flagged_at == flagged_at and not call.spool_file.exists()
