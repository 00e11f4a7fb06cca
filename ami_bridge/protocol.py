"""The AMI connection: log in, follow events, send actions, stay connected.

Why not ``panoramisk.Manager`` underneath: every defect listed in
``shared/asterisk/protocol-notes.md`` §2 sits in the parts of panoramisk that a connection is
made of — ``AMIProtocol.data_received`` (decoding with ``errors='ignore'`` per TCP chunk, so a
multi-byte character split between two reads is lost; banner only parsed when it arrives
first and whole), ``AMIProtocol.handle_message``/``Action.multi`` (KeyError on "…successfully
queued" replies to actions without ``Async``; async Originate resolved only by the later
OriginateResponse), ``Manager.send_action`` (no timeout), ``Manager.ping`` (never checks for
the Pong), ``AMIProtocol.close``/``Manager.send_awaiting_actions`` (unanswered actions replayed
after a reconnect, only once a FullyBooted arrives — which sessions without ``system`` read
permission never get — so a replayed Originate dials a second call) and ``Manager.dispatch``
(coroutine callbacks started with ``ensure_future`` and never awaited). Working around them
means overriding each of those methods, i.e. replacing the connection while keeping
panoramisk's name on it. What is left, its ``Message`` (a case-insensitive dict filled by
``Message.from_line``), parses an event about twice as slowly as :mod:`ami_bridge.frames`
(18 to 30 µs against 9 to 10 µs per event of capture 04 on the development machine), and
the bridge must follow at least half of bare panoramisk's event rate while also running the
state machine and writing the database; it also cannot skip unwanted events unparsed. So this module is a small asyncio client of its own; panoramisk stays the
reference: every defect test in ``tests/ami_bridge/test_protocol_defects.py`` runs the same
scripted Asterisk against bare panoramisk as a strict expected failure, and the benchmark
measures it as the baseline.

What the client guarantees:

* replies are matched by ActionID only (the message text never decides anything), late and
  duplicate replies are dropped, list actions (``EventList``) collect their items by ActionID;
* every action has a timeout (:class:`ActionTimeout`);
* nothing is ever re-sent after a reconnect: an action whose reply was not in when the link
  went down fails with :class:`LinkLost` (its outcome is unknown: an Originate may or may not
  have been dialled, and its owner must find out, e.g. from CoreShowChannels);
* a Ping that gets no reply within ``ping_timeout`` marks the link dead (half-open TCP);
* reconnect with exponential back-off and full jitter, reset after a successful login;
* events go to an :class:`~ami_bridge.dispatch.EventDispatcher` that owns all its tasks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ami_bridge.dispatch import EventDispatcher
from ami_bridge.frames import AmiMessage, Framer, encode_action
from hotline.settings import AmiSettings

log = logging.getLogger(__name__)

Headers = Mapping[str, Any] | Sequence[tuple[str, Any]]


class AmiError(Exception):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, action: str, response: AmiMessage) -> None:
        self.action = action
        self.response = response
        self.reason = response.get("Message") or "no message"
        super().__init__(f"AMI {action} failed: {self.reason}")


class ActionTimeout(TimeoutError):
    """No reply to an action within its timeout."""


class LinkDown(ConnectionError):
    """The action was not sent: there is no logged-in AMI link right now."""


class LinkLost(ConnectionError):
    """The link went down after the action was sent and before its reply: its outcome is
    unknown, and it will not be re-sent."""


class AuthenticationFailed(ConnectionError):
    pass


@dataclass(frozen=True)
class AmiConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "hotline"
    secret: str = "hotline"
    ping_interval: float = 5.0
    ping_timeout: float = 3.0
    action_timeout: float = 5.0
    connect_timeout: float = 5.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    events: str = "on"

    @classmethod
    def from_settings(cls, ami: AmiSettings) -> AmiConfig:
        return cls(
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.secret.get_secret_value(),
            ping_interval=ami.ping_interval,
            ping_timeout=ami.ping_timeout,
            action_timeout=ami.action_timeout,
            reconnect_min=ami.reconnect_min,
            reconnect_max=ami.reconnect_max,
        )

    def __repr__(self) -> str:  # never show the secret
        return f"AmiConfig(host={self.host!r}, port={self.port}, username={self.username!r})"


def backoff_delay(attempt: int, low: float, high: float, rng: random.Random | None = None) -> float:
    """Full-jitter exponential back-off: uniform in [low, min(high, low·2^attempt)]."""
    cap = min(high, low * (2 ** min(attempt, 30)))
    return (rng or random).uniform(low, max(low, cap))


@dataclass
class LinkStats:
    connects: int = 0
    disconnects: int = 0
    ping_failures: int = 0
    actions_sent: int = 0
    action_timeouts: int = 0
    actions_lost: int = 0
    late_replies: int = 0
    events: int = 0


class _Pending:
    __slots__ = ("name", "future", "items", "is_list")

    def __init__(self, name: str, future: asyncio.Future[Any], is_list: bool) -> None:
        self.name = name
        self.future = future
        self.items: list[AmiMessage] = []
        self.is_list = is_list


class _Session(asyncio.Protocol):
    """One TCP connection: frames in, writes out; the client does the rest."""

    def __init__(self, client: AmiClient) -> None:
        self.client = client
        self.framer = Framer()
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.banner: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        framer = self.framer
        client = self.client
        receive = client._receive
        try:
            for message in framer.feed(data, client._want):
                if not self.banner.done():
                    self.banner.set_result(framer.banner)
                receive(message)
            if client._on_batch is not None:
                client._on_batch()
        except Exception:  # the reader must survive anything a handler does
            log.exception("AMI reader failed on received data")
        if not self.banner.done() and framer.banner is not None:
            self.banner.set_result(framer.banner)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
        if not self.banner.done():
            self.banner.set_result(None)

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise LinkDown("AMI link is not open")
        self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


LinkCallback = Callable[[bool, str], Any]
ConnectedHook = Callable[[], Awaitable[None]]


class AmiClient:
    """A self-healing AMI session. ``start()`` returns at once; the link comes up (and comes
    back) in the background. Register event handlers on :attr:`events`."""

    def __init__(
        self,
        config: AmiConfig,
        *,
        on_link: LinkCallback | None = None,
        on_connected: ConnectedHook | None = None,
        on_batch: Callable[[], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``on_batch`` is called after the events of each read from the socket were
        dispatched (the bridge publishes what a burst of events changed once per burst)."""
        self.config = config
        self.events = EventDispatcher()
        self.stats = LinkStats()
        self.version: str | None = None
        self._on_link = on_link
        self._on_connected = on_connected
        self._on_batch = on_batch
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._prefix = f"hl-{secrets.token_hex(4)}-"
        self._pending: dict[str, _Pending] = {}
        self._lists = 0  # list actions waiting for their items
        self._waiters: dict[tuple[str, str], list[asyncio.Future[AmiMessage]]] = {}
        self._session: _Session | None = None
        self._logged_in = False
        self._up = asyncio.Event()
        self._stopping = False
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._hook_task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._supervisor is None:
            self._stopping = False
            self._supervisor = asyncio.get_running_loop().create_task(
                self._run(), name="ami-supervisor"
            )

    async def stop(self) -> None:
        """Log off (briefly), close the link, stop reconnecting, finish event handlers."""
        self._stopping = True
        self._wake.set()
        session = self._session
        if session is not None and self._logged_in:
            try:
                await self.send_action("Logoff", timeout=min(1.0, self.config.action_timeout))
            except (ActionTimeout, ConnectionError, AmiError):
                pass
        if session is not None:
            session.abort()
        if self._supervisor is not None:
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await self.events.close()

    @property
    def connected(self) -> bool:
        return self._logged_in

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._up.wait(), timeout)

    # -- actions --------------------------------------------------------------------------

    def next_action_id(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    async def send_action(
        self,
        action: str,
        headers: Headers | None = None,
        *,
        timeout: float | None = None,
        action_id: str | None = None,
        check: bool = True,
    ) -> AmiMessage:
        """Send one action and return its response (``Response: Error`` raises
        :class:`AmiError` unless ``check`` is false)."""
        reply = await self._send(action, headers, timeout, action_id, is_list=False)
        assert isinstance(reply, AmiMessage)
        if check and reply.get("Response") == "Error":
            raise AmiError(action, reply)
        return reply

    async def send_list(
        self,
        action: str,
        headers: Headers | None = None,
        *,
        timeout: float | None = None,
        check: bool = True,
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        """Send a list action (CoreShowChannels, Status, ...) and return the response and
        its items, the closing ``...Complete`` event excluded. ``Response: Error`` raises
        :class:`AmiError` unless ``check`` is false."""
        result = await self._send(action, headers, timeout, None, is_list=True)
        assert isinstance(result, tuple)
        if check and result[0].get("Response") == "Error":
            raise AmiError(action, result[0])
        return result

    def expect_event(self, event: str, action_id: str) -> asyncio.Future[AmiMessage]:
        """A future for the next event ``event`` carrying ``action_id`` (OriginateResponse).
        Register it before sending the action; cancel it if you stop caring."""
        fut: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        key = (event.lower(), action_id)
        self._waiters.setdefault(key, []).append(fut)

        def _forget(f: asyncio.Future[AmiMessage]) -> None:
            waiters = self._waiters.get(key)
            if waiters and f in waiters:
                waiters.remove(f)
                if not waiters:
                    del self._waiters[key]

        fut.add_done_callback(_forget)
        return fut

    def send_action_nowait(
        self,
        action: str,
        headers: Headers | None = None,
        *,
        timeout: float | None = None,
    ) -> asyncio.Future[AmiMessage]:
        """Write one action now and return the future of its reply, without a task: for
        bursts of actions sent from timers (the ring-5 deadlines). The future fails as
        :meth:`send_action` would raise; ``Response: Error`` is a result, not an exception.
        Its owner must retrieve the outcome (a done-callback will do)."""
        return self._begin(action, headers, timeout, None, is_list=False)

    def _begin(
        self,
        action: str,
        headers: Headers | None,
        timeout: float | None,
        action_id: str | None,
        *,
        is_list: bool,
        internal: bool = False,
    ) -> asyncio.Future[Any]:
        """Register the action, write it, arm its timeout; the future resolves with the reply
        (or fails), and whatever way it ends the action is forgotten."""
        session = self._session
        if session is None or (not self._logged_in and not internal):
            raise LinkDown(f"AMI {action} not sent: not connected to {self.config.host}:{self.config.port}")
        action_id = action_id or self.next_action_id()
        if action_id in self._pending:
            raise ValueError(f"ActionID {action_id!r} is already waiting for a reply")
        items: list[tuple[str, Any]] = [("Action", action), ("ActionID", action_id)]
        if headers:
            items.extend(headers.items() if isinstance(headers, Mapping) else headers)
        data = encode_action(items)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        pending = _Pending(action, fut, is_list)
        limit = self.config.action_timeout if timeout is None else timeout
        timer = loop.call_later(limit, self._expire, pending, limit)

        def forget(_f: asyncio.Future[Any]) -> None:
            timer.cancel()
            if self._pending.get(action_id) is pending:
                del self._pending[action_id]
            self._lists -= is_list

        self._pending[action_id] = pending
        self._lists += is_list
        fut.add_done_callback(forget)
        try:
            session.write(data)
        except BaseException:
            fut.cancel()
            raise
        self.stats.actions_sent += 1
        return fut

    def _expire(self, pending: _Pending, limit: float) -> None:
        if not pending.future.done():
            self.stats.action_timeouts += 1
            pending.future.set_exception(ActionTimeout(f"no reply to AMI {pending.name} within {limit:g}s"))

    async def _send(
        self,
        action: str,
        headers: Headers | None,
        timeout: float | None,
        action_id: str | None,
        *,
        is_list: bool,
        internal: bool = False,
    ) -> AmiMessage | tuple[AmiMessage, list[AmiMessage]]:
        fut = self._begin(action, headers, timeout, action_id, is_list=is_list, internal=internal)
        try:
            return await fut
        except asyncio.CancelledError:
            fut.cancel()
            raise

    # -- receiving ------------------------------------------------------------------------

    def _want(self, src: bytes | bytearray, start: int, end: int) -> bool:
        """Is this raw event worth parsing? Replies to lists and awaited events always are."""
        if self._waiters or self._lists:
            return True
        interest = self.events.interest
        if interest is None:
            return True
        nl = src.find(b"\r\n", start, end)
        name = bytes(src[start + 7: end if nl < 0 else nl])
        if name not in interest:
            return False
        check = interest[name]
        return True if check is None else check(src, start, end)

    def _receive(self, message: AmiMessage) -> None:
        headers = message.headers
        action_id = headers.get("ActionID")
        event = headers.get("Event")
        if event is None:
            self._receive_response(message, action_id)
            return
        # (an event may carry a Response header too: OriginateResponse does)
        if action_id is not None:
            pending = self._pending.get(action_id)
            if pending is not None and pending.is_list and not pending.future.done():
                if headers.get("EventList", "").lower() == "complete" or event.endswith("Complete"):
                    response = pending.items[0] if pending.items else message
                    pending.future.set_result((response, pending.items[1:]))
                else:
                    pending.items.append(message)
                return
            if self._waiters:
                waiters = self._waiters.get((event.lower(), action_id))
                if waiters:
                    for fut in list(waiters):
                        if not fut.done():
                            fut.set_result(message)
        self.stats.events += 1
        self.events.dispatch(message)

    def _receive_response(self, message: AmiMessage, action_id: str | None) -> None:
        headers = message.headers
        if "Response" not in headers:
            log.debug("AMI message that is neither event nor response: %r", message)
            return
        pending = self._pending.get(action_id) if action_id else None
        if pending is None or pending.future.done():
            self.stats.late_replies += 1
            log.debug("AMI reply with no action waiting for it: %r", message)
            return
        if pending.is_list and headers["Response"] == "Success":
            pending.items.append(message)  # the response itself goes first
            if headers.get("EventList", "").lower() != "start" and (
                "will follow" not in headers.get("Message", "").lower()
            ):
                # a list action answered with a plain Success: no items follow
                pending.future.set_result((message, []))
            return
        if pending.is_list:
            pending.future.set_result((message, []))
            return
        pending.future.set_result(message)

    # -- the connection loop --------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                logged_in = await self._connect_once()
            except AuthenticationFailed as exc:
                log.error("AMI login to %s:%d refused: %s", self.config.host, self.config.port, exc)
                logged_in = False
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.warning(
                    "AMI connection to %s:%d failed: %s",
                    self.config.host, self.config.port, exc or type(exc).__name__,
                )
                logged_in = False
            except Exception:
                log.exception("AMI connection loop error")
                logged_in = False
            if self._stopping:
                break
            attempt = 0 if logged_in else attempt + 1
            delay = backoff_delay(attempt, self.config.reconnect_min, self.config.reconnect_max, self._rng)
            log.info("AMI reconnecting in %.2fs", delay)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def _connect_once(self) -> bool:
        """Connect, log in, and serve until the link dies; True if the login succeeded."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        _transport, session = await asyncio.wait_for(
            loop.create_connection(lambda: _Session(self), cfg.host, cfg.port),
            cfg.connect_timeout,
        )
        self._session = session
        pinger: asyncio.Task[None] | None = None
        try:
            # Asterisk greets first; a peer that does not is still tried.
            try:
                await asyncio.wait_for(asyncio.shield(session.banner), cfg.connect_timeout)
            except TimeoutError:
                log.warning("no AMI banner from %s:%d; logging in anyway", cfg.host, cfg.port)
            self.version = session.framer.version
            login = [("Username", cfg.username), ("Secret", cfg.secret), ("Events", cfg.events)]
            # Asterisk delays a refused login by a second; allow for it.
            login_task = loop.create_task(
                self._send("Login", login, cfg.action_timeout + 1.0, None, is_list=False, internal=True)
            )
            done, _ = await asyncio.wait({login_task, session.closed}, return_when=asyncio.FIRST_COMPLETED)
            if login_task not in done:
                login_task.cancel()
                await asyncio.gather(login_task, return_exceptions=True)
                raise ConnectionError("connection closed during login")
            reply = login_task.result()
            assert isinstance(reply, AmiMessage)
            if reply.get("Response") != "Success":
                raise AuthenticationFailed(reply.get("Message") or "login refused")
            self._logged_in = True
            self.stats.connects += 1
            self._up.set()
            log.info("AMI connected to %s:%d (AMI %s)", cfg.host, cfg.port, self.version or "?")
            self._notify_link(True, f"AMI {self.version or '?'}")
            if self._on_connected is not None:
                self._hook_task = loop.create_task(self._run_hook(), name="ami-on-connected")
            pinger = loop.create_task(self._keepalive(session), name="ami-keepalive")
            exc = await session.closed
            if not self._stopping:
                log.warning("AMI link to %s:%d lost: %s", cfg.host, cfg.port, exc or "closed by peer")
            return True
        finally:
            if pinger is not None:
                pinger.cancel()
                await asyncio.gather(pinger, return_exceptions=True)
            if self._hook_task is not None and not self._hook_task.done():
                self._hook_task.cancel()
                await asyncio.gather(self._hook_task, return_exceptions=True)
            self._hook_task = None
            session.abort()
            self._session = None
            was_up = self._logged_in
            self._logged_in = False
            self._up.clear()
            self._fail_pending()
            if was_up:
                self.stats.disconnects += 1
                self._notify_link(False, "link lost" if not self._stopping else "stopped")

    async def _run_hook(self) -> None:
        assert self._on_connected is not None
        try:
            await self._on_connected()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("AMI on-connected hook failed")

    async def _keepalive(self, session: _Session) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.ping_interval)
            try:
                await self._send("Ping", None, cfg.ping_timeout, None, is_list=False)
            except ActionTimeout:
                self.stats.ping_failures += 1
                log.error(
                    "AMI link to %s:%d dead: no reply to Ping within %gs",
                    cfg.host, cfg.port, cfg.ping_timeout,
                )
                session.abort()
                return
            except ConnectionError:
                return

    def _fail_pending(self) -> None:
        for action_id, pending in list(self._pending.items()):
            if not pending.future.done():
                self.stats.actions_lost += 1
                pending.future.set_exception(
                    LinkLost(f"AMI link lost before the reply to {pending.name} ({action_id}); not re-sent")
                )
        self._pending.clear()
        for key, waiters in list(self._waiters.items()):
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(LinkLost(f"AMI link lost while waiting for {key[0]} {key[1]}"))
        self._waiters.clear()

    def _notify_link(self, up: bool, detail: str) -> None:
        if self._on_link is None:
            return
        try:
            self._on_link(up, detail)
        except Exception:
            log.exception("AMI link callback failed")
