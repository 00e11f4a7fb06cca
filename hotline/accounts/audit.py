"""Writing the audit log: one row per thing someone must later be able to account for
(logins, reads of customer data by agents, blacklist changes, token changes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from hotline.db.models import AuditLog


def audit(
    session: Session,
    action: str,
    *,
    actor_id: int | None,
    object_type: str | None = None,
    object_id: object = None,
    details: dict[str, Any] | None = None,
    client: str | None = None,
    at: dt.datetime | None = None,
) -> AuditLog:
    """Add an audit row inside the caller's transaction, so the row and the change it
    records are stored together or not at all."""
    row = AuditLog(
        at=at or dt.datetime.now(dt.UTC),
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:64],
        details=details or {},
        client=(client or None) and client[:64],
    )
    session.add(row)
    return row
