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

from hotline.crm.schemas import CallNoteIn, CaseIn, ComplaintIn, CustomerIn, ReturnVisitIn
from hotline.db.models import CallNote, Case, Complaint, Customer, ReturnVisit
from hotline.domain.calendar import WorkingCalendar
from hotline.domain.enums import ComplaintStatus
from hotline.domain.errors import InvalidInput, integrity_as_invalid_input

CASE_REPLY_WINDOW = dt.timedelta(hours=48)  # rule 5.2
COMPLAINT_WORKING_DAYS = 2  # rules 5.4, 6.13


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict[str, Any] | M, region: str = "CN") -> M:
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data, context={"region": region})
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_customer(session: Session, data: dict[str, Any] | CustomerIn, region: str = "CN") -> Customer:
    cin = parse(CustomerIn, data, region)
    existing = session.scalar(select(Customer.id).where(Customer.phone == cin.phone))
    if existing is not None:
        raise InvalidInput.single("phone", f"{cin.phone} already exists (customer #{existing})")
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
    note = CallNote(**nin.model_dump(), author_id=author_id)
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
    created = now or _now()
    case = Case(
        **cin.model_dump(),
        created_by_id=created_by_id,
        created_at=created,
        reply_due_at=created + CASE_REPLY_WINDOW,
    )
    with integrity_as_invalid_input():
        session.add(case)
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


def record_return_visit(
    session: Session,
    data: dict[str, Any] | ReturnVisitIn,
    *,
    agent_user_id: int,
    region: str = "CN",
) -> ReturnVisit:
    rin = parse(ReturnVisitIn, data, region)
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
