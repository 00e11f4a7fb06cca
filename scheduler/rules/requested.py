"""requested: the caller asked the IVR for a callback (disposition ``callback_requested``);
call back in the next calling window, by any agent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from hotline.db.models import Call
from hotline.domain.enums import CallDisposition
from hotline.domain.phone import try_normalize_phone
from scheduler.rules.base import RuleContext, RuleResult
from scheduler.tasks import TaskSpec, requested_callback

# Requests older than this are not swept any more (they were handled or reported long ago).
SWEEP_BACK = dt.timedelta(days=7)


def run(ctx: RuleContext) -> RuleResult:
    result = RuleResult("requested")
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
        specs.append(
            requested_callback(
                ctx.policy, phone=phone, pbx=call.pbx, linkedid=call.linkedid,
                asked_at=call.ended_at or call.arrived_at, customer_id=call.customer_id,
                call_id=call.id,
            )
        )
    result.created = ctx.add(specs)
    if skipped:
        result.detail = f"{skipped} request(s) without a number to call back"
    return result
