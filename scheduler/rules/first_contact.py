"""first-contact (rules 5.3, 8.23, 12.15): a customer assigned to an agent is contacted within
7 days of the assignment; customers without an agent are assigned so that every agent has
about the same number of customers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select

from hotline.db.models import Customer
from hotline.domain.enums import TaskType
from scheduler.rules.base import RuleContext, RuleResult, absent_agent_ids, working_agent_ids
from scheduler.tasks import TaskSpec


def assign_new_customers(ctx: RuleContext) -> int:
    """Give each customer without an agent to the agent with the fewest customers (present
    agents only; ties: lowest id). Returns how many were assigned."""
    session = ctx.session
    away = absent_agent_ids(session, ctx.now, ctx.now + dt.timedelta(seconds=1))
    agents = [a for a in working_agent_ids(session) if a not in away]
    if not agents:
        return 0
    counts = dict(
        session.execute(
            select(Customer.assigned_agent_id, func.count())
            .where(Customer.assigned_agent_id.in_(agents))
            .group_by(Customer.assigned_agent_id)
        ).all()
    )
    load = {a: int(counts.get(a, 0)) for a in agents}
    unassigned = session.scalars(
        select(Customer).where(Customer.assigned_agent_id.is_(None)).order_by(Customer.id)
    ).all()
    for customer in unassigned:
        agent = min(agents, key=lambda a: (load[a], a))
        customer.assigned_agent_id = agent
        customer.assigned_at = ctx.now
        load[agent] += 1
    session.flush()
    return len(unassigned)


def run(ctx: RuleContext) -> RuleResult:
    result = RuleResult("first-contact")
    if ctx.settings.scheduler.assign_new_customers:
        result.changed = assign_new_customers(ctx)
    window = dt.timedelta(days=ctx.settings.scheduler.first_contact_days)
    customers = ctx.session.scalars(
        select(Customer).where(
            Customer.assigned_agent_id.is_not(None),
            Customer.assigned_at.is_not(None),
            # Not contacted since the assignment.
            or_(
                Customer.last_contact_at.is_(None),
                Customer.last_contact_at < Customer.assigned_at,
            ),
            Customer.assigned_at >= ctx.now - window,
        )
    )
    specs = []
    for c in customers:
        assert c.assigned_at is not None
        specs.append(
            TaskSpec(
                type=TaskType.FIRST_CONTACT,
                phone=c.phone,
                due_at=c.assigned_at,
                deadline_at=c.assigned_at + window,
                dedupe_key=(
                    f"first-contact:{c.id}:{c.assigned_agent_id}:{int(c.assigned_at.timestamp())}"
                ),
                customer_id=c.id,
                agent_id=c.assigned_agent_id,
            )
        )
    result.created = ctx.add(specs)
    if result.changed:
        result.detail = f"{result.changed} new customer(s) assigned"
    return result
