"""The AMI connection, on panoramisk: log in, follow events, send actions, stay connected.

What of panoramisk (1.4) is used: :class:`panoramisk.Manager` (its configuration, its
``connect()`` that opens the TCP connection with ``create_connection`` and the configured
protocol factory, its ``close()``, its pinger handle and ``authenticated`` flag, and
``register_event`` with fnmatch patterns), :class:`panoramisk.ami_protocol.AMIProtocol`
(its connection state: transport, ``closed``, the ``responses`` table of actions waiting
for a reply, ``version``) and :class:`panoramisk.actions.Action` (its ActionID generator and
the record of an action waiting for its reply: ``future``, ``responses``, ``as_list``).

What is overridden, each because of a panoramisk defect: those listed in
``shared/asterisk/protocol-notes.md`` §2, and two found while building on it (``send`` and
``Action``). Every defect is a test in ``tests/ami_bridge/test_protocol_defects.py`` that
passes here and is a strict expected failure against bare panoramisk:

* ``AMIProtocol.data_received``: panoramisk decodes each TCP chunk with ``errors='ignore'``
  (a character split between two reads is lost, bytes that are not UTF-8 vanish) and parses
  the banner only when it arrives first and whole. Here :class:`ami_bridge.frames.Framer`
  frames bytes before decoding, replaces bad bytes visibly, reads a banner cut anywhere, and
  skips events nobody wants without parsing them: events arrive as
  :class:`~ami_bridge.frames.AmiMessage`, about twice as fast to parse as panoramisk's
  ``Message`` (which also breaks ``getdict('ChanVariable')`` on a lone variable).
* ``AMIProtocol.handle_message``: panoramisk's ``Action.multi`` raises KeyError on a
  "…successfully queued" reply to an action without ``Async`` and resolves an async
  Originate only with its OriginateResponse. Here replies are matched by ActionID only (the
  message text never decides anything), late and duplicate replies are dropped, and list
  actions (``EventList``) collect their items by ActionID.
* ``AMIProtocol.close`` and ``Manager.send_awaiting_actions``: panoramisk keeps unanswered
  actions to re-send them on the next link, and only once a FullyBooted arrives (which a
  session without ``system`` read permission never gets), so a replayed Originate dials a
  second call. Here nothing is ever re-sent: each fails at once with :class:`LinkLost`.
* ``AMIProtocol.send``: panoramisk logs a failed write and returns a future nobody resolves;
  here a link that is not open refuses the action with :class:`LinkDown`.
* ``Action.__init__``/``__str__`` (:class:`HotlineAction`): panoramisk writes a value with a
  line break as it is (it injects headers, or a whole action; refused here), and builds and
  writes each action in about 13 µs (``MutableMapping.update``, sorted headers), which a
  burst of a thousand ring-5 Hangups pays in a row (here under 5 µs).
* ``Manager.send_action``: no timeout in panoramisk; here every action has one
  (:class:`ActionTimeout`).
* ``Manager.ping``: panoramisk sends Ping and never checks for the Pong; here a Ping not
  answered within ``ping_timeout`` marks the link dead (half-open TCP) and it is replaced.
* ``Manager.dispatch`` and ``Manager.register_event``: panoramisk starts coroutine
  callbacks with ``ensure_future`` and never awaits them; here events go to an
  :class:`~ami_bridge.dispatch.EventDispatcher` that owns all its tasks.
* ``Manager.connection_made`` / ``Manager.connection_lost``: panoramisk logs in before the
  banner, retries after a fixed delay and truncates its intervals to whole seconds; here
  :class:`AmiClient` logs in (plain ``Login``) once the banner is read, and reconnects with
  exponential back-off and full jitter, reset after a successful login.

What the client guarantees:

* replies are matched by ActionID only, late and duplicate replies are dropped, list actions
  collect their items by ActionID;
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
import fnmatch
import functools
import inspect
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

from ami_bridge.dispatch import EventDispatcher
from ami_bridge.frames import AmiMessage, Framer
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


def _one_line(key: str, value: Any) -> str:
    text = str(value)
    if "\r" in text or "\n" in text:
        raise ValueError(f"AMI header {key!r} may not contain a line break")
    return text


class HotlineAction(Action):
    """panoramisk's ``Action`` (its ActionID generator, its ``future``, ``responses`` and
    ``as_list`` that :class:`HotlineProtocol` tracks a reply with), filled and written by
    hotline. panoramisk's writes any value as it is, so a line break inside one (a caller
    name) injects headers, or a whole action; here such a value is refused. And panoramisk's
    fills itself through ``MutableMapping.update`` and sorts its headers when written, about
    13 µs an action, which the ring-5 deadlines pay one after the other when a thousand
    phones ring out at once (bench/bench_bridge.py (d)); here the headers are stored and
    written once, in the order given, ``Action`` and ``ActionID`` first. A header given
    several times (``Variable``) is written once per value, in order."""

    def __init__(
        self,
        name: str,
        headers: Headers | None = None,
        action_id: str | None = None,
        *,
        as_list: bool = False,
    ) -> None:
        if action_id is None:
            action_id = self.action_id_generator()
        store: dict[str, tuple[str, Any]] = {
            "action": ("Action", _one_line("Action", name)),
            "actionid": ("ActionID", _one_line("ActionID", action_id)),
        }
        if headers:
            pairs = headers.items() if type(headers) is dict or isinstance(headers, Mapping) else headers
            for key, value in pairs:
                text = value if type(value) is str else str(value)
                if "\r" in text or "\n" in text:
                    _one_line(key, text)  # raises
                low = key.lower()
                if low in store:
                    known, old = store[low]
                    store[low] = (known, [*old, text] if isinstance(old, list) else [old, text])
                else:
                    store[low] = (key, text)
        self._store = store
        self.as_list = as_list
        self.responses: list[AmiMessage] = []
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @property
    def id(self) -> str:
        return str(self._store["actionid"][1])

    action_id = id

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list | tuple):
            value = [_one_line(key, item) for item in value]
        else:
            value = _one_line(key, value)
        super().__setitem__(_one_line("header name", key), value)

    @classmethod
    def from_mapping(
        cls, action: Mapping[str, Any], extra: Mapping[str, Any], *, as_list: bool = False
    ) -> HotlineAction:
        """One from panoramisk's form: a mapping with ``Action`` (and maybe ``ActionID``),
        a list value for a repeated header."""
        name: str | None = None
        action_id: str | None = None
        headers: list[tuple[str, Any]] = []
        for key, value in [*action.items(), *extra.items()]:
            low = key.lower()
            if low == "action":
                name = str(value)
            elif low == "actionid":
                action_id = str(value)
            elif isinstance(value, list | tuple):
                headers.extend((key, item) for item in value)
            else:
                headers.append((key, value))
        if name is None:
            raise ValueError("an AMI action needs an 'Action' header")
        return cls(name, headers, action_id, as_list=as_list)

    def __str__(self) -> str:
        parts = []
        for key, value in self._store.values():
            if isinstance(value, list):
                parts.extend(f"{key}: {item}\r\n" for item in value)
            else:
                parts.append(f"{key}: {value}\r\n")
        parts.append("\r\n")
        return "".join(parts)


class HotlineProtocol(AMIProtocol):
    """One TCP connection: panoramisk's protocol, framed and matched by hotline's rules."""

    def __init__(self, factory: HotlineManager) -> None:
        self.factory = factory

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        factory = self.factory
        super().connection_made(transport)  # transport, closed, responses, version
        self.factory = factory
        self.log = log
        self.encoding = "utf-8"
        self.framer = Framer()
        loop = asyncio.get_running_loop()
        self.banner: asyncio.Future[str | None] = loop.create_future()
        self.lost: asyncio.Future[Exception | None] = loop.create_future()

    def send(self, data: Action, as_list: bool | None = None) -> asyncio.Future[Any]:
        """Write one action and register it for its reply. panoramisk logs a failed write and
        returns a future nobody will resolve; here a link that is closed or closing refuses
        the action with :class:`LinkDown` before anything is registered."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise LinkDown("AMI link is not open")
        if as_list is not None:
            data.as_list = as_list
        self.responses[data.action_id] = data
        transport.write(str(data).encode(self.encoding))
        return data.future

    def data_received(self, data: bytes) -> None:
        """panoramisk decodes each TCP chunk on its own with ``errors='ignore'`` (a character
        split between two reads is lost, bytes that are not UTF-8 vanish silently) and parses
        the version only if the first chunk starts with the whole banner. Here the
        :class:`~ami_bridge.frames.Framer` frames bytes before decoding, replaces bad bytes
        visibly, reads the banner however it is cut, and skips unwanted events unparsed."""
        framer = self.framer
        factory = self.factory
        banner = self.banner
        handle = self.handle_message
        try:
            for message in framer.feed(data, factory.want):
                if not banner.done():
                    banner.set_result(framer.banner)
                handle(message)
            if factory.on_batch is not None:
                factory.on_batch()
        except Exception:  # the reader must survive anything a handler does
            log.exception("AMI reader failed on received data")
        if not banner.done() and framer.banner is not None:
            banner.set_result(framer.banner)
        if self.version is None:
            self.version = framer.version

    def handle_message(self, message: AmiMessage) -> None:  # type: ignore[override]
        """panoramisk's ``Action.multi`` reads ``self['async']`` on any "…successfully queued"
        reply (KeyError for PlayDTMF, or Originate without ``Async``: the protocol dies) and
        keeps an async Originate waiting for its OriginateResponse. Here a reply is matched
        by its ActionID alone: a plain action is answered by its one response, whatever the
        text; a list action by its response and the events carrying its ActionID up to the
        ``...Complete``; late and duplicate replies are counted and dropped."""
        headers = message.headers
        action_id = headers.get("ActionID")
        event = headers.get("Event")
        factory = self.factory
        if event is None:
            self._response(message, action_id)
            return
        # (an event may carry a Response header too: OriginateResponse does)
        if action_id is not None:
            pending = self.responses.get(action_id)
            if pending is not None and pending.as_list and not pending.future.done():
                if headers.get("EventList", "").lower() == "complete" or event.endswith("Complete"):
                    items = pending.responses
                    response = items[0] if items else message
                    pending.future.set_result((response, items[1:]))
                else:
                    pending.responses.append(message)
                return
            if factory.waiters:
                waiters = factory.waiters.get((event.lower(), action_id))
                if waiters:
                    for fut in list(waiters):
                        if not fut.done():
                            fut.set_result(message)
        factory.dispatch(message)

    def _response(self, message: AmiMessage, action_id: str | None) -> None:
        headers = message.headers
        if "Response" not in headers:
            log.debug("AMI message that is neither event nor response: %r", message)
            return
        pending = self.responses.get(action_id) if action_id else None
        if pending is None or pending.future.done():
            self.factory.stats.late_replies += 1
            log.debug("AMI reply with no action waiting for it: %r", message)
            return
        if pending.as_list and headers["Response"] == "Success":
            pending.responses.append(message)  # the response itself goes first
            if headers.get("EventList", "").lower() != "start" and (
                "will follow" not in headers.get("Message", "").lower()
            ):
                # a list action answered with a plain Success: no items follow
                pending.future.set_result((message, []))
            return
        if pending.as_list:
            pending.future.set_result((message, []))
            return
        pending.future.set_result(message)

    def close(self) -> None:
        """panoramisk moves every unanswered action to ``factory.awaiting_actions``, to be
        re-sent on the next link once a FullyBooted arrives: a session without ``system``
        read permission never gets one (its callers hang forever), and one that does dials a
        replayed Originate twice. Here nothing is kept for a replay: each action still
        waiting fails at once with :class:`LinkLost`, and the transport is aborted (a
        graceful close waits for a half-open peer to read)."""
        stats = self.factory.stats
        for action_id, action in list(self.responses.items()):
            if not action.future.done():
                stats.actions_lost += 1
                action.future.set_exception(LinkLost(
                    f"AMI link lost before the reply to {action.get('Action')} ({action_id}); not re-sent"
                ))
        self.responses.clear()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()
        if not self.banner.done():
            self.banner.set_result(None)
        if not self.lost.done():
            self.lost.set_result(exc)
        if self.factory.protocol is self:  # not a link already replaced
            self.factory.connection_lost(exc)


