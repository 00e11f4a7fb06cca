"""Outbound work: callbacks and return visits the scheduler dials inside calling windows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, Phone, UTCDateTime, e164, enum_column
from hotline.domain.enums import CallingWindow, CallOutcome, TaskStatus, TaskType


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OutboundTask(Base):
    __tablename__ = "outbound_tasks"
    __table_args__ = (
        e164("phone"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("attempts <= max_attempts", name="attempts_within_max"),
        Index("ix_outbound_tasks_status_due", "status", "due_at"),
        Index("ix_outbound_tasks_agent_status", "agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[TaskType] = mapped_column(enum_column(TaskType, "type"))
    phone: Mapped[str] = mapped_column(Phone)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    # The agent who should make the call (the same agent for a dropped call, rule 1.15).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # What the task came from, for deadlines and reports.
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    complaint_id: Mapped[int | None] = mapped_column(
        ForeignKey("complaints.id", ondelete="SET NULL")
    )
    return_visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("return_visits.id", ondelete="SET NULL")
    )
    # The earliest moment to dial and the deadline of the rule that created the task.
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    window: Mapped[CallingWindow] = mapped_column(
        enum_column(CallingWindow, "window"), default=CallingWindow.WORKING_HOURS
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[TaskStatus] = mapped_column(
        enum_column(TaskStatus, "status"), default=TaskStatus.PENDING
    )
    outcome: Mapped[CallOutcome | None] = mapped_column(enum_column(CallOutcome, "outcome"))
    # Makes rule runs idempotent: the same rule firing twice for the same source creates one
    # task (e.g. "dropped-call:pbx1:1700000000.12").
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
