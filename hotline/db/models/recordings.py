"""Kept recordings of flagged calls: reached by id only, checksummed, with legal holds."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, Phone, UTCDateTime, enum_column
from hotline.domain.enums import RecordingReason


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint("length(sha256) = 64", name="sha256_hex"),
        CheckConstraint("size_bytes >= 0", name="size_nonnegative"),
        CheckConstraint("duration_seconds >= 0", name="duration_nonnegative"),
        CheckConstraint(
            "reason <> 'other' OR length(trim(reason_text)) > 0", name="other_needs_text"
        ),
        Index("ix_recordings_flagged_at", "flagged_at"),
        Index("ix_recordings_call_id", "call_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="RESTRICT"))
    reason: Mapped[RecordingReason] = mapped_column(enum_column(RecordingReason, "reason"))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    flagged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    flagged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    caller_number: Mapped[str | None] = mapped_column(Phone)
    # Key inside the recordings store (date/call-id/file); never a path taken from a request.
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    format: Mapped[str] = mapped_column(String(16), default="wav")
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    retain_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stored_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=lambda: dt.datetime.now(dt.UTC)
    )
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
