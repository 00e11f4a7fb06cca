"""The live feed behind the agent desk's caller card and the wallboard: domain events from
the bus, fanned out to each open browser (Server-Sent Events) with a bounded queue each.

An agent's browser gets only what concerns their own seat (their phone ringing, answering,
their state); team leaders, supervisors and admins get everything. Events about a call that
is offered to an agent carry the caller's number (remembered from ``CallArrived``), so the
desk can fetch the caller card through the audited card route.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hotline.domain.enums import Role
from hotline.domain.events import (
    AgentAnswered,
    AgentRingNoAnswer,
    AgentStateChanged,
    Alert,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallFlagged,
    CallOffered,
    CallRinging,
    DomainEvent,
    LinkStateChanged,
)
from hotline.web.auth.principal import Principal

log = logging.getLogger(__name__)

KINDS: tuple[type[DomainEvent], ...] = (
    CallArrived, CallRinging, CallAnswered, CallOffered, AgentRingNoAnswer, AgentAnswered,
    CallEnded, AgentStateChanged, CallFlagged, LinkStateChanged, Alert,
)
REMEMBERED_CALLS = 10_000


def event_type(event: DomainEvent) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class Listener:
    def __init__(self, principal: Principal, maxsize: int) -> None:
        self.principal = principal
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0
        self.sees_all = principal.role in (Role.TEAM_LEADER, Role.SUPERVISOR, Role.ADMIN)

    def wants(self, event: DomainEvent) -> bool:
        if self.sees_all:
            return True
        agent_id = getattr(event, "agent_id", None)
        return agent_id is not None and agent_id == self.principal.agent_id

    def offer(self, payload: dict[str, Any]) -> None:
        if self.queue.full():  # a stalled browser loses its oldest events, not new ones
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(payload)


class LiveFeed:
    def __init__(self, *, maxsize: int = 200) -> None:
        self._listeners: set[Listener] = set()
        self._callers: OrderedDict[str, str | None] = OrderedDict()
        self._maxsize = maxsize

    def payload(self, event: DomainEvent) -> dict[str, Any]:
        data = {k: _jsonable(v) for k, v in dataclasses.asdict(event).items()}
        data["type"] = event_type(event)
        key = data.get("call_key")
        if key is not None and "caller_number" not in data:
            data["caller_number"] = self._callers.get(key)
        return data

    async def handle(self, event: DomainEvent) -> None:
        """The bus subscriber: remember callers, then fan out."""
        if isinstance(event, CallArrived):
            self._callers[event.call_key] = event.caller_number
            while len(self._callers) > REMEMBERED_CALLS:
                self._callers.popitem(last=False)
        payload = self.payload(event)
        for listener in list(self._listeners):
            if listener.wants(event):
                listener.offer(payload)
        if isinstance(event, CallEnded):
            self._callers.pop(event.call_key, None)

    @contextmanager
    def listen(self, principal: Principal) -> Iterator[Listener]:
        listener = Listener(principal, self._maxsize)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
            if listener.dropped:
                log.info("live feed of %s dropped %d events", principal.username,
                         listener.dropped)

    @property
    def listeners(self) -> int:
        return len(self._listeners)
