"""One AMI TCP connection: banner, action queue (one action at a time, like Asterisk's session
thread), buffered output, and the hooks the fault injector uses."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from typing import TYPE_CHECKING

from pbxsim.ami.hub import parse_classes
from pbxsim.ami.wire import BANNER_VERSION, ActionMessage, Headers, LineReader, encode

if TYPE_CHECKING:
    from pbxsim.ami.server import AmiServer

log = logging.getLogger("pbxsim.ami")

MAX_BUFFERED = 64 * 1024 * 1024  # a client this far behind is cut off, like writetimeout


class AmiSession(asyncio.Protocol):
    def __init__(self, server: AmiServer) -> None:
        self.server = server
        self.sim = server.sim
        self.transport: asyncio.Transport | None = None
        self.reader = LineReader()
        self.actions: asyncio.Queue[ActionMessage] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.user: str | None = None
        self.read_classes: frozenset[str] = frozenset()
        self.write_classes: frozenset[str] = frozenset()
        self.event_classes: frozenset[str] = frozenset()  # what this session receives now
        self.challenge: str | None = None
        self.session_id = f"0x{random.getrandbits(44):x}"
        self.session_tv: float | None = None
        self.local_addr = ("127.0.0.1", 0)
        self.remote_addr = ("127.0.0.1", 0)
        self.closed = False
        self.silent = False  # half-open: neither reads nor writes
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._split_queue: asyncio.Queue[bytes] | None = None
        self._split_task: asyncio.Task[None] | None = None
        self._closing_after_flush = False

    # ---- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.local_addr = transport.get_extra_info("sockname") or self.local_addr
        self.remote_addr = transport.get_extra_info("peername") or self.remote_addr
        self.server.sessions.add(self)
        self.worker = asyncio.get_running_loop().create_task(self._work(), name="ami session")
        faults = self.sim.faults
        if faults.silent:
            self.go_silent()
            return
        self.write(f"Asterisk Call Manager/{BANNER_VERSION}\r\n".encode())

    def data_received(self, data: bytes) -> None:
        if self.silent:
            return
        for msg in self.reader.feed(data):
            self.actions.put_nowait(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.sim.hub.sessions.discard(self)
        self.server.sessions.discard(self)
        if self.worker is not None:
            self.worker.cancel()
        if self._split_task is not None:
            self._split_task.cancel()

    # ---- actions --------------------------------------------------------------------------
    async def _work(self) -> None:
        from pbxsim.ami.actions import dispatch

        while not self.closed:
            msg = await self.actions.get()
            try:
                await dispatch(self, msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an action must never kill the session
                log.exception("AMI action %r failed", msg.action)
                self.sim.errors.append(exc)
                self.respond(msg, "Error", [("Message", "Internal error")])

    # ---- login state --------------------------------------------------------------------
    @property
    def authenticated(self) -> bool:
        return self.user is not None

    def login(self, user: str, read: str, write: str, events: str | None) -> None:
        self.user = user
        self.session_tv = self.sim.clock.wall()
        self.read_classes = parse_classes(read)
        self.write_classes = parse_classes(write)
        self.set_events(events if events is not None else "on")
        self.sim.hub.sessions.add(self)

    def set_events(self, mask: str) -> bool:
        """Events header / action: on, off, or a class list. Returns whether events are on."""
        value = mask.strip().lower()
        if value in ("on", "yes", "true", "1", "all"):
            self.event_classes = self.read_classes
        elif value in ("off", "no", "false", "0", ""):
            self.event_classes = frozenset()
        else:
            self.event_classes = self.read_classes & parse_classes(value)
        return bool(self.event_classes)

    def may_write(self, *classes: str) -> bool:
        return any(c in self.write_classes for c in classes)

    # ---- output ---------------------------------------------------------------------------
    def respond(self, msg: ActionMessage, response: str, extra: Headers = ()) -> None:  # type: ignore[assignment]
        headers: Headers = [("Response", response)]
        action_id = msg.action_id
        if action_id is not None:
            headers.append(("ActionID", action_id))
        headers.extend(extra)
        self.reply(encode(headers))

    def reply(self, data: bytes) -> None:
        """A response (delayed while the delay fault is on; events are not)."""
        delay = self.sim.faults.reply_delay
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.write, data)
        else:
            self.write(data)

    def send_event(self, data: bytes) -> None:
        self.write(data)

    def write(self, data: bytes) -> None:
        if self.closed or self.silent or self.transport is None:
            return
        faults = self.sim.faults
        if faults.split is not None or (self._split_queue is not None and not self._split_queue.empty()):
            self._write_split(data, faults.split)
            return
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.closed or self.transport is None or not self._out:
            self._maybe_close()
            return
        data = b"".join(self._out)
        self._out.clear()
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > MAX_BUFFERED:
            log.warning("AMI client %s is not reading: disconnecting it", self.remote_addr)
            self.transport.abort()
            return
        self._maybe_close()

    def _write_split(self, data: bytes, mode: str | None) -> None:
        if self._split_queue is None:
            self._split_queue = asyncio.Queue()
            self._split_task = asyncio.get_running_loop().create_task(self._split_writer())
        if self._out:  # keep order with what was buffered before the fault
            self._split_queue.put_nowait(b"".join(self._out))
            self._out.clear()
        if mode is None:
            self._split_queue.put_nowait(data)
        elif mode == "byte":
            for i in range(len(data)):
                self._split_queue.put_nowait(data[i : i + 1])
        else:
            cut = self.sim.faults.rng.randrange(1, len(data)) if len(data) > 1 else 1
            self._split_queue.put_nowait(data[:cut])
            self._split_queue.put_nowait(data[cut:])

    async def _split_writer(self) -> None:
        assert self._split_queue is not None
        while not self.closed:
            chunk = await self._split_queue.get()
            if self.transport is None or self.closed or self.silent:
                continue
            self.transport.write(chunk)
            pause = self.sim.faults.split_pause
            await asyncio.sleep(pause)
            if self._split_queue.empty():
                self._maybe_close()

    def _maybe_close(self) -> None:
        if self._closing_after_flush and not self._out and (self._split_queue is None or self._split_queue.empty()):
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()

    def close_after_output(self) -> None:
        """Logoff / failed login: close once what was written has gone out."""
        self._closing_after_flush = True
        if not self._flush_scheduled:
            asyncio.get_running_loop().call_soon(self._maybe_close)

    def drop(self, abort: bool = True) -> None:
        if self.transport is None:
            return
        self.closed = True
        if abort:
            self.transport.abort()
        else:
            self.transport.close()

    def go_silent(self) -> None:
        self.silent = True
        if self.transport is not None:
            self.transport.pause_reading()

    def recover(self) -> None:
        if not self.silent:
            return
        self.silent = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def raw(self, data: bytes) -> None:
        """Bytes as they are, bypassing framing (malformed-frame faults)."""
        if self.transport is not None and not self.closed and not self.silent:
            if self._out:
                self._flush()
            self.transport.write(data)
