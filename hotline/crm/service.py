"""CRM writes: each validates first, lets the database check again, and stores all or nothing.

Functions take an open session inside the caller's transaction; on :class:`InvalidInput` the
caller's ``transaction()`` rolls back, so nothing stored before is touched.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.crm.schemas import (
    CallNoteIn,
    CaseIn,
    ComplaintEscalationIn,
    ComplaintIn,
    CustomerIn,
    ReplyIn,
    ReturnVisitIn,
)
from hotline.db.base import Base
from hotline.db.errors import integrity_as_invalid_input
from hotline.db.models import Agent, Call, CallNote, Case, Complaint, Customer, ReturnVisit, User
from hotline.domain.calendar import WorkingCalendar
from hotline.domain.enums import CaseStatus, ComplaintStatus
from hotline.domain.errors import InvalidInput

CASE_REPLY_WINDOW = dt.timedelta(hours=48)  # rule 5.2
COMPLAINT_WORKING_DAYS = 2  # rules 5.4, 6.13
TOP_ESCALATION_LEVEL = 3  # company leadership (rules 3.13, 3.14)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict[str, Any] | M, region: str = "CN") -> M:
    """Validate ``data`` with the hotline's region. A model instance is validated again: the
    web layer builds models without a region, leaving phone numbers as typed."""
    raw = data.model_dump() if isinstance(data, BaseModel) else data
    try:
        return model.model_validate(raw, context={"region": region})
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_REFERENCES: dict[str, tuple[type[Base], str]] = {
    "call_id": (Call, "call"),
    "customer_id": (Customer, "customer"),
    "owner_id": (User, "user"),
    "assigned_agent_id": (Agent, "agent"),
}


def check_references(session: Session, **ids: int | None) -> None:
    """Name the field of every id that points nowhere, before the database would refuse the
    row with a foreign-key error that names no field."""
    problems = []
    for field, value in ids.items():
        if value is None:
            continue
        model, noun = _REFERENCES[field]
        if session.get(model, value) is None:
            problems.append((field, f"{noun} #{value} does not exist"))
    if problems:
        raise InvalidInput(problems)


def create_customer(
    session: Session, data: dict[str, Any] | CustomerIn, region: str = "CN"
) -> Customer:
    cin = parse(CustomerIn, data, region)
    existing = session.scalar(select(Customer.id).where(Customer.phone == cin.phone))
    if existing is not None:
        raise InvalidInput.single("phone", f"{cin.phone} already exists (customer #{existing})")
    if cin.card_number is not None:
        clash = session.scalar(select(Customer.id).where(Customer.card_number == cin.card_number))
        if clash is not None:
            raise InvalidInput.single(
                "card_number", f"{cin.card_number} already belongs to customer #{clash}"
            )
    check_references(session, assigned_agent_id=cin.assigned_agent_id)
    values = cin.model_dump()
    if cin.assigned_agent_id is not None:
        values["assigned_at"] = _now()
    customer = Customer(**values)
    with integrity_as_invalid_input():
        session.add(customer)
        session.flush()
    return customer


def add_note(session: Session, data: dict[str, Any] | CallNoteIn, *, author_id: int) -> CallNote:
    nin = parse(CallNoteIn, data)
    check_references(session, call_id=nin.call_id, customer_id=nin.customer_id)
    customer_id = nin.customer_id
    if customer_id is None and nin.call_id is not None:
        # The record belongs to the caller's customer card (rule 12.12) when one is known.
        customer_id = session.scalar(select(Call.customer_id).where(Call.id == nin.call_id))
    note = CallNote(**nin.model_dump(exclude={"customer_id"}), customer_id=customer_id,
                    author_id=author_id)
    with integrity_as_invalid_input():
        session.add(note)
        session.flush()
    return note


def open_case(
    session: Session,
    data: dict[str, Any] | CaseIn,
    *,
    created_by_id: int,
    region: str = "CN",
    now: dt.datetime | None = None,
) -> Case:
    cin = parse(CaseIn, data, region)
    check_references(
        session, owner_id=cin.owner_id, call_id=cin.call_id, customer_id=cin.customer_id
    )
    created = now or _now()
    values = cin.model_dump()
    values["owner_id"] = cin.owner_id or created_by_id
    case = Case(
        **values,
        created_by_id=created_by_id,
        created_at=created,
        reply_due_at=created + CASE_REPLY_WINDOW,
    )
    with integrity_as_invalid_input():
        session.add(case)
        session.flush()
    return case


def reply_case(
    session: Session, case_id: int, data: dict[str, Any] | ReplyIn, *, now: dt.datetime | None = None
) -> Case:
    rin = parse(ReplyIn, data)
    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(f"case #{case_id} does not exist")
    if case.status is CaseStatus.CLOSED:
        raise InvalidInput.single("case_id", f"case #{case_id} is closed")
    case.resolution = rin.resolution
    case.replied_at = case.replied_at or (now or _now())
    case.status = CaseStatus.REPLIED
    session.flush()
    return case


def file_complaint(
    session: Session,
    data: dict[str, Any] | ComplaintIn,
    *,
    created_by_id: int,
    calendar: WorkingCalendar,
    now: dt.datetime | None = None,
) -> Complaint:
    cin = parse(ComplaintIn, data)
    check_references(
        session, owner_id=cin.owner_id, call_id=cin.call_id, customer_id=cin.customer_id
    )
    received = cin.received_at or now or _now()
    complaint = Complaint(
        **cin.model_dump(exclude={"received_at"}),
        received_at=received,
        due_at=calendar.add_working_days(received, COMPLAINT_WORKING_DAYS),
        created_by_id=created_by_id,
    )
    with integrity_as_invalid_input():
        session.add(complaint)
        session.flush()
    return complaint


def _complaint(session: Session, complaint_id: int) -> Complaint:
    complaint = session.get(Complaint, complaint_id)
    if complaint is None:
        raise LookupError(f"complaint #{complaint_id} does not exist")
    return complaint


def escalate_complaint(
    session: Session, complaint_id: int, data: dict[str, Any] | ComplaintEscalationIn
) -> Complaint:
    """One level up the ladder; refused at the top and on a closed complaint."""
    ein = parse(ComplaintEscalationIn, data)
    complaint = _complaint(session, complaint_id)
    if complaint.status is ComplaintStatus.CLOSED:
        raise InvalidInput.single("complaint_id", f"complaint #{complaint_id} is closed")
    if complaint.escalation_level >= TOP_ESCALATION_LEVEL:
        raise InvalidInput.single(
            "escalation_level", "already at the top level (3: company leadership)"
        )
    check_references(session, owner_id=ein.owner_id)
    complaint.escalation_level += 1
    if ein.owner_id is not None:
        complaint.owner_id = ein.owner_id
    if ein.severity is not None:
        complaint.severity = ein.severity
    session.flush()
    return complaint


def reply_complaint(
    session: Session, complaint_id: int, data: dict[str, Any] | ReplyIn,
    *, now: dt.datetime | None = None,
) -> Complaint:
    parse(ReplyIn, data)
    complaint = _complaint(session, complaint_id)
    if complaint.status is ComplaintStatus.CLOSED:
        raise InvalidInput.single("complaint_id", f"complaint #{complaint_id} is closed")
    complaint.replied_at = complaint.replied_at or (now or _now())
    complaint.status = ComplaintStatus.REPLIED
    session.flush()
    return complaint


def record_return_visit(
    session: Session,
    data: dict[str, Any] | ReturnVisitIn,
    *,
    agent_user_id: int,
    region: str = "CN",
) -> ReturnVisit:
    rin = parse(ReturnVisitIn, data, region)
    check_references(session, customer_id=rin.customer_id)
    visit = ReturnVisit(**rin.model_dump(), agent_user_id=agent_user_id)
    with integrity_as_invalid_input():
        session.add(visit)
        session.flush()
    return visit


def close_complaint(
    session: Session, complaint_id: int, *, return_visit_id: int | None = None,
    now: dt.datetime | None = None,
) -> Complaint:
    """Close a complaint; refused without a return-visit record (rule 5.5)."""
    complaint = session.get(Complaint, complaint_id)
    if complaint is None:
        raise InvalidInput.single("complaint_id", f"complaint #{complaint_id} does not exist")
    if return_visit_id is not None:
        if session.get(ReturnVisit, return_visit_id) is None:
            raise InvalidInput.single(
                "return_visit_id", f"return visit #{return_visit_id} does not exist"
            )
        complaint.return_visit_id = return_visit_id
    if complaint.return_visit_id is None:
        raise InvalidInput.single(
            "return_visit_id", "a complaint can only be closed after its return visit is recorded"
        )
    complaint.status = ComplaintStatus.CLOSED
    complaint.closed_at = now or _now()
    with integrity_as_invalid_input():
        session.flush()
    return complaint
