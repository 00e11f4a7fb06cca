"""Call detail records, published as AMI ``Cdr`` events (class ``cdr``) when a channel ends.

As in Asterisk's CDR engine, a channel's CDR forks: each Dial attempt after the first starts a
new record (a failed attempt keeps its own record, e.g. NO ANSWER), and a channel that goes on
to run dialplan after a bridge ended (a Redirect) gets a new record for that part. A Dial leg
has no CDR of its own (it is the B party of the caller's record) unless it later runs dialplan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbxsim.channel import Channel

DIAL_DISPOSITION = {"ANSWER": "ANSWERED", "NOANSWER": "NO ANSWER", "CANCEL": "NO ANSWER",
                    "BUSY": "BUSY", "CONGESTION": "FAILED", "CHANUNAVAIL": "FAILED"}


def _fmt(wall: float | None) -> str:
    return "" if wall is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


@dataclass
class Record:
    start: float
    start_wall: float
    answer: float | None = None
    answer_wall: float | None = None
    destination_channel: str = ""
    last_app: str = ""
    last_data: str = ""
    disposition: str | None = None  # set by a Dial's outcome
    dialled: bool = False
    frozen: bool = False  # after a Dial: LastApplication stays "Dial"


class Cdr:
    def __init__(self, chan: Channel) -> None:
        clock = chan.pbx.clock
        self.records = [Record(clock.now(), clock.wall())]
        self.enabled = True
        self.done = False
        self.pending_fork = False

    @property
    def current(self) -> Record:
        return self.records[-1]

    def _fork(self, chan: Channel) -> Record:
        clock = chan.pbx.clock
        prev = self.current
        rec = Record(clock.now(), clock.wall(), last_app=prev.last_app, last_data=prev.last_data)
        if chan.answered is not None:
            rec.answer, rec.answer_wall = clock.now(), clock.wall()
        self.records.append(rec)
        return rec

    def answered(self, chan: Channel) -> None:
        rec = self.current
        if rec.answer is None:
            rec.answer, rec.answer_wall = chan.pbx.clock.now(), chan.pbx.clock.wall()

    def app(self, app: str, data: str) -> None:
        rec = self.current
        if not rec.frozen:
            rec.last_app, rec.last_data = app, data

    def dialplan_step(self, chan: Channel) -> None:
        """The channel runs a dialplan priority: after a bridge ended, that is a new record."""
        if self.pending_fork:
            self.pending_fork = False
            self._fork(chan)
        if not self.enabled:
            self.enabled = True
            self.records = [Record(chan.pbx.clock.now(), chan.pbx.clock.wall(),
                                   chan.pbx.clock.now(), chan.pbx.clock.wall())]

    def dial_started(self, chan: Channel) -> None:
        if self.current.dialled:
            self._fork(chan)
        self.current.dialled = True

    def dial_ended(self, status: str, peer: str | None) -> None:
        rec = self.current
        if peer is not None:
            rec.destination_channel = peer
        rec.disposition = DIAL_DISPOSITION.get(status, "FAILED")
        rec.frozen = True

    def bridge_ended(self) -> None:
        self.pending_fork = True

    def finish(self, chan: Channel) -> None:
        if self.done or not self.enabled:
            return
        self.done = True
        now = chan.pbx.clock.now()
        end_wall = chan.pbx.clock.wall()
        for rec in self.records:
            self._emit(chan, rec, now, end_wall)

    def _emit(self, chan: Channel, rec: Record, now: float, end_wall: float) -> None:
        duration = int(now - rec.start)
        billable = int(now - rec.answer) if rec.answer is not None else 0
        if rec.disposition is not None:
            disposition = rec.disposition
        elif rec.answer is not None:
            disposition = "ANSWERED"
        elif chan.hangupcause == 17:
            disposition = "BUSY"
        elif chan.hangupcause in (16, 19):
            disposition = "NO ANSWER"
        else:
            disposition = "FAILED"
        num = chan.caller.num or ""
        name = chan.caller.name or ""
        chan.pbx.hub.emit("Cdr", "cdr", [
            ("AccountCode", chan.accountcode),
            ("Source", num),
            ("Destination", chan.exten),
            ("DestinationContext", chan.context),
            ("CallerID", f'"{name}" <{num}>'),
            ("Channel", chan.name),
            ("DestinationChannel", rec.destination_channel),
            ("LastApplication", rec.last_app),
            ("LastData", rec.last_data),
            ("StartTime", _fmt(rec.start_wall)),
            ("AnswerTime", _fmt(rec.answer_wall)),
            ("EndTime", _fmt(end_wall)),
            ("Duration", str(duration)),
            ("BillableSeconds", str(billable)),
            ("Disposition", disposition),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", chan.uniqueid),
            ("UserField", ""),
        ])
