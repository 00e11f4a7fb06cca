"""A small in-test AgentRouter (the AMI bridge's real router replaces it in phase 2) and an
in-memory CallStore for tests whose subject is not the database."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from hotline.domain.enums import Role
from hotline.domain.ports import AgentOffer
from ivr.store import CallbackRequest, CallbackResult


@dataclass
class Seat:
    agent_id: int
    extension: str
    role: Role = Role.AGENT
    free: bool = True
    auto_answer: bool = False
    idle_since: int = 0


@dataclass
class AcquireCall:
    call_key: str
    roles: frozenset[Role] | None
    exclude: frozenset[int]
    timeout: float
    result: str | None = None


class FakeRouter:
    """Longest-idle ready agent of the wanted roles; waits up to ``timeout`` for one."""

    def __init__(self, seats: list[Seat] | None = None) -> None:
        self.seats = {s.extension: s for s in seats or []}
        self.calls: list[AcquireCall] = []
        self.released: list[str] = []
        self._changed = asyncio.Event()
        self._clock = itertools.count(1)

    def add(self, seat: Seat) -> None:
        seat.idle_since = next(self._clock)
        self.seats[seat.extension] = seat
        self._wake()

    def set_free(self, extension: str) -> None:
        seat = self.seats[extension]
        seat.free = True
        seat.idle_since = next(self._clock)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _pick(self, roles: frozenset[Role] | None, exclude: frozenset[int]) -> Seat | None:
        ready = [
            s for s in self.seats.values()
            if s.free and s.agent_id not in exclude and (roles is None or s.role in roles)
        ]
        return min(ready, key=lambda s: s.idle_since) if ready else None

    async def acquire(
        self,
        call_key: str,
        *,
        roles: frozenset[Role] | None = None,
        exclude: frozenset[int] = frozenset(),
        timeout: float = 0.0,
    ) -> AgentOffer | None:
        record = AcquireCall(call_key, roles, exclude, timeout)
        self.calls.append(record)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            seat = self._pick(roles, exclude)
            if seat is not None:
                seat.free = False
                record.result = seat.extension
                return AgentOffer(seat.agent_id, seat.extension, f"PJSIP/{seat.extension}", seat.auto_answer)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return None

    def release(self, offer: AgentOffer) -> None:
        self.released.append(offer.extension)
        self.set_free(offer.extension)


@dataclass
class MemoryStore:
    """CallStore kept in memory."""

    blacklist: set[str] = field(default_factory=set)
    callbacks: dict[str, tuple[int, CallbackRequest]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    delay: float = 0.0

    async def is_blacklisted(self, phone: str) -> bool:
        self.lookups.append(phone)
        await asyncio.sleep(self.delay)
        return phone in self.blacklist

    async def request_callback(self, request: CallbackRequest) -> CallbackResult:
        if request.call_key in self.callbacks:
            return CallbackResult(self.callbacks[request.call_key][0], created=False)
        task_id = len(self.callbacks) + 1
        self.callbacks[request.call_key] = (task_id, request)
        return CallbackResult(task_id, created=True, due_at=request.asked_at)
