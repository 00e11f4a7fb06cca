"""Callbacks an agent promises on a call: an ``OutboundTask`` of type ``requested`` that the
scheduler dials inside calling windows, for the same agent (rules 1.28, 6.26)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.crm.schemas import CallbackIn
from hotline.crm.service import check_references, parse
from hotline.db.errors import integrity_as_invalid_input
from hotline.db.models import Customer, OutboundTask
from hotline.domain.enums import CallingWindow, TaskStatus, TaskType
from hotline.domain.errors import InvalidInput

# A promised callback is followed up within 48 h, like every follow-up (rule 5.1).
CALLBACK_DEADLINE = dt.timedelta(hours=48)
LATEST_DUE = dt.timedelta(days=90)
CLOCK_SKEW = dt.timedelta(minutes=5)


def schedule_callback(
    session: Session,
    data: dict[str, Any] | CallbackIn,
    *,
    agent_id: int,
    region: str = "CN",
    now: dt.datetime | None = None,
) -> OutboundTask:
    cin = parse(CallbackIn, data, region)
    now = now or dt.datetime.now(dt.UTC)
    due = cin.due_at or now
    if due < now - CLOCK_SKEW:
        raise InvalidInput.single("due_at", "may not be in the past")
    if due > now + LATEST_DUE:
        raise InvalidInput.single("due_at", "may be at most 90 days ahead")
    check_references(session, call_id=cin.call_id, customer_id=cin.customer_id)
    customer_id = cin.customer_id or session.scalar(
        select(Customer.id).where(Customer.phone == cin.phone)
    )
    task = OutboundTask(
        type=TaskType.REQUESTED,
        phone=cin.phone,
        customer_id=customer_id,
        agent_id=agent_id,
        call_id=cin.call_id,
        due_at=max(due, now),
        deadline_at=max(due, now) + CALLBACK_DEADLINE,
        window=CallingWindow.WORKING_HOURS,
        status=TaskStatus.PENDING,
        created_at=now,
    )
    with integrity_as_invalid_input():
        session.add(task)
        session.flush()
    return task
