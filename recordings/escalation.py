"""Escalations of extortion calls to the on-duty team leader and the supervisors (rules 3.2,
3.6, 8.18).

hotline has no duty roster yet: the team leaders on duty are the active team leaders whose
agent seat is logged in; when none is, every active team leader is told (marked not on duty),
so an escalation never goes to nobody. A roster feature replaces :func:`on_duty_team_leaders`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.models import Agent, AuditLog, CallFlag, Escalation, EscalationRecipient, User
from hotline.domain.enums import AgentState, Role


def on_duty_team_leaders(session: Session) -> tuple[list[int], bool]:
    """Ids of the team leaders to tell, and whether they are known to be on duty."""
    rows = session.execute(
        select(User.id, Agent.state)
        .outerjoin(Agent, Agent.user_id == User.id)
        .where(User.role == Role.TEAM_LEADER, User.active.is_(True))
        .order_by(User.id)
    ).all()
    on_duty = [r.id for r in rows if r.state is not None and r.state != AgentState.LOGGED_OUT]
    if on_duty:
        return on_duty, True
    return [r.id for r in rows], False


def supervisors(session: Session) -> list[int]:
    return list(session.scalars(
        select(User.id).where(User.role == Role.SUPERVISOR, User.active.is_(True)).order_by(User.id)
    ))


def raise_escalation(session: Session, flag: CallFlag, *, at: dt.datetime) -> Escalation:
    escalation = Escalation(
        call_key=flag.call_key, call_id=flag.call_id, flag_id=flag.id, reason=flag.reason,
        reason_text=flag.reason_text, raised_by_id=flag.flagged_by_id, raised_at=at,
    )
    leaders, known_on_duty = on_duty_team_leaders(session)
    for user_id in leaders:
        escalation.recipients.append(EscalationRecipient(
            user_id=user_id, role=Role.TEAM_LEADER, on_duty=known_on_duty, notified_at=at
        ))
    for user_id in supervisors(session):
        escalation.recipients.append(EscalationRecipient(
            user_id=user_id, role=Role.SUPERVISOR, on_duty=False, notified_at=at
        ))
    session.add(escalation)
    session.flush()
    session.add(AuditLog(
        at=at, actor_id=flag.flagged_by_id, action="escalation.raised", object_type="escalation",
        object_id=str(escalation.id),
        details={"call_key": flag.call_key, "flag_id": flag.id,
                 "recipients": [r.user_id for r in escalation.recipients]},
    ))
    return escalation
