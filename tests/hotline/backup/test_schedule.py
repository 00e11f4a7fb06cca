"""Daily by default (rule 9.1): the elected scheduler's job makes a backup at backup.at and
only the last ``keep`` days of backups stay."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from hotline.app import housekeeping_jobs
from hotline.backup import BackupError, list_backups, make_backup
from hotline.backup.catalog import locked
from hotline.backup.job import CATCH_UP_JOB_ID, JOB_ID, run_backup_job
from hotline.settings import Settings

DAY = dt.timedelta(days=1)
START = dt.datetime(2026, 11, 1, 18, 30, tzinfo=dt.UTC)  # 02:30 in Shanghai


def _scheduler_with_housekeeping(settings: Settings, engine: Engine) -> BackgroundScheduler:
    sched = BackgroundScheduler(timezone=settings.tz)
    sched.add_jobstore("memory", alias="memory")
    for add in housekeeping_jobs(settings, engine):
        add(sched)
    sched.start(paused=True)
    return sched


def test_the_daily_backup_runs_at_backup_at_in_the_hotline_zone(
    sqlite_engine: Engine, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(str(sqlite_engine.url), backup={"at": "01:45"})
    sched = _scheduler_with_housekeeping(settings, sqlite_engine)
    try:
        job = sched.get_job(JOB_ID)
        assert job is not None
        local = job.next_run_time.astimezone(settings.tz)
        assert (local.hour, local.minute) == (1, 45)
        assert job.next_run_time - dt.datetime.now(dt.UTC) <= DAY
        # No backup yet: a catch-up one is planned shortly after the scheduler is elected.
        assert sched.get_job(CATCH_UP_JOB_ID) is not None
    finally:
        sched.shutdown(wait=False)


def test_no_backup_job_when_disabled_and_no_catch_up_after_a_recent_backup(
    sqlite_engine: Engine, make_settings: Callable[..., Settings]
) -> None:
    off = make_settings(str(sqlite_engine.url), backup={"enabled": False})
    sched = _scheduler_with_housekeeping(off, sqlite_engine)
    try:
        assert sched.get_job(JOB_ID) is None
    finally:
        sched.shutdown(wait=False)
    on = make_settings(str(sqlite_engine.url))
    make_backup(on, sqlite_engine)
    sched = _scheduler_with_housekeeping(on, sqlite_engine)
    try:
        assert sched.get_job(JOB_ID) is not None
        assert sched.get_job(CATCH_UP_JOB_ID) is None
    finally:
        sched.shutdown(wait=False)


def test_the_job_writes_a_backup_and_keeps_the_last_keep_days(
    sqlite_engine: Engine, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(str(sqlite_engine.url), backup={"keep": 3})
    root = settings.backup.dir
    for day in range(6):
        made = make_backup(settings, sqlite_engine, clock=lambda day=day: START + day * DAY)
        assert made.path.is_dir()
    names = [b.name for b in list_backups(root)]
    assert names == ["hotline-20261104T183000Z", "hotline-20261105T183000Z",
                     "hotline-20261106T183000Z"]
    (root / "notes.txt").write_text("someone else's file")  # the folder may be shared
    (root / ".hotline-20261106T190000Z.partial").mkdir()  # left by a crashed run

    result = run_backup_job(sqlite_engine, settings)  # today: far past the others
    assert result is not None
    assert [b.path for b in list_backups(root)] == [result.path]  # the newest always stays
    assert sorted(result.pruned) == [".hotline-20261106T190000Z.partial", *names]
    assert (root / "notes.txt").exists()


def test_two_backups_in_the_same_second_get_their_own_folders(
    sqlite_engine: Engine, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(str(sqlite_engine.url))
    first = make_backup(settings, sqlite_engine, clock=lambda: START)
    second = make_backup(settings, sqlite_engine, clock=lambda: START)
    assert (first.path.name, second.path.name) == (
        "hotline-20261101T183000Z", "hotline-20261101T183000Z-2")


def test_a_second_backup_at_the_same_time_is_refused_and_leaves_nothing(
    sqlite_engine: Engine, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(str(sqlite_engine.url))
    with locked(settings.backup.dir):
        with pytest.raises(BackupError, match=r"another backup is being written to .*\(lock .* is held\)"):
            make_backup(settings, sqlite_engine)
    assert sorted(p.name for p in settings.backup.dir.iterdir()) == [".hotline-backup.lock"]


def test_a_failing_daily_backup_is_logged_and_leaves_no_folder(
    tmp_path: Path, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    from hotline.db.session import make_engine

    settings = make_settings(f"sqlite:///{tmp_path / 'nothing-here.db'}")
    engine = make_engine(settings.database.url)  # an empty file, as a wrong path gives
    try:
        assert run_backup_job(engine, settings) is None
    finally:
        engine.dispose()
    assert "daily backup failed" in caplog.text and "holds no tables" in caplog.text
    assert list(settings.backup.dir.iterdir()) == [settings.backup.dir / ".hotline-backup.lock"]


def test_an_unusable_backup_dir_is_named(
    sqlite_engine: Engine, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    (tmp_path / "not-a-dir").write_text("a file where the folder should be")
    settings = make_settings(str(sqlite_engine.url),
                             backup={"dir": tmp_path / "not-a-dir" / "backups"})
    with pytest.raises(BackupError, match=r"backup\.dir .*not-a-dir/backups cannot be used"):
        make_backup(settings, sqlite_engine)


def test_an_unreachable_postgresql_is_a_clear_error(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from hotline.db.session import make_engine

    url = "postgresql://hotline:s3cret-pw@127.0.0.1:1/hotline"
    settings = make_settings(url)
    engine = make_engine(url)
    try:
        with pytest.raises(BackupError, match=r"could not read the database postgresql://"
                                              r"hotline:\*\*\*@127\.0\.0\.1:1/hotline: .*"
                                              r"Connection refused") as caught:
            make_backup(settings, engine)
    finally:
        engine.dispose()
    assert "s3cret-pw" not in str(caught.value)
    assert [p.name for p in settings.backup.dir.iterdir()] == [".hotline-backup.lock"]
