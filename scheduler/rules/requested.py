"""requested: the caller asked the IVR for a callback (disposition ``callback_requested``);
call back in the next calling window, by any agent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from hotline.db.models import Call
from hotline.domain.enums import CallDisposition, TaskType
from hotline.domain.phone import try_normalize_phone
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.tasks import TaskSpec

# Requests older than this are not swept any more (they were handled or reported long ago).
SWEEP_BACK = dt.timedelta(days=7)


def run(ctx: RuleContext) -> RuleResult:
    result = RuleResult("requested")
    window = ctx.policy.window_for(TaskType.REQUESTED)
    specs: list[TaskSpec] = []
    skipped = 0
    calls = ctx.session.execute(
        select(Call).where(
            Call.disposition == CallDisposition.CALLBACK_REQUESTED,
            Call.arrived_at >= ctx.now - SWEEP_BACK,
        )
    ).scalars()
    for call in calls:
        phone = try_normalize_phone(call.caller_number, ctx.settings.default_region)
        if phone is None:
            skipped += 1
            continue
        asked_at = call.ended_at or call.arrived_at
        _, window_end = ctx.policy.interval(asked_at, window)
        specs.append(
            TaskSpec(
                type=TaskType.REQUESTED,
                phone=phone,
                due_at=asked_at,
                deadline_at=window_end,
                dedupe_key=f"requested:{call.pbx}:{call.linkedid}",
                customer_id=call.customer_id,
                call_id=call.id,
            )
        )
    result.created = ctx.add(specs)
    if skipped:
        result.detail = f"{skipped} request(s) without a number to call back"
    return result
