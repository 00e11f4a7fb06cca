"""Pacing (issue 7): at most N outbound calls at once and at most M new calls in any one
second.

A slot is taken before an attempt is prepared and given back when its call is over (not when
the Originate returns: an answered call keeps its slot until it ends).

New calls are spaced evenly rather than sent in bursts of M, and paced as if a second lasted
``1 + margin`` seconds (``margin`` = 0.1 s): M + 1 starts then span 1.1 s, so the limit holds
as the PBX sees it even when Originates reach it up to 0.1 s unevenly (the network, a busy
Asterisk). Paced exactly at M per second, a limit enforced by the carrier would be broken by
the first Originate arriving a millisecond late. The price is 9 % of the configured rate;
the carrier sees a steady rate, without bursts.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        max_concurrent: int,
        per_second: float,
        *,
        margin: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrent < 1 or per_second <= 0:
            raise ValueError("max_concurrent must be >= 1 and per_second > 0")
        self.max_concurrent = max_concurrent
        self.per_second = per_second
        self._monotonic = monotonic
        self._active = 0
        self._cond = asyncio.Condition()
        self._interval = (1.0 + margin) / per_second
        self._next = -math.inf  # the monotonic time the next call may start

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
            if now >= self._next:
                # (from now, not from the last due time: a late wake-up never shortens the
                # next gap below 1/M)
                self._next = now + self._interval
                return
            await asyncio.sleep(self._next - now)
