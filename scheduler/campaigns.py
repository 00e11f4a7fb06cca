"""Member return-visit campaigns (rules 5.7, 12.20): a campaign must reach 100% of member
customers; the coverage report lists those not yet visited, and a campaign cannot be closed
while any are left.

A member counts as visited in a campaign when a ReturnVisit record for that customer was made
at or after the campaign's start (by a campaign call or any other way: the rule is about the
visit, not the channel).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.db.models import Customer, OutboundTask, ReturnVisit, ReturnVisitCampaign
from hotline.domain.enums import CampaignStatus, TaskStatus
from hotline.domain.errors import InvalidInput


@dataclass(frozen=True)
class MissingMember:
    customer_id: int
    name: str
    phone: str
    agent_id: int | None


@dataclass
class Coverage:
    campaign_id: int
    members: int
    visited: int
    missing: list[MissingMember] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 if self.members == 0 else round(100.0 * self.visited / self.members, 1)

    @property
    def complete(self) -> bool:
        return not self.missing


def open_campaign(
    session: Session,
    *,
    name: str,
    starts_at: dt.datetime,
    deadline_at: dt.datetime | None = None,
) -> ReturnVisitCampaign:
    problems = []
    if not name.strip():
        problems.append(("name", "is required and may not be blank"))
    if starts_at.tzinfo is None:
        problems.append(("starts_at", "must include a time zone"))
    if deadline_at is not None and (deadline_at.tzinfo is None or deadline_at <= starts_at):
        problems.append(("deadline_at", "must include a time zone and be after starts_at"))
    if problems:
        raise InvalidInput(problems)
    campaign = ReturnVisitCampaign(name=name.strip(), starts_at=starts_at, deadline_at=deadline_at)
    try:
        with session.begin_nested():
            session.add(campaign)
            session.flush()
    except IntegrityError:
        raise InvalidInput.single("name", f"a campaign named {name!r} exists already") from None
    return campaign


def _visited_clause(campaign: ReturnVisitCampaign):  # type: ignore[no-untyped-def]
    return exists().where(
        ReturnVisit.customer_id == Customer.id, ReturnVisit.visited_at >= campaign.starts_at
    )


def _get(session: Session, campaign_id: int) -> ReturnVisitCampaign:
    campaign = session.get(ReturnVisitCampaign, campaign_id)
    if campaign is None:
        raise InvalidInput.single("campaign_id", f"campaign #{campaign_id} does not exist")
    return campaign


def coverage(session: Session, campaign_id: int) -> Coverage:
    campaign = _get(session, campaign_id)
    visited = _visited_clause(campaign)
    members = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.is_member.is_(True))
    ) or 0
    missing = [
        MissingMember(c.id, c.name, c.phone, c.assigned_agent_id)
        for c in session.scalars(
            select(Customer)
            .where(Customer.is_member.is_(True), ~visited)
            .order_by(Customer.id)
        )
    ]
    return Coverage(campaign.id, members, members - len(missing), missing)


def close_campaign(session: Session, campaign_id: int, now: dt.datetime) -> ReturnVisitCampaign:
    """Close a campaign; refused while any member customer has not been visited."""
    campaign = _get(session, campaign_id)
    if campaign.status is CampaignStatus.CLOSED:
        return campaign
    cov = coverage(session, campaign_id)
    if not cov.complete:
        shown = ", ".join(f"#{m.customer_id}" for m in cov.missing[:10])
        more = "" if len(cov.missing) <= 10 else f" and {len(cov.missing) - 10} more"
        raise InvalidInput.single(
            "campaign_id",
            f"campaign {campaign.name!r} reached {cov.visited} of {cov.members} members "
            f"({cov.percent}%); not yet visited: {shown}{more}",
        )
    campaign.status = CampaignStatus.CLOSED
    campaign.closed_at = now
    # Nothing is left to dial for it.
    for task in session.scalars(
        select(OutboundTask).where(
            OutboundTask.campaign_id == campaign.id, OutboundTask.status == TaskStatus.PENDING
        )
    ):
        task.status = TaskStatus.CANCELLED
        task.note = (task.note + " campaign closed").strip()
    session.flush()
    return campaign


def unvisited_members(session: Session, campaign: ReturnVisitCampaign) -> list[Customer]:
    return list(
        session.scalars(
            select(Customer)
            .where(Customer.is_member.is_(True), ~_visited_clause(campaign))
            .order_by(Customer.id)
        )
    )

