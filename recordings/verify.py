"""Re-check every kept recording against its SHA-256: missing, altered or out-of-store files
are reported (evidence that cannot be trusted must be known before it is needed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import AuditLog, Recording
from hotline.db.session import transaction
from recordings.store import RecordingStore, UnsafeStorageKey, sha256_of


@dataclass(frozen=True)
class Problem:
    recording_id: int
    storage_key: str
    kind: str  # missing | altered | unsafe-key
    detail: str = ""


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    unknown_files: list[str] = field(default_factory=list)  # in the store, no row

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_all(
    sessions: sessionmaker[Session],
    store: RecordingStore,
    *,
    now: dt.datetime,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    report = VerifyReport()
    with sessions() as session:
        rows = session.execute(
            select(Recording.id, Recording.storage_key, Recording.sha256, Recording.size_bytes)
            .where(Recording.purged_at.is_(None)).order_by(Recording.id)
        ).all()
        known = set(session.scalars(select(Recording.storage_key)))
    for row in rows:
        report.checked += 1
        try:
            path = store.path(row.storage_key)
        except UnsafeStorageKey as exc:
            report.problems.append(Problem(row.id, row.storage_key, "unsafe-key", str(exc)))
            continue
        if not path.is_file():
            report.problems.append(Problem(row.id, row.storage_key, "missing"))
            continue
        size = path.stat().st_size
        digest = sha256_of(path)
        if digest != row.sha256:
            report.problems.append(Problem(
                row.id, row.storage_key, "altered",
                f"sha256 {digest[:12]}... (stored {row.sha256[:12]}...), "
                f"{size} bytes (stored {row.size_bytes})",
            ))
        if progress is not None:
            progress(report.checked)
    report.unknown_files = [k for k in store.keys() if k not in known]
    with transaction(sessions) as session:
        session.add(AuditLog(
            at=now, action="recordings.verified", object_type="recordings",
            details={"checked": report.checked,
                     "problems": [[p.recording_id, p.kind] for p in report.problems],
                     "unknown_files": len(report.unknown_files)},
        ))
    return report
