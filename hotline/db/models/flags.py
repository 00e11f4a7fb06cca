"""Flags on calls and the escalations they raise.

A flag is stored the moment it is raised, before any recording exists: the recording of a
flagged call is only moved to the store when the call ends, and the flag is what tells the
recordings service (even after a restart) to keep it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db.base import Base, UTCDateTime, enum_column, not_blank
from hotline.domain.enums import EscalationStatus, FlagSource, RecordingReason, Role


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CallFlag(Base):
    __tablename__ = "call_flags"
    __table_args__ = (
        not_blank("call_key"),
        CheckConstraint(
            "reason <> 'other' OR length(trim(reason_text)) > 0", name="other_needs_text"
        ),
        Index("ix_call_flags_call_key", "call_key"),
        Index("ix_call_flags_flagged_at", "flagged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<pbx>:<linkedid>": known from the first event of a call, before the bridge's writer
    # has stored the Call row; call_id is filled in when the recording is stored.
    call_key: Mapped[str] = mapped_column(String(160))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    reason: Mapped[RecordingReason] = mapped_column(enum_column(RecordingReason, "reason"))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[FlagSource] = mapped_column(enum_column(FlagSource, "source"))
    flagged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    flagged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Escalation(Base):
    """An extortion flag raised to the on-duty team leader and the supervisors (rule 3.2)."""

    __tablename__ = "escalations"
    __table_args__ = (
        not_blank("call_key"),
        Index("ix_escalations_status_raised", "status", "raised_at"),
        Index("ix_escalations_call_key", "call_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_key: Mapped[str] = mapped_column(String(160))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    flag_id: Mapped[int] = mapped_column(ForeignKey("call_flags.id", ondelete="RESTRICT"))
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="SET NULL")
    )
    reason: Mapped[RecordingReason] = mapped_column(enum_column(RecordingReason, "reason"))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    status: Mapped[EscalationStatus] = mapped_column(
        enum_column(EscalationStatus, "status"), default=EscalationStatus.OPEN
    )
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    recipients: Mapped[list[EscalationRecipient]] = relationship(
        back_populates="escalation", cascade="all, delete-orphan", order_by="EscalationRecipient.id"
    )


class EscalationRecipient(Base):
    __tablename__ = "escalation_recipients"
    __table_args__ = (
        UniqueConstraint("escalation_id", "user_id", name="uq_escalation_recipients_user"),
        Index("ix_escalation_recipients_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    # True for the team leader on duty when the escalation was raised.
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    notified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    escalation: Mapped[Escalation] = relationship(back_populates="recipients")
