"""The Bridge() application: take another channel out of what it is doing and bridge it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pbxsim.bridge import Bridge
from pbxsim.channel import UP

if TYPE_CHECKING:
    from pbxsim.channel import Channel


async def bridge_channels(chan: Channel, target: Channel) -> int:
    from pbxsim.apps import answer_channel
    from pbxsim.dial import wait_any

    pbx = chan.pbx
    if chan.state != UP:
        await answer_channel(chan)
    done: asyncio.Future[None] = pbx.loop.create_future()
    target.pulled = done
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
    try:
        while not (chan.hungup or target.hungup or chan.redirect_to is not None):
            await wait_any(chan.wake, target.wake)
            if chan.wake.is_set() and not (chan.hungup or chan.redirect_to is not None):
                chan.wake.clear()
            if target.wake.is_set() and not target.hungup:
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
        if not target.destroyed:
            target.request_hangup(None, publish=False)
            if not target.pbx_running:
                target.softhangup()
                target.destroy()
        if not done.done():
            done.set_result(None)
    return -1 if chan.hungup else 0
