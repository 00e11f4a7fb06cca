"""AMI Originate: call a channel, and when it answers send it into the dialplan or an app.

Async Originate is acknowledged at once; the outcome follows as ``OriginateResponse`` with
Asterisk's Reason codes: 0 no channel / failure, 1 hung up, 3 rang without answer
(Timeout), 4 answered, 5 busy, 8 congestion. A failure reports ``Uniqueid: <unknown>`` and the
dial string as ``Channel``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbxsim.causes import NO_ANSWER
from pbxsim.channel import UP, Channel, Party
from pbxsim.dial import RequestFailed, dial_event, hangup_outgoing, request_outgoing
from pbxsim.truth import CallRecord, Offer

if TYPE_CHECKING:
    from pbxsim.simulator import PbxSimulator

REASON_FAILURE, REASON_HANGUP, REASON_NOANSWER, REASON_ANSWER, REASON_BUSY, REASON_CONGESTION = 0, 1, 3, 4, 5, 8
_CID = re.compile(r'^\s*(?:"([^"]*)"|([^<]*?))\s*<([^>]*)>\s*$')


def parse_callerid(text: str | None) -> Party | None:
    if not text:
        return None
    m = _CID.match(text)
    if m:
        name = m[1] if m[1] is not None else (m[2] or None)
        return Party(m[3] or None, name or None)
    return Party(text.strip(), None)


@dataclass
class OriginateRequest:
    channel: str
    context: str | None = None
    exten: str | None = None
    priority: int = 1
    application: str | None = None
    data: str = ""
    timeout: float = 30.0  # seconds (simulated)
    callerid: Party | None = None
    variables: list[tuple[str, str]] = field(default_factory=list)
    action_id: str | None = None
    account: str = ""
    channel_id: str | None = None  # ChannelId: the Uniqueid the new channel gets
    other_channel_id: str | None = None  # OtherChannelId: for the ;2 half of a Local channel


@dataclass
class OriginateResult:
    response: str
    reason: int
    channel: Channel | None


async def originate(sim: PbxSimulator, req: OriginateRequest, *, send_event: bool = True) -> OriginateResult:
    """Place the call; with ``send_event`` (async Originate) publish OriginateResponse."""
    pbx = sim.pbx
    assert pbx is not None
    inbox: asyncio.Queue[tuple[Channel, str]] = asyncio.Queue()
    attempt = dict(req.variables).get("HOTLINE_ATTEMPT_ID")
    try:
        out = request_outgoing(pbx, req.channel, dialer=None, variables=req.variables,
                               callerid=req.callerid, inbox=inbox, app="AppDial2", linkedid=None,
                               ids=(req.channel_id, req.other_channel_id))
    except RequestFailed as exc:
        failed = getattr(exc, "out", None)
        result = OriginateResult("Failure", REASON_FAILURE, None)
        _response(sim, req, result, send_event)
        if failed is not None:
            hangup_outgoing(failed)
        sim.note_originate_failure(req, attempt, str(exc))
        return result
    chan = out.chan
    chan.accountcode = req.account
    record = CallRecord(sim, chan, direction="outbound",
                        caller=req.callerid.num if req.callerid else None,
                        dialled=req.exten if req.context else req.channel)
    record.originate = {"action_id": req.action_id, "attempt_id": attempt, "channel": req.channel,
                        "context": req.context, "exten": req.exten, "application": req.application,
                        "response": None, "reason": None}
    offer = Offer(req.channel, chan.name, _extension(sim, req.channel), record.clock.now(), record.clock.wall())
    record.offers.append(offer)
    record.by_leg[chan.name] = offer
    if out.pair is not None:
        out.pair.two.call = record
        record.pending.add(out.pair.two.name)
    loop = pbx.loop
    deadline = loop.time() + pbx.clock.real(req.timeout)
    outcome: OriginateResult | None = None
    while outcome is None:
        remaining = deadline - loop.time()
        if remaining <= 0:
            chan.hangupcause = NO_ANSWER
            offer.outcome = "noanswer"
            record.ended_by = record.ended_by or "originate-timeout"
            hangup_outgoing(out)
            outcome = OriginateResult("Failure", REASON_NOANSWER, None)
            break
        try:
            leg, frame = await asyncio.wait_for(inbox.get(), remaining)
        except TimeoutError:
            continue
        if leg is not chan:
            continue
        if frame == "ringing":
            dial_event("DialState", None, chan, "RINGING")
            offer.ringing = record.clock.now()
            offer.ringing_wall = record.clock.wall()
        elif frame == "progress":
            dial_event("DialState", None, chan, "PROGRESS")
        elif frame == "answer":
            dial_event("DialEnd", None, chan, "ANSWER")
            offer.outcome = "answered"
            offer.answered = record.clock.now()
            record.answered = record.clock.now()
            record.answered_wall = record.clock.wall()
            outcome = OriginateResult("Success", REASON_ANSWER, chan)
        elif frame in ("busy", "congestion"):
            dial_event("DialEnd", None, chan, "BUSY" if frame == "busy" else "CONGESTION")
            chan.cdr.dial_ended("BUSY" if frame == "busy" else "CONGESTION", None)
            offer.outcome = frame
            outcome = OriginateResult("Failure", REASON_BUSY if frame == "busy" else REASON_CONGESTION, None)
            _response(sim, req, outcome, send_event)
            record.ended_by = record.ended_by or "customer"
            hangup_outgoing(out)
            _settle(record, outcome)
            return outcome
        elif frame == "hangup":
            offer.outcome = {17: "busy", 21: "rejected"}.get(chan.hangupcause, "hungup")
            offer.cause = chan.hangupcause
            record.ended_by = record.ended_by or "customer"
            outcome = OriginateResult("Failure", REASON_HANGUP, None)
            _response(sim, req, outcome, send_event)
            hangup_outgoing(out)
            _settle(record, outcome)
            return outcome
    _response(sim, req, outcome, send_event)
    _settle(record, outcome)
    if outcome.channel is None:
        return outcome
    chan.inbox = None
    if req.application:
        pbx.spawn(_run_app(chan, req.application, req.data), name=f"originate app {chan.name}")
    else:
        from pbxsim.dialplan.runner import run_pbx

        chan.set_location(req.context or "default", req.exten or "s", req.priority)
        pbx.spawn(run_pbx(chan), name=f"pbx {chan.name}")
    return outcome


def _extension(sim: PbxSimulator, dialstring: str) -> str | None:
    tech, _, resource = dialstring.partition("/")
    if tech.upper() == "PJSIP" and resource in sim.endpoints.agents:
        return resource
    if tech.lower() == "local":
        return resource.split("@", 1)[0]
    return None


def _settle(record: CallRecord, result: OriginateResult) -> None:
    assert record.originate is not None
    record.originate["response"] = result.response
    record.originate["reason"] = result.reason


async def _run_app(chan: Channel, app_name: str, data: str) -> None:
    from pbxsim.apps import find_app
    from pbxsim.channel import Hangup, Interrupted

    app = find_app(app_name)
    chan.pbx_running = True  # the application owns the channel now (AMI Hangup must not destroy it)
    try:
        if app is not None and chan.state == UP:
            chan.app, chan.appdata = app[0], data
            chan.cdr.app(app[0], data)
            try:
                await app[1](chan, data)
            except (Hangup, Interrupted):
                pass
    finally:
        chan.pbx_running = False
        if not chan.destroyed:
            chan.destroy()


def _response(sim: PbxSimulator, req: OriginateRequest, result: OriginateResult, send_event: bool = True) -> None:
    if not send_event:
        return
    headers: list[tuple[str, str]] = [("Event", "OriginateResponse"), ("Privilege", "call,all")]
    if req.action_id is not None:
        headers.append(("ActionID", req.action_id))
    chan = result.channel
    headers += [("Response", result.response), ("Channel", chan.name if chan else req.channel)]
    if req.application:
        headers += [("Application", req.application), ("Data", req.data)]
    else:
        headers += [("Context", req.context or ""), ("Exten", req.exten or "")]
    cid = req.callerid or Party()
    headers += [("Reason", str(result.reason)), ("Uniqueid", chan.uniqueid if chan else "<unknown>"),
                ("CallerIDNum", cid.num or "<unknown>"), ("CallerIDName", cid.name or "<unknown>")]
    if chan is not None:
        for var in sim.config.channel_vars:
            headers.append((f"ChanVariable({chan.name})", f"{var}={chan.vars.get(var, '')}"))
    sim.hub.emit_raw("OriginateResponse", "call", headers)
