"""Building the daily digest on time: an APScheduler 3 cron job at ``reports.digest_at`` in
the hotline's zone that builds it on working days only, plus a catch-up for a process that
was down at that moment.

``hotline serve`` adds the job to the scheduler it runs (the wiring belongs to hotline.app);
the job is a plain function, so the scheduler runs it in its thread pool, never on the event
loop.
"""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, select

from hotline.db.models import Digest
from hotline.db.session import session_factory, transaction
from hotline.reports.context import ReportContext
from hotline.reports.digest import build_digest
from hotline.settings import Settings

log = logging.getLogger(__name__)
JOB_ID = "daily-complaint-digest"


def digest_trigger(settings: Settings) -> CronTrigger:
    at = settings.reports.digest_at
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=settings.tz)


def run_digest_job(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> int | None:
    """Build today's digest if today is a working day; returns the digest id (None when
    today is not a working day)."""
    now = now or dt.datetime.now(dt.UTC)
    ctx = ReportContext.from_settings(settings)
    today = now.astimezone(settings.tz).date()
    if not ctx.calendar.is_working_day(today):
        log.info("no complaint digest on %s: not a working day", today)
        return None
    with transaction(session_factory(engine)) as session:
        digest = build_digest(session, today, ctx, now=now)
        log.info("complaint digest for %s built (%s)", today, digest.content.get("counts"))
        return digest.id


def catch_up(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> int | None:
    """At start-up: build today's digest if its time has passed and none was built."""
    now = now or dt.datetime.now(dt.UTC)
    local = now.astimezone(settings.tz)
    if local.time() < settings.reports.digest_at:
        return None
    with session_factory(engine)() as session:
        if session.scalar(select(Digest.id).where(Digest.day == local.date())) is not None:
            return None
    return run_digest_job(engine, settings, now)


def add_digest_job(
    scheduler: BaseScheduler, engine: Engine, settings: Settings, *, jobstore: str = "default"
) -> Job:
    """Add the cron job; ``jobstore`` must keep live objects (a memory store), since the job's
    arguments include the engine."""
    return scheduler.add_job(
        run_digest_job,
        digest_trigger(settings),
        args=[engine, settings],
        id=JOB_ID,
        name="daily complaint and feedback digest",
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=3600,
        jobstore=jobstore,
    )
