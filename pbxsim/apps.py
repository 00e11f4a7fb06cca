"""Dialplan applications the simulator runs (from extensions.conf and from AGI EXEC).

Each application is ``async def app(chan, data) -> int``: 0 to go on, -1 to end the dialplan
(hangup). Blocking applications raise :class:`~pbxsim.channel.Hangup` when the channel hangs
up and :class:`~pbxsim.channel.Interrupted` when it is redirected.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pbxsim.causes import CONGESTION, NORMAL_CLEARING, USER_BUSY
from pbxsim.channel import SOFTHANGUP_APPUNLOAD, UP, Hangup, Interrupted
from pbxsim.dialplan.expr import is_true, split_args
from pbxsim.local import answer_local, indicate_busy, indicate_congestion, indicate_ringing

if TYPE_CHECKING:
    from pbxsim.channel import Channel

log = logging.getLogger("pbxsim.apps")

App = Callable[["Channel", str], Awaitable[int]]
ANSWER_MEDIA_WAIT = 0.5  # Asterisk waits this long for the first media frame after answering


async def answer_channel(chan: Channel) -> None:
    """Answer: Newstate Up, then (SIP, no media from the far end) ~500 ms until Asterisk gives
    up waiting for the first RTP frame."""
    if chan.state == UP:
        return
    if chan.local_two:
        answer_local(chan)
        return
    chan.set_state(UP)
    if chan.call is not None:
        chan.call.on_answered(chan)
    if chan.party is not None:
        chan.party.answered(chan)
    if chan.tech == "PJSIP":
        await chan.sleep(0.015 if chan.sends_media else ANSWER_MEDIA_WAIT)


async def app_noop(chan: Channel, data: str) -> int:
    return 0


async def app_set(chan: Channel, data: str) -> int:
    name, sep, value = data.partition("=")
    if not sep or not name.strip():
        log.warning("%s: Set requires name=value, got %r", chan.name, data)
        return 0
    name = name.strip()
    if name.startswith("GLOBAL(") and name.endswith(")"):
        chan.pbx.globals[name[7:-1]] = value
        return 0
    chan.set_var(name, value)
    return 0


async def app_mset(chan: Channel, data: str) -> int:
    for part in split_args(data):
        await app_set(chan, part)
    return 0


async def app_answer(chan: Channel, data: str) -> int:
    await answer_channel(chan)
    return 0


async def app_ringing(chan: Channel, data: str) -> int:
    if chan.local_two:
        indicate_ringing(chan)
    elif chan.state != UP:
        chan.dev_active = True
        chan.pbx.update_device(chan.device)
        if chan.call is not None:
            chan.call.on_ringing(chan)
    return 0


async def app_progress(chan: Channel, data: str) -> int:
    if chan.local_two and chan.peer_local is not None:
        chan.peer_local.notify("progress")
    return 0


async def play_files(chan: Channel, names: list[str], *, answer: bool = True) -> str:
    """Playback: returns SUCCESS or FAILED (PLAYBACKSTATUS)."""
    if answer and chan.state != UP:
        await answer_channel(chan)
    for name in names:
        seconds = chan.pbx.sounds.duration(name, chan.language)
        if seconds is None:
            log.info("%s: no sound file %r", chan.name, name)
            return "FAILED"
        if chan.call is not None:
            chan.call.on_prompt(name)
        await chan.sleep(seconds)
    return "SUCCESS"


async def app_playback(chan: Channel, data: str) -> int:
    args = split_args(data)
    files = [f for f in (args[0] if args else "").split("&") if f]
    options = args[1] if len(args) > 1 else ""
    try:
        status = await play_files(chan, files, answer="noanswer" not in options)
    except (Hangup, Interrupted):
        # app_playback still reports SUCCESS when the caller hangs up mid-file
        if not chan.destroyed:
            chan.set_var("PLAYBACKSTATUS", "SUCCESS")
        raise
    chan.set_var("PLAYBACKSTATUS", status)
    return 0


async def app_wait(chan: Channel, data: str) -> int:
    try:
        seconds = float(data or 0)
    except ValueError:
        seconds = 0.0
    await chan.sleep(seconds)
    return 0


async def app_echo(chan: Channel, data: str) -> int:
    await chan.sleep(None)
    return 0


async def app_hangup(chan: Channel, data: str) -> int:
    cause = NORMAL_CLEARING
    if data.strip().isdigit():
        cause = int(data.strip()) or NORMAL_CLEARING
    if chan.hangupcause == 0 or data.strip():
        chan.hangupcause = cause
    if chan.call is not None:
        chan.call.ended_by_hint(chan, "pbx")
    chan.softhangup(SOFTHANGUP_APPUNLOAD)
    return -1


def _goto_target(chan: Channel, spec: str) -> tuple[str, str, int] | None:
    parts = [p.strip() for p in split_args(spec)]
    if not parts or not parts[-1]:
        return None
    context, exten = chan.context, chan.exten
    if len(parts) == 3:
        context, exten, prio_text = parts
    elif len(parts) == 2:
        exten, prio_text = parts
    else:
        prio_text = parts[0]
    if prio_text.isdigit():
        return context, exten, int(prio_text)
    ext = chan.pbx.dialplan.find(context, exten)
    if ext is None or prio_text not in ext.labels:
        log.warning("%s: Goto: no label %r in %s,%s", chan.name, prio_text, context, exten)
        return None
    return context, exten, ext.labels[prio_text]


def _jump(chan: Channel, target: tuple[str, str, int] | None) -> int:
    if target is None:
        return -1
    chan.set_location(*target)
    chan.jumped = True
    return 0


async def app_goto(chan: Channel, data: str) -> int:
    return _jump(chan, _goto_target(chan, data))


async def app_gotoif(chan: Channel, data: str) -> int:
    cond, _, branches = data.partition("?")
    yes, _, no = branches.partition(":")
    branch = yes if is_true(cond) else no
    if not branch.strip():
        return 0
    return _jump(chan, _goto_target(chan, branch))


async def app_dial(chan: Channel, data: str) -> int:
    from pbxsim.dial import dial

    return await dial(chan, data)


async def app_agi(chan: Channel, data: str) -> int:
    from pbxsim.agi import run_agi

    return await run_agi(chan, data)


async def app_mixmonitor(chan: Channel, data: str) -> int:
    from pbxsim.media import start_mixmonitor

    args = split_args(data)
    if not args or not args[0]:
        log.warning("%s: MixMonitor requires a file name", chan.name)
        return -1
    start_mixmonitor(chan, args[0], args[1] if len(args) > 1 else "")
    return 0


async def app_stopmixmonitor(chan: Channel, data: str) -> int:
    if chan.mixmonitor is not None:
        chan.mixmonitor.finish(publish_stop=True)
    return 0


async def app_musiconhold(chan: Channel, data: str) -> int:
    args = split_args(data)
    klass = args[0] if args and args[0] else "default"
    duration = float(args[1]) if len(args) > 1 and args[1].strip() else None
    if chan.state != UP:
        await answer_channel(chan)
    chan.event("MusicOnHoldStart", "call", [("Class", klass)])
    try:
        await chan.sleep(duration)
    finally:
        if not chan.destroyed:
            chan.event("MusicOnHoldStop", "call")
    return 0


async def app_busy(chan: Channel, data: str) -> int:
    chan.hangupcause = USER_BUSY
    if chan.local_two:
        indicate_busy(chan)
    elif chan.state != UP:
        chan.set_state(7)
    try:
        seconds = float(data) if data.strip() else None
    except ValueError:
        seconds = None
    await chan.sleep(seconds)
    return -1


async def app_congestion(chan: Channel, data: str) -> int:
    chan.hangupcause = CONGESTION
    if chan.local_two:
        indicate_congestion(chan)
    try:
        seconds = float(data) if data.strip() else None
    except ValueError:
        seconds = None
    await chan.sleep(seconds)
    return -1


async def app_userevent(chan: Channel, data: str) -> int:
    args = split_args(data)
    if not args or not args[0]:
        return -1
    headers = [("UserEvent", args[0])]
    for part in args[1:]:
        key, _, value = part.partition(":")
        headers.append((key.strip(), value.strip()))
    chan.event("UserEvent", "user", headers)
    return 0


async def app_bridge(chan: Channel, data: str) -> int:
    from pbxsim.bridge_app import bridge_channels

    args = split_args(data)
    target = chan.pbx.find_channel(args[0] if args else "")
    if target is None or target is chan:
        chan.set_var("BRIDGERESULT", "NONEXISTENT" if target is None else "LOOP")
        return 0
    return await bridge_channels(chan, target, args[1] if len(args) > 1 else "")


async def app_verbose(chan: Channel, data: str) -> int:
    return 0


async def app_read(chan: Channel, data: str) -> int:
    """Read(var,prompt,maxdigits,,,timeout): what hotline-warning style contexts may use."""
    args = split_args(data)
    var = args[0] if args else "READ"
    prompt = args[1] if len(args) > 1 else ""
    maxdigits = int(args[2]) if len(args) > 2 and args[2].isdigit() else 255
    timeout = float(args[5]) if len(args) > 5 and args[5].strip() else 5.0
    if chan.state != UP:
        await answer_channel(chan)
    if prompt:
        await play_files(chan, prompt.split("&"), answer=False)
    if chan.party is not None:
        chan.party.input_requested(chan, "read")
    digits = ""
    try:
        while len(digits) < maxdigits:
            digit = await chan.get_digit(timeout)
            if digit is None or digit == "#":
                break
            digits += digit
    except (Hangup, Interrupted):
        chan.set_var("READSTATUS", "HANGUP")
        raise
    chan.set_var(var, digits)
    chan.set_var("READSTATUS", "OK" if digits else "TIMEOUT")
    return 0


APPS: dict[str, tuple[str, App]] = {
    name.lower(): (name, func)
    for name, func in {
        "NoOp": app_noop, "Set": app_set, "MSet": app_mset, "Answer": app_answer,
        "Ringing": app_ringing, "Progress": app_progress, "Playback": app_playback,
        "Wait": app_wait, "Echo": app_echo, "Hangup": app_hangup, "Goto": app_goto,
        "GotoIf": app_gotoif, "Dial": app_dial, "AGI": app_agi, "MixMonitor": app_mixmonitor,
        "StopMixMonitor": app_stopmixmonitor, "MusicOnHold": app_musiconhold, "Busy": app_busy,
        "Congestion": app_congestion, "UserEvent": app_userevent, "Bridge": app_bridge,
        "Verbose": app_verbose, "Read": app_read,
    }.items()
}


def find_app(name: str) -> tuple[str, App] | None:
    return APPS.get(name.strip().lower())
