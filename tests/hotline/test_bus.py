"""The event bus keeps the publisher free: full queues drop and count, failures are logged."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest

from hotline.bus import EventBus
from hotline.domain.events import CallEnded, LinkStateChanged

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def ended(n: int) -> CallEnded:
    return CallEnded(at=NOW, call_key=f"pbx1:{n}", disposition="answered", hangup_cause=16,
                     end_reason="caller-hangup", abnormal=False)


async def test_every_subscriber_gets_the_events_it_asked_for() -> None:
    bus = EventBus()
    calls: list[str] = []
    links: list[bool] = []

    async def on_call(e):  # type: ignore[no-untyped-def]
        calls.append(e.call_key)

    bus.subscribe("calls", on_call, kinds=(CallEnded,))
    bus.subscribe("links", lambda e: links.append(e.up), kinds=(LinkStateChanged,))
    await bus.start()
    bus.publish(ended(1))
    bus.publish(LinkStateChanged(at=NOW, up=False))
    bus.publish(ended(2))
    await bus.stop()
    assert calls == ["pbx1:1", "pbx1:2"]
    assert links == [False]


async def test_slow_subscriber_never_blocks_publisher(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    release = asyncio.Event()
    seen: list[str] = []

    async def slow(e):  # type: ignore[no-untyped-def]
        await release.wait()
        seen.append(e.call_key)

    bus.subscribe("slow", slow, maxsize=5)
    fast: list[str] = []
    bus.subscribe("fast", lambda e: fast.append(e.call_key))
    await bus.start()
    with caplog.at_level(logging.WARNING):
        for n in range(100):
            bus.publish(ended(n))  # returns at once although "slow" is stuck
    await asyncio.sleep(0.01)
    assert len(fast) == 100
    stats = bus.stats()
    assert stats["slow"].dropped >= 90
    assert "subscriber slow is behind" in caplog.text
    release.set()
    await bus.stop()
    assert stats["slow"].delivered == len(seen) == 100 - stats["slow"].dropped


async def test_failing_subscriber_is_logged_and_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[int] = []

    def flaky(e):  # type: ignore[no-untyped-def]
        n = int(e.call_key.split(":")[1])
        if n == 1:
            raise RuntimeError("boom")
        got.append(n)

    bus.subscribe("flaky", flaky)
    await bus.start()
    with caplog.at_level(logging.ERROR):
        for n in range(3):
            bus.publish(ended(n))
        await bus.join()
    await bus.stop()
    assert got == [0, 2]
    assert bus.stats()["flaky"].errors == 1
    assert "subscriber flaky failed on CallEnded" in caplog.text
