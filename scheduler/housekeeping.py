"""What the planning tick does to tasks besides creating them: greetings past their day are
cancelled, and a task owned by one agent and overdue by the configured time goes to any agent
(issue 7)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.models import OutboundTask
from hotline.domain.enums import TaskStatus
from hotline.settings import Settings
from scheduler.tasks import EXPIRE_AT_DEADLINE
from scheduler.windows import WindowPolicy


def expire_greetings(session: Session, now: dt.datetime) -> int:
    tasks = session.scalars(
        select(OutboundTask).where(
            OutboundTask.status == TaskStatus.PENDING,
            OutboundTask.type.in_(sorted(EXPIRE_AT_DEADLINE)),
            OutboundTask.deadline_at < now,
        )
    ).all()
    for task in tasks:
        task.status = TaskStatus.CANCELLED
        task.completed_at = now
        task.note = (task.note + " expired: its day is over").strip()
    session.flush()
    return len(tasks)


def reassign_overdue(
    session: Session, settings: Settings, now: dt.datetime, policy: WindowPolicy | None = None
) -> int:
    """Hand to any agent the tasks whose agent has let them wait, counting calling-window
    time only, longer than ``overdue_reassign_after_seconds``."""
    policy = policy or WindowPolicy(settings)
    limit = dt.timedelta(seconds=settings.scheduler.overdue_reassign_after_seconds)
    candidates = session.scalars(
        select(OutboundTask).where(
            OutboundTask.status == TaskStatus.PENDING,
            OutboundTask.agent_id.is_not(None),
            OutboundTask.next_attempt_at < now - limit,
        )
    ).all()
    moved = 0
    for task in candidates:
        # Only time inside its calling window counts: a task due at 19:55 is not overdue at
        # 08:00 the next morning.
        if policy.open_time_between(task.next_attempt_at, now, task.window) <= limit:
            continue
        task.original_agent_id = task.original_agent_id or task.agent_id
        task.note = (task.note + f" overdue with agent #{task.agent_id}: any agent").strip()
        task.agent_id = None
        task.reassigned_at = now
        moved += 1
    session.flush()
    return moved
