"""follow-up (rules 5.1, 12.14): customers marked for follow-up are contacted again no more
than 48 h after the last contact; an agent's follow-ups are handed to a colleague before the
agent's leave starts.

One task per (customer, last contact): when a contact is made (an answered outbound call sets
``customers.last_contact_at``; other parts may set it too), the next run creates the next task
and cancels the superseded one. Unmarking a customer cancels the open task.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from hotline.db.models import Customer, OutboundTask
from hotline.domain.enums import TaskStatus, TaskType
from scheduler.absences import cover_agent, hand_over_before_leave
from scheduler.rules.base import RuleContext, RuleResult, absent_agent_ids
from scheduler.tasks import TaskSpec

# Do not ring a customer again sooner than this after a contact.
MIN_GAP = dt.timedelta(hours=1)


def _key(customer_id: int, last: dt.datetime | None) -> str:
    stamp = "none" if last is None else str(int(last.timestamp()))
    return f"follow-up:{customer_id}:{stamp}"


def plan_follow_up(
    ctx: RuleContext, last: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """(due, deadline) of the next contact after ``last``.

    Due half-way through the interval, so it lands in the agent's "today's follow-ups"
    with room for retries; when the calling window of that moment opens only after the
    deadline (a weekend), as early as the windows allow instead."""
    interval = dt.timedelta(hours=ctx.settings.scheduler.follow_up_interval_hours)
    if last is None:
        return ctx.now, ctx.now + interval
    deadline = last + interval
    due = last + interval / 2
    window = ctx.policy.window_for(TaskType.FOLLOW_UP)
    if ctx.policy.next_open(due, window) >= deadline:
        due = last + MIN_GAP
    return due, deadline


def run(ctx: RuleContext) -> RuleResult:
    result = RuleResult("follow-up")
    lead = dt.timedelta(hours=ctx.settings.scheduler.leave_handover_hours)
    session = ctx.session

    # Cancel tasks of customers no longer marked, and tasks superseded by a newer contact.
    open_tasks = session.execute(
        select(OutboundTask, Customer)
        .join(Customer, Customer.id == OutboundTask.customer_id)
        .where(OutboundTask.type == TaskType.FOLLOW_UP, OutboundTask.status == TaskStatus.PENDING)
    ).all()
    for task, customer in open_tasks:
        if not customer.needs_follow_up:
            task.status = TaskStatus.CANCELLED
            task.note = (task.note + " cancelled: no longer marked for follow-up").strip()
            result.changed += 1
        elif task.dedupe_key != _key(customer.id, customer.last_contact_at):
            task.status = TaskStatus.CANCELLED
            task.note = (task.note + " superseded by a newer contact").strip()
            result.changed += 1

    specs: list[TaskSpec] = []
    for customer in session.scalars(select(Customer).where(Customer.needs_follow_up.is_(True))):
        due, deadline = plan_follow_up(ctx, customer.last_contact_at)
        agent = customer.assigned_agent_id
        if agent is not None and agent in absent_agent_ids(session, due, deadline):
            agent = cover_agent(session, agent, due, deadline)
        specs.append(
            TaskSpec(
                type=TaskType.FOLLOW_UP,
                phone=customer.phone,
                due_at=due,
                deadline_at=deadline,
                dedupe_key=_key(customer.id, customer.last_contact_at),
                customer_id=customer.id,
                agent_id=agent,
            )
        )
    result.created = ctx.add(specs)
    result.changed += hand_over_before_leave(session, ctx.now, lead)
    return result
