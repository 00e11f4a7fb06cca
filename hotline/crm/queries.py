"""What agents look up: customers, the caller card, and the agent desk's lists (missed calls
since the last logout, today's follow-ups: rules 1.12, 5.1, 8.7)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from hotline.crm.blacklist import blacklist_entry
from hotline.db.models import (
    BlacklistEntry,
    Call,
    CallLeg,
    CallNote,
    Case,
    Complaint,
    Customer,
    OutboundTask,
)
from hotline.domain.enums import (
    CallDirection,
    CallDisposition,
    CaseStatus,
    ComplaintStatus,
    LegRole,
    TaskStatus,
)
from hotline.domain.errors import InvalidInput
from hotline.domain.phone import try_normalize_phone

CARD_HISTORY = 10

# Inbound calls nobody at the desk talked to; IVR-served ones (after-hours notice, silent
# line, abusive caller cut off) are not missed.
MISSED_DISPOSITIONS = (
    CallDisposition.MISSED,
    CallDisposition.ABANDONED,
    CallDisposition.CALLBACK_REQUESTED,
    CallDisposition.LOST,
)
OPEN_TASK = (TaskStatus.PENDING, TaskStatus.DIALLING)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_customers(
    session: Session,
    *,
    phone: str | None = None,
    name: str | None = None,
    region: str = "CN",
    limit: int = 50,
) -> list[Customer]:
    """Customers by phone (a full number in any spelling, or at least 3 of its digits) and/or
    by a part of the name."""
    phone = (phone or "").strip()
    name = (name or "").strip()
    if not phone and not name:
        raise InvalidInput.single("phone", "give a phone number (or part of one) or a name")
    conditions = []
    if phone:
        full = try_normalize_phone(phone, region)
        if full is not None:
            conditions.append(Customer.phone == full)
        else:
            digits = re.sub(r"\D", "", phone)
            if len(digits) < 3:
                raise InvalidInput.single("phone", "give at least 3 digits of the number")
            conditions.append(Customer.phone.like(f"%{digits}%"))
    if name:
        conditions.append(Customer.name.ilike(f"%{_like_escape(name)}%", escape="\\"))
    stmt = select(Customer).where(and_(*conditions)).order_by(Customer.name, Customer.id)
    return list(session.scalars(stmt.limit(limit)))


@dataclass
class CallerCard:
    """Everything the agent sees when a call rings: who, what happened before, what is open."""

    phone: str | None
    customer: Customer | None
    blacklist: BlacklistEntry | None
    past_calls: list[Call] = field(default_factory=list)
    notes: list[CallNote] = field(default_factory=list)
    open_cases: list[Case] = field(default_factory=list)
    open_complaints: list[Complaint] = field(default_factory=list)


def caller_card(
    session: Session, *, phone: str | None = None, customer_id: int | None = None
) -> CallerCard:
    """The card for an E.164 number (a caller with no customer record still gets one: past
    calls and blacklist mark) or for a customer id."""
    customer = None
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise LookupError(f"customer #{customer_id} does not exist")
        phone = customer.phone
    elif phone:
        customer = session.scalar(select(Customer).where(Customer.phone == phone))
    card = CallerCard(phone=phone, customer=customer, blacklist=blacklist_entry(session, phone))

    call_match = [Call.caller_number == phone] if phone else []
    if customer is not None:
        call_match.append(Call.customer_id == customer.id)
    if call_match:
        card.past_calls = list(
            session.scalars(
                select(Call).where(or_(*call_match))
                .order_by(Call.arrived_at.desc(), Call.id.desc()).limit(CARD_HISTORY)
            )
        )
    if customer is not None:
        card.notes = list(
            session.scalars(
                select(CallNote).where(CallNote.customer_id == customer.id)
                .order_by(CallNote.created_at.desc(), CallNote.id.desc()).limit(CARD_HISTORY)
            )
        )
        card.open_complaints = list(
            session.scalars(
                select(Complaint)
                .where(Complaint.customer_id == customer.id,
                       Complaint.status != ComplaintStatus.CLOSED)
                .order_by(Complaint.due_at)
            )
        )
    case_match = [Case.contact_phone == phone] if phone else []
    if customer is not None:
        case_match.append(Case.customer_id == customer.id)
    if case_match:
        card.open_cases = list(
            session.scalars(
                select(Case).where(or_(*case_match), Case.status == CaseStatus.OPEN)
                .order_by(Case.reply_due_at)
            )
        )
    return card


@dataclass(frozen=True)
class MissedCall:
    call: Call
    rang_me: bool  # this agent's phone rang for it
    followed_up: bool  # a later answered call or a callback task exists for the number


def missed_calls(
    session: Session, *, agent_id: int, since: dt.datetime, limit: int = 200
) -> list[MissedCall]:
    """Inbound calls since ``since`` that no agent answered (rules 1.12 and 12.11), newest
    first, each marked whether someone already followed it up."""
    rang_me = exists().where(
        CallLeg.call_id == Call.id, CallLeg.agent_id == agent_id, CallLeg.role == LegRole.AGENT
    )
    later = Call.__table__.alias("later")
    answered_later = exists().where(
        later.c.caller_number == Call.caller_number,
        later.c.arrived_at > Call.arrived_at,
        later.c.agent_answered_at.is_not(None),
    )
    task_after = exists().where(
        OutboundTask.phone == Call.caller_number, OutboundTask.created_at >= Call.arrived_at
    )
    stmt = (
        select(Call, rang_me.label("rang_me"), or_(answered_later, task_after).label("followed"))
        .where(
            Call.direction == CallDirection.INBOUND,
            Call.arrived_at >= since,
            Call.agent_answered_at.is_(None),
            Call.disposition.in_(MISSED_DISPOSITIONS),
        )
        .order_by(Call.arrived_at.desc(), Call.id.desc())
        .limit(limit)
    )
    return [MissedCall(c, bool(r), bool(f)) for c, r, f in session.execute(stmt)]


@dataclass
class FollowUps:
    tasks: list[OutboundTask]
    cases: list[Case]
    complaints: list[Complaint]


def todays_follow_ups(
    session: Session, *, agent_id: int | None, user_id: int, until: dt.datetime
) -> FollowUps:
    """What the agent must follow up by ``until`` (the end of today), overdue items included
    (rule 5.1): their open outbound tasks, and the cases and complaints they own."""
    tasks: list[OutboundTask] = []
    if agent_id is not None:
        tasks = list(
            session.scalars(
                select(OutboundTask)
                .where(OutboundTask.agent_id == agent_id, OutboundTask.status.in_(OPEN_TASK),
                       OutboundTask.due_at < until)
                .order_by(OutboundTask.due_at, OutboundTask.id)
            )
        )
    cases = list(
        session.scalars(
            select(Case)
            .where(Case.owner_id == user_id, Case.status == CaseStatus.OPEN,
                   Case.reply_due_at < until)
            .order_by(Case.reply_due_at, Case.id)
        )
    )
    complaints = list(
        session.scalars(
            select(Complaint)
            .where(Complaint.owner_id == user_id, Complaint.status != ComplaintStatus.CLOSED,
                   Complaint.due_at < until)
            .order_by(Complaint.due_at, Complaint.id)
        )
    )
    return FollowUps(tasks, cases, complaints)


def call_id_for_key(session: Session, call_key: str) -> int | None:
    """The stored call of a call key (``"<pbx>:<linkedid>"``, as live events name calls)."""
    pbx, _, linkedid = call_key.partition(":")
    return session.scalar(select(Call.id).where(Call.pbx == pbx, Call.linkedid == linkedid))


def current_call(session: Session, *, agent_id: int, now: dt.datetime,
                 grace: dt.timedelta) -> Call | None:
    """The call the agent's phone last had a leg in, while it lasts or for ``grace`` after it
    ended (the consultation record and a flag may follow the call); None otherwise."""
    row = session.execute(
        select(Call)
        .join(CallLeg, CallLeg.call_id == Call.id)
        .where(CallLeg.agent_id == agent_id, CallLeg.role == LegRole.AGENT)
        .order_by(CallLeg.created_at.desc(), CallLeg.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None or (row.ended_at is not None and now - row.ended_at > grace):
        return None
    return row
