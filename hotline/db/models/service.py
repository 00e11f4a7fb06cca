"""What agents write about calls: consultation notes, cases, complaints and return visits.

The required fields of the source rules are NOT NULL and non-blank in the database itself, so
no client (API, CLI, a later script) can store an incomplete case or return visit.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db.base import Base, Phone, UTCDateTime, e164, enum_column, not_blank
from hotline.domain.enums import (
    CallCategory,
    CaseStatus,
    ComplaintSeverity,
    ComplaintStatus,
    Gender,
    NoteOutcome,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CallNote(Base):
    """The consultation record (客户咨询即时记录表) filled during the call (rules 1.16, 4.2)."""

    __tablename__ = "call_notes"
    __table_args__ = (not_blank("content"), Index("ix_call_notes_call_id", "call_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    category: Mapped[CallCategory] = mapped_column(enum_column(CallCategory, "category"))
    content: Mapped[str] = mapped_column(Text)
    outcome: Mapped[NoteOutcome] = mapped_column(enum_column(NoteOutcome, "outcome"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)


class Case(Base):
    """个案: what could not be answered on the call (rule 4.11); reply due within 48 h."""

    __tablename__ = "cases"
    __table_args__ = (
        not_blank("place"),
        not_blank("person"),
        not_blank("event"),
        e164("contact_phone"),
        CheckConstraint("reply_due_at > created_at", name="due_after_creation"),
        Index("ix_cases_owner_status", "owner_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # The five required facts: time, place, person, event, contact phone.
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(255))
    person: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(Text)
    contact_phone: Mapped[str] = mapped_column(Phone)
    status: Mapped[CaseStatus] = mapped_column(
        enum_column(CaseStatus, "status"), default=CaseStatus.OPEN
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    reply_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str] = mapped_column(Text, default="")


class ReturnVisit(Base):
    """回访记录表 (rule 4.10): every field is required (rule 5.8)."""

    __tablename__ = "return_visits"
    __table_args__ = (
        not_blank("card_number"),
        not_blank("name"),
        not_blank("work_unit"),
        not_blank("place"),
        not_blank("opinions"),
        e164("phone"),
        CheckConstraint("gender IN ('male', 'female')", name="gender_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    agent_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    card_number: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    gender: Mapped[Gender] = mapped_column(enum_column(Gender, "gender"))
    phone: Mapped[str] = mapped_column(Phone)
    work_unit: Mapped[str] = mapped_column(String(255))
    place: Mapped[str] = mapped_column(String(255))
    visited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    opinions: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)


class Complaint(Base):
    """A complaint: reply and return visit due within 2 working days (rules 5.4, 6.13); it
    cannot be closed without its return-visit record (rule 5.5), which the database checks."""

    __tablename__ = "complaints"
    __table_args__ = (
        not_blank("description"),
        CheckConstraint("due_at > received_at", name="due_after_receipt"),
        CheckConstraint("escalation_level BETWEEN 0 AND 3", name="escalation_range"),
        CheckConstraint(
            "status <> 'closed' OR return_visit_id IS NOT NULL", name="closed_needs_return_visit"
        ),
        Index("ix_complaints_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    severity: Mapped[ComplaintSeverity] = mapped_column(
        enum_column(ComplaintSeverity, "severity"), default=ComplaintSeverity.NORMAL
    )
    description: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # 0 agent, 1 on-duty team leader, 2 supervisor / duty manager, 3 company leadership.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ComplaintStatus] = mapped_column(
        enum_column(ComplaintStatus, "status"), default=ComplaintStatus.OPEN
    )
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    return_visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("return_visits.id", ondelete="RESTRICT")
    )
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    return_visit: Mapped[ReturnVisit | None] = relationship()
