"""AMI actions, answered as Asterisk 22's manager.c answers them (see the captures)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pbxsim.ami.wire import ActionMessage, Headers, encode
from pbxsim.causes import cause_text

if TYPE_CHECKING:
    from pbxsim.ami.session import AmiSession
    from pbxsim.channel import Channel
    from pbxsim.simulator import PbxSimulator

log = logging.getLogger("pbxsim.ami")

Handler = Callable[["AmiSession", ActionMessage], Awaitable[None]]
HANDLERS: dict[str, tuple[str, tuple[str, ...], Handler]] = {}


def action(name: str, *write_classes: str) -> Callable[[Handler], Handler]:
    """Register a handler; ``write_classes`` are the manager.conf write permissions needed."""

    def deco(func: Handler) -> Handler:
        HANDLERS[name.lower()] = (name, write_classes, func)
        return func

    return deco


def _tv(wall: float | None) -> str:
    if wall is None:
        return "1970-01-01T00:00:00.000+0000"
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(wall * 1000) % 1000:03d}+0000"


def _addr(addr: tuple[str, int] | tuple[str, int, int, int]) -> str:
    return f"IPV4/TCP/{addr[0]}/{addr[1]}"


def security_event(s: AmiSession, name: str, severity: str, version: str, fields: Headers) -> None:
    if not s.sim.config.security_events:
        return
    headers: Headers = [("EventTV", _tv(s.sim.clock.wall())), ("Severity", severity), ("Service", "AMI"),
                        ("EventVersion", version)]
    headers += fields
    s.sim.hub.emit(name, "security", headers)


async def dispatch(s: AmiSession, msg: ActionMessage) -> None:
    name = msg.action
    if not name:
        s.respond(msg, "Error", [("Message", "Missing action in request")])
        _bad_format(s, "NONE")
        return
    key = name.lower()
    if not s.authenticated and key not in ("login", "logoff", "challenge"):
        s.respond(msg, "Error", [("Message", "Permission denied")])
        security_event(s, "RequestNotAllowed", "Error", "1", [
            ("AccountID", ""), ("SessionID", s.session_id), ("LocalAddress", _addr(s.local_addr)),
            ("RemoteAddress", _addr(s.remote_addr)), ("RequestType", f"Action: {name}"),
            ("SessionTV", _tv(None)),
        ])
        return
    entry = HANDLERS.get(key)
    if entry is None:
        s.respond(msg, "Error", [("Message", f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.")])
        _bad_format(s, name)
        return
    _, classes, handler = entry
    if classes and s.authenticated and not s.may_write(*classes):
        s.respond(msg, "Error", [("Message", "Permission denied")])
        return
    await handler(s, msg)


def _bad_format(s: AmiSession, request: str) -> None:
    security_event(s, "RequestBadFormat", "Error", "1", [
        ("SessionID", s.session_id), ("LocalAddress", _addr(s.local_addr)),
        ("RemoteAddress", _addr(s.remote_addr)), ("RequestType", f"Action: {request}"),
        ("SessionTV", _tv(s.session_tv)), ("AccountID", s.user or ""),
    ])


# ---- session --------------------------------------------------------------------------------
@action("Challenge")
async def a_challenge(s: AmiSession, msg: ActionMessage) -> None:
    if (msg.get("AuthType") or "").lower() != "md5":
        s.respond(msg, "Error", [("Message", "Must specify AuthType")])
        return
    s.challenge = str(random.randrange(10**8, 10**9))
    s.respond(msg, "Success", [("Challenge", s.challenge)])


@action("Login")
async def a_login(s: AmiSession, msg: ActionMessage) -> None:
    if s.authenticated:
        s.respond(msg, "Success", [("Message", "Already authenticated")])
        return
    username = msg.get("Username") or ""
    users = s.sim.config.users()
    user = users.get(username)
    ok = False
    if user is not None:
        if (msg.get("AuthType") or "").lower() == "md5":
            if s.challenge:
                expected = hashlib.md5((s.challenge + user.secret).encode()).hexdigest()  # noqa: S324
                ok = (msg.get("Key") or "").lower() == expected
        else:
            ok = msg.get("Secret") == user.secret
    if not ok:
        security_event(s, "InvalidPassword", "Error", "2", [
            ("AccountID", username), ("SessionID", s.session_id), ("LocalAddress", _addr(s.local_addr)),
            ("RemoteAddress", _addr(s.remote_addr)), ("SessionTV", _tv(None)),
        ])
        await asyncio.sleep(s.sim.config.login_failure_delay)
        s.respond(msg, "Error", [("Message", "Authentication failed")])
        s.close_after_output()
        return
    assert user is not None
    s.login(username, user.read, user.write, msg.get("Events"))
    s.respond(msg, "Success", [("Message", "Authentication accepted")])
    pbx = s.sim.pbx
    if "system" in s.event_classes and pbx is not None:
        uptime = pbx.uptime()
        s.send_event(encode([("Event", "FullyBooted"), ("Privilege", "system,all"), *s.sim.hub.stamp(),
                             ("Uptime", str(uptime)),
                             ("LastReload", str(uptime)), ("Status", "Fully Booted")]))
    security_event(s, "SuccessfulAuth", "Informational", "1", [
        ("AccountID", username), ("SessionID", s.session_id), ("LocalAddress", _addr(s.local_addr)),
        ("RemoteAddress", _addr(s.remote_addr)), ("UsingPassword", "0"), ("SessionTV", _tv(s.session_tv)),
    ])


@action("Logoff")
async def a_logoff(s: AmiSession, msg: ActionMessage) -> None:
    s.respond(msg, "Goodbye", [("Message", "Thanks for all the fish.")])
    s.close_after_output()


@action("Ping")
async def a_ping(s: AmiSession, msg: ActionMessage) -> None:
    now = time.time()
    s.respond(msg, "Success", [("Ping", "Pong"), ("Timestamp", f"{now:.6f}")])


@action("Events")
async def a_events(s: AmiSession, msg: ActionMessage) -> None:
    on = s.set_events(msg.get("EventMask") or "off")
    s.respond(msg, "Success", [("Events", "On" if on else "Off")])


@action("ListCommands")
async def a_listcommands(s: AmiSession, msg: ActionMessage) -> None:
    s.respond(msg, "Success", [(name, f"{name} (Priv: {','.join(classes) or '<none>'})")
                               for name, classes, _ in sorted(HANDLERS.values())])


# ---- channels -------------------------------------------------------------------------------
def _chan(s: AmiSession, name: str | None) -> Channel | None:
    pbx = s.sim.pbx
    return None if pbx is None else pbx.find_channel(name)


def _duration(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


@action("CoreShowChannels", "system", "reporting")
async def a_coreshowchannels(s: AmiSession, msg: ActionMessage) -> None:
    pbx = s.sim.pbx
    chans = [] if pbx is None else list(pbx.channels.values())
    s.respond(msg, "Success", [("EventList", "start"), ("Message", "Channels will follow")])
    aid: Headers = [("ActionID", msg.action_id)] if msg.action_id is not None else []
    for chan in chans:
        s.reply(encode([("Event", "CoreShowChannel"), *aid, *chan.snapshot(),
                        ("Application", chan.app), ("ApplicationData", chan.appdata),
                        ("Duration", _duration(pbx.clock.now() - chan.created)),  # type: ignore[union-attr]
                        ("BridgeId", chan.bridge.uniqueid if chan.bridge else "")]))
    s.reply(encode([("Event", "CoreShowChannelsComplete"), *aid, ("EventList", "Complete"),
                    ("ListItems", str(len(chans)))]))


@action("Status", "system", "call", "reporting")
async def a_status(s: AmiSession, msg: ActionMessage) -> None:
    pbx = s.sim.pbx
    name = msg.get("Channel")
    if name:
        chan = _chan(s, name)
        if chan is None:
            s.respond(msg, "Error", [("Message", "No such channel")])
            return
        chans = [chan]
    else:
        chans = [] if pbx is None else list(pbx.channels.values())
    wanted = [v.strip() for v in (msg.get("Variables") or "").split(",") if v.strip()]
    s.respond(msg, "Success", [("EventList", "start"), ("Message", "Channel status will follow")])
    aid: Headers = [("ActionID", msg.action_id)] if msg.action_id is not None else []
    for chan in chans:
        headers: Headers = [("Event", "Status"), ("Privilege", "Call"), *chan.snapshot(),
                            ("Type", chan.tech), ("DNID", chan.dnid),
                            ("EffectiveConnectedLineNum", chan.connected.num or "<unknown>"),
                            ("EffectiveConnectedLineName", chan.connected.name or "<unknown>"),
                            ("TimeToHangup", "0"), ("BridgeID", chan.bridge.uniqueid if chan.bridge else ""),
                            ("Application", chan.app), ("Data", chan.appdata),
                            ("Nativeformats", "(ulaw)"), ("Readformat", "ulaw"), ("Readtrans", ""),
                            ("Writeformat", "ulaw"), ("Writetrans", ""), ("Callgroup", "0"),
                            ("Pickupgroup", "0"), ("Seconds", str(int(chan.pbx.clock.now() - chan.created)))]
        for var in wanted:
            value = chan.vars.get(var)
            headers.append(("Variable", f"{var}={value if value is not None else '(null)'}"))
        headers += aid
        s.reply(encode(headers))
    s.reply(encode([("Event", "StatusComplete"), *aid, ("EventList", "Complete"),
                    ("ListItems", str(len(chans))), ("Items", str(len(chans)))]))


@action("Hangup", "system", "call")
async def a_hangup(s: AmiSession, msg: ActionMessage) -> None:
    from pbxsim.channel import SOFTHANGUP_APPUNLOAD

    name = msg.get("Channel")
    if not name:
        s.respond(msg, "Error", [("Message", "No channel specified")])
        return
    cause_text_value = msg.get("Cause")
    cause = 0
    if cause_text_value and cause_text_value.strip().lstrip("-").isdigit():
        cause = int(cause_text_value)
    chan = _chan(s, name)
    if chan is None:
        s.respond(msg, "Error", [("Message", "No such channel")])
        return
    s.respond(msg, "Success", [("Message", "Channel Hungup")])
    if chan.tech == "PJSIP" and cause in SIP_CODES:
        chan.tech_cause = SIP_CODES[cause]
    if chan.call is not None:
        chan.call.ended_by_hint(chan, "ami")
        offer = chan.call.by_leg.get(chan.name)
        if offer is not None and offer.outcome is None and cause == 19:
            offer.outcome = "noanswer"
            offer.cause = 19
    chan.softhangup(SOFTHANGUP_APPUNLOAD, cause=cause)
    if not chan.pbx_running and chan.inbox is None and chan.agi is None and not chan.destroyed and chan.bridge is None:
        chan.destroy()


@action("Redirect", "call")
async def a_redirect(s: AmiSession, msg: ActionMessage) -> None:
    name = msg.get("Channel")
    if not name:
        s.respond(msg, "Error", [("Message", "Channel not specified")])
        return
    chan = _chan(s, name)
    if chan is None:
        s.respond(msg, "Error", [("Message", f"Channel does not exist: {name}")])
        return
    context = msg.get("Context") or chan.context
    exten = msg.get("Exten") or chan.exten
    prio_text = msg.get("Priority") or "1"
    if not prio_text.isdigit():
        s.respond(msg, "Error", [("Message", "Invalid priority")])
        return
    extra_name = msg.get("ExtraChannel")
    extra = _chan(s, extra_name) if extra_name else None
    if extra_name and extra is None:
        s.respond(msg, "Error", [("Message", f"ExtraChannel does not exist: {extra_name}")])
        return
    if extra is not None:
        eprio = msg.get("ExtraPriority") or prio_text
        s.respond(msg, "Success", [("Message", "Dual Redirect successful")])
        _redirect(extra, msg.get("ExtraContext") or context, msg.get("ExtraExten") or exten, int(eprio) if eprio.isdigit() else 1)
        _redirect(chan, context, exten, int(prio_text))
        return
    s.respond(msg, "Success", [("Message", "Redirect successful")])
    _redirect(chan, context, exten, int(prio_text))


# chan_pjsip's Q.850 -> SIP response mapping, reported as TechCause when a channel is hung up
# with an abnormal cause (07: AMI Hangup with Cause 38 -> TechCause 500).
SIP_CODES = {1: 404, 3: 404, 17: 486, 18: 408, 19: 480, 20: 480, 21: 403, 22: 410, 27: 502, 28: 484,
             29: 501, 34: 503, 38: 500, 41: 503, 42: 503, 58: 488, 127: 500}


def _redirect(chan: Channel, context: str, exten: str, priority: int) -> None:
    from pbxsim.dialplan.runner import apply_redirect, run_pbx

    chan.redirect(context, exten, priority)
    if not chan.pbx_running and chan.bridge is None and chan.agi is None:
        # nothing is running on it (e.g. a ringing leg): start the dialplan there
        chan.inbox = None
        apply_redirect(chan)
        chan.pbx.spawn(run_pbx(chan), name=f"pbx {chan.name}")


@action("Setvar", "call")
async def a_setvar(s: AmiSession, msg: ActionMessage) -> None:
    var = msg.get("Variable")
    if not var:
        s.respond(msg, "Error", [("Message", "No variable specified")])
        return
    value = msg.get("Value") or ""
    name = msg.get("Channel")
    if name:
        chan = _chan(s, name)
        if chan is None:
            s.respond(msg, "Error", [("Message", "No such channel")])
            return
        chan.set_var(var, value)
    elif s.sim.pbx is not None:
        s.sim.pbx.globals[var] = value
    s.respond(msg, "Success", [("Message", "Variable Set")])


@action("Getvar", "call", "reporting")
async def a_getvar(s: AmiSession, msg: ActionMessage) -> None:
    from pbxsim.dialplan.expr import substitute

    var = msg.get("Variable")
    if not var:
        s.respond(msg, "Error", [("Message", "No variable specified")])
        return
    name = msg.get("Channel")
    chan = None
    if name:
        chan = _chan(s, name)
        if chan is None:
            s.respond(msg, "Error", [("Message", "No such channel")])
            return
    if chan is not None:
        if "(" in var:
            value = substitute("${" + var + "}", chan)
        else:
            found = chan.get_var(var)
            value = found if found is not None else substitute("${" + var + "}", chan)
    else:
        value = s.sim.pbx.globals.get(var, "") if s.sim.pbx is not None else ""
    s.respond(msg, "Success", [("Variable", var), ("Value", value)])


@action("UserEvent", "user")
async def a_userevent(s: AmiSession, msg: ActionMessage) -> None:
    name = msg.get("UserEvent")
    if not name:
        s.respond(msg, "Error", [("Message", "UserEvent is required")])
        return
    s.respond(msg, "Success", [("Message", "Event Sent")])
    body: Headers = [(k, v) for k, v in msg.headers if k.lower() not in ("action", "userevent")]
    s.sim.hub.emit("UserEvent", "user", [("UserEvent", name), *body])


@action("Originate", "originate")
async def a_originate(s: AmiSession, msg: ActionMessage) -> None:
    from pbxsim.originate import OriginateRequest, originate, parse_callerid

    channel = msg.get("Channel")
    if not channel:
        s.respond(msg, "Error", [("Message", "Channel not specified")])
        return
    wanted = msg.get("ChannelId")
    if wanted and s.sim.pbx is not None and s.sim.pbx.channel_by_uniqueid(wanted) is not None:
        s.respond(msg, "Error", [("Message", "Uniqueid already in use.")])
        return
    app = msg.get("Application")
    exten = msg.get("Exten")
    context = msg.get("Context")
    prio_text = msg.get("Priority") or "1"
    if not app and not exten:
        s.respond(msg, "Error", [("Message", "Exten not specified")])
        return
    if not app and not prio_text.isdigit():
        s.respond(msg, "Error", [("Message", "Invalid priority")])
        return
    timeout_text = msg.get("Timeout") or "30000"
    try:
        timeout = s.sim.clock.from_client(int(timeout_text) / 1000.0)
    except ValueError:
        s.respond(msg, "Error", [("Message", "Invalid timeout")])
        return
    variables: list[tuple[str, str]] = []
    for raw in msg.get_all("Variable"):
        for part in raw.split(","):
            key, sep, value = part.partition("=")
            if sep and key.strip():
                variables.append((key.strip(), value))
    req = OriginateRequest(channel=channel, context=context, exten=exten,
                           priority=int(prio_text) if prio_text.isdigit() else 1,
                           application=app, data=msg.get("Data") or "", timeout=timeout if timeout > 0 else 30.0,
                           callerid=parse_callerid(msg.get("CallerID")), variables=variables,
                           action_id=msg.action_id, account=msg.get("Account") or "",
                           channel_id=msg.get("ChannelId") or None, other_channel_id=msg.get("OtherChannelId") or None)
    if (msg.get("Async") or "").lower() in ("true", "yes", "1", "on"):
        s.respond(msg, "Success", [("Message", "Originate successfully queued")])
        s.sim.pbx.spawn(originate(s.sim, req), name=f"originate {channel}")  # type: ignore[union-attr]
        return
    result = await originate(s.sim, req, send_event=False)
    if result.response == "Success":
        s.respond(msg, "Success", [("Message", "Originate successfully queued")])
    else:
        s.respond(msg, "Error", [("Message", "Originate failed")])


# ---- recording ------------------------------------------------------------------------------
@action("MixMonitor", "system", "call")
async def a_mixmonitor(s: AmiSession, msg: ActionMessage) -> None:
    from pbxsim.media import start_mixmonitor

    name = msg.get("Channel")
    if not name:
        s.respond(msg, "Error", [("Message", "No channel specified")])
        return
    chan = _chan(s, name)
    if chan is None:
        s.respond(msg, "Error", [("Message", "No such channel")])
        return
    filename = msg.get("File") or f"{chan.uniqueid}.wav"
    s.respond(msg, "Success")
    start_mixmonitor(chan, filename, msg.get("Options") or "")


@action("StopMixMonitor", "system", "call")
async def a_stopmixmonitor(s: AmiSession, msg: ActionMessage) -> None:
    chan = _chan(s, msg.get("Channel"))
    if chan is None:
        s.respond(msg, "Error", [("Message", "No such channel")])
        return
    if chan.mixmonitor is None:
        s.respond(msg, "Error", [("Message", "Could not stop monitoring channel")])
        return
    s.respond(msg, "Success")
    chan.mixmonitor.finish(publish_stop=True)


@action("MixMonitorMute", "system", "call")
async def a_mixmonitormute(s: AmiSession, msg: ActionMessage) -> None:
    chan = _chan(s, msg.get("Channel"))
    if chan is None:
        s.respond(msg, "Error", [("Message", "No such channel")])
        return
    direction = (msg.get("Direction") or "both").lower()
    state = msg.get("State") or "1"
    if chan.mixmonitor is None or direction not in ("read", "write", "both"):
        s.respond(msg, "Error", [("Message", "Cannot set mute flag")])
        return
    s.respond(msg, "Success")
    on = state.strip().lower() in ("1", "yes", "true", "on")
    if direction == "both":
        chan.mixmonitor.mute(on)
    chan.event("MixMonitorMute", "call", [("Direction", direction), ("State", "1" if on else "0")])


# ---- endpoints ------------------------------------------------------------------------------
@action("PJSIPShowContacts", "system")
async def a_pjsipshowcontacts(s: AmiSession, msg: ActionMessage) -> None:
    contacts = s.sim.endpoints.contacts()
    if not contacts:
        s.respond(msg, "Error", [("Message", "No Contacts found\n")])
        return
    s.respond(msg, "Success", [("EventList", "start"),
                               ("Message", "A listing of Contacts follows, presented as ContactList events")])
    aid: Headers = [("ActionID", msg.action_id)] if msg.action_id is not None else []
    for c in contacts:
        digest = hashlib.md5(c.uri.encode()).hexdigest()  # noqa: S324
        status = "Reachable" if c.spec.behaviour.qualify else "NonQualified"
        s.reply(encode([("Event", "ContactList"), *aid, ("ObjectType", "contact"),
                        ("ObjectName", f"{c.extension};@{digest}"), ("ViaAddr", "127.0.0.1"),
                        ("QualifyTimeout", "3.000000"), ("Qualify2xxOnly", "false"), ("CallId", c.callid),
                        ("RegServer", ""), ("PruneOnBoot", "no"), ("Path", ""), ("Endpoint", c.extension),
                        ("ViaPort", str(c.port)), ("AuthenticateQualify", "no"), ("Uri", c.uri),
                        ("QualifyFrequency", "30" if c.spec.behaviour.qualify else "0"),
                        ("UserAgent", c.spec.behaviour.user_agent), ("ExpirationTime", str(c.expires)),
                        ("OutboundProxy", ""), ("Status", status),
                        ("RoundtripUsec", "1423" if c.spec.behaviour.qualify else "N/A")]))
    s.reply(encode([("Event", "ContactListComplete"), *aid, ("EventList", "Complete"),
                    ("ListItems", str(len(contacts)))]))


@action("DeviceStateList", "call", "reporting")
async def a_devicestatelist(s: AmiSession, msg: ActionMessage) -> None:
    pbx = s.sim.pbx
    devices = {f"PJSIP/{ext}" for ext in s.sim.endpoints.agents}
    if pbx is not None:
        devices |= set(pbx.devices)
    s.respond(msg, "Success", [("EventList", "start"), ("Message", "Device State Changes will follow")])
    aid: Headers = [("ActionID", msg.action_id)] if msg.action_id is not None else []
    for dev in sorted(devices):
        state = pbx.device_state(dev) if pbx is not None else "UNKNOWN"
        s.reply(encode([("Event", "DeviceStateChange"), *aid, ("Device", dev), ("State", state)]))
    s.reply(encode([("Event", "DeviceStateListComplete"), *aid, ("EventList", "Complete"),
                    ("ListItems", str(len(devices)))]))


# ---- CLI ------------------------------------------------------------------------------------
@action("Command", "command")
async def a_command(s: AmiSession, msg: ActionMessage) -> None:
    command = (msg.get("Command") or "").strip()
    ok, lines = run_cli(s.sim, command)
    s.respond(msg, "Success" if ok else "Error",
              [("Message", "Command output follows"), *[("Output", line) for line in lines]])


def _span(seconds: int) -> str:
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    parts.append(f"{seconds} second{'s' if seconds != 1 else ''}")
    return ", ".join(parts)


def run_cli(sim: PbxSimulator, command: str) -> tuple[bool, list[str]]:
    """A few Asterisk CLI commands (AMI Command, ``PbxSimulator.cli``)."""
    from pbxsim.channel import SOFTHANGUP_EXPLICIT

    pbx = sim.pbx
    words = command.split()
    low = [w.lower() for w in words]
    if low[:3] == ["core", "show", "uptime"]:
        up = pbx.uptime() if pbx else 0
        return True, [f"System uptime: {_span(up)}", f"Last reload: {_span(up)}"]
    if low[:3] == ["core", "show", "version"]:
        return True, [f"Asterisk {sim.config.asterisk_version} built by pbxsim"]
    if low[:3] == ["core", "show", "channels"] and pbx is not None:
        lines = [f"{c.name:<20} {c.context[:20]:<20} {STATE(c):<8} {c.app}({c.appdata})" for c in pbx.channels.values()]
        n = len(pbx.channels)
        return True, ["Channel              Location             State   Application(Data)", *lines,
                      f"{n} active channel{'s' if n != 1 else ''}"]
    if low[:3] == ["channel", "request", "hangup"] and len(words) == 4 and pbx is not None:
        targets = list(pbx.channels.values()) if low[3] == "all" else [pbx.find_channel(words[3])]
        if targets == [None]:
            return True, [f"{words[3]} is not a known channel"]
        out = []
        for chan in targets:
            if chan is None:
                continue
            out.append(f"Requested Hangup on channel '{chan.name}'")
            if chan.call is not None:
                chan.call.ended_by_hint(chan, "ami")
            chan.softhangup(SOFTHANGUP_EXPLICIT)
        return True, out
    return False, [f"No such command '{command}' (type 'core show help {command}' for other possible commands)"]


def STATE(chan: Channel) -> str:  # noqa: N802
    from pbxsim.channel import STATE_DESC

    return STATE_DESC.get(chan.state, "Unknown")


__all__ = ["HANDLERS", "cause_text", "dispatch"]
