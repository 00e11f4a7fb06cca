"""A simulated Asterisk channel: identity, snapshot fields, variables, hangup signalling.

Everything a channel publishes goes through :meth:`Channel.event`, which prepends the channel
snapshot (``Channel`` ... ``Linkedid``) and one ``ChanVariable`` per configured channel
variable, in the order Asterisk 22 uses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pbxsim.ami.wire import Headers
from pbxsim.causes import cause_text

if TYPE_CHECKING:
    from pbxsim.bridge import Bridge
    from pbxsim.pbx import Pbx

DOWN, RING, RINGING, UP, BUSY = 0, 4, 5, 6, 7
STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing",
              6: "Up", 7: "Busy", 8: "Dialing Offhook", 9: "Pre-ring"}

# Soft-hangup flags; SoftHangupRequest's "Cause" header carries the flag, not a Q.850 cause.
SOFTHANGUP_APPUNLOAD = 16
SOFTHANGUP_EXPLICIT = 32

UNKNOWN = "<unknown>"


class Hangup(Exception):  # noqa: N818 - it is a signal, not an error
    """The channel was hung up while an application or AGI command was running."""


class Interrupted(Exception):  # noqa: N818
    """The running application was interrupted by an async goto (AMI Redirect)."""


@dataclass
class Party:
    num: str | None = None
    name: str | None = None

    def copy(self) -> Party:
        return Party(self.num, self.name)


class Channel:
    """One channel. Owned by a task (dialplan, Dial, Originate) that finally destroys it."""

    def __init__(self, pbx: Pbx, *, name: str, tech: str, resource: str, state: int,
                 context: str, exten: str, priority: int = 1, linkedid: str | None = None,
                 caller: Party | None = None, dnid: str = "", device: str | None = None,
                 uniqueid: str | None = None) -> None:
        self.pbx = pbx
        self.name = name
        self.tech = tech
        self.resource = resource
        self.uniqueid = uniqueid or pbx.next_uniqueid()
        self.linkedid = linkedid or self.uniqueid
        self.state = state
        self.caller = caller or Party()
        self.connected = Party()
        self.language = "en"
        self.accountcode = ""
        self.context = context
        self.exten = exten
        self.priority = priority
        self.dnid = dnid
        self.device = device or f"{tech}/{resource}"
        self.vars: dict[str, str] = {}
        self._pub_vars: dict[str, str] = {}  # channel variables as of the last published snapshot
        self._pub_version = 0
        self._snap_key: tuple[object, ...] | None = None
        self._snap: tuple[Headers, bytes] | None = None
        self._snap_base: tuple[Headers, bytes] | None = None
        self._snap_vars = -1
        self.staged = False  # Asterisk's staged snapshot: VarSets show the old ChanVariables
        self.inherit: dict[str, int] = {}  # name -> 1 (_X) or 2 (__X)
        self.created = pbx.clock.now()
        self.created_wall = pbx.clock.wall()
        self.answered: float | None = None
        self.answered_wall: float | None = None
        # when the phone behind this channel started ringing (the truth log counts rings
        # from here, not from when Dial got round to noticing)
        self.ringing_since: float | None = None
        self.ringing_since_wall: float | None = None
        self.app = ""
        self.appdata = ""
        self.bridge: Bridge | None = None
        self.hangupcause = 0
        self.tech_cause: int | None = None  # SIP code behind an abnormal hangup (TechCause)
        self.softhangup_flags = 0
        self.hangup_requested = asyncio.Event()
        self.wake = asyncio.Event()  # hangup requested, or a redirect to act on
        self.destroyed = False
        self.ended: asyncio.Future[None] = pbx.loop.create_future()
        self.dev_active = False  # counts for the device state (ringing indicated or up)
        self.sends_media = False
        self.dtmf: asyncio.Queue[str] = asyncio.Queue()
        self.mixmonitor: Any = None
        self.agi: Any = None
        self.party: Any = None  # the simulated person or phone on the far end, if any
        self.call: Any = None  # the truth-log record this channel belongs to
        self.pbx_running = False
        self._last_app = ""
        self._last_cep: tuple[str, str, int] | None = None
        self.pvt_callid = pbx.new_sip_callid() if tech == "PJSIP" else ""
        self.cdr = pbx.new_cdr(self)
        self.peer_local: Channel | None = None  # the other half of a Local pair
        self.redirect_to: tuple[str, str, int] | None = None
        self.inbox: asyncio.Queue[tuple[Channel, str]] | None = None  # the requester's (Dial, Originate)
        self.local_two = False
        self.jumped = False  # a Goto moved the channel: do not step to the next priority
        self.async_goto = False  # a Redirect is pending for the running application
        self.pulled: asyncio.Future[None] | None = None  # taken into a Bridge() by another channel
        self.after_bridge: tuple[str, str, int] | None = None  # where that Bridge() sends it on
        self.pull_seen = False  # its own dialplan has stopped for that Bridge()
        pbx.add_channel(self)

    # ---- published state -------------------------------------------------------------
    def snapshot(self, prefix: str = "") -> Headers:
        c = self.caller
        o = self.connected
        h: Headers = [
            (prefix + "Channel", self.name),
            (prefix + "ChannelState", str(self.state)),
            (prefix + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (prefix + "CallerIDNum", c.num or UNKNOWN),
            (prefix + "CallerIDName", c.name or UNKNOWN),
            (prefix + "ConnectedLineNum", o.num or UNKNOWN),
            (prefix + "ConnectedLineName", o.name or UNKNOWN),
            (prefix + "Language", self.language),
            (prefix + "AccountCode", self.accountcode),
            (prefix + "Context", self.context),
            (prefix + "Exten", self.exten),
            (prefix + "Priority", str(self.priority)),
            (prefix + "Uniqueid", self.uniqueid),
            (prefix + "Linkedid", self.linkedid),
        ]
        key = prefix + "ChanVariable"
        pub = self._pub_vars
        for var in self.pbx.config.channel_vars:
            h.append((key, f"{var}={pub.get(var, '')}"))
        return h

    def _snapshot_cached(self) -> tuple[Headers, bytes]:
        """The snapshot as headers and as encoded bytes, rebuilt only when one of its fields
        changed (events on a channel are the simulator's hot path): the 14 channel fields and
        the ChanVariable lines are cached separately."""
        c = self.caller
        o = self.connected
        key = (self.state, c.num, c.name, o.num, o.name, self.context, self.exten, self.priority,
               self.accountcode, self.linkedid)
        if key != self._snap_key:
            base = self.snapshot()[:14]
            self._snap_base = (base, "".join([f"{k}: {v}\r\n" for k, v in base]).encode("utf-8", "surrogateescape"))
            self._snap_key = key
            self._snap = None
        if self._snap is None or self._snap_vars != self._pub_version:
            pub = self._pub_vars
            cvars = [("ChanVariable", f"{var}={pub.get(var, '')}") for var in self.pbx.config.channel_vars]
            blob = "".join([f"{k}: {v}\r\n" for k, v in cvars]).encode("utf-8", "surrogateescape")
            base_headers, base_blob = self._snap_base  # type: ignore[misc]
            self._snap = ([*base_headers, *cvars], base_blob + blob)
            self._snap_vars = self._pub_version
        return self._snap

    def _refresh_vars(self) -> None:
        cvars = self.pbx.config.channel_vars
        fresh = {v: self.vars[v] for v in cvars if v in self.vars}
        if fresh != self._pub_vars:
            self._pub_vars = fresh
            self._pub_version += 1

    def stage(self) -> None:
        """ast_channel_stage_snapshot: variable changes are not published until unstage()."""
        self.staged = True

    def unstage(self) -> None:
        self.staged = False
        self._refresh_vars()

    def announce(self) -> None:
        """Newchannel: the channel exists (its creator has set its first fields)."""
        self.event("Newchannel", "call")
        self.publish_snapshot()

    def event(self, name: str, category: str, extra: Headers = ()) -> None:  # type: ignore[assignment]
        headers, blob = self._snapshot_cached()
        self.pbx.hub.emit_snapshot(name, category, headers, blob, extra)

    def publish_snapshot(self) -> None:
        """Asterisk derives Newexten from snapshot updates: one is published when the
        application goes from empty to set, or when context/extension/priority change
        (the application may be stale then, as after a Redirect)."""
        if not self.staged:
            self._refresh_vars()
        cep = (self.context, self.exten, self.priority)
        if self.app and (not self._last_app or cep != self._last_cep):
            self.event("Newexten", "dialplan", [("Extension", self.exten),
                                                ("Application", self.app),
                                                ("AppData", self.appdata)])
        self._last_app = self.app
        self._last_cep = cep

    # ---- variables ---------------------------------------------------------------------
    def set_var(self, name: str, value: str, *, publish: bool = True) -> None:
        """Set a channel variable; ``_X``/``__X`` mark it inherited by channels it creates."""
        bare = name
        level = 0
        if name.startswith("__"):
            bare, level = name[2:], 2
        elif name.startswith("_"):
            bare, level = name[1:], 1
        self.vars.pop(bare, None)
        self.vars[bare] = value
        if level:
            self.inherit[bare] = level
        if not self.staged and bare in self.pbx.channel_var_set:
            self._refresh_vars()
        if publish:
            self.event("VarSet", "dialplan", [("Variable", name), ("Value", value)])
        if self.call is not None:
            self.call.on_var(self, bare, value)

    def get_var(self, name: str) -> str | None:
        return self.vars.get(name)

    def inherited(self) -> list[tuple[str, str]]:
        """Variables a new outgoing channel inherits, newest first as in Asterisk."""
        out = []
        for bare in reversed(list(self.vars)):
            level = self.inherit.get(bare)
            if level:
                # __X stays inheritable on the new channel; _X is inherited once, as X.
                out.append(("__" + bare if level == 2 else bare, self.vars[bare]))
        return out

    # ---- state -------------------------------------------------------------------------
    def set_state(self, state: int) -> None:
        if self.state == state:
            return
        self.state = state
        if state == RINGING and self.ringing_since is None:
            self.ringing_since = self.pbx.clock.now()
            self.ringing_since_wall = self.pbx.clock.wall()
        if state == UP and self.answered is None:
            self.answered = self.pbx.clock.now()
            self.answered_wall = self.pbx.clock.wall()
        if state == UP:
            self.cdr.answered(self)
        self.event("Newstate", "call")
        self.publish_snapshot()
        if state in (RINGING, UP, BUSY):
            self.dev_active = True
        self.pbx.update_device(self.device)

    def set_location(self, context: str | None = None, exten: str | None = None,
                     priority: int | None = None) -> None:
        if context is not None:
            self.context = context
        if exten is not None:
            self.exten = exten
        if priority is not None:
            self.priority = priority

    @property
    def is_up(self) -> bool:
        return self.state == UP

    def notify(self, frame: str) -> None:
        """Tell whoever requested this outgoing channel (Dial, Originate) what happened."""
        if self.inbox is not None:
            self.inbox.put_nowait((self, frame))

    def new_callerid(self) -> None:
        self.event("NewCallerid", "call", [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")])

    def new_connected_line(self) -> None:
        self.event("NewConnectedLine", "call")

    # ---- hangup ------------------------------------------------------------------------
    @property
    def hungup(self) -> bool:
        return self.hangup_requested.is_set()

    def check(self) -> None:
        if self.hangup_requested.is_set():
            raise Hangup(self.name)
        if self.redirect_to is not None or self.pulled is not None:
            raise Interrupted(self.name)

    def request_hangup(self, cause: int | None = None, *, publish: bool = True) -> None:
        """The far end hung up (BYE/CANCEL) or a peer asked us to: HangupRequest."""
        if self.destroyed:
            return
        if cause:
            self.hangupcause = cause
        if publish:
            extra: Headers = [] if cause is None else [("Cause", str(cause))]
            self.event("HangupRequest", "call", extra)
        first = not self.hangup_requested.is_set()
        self.hangup_requested.set()
        self.wake.set()
        if first:
            self.notify("hangup")

    def softhangup(self, flag: int = SOFTHANGUP_APPUNLOAD, cause: int | None = None) -> None:
        """Asterisk's ast_softhangup: SoftHangupRequest once per flag."""
        if self.destroyed:
            return
        if cause is not None:
            self.hangupcause = cause
        if not self.softhangup_flags & flag:
            self.softhangup_flags |= flag
            self.event("SoftHangupRequest", "call", [("Cause", str(flag))])
        first = not self.hangup_requested.is_set()
        self.hangup_requested.set()
        self.wake.set()
        if first:
            self.notify("hangup")

    def destroy(self, *, cdr_first: bool = False) -> None:
        """ast_hangup: the Hangup event (and the CDR); the channel is gone afterwards."""
        if self.destroyed:
            return
        peer = self.peer_local
        if peer is not None and not peer.destroyed and not peer.hangup_requested.is_set():
            # chan_local queues the hangup on the other half before this half goes.
            peer.request_hangup(self.hangupcause)
        self.destroyed = True
        self.hangup_requested.set()
        self.wake.set()
        if self.mixmonitor is not None:
            self.mixmonitor.channel_gone(self)
        if cdr_first:
            self.cdr.finish(self)
        extra: Headers = [("Cause", str(self.hangupcause)), ("Cause-txt", cause_text(self.hangupcause))]
        if self.tech_cause:
            extra.append(("TechCause", str(self.tech_cause)))
        self.event("Hangup", "call", extra)
        if not cdr_first:
            self.cdr.finish(self)
        self.pbx.remove_channel(self)
        if self.party is not None:
            self.party.channel_ended(self)
        if self.call is not None:
            self.call.on_channel_end(self)
        if not self.ended.done():
            self.ended.set_result(None)

    # ---- waiting -----------------------------------------------------------------------
    def _reasons(self) -> None:
        """Raise for a pending hangup or redirect; otherwise forget a stale wake-up."""
        self.check()
        self.wake.clear()

    async def sleep(self, sim_seconds: float | None) -> None:
        """Wait (forever when ``None``) unless the channel is hung up (Hangup) or redirected
        (Interrupted) first."""
        self.check()
        if sim_seconds is not None and sim_seconds <= 0:
            return
        loop = self.pbx.loop
        deadline = None if sim_seconds is None else loop.time() + self.pbx.clock.real(sim_seconds)
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            try:
                await asyncio.wait_for(self.wake.wait(), remaining)
            except TimeoutError:
                return
            self._reasons()

    async def wait_event(self, event: asyncio.Event, sim_seconds: float | None) -> bool:
        """Wait for ``event``; False on timeout; Hangup/Interrupted if the channel goes first."""
        self.check()
        loop = self.pbx.loop
        deadline = None if sim_seconds is None else loop.time() + self.pbx.clock.real(sim_seconds)
        while not event.is_set():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self.wake.wait())}
            try:
                await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            if event.is_set():
                return True
            if self.wake.is_set():
                self._reasons()
        return True

    async def get_digit(self, sim_seconds: float | None) -> str | None:
        """Next DTMF digit from the far end, None on timeout, Hangup on hangup."""
        self.check()
        if not self.dtmf.empty():
            return self.dtmf.get_nowait()
        loop = self.pbx.loop
        deadline = None if sim_seconds is None else loop.time() + self.pbx.clock.real(sim_seconds)
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            getter = asyncio.ensure_future(self.dtmf.get())
            hup = asyncio.ensure_future(self.wake.wait())
            try:
                await asyncio.wait({getter, hup}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                hup.cancel()
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                return getter.result()
            if self.wake.is_set():
                self._reasons()

    def redirect(self, context: str, exten: str, priority: int) -> None:
        """AMI Redirect (async goto): the running application stops and the channel goes on at
        the new place; the snapshot update publishes a Newexten with the old application."""
        self.redirect_to = (context, exten, priority)
        self.async_goto = True  # until the running application (AGI included) has returned
        self.wake.set()

    def __repr__(self) -> str:
        return f"<Channel {self.name} state={self.state}>"
