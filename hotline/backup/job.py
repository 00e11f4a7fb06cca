"""The daily backup (rule 9.1), run by the elected scheduler's APScheduler.

A cron job at ``backup.at`` in the hotline's zone; the job is a plain function, so APScheduler
runs it in its thread pool, never on the event loop. A deployment that was down at that time
(a machine switched off at night) gets a catch-up backup ``CATCH_UP_DELAY`` after its
scheduler is elected, when the newest backup is more than a day old.
"""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine

from hotline.backup.catalog import list_backups
from hotline.backup.create import BackupResult, make_backup
from hotline.backup.errors import BackupError
from hotline.settings import Settings

log = logging.getLogger(__name__)
JOB_ID = "daily-backup"
CATCH_UP_JOB_ID = "daily-backup-catch-up"
# Long enough that a short-lived process (a test, a demo started and stopped) never writes
# one, short enough that a machine that is off at night still gets its daily copy.
CATCH_UP_DELAY = dt.timedelta(minutes=10)
OVERDUE_AFTER = dt.timedelta(hours=25)


def run_backup_job(engine: Engine, settings: Settings) -> BackupResult | None:
    """Make today's backup and prune old ones; a failure is logged, never raised into the
    scheduler (the next day's run tries again)."""
    try:
        return make_backup(settings, engine)
    except BackupError as exc:
        log.error("daily backup failed: %s", exc)
    except Exception:
        log.exception("daily backup failed")
    return None


def backup_overdue(settings: Settings, now: dt.datetime) -> bool:
    backups = list_backups(settings.backup.dir.absolute())
    return not backups or now - backups[-1].taken_at > OVERDUE_AFTER


def add_backup_job(
    scheduler: BaseScheduler,
    engine: Engine,
    settings: Settings,
    *,
    jobstore: str = "default",
    now: dt.datetime | None = None,
) -> Job:
    """Add the daily cron job (and a catch-up run when the last backup is overdue);
    ``jobstore`` must keep live objects (a memory store): the job's arguments hold the engine."""
    now = now or dt.datetime.now(dt.UTC)
    at = settings.backup.at
    if backup_overdue(settings, now):
        scheduler.add_job(
            run_backup_job, DateTrigger(now + CATCH_UP_DELAY), args=[engine, settings],
            id=CATCH_UP_JOB_ID, name="catch-up backup", replace_existing=True,
            jobstore=jobstore, misfire_grace_time=3600,
        )
    return scheduler.add_job(
        run_backup_job,
        CronTrigger(hour=at.hour, minute=at.minute, timezone=settings.tz),
        args=[engine, settings],
        id=JOB_ID,
        name="daily backup",
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=3600,
        jobstore=jobstore,
    )
