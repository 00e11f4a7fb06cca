"""What the IVR reads and writes in the database: the blacklist and requested callbacks.

The flow interpreter runs on the event loop; each method here does its SQL in a worker thread
(``asyncio.to_thread``) so a slow database never stalls other calls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import BlacklistEntry, Call, Customer, OutboundTask
from hotline.domain.enums import CallingWindow, TaskStatus, TaskType


@dataclass(frozen=True)
class CallbackRequest:
    phone: str  # E.164
    call_key: str  # "<pbx>:<linkedid>", one callback per call
    pbx: str
    linkedid: str
    due_at: dt.datetime


@dataclass(frozen=True)
class CallbackResult:
    task_id: int
    created: bool  # False: this call had already requested one


class CallStore(Protocol):
    async def is_blacklisted(self, phone: str) -> bool: ...

    async def request_callback(self, request: CallbackRequest) -> CallbackResult: ...


def callback_dedupe_key(call_key: str) -> str:
    return f"requested:{call_key}"


class SqlCallStore:
    """:class:`CallStore` on the hotline database (SQLite or PostgreSQL)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    async def is_blacklisted(self, phone: str) -> bool:
        return await asyncio.to_thread(self._is_blacklisted, phone)

    async def request_callback(self, request: CallbackRequest) -> CallbackResult:
        return await asyncio.to_thread(self._request_callback, request)

    def _is_blacklisted(self, phone: str) -> bool:
        with self.sessions() as session:
            found = session.scalar(select(BlacklistEntry.id).where(BlacklistEntry.phone == phone))
            return found is not None

    def _existing(self, session: Session, key: str) -> int | None:
        return session.scalar(select(OutboundTask.id).where(OutboundTask.dedupe_key == key))

    def _request_callback(self, request: CallbackRequest) -> CallbackResult:
        key = callback_dedupe_key(request.call_key)
        with self.sessions() as session:
            existing = self._existing(session, key)
            if existing is not None:
                return CallbackResult(existing, created=False)
            customer_id = session.scalar(select(Customer.id).where(Customer.phone == request.phone))
            call_id = session.scalar(
                select(Call.id).where(Call.pbx == request.pbx, Call.linkedid == request.linkedid)
            )
            task = OutboundTask(
                type=TaskType.REQUESTED,
                phone=request.phone,
                customer_id=customer_id,
                call_id=call_id,
                due_at=request.due_at,
                window=CallingWindow.WORKING_HOURS,
                status=TaskStatus.PENDING,
                dedupe_key=key,
            )
            session.add(task)
            try:
                session.commit()
            except IntegrityError:
                # Another writer stored the same call's callback between our read and write.
                session.rollback()
                existing = self._existing(session, key)
                if existing is None:
                    raise
                return CallbackResult(existing, created=False)
            return CallbackResult(task.id, created=True)
