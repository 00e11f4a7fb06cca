"""Simulated time: every call-related duration is divided by ``speed``.

Durations the PBX reports (ring cadence, prompt lengths, talk times, DIALEDTIME, Cdr Duration,
Originate timeouts) are in *simulated* seconds, so ring counts stay right at any speed.
Absolute timestamps (Uniqueid epochs, Cdr times, truth-log ``*_at``) are real wall-clock time,
so they compare directly with what the bridge stores.
"""

from __future__ import annotations

import asyncio
import time


class SimClock:
    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive (got {speed})")
        self.speed = float(speed)
        self._t0 = time.monotonic()
        self.started_wall = time.time()

    def now(self) -> float:
        """Simulated seconds since the clock was made."""
        return (time.monotonic() - self._t0) * self.speed

    @staticmethod
    def wall() -> float:
        return time.time()

    def real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take."""
        return max(0.0, sim_seconds) / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real(sim_seconds))
