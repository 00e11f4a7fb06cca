"""Reports kept for download: the daily complaint and feedback digest (rules 6.7, 6.14)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, UTCDateTime


class Digest(Base):
    """One working day's complaint and feedback digest, built before the configured time
    (``reports.digest_at``) and kept; rebuilding a day replaces its content."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The local (hotline time zone) day the digest covers.
    day: Mapped[dt.date] = mapped_column(Date, unique=True)
    period_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # None when the scheduled job built it.
    built_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
