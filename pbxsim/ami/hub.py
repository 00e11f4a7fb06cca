"""Fan-out of AMI events to every logged-in session that wants them.

An event is encoded once and the same bytes go to each session whose read permission and
event mask include the event's class, as in Asterisk's manager.c.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pbxsim.ami.wire import Headers, encode

if TYPE_CHECKING:
    from pbxsim.ami.session import AmiSession

EVENT_CLASSES = frozenset(
    {"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
     "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
     "message"}
)


def parse_classes(text: str) -> frozenset[str]:
    """``"system,call"`` -> {"system", "call"}; ``all`` means every class; ``none`` none."""
    names = {p.strip().lower() for p in text.split(",") if p.strip()}
    if "all" in names:
        return EVENT_CLASSES
    if "none" in names:
        return frozenset()
    return frozenset(names & EVENT_CLASSES)


class EventHub:
    """``timestamp``: manager.conf ``timestampevents = yes``. Every event then carries
    ``Timestamp: <epoch seconds>.<microseconds>`` (the moment it was raised, by the wall
    clock) right after ``Privilege``, as Asterisk's manager.c writes it."""

    def __init__(self, timestamp: Callable[[], float] | None = None) -> None:
        self.sessions: set[AmiSession] = set()
        self.listeners: list[Callable[[str, Headers], None]] = []
        self.count = 0
        self.timestamp = timestamp

    def stamp(self) -> Headers:
        """The ``Timestamp`` header to put after ``Privilege`` (none unless enabled)."""
        if self.timestamp is None:
            return []
        return [("Timestamp", f"{self.timestamp():.6f}")]

    def emit(self, name: str, category: str, headers: Headers) -> None:
        """Send ``Event: name`` with ``Privilege: category,all`` and ``headers``."""
        self.count += 1
        data: bytes | None = None
        for session in self.sessions:
            if category in session.event_classes:
                if data is None:
                    data = encode([("Event", name), ("Privilege", f"{category},all"), *self.stamp(),
                                   *headers])
                session.send_event(data)
        for listener in self.listeners:
            listener(name, headers)

    def emit_snapshot(self, name: str, category: str, snapshot: Headers, blob: bytes,
                      extra: Headers) -> None:
        """A channel event: ``blob`` is the channel snapshot already encoded."""
        self.count += 1
        data: bytes | None = None
        for session in self.sessions:
            if category in session.event_classes:
                if data is None:
                    tail = "".join([f"{k}: {v}\r\n" for k, v in extra]) + "\r\n"
                    stamp = "".join(f"{k}: {v}\r\n" for k, v in self.stamp())
                    data = b"".join((f"Event: {name}\r\nPrivilege: {category},all\r\n{stamp}".encode(),
                                     blob, tail.encode("utf-8", "surrogateescape")))
                session.send_event(data)
        if self.listeners:
            headers = [*snapshot, *extra]
            for listener in self.listeners:
                listener(name, headers)

    def emit_raw(self, name: str, category: str, full_headers: Headers) -> None:
        """An event whose headers are given whole (no Privilege line added)."""
        self.count += 1
        data: bytes | None = None
        for session in self.sessions:
            if category in session.event_classes:
                if data is None:
                    data = encode([*full_headers[:2], *self.stamp(), *full_headers[2:]])
                session.send_event(data)
        for listener in self.listeners:
            listener(name, full_headers[1:])
