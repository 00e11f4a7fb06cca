"""Role gates: the dependency every route names, which authenticates the request (bearer
token or session cookie), checks the role, and checks the CSRF token of a session's
state-changing request.

A route declares its gate once, e.g. ``who: Supervisor``; the security tests read the gates
off the app's routes to prove that every route has one.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from hotline.accounts.tokens import find_token
from hotline.db.models import User
from hotline.domain.enums import Role
from hotline.web.auth.principal import (
    ADMIN,
    ANY_STAFF,
    DESK,
    SUPERVISOR_UP,
    TEAM_LEADER_UP,
    Principal,
)
from hotline.web.auth.sessions import COOKIE_NAME, find_session
from hotline.web.context import WebContext, web_context

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
TOKEN_TOUCH_EVERY = dt.timedelta(minutes=1)


class NotAuthenticated(Exception):
    def __init__(self, page: bool) -> None:
        super().__init__("login required")
        self.page = page


class Forbidden(Exception):
    def __init__(self, detail: str, page: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.page = page


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def _principal(user: User, request: Request, **extra: object) -> Principal:
    agent = user.agent
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        agent_id=agent.id if agent else None,
        extension=agent.extension if agent else None,
        client=client_of(request),
        **extra,  # type: ignore[arg-type]
    )


def _by_token(s: Session, request: Request, value: str, now: dt.datetime) -> Principal | None:
    token = find_token(s, value.strip(), now)
    if token is None:
        return None
    user = s.get(User, token.user_id)
    if user is None or not user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_TOUCH_EVERY:
        token.last_used_at = now
    return _principal(user, request, via="token")


def authenticate(request: Request, web: WebContext) -> Principal | None:
    now = web.now()
    auth = request.headers.get("authorization")
    if auth is not None:
        # A request that names a token is judged by it alone, never by a cookie beside it.
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        with web.sessions.begin() as s:
            return _by_token(s, request, value, now)
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        return None
    with web.sessions.begin() as s:
        row = find_session(s, web.signer, cookie, now)
        if row is None:
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            return None
        return _principal(user, request, via="session", csrf_token=row.csrf_token,
                          session_id=row.id)


class RoleGate:
    """Depends(RoleGate(roles)) admits a principal whose role is in ``roles``: anonymous →
    401 (pages: redirect to the login page), wrong role → 403."""

    def __init__(
        self, roles: frozenset[Role], *, page: bool = False, needs_seat: bool = False
    ) -> None:
        self.roles = roles
        self.page = page
        self.needs_seat = needs_seat

    def __repr__(self) -> str:
        return f"RoleGate({sorted(r.value for r in self.roles)}, page={self.page})"

    def __call__(self, request: Request) -> Principal:
        web = web_context(request)
        principal = authenticate(request, web)
        if principal is None:
            raise NotAuthenticated(self.page)
        if principal.role not in self.roles:
            allowed = ", ".join(sorted(r.value for r in self.roles))
            raise Forbidden(f"this needs one of the roles {allowed}; you are "
                            f"{principal.role.value}", self.page)
        if self.needs_seat and principal.agent_id is None:
            raise Forbidden("this needs an agent seat (an extension); your user has none",
                            self.page)
        if principal.via == "session" and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not (principal.csrf_token and secrets.compare_digest(
                    sent.encode(), principal.csrf_token.encode())):
                raise Forbidden(f"CSRF check failed: send the {CSRF_HEADER} header your page "
                                "was given", self.page)
        request.state.principal = principal
        return principal


Staff = Annotated[Principal, Depends(RoleGate(ANY_STAFF))]
DeskAgent = Annotated[Principal, Depends(RoleGate(DESK, needs_seat=True))]
TeamLeader = Annotated[Principal, Depends(RoleGate(TEAM_LEADER_UP))]
Supervisor = Annotated[Principal, Depends(RoleGate(SUPERVISOR_UP))]
Admin = Annotated[Principal, Depends(RoleGate(ADMIN))]

StaffPage = Annotated[Principal, Depends(RoleGate(ANY_STAFF, page=True))]
DeskPage = Annotated[Principal, Depends(RoleGate(DESK, page=True, needs_seat=True))]
TeamLeaderPage = Annotated[Principal, Depends(RoleGate(TEAM_LEADER_UP, page=True))]
SupervisorPage = Annotated[Principal, Depends(RoleGate(SUPERVISOR_UP, page=True))]
AdminPage = Annotated[Principal, Depends(RoleGate(ADMIN, page=True))]
