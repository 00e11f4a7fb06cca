"""Response (and a few request) models of the API, so the OpenAPI description says exactly
what each route returns. Times are shown in the hotline's zone (``+08:00``): see
:func:`out`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hotline.crm.schemas import DbId
from hotline.domain.enums import (
    AgentState,
    CallCategory,
    CallDirection,
    CallDisposition,
    CaseStatus,
    ComplaintSeverity,
    ComplaintStatus,
    CustomerTier,
    EscalationStatus,
    Gender,
    NoteOutcome,
    Role,
    TaskStatus,
    TaskType,
)

M = TypeVar("M", bound=BaseModel)

# A call as live events name it, "<pbx>:<linkedid>" (e.g. "pbx1:1700000000.12").
CallKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}:[0-9A-Za-z_.-]{1,64}$")]


def _localize(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(tz) if value.tzinfo else value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            setattr(value, name, _localize(getattr(value, name), tz))
        return value
    if isinstance(value, list):
        return [_localize(v, tz) for v in value]
    return value


def out(model: type[M], obj: Any, tz: ZoneInfo) -> M:
    """``model`` from an ORM object (or dict), its times in the hotline's zone."""
    if isinstance(obj, dict):
        built = model.model_validate(obj)
    else:
        built = model.model_validate(obj, from_attributes=True)
    return _localize(built, tz)  # type: ignore[no-any-return]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, validate_assignment=False)


class UserOut(_Out):
    id: int
    username: str
    display_name: str
    role: Role
    agent_id: int | None = None
    extension: str | None = None


Username = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    password: Password


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str


class CustomerOut(_Out):
    id: int
    phone: str
    name: str
    gender: Gender
    birthday: dt.date | None
    work_unit: str
    card_number: str | None
    tier: CustomerTier
    is_member: bool
    is_vip: bool
    is_key_account: bool
    department: str | None
    assigned_agent_id: int | None
    created_at: dt.datetime


class CallOut(_Out):
    id: int
    direction: CallDirection
    caller_number: str | None
    arrived_at: dt.datetime
    agent_answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    disposition: CallDisposition | None
    category: CallCategory | None
    queue: str | None
    rings_at_answer: int | None
    answered_by_agent_id: int | None


class NoteOut(_Out):
    id: int
    call_id: int | None
    customer_id: int | None
    author_id: int
    category: CallCategory
    content: str
    outcome: NoteOutcome
    created_at: dt.datetime


class CaseOut(_Out):
    id: int
    call_id: int | None
    customer_id: int | None
    created_by_id: int
    owner_id: int
    occurred_at: dt.datetime
    place: str
    person: str
    event: str
    contact_phone: str
    status: CaseStatus
    created_at: dt.datetime
    reply_due_at: dt.datetime
    replied_at: dt.datetime | None
    resolution: str


class ComplaintOut(_Out):
    id: int
    call_id: int | None
    customer_id: int | None
    created_by_id: int
    owner_id: int | None
    severity: ComplaintSeverity
    description: str
    received_at: dt.datetime
    due_at: dt.datetime
    escalation_level: int
    status: ComplaintStatus
    replied_at: dt.datetime | None
    return_visit_id: int | None
    closed_at: dt.datetime | None


class ReturnVisitOut(_Out):
    id: int
    customer_id: int | None
    agent_user_id: int
    card_number: str
    name: str
    gender: Gender
    phone: str
    work_unit: str
    place: str
    visited_at: dt.datetime
    opinions: str


class BlacklistOut(_Out):
    id: int
    phone: str
    reason: str
    added_by_id: int | None
    added_at: dt.datetime


class TaskOut(_Out):
    id: int
    type: TaskType
    phone: str
    customer_id: int | None
    agent_id: int | None
    call_id: int | None
    due_at: dt.datetime
    deadline_at: dt.datetime | None
    status: TaskStatus
    attempts: int
    created_at: dt.datetime


class CallerCardOut(BaseModel):
    phone: str | None
    customer: CustomerOut | None
    blacklisted: bool
    blacklist: BlacklistOut | None
    past_calls: list[CallOut]
    notes: list[NoteOut]
    open_cases: list[CaseOut]
    open_complaints: list[ComplaintOut]


class MissedCallOut(BaseModel):
    call: CallOut
    rang_me: bool
    followed_up: bool


class FollowUpsOut(BaseModel):
    tasks: list[TaskOut]
    cases: list[CaseOut]
    complaints: list[ComplaintOut]


class DeskAgentOut(BaseModel):
    agent_id: int
    extension: str
    state: AgentState
    pause_reason: str | None
    last_logout_at: dt.datetime | None


class DeskOut(BaseModel):
    agent: DeskAgentOut
    current_call: CurrentCallOut | None = None
    missed_since: dt.datetime
    missed_calls: list[MissedCallOut]
    follow_ups: FollowUpsOut


PauseReason = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AgentStateIn(BaseModel):
    """Ready, or paused with a reason (e.g. 休息 break, 培训 training, 会议 meeting)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    state: Literal["ready", "paused"]
    reason: PauseReason | None = None


class AgentStateOut(BaseModel):
    agent_id: int
    requested: Literal["ready", "paused", "logged_in", "logged_out"]
    reason: str | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    user_id: DbId
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    expires_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class TokenOut(_Out):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class IssuedTokenOut(TokenOut):
    token: str = Field(description="the bearer token; shown once, stored only as a digest")


class AuditOut(_Out):
    id: int
    at: dt.datetime
    actor_id: int | None
    action: str
    object_type: str | None
    object_id: str | None
    details: dict[str, Any]
    client: str | None


class ReportColumnOut(BaseModel):
    key: str
    label: str
    zh: str
    en: str
    kind: str


class ReportOut(BaseModel):
    name: str
    title: str
    start: dt.date
    end: dt.date
    timezone: str
    columns: list[ReportColumnOut]
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    notes: list[str]


class DigestSummaryOut(BaseModel):
    day: dt.date
    built_at: dt.datetime
    built_by_id: int | None
    counts: dict[str, int]


class DigestOut(DigestSummaryOut):
    content: dict[str, Any]


class WallboardAgentOut(BaseModel):
    agent_id: int
    name: str
    extension: str
    state: AgentState
    pause_reason: str | None
    since: str | None


class WallboardOut(BaseModel):
    at: str
    calls_waiting: int
    longest_wait_seconds: float
    agents_by_state: dict[str, int]
    agents: list[WallboardAgentOut]
    today: dict[str, Any]


class ScriptOut(BaseModel):
    id: str
    moment: str
    moment_zh: str
    zh: list[str]
    en: list[str]
    source: str



class EscalationOut(BaseModel):
    id: int
    call_key: str
    call_id: int | None
    reason: str
    reason_text: str
    status: EscalationStatus
    raised_at: dt.datetime
    raised_by: str | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    # The kept recording of the call, once the call has ended and it is stored.
    recording_id: int | None


class CurrentCallOut(BaseModel):
    """The call an agent's phone is ringing for or talking on (or just finished, within the
    flag grace period), so a reloaded desk shows it again."""

    call_key: str
    call_id: int
    caller_number: str | None
    category: CallCategory | None
    arrived_at: dt.datetime
    agent_answered_at: dt.datetime | None
    ended_at: dt.datetime | None
