"""member-return-visit (rules 5.7, 12.20): for every open campaign, a task for each member
customer not yet visited, with the member's own agent."""

from __future__ import annotations

from sqlalchemy import select

from hotline.db.models import ReturnVisitCampaign
from hotline.domain.enums import CampaignStatus, TaskType
from scheduler.campaigns import unvisited_members
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.tasks import TaskSpec


def run(ctx: RuleContext) -> RuleResult:
    result = RuleResult("member-return-visit")
    campaigns = ctx.session.scalars(
        select(ReturnVisitCampaign).where(
            ReturnVisitCampaign.status == CampaignStatus.OPEN,
            ReturnVisitCampaign.starts_at <= ctx.now,
        )
    ).all()
    specs = []
    for campaign in campaigns:
        for customer in unvisited_members(ctx.session, campaign):
            specs.append(
                TaskSpec(
                    type=TaskType.MEMBER_RETURN_VISIT,
                    phone=customer.phone,
                    due_at=max(campaign.starts_at, ctx.now),
                    deadline_at=campaign.deadline_at,
                    dedupe_key=f"member-return-visit:{campaign.id}:{customer.id}",
                    customer_id=customer.id,
                    agent_id=customer.assigned_agent_id,
                    campaign_id=campaign.id,
                )
            )
    result.created = ctx.add(specs)
    return result
