"""birthday (rules 5.14, 12.22): each day, a greeting call to every VIP customer whose
birthday it is (29 February birthdays on 28 February in common years), on that day."""

from __future__ import annotations

import calendar
import datetime as dt

from sqlalchemy import and_, extract, or_, select

from hotline.db.models import Customer
from hotline.domain.enums import TaskType
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.tasks import TaskSpec


def day_tasks_window(ctx: RuleContext, day: dt.date, task_type: TaskType) -> tuple[dt.datetime, dt.datetime]:
    """(due, deadline) of a task that belongs to ``day``: from the day's opening (or now, if
    later) to its closing time."""
    opening = dt.datetime.combine(day, ctx.settings.hours.open, ctx.settings.tz).astimezone(dt.UTC)
    due = max(opening, ctx.now) if ctx.today == day else opening
    return due, ctx.policy.end_of_local_day(day)


def run(ctx: RuleContext, day: dt.date | None = None) -> RuleResult:
    day = day or ctx.today
    result = RuleResult("birthday")
    same_day = and_(
        extract("month", Customer.birthday) == day.month,
        extract("day", Customer.birthday) == day.day,
    )
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        same_day = or_(
            same_day,
            and_(extract("month", Customer.birthday) == 2, extract("day", Customer.birthday) == 29),
        )
    due, deadline = day_tasks_window(ctx, day, TaskType.BIRTHDAY)
    specs = [
        TaskSpec(
            type=TaskType.BIRTHDAY,
            phone=c.phone,
            due_at=due,
            deadline_at=deadline,
            dedupe_key=f"birthday:{c.id}:{day.year}",
            customer_id=c.id,
            agent_id=c.assigned_agent_id,
        )
        for c in ctx.session.scalars(
            select(Customer).where(Customer.is_vip.is_(True), Customer.birthday.is_not(None), same_day)
        )
    ]
    result.created = ctx.add(specs)
    return result
