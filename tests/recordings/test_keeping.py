"""Kept recordings stay trustworthy: verify finds tampering, purge keeps legal holds and logs
every deletion, and no storage key reaches outside the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hotline.db.models import AuditLog, Recording
from hotline.db.session import transaction
from recordings.retention import purge_expired
from recordings.service import RecordingService
from recordings.store import RecordingStore, UnsafeStorageKey
from recordings.verify import verify_all


async def keep(service: RecordingService, new_call, people, reason: str = "abusive",  # type: ignore[no-untyped-def]
               seconds: float = 10) -> Recording:
    call = new_call()
    await call.arrive()
    await call.answer()
    call.talk(seconds)
    await service.flag(people.agent, {"reason": reason, "reason_text": "x"})
    await call.end()
    call.clock.advance(seconds=3)
    await service.sweep()
    with service.sessions() as s:
        return s.scalar(select(Recording).where(Recording.call_id == call.call_id))


@pytest.mark.parametrize("key", [
    "../etc/passwd", "/etc/passwd", "2026/../../x.wav", "a/./../../b", "", "a\\..\\b",
    "2026/11/23/1/../../../../../../etc/shadow", "a//b",
])
def test_store_refuses_keys_that_leave_it(tmp_path: Path, key: str) -> None:
    store = RecordingStore(tmp_path / "store")
    with pytest.raises(UnsafeStorageKey):
        store.path(key)


def test_store_refuses_a_symlink_out(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "store")
    (tmp_path / "store" / "2026").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("no")
    (tmp_path / "store" / "2026" / "link.wav").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UnsafeStorageKey):
        store.path("2026/link.wav")


async def test_verify_reports_altered_and_missing_files_and_the_cli_fails(
    service: RecordingService, new_call, people, sessions, clock, tmp_path, db_url
) -> None:
    good = await keep(service, new_call, people)
    tampered = await keep(service, new_call, people)
    gone = await keep(service, new_call, people)
    report = verify_all(sessions, service.store, now=clock())
    assert report.ok and report.checked == 3

    path = service.store.path(tampered.storage_key)
    path.chmod(0o640)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF  # one flipped byte in the audio
    path.write_bytes(bytes(data))
    service.store.path(gone.storage_key).unlink()

    report = verify_all(sessions, service.store, now=clock())
    assert {(p.recording_id, p.kind) for p in report.problems} == {
        (tampered.id, "altered"), (gone.id, "missing")}
    assert good.id not in {p.recording_id for p in report.problems}

    from hotline.cli import cli

    env = {"HOTLINE_DATABASE__URL": db_url,
           "HOTLINE_RECORDINGS__STORE_DIR": str(service.store.root)}
    result = CliRunner().invoke(cli, ["recordings", "verify"], env=env)
    assert result.exit_code == 1, result.output
    assert f"ALTERED: recording #{tampered.id}" in result.output
    assert f"MISSING: recording #{gone.id}" in result.output
    assert "checked 3 recording(s)" in result.output


async def test_verify_flags_a_tampered_storage_key_without_reading_outside(
    service: RecordingService, new_call, people, sessions, clock
) -> None:
    rec = await keep(service, new_call, people)
    with transaction(sessions) as s:
        s.get(Recording, rec.id).storage_key = "../../../../etc/passwd"
    report = verify_all(sessions, service.store, now=clock())
    assert [(p.recording_id, p.kind) for p in report.problems] == [(rec.id, "unsafe-key")]


async def test_purge_deletes_expired_keeps_legal_holds_and_logs_every_deletion(
    service: RecordingService, new_call, people, sessions, clock
) -> None:
    expired = await keep(service, new_call, people, "abusive")
    held = await keep(service, new_call, people, "extortion")
    young = await keep(service, new_call, people, "other")
    with transaction(sessions) as s:
        for rec_id in (expired.id, held.id):
            s.get(Recording, rec_id).retain_until = clock() - dt.timedelta(days=1)
    report = purge_expired(sessions, service.store, now=clock(), cache=service.cache)
    assert report.purged == [expired.id] and report.held == 1

    assert not service.store.path(expired.storage_key).exists()
    assert service.store.path(held.storage_key).exists()
    assert service.store.path(young.storage_key).exists()
    with sessions() as s:
        assert s.get(Recording, expired.id).purged_at == clock()
        assert s.get(Recording, held.id).purged_at is None
        [log] = s.scalars(select(AuditLog).where(AuditLog.action == "recording.purged")).all()
    assert log.object_id == str(expired.id)
    assert log.details["sha256"] == expired.sha256 and log.details["file_existed"] is True
    # nothing left to do the second time; verify no longer counts the purged one
    assert purge_expired(sessions, service.store, now=clock()).purged == []
    assert verify_all(sessions, service.store, now=clock()).checked == 2


async def test_purge_cli_dry_run_deletes_nothing(
    service: RecordingService, new_call, people, sessions, clock, db_url
) -> None:
    rec = await keep(service, new_call, people)
    with transaction(sessions) as s:
        s.get(Recording, rec.id).retain_until = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    from hotline.cli import cli

    env = {"HOTLINE_DATABASE__URL": db_url,
           "HOTLINE_RECORDINGS__STORE_DIR": str(service.store.root),
           "HOTLINE_RECORDINGS__CACHE_DIR": str(service.cache.root)}
    result = CliRunner().invoke(cli, ["recordings", "purge", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert f"would purge 1 recording(s): #{rec.id}" in result.output
    assert service.store.path(rec.storage_key).exists()
    result = CliRunner().invoke(cli, ["recordings", "purge"], env=env)
    assert f"purged 1 recording(s): #{rec.id}" in result.output
    assert not service.store.path(rec.storage_key).exists()




async def test_the_daily_purge_job_uses_the_configured_store(
    service: RecordingService, new_call, people, sessions
) -> None:
    from recordings.retention import daily_purge

    rec = await keep(service, new_call, people)
    with transaction(sessions) as s:
        s.get(Recording, rec.id).retain_until = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    assert daily_purge(service.settings, sessions).purged == [rec.id]
    assert not service.store.path(rec.storage_key).exists()
