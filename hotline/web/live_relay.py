"""The live feed across processes, through PostgreSQL ``LISTEN/NOTIFY``.

A browser's ``/api/live`` stream is served by whichever web process it reached, but the events
come from the bridge of one ``hotline serve`` process. So every process with a bridge
*publishes* its live events on the channel ``hotline_live`` and every web process *listens*
there and feeds its own :class:`~hotline.web.live.LiveFeed`.

What travels is the payload the browser gets (built by the publisher's
:class:`~hotline.web.live.LivePayloads`, which remembers each call's caller like a local feed),
not the domain event: a web process that started mid-call still shows the caller's number, the
JSON a browser gets is the same wherever it connected, and no event class has to be rebuilt
from JSON. Each notification is ``{"origin": <process>, "seq": <n>, "payload": {...}}``; a
process drops its own (its local feed already had them) and counts gaps in ``seq``.

The publisher never holds up the bus: it queues text for a thread that sends batches (one
``SELECT pg_notify(...) FROM unnest(...)`` per batch, one round trip and one transaction), and
drops and counts what it cannot send (database away, queue full, payload too large for
PostgreSQL's 8,000-byte limit), logging at most once in a while. The listener is one asyncio
task on its own connection that reconnects with back-off. Events sent while a listener was
disconnected are lost to its browsers (a live feed, not a log: the pages read their state
from the API when they load).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine

from hotline.bus import EventBus
from hotline.db.errors import first_line
from hotline.domain.events import DomainEvent
from hotline.settings import Settings
from hotline.web.live import KINDS, LiveFeed, LivePayloads

log = logging.getLogger(__name__)

CHANNEL = "hotline_live"
# PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more; keep a margin.
MAX_NOTIFY_BYTES = 7_500
_NOTIFY_BATCH = (
    "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n"
)
_REMEMBERED_ORIGINS = 1_000


def relay_enabled(settings: Settings, engine: Engine) -> bool:
    """``web.live_relay = "auto"`` on PostgreSQL; SQLite is one process and needs none."""
    return settings.web.live_relay == "auto" and engine.dialect.name == "postgresql"


def conninfo_of(engine: Engine, **extra: Any) -> str:
    """A libpq connection string for the engine's database (password included; never log)."""
    url = engine.url
    params: dict[str, Any] = {"application_name": "hotline-live-relay"}
    params.update({k: (v[-1] if isinstance(v, tuple) else v) for k, v in url.query.items()})
    params.update(host=url.host, port=url.port, user=url.username, password=url.password,
                  dbname=url.database, **extra)
    return make_conninfo("", **params)


