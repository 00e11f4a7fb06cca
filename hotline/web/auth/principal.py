"""The authenticated caller of one request, as every route sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hotline.domain.enums import Role

# Role sets, from the narrowest; every route names one.
ANY_STAFF = frozenset(Role)
DESK = frozenset({Role.AGENT, Role.TEAM_LEADER, Role.SUPERVISOR})
TEAM_LEADER_UP = frozenset({Role.TEAM_LEADER, Role.SUPERVISOR, Role.ADMIN})
SUPERVISOR_UP = frozenset({Role.SUPERVISOR, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: Role
    agent_id: int | None
    extension: str | None
    via: Literal["session", "token"]
    client: str | None
    csrf_token: str | None = None
    session_id: int | None = None

    @property
    def name(self) -> str:
        return self.display_name or self.username
