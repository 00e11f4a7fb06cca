"""API tokens for integrations: created by an admin, shown once, stored as a digest only.

A token is ``htl_`` followed by 43 URL-safe characters (256 random bits). Because it is a
random value and not a password, SHA-256 is the right digest: it is looked up by equality
and cannot be guessed, so a slow hash would only cost every API request time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.models import ApiToken, User
from hotline.domain.errors import InvalidInput

TOKEN_PREFIX = "htl_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown to the admin once; never stored


def issue_token(
    session: Session,
    *,
    user_id: int,
    name: str,
    created_by_id: int | None,
    expires_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> IssuedToken:
    name = name.strip()
    if not name:
        raise InvalidInput.single("name", "is required and may not be blank")
    user = session.get(User, user_id)
    if user is None:
        raise InvalidInput.single("user_id", f"user #{user_id} does not exist")
    if not user.active:
        raise InvalidInput.single("user_id", f"user {user.username} is deactivated")
    now = now or dt.datetime.now(dt.UTC)
    if expires_at is not None and expires_at <= now:
        raise InvalidInput.single("expires_at", "must be in the future")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id,
        name=name,
        token_hash=digest(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_by_id=created_by_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def find_token(session: Session, secret: str, now: dt.datetime) -> ApiToken | None:
    """The live token with this secret, or None (unknown, revoked or expired)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    return token


def revoke_token(session: Session, token_id: int, now: dt.datetime | None = None) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise LookupError(f"API token #{token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = now or dt.datetime.now(dt.UTC)
    session.flush()
    return token
