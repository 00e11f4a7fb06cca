"""How people and integrations get into the web app: browser sessions, API tokens, and the
login throttle that slows down password guessing.

Secrets are never stored: a session id and an API token live in the database only as their
SHA-256 digest (both are 256-bit random values, so a fast hash is enough; passwords, which are
guessable, use argon2 in :mod:`hotline.accounts.passwords`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, UTCDateTime, not_blank


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ApiToken(Base):
    """A bearer token an admin created for an integration; it acts as ``user_id``."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        not_blank("name"),
        CheckConstraint("length(token_hash) = 64", name="token_hash_hex"),
        Index("ix_api_tokens_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so an admin can tell tokens apart in a list.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A logged-in browser. Kept server-side so that logging out, deactivating a user or
    changing a role takes effect at the next request, not when a cookie expires."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        CheckConstraint("length(token_hash) = 64", name="token_hash_hex"),
        Index("ix_web_sessions_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Sent back by pages in the X-CSRF-Token header of every state-changing request.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    client: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed logins per key (``user:<name>`` or ``client:<address>``), stored so that the
    slow-down holds across requests, workers and restarts."""

    __tablename__ = "login_throttle"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
