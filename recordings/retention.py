"""Retention: recordings past ``retain_until`` are deleted, legal holds never; every purge is
written to the audit log with what was deleted and why."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import AuditLog, Recording
from hotline.db.session import transaction
from hotline.settings import Settings
from recordings.store import RecordingStore, UnsafeStorageKey
from recordings.transcode import TranscodeCache

log = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    purged: list[int] = field(default_factory=list)
    file_missing: list[int] = field(default_factory=list)
    held: int = 0  # past retain_until but on legal hold, kept
    failed: list[tuple[int, str]] = field(default_factory=list)


def due_for_purge(session: Session, now: dt.datetime) -> list[int]:
    return list(session.scalars(
        select(Recording.id).where(
            Recording.purged_at.is_(None),
            Recording.legal_hold.is_(False),
            Recording.retain_until.is_not(None),
            Recording.retain_until <= now,
        ).order_by(Recording.id)
    ))


def held_past_retention(session: Session, now: dt.datetime) -> int:
    return len(list(session.scalars(
        select(Recording.id).where(
            Recording.purged_at.is_(None), Recording.legal_hold.is_(True),
            Recording.retain_until <= now,
        )
    )))


def purge_expired(
    sessions: sessionmaker[Session],
    store: RecordingStore,
    *,
    now: dt.datetime,
    cache: TranscodeCache | None = None,
    actor_id: int | None = None,
    dry_run: bool = False,
) -> PurgeReport:
    """Delete every recording past its retention (one transaction each, so one bad file
    does not stop the rest); the scheduler runs this daily, ``hotline recordings purge`` too."""
    report = PurgeReport()
    with sessions() as session:
        ids = due_for_purge(session, now)
        report.held = held_past_retention(session, now)
    if dry_run:
        report.purged = ids
        return report
    for rec_id in ids:
        try:
            with transaction(sessions) as session:
                rec = session.get(Recording, rec_id)
                if rec is None or rec.purged_at is not None or rec.legal_hold:
                    continue
                try:
                    existed = store.remove(rec.storage_key)
                except UnsafeStorageKey:
                    existed = False
                    log.error("recording #%d has a storage key outside the store: %r",
                              rec.id, rec.storage_key)
                rec.purged_at = now
                session.add(AuditLog(
                    at=now, actor_id=actor_id, action="recording.purged",
                    object_type="recording", object_id=str(rec.id),
                    details={"storage_key": rec.storage_key, "sha256": rec.sha256,
                             "reason": rec.reason.value,
                             "retain_until": rec.retain_until.isoformat() if rec.retain_until else None,
                             "file_existed": existed},
                ))
                sha = rec.sha256
            if cache is not None:
                cache.drop(sha)
            report.purged.append(rec_id)
            if not existed:
                report.file_missing.append(rec_id)
        except Exception as exc:
            log.exception("purging recording #%d failed", rec_id)
            report.failed.append((rec_id, str(exc)))
    return report


def daily_purge(settings: Settings, sessions: sessionmaker[Session]) -> PurgeReport:
    """The job the scheduler runs once a day (APScheduler calls it in a worker thread)."""
    cfg = settings.recordings
    report = purge_expired(
        sessions, RecordingStore(cfg.store_dir), now=dt.datetime.now(dt.UTC),
        cache=TranscodeCache(cfg.cache_dir, cfg.cache_max_mb * 1024 * 1024),
    )
    log.info("daily recordings purge: %d purged, %d held past retention, %d failed",
             len(report.purged), report.held, len(report.failed))
    return report
