"""festival (rules 5.11, 5.15, 12.24): on each configured date (festivals, solar terms), a
greeting call to the configured audience (VIP, member and key-account customers by default)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select

from hotline.db.models import Customer
from hotline.domain.enums import TaskType
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.rules.birthday import day_tasks_window
from scheduler.tasks import TaskSpec


def run(ctx: RuleContext, day: dt.date | None = None) -> RuleResult:
    day = day or ctx.today
    result = RuleResult("festival")
    festival = next((f for f in ctx.settings.scheduler.festivals if f.date == day), None)
    if festival is None:
        result.detail = f"{day} is not a configured festival"
        return result
    audience = set(ctx.settings.scheduler.festival_audience)
    query = select(Customer).order_by(Customer.id)
    if "all" not in audience:
        flags = {"vip": Customer.is_vip, "member": Customer.is_member,
                 "key_account": Customer.is_key_account}
        query = query.where(or_(*(flags[a].is_(True) for a in sorted(audience))))
    due, deadline = day_tasks_window(ctx, day, TaskType.FESTIVAL)
    specs = [
        TaskSpec(
            type=TaskType.FESTIVAL,
            phone=c.phone,
            due_at=due,
            deadline_at=deadline,
            dedupe_key=f"festival:{day.isoformat()}:{c.id}",
            customer_id=c.id,
            agent_id=c.assigned_agent_id,
            note=festival.name,
        )
        for c in ctx.session.scalars(query)
    ]
    result.created = ctx.add(specs)
    result.detail = festival.name
    return result
