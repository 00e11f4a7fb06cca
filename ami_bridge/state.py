"""The call state machine: AMI events in, hotline domain events out. Pure: no I/O, no clock.

Calls are grouped by Linkedid (one ``Call`` per Linkedid, one leg per channel Uniqueid). The
caller of :meth:`CallTracker.feed` passes each event with the moment it arrived; the tracker
answers with the domain events it implies, in order. It never sleeps, never sends anything:
the ring-5 deadline, wrap-up timers and AMI actions belong to the service around it.

How Asterisk shows each step (ground truth: the captures in tests/fixtures/asterisk):

* arrival: ``Newchannel`` of the first channel (Uniqueid == Linkedid);
* ringing start of an inbound call: ``AGIExecEnd`` of ``EXEC Ringing`` (Asterisk sends no
  Newstate Ringing for it); of any other leg: ``Newstate`` 5 (Ringing) or ``DialState RINGING``;
* answer: ``Newstate`` 6 (Up) of the leg. An agent's phone picking up (Up) is not yet an
  answered call: only ``DialEnd ANSWER`` connects it to the caller (a caller who hangs up at
  that very moment makes it ``DialEnd CANCEL``); the ring at answer counts to the pick-up;
* offers to agents: ``DialBegin`` / ``DialState`` / ``DialEnd`` with the agent's channel as
  destination; ``LocalBridge`` pairs the two halves of a ``Local/`` channel;
* transfers: a leg leaves its bridge and goes on in the dialplan elsewhere (``BridgeLeave``
  then a ``Newexten`` at another context/extension: what an AMI ``Redirect`` looks like);
* the end: ``HangupRequest`` (the far end hung up), ``SoftHangupRequest`` (Asterisk or hotline
  did), ``Hangup`` with ``Cause``; the call ends when its last leg is gone;
* what the IVR decided: ``VarSet`` of ``HOTLINE_CATEGORY``, ``HOTLINE_DISPOSITION``,
  ``HOTLINE_QUEUE`` (and ``HOTLINE_ATTEMPT_ID`` for outbound attempts);
* agents' feature codes: ``DTMFEnd`` received on an agent's channel (``*71`` ...);
* softphone registration: ``ContactStatus``, ``PeerStatus``, ``DeviceStateChange``.

Asterisk's own times: with ``timestampevents = yes`` every event carries ``Timestamp`` (when
Asterisk raised it). Rings at answer are counted between two such timestamps, so a bridge that
reads its events late still counts the ring the caller heard. And an event read later than
usual is dated back by how much later (:class:`LagEstimate`: its arrival minus its timestamp,
less the least such difference seen lately, which is the two clocks' offset plus the quickest
delivery; at most ``lag_cap``), so stored times and the ring-5 deadline follow what happened,
not when the bridge got round to it, without trusting the two hosts' clocks to agree. Without
timestamps, events are dated by their arrival.

A conversation (an agent answered and both sides are up) that ends with an abnormal cause on
the first side to go (:data:`ABNORMAL_CAUSES`: network out of order and its kin) is a dropped
call: ``CallEnded.abnormal`` is true and the writer stores a ``dropped-call`` callback.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from ami_bridge.agents import AgentBook, AgentLive, channel_interface
from ami_bridge.frames import AmiMessage, RawFilter, raw_header
from hotline.domain.enums import AgentState, CallCategory, CallDirection, CallDisposition, LegRole
from hotline.domain.events import (
    AgentAnswered,
    AgentRingNoAnswer,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallFlagged,
    CallOffered,
    CallRecord,
    CallRinging,
    CallTransferred,
    CallUpdated,
    DomainEvent,
    LegRecord,
    RecordingStarted,
    call_key,
)
from hotline.domain.phone import try_normalize_phone
from hotline.domain.ring import RingPolicy

log = logging.getLogger(__name__)

# Q.850 causes that mean a leg was lost rather than hung up: 27 destination out of order,
# 38 network out of order, 41 temporary failure, 42 switching equipment congestion,
# 44 requested circuit not available, 102 recovery on timer expiry (media/session timeout).
ABNORMAL_CAUSES = frozenset({27, 38, 41, 42, 44, 102})
NO_ANSWER_CAUSE = 19
FEATURE_CODES = {"*71": "abusive", "*72": "extortion", "*73": "other"}
END_LOST = "lost-during-disconnect"

_PARTY_ROLES = (LegRole.CALLER, LegRole.CUSTOMER)


@dataclass(frozen=True)
class TrackerConfig:
    pbx: str = "pbx1"
    ring: RingPolicy = RingPolicy()
    no_answer_pause_after: int = 2
    region: str = "CN"
    # The carrier trunk's endpoint: legs dialled to it are customers.
    carrier_interface: str = "PJSIP/carrier"
    # How far back an event read late may be dated (seconds), and over how long the usual
    # delay is remembered (a step of either clock is forgotten after that long).
    lag_cap: float = 1.0
    lag_window: float = 10.0


class LagEstimate:
    """How much later than usual an event is being read, from Asterisk's ``Timestamp``.

    ``arrival − timestamp`` is the clocks' offset plus the delivery delay; its least value
    over the last ``window`` seconds (two half-window buckets) stands for the offset plus the
    quickest delivery. What an event has beyond that is how late the bridge is reading it:
    never negative, never more than ``cap``."""

    __slots__ = ("half", "cap", "bucket", "current", "previous")

    def __init__(self, window: float = 10.0, cap: float = 1.0) -> None:
        self.half = window / 2
        self.cap = cap
        self.bucket: int | None = None
        self.current = math.inf
        self.previous = math.inf

    def update(self, arrival: float, timestamp: float) -> float:
        delay = arrival - timestamp
        bucket = int(timestamp // self.half)
        if bucket != self.bucket:
            follows = self.bucket is not None and bucket == self.bucket + 1
            self.previous = self.current if follows else math.inf
            self.current = math.inf
            self.bucket = bucket
        if delay < self.current:
            self.current = delay
        usual = self.current if self.current < self.previous else self.previous
        late = delay - usual
        return late if late < self.cap else self.cap


class Leg:
    __slots__ = (
        "uniqueid", "channel", "role", "agent", "created_at", "ringing_at", "answered_at",
        "ended_at", "rings_at_answer", "dial_status", "hangup_cause", "hangup_cause_text",
        "up", "last_seen", "context", "exten", "bridge", "left_from", "offered",
        "offer_closed", "agent_answered", "sibling", "dtmf", "record_file", "is_origin",
        "dialled", "created_ts", "ringing_ts", "answered_ts", "adopted", "restored",
    )

    def __init__(self, uniqueid: str, channel: str, role: LegRole, at: dt.datetime) -> None:
        self.uniqueid = uniqueid
        self.channel = channel
        self.role = role
        self.agent: AgentLive | None = None
        self.created_at = at
        self.ringing_at: dt.datetime | None = None
        self.answered_at: dt.datetime | None = None
        self.ended_at: dt.datetime | None = None
        self.rings_at_answer: int | None = None
        self.dial_status: str | None = None
        self.hangup_cause: int | None = None
        self.hangup_cause_text: str | None = None
        self.up = False
        self.last_seen = at
        self.context = ""
        self.exten = ""
        self.bridge: str | None = None
        self.left_from: tuple[str, str] | None = None
        self.offered = False
        self.offer_closed = False
        self.agent_answered = False
        self.sibling: str | None = None
        self.dtmf = ""
        self.record_file: str | None = None
        self.is_origin = False
        self.dialled = False  # the destination of a Dial (DialBegin seen)
        self.adopted = False  # first seen in CoreShowChannels: its past is unknown
        # rebuilt from the database after a restart, not yet confirmed alive by Asterisk (the
        # agents' book does not count it until then)
        self.restored = False
        # Asterisk's Timestamp of the leg's birth, ringing start and answer, when it sends them
        self.created_ts: float | None = None
        self.ringing_ts: float | None = None
        self.answered_ts: float | None = None

    def record(self) -> LegRecord:
        return LegRecord(
            uniqueid=self.uniqueid, channel=self.channel, role=self.role.value,
            agent_id=self.agent.info.agent_id if self.agent else None,
            created_at=self.created_at, ringing_at=self.ringing_at,
            answered_at=self.answered_at, ended_at=self.ended_at,
            rings_at_answer=self.rings_at_answer, dial_status=self.dial_status,
            hangup_cause=self.hangup_cause, hangup_cause_text=self.hangup_cause_text,
        )


class Call:
    __slots__ = (
        "linkedid", "key", "uniqueid", "direction", "caller_number", "dialled_number",
        "arrived_at", "category", "queue", "ringing_at", "answered_at", "agent_answered_at",
        "ended_at", "rings_at_answer", "answered_by", "disposition", "hangup_cause",
        "hangup_cause_text", "end_reason", "abnormal", "legs", "live", "attempt_id",
        "talking", "talking_agent", "first_end", "first_end_how", "first_end_talking",
        "party", "offered", "dirty", "adopted",
    )

    def __init__(self, linkedid: str, key: str, at: dt.datetime) -> None:
        self.linkedid = linkedid
        self.key = key
        self.uniqueid = linkedid
        self.direction = CallDirection.INBOUND
        self.caller_number: str | None = None
        self.dialled_number: str | None = None
        self.arrived_at = at
        self.category: CallCategory | None = None
        self.queue: str | None = None
        self.ringing_at: dt.datetime | None = None
        self.answered_at: dt.datetime | None = None
        self.agent_answered_at: dt.datetime | None = None
        self.ended_at: dt.datetime | None = None
        self.rings_at_answer: int | None = None
        self.answered_by: AgentLive | None = None
        self.disposition: CallDisposition | None = None  # as the IVR set it
        self.hangup_cause: int | None = None
        self.hangup_cause_text: str | None = None
        self.end_reason: str | None = None
        self.abnormal = False
        self.legs: dict[str, Leg] = {}
        self.live = 0
        self.attempt_id: str | None = None
        self.talking = False
        self.talking_agent: AgentLive | None = None
        # The first side of the conversation (or the party, if there was none) to go: which
        # leg, how ("remote": the far end hung up; "soft": Asterisk or hotline did), and
        # whether a conversation was going on at that moment.
        self.first_end: Leg | None = None
        self.first_end_how = ""
        self.first_end_talking = False
        self.party: Leg | None = None
        self.offered = False
        self.dirty = False
        # first seen in CoreShowChannels with nothing stored to restore it from
        self.adopted = False

    def record(self, pbx: str, disposition: CallDisposition | None = None) -> CallRecord:
        shown = disposition or self.disposition
        return CallRecord(
            pbx=pbx, linkedid=self.linkedid, uniqueid=self.uniqueid,
            direction=self.direction.value, caller_number=self.caller_number,
            dialled_number=self.dialled_number, arrived_at=self.arrived_at,
            category=self.category.value if self.category else None, queue=self.queue,
            ringing_at=self.ringing_at, answered_at=self.answered_at,
            agent_answered_at=self.agent_answered_at, ended_at=self.ended_at,
            rings_at_answer=self.rings_at_answer,
            answered_by_agent_id=self.answered_by.info.agent_id if self.answered_by else None,
            disposition=shown.value if shown else None, hangup_cause=self.hangup_cause,
            hangup_cause_text=self.hangup_cause_text, end_reason=self.end_reason,
            abnormal_end=self.abnormal, legs=tuple(leg.record() for leg in self.legs.values()),
            attempt_id=int(self.attempt_id) if self.attempt_id and self.attempt_id.isdigit() else None,
            adopted=self.adopted,
        )


_VARIABLES = (b"HOTLINE_", b"_HOTLINE_", b"__HOTLINE_", b"MIXMONITOR_FILENAME")


def _wanted_variable(src: bytes | bytearray, start: int, end: int) -> bool:
    i = src.find(b"\r\nVariable: ", start, end)
    return i < 0 or src.startswith(_VARIABLES, i + 12)


def _exec_ringing(src: bytes | bytearray, start: int, end: int) -> bool:
    command = raw_header(src, start, end, b"Command")
    return command is None or command[:12].upper() == b"EXEC RINGING"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


_E = TypeVar("_E", bound=Enum)


def _enum(kind: type[_E], value: str | None) -> _E | None:
    """A stored value back as its enum (None if missing or no longer valid)."""
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def _known(value: str | None) -> str | None:
    return None if value in (None, "", "<unknown>", "<null>") else value


Headers = Mapping[str, str]


class CallTracker:
    """Follows every call and agent of one Asterisk server."""

    def __init__(self, config: TrackerConfig, agents: AgentBook | None = None) -> None:
        self.config = config
        self.pbx = config.pbx
        self.ring = config.ring
        self.agents = agents if agents is not None else AgentBook(config.pbx)
        self.calls: dict[str, Call] = {}
        self.legs: dict[str, tuple[Call, Leg]] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Uniqueids of channels that hung up without the tracker knowing them
        self._gone: OrderedDict[str, None] = OrderedDict()
        self._bridges: dict[str, set[str]] = {}
        self._dirty: list[Call] = []
        self._message: AmiMessage | None = None
        self._ts: float | None = None  # Asterisk's Timestamp of the event being applied
        self._lag = LagEstimate(config.lag_window, config.lag_cap)
        self.lag = 0.0  # how late the last stamped event was read (seconds)
        self._handlers: dict[str, Callable[[Headers, dt.datetime, list[DomainEvent]], None]] = {
            "Newchannel": self._newchannel,
            "Newstate": self._newstate,
            "Hangup": self._hangup,
            "HangupRequest": self._hangup_request,
            "SoftHangupRequest": self._hangup_request,
            "DialBegin": self._dial_begin,
            "DialState": self._dial_state,
            "DialEnd": self._dial_end,
            "BridgeEnter": self._bridge_enter,
            "BridgeLeave": self._bridge_leave,
            "Newexten": self._newexten,
            "VarSet": self._varset,
            "AGIExecEnd": self._agi_exec_end,
            "LocalBridge": self._local_bridge,
            "Rename": self._rename,
            "DTMFEnd": self._dtmf_end,
            "MixMonitorStart": self._mixmonitor_start,
            "ContactStatus": self._contact_status,
            "PeerStatus": self._peer_status,
            "DeviceStateChange": self._device_state,
            # signs of life only: the last one seen dates a leg lost during a disconnect
            "RTCPSent": self._seen,
            "RTCPReceived": self._seen,
        }
        self.deadline = config.ring.deadline()
        self._no_answer_slack = 0.1 * config.ring.period

    @property
    def handled_events(self) -> frozenset[str]:
        """The AMI events that can change anything here (others may be skipped unread)."""
        return frozenset(self._handlers)

    def raw_filters(self) -> dict[str, RawFilter]:
        """Quick looks at raw bytes that tell which of the frequent events can matter: about
        half of all events are VarSet, and only HOTLINE_* and MIXMONITOR_FILENAME count;
        Newexten only counts for a bridged leg (a Redirect); AGIExecEnd only for Ringing."""
        return {
            "VarSet": _wanted_variable,
            "AGIExecEnd": _exec_ringing,
            "Newexten": self._bridged_leg,
        }

    def _bridged_leg(self, src: bytes | bytearray, start: int, end: int) -> bool:
        uid = raw_header(src, start, end, b"Uniqueid")
        if uid is None:
            return True
        found = self.legs.get(uid.decode("utf-8", "replace"))
        return found is not None and (found[1].bridge is not None or found[1].left_from is not None)

    # -- entry points ---------------------------------------------------------------------

    def feed(self, event: AmiMessage | Headers, at: dt.datetime, *, flush: bool = True) -> list[DomainEvent]:
        """Apply one AMI event received at ``at``; return the domain events it implies, each
        changed call's :class:`CallUpdated` last. With ``flush=False`` the records of calls
        still in progress wait for :meth:`flush` (one record per call for a burst of events;
        a call's final record always comes with its :class:`CallEnded`)."""
        if isinstance(event, AmiMessage):
            headers: Headers = event.headers
            self._message = event
        else:
            headers = event
            self._message = None
        handler = self._handlers.get(headers.get("Event", ""))
        if handler is None:
            return []
        self._ts = ts = _timestamp(headers.get("Timestamp"))
        if ts is not None:
            self.lag = lag = self._lag.update(at.timestamp(), ts)
            if lag > 0.0005:
                at = at - dt.timedelta(seconds=lag)
        out: list[DomainEvent] = []
        handler(headers, at, out)
        if flush and self._dirty:
            self._flush(out, at)
        return out

    @property
    def pending_records(self) -> bool:
        return bool(self._dirty)

    def flush(self, at: dt.datetime) -> list[DomainEvent]:
        """The :class:`CallUpdated` of every call changed since the last flush."""
        out: list[DomainEvent] = []
        if self._dirty:
            self._flush(out, at)
        return out

    def _chanvar(self, name: str) -> str | None:
        message = self._message
        if message is None or not message.variables:
            return None
        return message.chanvars().get(name)

    def call(self, key_or_linkedid: str) -> Call | None:
        return self.calls.get(key_or_linkedid.rpartition(":")[2])

    def leg(self, uniqueid: str) -> Leg | None:
        found = self.legs.get(uniqueid)
        return found[1] if found else None

    def is_ringing_offer(self, uniqueid: str) -> bool:
        """Is this agent leg still ringing for its call (the ring-5 deadline's question)?"""
        found = self.legs.get(uniqueid)
        if found is None:
            return False
        leg = found[1]
        return (
            leg.offered and not leg.offer_closed and not leg.agent_answered and not leg.up
            and leg.ended_at is None
        )

    def known_linkedids(self) -> frozenset[str]:
        """Linkedids of the calls followed now and of the last ones that ended here."""
        return frozenset(self.calls) | frozenset(self._ended)

    def snapshot(self, key_or_linkedid: str) -> CallRecord | None:
        call = self.call(key_or_linkedid)
        return call.record(self.pbx) if call else None

    # -- agent control (what the web app and timers ask) ---------------------------------

    def agent_control(
        self, agent_id: int, presence: str, at: dt.datetime, reason: str | None = None
    ) -> list[DomainEvent]:
        live = self.agents.get(agent_id)
        if live is None:
            raise KeyError(f"unknown agent {agent_id}")
        change = self.agents.set_presence(live, AgentState(presence), at, reason)
        return [change] if change else []

    def end_wrap_up(self, agent_id: int, at: dt.datetime) -> list[DomainEvent]:
        live = self.agents.get(agent_id)
        if live is None:
            return []
        change = self.agents.end_wrap_up(live, at)
        return [change] if change else []

    # -- resynchronisation after a reconnect ---------------------------------------------

    def resync(
        self, channels: Iterable[Headers], at: dt.datetime, asked_at: dt.datetime | None = None
    ) -> list[DomainEvent]:
        """Bring the tracker in line with Asterisk's channel list (CoreShowChannels).

        Legs that vanished while the link was down are closed at the last moment they were
        seen alive; calls left without legs end with ``lost-during-disconnect``. Channels the
        tracker never saw are adopted, so their calls are followed from now on.

        Events keep flowing while the list is built: a leg seen at or after ``asked_at`` (when
        the list was asked for) was born after the snapshot and is kept; a listed channel
        whose Hangup already went by is not adopted.
        """
        out: list[DomainEvent] = []
        self._message = None
        self._ts = None
        alive: dict[str, Headers] = {}
        for item in channels:
            uid = item.get("Uniqueid")
            if uid:
                alive[uid] = item
        for call in list(self.calls.values()):
            for leg in list(call.legs.values()):
                if leg.ended_at is not None:
                    continue
                item = alive.get(leg.uniqueid)
                if item is None:
                    if asked_at is not None and leg.last_seen >= asked_at:
                        continue
                    self._lose_leg(call, leg, out)
                else:
                    self._refresh_leg(call, leg, item, at, out)
            if call.live <= 0 and call.ended_at is None:
                self._end_call(call, max(leg.last_seen for leg in call.legs.values()), out, lost=True)
        # adopt channels born while we were away (callers first, so calls exist for the rest)
        unknown = [
            item for uid, item in alive.items() if uid not in self.legs and uid not in self._gone
        ]
        unknown.sort(key=lambda i: i.get("Uniqueid") != (i.get("Linkedid") or i.get("Uniqueid")))
        for item in unknown:
            self._adopt(item, at, out)
        self._flush(out, at)
        return out

    def restore(self, records: Iterable[CallRecord]) -> int:
        """Follow again the calls a bridge stored before it stopped (a crash, a kill): the
        records of this PBX's calls still open in the database. Call before :meth:`resync`.

        Each call comes back as it was stored (arrival, ringing, answers, rings at answer,
        who answered, category, queue, what the IVR set, every leg with its offer's outcome),
        so the resync treats the restart as a disconnect of a bridge that knew them: a leg
        Asterisk still has goes on, one it no longer has ended at its last stored sign of
        life, a channel born meanwhile joins its call. The facts stay as stored, and what
        happens next is judged with them (``ivr_only`` rather than ``missed``, the answering
        agent, the ring at answer) instead of starting from an estimate.

        Calls already followed here (or just ended here) are left alone. Returns how many
        calls were restored."""
        restored = 0
        for rec in records:
            lid = rec.linkedid
            if (rec.pbx != self.pbx or rec.ended_at is not None or not rec.legs
                    or lid in self.calls or lid in self._ended
                    or any(leg.uniqueid in self.legs for leg in rec.legs)):
                continue
            self._restore_call(rec)
            restored += 1
        return restored

    def _restore_call(self, rec: CallRecord) -> None:
        call = Call(rec.linkedid, call_key(self.pbx, rec.linkedid), rec.arrived_at)
        call.uniqueid = rec.uniqueid
        call.direction = _enum(CallDirection, rec.direction) or CallDirection.INBOUND
        call.caller_number = rec.caller_number
        call.dialled_number = rec.dialled_number
        call.category = _enum(CallCategory, rec.category)
        call.queue = rec.queue
        call.ringing_at = rec.ringing_at
        call.answered_at = rec.answered_at
        call.agent_answered_at = rec.agent_answered_at
        call.rings_at_answer = rec.rings_at_answer
        call.answered_by = self.agents.get(rec.answered_by_agent_id) if rec.answered_by_agent_id else None
        # an open call's stored disposition is the one the IVR set (others are derived at the end)
        call.disposition = _enum(CallDisposition, rec.disposition)
        call.attempt_id = str(rec.attempt_id) if rec.attempt_id is not None else None
        for stored in rec.legs:
            leg = Leg(stored.uniqueid, stored.channel,
                      _enum(LegRole, stored.role) or LegRole.OTHER, stored.created_at)
            leg.restored = True
            leg.agent = self.agents.get(stored.agent_id) if stored.agent_id else None
            leg.ringing_at = stored.ringing_at
            leg.answered_at = stored.answered_at
            leg.ended_at = stored.ended_at
            leg.rings_at_answer = stored.rings_at_answer
            leg.dial_status = stored.dial_status
            leg.hangup_cause = stored.hangup_cause
            leg.hangup_cause_text = stored.hangup_cause_text
            leg.is_origin = stored.uniqueid == rec.uniqueid
            leg.up = stored.answered_at is not None and stored.ended_at is None
            leg.last_seen = max(t for t in (stored.created_at, stored.ringing_at,
                                            stored.answered_at, stored.ended_at) if t is not None)
            if leg.role is LegRole.AGENT and not leg.is_origin:
                leg.dialled = True
                leg.offered = stored.ringing_at is not None
                leg.agent_answered = stored.dial_status == "ANSWER" or stored.rings_at_answer is not None
                leg.offer_closed = leg.agent_answered or stored.dial_status is not None or stored.ended_at is not None
                if leg.offered and call.direction is not CallDirection.INTERNAL:
                    call.offered = True
            call.legs[leg.uniqueid] = leg
            if leg.ended_at is None:
                call.live += 1
                self.legs[leg.uniqueid] = (call, leg)
        origin = call.legs.get(call.uniqueid)
        if origin is not None and origin.role in _PARTY_ROLES:
            call.party = origin
        else:
            call.party = next((leg for leg in call.legs.values() if leg.role is LegRole.CUSTOMER), None)
        party_up = call.party is not None and call.party.ended_at is None
        for leg in call.legs.values():
            talks = leg.agent_answered or (leg.is_origin and leg.agent is not None and leg.up)
            if talks and leg.ended_at is None and party_up and leg.agent is not None:
                call.talking = True
                call.talking_agent = leg.agent
        self.calls[call.linkedid] = call

    def _lose_leg(self, call: Call, leg: Leg, out: list[DomainEvent]) -> None:
        leg.ended_at = leg.last_seen
        call.live -= 1
        self._touch(call)
        self.legs.pop(leg.uniqueid, None)
        if leg.agent is not None and not leg.restored:
            change = self.agents.leg_gone(leg.agent, leg.uniqueid, leg.last_seen, after_talk=leg.agent_answered)
            if change:
                out.append(change)

    def _refresh_leg(
        self, call: Call, leg: Leg, item: Headers, at: dt.datetime, out: list[DomainEvent]
    ) -> None:
        leg.last_seen = at
        bridge = item.get("BridgeId")
        if bridge and leg.bridge is None:
            leg.bridge = bridge
            self._bridges.setdefault(bridge, set()).add(leg.uniqueid)
        if leg.restored:
            self._confirm_restored(call, leg, item, at, out)
        if item.get("ChannelState") != "6":
            return
        if not leg.up:
            # answered while the link was down: the moment is unknown, so no ring is stored
            leg.up = True
            self._touch(call)
        if leg.agent is not None and leg.offered and not leg.agent_answered and item.get("BridgeId"):
            # connected to the caller while the link was down (its DialEnd ANSWER missed)
            leg.dial_status = leg.dial_status or "ANSWER"
            if leg.answered_at is not None:
                # the pick-up was seen: its ring is known
                self._agent_answered(call, leg, leg.answered_at, out)
                return
            leg.agent_answered = True
            leg.offer_closed = True
            call.talking = True
            call.talking_agent = leg.agent
            if call.answered_by is None:
                call.answered_by = leg.agent
            self._touch(call)
            change = self.agents.talking(leg.agent, leg.uniqueid, at)
            if change:
                out.append(change)

    def _confirm_restored(
        self, call: Call, leg: Leg, item: Headers, at: dt.datetime, out: list[DomainEvent]
    ) -> None:
        """A restored leg Asterisk still has: its agent is ringing or talking again, and an
        offer still ringing is reported again, dated its stored ringing start, so that the
        ring-5 deadline takes it away when it is due (not five rings after the restart)."""
        leg.restored = False
        live = leg.agent
        if live is None:
            return
        if leg.agent_answered or (leg.is_origin and leg.up):
            change = self.agents.talking(live, leg.uniqueid, at)
            if change:
                out.append(change)
        elif leg.offered and not leg.offer_closed:
            change = self.agents.ringing(live, leg.uniqueid, at)
            if change:
                out.append(change)
            if item.get("ChannelState") == "5" and leg.ringing_at is not None:
                out.append(CallOffered(
                    at=leg.ringing_at, pbx=self.pbx, call_key=call.key,
                    agent_id=live.info.agent_id, extension=live.info.extension,
                    channel=leg.channel, uniqueid=leg.uniqueid,
                ))

    def _adopt(self, item: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        uid = item.get("Uniqueid", "")
        known = self.calls.get(item.get("Linkedid") or uid)
        if known is not None and uid in known.legs:
            return  # a leg restored as ended that Asterisk still lists: keep what is stored
        seconds = 0
        duration = item.get("Duration") or ""
        try:
            h, m, s = (int(x) for x in duration.split(":"))
            seconds = h * 3600 + m * 60 + s
        except ValueError:
            pass
        born = at - dt.timedelta(seconds=seconds)
        # the channel's answer time is unknown: create it as it was born, then mark it up
        self._newchannel({k: v for k, v in item.items() if k != "ChannelState"}, born, out)
        found = self.legs.get(uid)
        if found is None:
            return
        call, leg = found
        if known is None:
            call.adopted = True
        leg.adopted = True
        leg.last_seen = at
        # (the list's channel variables come as keys of their own, see AmiPbxActions)
        attempt = item.get("HOTLINE_ATTEMPT_ID")
        if attempt:
            self._outbound(call, attempt)
        if leg.role is LegRole.CUSTOMER and call.party is None:
            call.party = leg
        if item.get("ChannelState") == "6":
            leg.up = True
            if leg.agent is not None and leg.role is LegRole.AGENT and item.get("BridgeId"):
                leg.offered = leg.agent_answered = leg.offer_closed = True
                call.talking = True
                call.talking_agent = leg.agent
                if call.answered_by is None:
                    call.answered_by = leg.agent
                change = self.agents.talking(leg.agent, leg.uniqueid, at)
                if change:
                    out.append(change)

    # -- bookkeeping ----------------------------------------------------------------------

    def _touch(self, call: Call) -> None:
        if not call.dirty:
            call.dirty = True
            self._dirty.append(call)

    def _flush(self, out: list[DomainEvent], at: dt.datetime) -> None:
        for call in self._dirty:
            if call.dirty and call.ended_at is None:
                out.append(CallUpdated(at=at, pbx=self.pbx, record=call.record(self.pbx)))
            call.dirty = False
        self._dirty.clear()

    def _find(self, uniqueid: str | None) -> tuple[Call, Leg] | None:
        if not uniqueid:
            return None
        return self.legs.get(uniqueid)

    # -- channels ---------------------------------------------------------------------------

    def _newchannel(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        uid = h.get("Uniqueid")
        if not uid or uid in self.legs:
            return
        lid = h.get("Linkedid") or uid
        channel = h.get("Channel", "")
        call = self.calls.get(lid)
        if call is None:
            if lid in self._ended:
                log.info("Linkedid %s reused after its call ended: a new call", lid)
                del self._ended[lid]
            call = Call(lid, call_key(self.pbx, lid), at)
            self.calls[lid] = call
            # the first channel of a call carries its Linkedid; a call first seen through
            # another channel (the bridge started mid-call) gets its origin from the resync,
            # and its past (arrival included) is unknown
            call.adopted = uid != lid
        origin = uid == lid
        agent = self.agents.for_channel(channel)
        if origin:
            role = LegRole.AGENT if agent else LegRole.CALLER
        elif channel.startswith("Local/") and channel.endswith(";2"):
            role = LegRole.LOCAL
        elif agent:
            role = LegRole.AGENT
        elif call.direction is CallDirection.OUTBOUND and self._on_carrier(channel):
            # the customer's leg of an agent-first call (DialBegin says so too, when seen)
            role = LegRole.CUSTOMER
        else:
            role = LegRole.OTHER
        leg = Leg(uid, channel, role, at)
        leg.agent = agent if role is LegRole.AGENT else None
        leg.is_origin = origin
        leg.created_ts = self._ts
        leg.context = h.get("Context", "")
        leg.exten = h.get("Exten", "")
        call.legs[uid] = leg
        call.live += 1
        self.legs[uid] = (call, leg)
        self._touch(call)
        if origin:
            call.uniqueid = uid
            if agent is None:
                call.party = leg
                number = _known(h.get("CallerIDNum"))
                call.caller_number = (try_normalize_phone(number, self.config.region) or number) if number else None
                call.dialled_number = _known(h.get("Exten"))
            else:
                call.direction = CallDirection.INTERNAL
        attempt = self._chanvar("HOTLINE_ATTEMPT_ID")
        if attempt:
            self._outbound(call, attempt)
        if origin:
            out.append(CallArrived(
                at=at, pbx=self.pbx, call_key=call.key, linkedid=lid, uniqueid=uid,
                direction=call.direction.value, caller_number=call.caller_number,
                dialled_number=call.dialled_number, channel=channel,
            ))
        state = h.get("ChannelState")
        if state == "5":
            self._ringing(call, leg, at, out)
        elif state == "6":
            self._leg_up(call, leg, at, out)

    def _on_carrier(self, channel: str) -> bool:
        return channel_interface(channel) == self.config.carrier_interface

    def _outbound(self, call: Call, attempt: str) -> None:
        if call.attempt_id == attempt:
            return
        call.attempt_id = attempt
        call.direction = CallDirection.OUTBOUND
        self._touch(call)
        origin = call.legs.get(call.uniqueid)
        if origin is not None and origin.role is LegRole.CALLER:
            origin.role = LegRole.CUSTOMER
            call.caller_number = None  # the caller ID is ours; the customer is dialled
            call.dialled_number = None
        for leg in call.legs.values():
            if leg.role is LegRole.OTHER and self._on_carrier(leg.channel):
                leg.role = LegRole.CUSTOMER

    def _newstate(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is None:
            return
        call, leg = found
        leg.last_seen = at
        state = h.get("ChannelState")
        if state == "5":
            self._ringing(call, leg, at, out)
        elif state == "6":
            self._leg_up(call, leg, at, out)

    def _ringing(self, call: Call, leg: Leg, at: dt.datetime, out: list[DomainEvent]) -> None:
        if leg.ringing_at is not None or leg.up:
            return
        leg.ringing_at = at
        leg.ringing_ts = self._ts
        self._touch(call)
        if leg is call.party:
            call.ringing_at = at
            out.append(CallRinging(at=at, pbx=self.pbx, call_key=call.key))
        elif leg.role is LegRole.AGENT and leg.agent is not None and leg.is_origin:
            # hotline rings the agent first for an outbound call: not an offer
            change = self.agents.ringing(leg.agent, leg.uniqueid, at)
            if change:
                out.append(change)
        elif leg.role is LegRole.AGENT and leg.agent is not None:
            leg.offered = True
            change = self.agents.ringing(leg.agent, leg.uniqueid, at)
            if change:
                out.append(change)
            if call.direction is not CallDirection.INTERNAL:
                call.offered = True
                out.append(CallOffered(
                    at=at, pbx=self.pbx, call_key=call.key, agent_id=leg.agent.info.agent_id,
                    extension=leg.agent.info.extension, channel=leg.channel, uniqueid=leg.uniqueid,
                ))

    def _leg_up(self, call: Call, leg: Leg, at: dt.datetime, out: list[DomainEvent]) -> None:
        if leg.up:
            return
        leg.up = True
        leg.last_seen = at
        if leg.answered_at is None:
            leg.answered_at = at
            leg.answered_ts = self._ts
        self._touch(call)
        if leg is call.party:
            call.answered_at = at
            # an inbound caller that never heard ringing has waited since arrival
            if leg.ringing_at is not None:
                call.rings_at_answer = self._ring(leg.ringing_at, leg.ringing_ts, leg)
            elif not leg.adopted:
                call.rings_at_answer = self._ring(leg.created_at, leg.created_ts, leg)
            # (adopted after a disconnect, it may have rung unseen: the ring is unknown)
            leg.rings_at_answer = call.rings_at_answer
            out.append(CallAnswered(at=at, pbx=self.pbx, call_key=call.key, ring=call.rings_at_answer))
            origin = call.legs.get(call.uniqueid)
            if origin is not None and origin.agent is not None and origin.up:
                # an agent-first outbound call: the agent is now talking to the customer
                call.talking = True
                call.talking_agent = origin.agent
                if call.answered_by is None:
                    call.answered_by = origin.agent
                    call.agent_answered_at = origin.answered_at
        elif leg.role is LegRole.AGENT and leg.agent is not None:
            if leg.is_origin:
                # an agent picked up their own phone for an outbound call
                change = self.agents.talking(leg.agent, leg.uniqueid, at)
                if change:
                    out.append(change)
            elif not leg.dialled:
                self._agent_answered(call, leg, at, out)
            # else: picked up; the call is the agent's when Dial connects it (DialEnd ANSWER)

    def _ring(self, start: dt.datetime, start_ts: float | None, leg: Leg) -> int:
        """The ring sounding when ``leg`` was answered, counted from ``start``: between
        Asterisk's timestamps when both are known, else between arrival times."""
        if start_ts is not None and leg.answered_ts is not None:
            elapsed = leg.answered_ts - start_ts
        else:
            assert leg.answered_at is not None
            elapsed = (leg.answered_at - start).total_seconds()
        return self.ring.ring_at(max(0.0, elapsed))

    def _agent_answered(self, call: Call, leg: Leg, at: dt.datetime, out: list[DomainEvent]) -> None:
        if leg.agent_answered or leg.agent is None:
            return
        leg.agent_answered = True
        leg.offer_closed = True
        if leg.answered_at is None:
            leg.answered_at = at
            leg.answered_ts = self._ts
        if leg.ringing_at is not None:
            leg.rings_at_answer = self._ring(leg.ringing_at, leg.ringing_ts, leg)
        elif not leg.adopted:
            leg.rings_at_answer = self._ring(leg.created_at, leg.created_ts, leg)
        if call.agent_answered_at is None:
            call.agent_answered_at = leg.answered_at
        if call.answered_by is None:
            call.answered_by = leg.agent
        call.talking = True
        call.talking_agent = leg.agent
        self._touch(call)
        change = self.agents.talking(leg.agent, leg.uniqueid, at)
        if change:
            out.append(change)
        out.append(AgentAnswered(
            at=at, pbx=self.pbx, call_key=call.key, agent_id=leg.agent.info.agent_id,
            extension=leg.agent.info.extension, channel=leg.channel, ring=leg.rings_at_answer,
            uniqueid=leg.uniqueid,
        ))

    def _offer_failed(self, call: Call, leg: Leg, at: dt.datetime, out: list[DomainEvent]) -> None:
        """An agent leg stopped ringing unanswered (Dial gave up, the bridge hung it up at the
        deadline, or the caller went away)."""
        if leg.offer_closed or leg.agent_answered or leg.agent is None:
            return
        leg.offer_closed = True
        live = leg.agent
        live.ringing.discard(leg.uniqueid)
        change = None
        if leg.offered and leg.ringing_at is not None and leg.answered_at is None:
            rang = (at - leg.ringing_at).total_seconds()
            if rang >= self.deadline - self._no_answer_slack or leg.hangup_cause == NO_ANSWER_CAUSE:
                count, change = self.agents.no_answer(live, at, self.config.no_answer_pause_after)
                out.append(AgentRingNoAnswer(
                    at=at, pbx=self.pbx, call_key=call.key, agent_id=live.info.agent_id,
                    extension=live.info.extension, consecutive=count,
                ))
        change = self.agents.refresh(live, at) if change is None else change
        if change:
            out.append(change)
        self._touch(call)

    # -- dialling -----------------------------------------------------------------------------

    def _dest(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> tuple[Call, Leg] | None:
        found = self._find(h.get("DestUniqueid"))
        if found is None and h.get("DestUniqueid") and h.get("DestChannel"):
            # a destination whose Newchannel we missed: build it from the Dest* snapshot
            self._newchannel({
                "Uniqueid": h.get("DestUniqueid", ""), "Linkedid": h.get("DestLinkedid", ""),
                "Channel": h.get("DestChannel", ""), "Context": h.get("DestContext", ""),
                "Exten": h.get("DestExten", ""),
            }, at, out)
            found = self._find(h.get("DestUniqueid"))
        return found

    def _dial_begin(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._dest(h, at, out)
        if found is None:
            return
        call, leg = found
        leg.last_seen = at
        leg.dialled = True
        dial_string = h.get("DialString", "")
        interface = leg.channel.rpartition("-")[0]
        if leg.agent is None and (dial_string.endswith("@carrier") or interface == self.config.carrier_interface):
            leg.role = LegRole.CUSTOMER
            if call.party is None:
                call.party = leg
                number = dial_string.partition("@")[0] if "@" in dial_string else dial_string
                number = _known(number)
                call.caller_number = (try_normalize_phone(number, self.config.region) or number) if number else None
                if call.direction is CallDirection.INTERNAL:
                    call.direction = CallDirection.OUTBOUND
        self._touch(call)

    def _dial_state(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        if h.get("DialStatus") != "RINGING":
            return
        found = self._find(h.get("DestUniqueid"))
        if found is not None:
            found[1].last_seen = at
            self._ringing(found[0], found[1], at, out)

    def _dial_end(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("DestUniqueid"))
        if found is None:
            return
        call, leg = found
        leg.last_seen = at
        status = h.get("DialStatus") or None
        leg.dial_status = status
        self._touch(call)
        # (an Originate shows as a Dial with no caller: its channel is the call's origin)
        if status == "ANSWER":
            if leg.role is LegRole.AGENT and not leg.is_origin:
                self._agent_answered(call, leg, at, out)
            else:
                self._leg_up(call, leg, at, out)
        elif leg.role is LegRole.AGENT and not leg.is_origin:
            self._offer_failed(call, leg, at, out)

    # -- bridges and transfers --------------------------------------------------------------

    def _bridge_enter(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is None:
            return
        call, leg = found
        leg.last_seen = at
        bridge = h.get("BridgeUniqueid", "")
        leg.bridge = bridge
        leg.left_from = None
        members = self._bridges.setdefault(bridge, set())
        members.add(leg.uniqueid)
        if not call.talking and call.party is not None and call.party.uniqueid in members:
            for uid in members:
                other = self._find(uid)
                if other and other[1].agent_answered and other[1].ended_at is None:
                    call.talking = True
                    call.talking_agent = other[1].agent
                    break

    def _bridge_leave(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        bridge = h.get("BridgeUniqueid", "")
        members = self._bridges.get(bridge)
        if members is not None:
            members.discard(h.get("Uniqueid", ""))
            if not members:
                del self._bridges[bridge]
        if found is None:
            return
        leg = found[1]
        leg.last_seen = at
        leg.bridge = None
        leg.left_from = (h.get("Context", leg.context), h.get("Exten", leg.exten))

    def _newexten(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is None:
            return
        call, leg = found
        leg.last_seen = at
        context, exten = h.get("Context", ""), h.get("Exten", "")
        # A bridged channel runs no dialplan: a Newexten elsewhere while it is bridged (or
        # just after it left) is a Redirect. Asterisk shows the new place before BridgeLeave.
        before = leg.left_from or ((leg.context, leg.exten) if leg.bridge is not None else None)
        if before is not None and exten and (context, exten) != before:
            leg.left_from = None
            if leg is call.party or leg.agent_answered:
                call.talking = False
            out.append(CallTransferred(
                at=at, pbx=self.pbx, call_key=call.key, channel=leg.channel,
                context=context, exten=exten,
            ))
        leg.context, leg.exten = context, exten

    # -- the end ------------------------------------------------------------------------------

    def _counts(self, call: Call, leg: Leg) -> Leg | None:
        """The leg whose end matters for how the call ended (a Local ;2 half stands for its
        ;1 partner), or None if this leg's end does not matter."""
        if leg.role is LegRole.LOCAL and leg.sibling:
            partner = call.legs.get(leg.sibling)
            if partner is not None:
                leg = partner
        if leg is call.party:
            return leg
        if leg.role is LegRole.AGENT and leg.agent_answered:
            return leg
        return None

    def _first_end(self, call: Call, who: Leg, how: str, cause: int | None) -> None:
        if call.first_end is not None:
            return
        if not (call.talking or who is call.party):
            return
        call.first_end = who
        call.first_end_how = how
        call.first_end_talking = call.talking
        if call.talking and cause in ABNORMAL_CAUSES:
            call.abnormal = True

    def _hangup_request(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is None:
            return
        call, leg = found
        leg.last_seen = at
        who = self._counts(call, leg)
        if who is not None:
            how = "remote" if h.get("Event") == "HangupRequest" else "soft"
            self._first_end(call, who, how, _int(h.get("Cause")))

    def _hangup(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is None:
            uid = h.get("Uniqueid")
            if uid:
                self._gone[uid] = None
                if len(self._gone) > 10_000:
                    self._gone.popitem(last=False)
            return
        call, leg = found
        cause = _int(h.get("Cause"))
        leg.ended_at = at
        leg.last_seen = at
        leg.hangup_cause = cause
        leg.hangup_cause_text = _known(h.get("Cause-txt"))
        call.live -= 1
        self._touch(call)
        del self.legs[leg.uniqueid]
        who = self._counts(call, leg)
        if who is not None:
            self._first_end(call, who, "remote", cause)
            if who is call.first_end and call.hangup_cause is None:
                # the side that went first gives the call its cause (a Local ;2 half
                # speaks for its agent leg)
                call.hangup_cause = cause
                call.hangup_cause_text = leg.hangup_cause_text
                if call.first_end_talking and cause in ABNORMAL_CAUSES:
                    call.abnormal = True
            if who is call.party or who.agent is call.talking_agent:
                call.talking = False
        if leg.agent is not None:
            if leg.agent_answered or leg.is_origin:
                wrap_up = None
                if leg.is_origin and call.direction is CallDirection.OUTBOUND:
                    # agent first: wrap-up only after a conversation; a busy or unanswered
                    # customer leaves the agent ready for the next call at once
                    wrap_up = call.agent_answered_at is not None
                change = self.agents.leg_gone(
                    leg.agent, leg.uniqueid, at, after_talk=leg.agent_answered or leg.up,
                    wrap_up=wrap_up,
                )
                if change:
                    out.append(change)
            elif leg.offered:
                self._offer_failed(call, leg, at, out)
            else:
                change = self.agents.leg_gone(leg.agent, leg.uniqueid, at, after_talk=False)
                if change:
                    out.append(change)
        if call.live <= 0:
            self._end_call(call, at, out, lost=False)

    def _derive_disposition(self, call: Call, lost: bool) -> CallDisposition:
        """What happened to the call, when the IVR did not say (HOTLINE_DISPOSITION)."""
        if call.disposition is not None:
            return call.disposition
        if call.answered_by is not None:
            return CallDisposition.ANSWERED
        if lost:
            return CallDisposition.LOST
        party = call.party
        party_left = call.first_end is party and call.first_end_how == "remote"
        if call.direction is CallDirection.OUTBOUND:
            if party is not None and party.answered_at is not None:
                return CallDisposition.IVR_ONLY
            status = (party.dial_status if party else None) or ""
            cause = party.hangup_cause if party else None
            if status == "BUSY" or cause == 17:
                return CallDisposition.BUSY
            if status == "NOANSWER" or cause == NO_ANSWER_CAUSE:
                return CallDisposition.NO_ANSWER
            return CallDisposition.FAILED
        if call.offered or call.queue:
            # waited for an agent and nobody answered
            return CallDisposition.ABANDONED if party_left else CallDisposition.MISSED
        if call.answered_at is not None:
            # Served by the IVR alone when the IVR (or the dialplan) ended it; a caller who
            # hung up on the IVR gave up before reaching anyone.
            return CallDisposition.ABANDONED if party_left else CallDisposition.IVR_ONLY
        return CallDisposition.ABANDONED if party_left else CallDisposition.MISSED

    def _end_reason(self, call: Call, lost: bool) -> str:
        if lost:
            return END_LOST
        leg = call.first_end
        if leg is None:
            return "system-hangup"
        if leg.role is LegRole.AGENT:
            who = "agent"
        elif leg.role is LegRole.CUSTOMER:
            who = "customer"
        else:
            who = "caller"
        if call.abnormal:
            return f"{who}-lost"
        if call.first_end_how == "soft" and leg is call.party:
            return "system-hangup"
        return f"{who}-hangup"

    def _end_call(self, call: Call, at: dt.datetime, out: list[DomainEvent], *, lost: bool) -> None:
        call.ended_at = max(at, call.arrived_at)
        if call.hangup_cause is None and not lost:
            ender = call.first_end or call.party
            if ender is not None:
                call.hangup_cause = ender.hangup_cause
                call.hangup_cause_text = ender.hangup_cause_text
        if lost:
            call.abnormal = False
        call.end_reason = self._end_reason(call, lost)
        disposition = self._derive_disposition(call, lost)
        record = call.record(self.pbx, disposition)
        agent = call.talking_agent or call.answered_by
        out.append(CallEnded(
            at=call.ended_at, pbx=self.pbx, call_key=call.key, disposition=disposition.value,
            hangup_cause=call.hangup_cause, end_reason=call.end_reason, abnormal=call.abnormal,
            agent_id=agent.info.agent_id if agent else None, caller_number=call.caller_number,
        ))
        call.dirty = False
        out.append(CallUpdated(at=call.ended_at, pbx=self.pbx, record=record))
        del self.calls[call.linkedid]
        for uid in call.legs:
            self.legs.pop(uid, None)
        self._ended[call.linkedid] = None
        if len(self._ended) > 10_000:
            self._ended.popitem(last=False)

    # -- what the IVR and the dialplan say ---------------------------------------------------

    def _varset(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is None:
            return
        call, leg = found
        leg.last_seen = at
        name = h.get("Variable", "")
        if not name or name[0] not in "_HM":
            return
        name = name.lstrip("_")
        if not (name.startswith("HOTLINE_") or name == "MIXMONITOR_FILENAME"):
            return
        value = h.get("Value", "")
        if name == "HOTLINE_CATEGORY":
            try:
                call.category = CallCategory(value.strip().lower()) if value else None
            except ValueError:
                log.warning("call %s: HOTLINE_CATEGORY %r is not a category (%s)", call.key, value,
                            ", ".join(c.value for c in CallCategory))
                return
            self._touch(call)
        elif name == "HOTLINE_DISPOSITION":
            try:
                call.disposition = CallDisposition(value.strip().lower()) if value else None
            except ValueError:
                log.warning("call %s: HOTLINE_DISPOSITION %r is not a disposition", call.key, value)
                return
            self._touch(call)
        elif name == "HOTLINE_QUEUE":
            call.queue = value or None
            self._touch(call)
        elif name == "HOTLINE_ATTEMPT_ID":
            if value:
                self._outbound(call, value)
        elif name == "MIXMONITOR_FILENAME":
            leg.record_file = value or None

    def _agi_exec_end(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        command = h.get("Command", "")
        if command[:12].upper() != "EXEC RINGING" or h.get("ResultCode") != "200":
            return
        found = self._find(h.get("Uniqueid"))
        if found is not None:
            found[1].last_seen = at
            self._ringing(found[0], found[1], at, out)

    def _seen(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is not None:
            found[1].last_seen = at

    def _local_bridge(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        one = self._find(h.get("LocalOneUniqueid"))
        two = self._find(h.get("LocalTwoUniqueid"))
        if one and two:
            one[1].sibling = two[1].uniqueid
            two[1].sibling = one[1].uniqueid

    def _rename(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is not None and h.get("Newname"):
            found[1].channel = h["Newname"]
            self._touch(found[0])

    def _dtmf_end(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is None or h.get("Direction") != "Received":
            return
        call, leg = found
        if leg.agent is None:
            return
        digit = h.get("Digit", "")
        if digit == "*":
            leg.dtmf = "*"
        elif leg.dtmf:
            leg.dtmf += digit
        code = leg.dtmf
        if code in FEATURE_CODES:
            leg.dtmf = ""
            out.append(CallFlagged(
                at=at, pbx=self.pbx, call_key=call.key, reason=FEATURE_CODES[code],
                flagged_by_user_id=leg.agent.info.user_id,
                reason_text=f"feature code {code} from extension {leg.agent.info.extension}",
            ))
        elif len(code) >= 3:
            leg.dtmf = ""

    def _mixmonitor_start(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        found = self._find(h.get("Uniqueid"))
        if found is None:
            return
        call, leg = found
        out.append(RecordingStarted(
            at=at, pbx=self.pbx, call_key=call.key, channel=leg.channel, path=leg.record_file or "",
        ))

    # -- softphones ------------------------------------------------------------------------

    def _register(self, interface: str, registered: bool, at: dt.datetime, out: list[DomainEvent]) -> None:
        live = self.agents.for_interface(interface)
        if live is None or live.registered is registered:
            return
        change = self.agents.registration(live, registered, at)
        if change:
            out.append(change)

    def _contact_status(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        endpoint = h.get("EndpointName") or h.get("AOR")
        status = h.get("ContactStatus", "")
        if not endpoint:
            return
        if status in ("Created", "Reachable", "NonQualified"):
            self._register(f"PJSIP/{endpoint}", True, at, out)
        elif status in ("Removed", "Unreachable"):
            self._register(f"PJSIP/{endpoint}", False, at, out)

    def _peer_status(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        status = h.get("PeerStatus", "")
        peer = h.get("Peer", "")
        if status in ("Reachable", "Registered"):
            self._register(peer, True, at, out)
        elif status in ("Unreachable", "Unregistered", "Rejected"):
            self._register(peer, False, at, out)

    def _device_state(self, h: Headers, at: dt.datetime, out: list[DomainEvent]) -> None:
        state = h.get("State", "")
        if state in ("UNKNOWN", "INVALID", ""):
            return
        self._register(h.get("Device", ""), state != "UNAVAILABLE", at, out)

