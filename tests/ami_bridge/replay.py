"""Replay the real Asterisk captures into the state machine, with their timestamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from ami_bridge.agents import AgentBook, AgentInfo
from ami_bridge.frames import AmiMessage, Framer
from ami_bridge.state import CallTracker, TrackerConfig
from hotline.devtools.captures import load
from hotline.domain.enums import AgentState, Role
from hotline.domain.events import CallEnded, CallUpdated, DomainEvent
from hotline.domain.ring import RingPolicy

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, a working Monday


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def capture_events(name: str, stream: str = "ami-mon") -> list[tuple[float, AmiMessage]]:
    """Every event Asterisk sent on one stream of a capture, parsed by the bridge's framer."""
    framer = Framer()
    out: list[tuple[float, AmiMessage]] = []
    for m in load(name).streams[stream].ami("<<"):
        for message in framer.feed(m.wire()):
            if message.is_event:
                out.append((m.t, message))
    return out


def tracker(
    *agents: tuple[int, str, str], pause_after: int = 2, role: Role = Role.AGENT
) -> CallTracker:
    """A tracker with ready agents given as (id, extension, interface)."""
    book = AgentBook("pbx1")
    for agent_id, ext, interface in agents:
        book.add(AgentInfo(agent_id, ext, interface, role=role, user_id=100 + agent_id),
                 presence=AgentState.READY, idle_since=T0)
    return CallTracker(
        TrackerConfig(pbx="pbx1", ring=RingPolicy(), no_answer_pause_after=pause_after), book
    )


def replay(
    t: CallTracker,
    events: Iterable[tuple[float, AmiMessage]],
    edit: Callable[[float, AmiMessage], AmiMessage | None] | None = None,
) -> list[DomainEvent]:
    out: list[DomainEvent] = []
    for seconds, message in events:
        if edit is not None:
            edited = edit(seconds, message)
            if edited is None:
                continue
            message = edited
        out.extend(t.feed(message, at(seconds)))
    return out


def of(events: list[DomainEvent], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def final_records(events: list[DomainEvent]) -> dict[str, object]:
    """The last CallUpdated record of each call."""
    found: dict[str, object] = {}
    for e in events:
        if isinstance(e, CallUpdated):
            found[e.record.linkedid] = e.record
    return found


def ended(events: list[DomainEvent]) -> list[CallEnded]:
    return of(events, CallEnded)
