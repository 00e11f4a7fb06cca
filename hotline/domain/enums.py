"""Closed vocabularies of the hotline domain.

Each is a ``StrEnum`` whose values are what the database stores and the API speaks, so a
value means the same thing in a CHECK constraint, a JSON body and a report.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    TEAM_LEADER = "team_leader"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class CustomerTier(StrEnum):
    """Rule 9.17: potential, becoming (prospect) and existing customers."""

    POTENTIAL = "potential"
    PROSPECT = "prospect"
    CUSTOMER = "customer"


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class CallCategory(StrEnum):
    INQUIRY = "inquiry"
    COMPLAINT = "complaint"
    REPAIR = "repair"
    SUGGESTION = "suggestion"
    EMERGENCY = "emergency"
    OTHER = "other"


class CallDisposition(StrEnum):
    ANSWERED = "answered"  # talked to an agent
    IVR_ONLY = "ivr_only"  # served by the IVR alone (e.g. after-hours notice)
    ABANDONED = "abandoned"  # caller hung up while waiting
    MISSED = "missed"  # offered to agents, nobody answered
    SILENT = "silent"  # rule 1.3: no caller input, silence script played
    ABUSIVE = "abusive"  # ended after the civil-language warning
    CALLBACK_REQUESTED = "callback_requested"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    LOST = "lost"  # the bridge lost sight of it (lost-during-disconnect)


class LegRole(StrEnum):
    CALLER = "caller"  # the external party of an inbound call
    AGENT = "agent"
    CUSTOMER = "customer"  # the external party of an outbound call
    LOCAL = "local"  # Local/ channel halves and other helpers
    OTHER = "other"


class NoteOutcome(StrEnum):
    """Rule 1.18: accepted, not accepted (escalate), out of scope."""

    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    OUT_OF_SCOPE = "out_of_scope"


class CaseStatus(StrEnum):
    OPEN = "open"
    REPLIED = "replied"
    CLOSED = "closed"


class ComplaintSeverity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class ComplaintStatus(StrEnum):
    OPEN = "open"
    REPLIED = "replied"
    CLOSED = "closed"


class RecordingReason(StrEnum):
    ABUSIVE = "abusive"
    EXTORTION = "extortion"
    OTHER = "other"
    BLACKLIST = "blacklist"


class FlagSource(StrEnum):
    """How a flag on a call was raised."""

    API = "api"  # the agent desk or a supervisor's page, through the API
    FEATURE_CODE = "feature_code"  # *71 / *72 / *73 dialled from the softphone
    BLACKLIST = "blacklist"  # automatic: the caller's number is blacklisted (rule 9.15)


class EscalationStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class TaskType(StrEnum):
    DROPPED_CALL = "dropped-call"
    REQUESTED = "requested"
    CASE_REPLY = "case-reply"
    FOLLOW_UP = "follow-up"
    COMPLAINT_RETURN_VISIT = "complaint-return-visit"
    FIRST_CONTACT = "first-contact"
    MEMBER_RETURN_VISIT = "member-return-visit"
    BIRTHDAY = "birthday"
    FESTIVAL = "festival"
    TOP_CUSTOMERS = "top-customers"


class TaskStatus(StrEnum):
    PENDING = "pending"
    DIALLING = "dialling"
    # The customer was reached on a return-visit task; it closes with its ReturnVisit record.
    AWAITING_RECORD = "awaiting_record"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CallOutcome(StrEnum):
    """Outcome of one outbound attempt (and the last one of a task)."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    INVALID_NUMBER = "invalid_number"


class AttemptState(StrEnum):
    """Where one outbound attempt is in the exactly-once protocol (scheduler/dialler.py)."""

    PREPARED = "prepared"  # row committed; the Originate may or may not have left
    SENT = "sent"  # the PBX confirmed it (OriginateResponse or a live channel)
    CONNECTED = "connected"  # agent first: the agent answered, the customer is being dialled
    SETTLED = "settled"  # outcome known (or resolved after a restart); never dialled again


class CampaignStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CallingWindow(StrEnum):
    """When a task may be dialled (rule 5.6: never in the customer's rest time)."""

    WORKING_HOURS = "working_hours"  # business hours, outside the rest period, working days
    BUSINESS_HOURS_ANY_DAY = "business_hours_any_day"  # same hours, any day (dropped calls)
