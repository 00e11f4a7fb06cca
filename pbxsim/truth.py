"""The truth log: what really happened to every call, one JSON line per call at its end.

Later tests compare hotline's database with it. Times (``*_at``) are real wall-clock UTC in
ISO 8601, like the times the bridge stores; durations (``*_seconds``) are simulated seconds and
ring counts use the configured cadence, so they do not depend on ``speed``.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbxsim.causes import cause_text

if TYPE_CHECKING:
    from pbxsim.channel import Channel
    from pbxsim.simulator import PbxSimulator


def iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


@dataclass
class Offer:
    """One attempt to reach an agent (or a customer) from this call."""

    target: str
    channel: str | None
    extension: str | None
    offered: float
    offered_wall: float
    ringing: float | None = None
    ringing_wall: float | None = None
    outcome: str | None = None  # answered, noanswer, busy, rejected, unavailable, cancelled, hungup
    cause: int | None = None
    answered: float | None = None
    picked_up: float | None = None  # the phone went off-hook (before Dial bridged it)
    ended: float | None = None
    ended_wall: float | None = None


class CallRecord:
    """Collects one call's facts from the PBX's hooks; written when the call is over."""

    def __init__(self, sim: PbxSimulator, chan: Channel, *, direction: str,
                 caller: str | None, dialled: str | None, label: str | None = None,
                 scenario_index: int | None = None) -> None:
        self.sim = sim
        self.clock = sim.clock
        self.primary = chan
        self.direction = direction
        self.caller = caller
        self.dialled = dialled
        self.label = label
        self.scenario_index = scenario_index
        self.linkedid = chan.linkedid
        self.uniqueid = chan.uniqueid
        self.channel = chan.name
        self.arrived = self.clock.now()
        self.arrived_wall = self.clock.wall()
        self.ringing: float | None = None
        self.ringing_wall: float | None = None
        self.answered: float | None = None
        self.answered_wall: float | None = None
        self.digits_sent: list[str] = []
        self.digits_received: list[str] = []
        self.prompts: list[str] = []
        self.offers: list[Offer] = []
        self.by_leg: dict[str, Offer] = {}
        self.bridged: float | None = None
        self.bridged_wall: float | None = None
        self.unbridged: float | None = None
        self.talk_seconds = 0.0
        self.talking_since: float | None = None  # the current stretch of conversation
        self.answered_by: str | None = None
        self.answered_by_ring: int | None = None
        self.ended_by: str | None = None
        self.dropped: str | None = None
        self.flags: list[dict[str, Any]] = []
        self.recordings: list[dict[str, Any]] = []
        self.originate: dict[str, Any] | None = None
        self.agi: list[dict[str, str]] = []
        self.variables: dict[str, str] = {}
        self.redirects: list[str] = []
        self.pending: set[str] = {chan.name}
        self.done = False
        self.end_cause: int | None = None
        self.ended_wall: float | None = None
        self.ended: float | None = None
        chan.call = self

    # ---- hooks from the PBX ----------------------------------------------------------------
    def on_var(self, chan: Channel, name: str, value: str) -> None:
        if chan is self.primary and name.startswith("HOTLINE_"):
            self.variables[name] = value

    def on_ringing(self, chan: Channel) -> None:
        if chan is self.primary and self.ringing is None:
            self.ringing = self.clock.now()
            self.ringing_wall = self.clock.wall()

    def on_answered(self, chan: Channel) -> None:
        if chan is self.primary and self.answered is None:
            self.answered = self.clock.now()
            self.answered_wall = self.clock.wall()

    def on_prompt(self, name: str) -> None:
        self.prompts.append(name)

    def on_input(self, digits: str) -> None:
        self.digits_received.append(digits)

    def on_digits_sent(self, digits: str) -> None:
        self.digits_sent.append(digits)

    def on_agi(self, url: str, status: str) -> None:
        self.agi.append({"url": url, "status": status})

    def on_recording(self, path: str, seconds: float) -> None:
        self.recordings.append({"path": path, "seconds": round(seconds, 3)})

    def on_redirect(self, chan: Channel, context: str, exten: str) -> None:
        self.redirects.append(f"{chan.name}->{context},{exten}")

    def ended_by_hint(self, chan: Channel, who: str) -> None:
        if self.ended_by is None and (chan is self.primary or who in ("agent", "customer")):
            self.ended_by = who

    def on_drop(self, chan: Channel) -> None:
        if self.dropped is None:
            self.dropped = "caller" if chan is self.primary else "agent"

    def on_party_left(self, chan: Channel, who: str) -> None:
        if self.ended_by is None:
            self.ended_by = who

    def on_flag(self, extension: str, code: str) -> None:
        self.flags.append({"extension": extension, "code": code, "at": iso(self.clock.wall())})

    def on_offer(self, chan: Channel, leg: Channel, target: str) -> None:
        ext = leg.resource if leg.tech == "PJSIP" and leg.resource in self.sim.endpoints.agents else None
        if ext is None and leg.tech == "Local":
            ext = leg.resource.split("@", 1)[0]
        offer = Offer(target, leg.name, ext, self.clock.now(), self.clock.wall())
        self.offers.append(offer)
        self.by_leg[leg.name] = offer
        leg.call = self
        self.pending.add(leg.name)
        if leg.peer_local is not None:
            leg.peer_local.call = self
            self.pending.add(leg.peer_local.name)

    def on_offer_failed(self, target: str, cause: int) -> None:
        offer = Offer(target, None, target.split("/", 1)[-1], self.clock.now(), self.clock.wall())
        offer.outcome = "unavailable"
        offer.cause = cause
        offer.ended = offer.offered
        offer.ended_wall = offer.offered_wall
        self.offers.append(offer)

    def on_offer_ringing(self, chan: Channel, leg: Channel) -> None:
        offer = self.by_leg.get(leg.name)
        if offer is not None and offer.ringing is None:
            # the phone's own ringing start; Dial may notice it a little later under load
            if leg.ringing_since is not None:
                offer.ringing, offer.ringing_wall = leg.ringing_since, leg.ringing_since_wall
            else:
                offer.ringing = self.clock.now()
                offer.ringing_wall = self.clock.wall()
        if chan is self.primary and chan.state != 6:
            self.on_ringing(chan)

    def on_offer_end(self, leg: Channel, outcome: str, cause: int | None) -> None:
        offer = self.by_leg.get(leg.name)
        if offer is None or offer.outcome is not None:
            return
        if outcome == "hungup":
            outcome = {17: "busy", 21: "rejected", 19: "noanswer"}.get(cause or 0, "hungup")
            if cause == 19 and leg.softhangup_flags:
                outcome = "noanswer"
        offer.outcome = outcome
        offer.cause = cause
        offer.ended = self.clock.now()
        offer.ended_wall = self.clock.wall()
        self._rang(offer, leg)

    @staticmethod
    def _rang(offer: Offer, leg: Channel) -> None:
        """A phone that rang did ring, even if the offer ended before Dial noticed."""
        if offer.ringing is None and leg.ringing_since is not None:
            offer.ringing, offer.ringing_wall = leg.ringing_since, leg.ringing_since_wall

    def on_bridged(self, chan: Channel, peer: Channel) -> None:
        now = self.clock.now()
        offer = self.by_leg.get(peer.name)
        if offer is not None:
            offer.outcome = "answered"
            offer.answered = now
            offer.picked_up = peer.answered if peer.answered is not None else now
            if self.answered_by is None:
                self.answered_by = offer.extension or offer.target
                self.answered_by_ring = self.ring_at(offer.ringing, offer.picked_up)
        if self.bridged is None:
            self.bridged = now
            self.bridged_wall = self.clock.wall()
        self.on_talk_resumed()

    def on_talk_resumed(self) -> None:
        """The caller and an agent talk (again): Dial bridged them, or Bridge() rejoined them
        after a warning played to the caller alone."""
        if self.talking_since is None:
            self.talking_since = self.clock.now()
        self.unbridged = None

    def on_unbridged(self, chan: Channel, peer: Channel, why: str) -> None:
        """The conversation stops (one side left, or a Redirect took them apart); ``why`` is
        peer, caller, redirect or bridge (a Bridge() ended)."""
        now = self.clock.now()
        if self.talking_since is not None:
            self.talk_seconds += now - self.talking_since
            self.talking_since = None
        self.unbridged = now
        if why == "peer" and self.ended_by is None:
            self.ended_by = "agent" if self.direction == "inbound" else "customer"
        if why == "caller" and self.ended_by is None:
            self.ended_by = "caller"

    def on_channel_end(self, chan: Channel) -> None:
        offer = self.by_leg.get(chan.name)
        if offer is not None:
            offer.ended = offer.ended or self.clock.now()
            offer.ended_wall = offer.ended_wall or self.clock.wall()
            self._rang(offer, chan)
            if offer.outcome is None:
                offer.outcome = "hungup"
                offer.cause = chan.hangupcause
        if chan is self.primary:
            self.end_cause = chan.hangupcause
            self.ended = self.clock.now()
            self.ended_wall = self.clock.wall()
        self.pending.discard(chan.name)
        if not self.pending or (chan is self.primary and self.sim.pbx is not None and self.sim.pbx.stopped):
            self.finish()

    # ---- output ----------------------------------------------------------------------------
    def ring_at(self, start: float | None, at: float | None) -> int | None:
        if start is None or at is None:
            return None
        period = self.sim.config.ring_period
        return int(math.floor((at - start) / period + 1e-9)) + 1

    def finish(self, ended_by: str | None = None) -> None:
        if self.done:
            return
        self.done = True
        if ended_by is not None:
            self.ended_by = ended_by
        if self.ended is None:
            self.ended = self.clock.now()
            self.ended_wall = self.clock.wall()
        if self.talking_since is not None:  # ended while talking (the simulator stopped)
            self.talk_seconds += self.ended - self.talking_since
            self.talking_since = None
        record = self.as_dict()
        self.sim.truth_log.write(record)
        done = getattr(self, "on_done", None)
        if done is not None and not done.done():
            done.set_result(record)

    def as_dict(self) -> dict[str, Any]:
        cause = self.end_cause if self.end_cause is not None else 0
        ivr_ring = self.ring_at(self.ringing, self.answered) if self.answered is not None else None
        talked = self.bridged is not None
        abandoned = not talked and self.ended_by == "caller"
        return {
            "direction": self.direction,
            "scenario_index": self.scenario_index,
            "linkedid": self.linkedid,
            "uniqueid": self.uniqueid,
            "channel": self.channel,
            "caller_number": self.caller,
            "dialled_number": self.dialled,
            "label": self.label,
            "arrived_at": iso(self.arrived_wall),
            "ringing_started_at": iso(self.ringing_wall),
            "answered_at": iso(self.answered_wall),
            "answered_at_ring": ivr_ring,
            "digits_sent": self.digits_sent,
            "digits_received": self.digits_received,
            "prompts": self.prompts,
            "offers": [self._offer(o) for o in self.offers],
            "answered_by": self.answered_by,
            "answered_by_ring": self.answered_by_ring,
            "talk_started_at": iso(self.bridged_wall),
            "talk_seconds": round(self.talk_seconds, 3) if talked else None,
            "ended_at": iso(self.ended_wall),
            "ended_by": self.ended_by or "pbx",
            "hangup_cause": cause,
            "hangup_cause_txt": cause_text(cause),
            "abandoned": abandoned,
            "abandoned_during": self._abandoned_during() if abandoned else None,
            "dropped": self.dropped,
            "flags": self.flags,
            "recordings": self.recordings,
            "originate": self.originate,
            "agi": self.agi,
            "variables": self.variables,
            "redirects": self.redirects,
            "duration_seconds": round((self.ended or self.clock.now()) - self.arrived, 3),
            "speed": self.sim.clock.speed,
        }

    def _abandoned_during(self) -> str:
        """Where a caller who gave up was: still ringing, in the IVR, or while an agent rang."""
        if self.answered is None:
            return "ringing"
        if any(o.outcome == "cancelled" for o in self.offers):
            return "agent_ringing"
        return "ivr"

    def _offer(self, o: Offer) -> dict[str, Any]:
        end = o.answered if o.answered is not None else o.ended
        return {
            "target": o.target,
            "extension": o.extension,
            "channel": o.channel,
            "offered_at": iso(o.offered_wall),
            "ringing_at": iso(o.ringing_wall),
            "outcome": o.outcome,
            "cause": o.cause,
            "rings": self.ring_at(o.ringing, end),
            "answered_at_ring": self.ring_at(o.ringing, o.picked_up) if o.answered is not None else None,
            "ended_at": iso(o.ended_wall),
        }


@dataclass
class TruthLog:
    """Keeps every call record in memory and appends it to a JSON-lines file (if given).

    The file is written by a worker thread so the event loop never waits on the disk."""

    path: Path | None = None
    records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")
            self._thread = threading.Thread(target=self._writer, name="pbxsim-truth", daemon=True)
            self._thread.start()

    def _writer(self) -> None:
        assert self.path is not None
        with self.path.open("a", encoding="utf-8") as fh:
            while True:
                line = self._queue.get()
                if line is None:
                    return
                fh.write(line)
                if self._queue.empty():
                    fh.flush()

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self._thread is not None:
            self._queue.put(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Flush and stop the writer (blocks until the file is complete)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
