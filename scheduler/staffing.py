"""Who is there to take customers and tasks: active agents, their absences, their load."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.db.models import Agent, AgentAbsence, OutboundTask, User
from hotline.domain.enums import Role, TaskStatus


def absent_agent_ids(session: Session, start: dt.datetime, end: dt.datetime) -> set[int]:
    """Agents with an absence overlapping ``[start, end)``."""
    return set(
        session.scalars(
            select(AgentAbsence.agent_id).where(
                AgentAbsence.starts_at < end, AgentAbsence.ends_at > start
            )
        )
    )


def working_agent_ids(session: Session) -> list[int]:
    """Agents of active users with the agent role: who customers and tasks can go to."""
    return list(
        session.scalars(
            select(Agent.id)
            .join(User, User.id == Agent.user_id)
            .where(User.active.is_(True), User.role == Role.AGENT)
            .order_by(Agent.id)
        )
    )


def least_loaded_agent(
    session: Session, candidates: list[int], load: dict[int, int] | None = None
) -> int | None:
    """The candidate with the fewest open tasks (ties: lowest id)."""
    if not candidates:
        return None
    if load is None:
        rows = session.execute(
            select(OutboundTask.agent_id, func.count())
            .where(
                OutboundTask.agent_id.in_(candidates),
                OutboundTask.status.in_([TaskStatus.PENDING, TaskStatus.DIALLING]),
            )
            .group_by(OutboundTask.agent_id)
        ).all()
        load = {agent: n for agent, n in rows}
    return min(candidates, key=lambda a: (load.get(a, 0), a))
