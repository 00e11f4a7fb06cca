"""The Bridge() application: take another channel out of what it is doing and bridge it.

When the bridge ends, the bridged channel (the target) goes on as app_bridge (main/features.c,
bridge_exec) sets it up: option ``x`` hangs it up; ``F(context^exten^priority)`` sends it
there (each part defaulting to the bridger's location), bare ``F`` to the bridger's next
priority; with neither it goes on at its own next priority. An AMI Redirect of the target
while bridged (the ExtraChannel of hotline's dual redirect) takes it out of the bridge to the
Redirect's place instead.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from pbxsim.bridge import Bridge
from pbxsim.channel import UP

if TYPE_CHECKING:
    from pbxsim.channel import Channel

Location = tuple[str, str, int]
_GO_ON = re.compile(r"F(?:\((?P<where>[^)]*)\))?")


def after_bridge(chan: Channel, target: Channel, options: str) -> Location | None:
    """Where the target goes once the bridge is over; None: hung up (option x)."""
    go_on = _GO_ON.search(options)
    if go_on is None:
        if "x" in options:
            return None
        return target.context, target.exten, target.priority + 1
    where = go_on["where"]
    if not where:
        return chan.context, chan.exten, chan.priority + 1
    parts = where.split("^")
    priority = int(parts[-1]) if parts[-1].strip().isdigit() else 1
    exten = parts[-2] if len(parts) >= 2 else chan.exten
    context = parts[-3] if len(parts) >= 3 else chan.context
    return context, exten, priority


async def bridge_channels(chan: Channel, target: Channel, options: str = "") -> int:
    from pbxsim.apps import answer_channel
    from pbxsim.dial import wait_any

    pbx = chan.pbx
    if chan.state != UP:
        await answer_channel(chan)
    done: asyncio.Future[None] = pbx.loop.create_future()
    target.pulled = done
    # A target running dialplan of its own must see the pull (its application interrupted)
    # before this bridge may clear the wake-up it shares with that application.
    target.pull_seen = not target.pbx_running
    target.wake.set()
    bridge = Bridge(pbx)
    bridge.create()
    bridge.enter(target)
    bridge.enter(chan)
    bridge.set_peer_vars(chan, target)
    for c in (chan, target):
        if c.mixmonitor is not None:
            c.mixmonitor.bridge_changed()
    record = chan.call if chan.call is not None else target.call
    if record is not None:
        record.on_talk_resumed()
    for c, other in ((chan, target), (target, chan)):
        if c.party is not None:
            c.party.rejoined(c, other)
    try:
        while not (chan.hungup or target.hungup or chan.redirect_to is not None
                   or target.redirect_to is not None):
            await wait_any(chan.wake, target.wake)
            if chan.wake.is_set() and not (chan.hungup or chan.redirect_to is not None):
                chan.wake.clear()
            if target.wake.is_set() and not (target.hungup or target.redirect_to is not None):
                if not target.pull_seen:
                    await asyncio.sleep(0)  # its application has not woken up yet
                    continue
                target.wake.clear()
    finally:
        first, second = (chan, target) if chan.hungup else (target, chan)
        Bridge.clear_peer_vars(first, second)
        bridge.leave(first)
        bridge.leave(second)
        bridge.destroy()
        for c in (chan, target):
            if c.mixmonitor is not None:
                c.mixmonitor.bridge_changed()
        if record is not None:
            record.on_unbridged(chan, target, "bridge")
        chan.set_var("BRIDGERESULT", "SUCCESS")
        target.pulled = None
        _send_on(target, None if target.hungup else after_bridge(chan, target, options))
        if not done.done():
            done.set_result(None)
    return -1 if chan.hungup else 0


def _send_on(target: Channel, where: Location | None) -> None:
    """The target after the bridge: to its Redirect's place, to ``where``, or hung up."""
    from pbxsim.dialplan.runner import apply_redirect, run_pbx

    if target.destroyed:
        return
    if where is None and target.redirect_to is None:
        target.request_hangup(None, publish=False)
        if not target.pbx_running:
            target.softhangup()
            target.destroy()
        return
    if target.redirect_to is None:
        target.after_bridge = where
    if not target.pbx_running:  # nothing ran on it (a Dial's callee): start the dialplan there
        target.inbox = None
        if target.redirect_to is not None:
            apply_redirect(target)
        else:
            go_to_after_bridge(target)
        target.pbx.spawn(run_pbx(target), name=f"pbx {target.name}")


def go_to_after_bridge(target: Channel) -> None:
    """Move a channel to where Bridge() sent it (no Redirect: the truth log keeps none)."""
    where, target.after_bridge = target.after_bridge, None
    if where is not None:
        target.set_location(*where)
        target.publish_snapshot()
        if not target.hungup:
            target.wake.clear()
