"""The blacklist of malicious complainants' numbers (rule 3.4), keyed by E.164 number."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.crm.schemas import BlacklistIn
from hotline.crm.service import parse
from hotline.db.errors import integrity_as_invalid_input
from hotline.db.models import BlacklistEntry
from hotline.domain.errors import InvalidInput


def blacklist_entry(session: Session, phone: str | None) -> BlacklistEntry | None:
    if not phone:
        return None
    return session.scalar(select(BlacklistEntry).where(BlacklistEntry.phone == phone))


def add_to_blacklist(
    session: Session,
    data: dict[str, Any] | BlacklistIn,
    *,
    added_by_id: int,
    region: str = "CN",
    now: dt.datetime | None = None,
) -> BlacklistEntry:
    bin_ = parse(BlacklistIn, data, region)
    existing = blacklist_entry(session, bin_.phone)
    if existing is not None:
        raise InvalidInput.single("phone", f"{bin_.phone} is already blacklisted (#{existing.id})")
    entry = BlacklistEntry(
        phone=bin_.phone,
        reason=bin_.reason,
        added_by_id=added_by_id,
        added_at=now or dt.datetime.now(dt.UTC),
    )
    with integrity_as_invalid_input():
        session.add(entry)
        session.flush()
    return entry


def remove_from_blacklist(session: Session, entry_id: int) -> BlacklistEntry:
    entry = session.get(BlacklistEntry, entry_id)
    if entry is None:
        raise LookupError(f"blacklist entry #{entry_id} does not exist")
    session.delete(entry)
    session.flush()
    return entry
