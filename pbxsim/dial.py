"""Dial(): request outgoing channels, wait for an answer, bridge, and tear down.

Follows app_dial's wait_for_answer: DialBegin per outgoing leg, DialState RINGING when the far
end rings, DialEnd with ANSWER/BUSY/NOANSWER/CANCEL/CHANUNAVAIL, DIALSTATUS at the end.
``200 result=0`` (res 0) when nobody answered in time or everybody was busy/unavailable;
``-1`` when the caller hung up, or after an answered call once the bridge broke up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbxsim.bridge import Bridge
from pbxsim.causes import CONGESTION, NORMAL_CLEARING, USER_BUSY, dial_status_for_cause
from pbxsim.channel import DOWN, UP, Channel, Party
from pbxsim.dialplan.expr import split_args
from pbxsim.dialplan.runner import apply_redirect
from pbxsim.local import LocalPair

if TYPE_CHECKING:
    from pbxsim.pbx import Pbx

log = logging.getLogger("pbxsim.dial")

DIAL_VARS = ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS",
             "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME",
             "PROGRESSTIME_MS")


@dataclass
class Outgoing:
    chan: Channel
    dialstring: str
    pair: LocalPair | None = None
    stillgoing: bool = True
    extra: dict[str, object] = field(default_factory=dict)


class RequestFailed(Exception):
    def __init__(self, cause: int, message: str) -> None:
        super().__init__(message)
        self.cause = cause


def _dial_begin(dialer: Channel | None, out: Outgoing) -> None:
    pbx = out.chan.pbx
    headers = [] if dialer is None else dialer.snapshot()
    pbx.hub.emit("DialBegin", "call", [*headers, *out.chan.snapshot("Dest"), ("DialString", out.dialstring)])


def dial_event(name: str, dialer: Channel | None, out: Channel, status: str) -> None:
    headers = [] if dialer is None or dialer.destroyed else dialer.snapshot()
    out.pbx.hub.emit(name, "call", [*headers, *out.snapshot("Dest"), ("DialStatus", status)])


def request_outgoing(pbx: Pbx, target: str, *, dialer: Channel | None,
                     variables: list[tuple[str, str]], callerid: Party | None,
                     inbox: asyncio.Queue[tuple[Channel, str]], app: str,
                     linkedid: str | None, ids: tuple[str | None, str | None] = (None, None)) -> Outgoing:
    """Create the outgoing channel(s) for ``Tech/resource`` and start the call.

    ``dialer`` is the calling channel for Dial (its exten and caller ID go on the new leg) and
    None for Originate. Raises :class:`RequestFailed` when no channel can be made."""
    tech, sep, resource = target.strip().partition("/")
    if not sep or not resource:
        raise RequestFailed(3, f"bad dial string {target!r}")
    if tech.lower() == "local":
        resource = resource.split("/", 1)[0]
        exten, _, context = resource.partition("@")
        context = context or "default"
        pair = LocalPair(pbx, exten, context, linkedid, ids)
        one, two = pair.one, pair.two
        out = Outgoing(one, resource, pair)
        if dialer is not None:
            one.cdr.enabled = False  # the Dial leg is the B party of the caller's CDR
            one.stage()
            one.set_var("DIALEDPEERNUMBER", resource)
            for name, value in variables:
                one.set_var(name, value)
            one.caller = Party(dialer.exten, None)
            one.connected = dialer.caller.copy()
            one.exten = dialer.exten
            one.unstage()
        one.app, one.appdata = app, "(Outgoing Line)"
        one.cdr.app(app, "(Outgoing Line)")
        one.publish_snapshot()
        if dialer is None:
            for name, value in reversed(variables):
                one.set_var(name, value)
            if callerid is not None:
                one.caller = callerid.copy()
        one.new_callerid()
        if dialer is None and callerid is not None:
            one.connected = callerid.copy()
        one.new_connected_line()
        two.stage()
        if dialer is not None:
            two.set_var("DIALEDPEERNUMBER", resource)
            for name, value in variables:
                two.set_var(name, value)
            two.caller = dialer.caller.copy()
            two.connected = Party(dialer.exten, None)
        else:
            for name, value in variables:
                two.set_var(name, value)
            if callerid is not None:
                two.caller = callerid.copy()
                two.connected = callerid.copy()
        two.unstage()
        two.new_callerid()
        two.new_connected_line()
        one.inbox = inbox
        if not pair.can_call():
            pair.fail()
            raise_failed = RequestFailed(0, f"no extension {exten}@{context}")
            raise_failed.out = out  # type: ignore[attr-defined]
            raise raise_failed
        pair.local_bridge()
        _dial_begin(dialer, out)
        pair.start()
        return out
    if tech.upper() != "PJSIP":
        raise RequestFailed(3, f"channel technology {tech} is not simulated")
    target_info = pbx.endpoints.resolve(resource)
    if target_info is None:
        raise RequestFailed(3, f"no PJSIP endpoint for {resource!r}")
    if not target_info.available:
        raise RequestFailed(target_info.cause, f"PJSIP endpoint {target_info.endpoint} is unavailable")
    chan = Channel(pbx, name=pbx.pjsip_name(target_info.endpoint), tech="PJSIP",
                   resource=target_info.endpoint, state=DOWN, context=target_info.context,
                   exten="s", linkedid=linkedid, device=f"PJSIP/{target_info.endpoint}", uniqueid=ids[0])
    chan.announce()
    out = Outgoing(chan, resource)
    if dialer is not None:
        chan.cdr.enabled = False
        chan.stage()
        chan.set_var("DIALEDPEERNUMBER", resource)
        for name, value in variables:
            chan.set_var(name, value)
        chan.caller = Party(dialer.exten, None)
        chan.connected = dialer.caller.copy()
        chan.exten = dialer.exten
        chan.unstage()
    chan.app, chan.appdata = app, "(Outgoing Line)"
    chan.cdr.app(app, "(Outgoing Line)")
    chan.publish_snapshot()
    if dialer is None:
        for name, value in reversed(variables):
            chan.set_var(name, value)
        if callerid is not None:
            chan.caller = callerid.copy()
    chan.new_callerid()
    if dialer is None and callerid is not None:
        chan.connected = callerid.copy()
    chan.new_connected_line()
    chan.inbox = inbox
    _dial_begin(dialer, out)
    pbx.endpoints.start_far_end(chan, target_info, dialer)
    return out


def _duration_vars(chan: Channel, base: str, seconds: float) -> None:
    ms = int(seconds * 1000)
    chan.set_var(base, str(ms // 1000))
    chan.set_var(base + "_MS", str(ms))


class _Counts:
    def __init__(self) -> None:
        self.busy = self.congestion = self.nochan = 0

    def cause(self, cause: int) -> None:
        if cause == USER_BUSY:
            self.busy += 1
        elif cause in (CONGESTION, 42):
            self.congestion += 1
        elif cause in (NORMAL_CLEARING, 19):
            pass
        else:
            self.nochan += 1


async def _next(inbox: asyncio.Queue[tuple[Channel, str]], chan: Channel,
                timeout_real: float | None) -> tuple[Channel, str] | None:
    """The next frame from an outgoing leg; None on timeout or when ``chan`` needs attention."""
    if not inbox.empty():
        return inbox.get_nowait()
    getter = asyncio.ensure_future(inbox.get())
    waker = asyncio.ensure_future(chan.wake.wait())
    try:
        await asyncio.wait({getter, waker}, timeout=timeout_real, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waker.cancel()
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    return None


def hangup_outgoing(out: Outgoing) -> None:
    out.stillgoing = False
    out.chan.inbox = None
    if not out.chan.destroyed:
        out.chan.destroy()


async def dial(chan: Channel, data: str) -> int:
    pbx = chan.pbx
    args = split_args(data)
    if not args or not args[0].strip():
        log.warning("%s: Dial requires an argument", chan.name)
        return -1
    targets = [t for t in args[0].split("&") if t.strip()]
    timeout: float | None = None
    if len(args) > 1 and args[1].strip():
        try:
            timeout = float(args[1])
        except ValueError:
            timeout = None
        if timeout is not None and timeout <= 0:
            timeout = None
    for name in DIAL_VARS:
        chan.set_var(name, "")
    chan.cdr.dial_started(chan)
    started = pbx.clock.now()
    inbox: asyncio.Queue[tuple[Channel, str]] = asyncio.Queue()
    counts = _Counts()
    outs: list[Outgoing] = []
    for target in targets:
        try:
            out = request_outgoing(pbx, target, dialer=chan, variables=chan.inherited(), callerid=None,
                                   inbox=inbox, app="AppDial", linkedid=chan.linkedid)
        except RequestFailed as exc:
            log.info("%s: Dial %s: %s", chan.name, target, exc)
            counts.cause(exc.cause)
            failed_out = getattr(exc, "out", None)
            if failed_out is not None:
                hangup_outgoing(failed_out)
            if chan.call is not None:
                chan.call.on_offer_failed(target, exc.cause)
            continue
        outs.append(out)
        if chan.call is not None:
            chan.call.on_offer(chan, out.chan, target)
    if not outs:
        chan.cdr.dial_ended("CHANUNAVAIL", None)
        chan.set_var("DIALSTATUS", "CHANUNAVAIL")
        return -1
    peer, status, res = await _wait_for_answer(chan, outs, timeout, inbox, started, counts, len(targets))
    if peer is None:
        chan.cdr.dial_ended(status, outs[-1].chan.name)
        if not chan.destroyed:
            chan.set_var("DIALSTATUS", status)
        return res
    return await _bridge(chan, peer, inbox, started)


async def _wait_for_answer(chan: Channel, outs: list[Outgoing], timeout: float | None,
                           inbox: asyncio.Queue[tuple[Channel, str]], started: float,
                           counts: _Counts, numlines: int) -> tuple[Outgoing | None, str, int]:
    pbx = chan.pbx
    loop = pbx.loop
    deadline = None if timeout is None else loop.time() + pbx.clock.real(timeout)
    sent_ring = sent_progress = False
    by_chan = {o.chan: o for o in outs}
    while True:
        alive = [o for o in outs if o.stillgoing]
        if not alive:
            status = "NOANSWER"
            if numlines == counts.busy + counts.congestion + counts.nochan:
                status = "BUSY" if counts.busy else ("CONGESTION" if counts.congestion else "CHANUNAVAIL")
            return None, status, 0
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            for o in alive:
                dial_event("DialEnd", chan, o.chan, "NOANSWER")
                if chan.call is not None:
                    chan.call.on_offer_end(o.chan, "noanswer", None)
            for o in alive:
                hangup_outgoing(o)
            return None, "NOANSWER", 0
        if chan.wake.is_set() and not _attention(chan):
            chan.wake.clear()  # a stale wake-up: nothing to act on
        if chan.hungup or chan.redirect_to is not None:
            for o in alive:
                dial_event("DialEnd", chan, o.chan, "CANCEL")
                if chan.call is not None:
                    chan.call.on_offer_end(o.chan, "cancelled", None)
            for o in alive:
                hangup_outgoing(o)
            return None, "CANCEL", -1
        item = await _next(inbox, chan, remaining)
        if item is None:
            continue
        leg, frame = item
        o = by_chan.get(leg)
        if o is None or not o.stillgoing:
            continue
        if frame == "ringing":
            if not sent_ring:
                sent_ring = True
                _duration_vars(chan, "RINGTIME", pbx.clock.now() - leg.created)
            dial_event("DialState", chan, leg, "RINGING")
            if chan.call is not None:
                chan.call.on_offer_ringing(chan, leg)
        elif frame == "progress":
            if not sent_progress:
                sent_progress = True
                _duration_vars(chan, "PROGRESSTIME", pbx.clock.now() - leg.created)
            dial_event("DialState", chan, leg, "PROGRESS")
        elif frame == "connected_line":
            # app_dial copies the peer's caller ID (for a Dial leg: our own exten) to the caller
            chan.connected = leg.caller.copy()
            chan.new_connected_line()
        elif frame == "answer":
            for other in outs:
                if other is not o and other.stillgoing:
                    dial_event("DialEnd", chan, other.chan, "CANCEL")
                    hangup_outgoing(other)
            return o, "ANSWER", 0
        elif frame in ("busy", "congestion"):
            cause = USER_BUSY if frame == "busy" else CONGESTION
            leg.hangupcause = leg.hangupcause or cause
            chan.hangupcause = leg.hangupcause
            dial_event("DialEnd", chan, leg, "BUSY" if frame == "busy" else "CONGESTION")
            if chan.call is not None:
                chan.call.on_offer_end(leg, frame, None)
            hangup_outgoing(o)
            counts.cause(cause)
        elif frame == "hangup":
            chan.hangupcause = leg.hangupcause
            dial_event("DialEnd", chan, leg, dial_status_for_cause(leg.hangupcause))
            if chan.call is not None:
                chan.call.on_offer_end(leg, "hungup", leg.hangupcause)
            hangup_outgoing(o)
            counts.cause(leg.hangupcause)


async def _bridge(chan: Channel, out: Outgoing, inbox: asyncio.Queue[tuple[Channel, str]],
                  started: float) -> int:
    pbx = chan.pbx
    peer = out.chan
    chan.set_var("DIALSTATUS", "ANSWER")
    chan.set_var("DIALEDPEERNAME", peer.name)
    chan.set_var("DIALEDPEERNUMBER", out.dialstring)
    if chan.state != UP:
        chan.set_state(UP)
    chan.hangupcause = NORMAL_CLEARING
    peer.hangupcause = NORMAL_CLEARING
    peer.exten = ""
    dial_event("DialEnd", chan, peer, "ANSWER")
    chan.cdr.dial_ended("ANSWER", peer.name)
    bridge = Bridge(pbx)
    bridge.create()
    peer.publish_snapshot()
    bridge.enter(peer)
    bridge.enter(chan)
    if peer.tech == "Local":
        bridge.set_peer_vars(peer, chan)
    else:
        bridge.set_peer_vars(chan, peer)
    if peer.tech == "PJSIP" and chan.tech == "PJSIP":
        bridge.technology = "native_rtp"
    for c in (chan, peer):
        if c.mixmonitor is not None:
            c.mixmonitor.bridge_changed()
    bridged_at = pbx.clock.now()
    if chan.call is not None:
        chan.call.on_bridged(chan, peer)
    for c, other in ((chan, peer), (peer, chan)):
        if c.party is not None:
            c.party.bridged(c, other)
    # Wait until one side leaves: hangup, or an async goto (Redirect).
    while not (_attention(chan) or _attention(peer) or peer.destroyed):
        await wait_any(chan.wake, peer.wake)
        for c in (chan, peer):
            if c.wake.is_set() and not _attention(c):
                c.wake.clear()
    while not inbox.empty():
        inbox.get_nowait()
    return _unbridge(chan, out, bridge, started, bridged_at)


def _attention(chan: Channel) -> bool:
    return chan.hungup or chan.redirect_to is not None


async def wait_any(*events: asyncio.Event) -> None:
    if any(e.is_set() for e in events):
        return
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _unbridge(chan: Channel, out: Outgoing, bridge: Bridge, started: float, bridged_at: float) -> int:
    pbx = chan.pbx
    peer = out.chan
    now = pbx.clock.now()
    chan.cdr.bridge_ended()
    peer.cdr.bridge_ended()

    def final_vars() -> None:
        if chan.destroyed:
            return
        _duration_vars(chan, "ANSWEREDTIME", now - bridged_at)
        _duration_vars(chan, "DIALEDTIME", now - started)
        chan.set_var("DIALSTATUS", "ANSWER")

    def mon() -> None:
        for c in (chan, peer):
            if c.mixmonitor is not None:
                c.mixmonitor.bridge_changed()

    chan_redir = chan.redirect_to is not None and not chan.hungup
    peer_redir = peer.redirect_to is not None and not peer.hungup
    if chan_redir and peer_redir:
        Bridge.clear_peer_vars(peer, chan)
        apply_redirect(peer)
        apply_redirect(chan)
        bridge.leave(peer)
        bridge.leave(chan)
        mon()
        chan.set_var("DIALSTATUS", "ANSWER")
        bridge.destroy()
        peer.inbox = None
        from pbxsim.dialplan.runner import run_pbx

        pbx.spawn(run_pbx(peer), name=f"pbx {peer.name}")
        chan.jumped = True
        if chan.call is not None:
            chan.call.on_unbridged(chan, peer, "redirect")
        return 0
    if chan_redir:
        chan.set_var("BRIDGEPEER", "")
        if peer.pvt_callid:
            chan.set_var("BRIDGEPVTCALLID", "")
        apply_redirect(chan)
        peer.set_var("BRIDGEPEER", "")
        if chan.pvt_callid:
            peer.set_var("BRIDGEPVTCALLID", "")
        bridge.leave(chan)
        bridge.leave(peer)
        mon()
        bridge.destroy()
        if chan.call is not None:
            chan.call.on_unbridged(chan, peer, "redirect")
        hangup_outgoing(out)
        chan.set_var("DIALSTATUS", "ANSWER")
        chan.jumped = True
        return 0
    if chan.hungup:
        # The caller left: its Dial returns at once; the peer goes a moment later.
        Bridge.clear_peer_vars(chan, peer)
        bridge.leave(chan)
        mon()
        if chan.call is not None:
            chan.call.on_unbridged(chan, peer, "caller")
        final_vars()

        async def finish_peer() -> None:
            bridge.leave(peer)
            bridge.destroy()
            hangup_outgoing(out)

        pbx.spawn(finish_peer(), name=f"unbridge {peer.name}")
        return -1
    # The peer left (hung up, or was redirected away on its own).
    Bridge.clear_peer_vars(peer, chan)
    bridge.leave(peer)
    bridge.leave(chan)
    mon()
    bridge.destroy()
    if chan.call is not None:
        chan.call.on_unbridged(chan, peer, "peer")
    if peer_redir:
        apply_redirect(peer)
        peer.inbox = None
        from pbxsim.dialplan.runner import run_pbx

        pbx.spawn(run_pbx(peer), name=f"pbx {peer.name}")
    else:
        hangup_outgoing(out)
    final_vars()
    return -1
