"""What agents and supervisors ask of the scheduler, and how tasks are closed by hand.

- :func:`todays_follow_ups`: an agent's worklist at login (rules 5.1, 12.14): open tasks due
  by the end of today, overdue first.
- :func:`overdue_tasks`: open tasks past their deadline (one agent's, or everyone's).
- :func:`sla_compliance`: per task type, what was done inside its deadline (supervisors).
- :func:`close_with_return_visit` / :func:`complete_task`: a return-visit task closes only with
  a complete ReturnVisit record (rules 5.5, 5.8), which also unblocks closing its complaint.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hotline.crm.schemas import ReturnVisitIn
from hotline.crm.service import record_return_visit
from hotline.db.models import Complaint, OutboundTask
from hotline.domain.enums import TaskStatus, TaskType
from hotline.domain.errors import InvalidInput
from scheduler.tasks import RETURN_VISIT_TYPES
from scheduler.windows import WindowPolicy

WORKLIST_STATUSES = (TaskStatus.PENDING, TaskStatus.DIALLING, TaskStatus.AWAITING_RECORD)


def todays_follow_ups(
    session: Session, agent_id: int, now: dt.datetime, policy: WindowPolicy
) -> list[OutboundTask]:
    """The agent's open tasks due by the end of today (local), overdue ones first, then by
    deadline. Includes tasks reached but waiting for their return-visit record."""
    end_of_day = policy.end_of_local_day(policy.local_date(now))
    tasks = session.scalars(
        select(OutboundTask).where(
            OutboundTask.agent_id == agent_id,
            OutboundTask.status.in_(WORKLIST_STATUSES),
            OutboundTask.due_at <= end_of_day,
        )
    ).all()
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(
        tasks,
        key=lambda t: (
            not (t.deadline_at is not None and t.deadline_at < now),
            t.deadline_at or far,
            t.id,
        ),
    )


def overdue_tasks(
    session: Session, now: dt.datetime, agent_id: int | None = None
) -> list[OutboundTask]:
    query = select(OutboundTask).where(
        OutboundTask.status.in_(WORKLIST_STATUSES),
        OutboundTask.deadline_at.is_not(None),
        OutboundTask.deadline_at < now,
    )
    if agent_id is not None:
        query = query.where(
            or_(OutboundTask.agent_id == agent_id, OutboundTask.original_agent_id == agent_id)
        )
    return list(session.scalars(query.order_by(OutboundTask.deadline_at, OutboundTask.id)))


@dataclass(frozen=True)
class SlaRow:
    type: TaskType
    total: int  # tasks whose deadline falls in the period
    on_time: int  # done (or reached, for return visits) by the deadline
    late: int  # done after the deadline
    missed: int  # failed, cancelled, or still open past the deadline
    open: int  # still open, deadline not yet passed

    @property
    def compliance(self) -> float | None:
        """Share done on time of those whose deadline has passed or that are finished."""
        decided = self.on_time + self.late + self.missed
        return None if decided == 0 else round(100.0 * self.on_time / decided, 1)


def sla_compliance(
    session: Session, since: dt.datetime, until: dt.datetime, now: dt.datetime
) -> list[SlaRow]:
    """Per task type, for tasks with a deadline in ``[since, until)``: how many were done
    inside it. A return-visit task counts as done when its customer was reached (its record
    may follow)."""
    tasks = session.scalars(
        select(OutboundTask).where(
            OutboundTask.deadline_at.is_not(None),
            OutboundTask.deadline_at >= since,
            OutboundTask.deadline_at < until,
        )
    ).all()
    reached_at = _reached_at(session, [t.id for t in tasks])
    counts: dict[TaskType, list[int]] = {}
    for t in tasks:
        row = counts.setdefault(t.type, [0, 0, 0, 0, 0])
        row[0] += 1
        assert t.deadline_at is not None
        done_at = reached_at.get(t.id) or (t.completed_at if t.status is TaskStatus.DONE else None)
        if done_at is not None and t.status in (TaskStatus.DONE, TaskStatus.AWAITING_RECORD):
            row[1 if done_at <= t.deadline_at else 2] += 1
        elif t.status in (TaskStatus.FAILED, TaskStatus.CANCELLED) or t.deadline_at < now:
            row[3] += 1
        else:
            row[4] += 1
    return [SlaRow(tt, *counts[tt]) for tt in TaskType if tt in counts]


def _reached_at(session: Session, task_ids: list[int]) -> dict[int, dt.datetime]:
    """When each task's customer was first reached (its first answered attempt)."""
    from hotline.db.models import OutboundAttempt
    from hotline.domain.enums import CallOutcome

    found: dict[int, dt.datetime] = {}
    for i in range(0, len(task_ids), 500):
        rows = session.execute(
            select(OutboundAttempt.task_id, OutboundAttempt.settled_at).where(
                OutboundAttempt.task_id.in_(task_ids[i : i + 500]),
                OutboundAttempt.outcome == CallOutcome.ANSWERED,
            )
        ).all()
        for task_id, at in rows:
            if at is not None and (task_id not in found or at < found[task_id]):
                found[task_id] = at
    return found


def _open_task(session: Session, task_id: int) -> OutboundTask:
    task = session.get(OutboundTask, task_id)
    if task is None:
        raise InvalidInput.single("task_id", f"task #{task_id} does not exist")
    if task.status in (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED):
        raise InvalidInput.single("task_id", f"task #{task_id} is {task.status.value} already")
    if task.status is TaskStatus.DIALLING:
        raise InvalidInput.single("task_id", f"task #{task_id} is being dialled; wait for it")
    return task


def close_with_return_visit(
    session: Session,
    task_id: int,
    visit: dict[str, Any] | ReturnVisitIn,
    *,
    agent_user_id: int,
    now: dt.datetime,
    region: str = "CN",
) -> OutboundTask:
    """Close a task with its ReturnVisit record; the record is validated in full (card
    number, name, gender, phone, work unit, place, time, opinions) or nothing is stored. A
    complaint's return visit is linked to the complaint, which can then be closed."""
    task = _open_task(session, task_id)
    record = record_return_visit(session, visit, agent_user_id=agent_user_id, region=region)
    if record.customer_id is None:
        record.customer_id = task.customer_id
    task.return_visit_id = record.id
    task.status = TaskStatus.DONE
    task.completed_at = now
    task.completed_by_id = agent_user_id
    if task.complaint_id is not None:
        complaint = session.get(Complaint, task.complaint_id)
        if complaint is not None and complaint.return_visit_id is None:
            complaint.return_visit_id = record.id
            complaint.replied_at = complaint.replied_at or now
    session.flush()
    return task


def complete_task(
    session: Session, task_id: int, *, user_id: int, now: dt.datetime, note: str = ""
) -> OutboundTask:
    """Mark a task done by hand (e.g. the customer called in). Refused for return-visit
    tasks, which close only with their record."""
    task = _open_task(session, task_id)
    if task.type in RETURN_VISIT_TYPES:
        raise InvalidInput.single(
            "task_id",
            f"task #{task_id} is a {task.type.value} task: it closes only with a complete "
            "return-visit record",
        )
    task.status = TaskStatus.DONE
    task.completed_at = now
    task.completed_by_id = user_id
    if note.strip():
        task.note = (task.note + " " + note.strip()).strip()
    session.flush()
    return task
