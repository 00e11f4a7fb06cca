"""Who may do what with calls and recordings.

Listening and downloading: supervisors, admins and the agent of the call (rule: recordings are
evidence, not entertainment). Flagging: an agent flags the call they are on (or were on, within
the grace period); team leaders, supervisors and admins may flag any call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.models import Agent, User
from hotline.domain.enums import Role

LISTEN_ANY = frozenset({Role.SUPERVISOR, Role.ADMIN})
FLAG_ANY = frozenset({Role.TEAM_LEADER, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Actor:
    """The signed-in user a request acts for, as the web app's auth hands it over."""

    user_id: int
    role: Role
    agent_id: int | None = None
    client: str | None = None  # remote address, for the audit log

    def may_listen(self, call_agent_id: int | None) -> bool:
        if self.role in LISTEN_ANY:
            return True
        return self.agent_id is not None and self.agent_id == call_agent_id

    def may_flag(self, call_agent_id: int | None) -> bool:
        if self.role in FLAG_ANY:
            return True
        return self.agent_id is not None and self.agent_id == call_agent_id


def actor_for_user(session: Session, user_id: int, client: str | None = None) -> Actor | None:
    """The :class:`Actor` of an active user, with their agent seat if they have one."""
    row = session.execute(
        select(User.role, User.active, Agent.id)
        .outerjoin(Agent, Agent.user_id == User.id)
        .where(User.id == user_id)
    ).first()
    if row is None or not row.active:
        return None
    return Actor(user_id=user_id, role=Role(row.role), agent_id=row.id, client=client)


def as_actor(session: Session, who: Any, client: str | None = None) -> Actor | None:
    """Accept what a ``current_user`` dependency returns: an :class:`Actor`, or a user row
    (anything with ``id``), read again from the database so a stale role is never trusted."""
    if isinstance(who, Actor):
        return who if client is None or who.client else Actor(
            who.user_id, who.role, who.agent_id, client
        )
    user_id = getattr(who, "id", None)
    if not isinstance(user_id, int):
        return None
    return actor_for_user(session, user_id, client)
