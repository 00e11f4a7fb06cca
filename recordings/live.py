"""What the recordings service knows of each call from the bus: channels, agent, spool files,
flags so far. Pure state, no I/O; the service decides what to do with it."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from hotline.domain.enums import RecordingReason


@dataclass
class TrackedCall:
    call_key: str
    caller_channel: str | None = None
    caller_number: str | None = None
    arrived_at: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    agent_id: int | None = None
    agent_channel: str | None = None
    ended_at: dt.datetime | None = None
    spool_files: set[Path] = field(default_factory=set)
    # Spool files already dealt with: moved to the store (flagged) or deleted (unflagged).
    settled_files: set[Path] = field(default_factory=set)
    reasons: list[RecordingReason] = field(default_factory=list)
    blacklist_checked: bool = False
    # Flags from the softphone waiting for the database (it was unreachable): the call's
    # files are kept meanwhile, whatever the grace period says.
    pending_flags: int = 0
    # Serialises flags, store and delete of one call (two *71 in a row, a sweep meanwhile).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def live(self) -> bool:
        return self.ended_at is None

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)

    @property
    def unsettled_files(self) -> set[Path]:
        """Known spool files not yet stored or deleted (MixMonitor may not have written one
        yet: it closes its file after the hangup, and a simulator writes it only then)."""
        return self.spool_files - self.settled_files

    @property
    def stored(self) -> bool:
        """Flagged, and every spool file known for the call is in the store."""
        return self.flagged and not self.unsettled_files

    @property
    def abusive_flags(self) -> int:
        return sum(1 for r in self.reasons if r is RecordingReason.ABUSIVE)


class LiveCalls:
    def __init__(self) -> None:
        self._calls: dict[str, TrackedCall] = {}

    def get(self, call_key: str) -> TrackedCall | None:
        return self._calls.get(call_key)

    def track(self, call_key: str) -> TrackedCall:
        call = self._calls.get(call_key)
        if call is None:
            call = self._calls[call_key] = TrackedCall(call_key)
        return call

    def forget(self, call_key: str) -> None:
        self._calls.pop(call_key, None)

    def all(self) -> list[TrackedCall]:
        return list(self._calls.values())

    def current_call_of(self, agent_id: int) -> TrackedCall | None:
        """The agent's live call, else the one they most recently finished."""
        mine = [c for c in self._calls.values() if c.agent_id == agent_id]
        live = [c for c in mine if c.live]
        if live:
            return max(live, key=lambda c: c.answered_at or c.arrived_at or dt.datetime.min.replace(tzinfo=dt.UTC))
        ended = [c for c in mine if c.ended_at is not None]
        return max(ended, key=lambda c: c.ended_at) if ended else None  # type: ignore[arg-type,return-value]
