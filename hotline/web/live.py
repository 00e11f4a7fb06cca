"""The live feed behind the agent desk's caller card and the wallboard: domain events from
the bus, fanned out to each open browser (Server-Sent Events) with a bounded queue each.

An agent's browser gets only what concerns their own seat (their phone ringing, answering,
their state, the calls their phone has a leg in); team leaders, supervisors and admins get
everything, except escalations, which go to the users they were raised to (and admins). Events
about a call that is offered to an agent carry the caller's number (remembered from
``CallArrived``), so the desk can fetch the caller card through the audited card route.

``CallUpdated`` is sent in a compact form (``call_updated``: the call's key, caller, category,
queue, disposition, times and the agents with a leg in it), not the bridge's whole record.
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
    CallUpdated,
    DomainEvent,
    LinkStateChanged,
)
from hotline.web.auth.principal import Principal

log = logging.getLogger(__name__)

KINDS: tuple[type[DomainEvent], ...] = (
    CallArrived, CallRinging, CallAnswered, CallOffered, AgentRingNoAnswer, AgentAnswered,
    CallEnded, AgentStateChanged, CallFlagged, LinkStateChanged, Alert, CallUpdated,
)
REMEMBERED_CALLS = 10_000


def event_type(event: DomainEvent) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def agents_of(event: CallUpdated) -> set[int]:
    """Agents with a leg in the call (rung or talking) or who answered it."""
    record = event.record
    found = {leg.agent_id for leg in record.legs if leg.agent_id is not None}
    if record.answered_by_agent_id is not None:
        found.add(record.answered_by_agent_id)
    return found


def call_summary(event: CallUpdated) -> dict[str, Any]:
    r = event.record
    return {
        "at": event.at.isoformat(), "pbx": r.pbx, "call_key": r.call_key,
        "direction": r.direction, "caller_number": r.caller_number, "category": r.category,
        "queue": r.queue, "disposition": r.disposition, "rings_at_answer": r.rings_at_answer,
        "answered_by_agent_id": r.answered_by_agent_id, "agent_ids": sorted(agents_of(event)),
        "arrived_at": _jsonable(r.arrived_at), "agent_answered_at": _jsonable(r.agent_answered_at),
        "ended_at": _jsonable(r.ended_at),
    }


class Listener:
    def __init__(self, principal: Principal, maxsize: int) -> None:
        self.principal = principal
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0
        self.sees_all = principal.role in (Role.TEAM_LEADER, Role.SUPERVISOR, Role.ADMIN)

    def wants(self, payload: dict[str, Any]) -> bool:
        """Decided on the payload (not the event) so that payloads relayed from another
        process (:mod:`hotline.web.live_relay`) are filtered exactly like local ones."""
        if payload.get("type") == "escalation_raised":
            return (self.principal.role is Role.ADMIN
                    or self.principal.user_id in payload.get("recipient_user_ids", ()))
        if self.sees_all:
            return True
        mine = self.principal.agent_id
        if mine is None:
            return False
        if payload.get("type") == "call_updated":
            return mine in payload.get("agent_ids", ())
        return payload.get("agent_id") == mine

    def offer(self, payload: dict[str, Any]) -> None:
        if self.queue.full():  # a stalled browser loses its oldest events, not new ones
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(payload)


class LivePayloads:
    """Turns domain events into what the browser gets, remembering each call's caller (from
    ``CallArrived``) so that later events of the call carry the number for the caller card.

    One per process that sees the bridge's events: the local :class:`LiveFeed` and the relay
    publisher each keep one, so a relayed payload is the one a local browser would get."""

    def __init__(self) -> None:
        self._callers: OrderedDict[str, str | None] = OrderedDict()

    def build(self, event: DomainEvent) -> dict[str, Any]:
        if isinstance(event, CallArrived):
            self._remember(event.call_key, event.caller_number)
        elif isinstance(event, CallUpdated) and event.record.ended_at is None:
            if self._callers.get(event.record.call_key) is None:
                self._remember(event.record.call_key, event.record.caller_number)
        payload = self.payload(event)
        if isinstance(event, CallEnded):
            self._callers.pop(event.call_key, None)
        return payload

    def payload(self, event: DomainEvent) -> dict[str, Any]:
        if isinstance(event, CallUpdated):
            data = call_summary(event)
        else:
            data = {k: _jsonable(v) for k, v in dataclasses.asdict(event).items()}
        data["type"] = event_type(event)
        key = data.get("call_key")
        if key is not None and "caller_number" not in data:
            data["caller_number"] = self._callers.get(key)
        return data

    def _remember(self, key: str, caller: str | None) -> None:
        self._callers[key] = caller
        while len(self._callers) > REMEMBERED_CALLS:
            self._callers.popitem(last=False)


class LiveFeed:
    def __init__(self, *, maxsize: int = 200) -> None:
        self._listeners: set[Listener] = set()
        self._payloads = LivePayloads()
        self._maxsize = maxsize

    def payload(self, event: DomainEvent) -> dict[str, Any]:
        return self._payloads.payload(event)

    async def handle(self, event: DomainEvent) -> None:
        """The bus subscriber: remember callers, then fan out."""
        self.deliver(self._payloads.build(event))

    def deliver(self, payload: dict[str, Any]) -> None:
        """Fan a built payload out to every browser that may see it (local events and those
        relayed from other processes alike)."""
        for listener in list(self._listeners):
            if listener.wants(payload):
                listener.offer(payload)

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
