"""Ring arithmetic of rule 1.1 with the mainland-China cadence (1 s on, 4 s off)."""

from __future__ import annotations

import pytest

from hotline.domain.ring import RingClass, RingPolicy


@pytest.mark.parametrize(
    ("elapsed", "ring"),
    [(0.0, 1), (4.99, 1), (5.0, 2), (10.0, 3), (14.999, 3), (20.0, 5), (24.99, 5), (25.0, 6)],
)
def test_ring_n_covers_its_period(elapsed: float, ring: int) -> None:
    assert RingPolicy().ring_at(elapsed) == ring


def test_answer_inside_ring_3_and_deadline_at_end_of_ring_5() -> None:
    p = RingPolicy()
    assert p.ring_at(p.answer_delay()) == 3
    assert p.answer_delay() == pytest.approx(10.5)
    assert p.deadline() == 25.0
    assert p.ring_at(p.deadline()) == 6


def test_compressed_time_keeps_ring_counts() -> None:
    fast = RingPolicy(on_seconds=0.1, off_seconds=0.4)
    assert fast.period == pytest.approx(0.5)
    assert fast.ring_at(fast.answer_delay()) == 3
    assert fast.deadline() == pytest.approx(2.5)


def test_classification() -> None:
    p = RingPolicy()
    assert [p.classify(n) for n in (1, 2, 3, 5, 6)] == [
        RingClass.EARLY, RingClass.EARLY, RingClass.IN_WINDOW, RingClass.IN_WINDOW, RingClass.LATE
    ]
