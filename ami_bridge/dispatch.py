"""Delivery of AMI events to the code that follows them, with every task owned.

Plain functions are called inline, in arrival order, by the reader: this is where the state
machine sits, and it must see events in order and at once. A coroutine function gets a
bounded queue and one worker task of its own, so a slow one never stalls the reader, and its
exceptions are logged and counted instead of vanishing in an un-awaited task (panoramisk
starts coroutine callbacks with ``ensure_future`` and forgets them). :meth:`close` lets each
worker finish what is queued and awaits it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ami_bridge.frames import AmiMessage, RawFilter

log = logging.getLogger(__name__)

SyncHandler = Callable[[AmiMessage], Any]
AsyncHandler = Callable[[AmiMessage], Awaitable[Any]]
_STOP = object()


@dataclass
class HandlerStats:
    delivered: int = 0
    errors: int = 0
    dropped: int = 0


@dataclass
class _AsyncListener:
    name: str
    handler: AsyncHandler
    names: frozenset[str] | None
    queue: asyncio.Queue[Any]
    stats: HandlerStats = field(default_factory=HandlerStats)
    task: asyncio.Task[None] | None = None
    last_drop_log: float = 0.0


@dataclass
class _SyncListener:
    name: str
    handler: SyncHandler
    names: frozenset[str] | None
    stats: HandlerStats = field(default_factory=HandlerStats)


class EventDispatcher:
    def __init__(self) -> None:
        self._sync: list[_SyncListener] = []
        self._async: list[_AsyncListener] = []
        self._closed = False
        # which events anyone wants: None = every event; else name -> raw filter (None: all)
        self._interest: dict[bytes, RawFilter | None] | None = {}

    @property
    def interest(self) -> dict[bytes, RawFilter | None] | None:
        """Event names (as bytes) some handler wants, each with a raw filter or None; None
        if some handler wants every event. The reader skips the rest without parsing."""
        return self._interest

    def _note_interest(self, names: tuple[str, ...] | None, raw_filters: dict[str, RawFilter] | None) -> None:
        if names is None or self._interest is None:
            self._interest = None
            return
        for name in names:
            key = name.encode()
            new = (raw_filters or {}).get(name)
            if key not in self._interest:
                self._interest[key] = new
                continue
            old = self._interest[key]
            if old is None or new is None:
                self._interest[key] = None
            else:
                self._interest[key] = _either(old, new)

    def add(
        self,
        handler: SyncHandler | AsyncHandler,
        *,
        name: str | None = None,
        events: tuple[str, ...] | None = None,
        raw_filters: dict[str, RawFilter] | None = None,
        maxsize: int = 10_000,
    ) -> HandlerStats:
        """Register a handler for all events (or only the named ones; ``raw_filters`` may
        narrow some of those further by a look at the raw bytes)."""
        label = name or getattr(handler, "__qualname__", repr(handler))
        names = frozenset(events) if events else None
        self._note_interest(events or None, raw_filters)
        if inspect.iscoroutinefunction(handler):
            listener = _AsyncListener(label, handler, names, asyncio.Queue(maxsize))
            self._async.append(listener)
            listener.task = asyncio.get_running_loop().create_task(
                self._pump(listener), name=f"ami-dispatch:{label}"
            )
            return listener.stats
        sync = _SyncListener(label, handler, names)
        self._sync.append(sync)
        return sync.stats

    def dispatch(self, message: AmiMessage) -> None:
        """Deliver one event; never raises, never blocks."""
        event = message.headers.get("Event", "")
        for listener in self._sync:
            if listener.names is not None and event not in listener.names:
                continue
            try:
                result = listener.handler(message)
                if inspect.isawaitable(result):
                    # A plain function that returned an awaitable: refuse to leave it
                    # running unowned.
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                    raise TypeError(
                        f"handler {listener.name} returned an awaitable; register an "
                        "async def handler instead"
                    )
                listener.stats.delivered += 1
            except Exception:
                listener.stats.errors += 1
                log.exception("AMI event handler %s failed on %s", listener.name, event)
        for alistener in self._async:
            if alistener.names is not None and event not in alistener.names:
                continue
            try:
                alistener.queue.put_nowait(message)
            except asyncio.QueueFull:
                alistener.stats.dropped += 1
                now = time.monotonic()
                if now - alistener.last_drop_log > 1.0:
                    alistener.last_drop_log = now
                    log.warning(
                        "AMI event handler %s is behind: %d events dropped so far",
                        alistener.name, alistener.stats.dropped,
                    )

    async def _pump(self, listener: _AsyncListener) -> None:
        while True:
            item = await listener.queue.get()
            try:
                if item is _STOP:
                    return
                await listener.handler(item)
                listener.stats.delivered += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                listener.stats.errors += 1
                log.exception(
                    "AMI event handler %s failed on %s",
                    listener.name, item.headers.get("Event", "?"),
                )
            finally:
                listener.queue.task_done()

    async def join(self) -> None:
        """Wait until every async handler has handled everything dispatched so far."""
        for listener in self._async:
            await listener.queue.join()

    async def close(self, timeout: float = 10.0) -> None:
        """Let async handlers finish what is queued (up to ``timeout``), then stop them."""
        if self._closed:
            return
        self._closed = True
        tasks = []
        for listener in self._async:
            if listener.task is None:
                continue
            await listener.queue.put(_STOP)
            tasks.append(listener.task)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.warning("AMI event handler task %s did not finish in time", task.get_name())
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for listener in self._async:
            listener.task = None

    def stats(self) -> dict[str, HandlerStats]:
        found: dict[str, HandlerStats] = {s.name: s.stats for s in self._sync}
        found.update({a.name: a.stats for a in self._async})
        return found


def _either(a: RawFilter, b: RawFilter) -> RawFilter:
    def both(src: bytes | bytearray, start: int, end: int) -> bool:
        return a(src, start, end) or b(src, start, end)

    return both
