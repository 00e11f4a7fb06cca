"""complaint-return-visit (rules 5.4, 5.5, 6.13, 12.16): every complaint gets its reply and
return visit within 2 working days of receipt (its ``due_at``, computed with the mainland-China
working calendar, adjusted weekends included). The task closes only with a ReturnVisit record,
which is then linked to the complaint so that it can be closed."""

from __future__ import annotations

from sqlalchemy import select

from hotline.db.models import Agent, Call, Complaint, Customer
from hotline.domain.enums import ComplaintStatus, TaskType
from hotline.domain.phone import try_normalize_phone
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.tasks import TaskSpec


def run(ctx: RuleContext) -> RuleResult:
    result = RuleResult("complaint-return-visit")
    rows = ctx.session.execute(
        select(Complaint, Agent.id, Customer.phone, Call.caller_number)
        .outerjoin(Agent, Agent.user_id == Complaint.owner_id)
        .outerjoin(Customer, Customer.id == Complaint.customer_id)
        .outerjoin(Call, Call.id == Complaint.call_id)
        .where(
            Complaint.status != ComplaintStatus.CLOSED,
            Complaint.return_visit_id.is_(None),
        )
    ).all()
    specs: list[TaskSpec] = []
    unreachable = 0
    for complaint, agent_id, customer_phone, caller_number in rows:
        phone = customer_phone or try_normalize_phone(caller_number, ctx.settings.default_region)
        if phone is None:
            unreachable += 1
            continue
        specs.append(
            TaskSpec(
                type=TaskType.COMPLAINT_RETURN_VISIT,
                phone=phone,
                due_at=complaint.received_at,
                deadline_at=complaint.due_at,
                dedupe_key=f"complaint-return-visit:{complaint.id}",
                customer_id=complaint.customer_id,
                agent_id=agent_id,
                call_id=complaint.call_id,
                complaint_id=complaint.id,
            )
        )
    result.created = ctx.add(specs)
    if unreachable:
        result.detail = f"{unreachable} complaint(s) without a phone number"
    return result
