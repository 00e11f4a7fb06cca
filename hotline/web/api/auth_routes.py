"""Logging in and out, who am I, users for pickers, API tokens and the audit log (admin)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy import select

from hotline.accounts.audit import audit
from hotline.accounts.tokens import issue_token, revoke_token
from hotline.crm.schemas import DbId
from hotline.db.models import ApiToken, AuditLog, User
from hotline.web.api.models import (
    AuditOut,
    IssuedTokenOut,
    LoginIn,
    LoginOut,
    TokenIn,
    TokenOut,
    UserOut,
    out,
)
from hotline.web.auth.gates import Admin, Staff
from hotline.web.auth.login import attempt_login, clear_session_cookie, set_session_cookie
from hotline.web.auth.principal import Principal
from hotline.web.auth.sessions import end_session
from hotline.web.context import WebContext, web_context
from hotline.web.errors import not_found_as_404

router = APIRouter(prefix="/api", tags=["auth"])
Web = Annotated[WebContext, Depends(web_context)]


def user_out(p: Principal) -> UserOut:
    return UserOut(id=p.user_id, username=p.username, display_name=p.display_name, role=p.role,
                   agent_id=p.agent_id, extension=p.extension)


@router.post(
    "/auth/login",
    response_model=LoginOut,
    responses={401: {"description": "wrong username or password"},
               429: {"description": "too many failed logins; see Retry-After"}},
)
def login(body: LoginIn, request: Request, response: Response, web: Web) -> LoginOut:
    """Log in with a password; sets the session cookie and returns the CSRF token that every
    state-changing request of this session must send as ``X-CSRF-Token``."""
    result = attempt_login(web, request, body.username, body.password)
    if result.throttled:
        raise HTTPException(
            429, f"too many failed logins: try again in {result.retry_after} s",
            headers={"Retry-After": str(result.retry_after)},
        )
    if not result.ok or result.cookie is None or result.csrf_token is None:
        raise HTTPException(401, "wrong username or password")
    set_session_cookie(response, request, result.cookie)
    with web.sessions() as s:
        user = s.get(User, result.user_id)
        assert user is not None
        agent = user.agent
        me = UserOut(id=user.id, username=user.username, display_name=user.display_name,
                     role=user.role, agent_id=agent.id if agent else None,
                     extension=agent.extension if agent else None)
    return LoginOut(user=me, csrf_token=result.csrf_token)


@router.post("/auth/logout", status_code=204)
def logout(who: Staff, web: Web) -> Response:
    """End this session (a token's request only clears nothing: revoke tokens instead)."""
    with web.sessions.begin() as s:
        if who.session_id is not None:
            end_session(s, who.session_id, web.now())
        audit(s, "logout", actor_id=who.user_id, object_type="user", object_id=who.user_id,
              client=who.client, at=web.now())
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


@router.get("/auth/me", response_model=UserOut)
def me(who: Staff) -> UserOut:
    return user_out(who)


@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(who: Staff, web: Web) -> list[UserOut]:
    """Active users, for owner pickers (names and roles only)."""
    with web.sessions() as s:
        users = s.scalars(select(User).where(User.active.is_(True)).order_by(User.username))
        return [
            UserOut(id=u.id, username=u.username, display_name=u.display_name, role=u.role,
                    agent_id=u.agent.id if u.agent else None,
                    extension=u.agent.extension if u.agent else None)
            for u in users
        ]


@router.get("/tokens", response_model=list[TokenOut], tags=["admin"])
def list_tokens(who: Admin, web: Web) -> list[TokenOut]:
    with web.sessions() as s:
        rows = s.scalars(select(ApiToken).order_by(ApiToken.id))
        return [out(TokenOut, t, web.settings.tz) for t in rows]


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201, tags=["admin"])
def create_token(body: TokenIn, who: Admin, web: Web) -> IssuedTokenOut:
    """Create a bearer token for an integration, acting as ``user_id``; the token is in this
    answer only."""
    now = web.now()
    expires = now + dt.timedelta(days=body.expires_days) if body.expires_days else None
    with web.sessions.begin() as s:
        issued = issue_token(s, user_id=body.user_id, name=body.name, created_by_id=who.user_id,
                             expires_at=expires, now=now)
        audit(s, "token.create", actor_id=who.user_id, object_type="api_token",
              object_id=issued.token.id,
              details={"user_id": body.user_id, "name": issued.token.name},
              client=who.client, at=now)
        data = out(TokenOut, issued.token, web.settings.tz).model_dump()
    return IssuedTokenOut(**data, token=issued.secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["admin"])
def delete_token(token_id: DbId, who: Admin, web: Web) -> TokenOut:
    """Revoke a token; it stops working at once."""
    with web.sessions.begin() as s:
        with not_found_as_404():
            token = revoke_token(s, token_id, web.now())
        audit(s, "token.revoke", actor_id=who.user_id, object_type="api_token",
              object_id=token.id, client=who.client, at=web.now())
        return out(TokenOut, token, web.settings.tz)


@router.get("/audit", response_model=list[AuditOut], tags=["admin"])
def audit_log(
    who: Admin,
    web: Web,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[\w.\-]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The newest audit rows first."""
    with web.sessions() as s:
        stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        return [out(AuditOut, row, web.settings.tz) for row in s.scalars(stmt)]
