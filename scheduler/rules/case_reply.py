"""case-reply (rules 5.2, 12.13): a case that could not be answered on the call is replied to
within 48 h of its creation (its ``reply_due_at``), by the case's owner."""

from __future__ import annotations

from sqlalchemy import select

from hotline.db.models import Agent, Case
from hotline.domain.enums import CaseStatus, TaskType
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.tasks import TaskSpec


def run(ctx: RuleContext) -> RuleResult:
    result = RuleResult("case-reply")
    rows = ctx.session.execute(
        select(Case, Agent.id)
        .outerjoin(Agent, Agent.user_id == Case.owner_id)
        .where(Case.status == CaseStatus.OPEN)
    ).all()
    specs = [
        TaskSpec(
            type=TaskType.CASE_REPLY,
            phone=case.contact_phone,
            due_at=case.created_at,
            deadline_at=case.reply_due_at,
            dedupe_key=f"case-reply:{case.id}",
            customer_id=case.customer_id,
            agent_id=agent_id,
            call_id=case.call_id,
            case_id=case.id,
        )
        for case, agent_id in rows
    ]
    result.created = ctx.add(specs)
    return result
