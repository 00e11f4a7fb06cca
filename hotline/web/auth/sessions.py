"""Browser sessions: a random id in a signed cookie, its SHA-256 digest in ``web_sessions``.

The cookie is signed with ``web.session_secret`` (itsdangerous), or with a secret generated
once per process when none is configured (sessions then end with the process). The row makes
logout and deactivation immediate and carries the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.accounts.tokens import digest
from hotline.db.models import User, WebSession
from hotline.settings import Settings

COOKIE_NAME = "hotline_session"
SESSION_LIFETIME = dt.timedelta(hours=12)  # one shift, with room for overtime
TOUCH_EVERY = dt.timedelta(minutes=1)
_PROCESS_SECRET = secrets.token_urlsafe(32)


def make_signer(settings: Settings) -> URLSafeTimedSerializer:
    secret = settings.web.session_secret
    key = secret.get_secret_value() if secret is not None else _PROCESS_SECRET
    return URLSafeTimedSerializer(key, salt="hotline-session")


@dataclass(frozen=True)
class NewSession:
    row: WebSession
    cookie: str


def start_session(
    session: Session, signer: URLSafeTimedSerializer, user: User, *, client: str | None,
    now: dt.datetime,
) -> NewSession:
    sid = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=digest(sid),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME,
        client=client[:64] if client else None,
    )
    session.add(row)
    session.flush()
    return NewSession(row, signer.dumps(sid))


def find_session(
    session: Session, signer: URLSafeTimedSerializer, cookie: str, now: dt.datetime
) -> WebSession | None:
    """The live session behind a cookie, or None (forged, expired, revoked, unknown)."""
    if len(cookie) > 512:
        return None
    try:
        sid = signer.loads(cookie, max_age=int(SESSION_LIFETIME.total_seconds()))
    except BadSignature:
        return None
    if not isinstance(sid, str):
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == digest(sid)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row


def end_session(session: Session, session_id: int, now: dt.datetime) -> None:
    row = session.get(WebSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
