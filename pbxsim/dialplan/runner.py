"""The pbx loop of one channel: run priorities until the channel hangs up or falls off the end."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pbxsim.channel import SOFTHANGUP_APPUNLOAD, Hangup, Interrupted
from pbxsim.dialplan.expr import substitute

if TYPE_CHECKING:
    from pbxsim.channel import Channel

log = logging.getLogger("pbxsim.pbx")


def apply_redirect(chan: Channel) -> None:
    """Act on a pending async goto: move the channel and publish its snapshot (a Newexten that
    still names the old application, as Asterisk does)."""
    if chan.redirect_to is None:
        return
    context, exten, priority = chan.redirect_to
    chan.redirect_to = None
    chan.set_location(context, exten, priority)
    chan.publish_snapshot()
    if not chan.hungup:
        chan.wake.clear()
    if chan.call is not None:
        chan.call.on_redirect(chan, context, exten)


async def run_pbx(chan: Channel) -> None:
    from pbxsim.apps import find_app

    pbx = chan.pbx
    chan.pbx_running = True
    try:
        while not pbx.stopped and not chan.destroyed:
            if chan.redirect_to is not None:
                apply_redirect(chan)
            if chan.hungup:
                break
            step = pbx.dialplan.step(chan.context, chan.exten, chan.priority)
            if step is None:
                log.debug("%s: no %s,%s,%s: hanging up", chan.name, chan.context, chan.exten, chan.priority)
                break
            app = find_app(step.app)
            data = substitute(step.args, chan)
            chan.app, chan.appdata = (app[0] if app else step.app), data
            chan.cdr.dialplan_step(chan)
            chan.cdr.app(chan.app, data)
            chan.publish_snapshot()
            if app is None:
                log.warning("%s: no application %r (%s)", chan.name, step.app, step.where)
                break
            chan.jumped = False
            try:
                res = await app[1](chan, data)
            except Hangup:
                res = -1
            except Interrupted:
                chan.async_goto = False
                if chan.pulled is not None:
                    chan.pull_seen = True
                    await chan.pulled
                    if chan.hungup or (chan.redirect_to is None and chan.after_bridge is None):
                        break
                    if chan.redirect_to is None:
                        from pbxsim.bridge_app import go_to_after_bridge

                        go_to_after_bridge(chan)
                continue
            chan.async_goto = False
            if chan.redirect_to is not None:
                continue
            if res != 0:
                break
            if not chan.jumped:
                chan.priority += 1
    finally:
        chan.pbx_running = False
        if not chan.destroyed and not pbx.stopped:
            if chan.call is not None:
                chan.call.ended_by_hint(chan, "pbx")
            chan.softhangup(SOFTHANGUP_APPUNLOAD)
            chan.destroy()
