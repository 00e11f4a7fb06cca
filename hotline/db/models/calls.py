"""Calls as the AMI bridge reconstructs them: one ``Call`` per Linkedid, one ``CallLeg`` per
channel of it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db.base import Base, UTCDateTime, enum_column
from hotline.domain.enums import CallCategory, CallDirection, CallDisposition, LegRole


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        # One bridge per Asterisk server shares the database; linkedids are only unique
        # within one server.
        UniqueConstraint("pbx", "linkedid", name="uq_calls_pbx_linkedid"),
        CheckConstraint("rings_at_answer IS NULL OR rings_at_answer >= 1", name="rings_positive"),
        CheckConstraint(
            "answered_at IS NULL OR answered_at >= arrived_at", name="answer_after_arrival"
        ),
        CheckConstraint("ended_at IS NULL OR ended_at >= arrived_at", name="end_after_arrival"),
        Index("ix_calls_arrived_at", "arrived_at"),
        Index("ix_calls_agent_arrived", "answered_by_agent_id", "arrived_at"),
        Index("ix_calls_caller_number", "caller_number"),
        Index("ix_calls_attempt_id", "attempt_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64), default="pbx1")
    linkedid: Mapped[str] = mapped_column(String(64))
    uniqueid: Mapped[str] = mapped_column(String(64))
    direction: Mapped[CallDirection] = mapped_column(enum_column(CallDirection, "direction"))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    dialled_number: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    category: Mapped[CallCategory | None] = mapped_column(enum_column(CallCategory, "category"))
    queue: Mapped[str | None] = mapped_column(String(64))
    arrived_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ringing_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When an agent (not the IVR) picked the call up.
    agent_answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Ring (1-based, of the configured cadence) in which the call was answered.
    rings_at_answer: Mapped[int | None] = mapped_column(Integer)
    answered_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    disposition: Mapped[CallDisposition | None] = mapped_column(
        enum_column(CallDisposition, "disposition")
    )
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(64))
    # Why the call ended as far as hotline knows: caller-hangup, agent-hangup,
    # lost-during-disconnect, ...
    end_reason: Mapped[str | None] = mapped_column(String(64))
    abnormal_end: Mapped[bool] = mapped_column(Boolean, default=False)
    # The outbound attempt (``outbound_attempts.id``) this call dialled, from its
    # HOTLINE_ATTEMPT_ID channel variable. No foreign key on purpose: the bridge stores what
    # Asterisk says, and a call must never be refused for an attempt id it does not know.
    attempt_id: Mapped[int | None] = mapped_column(Integer)

    legs: Mapped[list[CallLeg]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CallLeg.id"
    )


class CallLeg(Base):
    __tablename__ = "call_legs"
    __table_args__ = (
        UniqueConstraint("pbx", "uniqueid", name="uq_call_legs_pbx_uniqueid"),
        CheckConstraint("rings_at_answer IS NULL OR rings_at_answer >= 1", name="rings_positive"),
        Index("ix_call_legs_call_id", "call_id"),
        # Per-agent reports read the legs of a period (offered, ring-no-answer).
        Index("ix_call_legs_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    pbx: Mapped[str] = mapped_column(String(64), default="pbx1")
    uniqueid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(128))
    role: Mapped[LegRole] = mapped_column(enum_column(LegRole, "role"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ringing_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rings_at_answer: Mapped[int | None] = mapped_column(Integer)
    dial_status: Mapped[str | None] = mapped_column(String(32))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(64))

    call: Mapped[Call] = relationship(back_populates="legs")
