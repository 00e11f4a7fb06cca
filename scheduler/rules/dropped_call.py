"""dropped-call (rules 1.15, 12.10): an answered consultation that ended abnormally is called
back at once by the same agent, on any day, inside business hours.

Three ways in, one function (:func:`create_dropped_call_task`): the AMI bridge calls it when it
stores the abnormal end; the scheduler's bus subscriber calls it on ``CallEnded(abnormal)``;
and :func:`run` sweeps stored calls for any the other two missed (a restart in between).
The dedupe key ``dropped-call:<pbx>:<linkedid>`` makes all three create one task.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.models import Call, Customer
from hotline.domain.enums import TaskType
from hotline.domain.phone import try_normalize_phone
from hotline.settings import Settings
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.tasks import TaskSpec, add_task
from scheduler.windows import WindowPolicy

log = logging.getLogger(__name__)

# How far back the sweep looks: a callback older than this is no longer "at once".
SWEEP_BACK = dt.timedelta(days=1)


def dropped_call_key(pbx: str, linkedid: str) -> str:
    """The one task a dropped call gets, however many times and by whom it is reported."""
    return f"dropped-call:{pbx}:{linkedid}"


def create_dropped_call_task(
    session: Session,
    settings: Settings,
    *,
    pbx: str,
    linkedid: str,
    caller_number: str | None,
    agent_id: int | None,
    ended_at: dt.datetime,
    call_id: int | None = None,
    customer_id: int | None = None,
    policy: WindowPolicy | None = None,
) -> int | None:
    """Store the callback for one dropped call; None if it exists already or the caller's
    number cannot be called back (anonymous, internal or malformed). The task belongs to the
    caller's customer card when there is one (``customer_id``, else looked up by number)."""
    phone = try_normalize_phone(caller_number, settings.default_region)
    if phone is None:
        log.warning("dropped call %s:%s: caller number %r cannot be called back",
                    pbx, linkedid, caller_number)
        return None
    policy = policy or WindowPolicy(settings)
    window = policy.window_for(TaskType.DROPPED_CALL)
    start, _ = policy.interval(ended_at, window)
    deadline = start + dt.timedelta(minutes=settings.scheduler.dropped_call_sla_minutes)
    if call_id is None:
        call_id = session.scalar(select(Call.id).where(Call.pbx == pbx, Call.linkedid == linkedid))
    if customer_id is None:
        customer_id = session.scalar(select(Customer.id).where(Customer.phone == phone))
    spec = TaskSpec(
        type=TaskType.DROPPED_CALL,
        phone=phone,
        due_at=ended_at,
        deadline_at=deadline,
        dedupe_key=dropped_call_key(pbx, linkedid),
        agent_id=agent_id,
        call_id=call_id,
        customer_id=customer_id,
    )
    return add_task(session, spec, settings, policy)


def run(ctx: RuleContext) -> RuleResult:
    """Sweep stored calls answered by an agent that ended abnormally."""
    result = RuleResult("dropped-call")
    calls = ctx.session.execute(
        select(Call).where(
            Call.abnormal_end.is_(True),
            Call.agent_answered_at.is_not(None),
            Call.ended_at.is_not(None),
            Call.ended_at >= ctx.now - SWEEP_BACK,
        )
    ).scalars()
    for call in calls:
        assert call.ended_at is not None
        task_id = create_dropped_call_task(
            ctx.session,
            ctx.settings,
            pbx=call.pbx,
            linkedid=call.linkedid,
            caller_number=call.caller_number,
            agent_id=call.answered_by_agent_id,
            ended_at=call.ended_at,
            call_id=call.id,
            customer_id=call.customer_id,
            policy=ctx.policy,
        )
        if task_id is not None:
            result.created.append(task_id)
    return result
