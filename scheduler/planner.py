"""Planning: which pending tasks fall into the current or next calling window, in what order.

One indexed query per calling window (``status, next_attempt_at``): a task whose next attempt
is before the end of its window's next open interval is planned into it, at the later of its
own time and the interval's opening. The dispatcher asks :func:`due_now` for the head of that
list; supervisors and the benchmark ask :func:`plan_window` for the whole of it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.models import OutboundTask
from hotline.domain.enums import CallingWindow, TaskStatus, TaskType
from scheduler.dialler import PlannedTask
from scheduler.tasks import PRIORITY, priority_order
from scheduler.windows import WindowPolicy


def due_now(
    session: Session, policy: WindowPolicy, now: dt.datetime, limit: int
) -> list[PlannedTask]:
    """Pending tasks that may ring now (their time has come and their window is open),
    most urgent first: by type priority, then deadline, then age."""
    open_windows = [w for w in CallingWindow if policy.is_open(now, w)]
    if not open_windows or limit <= 0:
        return []
    rows = session.execute(
        select(OutboundTask.id, OutboundTask.type, OutboundTask.phone, OutboundTask.agent_id)
        .where(
            OutboundTask.status == TaskStatus.PENDING,
            OutboundTask.next_attempt_at <= now,
            OutboundTask.window.in_(open_windows),
        )
        .order_by(
            priority_order(),
            OutboundTask.deadline_at.asc().nulls_last(),
            OutboundTask.next_attempt_at,
            OutboundTask.id,
        )
        .limit(limit)
    ).all()
    return [PlannedTask(r.id, TaskType(r.type), r.phone, r.agent_id) for r in rows]


@dataclass(frozen=True)
class PlanEntry:
    task_id: int
    type: TaskType
    dial_at: dt.datetime
    deadline_at: dt.datetime | None
    agent_id: int | None

    @property
    def late(self) -> bool:
        """Cannot ring before its deadline any more."""
        return self.deadline_at is not None and self.dial_at > self.deadline_at


@dataclass
class WindowPlan:
    now: dt.datetime
    intervals: dict[CallingWindow, tuple[dt.datetime, dt.datetime]]
    entries: list[PlanEntry] = field(default_factory=list)

    def by_type(self) -> Counter[TaskType]:
        return Counter(e.type for e in self.entries)

    def late(self) -> list[PlanEntry]:
        return [e for e in self.entries if e.late]


def plan_window(session: Session, policy: WindowPolicy, now: dt.datetime) -> WindowPlan:
    """Every pending task that falls into the current (or next) interval of its window,
    ordered by when it can ring, then priority and deadline."""
    intervals = {w: policy.interval(now, w) for w in CallingWindow}
    plan = WindowPlan(now, intervals)
    for window, (start, end) in intervals.items():
        rows = session.execute(
            select(
                OutboundTask.id,
                OutboundTask.type,
                OutboundTask.next_attempt_at,
                OutboundTask.deadline_at,
                OutboundTask.agent_id,
            ).where(
                OutboundTask.status == TaskStatus.PENDING,
                OutboundTask.window == window,
                OutboundTask.next_attempt_at < end,
            )
        ).all()
        for r in rows:
            plan.entries.append(
                PlanEntry(r.id, TaskType(r.type), max(r.next_attempt_at, start, now),
                          r.deadline_at, r.agent_id)
            )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    plan.entries.sort(
        key=lambda e: (e.dial_at, PRIORITY.get(e.type, 99), e.deadline_at or far, e.task_id)
    )
    return plan