class HotlineManager(Manager):
    """panoramisk's Manager with every defective part replaced; :class:`AmiClient` drives it."""

    def __init__(
        self,
        config: AmiConfig,
        events: EventDispatcher,
        stats: LinkStats,
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.events = events  # before Manager.__init__, which registers an event
        self.stats = stats
        self.on_batch = on_batch
        self.waiters: dict[tuple[str, str], list[asyncio.Future[AmiMessage]]] = {}
        self._lists = 0  # list actions waiting for their items
        super().__init__(
            host=config.host, port=config.port, events=config.events,
            protocol_factory=functools.partial(HotlineProtocol, self),
            forgetable_actions=(), log=log,
        )
        # panoramisk truncates these to whole seconds
        self.ping_interval = config.ping_interval  # type: ignore[assignment]
        self.ping_timeout = config.ping_timeout
        self.action_timeout = config.action_timeout
        self.protocol: HotlineProtocol | None = None

    # -- actions -----------------------------------------------------------------------------

    def send_action(  # type: ignore[override]
        self,
        action: Action | Mapping[str, Any],
        as_list: bool | None = None,
        *,
        timeout: float | None = None,
        internal: bool = False,
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        """panoramisk's future never resolves if Asterisk never answers. Here the action
        fails with :class:`ActionTimeout` after ``timeout`` (default ``action_timeout``), and
        whichever way it ends it is forgotten. The future resolves with the response, or for
        a list action (``as_list``) with ``(response, items)``. Nothing is sent without a
        logged-in link (:class:`LinkDown`), except the login itself (``internal``)."""
        if kwargs or (type(action) is not HotlineAction and not isinstance(action, HotlineAction)):
            action = HotlineAction.from_mapping(action, kwargs, as_list=bool(as_list))
        elif as_list is not None:
            action.as_list = as_list
        proto = self.protocol
        if proto is None or proto.closed or not (self.authenticated or internal):
            raise LinkDown(
                f"AMI {action.get('Action')} not sent: not connected to "
                f"{self.config['host']}:{self.config['port']}"
            )
        action_id = action.action_id
        if action_id in proto.responses:
            raise ValueError(f"ActionID {action_id!r} is already waiting for a reply")
        fut: asyncio.Future[Any] = action.future
        limit = self.action_timeout if timeout is None else timeout
        timer = asyncio.get_running_loop().call_later(limit, self._expire, action, limit)
        is_list = bool(action.as_list)
        responses = proto.responses

        def forget(_f: asyncio.Future[Any]) -> None:
            timer.cancel()
            if responses.get(action_id) is action:
                del responses[action_id]
            self._lists -= is_list

        self._lists += is_list
        fut.add_done_callback(forget)
        try:
            proto.send(action)
        except BaseException:
            fut.cancel()
            raise
        self.stats.actions_sent += 1
        return fut

    def _expire(self, action: Action, limit: float) -> None:
        if not action.future.done():
            self.stats.action_timeouts += 1
            action.future.set_exception(
                ActionTimeout(f"no reply to AMI {action.get('Action')} within {limit:g}s")
            )

    def expect_event(self, event: str, action_id: str) -> asyncio.Future[AmiMessage]:
        fut: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        key = (event.lower(), action_id)
        self.waiters.setdefault(key, []).append(fut)

        def _forget(f: asyncio.Future[AmiMessage]) -> None:
            waiters = self.waiters.get(key)
            if waiters and f in waiters:
                waiters.remove(f)
                if not waiters:
                    del self.waiters[key]

        fut.add_done_callback(_forget)
        return fut

    def send_awaiting_actions(self, *_: Any) -> None:  # type: ignore[override]
        """panoramisk re-sends, on FullyBooted (``Manager.__init__`` registers this for it),
        the actions left unanswered by the last link. Nothing is ever kept for that here (see
        :meth:`HotlineProtocol.close`): a FullyBooted finds the list empty and sends nothing.
        A plain function, so it runs inline instead of in a task of its own."""
        if self.awaiting_actions:  # never filled; if it ever is, drop it rather than replay
            log.error("AMI actions kept for a replay were dropped: %d", len(self.awaiting_actions))
            self.awaiting_actions.clear()

    # -- keepalive ---------------------------------------------------------------------------

    def start_pinging(self) -> None:
        if self.pinger is not None:
            self.pinger.cancel()
        self.pinger = asyncio.get_running_loop().call_later(self.ping_interval, self.ping)

    def ping(self) -> None:
        """panoramisk sends a Ping every interval and never looks for the Pong, so a
        half-open TCP link is never noticed. Here the next Ping is sent once the Pong is in,
        and a Ping not answered within ``ping_timeout`` aborts the link (it is replaced)."""
        self.pinger = None
        proto = self.protocol
        if proto is None or proto.closed:
            return
        try:
            fut = self.send_action(HotlineAction("Ping"), timeout=self.ping_timeout)
        except ConnectionError:
            return
        fut.add_done_callback(functools.partial(self._pong, proto))

    def _pong(self, proto: HotlineProtocol, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            if self.protocol is proto and not proto.closed:
                self.start_pinging()
        elif isinstance(exc, ActionTimeout):
            self.stats.ping_failures += 1
            log.error(
                "AMI link to %s:%s dead: no reply to Ping within %gs",
                self.config["host"], self.config["port"], self.ping_timeout,
            )
            proto.close()

    # -- events ------------------------------------------------------------------------------

    def want(self, src: bytes | bytearray, start: int, end: int) -> bool:
        """Is this raw event worth parsing? Replies to lists and awaited events always are."""
        if self.waiters or self._lists:
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

    def dispatch(self, event: AmiMessage) -> None:  # type: ignore[override]
        """panoramisk calls each callback inline and starts a coroutine one with
        ``ensure_future``, never awaited (its exceptions are lost, its concurrency unbounded).
        Here the :class:`~ami_bridge.dispatch.EventDispatcher` calls plain handlers inline and
        gives each coroutine handler a bounded queue and a task it owns and awaits."""
        self.stats.events += 1
        self.events.dispatch(event)

    def register_event(self, pattern: str, callback: Any = None) -> Any:
        """panoramisk's registration by fnmatch pattern (``callback(manager, event)``), on the
        owned dispatcher: a coroutine callback gets its queue and task there instead of an
        unawaited ``ensure_future``. A plain name keeps the unwanted-event skip; a pattern
        with wildcards makes every event parsed."""

        def _register(cb: Any) -> Any:
            wild = any(c in pattern for c in "*?[")
            match = re.compile(fnmatch.translate(pattern)).match
            label = f"{pattern}:{getattr(cb, '__qualname__', repr(cb))}"
            handler: Callable[[AmiMessage], Any]
            if inspect.iscoroutinefunction(cb):
                async def handler(event: AmiMessage) -> None:
                    if not wild or match(event.name):
                        await cb(self, event)
            else:
                def handler(event: AmiMessage) -> None:
                    if not wild or match(event.name):
                        cb(self, event)
            self.events.add(handler, name=label, events=None if wild else (pattern,))
            return cb

        return _register if callback is None else _register(callback)

    # -- connection --------------------------------------------------------------------------

    def connection_made(self, f: asyncio.Future[Any]) -> None:  # type: ignore[override]
        """panoramisk's logs in at once (before the banner) and, when the connect failed,
        retries after a fixed delay. Here it only takes the new protocol: :class:`AmiClient`
        reads the banner, logs in, starts the keepalive, and backs off after a failure."""
        if f.cancelled() or f.exception() is not None:
            return
        if self.protocol is not None:
            self.protocol.close()
        _transport, protocol = f.result()
        self.protocol = protocol
        self.responses = protocol.responses
        self.authenticated = False
        self._connected = True

    def connection_lost(self, exc: Exception | None) -> None:
        """panoramisk's schedules a reconnect after a fixed ``reconnect_timeout``. Here the
        link's state is cleared (nobody waits on it any more); :class:`AmiClient`, which waits
        for the protocol's ``lost``, reconnects with back-off and full jitter."""
        self._connected = False
        self.authenticated = False
        if self.pinger is not None:
            self.pinger.cancel()
            self.pinger = None
        self.fail_waiters()

    def fail_waiters(self) -> None:
        for key, waiters in list(self.waiters.items()):
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(LinkLost(f"AMI link lost while waiting for {key[0]} {key[1]}"))
        self.waiters.clear()


LinkCallback = Callable[[bool, str], Any]
ConnectedHook = Callable[[], Awaitable[None]]


class AmiClient:
    """A self-healing AMI session on :class:`HotlineManager`. ``start()`` returns at once;
    the link comes up (and comes back) in the background. Register event handlers on
    :attr:`events`."""

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
        self.manager = HotlineManager(config, self.events, self.stats, on_batch)
        self.version: str | None = None
        self._on_link = on_link
        self._on_connected = on_connected
        self._rng = rng or random.Random()
        self._up = asyncio.Event()
        self._stopping = False
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._hook_task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._supervisor is None:
            self._stopping = False
            loop = asyncio.get_running_loop()
            self.manager.loop = loop
            self._supervisor = loop.create_task(self._run(), name="ami-supervisor")

    async def stop(self) -> None:
        """Log off (briefly), close the link, stop reconnecting, finish event handlers."""
        self._stopping = True
        self._wake.set()
        if self.manager.authenticated:
            try:
                await self.send_action("Logoff", timeout=min(1.0, self.config.action_timeout))
            except (ActionTimeout, ConnectionError, AmiError):
                pass
        self.manager.close()
        if self._supervisor is not None:
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await self.events.close()

    @property
    def connected(self) -> bool:
        return bool(self.manager.authenticated)

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._up.wait(), timeout)

    # -- actions --------------------------------------------------------------------------

    @staticmethod
    def next_action_id() -> str:
        return str(Action.action_id_generator())

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
        reply = await self._send(HotlineAction(action, headers, action_id), timeout)
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
        result = await self._send(HotlineAction(action, headers, as_list=True), timeout)
        assert isinstance(result, tuple)
        if check and result[0].get("Response") == "Error":
            raise AmiError(action, result[0])
        return result

    def expect_event(self, event: str, action_id: str) -> asyncio.Future[AmiMessage]:
        """A future for the next event ``event`` carrying ``action_id`` (OriginateResponse).
        Register it before sending the action; cancel it if you stop caring."""
        return self.manager.expect_event(event, action_id)

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
        return self.manager.send_action(HotlineAction(action, headers), timeout=timeout)

    async def _send(self, action: Action, timeout: float | None, *, internal: bool = False) -> Any:
        fut = self.manager.send_action(action, timeout=timeout, internal=internal)
        try:
            return await fut
        except asyncio.CancelledError:
            fut.cancel()
            raise

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
        """Connect (panoramisk's ``connect``), log in, and serve until the link dies; True if
        the login succeeded."""
        cfg = self.config
        manager = self.manager
        _transport, protocol = await asyncio.wait_for(manager.connect(), cfg.connect_timeout)
        assert isinstance(protocol, HotlineProtocol)
        logged_in = False
        try:
            # Asterisk greets first; a peer that does not is still tried.
            try:
                await asyncio.wait_for(asyncio.shield(protocol.banner), cfg.connect_timeout)
            except TimeoutError:
                log.warning("no AMI banner from %s:%d; logging in anyway", cfg.host, cfg.port)
            self.version = protocol.framer.version
            login = HotlineAction(
                "Login", [("Username", cfg.username), ("Secret", cfg.secret), ("Events", cfg.events)]
            )
            # Asterisk delays a refused login by a second; allow for it.
            reply_fut = manager.send_action(login, timeout=cfg.action_timeout + 1.0, internal=True)
            await asyncio.wait({reply_fut, protocol.lost}, return_when=asyncio.FIRST_COMPLETED)
            if not reply_fut.done():
                reply_fut.cancel()
                raise ConnectionError("connection closed during login")
            reply = reply_fut.result()
            assert isinstance(reply, AmiMessage)
            if reply.get("Response") != "Success":
                raise AuthenticationFailed(reply.get("Message") or "login refused")
            if protocol.closed:
                raise ConnectionError("connection closed during login")
            manager.authenticated = True
            logged_in = True
            self.stats.connects += 1
            self._up.set()
            log.info("AMI connected to %s:%d (AMI %s)", cfg.host, cfg.port, self.version or "?")
            self._notify_link(True, f"AMI {self.version or '?'}")
            if self._on_connected is not None:
                self._hook_task = asyncio.get_running_loop().create_task(
                    self._run_hook(), name="ami-on-connected"
                )
            manager.start_pinging()
            exc = await protocol.lost
            if not self._stopping:
                log.warning("AMI link to %s:%d lost: %s", cfg.host, cfg.port, exc or "closed by peer")
            return True
        finally:
            if self._hook_task is not None and not self._hook_task.done():
                self._hook_task.cancel()
                await asyncio.gather(self._hook_task, return_exceptions=True)
            self._hook_task = None
            protocol.close()  # every action still waiting fails with LinkLost
            manager.connection_lost(None)
            self._up.clear()
            if logged_in:
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

    def _notify_link(self, up: bool, detail: str) -> None:
        if self._on_link is None:
            return
        try:
            self._on_link(up, detail)
        except Exception:
            log.exception("AMI link callback failed")
