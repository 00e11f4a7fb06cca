"""Domain events: what happened to calls and agents, in hotline's words, not Asterisk's.

The AMI bridge publishes them on :class:`hotline.bus.EventBus`; recordings, the scheduler,
the persistence writer and the web live feed subscribe. They are frozen dataclasses with
aware UTC times so they can be queued, logged and compared safely.

``call_key`` identifies a call across the whole deployment: ``"<pbx>:<linkedid>"``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


def call_key(pbx: str, linkedid: str) -> str:
    return f"{pbx}:{linkedid}"


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    at: dt.datetime
    pbx: str = "pbx1"


@dataclass(frozen=True, kw_only=True)
class CallArrived(DomainEvent):
    call_key: str
    linkedid: str
    uniqueid: str
    direction: str
    caller_number: str | None
    dialled_number: str | None
    channel: str


@dataclass(frozen=True, kw_only=True)
class CallRinging(DomainEvent):
    """The caller hears ringing (inbound: the IVR's EXEC Ringing returned)."""

    call_key: str


@dataclass(frozen=True, kw_only=True)
class CallAnswered(DomainEvent):
    """The caller's channel was answered (by the IVR or an agent)."""

    call_key: str
    ring: int | None


@dataclass(frozen=True, kw_only=True)
class CallOffered(DomainEvent):
    """An agent's phone started ringing for this call."""

    call_key: str
    agent_id: int | None
    extension: str
    channel: str
    # the agent leg's Uniqueid: the ring-5 deadline follows this leg
    uniqueid: str | None = None


@dataclass(frozen=True, kw_only=True)
class AgentRingNoAnswer(DomainEvent):
    """The agent's phone rang to the ring-5 deadline; the call was taken from it."""

    call_key: str
    agent_id: int | None
    extension: str
    consecutive: int


@dataclass(frozen=True, kw_only=True)
class AgentAnswered(DomainEvent):
    call_key: str
    agent_id: int | None
    extension: str
    channel: str
    ring: int | None
    uniqueid: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallEnded(DomainEvent):
    call_key: str
    disposition: str | None
    hangup_cause: int | None
    end_reason: str | None
    abnormal: bool
    agent_id: int | None = None
    caller_number: str | None = None


@dataclass(frozen=True, kw_only=True)
class AgentStateChanged(DomainEvent):
    agent_id: int | None
    extension: str
    state: str
    reason: str | None = None
    registered: bool | None = None


@dataclass(frozen=True, kw_only=True)
class CallFlagged(DomainEvent):
    """An agent or supervisor flagged a call (abusive, extortion, other)."""

    call_key: str
    reason: str
    flagged_by_user_id: int | None
    reason_text: str = ""


@dataclass(frozen=True, kw_only=True)
class RecordingStarted(DomainEvent):
    call_key: str
    channel: str
    path: str


@dataclass(frozen=True, kw_only=True)
class LinkStateChanged(DomainEvent):
    """The AMI link to one Asterisk server went up or down."""

    up: bool
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Alert(DomainEvent):
    """Something a supervisor must see (e.g. a rostered agent's phone unregistered)."""

    kind: str
    message: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EscalationRaised(Alert):
    """An extortion flag raised an escalation to the on-duty team leader and the supervisors.

    A subclass of :class:`Alert`, so a live feed that shows every alert shows it too; pages
    that want more read the escalation by id.
    """

    escalation_id: int
    call_key: str
    recipient_user_ids: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LegRecord:
    """One channel of a call as the bridge knows it now (mirrors ``CallLeg``)."""

    uniqueid: str
    channel: str
    role: str
    agent_id: int | None
    created_at: dt.datetime
    ringing_at: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    rings_at_answer: int | None = None
    dial_status: str | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """A call as the bridge knows it now (mirrors ``Call``); the writer upserts it whole, so
    a later record of the same call simply replaces an earlier one (an ``adopted`` one is
    merged instead, see below)."""

    pbx: str
    linkedid: str
    uniqueid: str
    direction: str
    caller_number: str | None
    dialled_number: str | None
    arrived_at: dt.datetime
    category: str | None = None
    queue: str | None = None
    ringing_at: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    agent_answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    rings_at_answer: int | None = None
    answered_by_agent_id: int | None = None
    disposition: str | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    end_reason: str | None = None
    abnormal_end: bool = False
    legs: tuple[LegRecord, ...] = ()
    # The outbound attempt this call dials (its HOTLINE_ATTEMPT_ID channel variable), so the
    # scheduler can settle the attempt from the call and, after a crash, tell an attempt
    # that was dialled from one that never left.
    attempt_id: int | None = None
    # Rebuilt from Asterisk's channel list (CoreShowChannels) after a restart without the
    # facts stored before it (they could not be read): its arrival is an estimate from the
    # channel's age and its past (rings, offers) unknown. The writer then merges it into the
    # stored row (keeps every value known there, fills in the rest) instead of replacing it.
    adopted: bool = False

    @property
    def call_key(self) -> str:
        return call_key(self.pbx, self.linkedid)


@dataclass(frozen=True, kw_only=True)
class CallUpdated(DomainEvent):
    """The whole current record of a call, published after each change that matters to
    storage or the wallboard (arrival, ringing, answers, legs, end, category, disposition)."""

    record: CallRecord


@dataclass(frozen=True, kw_only=True)
class CallTransferred(DomainEvent):
    """A leg left its bridge and went on in the dialplan elsewhere (AMI Redirect)."""

    call_key: str
    channel: str
    context: str
    exten: str
