"""The ring-3-to-5 answer policy (rule 1.1) as arithmetic on the ring cadence.

With ring period P, ring n covers [(n-1)·P, n·P) after ringing starts. A call is answered no
earlier than ring ``min_ring`` and no later than ring ``max_ring``; a phone still ringing at
``max_ring``·P loses the call. The IVR asks :meth:`RingPolicy.answer_delay` when to answer,
the bridge asks :meth:`RingPolicy.deadline` when to take a call from a ringing agent, and the
reports classify every answer with :meth:`RingPolicy.classify`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from hotline.settings import RingSettings


class RingClass(StrEnum):
    EARLY = "early"  # before min_ring
    IN_WINDOW = "in_window"
    LATE = "late"  # after max_ring


@dataclass(frozen=True)
class RingPolicy:
    on_seconds: float = 1.0
    off_seconds: float = 4.0
    min_ring: int = 3
    max_ring: int = 5

    @classmethod
    def from_settings(cls, ring: RingSettings) -> RingPolicy:
        return cls(ring.on_seconds, ring.off_seconds, ring.answer_min_ring, ring.answer_max_ring)

    @property
    def period(self) -> float:
        return self.on_seconds + self.off_seconds

    def ring_at(self, elapsed: float) -> int:
        """The ring (1-based) that is sounding ``elapsed`` seconds after ringing started."""
        if elapsed < 0:
            raise ValueError(f"elapsed time is negative ({elapsed})")
        # A tiny tolerance keeps 10.0 s in ring 3 despite float error in 2 * 5.0.
        return int(math.floor(elapsed / self.period + 1e-9)) + 1

    def answer_delay(self, ring: int | None = None) -> float:
        """Seconds after ringing starts to answer in ``ring`` (default ``min_ring``).

        Half way through the ring's audible burst: the caller has clearly heard that ring
        start, and the answer is well inside it whatever the timer jitter.
        """
        ring = self.min_ring if ring is None else ring
        return (ring - 1) * self.period + self.on_seconds / 2

    def deadline(self) -> float:
        """Seconds after ringing starts at which an unanswered phone loses the call."""
        return self.max_ring * self.period

    def classify(self, ring: int) -> RingClass:
        if ring < self.min_ring:
            return RingClass.EARLY
        if ring > self.max_ring:
            return RingClass.LATE
        return RingClass.IN_WINDOW
