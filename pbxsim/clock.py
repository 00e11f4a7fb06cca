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
    def __init__(self, speed: float = 1.0, *, client_time: str = "simulated") -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive (got {speed})")
        if client_time not in ("simulated", "real"):
            raise ValueError(f"client_time must be 'simulated' or 'real' (got {client_time!r})")
        self.speed = float(speed)
        self.client_time = client_time
        self._t0 = time.monotonic()
        self.started_wall = time.time()

    def now(self) -> float:
        """Simulated seconds since the clock was made."""
        return (time.monotonic() - self._t0) * self.speed

    @staticmethod
    def wall() -> float:
        return time.time()

    def from_client(self, seconds: float) -> float:
        """Simulated seconds for a duration a client sent (an AGI or AMI timeout).

        A client that runs compressed by the same factor (hotline in the end-to-end tests,
        with its ring period divided by ``speed``) sends durations that are already real
        seconds: ``client_time="real"`` turns them into simulated seconds so they are not
        compressed twice. Durations written in the dialplan are the PBX's own and stay
        simulated.
        """
        return seconds * self.speed if self.client_time == "real" else seconds

    def real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take."""
        return max(0.0, sim_seconds) / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real(sim_seconds))
