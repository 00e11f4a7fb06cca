"""Pacing (issue 7): at most N outbound calls at once and at most M new calls in any one
second.

A slot is taken before an attempt is prepared and given back when its call is over (not when
the Originate returns: an answered call keeps its slot until it ends). The rate limit keeps the
start times of the last M calls and waits until the oldest is a second old, so any window of
one second holds at most M starts, bursts included.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        max_concurrent: int,
        per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrent < 1 or per_second <= 0:
            raise ValueError("max_concurrent must be >= 1 and per_second > 0")
        self.max_concurrent = max_concurrent
        self.per_second = per_second
        self._monotonic = monotonic
        self._active = 0
        self._cond = asyncio.Condition()
        # A fractional rate (0.5/s) means one start per 1/rate seconds.
        self._window = 1.0 if per_second >= 1 else 1.0 / per_second
        self._burst = max(1, int(per_second)) if per_second >= 1 else 1
        self._starts: deque[float] = deque()

    @property
    def active(self) -> int:
        return self._active

    def free(self) -> int:
        return max(0, self.max_concurrent - self._active)

    async def acquire(self) -> None:
        """Wait for a free call slot and take it (the rate is checked at the send, by
        :meth:`wait_rate`)."""
        async with self._cond:
            await self._cond.wait_for(lambda: self._active < self.max_concurrent)
            self._active += 1

    async def release(self) -> None:
        async with self._cond:
            self._active = max(0, self._active - 1)
            self._cond.notify_all()

    def adopt(self) -> None:
        """Count a call found live on the PBX after a restart (it is already placed, so it
        takes a slot even beyond the limit, and nothing new starts until it ends)."""
        self._active += 1

    async def wait_rate(self) -> None:
        """Wait until one more call may start under the per-second limit, and count it."""
        while True:
            now = self._monotonic()
            while self._starts and now - self._starts[0] >= self._window:
                self._starts.popleft()
            if len(self._starts) < self._burst:
                self._starts.append(now)
                return
            await asyncio.sleep(self._window - (now - self._starts[0]) + 1e-4)

