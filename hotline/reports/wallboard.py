"""The supervisor wallboard's figures: calls waiting now and the longest wait, agents by
state, and today's answered / abandoned / service level."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.db.models import Agent, Call, User
from hotline.domain.enums import AgentState, CallDirection
from hotline.reports.calls import CallGrouping, call_figures
from hotline.reports.context import ReportContext
from hotline.reports.period import Period

# A call row the bridge never closed (e.g. lost while the link was down) stops counting as
# waiting after this long.
STALE_WAIT = dt.timedelta(hours=2)


def wallboard(session: Session, ctx: ReportContext, now: dt.datetime) -> dict[str, Any]:
    waiting = session.execute(
        select(func.count(), func.min(Call.arrived_at)).where(
            Call.direction == CallDirection.INBOUND,
            Call.ended_at.is_(None),
            Call.agent_answered_at.is_(None),
            Call.arrived_at >= now - STALE_WAIT,
        )
    ).one()
    oldest = waiting[1]
    by_state = dict.fromkeys((s.value for s in AgentState), 0)
    for state, n in session.execute(select(Agent.state, func.count()).group_by(Agent.state)):
        by_state[state.value] = n
    agents = [
        {
            "agent_id": a.id,
            "name": name or username,
            "extension": a.extension,
            "state": a.state.value,
            "pause_reason": a.pause_reason,
            "since": a.state_changed_at.astimezone(ctx.tz).isoformat()
            if a.state_changed_at else None,
        }
        for a, name, username in session.execute(
            select(Agent, User.display_name, User.username).join(User).order_by(Agent.extension)
        )
    ]
    today = Period.day(now.astimezone(ctx.tz).date(), ctx.tz)
    figures = call_figures(session, today, ctx, CallGrouping.DAY).summary
    return {
        "at": now.astimezone(ctx.tz).isoformat(),
        "calls_waiting": int(waiting[0] or 0),
        "longest_wait_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0,
        "agents_by_state": by_state,
        "agents": agents,
        "today": {
            "offered": figures["offered"],
            "answered": figures["answered"],
            "abandoned": figures["abandoned"],
            "missed": figures["missed"],
            "service_level": figures["service_level"],
        },
    }
