"""In-process event bus: one bounded queue and one worker task per subscriber.

Publishing never blocks and never raises: the AMI reader publishes and goes back to reading.
A subscriber that falls behind loses events once its queue is full (counted and logged, at
most once a second); a subscriber that raises has the exception logged and keeps receiving.
Every worker task is owned and awaited by the bus, so nothing runs unawaited.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hotline.domain.events import DomainEvent

log = logging.getLogger(__name__)

Handler = Callable[[DomainEvent], Awaitable[None] | None]
_STOP = object()


@dataclass
class SubscriberStats:
    delivered: int = 0
    dropped: int = 0
    errors: int = 0


@dataclass
class Subscription:
    name: str
    handler: Handler
    kinds: tuple[type[DomainEvent], ...] | None
    queue: asyncio.Queue[Any]
    stats: SubscriberStats = field(default_factory=SubscriberStats)
    task: asyncio.Task[None] | None = None
    _last_drop_log: float = 0.0

    def wants(self, event: DomainEvent) -> bool:
        return self.kinds is None or isinstance(event, self.kinds)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._running = False

    def subscribe(
        self,
        name: str,
        handler: Handler,
        *,
        kinds: tuple[type[DomainEvent], ...] | None = None,
        maxsize: int = 10_000,
    ) -> Subscription:
        sub = Subscription(name, handler, kinds, asyncio.Queue(maxsize=maxsize))
        self._subs.append(sub)
        if self._running:
            sub.task = asyncio.get_running_loop().create_task(self._pump(sub), name=f"bus:{name}")
        return sub

    def publish(self, event: DomainEvent) -> None:
        for sub in self._subs:
            if not sub.wants(event):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.stats.dropped += 1
                now = time.monotonic()
                if now - sub._last_drop_log > 1.0:
                    sub._last_drop_log = now
                    log.warning(
                        "subscriber %s is behind: %d events dropped so far",
                        sub.name, sub.stats.dropped,
                    )

    async def start(self) -> None:
        self._running = True
        loop = asyncio.get_running_loop()
        for sub in self._subs:
            if sub.task is None:
                sub.task = loop.create_task(self._pump(sub), name=f"bus:{sub.name}")

    async def stop(self, *, drain: bool = True, timeout: float = 10.0) -> None:
        """Stop every worker; with ``drain`` each first handles what is already queued."""
        self._running = False
        tasks = []
        for sub in self._subs:
            if sub.task is None:
                continue
            if drain:
                await sub.queue.put(_STOP)
            else:
                sub.task.cancel()
            tasks.append(sub.task)
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for sub in self._subs:
            sub.task = None

    async def join(self) -> None:
        """Wait until every subscriber has handled everything published so far."""
        for sub in self._subs:
            await sub.queue.join()

    def stats(self) -> dict[str, SubscriberStats]:
        return {sub.name: sub.stats for sub in self._subs}

    async def _pump(self, sub: Subscription) -> None:
        while True:
            item = await sub.queue.get()
            try:
                if item is _STOP:
                    return
                result = sub.handler(item)
                if inspect.isawaitable(result):
                    await result
                sub.stats.delivered += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                sub.stats.errors += 1
                log.exception("subscriber %s failed on %s", sub.name, type(item).__name__)
            finally:
                sub.queue.task_done()
