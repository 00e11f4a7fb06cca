"""top-customers (rules 5.16, 12.23): on the 1st and 16th of each month, an appointment call
to the top 3 customers by spend in each department over the half month just ended, and to
every key account. Spend comes from ``customer_purchases``.

Run on another day, the rule works for the half month that started on the last 1st or 16th,
so running it twice (or late) creates nothing new.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from hotline.db.models import Customer, CustomerPurchase
from hotline.domain.enums import TaskType
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.tasks import TaskSpec


def half_month_start(day: dt.date) -> dt.date:
    return day.replace(day=1 if day.day < 16 else 16)


def previous_half_month(start: dt.date) -> tuple[dt.date, dt.date]:
    """[first, last] days of the half month before the one starting on ``start``."""
    if start.day == 16:
        return start.replace(day=1), start.replace(day=15)
    last = start - dt.timedelta(days=1)
    return last.replace(day=16), last


def next_half_month(start: dt.date) -> dt.date:
    if start.day == 1:
        return start.replace(day=16)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def top_spenders(
    ctx: RuleContext, first: dt.date, last: dt.date, per_department: int
) -> dict[str, list[tuple[int, float]]]:
    """Department -> [(customer id, spend)] of its top spenders in ``[first, last]``."""
    tz = ctx.settings.tz
    start = dt.datetime.combine(first, dt.time(0), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)
    spend = func.sum(CustomerPurchase.amount)
    rows = ctx.session.execute(
        select(CustomerPurchase.department, CustomerPurchase.customer_id, spend)
        .where(CustomerPurchase.purchased_at >= start, CustomerPurchase.purchased_at < end)
        .group_by(CustomerPurchase.department, CustomerPurchase.customer_id)
    ).all()
    by_dept: dict[str, list[tuple[int, float]]] = {}
    for dept, customer_id, total in rows:
        by_dept.setdefault(dept, []).append((customer_id, float(total)))
    return {
        dept: sorted(items, key=lambda i: (-i[1], i[0]))[:per_department]
        for dept, items in sorted(by_dept.items())
    }


def run(ctx: RuleContext, day: dt.date | None = None) -> RuleResult:
    day = day or ctx.today
    result = RuleResult("top-customers")
    start = half_month_start(day)
    first, last = previous_half_month(start)
    deadline = dt.datetime.combine(next_half_month(start), dt.time(0), ctx.settings.tz).astimezone(
        dt.UTC
    )
    chosen: dict[int, str] = {}
    for dept, items in top_spenders(
        ctx, first, last, ctx.settings.scheduler.top_customers_per_department
    ).items():
        for rank, (customer_id, total) in enumerate(items, 1):
            chosen.setdefault(customer_id, f"top {rank} in {dept} ({total:.2f})")
    for cid in ctx.session.scalars(select(Customer.id).where(Customer.is_key_account.is_(True))):
        chosen.setdefault(cid, "key account")
    customers = {
        c.id: c for c in ctx.session.scalars(select(Customer).where(Customer.id.in_(chosen)))
    }
    due = max(ctx.now, dt.datetime.combine(start, dt.time(0), ctx.settings.tz).astimezone(dt.UTC))
    specs = [
        TaskSpec(
            type=TaskType.TOP_CUSTOMERS,
            phone=customers[cid].phone,
            due_at=due,
            deadline_at=deadline,
            dedupe_key=f"top-customers:{start.isoformat()}:{cid}",
            customer_id=cid,
            agent_id=customers[cid].assigned_agent_id,
            note=why,
        )
        for cid, why in sorted(chosen.items())
    ]
    result.created = ctx.add(specs)
    result.detail = f"half month {first}..{last}"
    return result
