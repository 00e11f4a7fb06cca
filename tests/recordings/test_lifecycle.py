"""Spool → store: a flag keeps the whole call, unflagged calls leave nothing behind, and a
file only ever leaves the spool for the store together with its row."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import AuditLog, BlacklistEntry, CallFlag, Recording
from hotline.db.session import transaction
from hotline.domain.enums import FlagSource, RecordingReason
from recordings.errors import TooLate
from recordings.service import RecordingService
from tests.outages import database_unreachable
from tests.recordings.helpers import write_wav


def recordings(sessions: sessionmaker[Session]) -> list[Recording]:
    with sessions() as s:
        return list(s.scalars(select(Recording).order_by(Recording.id)))


async def test_flag_at_minute_two_keeps_the_whole_four_minute_call(
    service: RecordingService, new_call, people, clock, sessions
) -> None:
    call = new_call()
    await call.arrive()
    await call.answer()
    answered = clock()
    call.talk(120)
    result = await service.flag(people.agent, {"reason": "abusive", "reason_text": "insults"})
    assert result.call_key == call.key
    flagged_at = clock()
    call.talk(120)
    await call.end()
    call_seconds = (clock() - answered).total_seconds()

    # the file stays in the spool until MixMonitor has had time to close it
    assert (await service.sweep()).stored == []
    assert call.spool_file.exists()
    clock.advance(seconds=2)
    report = await service.sweep()

    [rec] = recordings(sessions)
    assert report.stored == [rec.id]
    assert abs(rec.duration_seconds - call_seconds) <= 0.5
    assert rec.duration_seconds > 239
    assert not call.spool_file.exists(), "the spool copy must go once the row is committed"
    stored = service.store.path(rec.storage_key)
    data = stored.read_bytes()
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    assert rec.size_bytes == len(data) == 44 + 240 * 8000 * 2
    assert rec.format == "wav"
    # layout: local (Asia/Shanghai) day of the answer, then the call's id
    assert rec.storage_key == f"2026/11/23/{call.call_id}/{call.spool_file.name}"
    assert rec.call_id == call.call_id
    assert rec.agent_id == people.agent.agent_id
    assert rec.caller_number == "+8613812345678"
    assert rec.reason is RecordingReason.ABUSIVE and rec.reason_text == "insults"
    assert rec.flagged_by_id == people.agent.user_id and rec.flagged_at == flagged_at
    assert rec.legal_hold is False
    assert rec.retain_until == rec.stored_at + dt.timedelta(days=3 * 365)


async def test_unflagged_call_leaves_no_file_after_the_grace_period(
    service: RecordingService, new_call, people, clock, sessions
) -> None:
    call = new_call()
    await call.arrive()
    await call.answer()
    call.talk(30)
    await call.end()
    ended = clock()

    clock.advance(minutes=9, seconds=59)
    await service.sweep()
    assert call.spool_file.exists(), "a call may still be flagged during the grace period"

    clock.now = ended + dt.timedelta(minutes=10)
    report = await service.sweep()
    assert report.deleted == [call.spool_file.name]
    assert list(service.spool.iterdir()) == []
    assert not service.store.root.exists() or service.store.keys() == []
    assert recordings(sessions) == []

    clock.advance(seconds=1)
    with pytest.raises(TooLate, match="10 minutes"):
        await service.flag(people.supervisor, {"call_key": call.key, "reason": "abusive"})


async def test_with_no_grace_period_unflagged_recordings_go_within_a_minute(
    tmp_path, sessions, pbx, clock, new_call, people
) -> None:
    from tests.recordings.helpers import make_settings

    svc = RecordingService(make_settings(tmp_path / "g0", flag_grace_minutes=0), sessions,
                           pbx=pbx, clock=clock)
    call = new_call()
    call.service = svc
    await call.arrive()
    await call.answer()
    call.talk(5)
    await call.end()
    clock.advance(seconds=svc.cfg.sweep_seconds)  # the next sweep after the end
    await svc.sweep()
    assert not call.spool_file.exists()
    assert svc.cfg.sweep_seconds <= 60


async def test_a_flag_in_the_grace_period_stores_the_ended_call_at_once(
    service: RecordingService, new_call, people, clock, sessions
) -> None:
    call = new_call()
    await call.arrive()
    await call.answer()
    call.talk(60)
    await call.end()
    clock.advance(minutes=6)
    result = await service.flag(
        people.agent, {"reason": "other", "reason_text": "threatened to sue the agent"}
    )
    assert result.step == "none", "the call is over: nothing is sent to the PBX"
    [rec] = recordings(sessions)
    assert result.recording_id == rec.id
    assert rec.reason is RecordingReason.OTHER
    assert abs(rec.duration_seconds - 60) <= 0.5
    assert not call.spool_file.exists()
    assert service.pbx.actions == []


async def test_an_extortion_flag_after_the_call_was_stored_puts_it_on_hold(
    service: RecordingService, new_call, people, clock, sessions
) -> None:
    call = new_call()
    await call.arrive()
    await call.answer()
    call.talk(20)
    await service.flag(people.agent, {"reason": "abusive"})
    await call.end()
    clock.advance(seconds=3)
    await service.sweep()
    [rec] = recordings(sessions)
    assert rec.reason is RecordingReason.ABUSIVE and not rec.legal_hold
    clock.advance(minutes=1)
    await service.flag(people.supervisor, {"call_key": call.key, "reason": "extortion",
                                           "reason_text": "demanded money"})
    [rec] = recordings(sessions)
    assert rec.reason is RecordingReason.EXTORTION and rec.legal_hold


async def talk_then_sweep(call, service: RecordingService, clock) -> None:  # type: ignore[no-untyped-def]
    """Answered, 15 s of talk, ended; the sweep runs after the grace."""
    await call.answer()
    call.talk(15)
    await call.end()
    clock.advance(seconds=3)
    await service.sweep()


async def test_blacklisted_caller_is_flagged_from_the_start(
    service: RecordingService, new_call, people, clock, sessions
) -> None:
    with transaction(sessions) as s:
        s.add(BlacklistEntry(phone="+8613900001111", reason="malicious complaints"))
    call = new_call(caller="13900001111")  # national form, as the carrier may send it
    await call.arrive()
    await talk_then_sweep(call, service, clock)
    [rec] = recordings(sessions)
    assert rec.reason is RecordingReason.BLACKLIST and rec.flagged_by_id is None
    with sessions() as s:
        [flag] = s.scalars(select(CallFlag)).all()
    assert flag.source is FlagSource.BLACKLIST


async def test_a_blacklisted_caller_arriving_while_the_database_is_away_is_still_recorded(
    service: RecordingService, new_call, people, clock, sessions, engine
) -> None:
    """PostgreSQL restarting as a blacklisted caller arrives: the copy of the blacklist read
    earlier knows the number, the flag waits for the database, and the recording is kept and
    filed under the blacklist once it is back (before: an error per call, and the recording
    deleted as unflagged)."""
    service.FLAG_RETRY_MIN = service.FLAG_RETRY_MAX = 0.01  # type: ignore[misc]
    with transaction(sessions) as s:
        s.add(BlacklistEntry(phone="+8613900001111", reason="malicious complaints"))
    await asyncio.to_thread(service.blacklist.lookup, "+8613800000000")  # an earlier call read the list
    call = new_call(caller="13900001111")
    call.store_row()
    with database_unreachable(engine):
        await call.announce()
        await asyncio.sleep(0.05)  # retries meet the database still away
    for _ in range(300):
        if recordings_flags(sessions) is not None:
            break
        await asyncio.sleep(0.01)
    await talk_then_sweep(call, service, clock)
    [rec] = recordings(sessions)
    assert rec.reason is RecordingReason.BLACKLIST and rec.flagged_by_id is None


def recordings_flags(sessions: sessionmaker[Session]) -> FlagSource | None:
    try:
        with sessions() as s:
            flag = s.scalar(select(CallFlag))
    except DBAPIError:
        return None
    return flag.source if flag is not None else None


async def test_the_agent_blacklists_the_number_in_one_step(
    service: RecordingService, new_call, people, sessions
) -> None:
    call = new_call()
    await call.arrive()
    await call.answer()
    result = await service.flag(people.agent, {"reason": "abusive", "blacklist": True})
    assert result.blacklisted
    with sessions() as s:
        entry = s.scalar(select(BlacklistEntry))
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert entry.phone == "+8613812345678" and entry.added_by_id == people.agent.user_id
    assert actions == ["call.flagged", "blacklist.added"]


async def test_restart_orphans_flagged_kept_unflagged_deleted_strangers_untouched(
    tmp_path, sessions, pbx, clock, new_call, people, service
) -> None:
    """After a restart nothing is tracked: files are judged by their names and the database."""
    flagged, unflagged = new_call(), new_call()
    for call in (flagged, unflagged):
        await call.arrive()
        await call.answer()
        call.talk(10)
    await service.flag(people.agent, {"call_key": flagged.key, "reason": "abusive"})
    for call in (flagged, unflagged):
        await call.end()
    stranger = write_wav(service.spool / "someone-elses.wav", 1)

    restarted = RecordingService(service.settings, sessions, pbx=pbx, clock=clock)
    fresh = new_call()
    fresh.service = restarted
    await fresh.arrive()
    await fresh.answer()
    fresh.talk(5)
    # mtimes are real time; the fake clock is moved past the staleness limit for the old two
    import os

    old = clock().timestamp() - 12 * 60
    for path in (flagged.spool_file, unflagged.spool_file):
        os.utime(path, (old, old))
    os.utime(fresh.spool_file, (clock().timestamp(), clock().timestamp()))
    restarted.calls.forget(fresh.key)  # as if the bridge had not told us yet

    report = await restarted.sweep()
    [rec] = recordings(sessions)
    assert rec.call_id == flagged.call_id and report.stored == [rec.id]
    assert report.deleted == [unflagged.spool_file.name]
    assert fresh.spool_file.exists(), "a file still being written is not judged"
    assert stranger.exists(), "files hotline did not name are never deleted"


async def test_refuses_spool_paths_outside_the_spool(service: RecordingService, new_call,
                                                     tmp_path) -> None:
    from hotline.domain.events import RecordingStarted

    call = new_call()
    await call.arrive()
    outside = write_wav(tmp_path / "elsewhere" / "x.wav", 1)
    await service.handle(RecordingStarted(at=call.clock(), call_key=call.key, channel="PJSIP/x",
                                          path=str(outside)))
    assert service.calls.get(call.key).spool_files == set()
    await call.end()
    call.clock.advance(minutes=11)
    await service.sweep()
    assert outside.exists()


def hold_back(call) -> Path:  # type: ignore[no-untyped-def]
    """MixMonitor has not written the call's file yet (pbxsim writes it at the hangup, and
    Asterisk closes it late): take it out of the spool until the test puts it back."""
    call.monitor.close()
    aside = call.spool_file.with_name(call.spool_file.name + ".later")
    call.spool_file.rename(aside)
    return aside


async def test_a_flagged_recording_written_after_the_hangup_waits_and_is_kept(
    service: RecordingService, new_call, people, clock, sessions
) -> None:
    call = new_call()
    await call.arrive()
    await call.answer()
    call.talk(30)
    await service.flag(people.agent, {"reason": "abusive"})
    aside = hold_back(call)
    await call.end()

    clock.advance(seconds=3)
    report = await service.sweep()
    assert report.stored == [] and report.waiting == [call.key]
    assert service.calls.get(call.key) is not None, "not taken for stored while it is missing"

    aside.rename(call.spool_file)
    clock.advance(seconds=service.cfg.sweep_seconds)
    report = await service.sweep()
    [rec] = recordings(sessions)
    assert report.stored == [rec.id] and abs(rec.duration_seconds - 30) <= 0.5
    assert not call.spool_file.exists()


async def test_an_unflagged_recording_written_late_is_still_deleted(
    tmp_path, sessions, pbx, clock, new_call
) -> None:
    from tests.recordings.helpers import make_settings

    svc = RecordingService(make_settings(tmp_path / "g0", flag_grace_minutes=0), sessions,
                           pbx=pbx, clock=clock)
    call = new_call()
    call.service = svc
    await call.arrive()
    await call.answer()
    call.talk(5)
    aside = hold_back(call)
    await call.end()
    clock.advance(seconds=1)
    assert (await svc.sweep()).deleted == [], "MixMonitor may still be closing it"

    clock.advance(seconds=svc.cfg.settle_seconds)
    await svc.sweep()
    assert svc.calls.get(call.key) is not None, "still expecting the announced file"
    aside.rename(call.spool_file)  # now written: a fresh file, not yet an orphan by age
    clock.advance(seconds=svc.cfg.sweep_seconds)
    report = await svc.sweep()
    assert report.deleted == [call.spool_file.name] and not call.spool_file.exists()
    assert svc.calls.get(call.key) is None


async def test_an_announced_file_that_never_comes_is_left_to_the_spool_sweep(
    tmp_path, sessions, pbx, clock, new_call, caplog
) -> None:
    import os

    from tests.recordings.helpers import make_settings

    svc = RecordingService(make_settings(tmp_path / "g0", flag_grace_minutes=0), sessions,
                           pbx=pbx, clock=clock)
    call = new_call()
    call.service = svc
    await call.arrive()
    await call.answer()
    call.talk(5)
    aside = hold_back(call)
    await call.end()
    clock.advance(minutes=1, seconds=svc.cfg.settle_seconds + 1)
    await svc.sweep()
    assert svc.calls.get(call.key) is None
    [error] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert call.key in error and f"{call.spool_file.name} (never written)" in error

    aside.rename(call.spool_file)  # written at last, long after: judged by its name
    old = clock().timestamp() - 2 * 60
    os.utime(call.spool_file, (old, old))
    report = await svc.sweep()
    assert report.deleted == [call.spool_file.name]


async def test_an_extortion_flag_after_a_restart_still_puts_the_kept_recording_on_hold(
    service: RecordingService, new_call, people, clock, sessions, pbx
) -> None:
    call = new_call()
    await call.arrive()
    await call.answer()
    call.talk(20)
    await service.flag(people.agent, {"reason": "abusive"})
    await call.end()
    clock.advance(seconds=3)
    await service.sweep()

    restarted = RecordingService(service.settings, sessions, pbx=pbx, clock=clock)
    clock.advance(minutes=2)
    result = await restarted.flag(people.supervisor, {"call_key": call.key,
                                                      "reason": "extortion"})
    assert result.step == "none"
    [rec] = recordings(sessions)
    assert rec.reason is RecordingReason.EXTORTION and rec.legal_hold


async def test_a_symlink_in_the_spool_is_never_followed(
    service: RecordingService, new_call, people, clock, tmp_path
) -> None:
    secret = write_wav(tmp_path / "elsewhere" / "secret.wav", 1)
    call = new_call()
    await call.arrive()
    await call.answer()
    call.talk(5)
    link = call.spool_file.with_name(call.spool_file.name.replace(".wav", "-call.wav"))
    link.symlink_to(secret)  # named like a whole-call recording of the same call
    await service.flag(people.agent, {"reason": "abusive"})
    await call.end()
    clock.advance(seconds=3)
    await service.sweep()
    kept = [p.name for p in service.store.root.rglob("*.wav")]
    assert kept == [call.spool_file.name] and secret.exists()


async def test_a_busy_spool_is_swept_in_one_pass(service: RecordingService, new_call,
                                                clock, monkeypatch) -> None:
    """A busy hour's spool: every answered call's file is there until the grace period ends.
    One sweep, yielding to the event loop as it goes, deletes exactly the unflagged files
    that are due and keeps the others."""
    import recordings.service

    monkeypatch.setattr(recordings.service, "YIELD_EVERY", 16)  # yield often in a small test
    calls = [new_call() for _ in range(60)]
    for n, call in enumerate(calls):
        await call.arrive()
        await call.answer()
        call.talk(1)
        await call.end()
        if n == 29:
            clock.advance(minutes=6)  # the first half ended 6 minutes before the second
    clock.advance(minutes=5)  # first half: 11 min ago, past the 10 min grace; second: 5 min
    report = await service.sweep()
    assert sorted(report.deleted) == sorted(c.spool_file.name for c in calls[:30])
    assert all(c.spool_file.exists() for c in calls[30:])
    assert all(service.calls.get(c.key) is None for c in calls[:30])
