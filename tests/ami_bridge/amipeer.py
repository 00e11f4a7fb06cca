"""A scripted AMI peer: an asyncio TCP server that behaves exactly as a test tells it to.

The protocol tests must reproduce specific misbehaviour (a reply that never comes, a Pong that
never comes, a banner split in two, a byte that is not UTF-8), which no simulator of a healthy
Asterisk would produce. Each accepted connection runs the test's script with a
:class:`PeerConn`; bytes sent are exactly those given (taken from the captures or from
protocol-notes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def msg(*headers: tuple[str, str]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n"


@dataclass
class PeerConn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    index: int
    actions: list[dict[str, str]] = field(default_factory=list)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_split(self, data: bytes, size: int = 1, pause: float = 0.0005) -> None:
        """Send ``data`` in pieces of ``size`` bytes, each its own TCP write."""
        for i in range(0, len(data), size):
            self.writer.write(data[i:i + size])
            await self.writer.drain()
            await asyncio.sleep(pause)

    async def read_action(self, timeout: float = 5.0) -> dict[str, str]:
        """The next action; a repeated header (``Variable``) is kept as ``Variable``,
        ``Variable#2``, ... in order."""
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        action: dict[str, str] = {}
        for line in raw.decode().split("\r\n"):
            if ": " in line:
                k, v = line.split(": ", 1)
                key, n = k, 1
                while key in action:
                    n += 1
                    key = f"{k}#{n}"
                action[key] = v
        self.actions.append(action)
        return action

    async def reply(self, action: dict[str, str], *headers: tuple[str, str]) -> None:
        aid = action.get("ActionID")
        first, rest = headers[0], headers[1:]
        parts = [first] + ([("ActionID", aid)] if aid else []) + list(rest)
        await self.send(msg(*parts))

    async def login(self, *, fully_booted: bool = True) -> dict[str, str]:
        """Banner, then accept the Login the client sends."""
        await self.send(BANNER)
        action = await self.read_action()
        assert action["Action"].lower() == "login", action
        await self.reply(action, ("Response", "Success"), ("Message", "Authentication accepted"))
        if fully_booted:
            await self.send(msg(
                ("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", "42"),
                ("LastReload", "42"), ("Status", "Fully Booted"),
            ))
        return action

    async def serve_pings(self) -> None:
        """Answer Pings (and Logoff) until the client goes away; record everything."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            while True:
                action = await self.read_action(timeout=3600)
                name = action.get("Action", "").lower()
                if name == "ping":
                    await self.reply(action, ("Response", "Success"), ("Ping", "Pong"),
                                     ("Timestamp", "1795390124.000000"))
                elif name == "logoff":
                    await self.reply(action, ("Response", "Goodbye"),
                                     ("Message", "Thanks for all the fish."))
                    self.writer.close()
                    return

    async def idle(self) -> None:
        """Keep the socket open, read and ignore everything (a half-open peer)."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await self.reader.read(4096):
                pass

    def close(self) -> None:
        self.writer.close()


Script = Callable[[PeerConn], Awaitable[None]]


class ScriptedAmi:
    """``async with ScriptedAmi(script) as peer:`` then connect to ``peer.port``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.conns: list[PeerConn] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connected = asyncio.Condition()

    async def __aenter__(self) -> ScriptedAmi:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for conn in self.conns:
            conn.writer.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConn(reader, writer, len(self.conns))
        self.conns.append(conn)
        async with self.connected:
            self.connected.notify_all()
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            await self.script(conn)

    async def wait_connections(self, n: int, timeout: float) -> bool:
        async def _wait() -> None:
            async with self.connected:
                await self.connected.wait_for(lambda: len(self.conns) >= n)

        try:
            await asyncio.wait_for(_wait(), timeout)
            return True
        except TimeoutError:
            return False

    def all_actions(self) -> list[dict[str, str]]:
        return [a for c in self.conns for a in c.actions]


class FakeAsterisk:
    """Enough of Asterisk's AMI for the Bridge: login, Ping, Logoff, CoreShowChannels,
    DeviceStateList and Hangup, with the events a test pushes. ``channels`` is what the next
    CoreShowChannels lists; every action received is kept in ``actions``."""

    def __init__(self) -> None:
        self.channels: list[list[tuple[str, str]]] = []
        self.devices: dict[str, str] = {}
        self.actions: list[dict[str, str]] = []
        self.conn: PeerConn | None = None
        self.logged_in = asyncio.Event()
        self.action_seen = asyncio.Condition()
        self.hangup_events: dict[str, bytes] = {}  # channel -> bytes to send after a Hangup
        # action name (lower case) -> coroutine(conn, action) answering it instead
        self.handlers: dict[str, Callable[[PeerConn, dict[str, str]], Awaitable[None]]] = {}

    async def script(self, conn: PeerConn) -> None:
        await conn.login()
        self.conn = conn
        self.logged_in.set()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                action = await conn.read_action(timeout=3600)
                self.actions.append(action)
                async with self.action_seen:
                    self.action_seen.notify_all()
                await self._answer(conn, action)

    async def _answer(self, conn: PeerConn, action: dict[str, str]) -> None:
        name = action.get("Action", "").lower()
        aid = action.get("ActionID", "")
        if name in self.handlers:
            await self.handlers[name](conn, action)
        elif name == "ping":
            await conn.reply(action, ("Response", "Success"), ("Ping", "Pong"), ("Timestamp", "1.0"))
        elif name == "logoff":
            await conn.reply(action, ("Response", "Goodbye"), ("Message", "Thanks for all the fish."))
            conn.close()
        elif name == "coreshowchannels":
            await conn.reply(action, ("Response", "Success"), ("EventList", "start"),
                             ("Message", "Channels will follow"))
            for chan in self.channels:
                await conn.send(msg(("Event", "CoreShowChannel"), ("ActionID", aid), *chan))
            await conn.send(msg(("Event", "CoreShowChannelsComplete"), ("ActionID", aid),
                                ("EventList", "Complete"), ("ListItems", str(len(self.channels)))))
        elif name == "devicestatelist":
            await conn.reply(action, ("Response", "Success"), ("EventList", "start"),
                             ("Message", "Device State Changes will follow"))
            for device, state in self.devices.items():
                await conn.send(msg(("Event", "DeviceStateChange"), ("ActionID", aid),
                                    ("Device", device), ("State", state)))
            await conn.send(msg(("Event", "DeviceStateListComplete"), ("ActionID", aid),
                                ("EventList", "Complete"), ("ListItems", str(len(self.devices)))))
        elif name == "hangup":
            channel = action.get("Channel", "")
            if channel in self.hangup_events:
                await conn.reply(action, ("Response", "Success"), ("Message", "Channel Hungup"))
                await conn.send(self.hangup_events.pop(channel))
            else:
                await conn.reply(action, ("Response", "Error"), ("Message", "No such channel"))
        else:
            await conn.reply(action, ("Response", "Success"))

    async def wait_action(self, name: str, timeout: float) -> dict[str, str]:
        async def _wait() -> dict[str, str]:
            async with self.action_seen:
                await self.action_seen.wait_for(
                    lambda: any(a.get("Action", "").lower() == name.lower() for a in self.actions)
                )
            return next(a for a in self.actions if a.get("Action", "").lower() == name.lower())

        return await asyncio.wait_for(_wait(), timeout)

    async def send(self, data: bytes) -> None:
        assert self.conn is not None
        await self.conn.send(data)
