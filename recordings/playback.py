"""Listening to and downloading kept recordings, by id only, for those allowed, audited.

Every listen and download (and every refused attempt) is written to the audit log with who,
when and from where. The file is found from the row's storage key through
:class:`~recordings.store.RecordingStore`, which refuses keys that leave the store, so even a
tampered row cannot serve a file from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import AuditLog, Call, Recording
from hotline.db.session import transaction
from hotline.domain.enums import RecordingReason
from recordings.access import LISTEN_ANY, Actor
from recordings.errors import Forbidden, NotAvailable, NotFound
from recordings.store import RecordingStore, UnsafeStorageKey
from recordings.transcode import CODECS, PlaybackFormat, TranscodeCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedFile:
    path: Path
    media_type: str
    filename: str


def describe(rec: Recording, call: Call | None, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": rec.id,
        "call_id": rec.call_id,
        "call_key": f"{call.pbx}:{call.linkedid}" if call else None,
        "call_arrived_at": call.arrived_at.isoformat() if call else None,
        "call_arrived_local": call.arrived_at.astimezone(tz).isoformat() if call else None,
        "reason": rec.reason.value,
        "reason_text": rec.reason_text,
        "flagged_by_id": rec.flagged_by_id,
        "flagged_at": rec.flagged_at.isoformat(),
        "agent_id": rec.agent_id,
        "caller_number": rec.caller_number,
        "format": rec.format,
        "duration_seconds": rec.duration_seconds,
        "size_bytes": rec.size_bytes,
        "sha256": rec.sha256,
        "legal_hold": rec.legal_hold,
        "retain_until": rec.retain_until.isoformat() if rec.retain_until else None,
        "stored_at": rec.stored_at.isoformat(),
        "purged_at": rec.purged_at.isoformat() if rec.purged_at else None,
    }


class Playback:
    def __init__(self, sessions: sessionmaker[Session], store: RecordingStore,
                 cache: TranscodeCache, tz: ZoneInfo) -> None:
        self.sessions = sessions
        self.store = store
        self.cache = cache
        self.tz = tz

    def _audit(self, actor: Actor, action: str, rec_id: int, **details: Any) -> None:
        with transaction(self.sessions) as session:
            session.add(AuditLog(
                at=dt.datetime.now(dt.UTC), actor_id=actor.user_id, action=action,
                object_type="recording", object_id=str(rec_id), details=details,
                client=actor.client,
            ))

    def _allowed(self, actor: Actor, rec_id: int, action: str) -> tuple[Recording, Call | None]:
        with self.sessions() as session:
            rec = session.get(Recording, rec_id)
            call = session.get(Call, rec.call_id) if rec else None
        if rec is None:
            raise NotFound(f"no recording {rec_id}")
        if not actor.may_listen(rec.agent_id):
            self._audit(actor, "recording.denied", rec_id, wanted=action)
            raise Forbidden(f"recording {rec_id} is not yours to {action}")
        return rec, call

    def list(
        self, actor: Actor, *, reason: RecordingReason | None = None,
        agent_id: int | None = None, date_from: dt.date | None = None,
        date_to: dt.date | None = None, limit: int = 100, offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Kept recordings, newest first; dates are local days of the call (inclusive)."""
        query: Select[Any] = select(Recording, Call).join(Call, Call.id == Recording.call_id)
        if actor.role not in LISTEN_ANY:
            if actor.agent_id is None:
                return []
            query = query.where(Recording.agent_id == actor.agent_id)
        if reason is not None:
            query = query.where(Recording.reason == reason)
        if agent_id is not None:
            query = query.where(Recording.agent_id == agent_id)
        if date_from is not None:
            start = dt.datetime.combine(date_from, dt.time(0), self.tz)
            query = query.where(Call.arrived_at >= start)
        if date_to is not None:
            end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), self.tz)
            query = query.where(Call.arrived_at < end)
        query = query.order_by(Call.arrived_at.desc(), Recording.id.desc()).limit(limit).offset(offset)
        with self.sessions() as session:
            return [describe(rec, call, self.tz) for rec, call in session.execute(query).all()]

    def metadata(self, actor: Actor, rec_id: int) -> dict[str, Any]:
        rec, call = self._allowed(actor, rec_id, "see")
        return describe(rec, call, self.tz)

    def _file(self, rec: Recording) -> Path:
        if rec.purged_at is not None:
            raise NotAvailable(f"recording {rec.id} was purged on {rec.purged_at:%Y-%m-%d}")
        try:
            path = self.store.path(rec.storage_key)
        except UnsafeStorageKey:
            log.error("recording #%d: storage key %r leaves the store; refused", rec.id,
                      rec.storage_key)
            raise NotAvailable(f"recording {rec.id} is not available") from None
        if not path.is_file():
            raise NotAvailable(f"the file of recording {rec.id} is missing")
        return path

    def download(self, actor: Actor, rec_id: int) -> ServedFile:
        """The original WAV."""
        rec, _ = self._allowed(actor, rec_id, "download")
        path = self._file(rec)
        self._audit(actor, "recording.download", rec_id, sha256=rec.sha256)
        return ServedFile(path, "audio/wav", f"recording-{rec.id}.wav")

    def listen(self, actor: Actor, rec_id: int, fmt: PlaybackFormat) -> ServedFile:
        """A browser-playable copy, made on first listen and cached."""
        rec, _ = self._allowed(actor, rec_id, "listen")
        source = self._file(rec)
        copy = self.cache.get(source, rec.sha256, fmt)
        self._audit(actor, "recording.listen", rec_id, format=fmt.value)
        ext = "ogg" if fmt is PlaybackFormat.OPUS else fmt.value
        return ServedFile(copy, CODECS[fmt].media_type, f"recording-{rec.id}.{ext}")