def new_origin() -> str:
    """A name for this process's relay that no other process shares (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class _Throttled:
    """Logs a warning at most once per ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -float("inf")

    def warning(self, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            log.warning(msg, *args)


@dataclass
class PublisherStats:
    sent: int = 0
    batches: int = 0
    dropped_offline: int = 0  # the database was away or refused the batch
    dropped_full: int = 0  # more waiting than max_pending
    dropped_oversize: int = 0  # larger than MAX_NOTIFY_BYTES

    @property
    def dropped(self) -> int:
        return self.dropped_offline + self.dropped_full + self.dropped_oversize


class LiveRelayPublisher:
    """Bus subscriber of a process with a bridge: its live events to ``hotline_live``."""

    def __init__(
        self, conninfo: str, *, origin: str, max_pending: int = 10_000, batch_max: int = 500,
        retry_seconds: float = 2.0, max_bytes: int = MAX_NOTIFY_BYTES, log_every: float = 30.0,
    ) -> None:
        self.conninfo = conninfo
        self.origin = origin
        self.stats = PublisherStats()
        self._payloads = LivePayloads()
        self._pending: queue.Queue[str] = queue.Queue(maxsize=max_pending)
        self._batch_max = batch_max
        self._retry_seconds = retry_seconds
        self._max_bytes = max_bytes
        self._seq = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0
        self._warn = _Throttled(log_every)

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe("live-relay", self.handle, kinds=KINDS)

    def handle(self, event: DomainEvent) -> None:
        self.offer(self._payloads.build(event))

    def offer(self, payload: dict[str, Any]) -> bool:
        """Queue one browser payload for sending; False (and counted) if it was dropped."""
        self._seq += 1
        text = json.dumps({"origin": self.origin, "seq": self._seq, "payload": payload},
                          ensure_ascii=False, separators=(",", ":"), default=str)
        size = len(text.encode())
        if size > self._max_bytes:
            self.stats.dropped_oversize += 1
            self._warn.warning("live relay: a %s event of %d bytes is over the %d-byte limit "
                               "and was not relayed (%d so far)", payload.get("type"), size,
                               self._max_bytes, self.stats.dropped_oversize)
            return False
        try:
            self._pending.put_nowait(text)
        except queue.Full:
            self.stats.dropped_full += 1
            self._warn.warning("live relay: %d events waiting, %d dropped so far (database "
                               "slow or away)", self._pending.qsize(), self.stats.dropped)
            return False
        return True

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="live-relay", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (unless the database is away), then close."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        self._thread = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.stop)

    def _run(self) -> None:
        try:
            while True:
                try:
                    first = self._pending.get(timeout=0.2)
                except queue.Empty:
                    if self._stopping.is_set():
                        return
                    continue
                batch = [first]
                while len(batch) < self._batch_max:
                    try:
                        batch.append(self._pending.get_nowait())
                    except queue.Empty:
                        break
                self._send(batch)
        finally:
            self._close()

    def _send(self, batch: list[str]) -> None:
        for attempt in (1, 2):  # a connection the server dropped since is replaced once
            fresh = self._conn is None
            conn = self._connection()
            if conn is None:
                break
            try:
                conn.execute(_NOTIFY_BATCH, (CHANNEL, batch))
            except psycopg.Error as exc:
                self._close()
                if fresh or attempt == 2:
                    self._retry_at = time.monotonic() + self._retry_seconds
                    self._warn.warning("live relay: sending failed (%s)", first_line(exc))
                    break
                continue
            self.stats.sent += len(batch)
            self.stats.batches += 1
            return
        self.stats.dropped_offline += len(batch)
        self._warn.warning("live relay: database away, %d events dropped so far",
                           self.stats.dropped_offline)

    def _connection(self) -> psycopg.Connection[Any] | None:
        if self._conn is not None:
            return self._conn
        if time.monotonic() < self._retry_at:
            return None
        try:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            self._retry_at = time.monotonic() + self._retry_seconds
            self._warn.warning("live relay: cannot connect (%s)", first_line(exc))
            return None
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


@dataclass
class ListenerStats:
    received: int = 0
    delivered: int = 0
    own: int = 0  # this process's own events, already fed locally
    malformed: int = 0
    missed: int = 0  # gaps in another process's sequence (sent while disconnected)
    connects: int = 0


class LiveRelayListener:
    """One connection that ``LISTEN``s on ``hotline_live`` and feeds this process's feed."""

    def __init__(
        self, conninfo: str, feed: LiveFeed, *, ignore_origin: str | None = None,
        backoff_min: float = 0.5, backoff_max: float = 10.0, log_every: float = 30.0,
    ) -> None:
        self.conninfo = conninfo
        self.feed = feed
        self.ignore_origin = ignore_origin
        self.stats = ListenerStats()
        self.listening = asyncio.Event()  # set while LISTEN is in place
        self._backoff = (backoff_min, backoff_max)
        self._last_seq: OrderedDict[str, int] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._warn = _Throttled(log_every)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.listening.clear()

    async def __aenter__(self) -> LiveRelayListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        delay = self._backoff[0]
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=5,
                    keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.stats.connects += 1
                    if self.stats.connects > 1:
                        log.info("live relay: listening again")
                    self.listening.set()
                    delay = self._backoff[0]
                    async for note in conn.notifies():
                        self._receive(note.payload)
            except (psycopg.Error, OSError) as exc:
                self._warn.warning("live relay: listener lost its connection (%s); retrying",
                                   first_line(exc))
            except Exception:  # never let the feed die quietly: log, reconnect
                log.exception("live relay: listener failed; reconnecting")
            finally:
                self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    def _receive(self, text: str) -> None:
        self.stats.received += 1
        try:
            note = json.loads(text)
            origin, seq, payload = note["origin"], int(note["seq"]), note["payload"]
            if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
                raise ValueError("no payload type")
        except (ValueError, KeyError, TypeError) as exc:
            self.stats.malformed += 1
            self._warn.warning("live relay: ignored a malformed notification (%s)", exc)
            return
        if origin == self.ignore_origin:
            self.stats.own += 1
            return
        last = self._last_seq.get(origin)
        if last is not None and seq > last + 1:
            self.stats.missed += seq - last - 1
            self._warn.warning("live relay: %d events from %s were missed", seq - last - 1,
                               origin)
        self._last_seq[origin] = seq
        self._last_seq.move_to_end(origin)
        while len(self._last_seq) > _REMEMBERED_ORIGINS:
            self._last_seq.popitem(last=False)
        self.feed.deliver(payload)
        self.stats.delivered += 1


def live_feed_of(app: Any) -> LiveFeed:
    """The app's live feed, given one if it has none: a web process without a bus (``hotline
    web``) gets its live events from the relay only."""
    web = app.state.web
    if web.live is None:
        web.live = LiveFeed()
    return web.live  # type: ignore[no-any-return]
