"""One login attempt, shared by the login page and the JSON login route: throttle check,
argon2 verification (timed the same for unknown users), session creation, audit rows."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy import select

from hotline.accounts.audit import audit
from hotline.accounts.passwords import hash_password, needs_rehash, verify_password
from hotline.db.models import User
from hotline.web.auth.gates import client_of
from hotline.web.auth.sessions import COOKIE_NAME, SESSION_LIFETIME, start_session
from hotline.web.auth.throttle import client_key, record_failure, record_success, retry_after
from hotline.web.auth.throttle import user_key as throttle_user_key
from hotline.web.context import WebContext

_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    """Verifying against this when the user does not exist keeps "no such user" as slow as
    "wrong password", so response times do not reveal which usernames exist. Made on first
    use, with the hasher's current parameters."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("not a real password, only for timing")
    return _DUMMY_HASH


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    user_id: int | None = None
    csrf_token: str | None = None
    cookie: str | None = None
    retry_after: int = 0  # > 0: throttled, try again in this many seconds

    @property
    def throttled(self) -> bool:
        return self.retry_after > 0


def attempt_login(web: WebContext, request: Request, username: str, password: str) -> LoginResult:
    now = web.now()
    client = client_of(request)
    keys = [throttle_user_key(username), client_key(client)]
    policy = web.services.login_throttle
    shown_name = username.strip()[:64]
    with web.sessions.begin() as s:
        wait = retry_after(s, keys, now)
        if wait:
            return LoginResult(ok=False, retry_after=wait)
        user = s.scalar(select(User).where(User.username == shown_name))
        good = verify_password(user.password_hash if user else _dummy_hash(), password)
        if user is None or not good or not user.active:
            record_failure(s, keys, now, policy)
            reason = ("unknown user" if user is None else
                      "deactivated" if good else "wrong password")
            audit(s, "login.failed", actor_id=user.id if user else None, object_type="user",
                  object_id=user.id if user else None,
                  details={"username": shown_name, "reason": reason}, client=client, at=now)
            return LoginResult(ok=False)
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        record_success(s, user.username)
        new = start_session(s, web.signer, user, client=client, now=now)
        audit(s, "login", actor_id=user.id, object_type="user", object_id=user.id,
              details={"session": new.row.id}, client=client, at=now)
        return LoginResult(ok=True, user_id=user.id, csrf_token=new.row.csrf_token,
                           cookie=new.cookie)


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/")
