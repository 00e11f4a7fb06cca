"""The ring-5 deadline: a call still ringing an agent at ringing start + 5·P is taken away.

One asyncio timer per ringing agent leg (``loop.call_at``: a heap entry, so a thousand phones
ringing at once cost a thousand heap entries and no tasks). It is armed when the state
machine reports the offer (:class:`CallOffered`, at the leg's ringing start) and cancelled
when the agent answers or the call ends. When it fires and the state machine still sees the
leg ringing, the bridge sends AMI ``Hangup Cause=19`` (no answer) for that channel: the IVR's
``EXEC Dial`` returns NOANSWER and the IVR asks the router for the next agent. Counting the
ring-no-answer and pausing the agent after N in a row is the state machine's (it sees the
offer end, whichever way it ends).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hotline.domain.events import AgentAnswered, CallEnded, CallOffered, DomainEvent
from hotline.domain.ring import RingPolicy

log = logging.getLogger(__name__)

NO_ANSWER = 19

# Sends AMI Hangup for (channel, cause). Best returns a future of the reply with the action
# already written (AmiPbxActions.hangup_nowait): when a thousand deadlines fall due at once,
# each Hangup leaves as its timer runs, not after all of them. A coroutine function works too.
HangupFn = Callable[[str, int], Awaitable[Any]]


@dataclass
class DeadlineStats:
    armed: int = 0
    fired: int = 0
    hung_up: int = 0
    cancelled: int = 0
    stale: int = 0  # fired for a leg that had stopped ringing meanwhile
    failed: int = 0
    # seconds between the due time and the moment the timer ran (the benchmark reads it)
    lateness: list[float] = field(default_factory=list)


class RingDeadlines:
    def __init__(
        self,
        ring: RingPolicy,
        hangup: HangupFn,
        still_ringing: Callable[[str], bool],
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        keep_lateness: int = 100_000,
    ) -> None:
        self.ring = ring
        self.deadline = ring.deadline()
        self._hangup = hangup
        self._still_ringing = still_ringing
        self._clock = clock
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._by_call: dict[str, set[str]] = {}
        self._inflight: set[asyncio.Future[Any]] = set()
        self._keep_lateness = keep_lateness
        self.stats = DeadlineStats()

    @property
    def armed(self) -> int:
        return len(self._timers)

    def on_event(self, event: DomainEvent) -> None:
        """Called for each domain event, in order, before anyone else sees it."""
        if isinstance(event, CallOffered):
            if event.uniqueid:
                self._arm(event)
        elif isinstance(event, AgentAnswered):
            if event.uniqueid:
                self._cancel(event.uniqueid)
        elif isinstance(event, CallEnded):
            for uid in self._by_call.pop(event.call_key, ()):
                self._cancel(uid, forget_call=False)

    def _arm(self, offer: CallOffered) -> None:
        uid = offer.uniqueid
        assert uid is not None
        if uid in self._timers:
            return
        loop = asyncio.get_running_loop()
        # the offer is dated by the bridge's clock when its event arrived (normally just
        # now); the timer runs on the loop's monotonic clock
        age = max(0.0, (self._clock() - offer.at).total_seconds())
        due = loop.time() + max(0.0, self.deadline - age)
        self._timers[uid] = loop.call_at(due, self._fire, uid, offer.channel, offer.call_key, due)
        self._by_call.setdefault(offer.call_key, set()).add(uid)
        self.stats.armed += 1

    def _cancel(self, uid: str, forget_call: bool = True) -> None:
        handle = self._timers.pop(uid, None)
        if handle is not None:
            handle.cancel()
            self.stats.cancelled += 1

    def _fire(self, uid: str, channel: str, call_key: str, due: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers.pop(uid, None)
        calls = self._by_call.get(call_key)
        if calls is not None:
            calls.discard(uid)
            if not calls:
                del self._by_call[call_key]
        self.stats.fired += 1
        if len(self.stats.lateness) < self._keep_lateness:
            self.stats.lateness.append(loop.time() - due)
        if not self._still_ringing(uid):
            self.stats.stale += 1
            return
        log.info("ring-5 deadline: %s still ringing for %s, taking the call away", channel, call_key)
        try:
            sent = self._hangup(channel, NO_ANSWER)
        except Exception as exc:  # not even sent (the link is down)
            self._failed(channel, exc)
            return
        if not isinstance(sent, asyncio.Future):
            sent = loop.create_task(sent, name=f"ring-deadline:{channel}")  # type: ignore[arg-type]
        self._inflight.add(sent)
        sent.add_done_callback(lambda f: self._settled(channel, f))

    def _settled(self, channel: str, sent: asyncio.Future[Any]) -> None:
        self._inflight.discard(sent)
        if sent.cancelled():
            return
        exc = sent.exception()
        if exc is None:
            self.stats.hung_up += 1
        else:
            self._failed(channel, exc)

    def _failed(self, channel: str, exc: BaseException) -> None:
        # the leg may have just ended, or the link is down: Dial's own timeout (5P+1 s) is
        # the safety net then
        self.stats.failed += 1
        log.warning("ring-5 deadline: could not hang up %s: %s", channel, exc)

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._by_call.clear()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
