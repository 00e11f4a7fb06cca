"""Moving a flagged call's spool file into the store, as one Recording row.

Order matters for "nothing is lost": the file is copied into the store first, then the row
is committed, and only then is the spool file removed. A crash in between leaves either the
spool file (kept, retried by the next sweep) or both, which the next sweep recognises by the
storage key and checksum and tidies up. The file is never gone without its row.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import AuditLog, Call, CallFlag, Escalation, Recording
from hotline.db.session import transaction
from hotline.domain.enums import RecordingReason
from hotline.domain.phone import try_normalize_phone
from recordings.audio import duration_seconds
from recordings.flags import primary_flag
from recordings.store import RecordingStore, sha256_of

log = logging.getLogger(__name__)


class NotReadyToStore(RuntimeError):
    """The call's row (written by the bridge) or its flags are not in the database yet."""


@dataclass(frozen=True)
class CallFacts:
    """What the recordings service saw of a call on the bus, used when the row lacks it."""

    call_key: str
    agent_id: int | None = None
    caller_number: str | None = None


def find_call(session: Session, call_key: str) -> Call | None:
    pbx, _, linkedid = call_key.partition(":")
    return session.scalar(select(Call).where(Call.pbx == pbx, Call.linkedid == linkedid))


def keep_recording(
    sessions: sessionmaker[Session],
    store: RecordingStore,
    spool_file: Path,
    facts: CallFacts,
    *,
    now: dt.datetime,
    tz: ZoneInfo,
    retention_days: int,
    region: str = "CN",
) -> Recording:
    """Store ``spool_file`` for the flagged call ``facts.call_key``; idempotent."""
    size = spool_file.stat().st_size
    sha = sha256_of(spool_file)
    duration = duration_seconds(spool_file)
    written: str | None = None
    try:
        with transaction(sessions) as session:
            call = find_call(session, facts.call_key)
            if call is None:
                raise NotReadyToStore(f"call {facts.call_key} is not stored yet")
            flags = list(session.scalars(
                select(CallFlag).where(CallFlag.call_key == facts.call_key)
            ))
            if not flags:
                raise NotReadyToStore(f"call {facts.call_key} has no flag in the database")
            day = (call.answered_at or call.arrived_at).astimezone(tz).date()
            key = store.key_for(call.id, day, spool_file.name)
            existing = session.scalar(select(Recording).where(Recording.storage_key == key))
            if existing is not None:
                if existing.sha256 != sha:
                    raise RuntimeError(
                        f"{key} is already stored with another checksum; spool file "
                        f"{spool_file} kept for a person to look at"
                    )
                recording = existing
            else:
                main = primary_flag(flags)
                legal_hold = any(f.reason is RecordingReason.EXTORTION for f in flags)
                store.put(spool_file, key)
                written = key
                recording = Recording(
                    call_id=call.id, reason=main.reason, reason_text=main.reason_text,
                    flagged_by_id=main.flagged_by_id, flagged_at=main.flagged_at,
                    agent_id=call.answered_by_agent_id or facts.agent_id,
                    caller_number=try_normalize_phone(
                        call.caller_number or facts.caller_number, region
                    ),
                    storage_key=key, format="wav", duration_seconds=duration, size_bytes=size,
                    sha256=sha, legal_hold=legal_hold,
                    retain_until=now + dt.timedelta(days=retention_days), stored_at=now,
                )
                session.add(recording)
                session.flush()
                session.execute(update(CallFlag).where(
                    CallFlag.call_key == facts.call_key, CallFlag.call_id.is_(None)
                ).values(call_id=call.id))
                session.execute(update(Escalation).where(
                    Escalation.call_key == facts.call_key, Escalation.recording_id.is_(None)
                ).values(recording_id=recording.id, call_id=call.id))
                session.add(AuditLog(
                    at=now, action="recording.stored", object_type="recording",
                    object_id=str(recording.id),
                    details={"call_key": facts.call_key, "storage_key": key, "sha256": sha,
                             "reason": main.reason.value, "legal_hold": legal_hold},
                ))
    except BaseException:
        if written is not None:
            store.remove(written)
        raise
    spool_file.unlink(missing_ok=True)
    log.info("kept recording #%d of %s as %s (%.1f s)", recording.id, facts.call_key,
             recording.storage_key, recording.duration_seconds)
    return recording


def refile(sessions: sessionmaker[Session], call_key: str, now: dt.datetime) -> None:
    """File the kept recordings of a call again after a later flag: the gravest reason wins
    and an extortion flag puts them on legal hold."""
    with transaction(sessions) as session:
        call = find_call(session, call_key)
        if call is None:
            return
        flags = list(session.scalars(select(CallFlag).where(CallFlag.call_key == call_key)))
        if not flags:
            return
        main = primary_flag(flags)
        legal_hold = any(f.reason is RecordingReason.EXTORTION for f in flags)
        recordings = session.scalars(select(Recording).where(
            Recording.call_id == call.id, Recording.purged_at.is_(None)
        ))
        for recording in recordings:
            changed = {}
            if recording.reason != main.reason:
                changed["reason"] = [recording.reason.value, main.reason.value]
                recording.reason, recording.reason_text = main.reason, main.reason_text
                recording.flagged_by_id, recording.flagged_at = main.flagged_by_id, main.flagged_at
            if legal_hold and not recording.legal_hold:
                recording.legal_hold = True
                changed["legal_hold"] = [False, True]
            if changed:
                session.add(AuditLog(
                    at=now, action="recording.refiled", object_type="recording",
                    object_id=str(recording.id), details={"call_key": call_key, **changed},
                ))
        session.execute(update(CallFlag).where(
            CallFlag.call_key == call_key, CallFlag.call_id.is_(None)
        ).values(call_id=call.id))
        first = session.scalar(select(Recording.id).where(Recording.call_id == call.id)
                               .order_by(Recording.id))
        session.execute(update(Escalation).where(
            Escalation.call_key == call_key, Escalation.recording_id.is_(None)
        ).values(recording_id=first, call_id=call.id))
