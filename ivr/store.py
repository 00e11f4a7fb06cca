"""What the IVR reads and writes in the database: the blacklist and requested callbacks.

A callback request is stored the one way every outbound task is: the scheduler's
:func:`scheduler.tasks.add_task`, with the task built by
:func:`scheduler.tasks.requested_callback`, so its due time, deadline, calling window, retry
limit and dedupe key are decided in one place for the IVR and for the scheduler's own sweep of
``callback_requested`` calls.

The flow interpreter runs on the event loop; each method here does its SQL in a worker thread
(``asyncio.to_thread``) so a slow database never stalls other calls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.crm.known_blacklist import KnownBlacklist
from hotline.db.models import Call, Customer, OutboundTask
from hotline.db.session import transaction
from hotline.settings import Settings
from scheduler.tasks import add_task, requested_callback
from scheduler.windows import WindowPolicy


@dataclass(frozen=True)
class CallbackRequest:
    phone: str  # E.164
    call_key: str  # "<pbx>:<linkedid>", one callback per call
    pbx: str
    linkedid: str
    asked_at: dt.datetime  # when the caller asked (the IVR's clock)


@dataclass(frozen=True)
class CallbackResult:
    task_id: int
    created: bool  # False: this call had already requested one
    due_at: dt.datetime | None = None  # when the task may first be dialled


class CallStore(Protocol):
    async def is_blacklisted(self, phone: str) -> bool: ...

    async def request_callback(self, request: CallbackRequest) -> CallbackResult: ...


class SqlCallStore:
    """:class:`CallStore` on the hotline database (SQLite or PostgreSQL)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.policy = WindowPolicy(settings)
        self.blacklist = KnownBlacklist(sessions, name="IVR")

    async def is_blacklisted(self, phone: str) -> bool:
        return await asyncio.to_thread(self._is_blacklisted, phone)

    async def request_callback(self, request: CallbackRequest) -> CallbackResult:
        return await asyncio.to_thread(self._request_callback, request)

    def _is_blacklisted(self, phone: str) -> bool:
        return self.blacklist.lookup(phone)

    def _request_callback(self, request: CallbackRequest) -> CallbackResult:
        with transaction(self.sessions) as session:
            customer_id = session.scalar(select(Customer.id).where(Customer.phone == request.phone))
            # The bridge has usually stored the call by now; if not, the task goes without it.
            call_id = session.scalar(
                select(Call.id).where(Call.pbx == request.pbx, Call.linkedid == request.linkedid)
            )
            spec = requested_callback(
                self.policy, phone=request.phone, pbx=request.pbx, linkedid=request.linkedid,
                asked_at=request.asked_at, customer_id=customer_id, call_id=call_id,
            )
            created = add_task(session, spec, self.settings, self.policy)
            if created is not None:
                return CallbackResult(created, created=True, due_at=spec.due_at)
            # Asked before on this call (or the scheduler's sweep stored it first).
            task = session.execute(
                select(OutboundTask.id, OutboundTask.due_at)
                .where(OutboundTask.dedupe_key == spec.dedupe_key)
            ).one()
            return CallbackResult(task.id, created=False, due_at=task.due_at)
