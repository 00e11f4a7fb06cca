"""The FastAGI server: Asterisk connects here once per call and the call's flow runs on the
connection.

Why not panoramisk's ``fast_agi``: it is small, and reading it (panoramisk 1.4) showed that a
workaround would have to replace nearly all of it:

* its environment loop (``while b'\\n\\n' not in buffer: buffer += await reader.read(100)``)
  spins forever when Asterisk closes the connection during the block (read returns b'');
* it routes on the exact ``agi_network_script`` string, query string included, so
  ``inbound?lang=en`` finds no route;
* ``HANGUP`` is parsed as the result of the running command (``AGIResultHangup``) and the real
  result line is left in the buffer, so every later reply is off by one (capture 14 has the
  notice between ``GET VARIABLE`` and its result);
* a ``520`` usage error reads one extra line only, but Asterisk sends several;
* ``add_route`` wraps plain functions with ``asyncio.coroutine``, which Python 3.11 removed.

So this is a small asyncio server of our own: one task per connection, the environment read
under a timeout, and a reader task per call that separates ``HANGUP`` notices from results
(so a hang-up is seen even while the flow is waiting for an agent and no command is running).
Every way a call can end (hang-up mid-command, a closed socket, 510/511/520, a bug in a flow)
ends that session only; it is logged and the server goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ivr.channel import AgiChannel, AgiCommandError, AgiHangup
from ivr.protocol import (
    HANGUP_NOTICE,
    AgiEnvironment,
    AgiProtocolError,
    AgiReply,
    build_environment,
    parse_env_line,
    parse_result,
)

log = logging.getLogger(__name__)

MAX_ENV_LINES = 256
LINE_LIMIT = 64 * 1024

SessionHandler = Callable[[AgiChannel], Awaitable[None]]


class AgiApplication(Protocol):
    def resolve(self, env: AgiEnvironment) -> SessionHandler | None:
        """The handler for this request (by its script path), or None if there is none."""
        ...


class EnvironmentIncomplete(Exception):
    """The connection closed (or sent garbage) before the environment block ended."""


class FastAgiChannel(AgiChannel):
    """An AGI channel over one FastAGI connection."""

    def __init__(
        self,
        env: AgiEnvironment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        hangup_grace: float = 0.3,
    ) -> None:
        super().__init__(env, hangup_grace=hangup_grace)
        self._reader = reader
        self._writer = writer
        self._replies: asyncio.Queue[AgiReply | None] = asyncio.Queue()
        self._pending = 0
        self.first_command_at: float | None = None  # loop time the first command was written
        self._lock = asyncio.Lock()
        self.closed = False
        self._read_task = asyncio.get_running_loop().create_task(
            self._read_loop(), name=f"agi-read:{self.label}"
        )

    async def _readline(self) -> str | None:
        raw = await self._reader.readline()
        if not raw:
            return None
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _read_loop(self) -> None:
        try:
            while True:
                line = await self._readline()
                if line is None:
                    log.info("%s: Asterisk closed the connection", self.label)
                    return
                if line == HANGUP_NOTICE:
                    if not self.hung_up.is_set():
                        log.info("%s: HANGUP notice: the caller hung up or was redirected", self.label)
                    self.hung_up.set()
                    continue
                if line.startswith("100 "):
                    continue  # "100 result=0 Trying..." (GOSUB); the result follows
                if line.startswith("520-"):
                    reply = await self._read_usage(line)
                    if reply is None:
                        return
                else:
                    try:
                        reply = parse_result(line)
                    except AgiProtocolError as exc:
                        log.warning("%s: ignored: %s", self.label, exc)
                        continue
                if self._pending <= 0:
                    log.warning("%s: result with no command waiting, ignored: %r", self.label, line)
                    continue
                self._replies.put_nowait(reply)
        except (ConnectionError, ValueError, asyncio.IncompleteReadError) as exc:
            # ValueError: a line longer than the stream limit
            log.warning("%s: connection failed: %s", self.label, exc)
        finally:
            self.closed = True
            self.hung_up.set()
            self._replies.put_nowait(None)

    async def _read_usage(self, first: str) -> AgiReply | None:
        """A 520 usage error: ``520-...``, plain lines, then ``520 End of proper usage.``."""
        lines = [first]
        while True:
            line = await self._readline()
            if line is None:
                return None
            lines.append(line)
            if line.startswith("520 "):
                usage = "\n".join(lines[1:-1])
                return AgiReply(code=520, result="", data=usage, line=first)

    async def _transact(self, line: str) -> AgiReply:
        async with self._lock:
            if self.closed:
                raise AgiHangup("connection closed")
            self._pending += 1
            if self.first_command_at is None:
                self.first_command_at = asyncio.get_running_loop().time()
            try:
                self._writer.write(line.encode("utf-8") + b"\n")
                await self._writer.drain()
                reply = await self._replies.get()
            except ConnectionError as exc:
                raise AgiHangup(f"connection lost: {exc}") from None
            finally:
                self._pending -= 1
            if reply is None:
                self._replies.put_nowait(None)  # keep the end marker for any later command
                raise AgiHangup("connection closed")
            return reply

    async def close(self) -> None:
        self._read_task.cancel()
        try:
            await self._read_task
        except asyncio.CancelledError:
            pass
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
        except (TimeoutError, ConnectionError, OSError):
            pass


async def read_environment(
    reader: asyncio.StreamReader, *, max_lines: int = MAX_ENV_LINES
) -> AgiEnvironment:
    """Read the ``agi_*`` lines up to the empty line, in one read when they come together (as
    Asterisk sends them). Raises EnvironmentIncomplete when the connection closes first or the
    block is not an AGI environment."""
    try:
        block = await reader.readuntil(b"\n\n")
    except asyncio.IncompleteReadError as exc:
        lines_read = exc.partial.count(b"\n")
        raise EnvironmentIncomplete(f"connection closed after {lines_read} lines") from None
    except asyncio.LimitOverrunError:
        raise EnvironmentIncomplete(f"no end of the environment within {LINE_LIMIT} bytes") from None
    except ConnectionError as exc:
        raise EnvironmentIncomplete(str(exc)) from None
    lines = block.decode("utf-8", "replace").split("\n")[:-2]
    if not lines:
        raise EnvironmentIncomplete("empty environment")
    if len(lines) > max_lines:
        raise EnvironmentIncomplete(f"more than {max_lines} environment lines")
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        parsed = parse_env_line(line.rstrip("\r"))
        if parsed is None:
            raise EnvironmentIncomplete(f"line {number} is not an agi_ variable: {line[:80]!r}")
        values[parsed[0]] = parsed[1]
    return build_environment(values)


@dataclass
class ServerStats:
    connections: int = 0
    sessions: int = 0
    active: int = 0
    env_failures: int = 0
    unrouted: int = 0
    hangups: int = 0
    command_errors: int = 0
    crashes: int = 0
    # Seconds from accepting a connection to writing its first command, for the latest
    # sessions: how long Asterisk's channel waits on hotline before anything happens; and the
    # part of it spent waiting for Asterisk's environment block.
    first_command_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    environment_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


class FastAgiServer:
    """Accepts FastAGI connections and runs each call's handler in its own task."""

    def __init__(
        self,
        app: AgiApplication,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        env_timeout: float = 5.0,
        hangup_grace: float = 0.3,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.env_timeout = env_timeout
        self.hangup_grace = hangup_grace
        self.stats = ServerStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self.port, limit=LINE_LIMIT
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("FastAGI listening on %s:%d", self.host, self.port)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting calls; give running calls ``grace`` seconds, then cancel them."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._session(reader, writer, loop.time()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, accepted: float
    ) -> None:
        self.stats.connections += 1
        peer = writer.get_extra_info("peername")
        try:
            env = await asyncio.wait_for(read_environment(reader), self.env_timeout)
        except EnvironmentIncomplete as exc:
            self.stats.env_failures += 1
            log.warning("FastAGI connection from %s dropped during the environment block: %s", peer, exc)
            await _close(writer)
            return
        except TimeoutError:
            self.stats.env_failures += 1
            log.warning("FastAGI connection from %s sent no complete environment in %.1f s", peer, self.env_timeout)
            await _close(writer)
            return
        environment_read = asyncio.get_running_loop().time()
        handler = self.app.resolve(env)
        if handler is None:
            self.stats.unrouted += 1
            log.error(
                "no call flow for AGI script %r (request %s, channel %s); the call goes back to the dialplan",
                env.script, env.get("agi_request"), env.channel,
            )
            await _close(writer)
            return
        channel = FastAgiChannel(env, reader, writer, hangup_grace=self.hangup_grace)
        self.stats.sessions += 1
        self.stats.active += 1
        try:
            await handler(channel)
        except AgiHangup as exc:
            self.stats.hangups += 1
            log.info("%s: session ended, caller gone (%s)", channel.label, exc)
        except AgiCommandError as exc:
            self.stats.command_errors += 1
            log.error("%s: session ended: %s", channel.label, exc)
        except asyncio.CancelledError:
            log.info("%s: session cancelled (server stopping)", channel.label)
            raise
        except Exception:
            self.stats.crashes += 1
            log.exception("%s: session failed", channel.label)
        finally:
            self.stats.active -= 1
            if channel.first_command_at is not None:
                self.stats.first_command_seconds.append(channel.first_command_at - accepted)
                self.stats.environment_seconds.append(environment_read - accepted)
            await channel.close()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (TimeoutError, ConnectionError, OSError):
        pass
