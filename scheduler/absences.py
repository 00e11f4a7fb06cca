"""Agents' leave: recording it, and handing an agent's follow-ups to colleagues before it
starts (rules 5.1, 8.10: "如果休假无法及时跟进,需在休假前做好工作交接")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.models import Agent, AgentAbsence, OutboundTask
from hotline.domain.enums import TaskStatus, TaskType
from hotline.domain.errors import InvalidInput
from scheduler.staffing import absent_agent_ids, least_loaded_agent, working_agent_ids


def add_absence(
    session: Session,
    *,
    agent_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str = "leave",
) -> AgentAbsence:
    """Record a planned absence; refused with the field at fault for bad input."""
    problems = []
    if session.get(Agent, agent_id) is None:
        problems.append(("agent_id", f"agent #{agent_id} does not exist"))
    if starts_at.tzinfo is None:
        problems.append(("starts_at", "must include a time zone"))
    if ends_at.tzinfo is None:
        problems.append(("ends_at", "must include a time zone"))
    if not problems and ends_at <= starts_at:
        problems.append(("ends_at", "must be after starts_at"))
    if not reason.strip():
        problems.append(("reason", "is required and may not be blank"))
    if problems:
        raise InvalidInput(problems)
    absence = AgentAbsence(
        agent_id=agent_id, starts_at=starts_at, ends_at=ends_at, reason=reason.strip()
    )
    session.add(absence)
    session.flush()
    return absence


def cover_agent(
    session: Session, agent_id: int, start: dt.datetime, end: dt.datetime
) -> int | None:
    """A colleague present during ``[start, end)`` with the fewest open tasks."""
    away = absent_agent_ids(session, start, end)
    candidates = [a for a in working_agent_ids(session) if a != agent_id and a not in away]
    return least_loaded_agent(session, candidates)


def hand_over_before_leave(session: Session, now: dt.datetime, lead: dt.timedelta) -> int:
    """Give the open follow-ups of every agent whose leave starts within ``lead`` to
    colleagues; returns how many tasks moved. Each absence is handed over once; follow-ups
    created later for an absent agent go to a colleague when they are created."""
    absences = session.scalars(
        select(AgentAbsence).where(
            AgentAbsence.handed_over_at.is_(None),
            AgentAbsence.starts_at <= now + lead,
            AgentAbsence.ends_at > now,
        )
    ).all()
    moved = 0
    for absence in absences:
        tasks = session.scalars(
            select(OutboundTask).where(
                OutboundTask.agent_id == absence.agent_id,
                OutboundTask.type == TaskType.FOLLOW_UP,
                OutboundTask.status == TaskStatus.PENDING,
            )
        ).all()
        for task in tasks:
            # A follow-up due (by its deadline) before the leave starts stays with its agent.
            if task.deadline_at is not None and task.deadline_at <= absence.starts_at:
                continue
            cover = cover_agent(session, absence.agent_id, absence.starts_at, absence.ends_at)
            if cover is None:
                task.agent_id = None  # nobody specific is present: any agent
            else:
                task.agent_id = cover
            task.original_agent_id = absence.agent_id
            task.reassigned_at = now
            task.note = (task.note + f" handed over: agent #{absence.agent_id} on leave").strip()
            moved += 1
        absence.handed_over_at = now
    session.flush()
    return moved
