"""Figures per agent: calls offered to their phone, answered, missed (rung out to the
ring-5 deadline: ring-no-answer), abandoned while their phone rang, speed of answer, handle
time, and how many of their answers fell in the answer window.

Offered, ring-no-answer and abandoned-while-ringing come from the agent legs (``CallLeg``
rows of role agent with dial status NOANSWER / CANCEL), by the leg's start; the rest from the
inbound calls the agent answered, by the call's arrival.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.orm import Session

from hotline.db.models import Agent, Call, CallLeg, User
from hotline.domain.enums import LegRole
from hotline.reports.calls import inbound_in
from hotline.reports.context import ReportContext
from hotline.reports.period import Period
from hotline.reports.sql import count_if, seconds_between
from hotline.reports.tables import Column, Table, ratio, rounded

NO_ANSWER = "NOANSWER"
CANCELLED = "CANCEL"  # the caller hung up while this agent's phone rang

AGENT_COLUMNS = [
    Column("agent", "坐席", "agent", "text"),
    Column("extension", "分机", "extension", "text"),
    Column("offered", "振铃来电", "offered"),
    Column("answered", "接听", "answered"),
    Column("ring_no_answer", "振铃未接", "ring-no-answer"),
    Column("abandoned_ringing", "振铃中放弃", "abandoned while ringing"),
    Column("asa_seconds", "平均应答速度(秒)", "average speed of answer (s)", "seconds"),
    Column("aht_seconds", "平均处理时长(秒)", "average handle time (s)", "seconds"),
    Column("talk_seconds", "通话总时长(秒)", "talk time (s)", "seconds"),
    Column("service_level", "服务水平", "service level", "percent"),
    Column("agent_in_window", "坐席3-5声内接听率", "agent answers in window", "percent"),
]


def agent_names(session: Session) -> dict[int, tuple[str, str]]:
    """Agent id → (display name, extension)."""
    rows = session.execute(
        select(Agent.id, Agent.extension, User.display_name, User.username).join(User)
    )
    return {aid: (name or username, ext) for aid, ext, name, username in rows}


def agent_figures(session: Session, period: Period, ctx: ReportContext) -> Table:
    dialect = session.get_bind().dialect.name
    lo, hi = ctx.policy.min_ring, ctx.policy.max_ring
    calls = select(
        Call.answered_by_agent_id.label("agent_id"),
        func.count().label("answered"),
        func.sum(seconds_between(Call.agent_answered_at, Call.arrived_at, dialect)).label("wait"),
        func.sum(seconds_between(Call.ended_at, Call.agent_answered_at, dialect)).label("talk"),
        count_if(Call.ended_at.is_not(None)).label("handled"),
        count_if(Call.rings_at_answer.is_not(None)).label("ring_answered"),
        count_if(Call.rings_at_answer.between(lo, hi)).label("in_window"),
    ).where(
        inbound_in(period),
        Call.answered_by_agent_id.is_not(None),
        Call.agent_answered_at.is_not(None),
    ).group_by(Call.answered_by_agent_id)
    legs = select(
        CallLeg.agent_id,
        func.count(distinct(CallLeg.call_id)).label("offered"),
        count_if(CallLeg.dial_status == NO_ANSWER).label("ring_no_answer"),
        count_if(CallLeg.dial_status == CANCELLED).label("abandoned_ringing"),
        count_if(CallLeg.rings_at_answer.is_not(None)).label("legs_answered"),
        count_if(CallLeg.rings_at_answer.between(lo, hi)).label("legs_in_window"),
    ).where(
        and_(
            CallLeg.role == LegRole.AGENT,
            CallLeg.agent_id.is_not(None),
            CallLeg.created_at >= period.start,
            CallLeg.created_at < period.end,
        )
    ).group_by(CallLeg.agent_id)

    by_agent: dict[int, dict[str, Any]] = {}
    for rec in session.execute(calls).mappings():
        by_agent.setdefault(rec["agent_id"], {}).update(rec)
    for rec in session.execute(legs).mappings():
        by_agent.setdefault(rec["agent_id"], {}).update(rec)
    names = agent_names(session)
    rows = []
    for agent_id in sorted(set(names) | set(by_agent), key=lambda a: names.get(a, ("", ""))[1]):
        f = by_agent.get(agent_id, {})
        answered = f.get("answered") or 0
        handled = f.get("handled") or 0
        name, ext = names.get(agent_id, (f"#{agent_id}", ""))
        rows.append({
            "agent_id": agent_id,
            "agent": name,
            "extension": ext,
            "offered": f.get("offered") or 0,
            "answered": answered,
            "ring_no_answer": f.get("ring_no_answer") or 0,
            "abandoned_ringing": f.get("abandoned_ringing") or 0,
            "asa_seconds": rounded(f["wait"] / answered) if answered else None,
            "aht_seconds": rounded(f["talk"] / handled) if handled else None,
            "talk_seconds": rounded(f.get("talk") or 0),
            "service_level": ratio(f.get("in_window"), f.get("ring_answered")),
            "agent_in_window": ratio(f.get("legs_in_window"), f.get("legs_answered")),
        })
    return Table(
        name="agents",
        zh="坐席统计",
        en="agents",
        columns=AGENT_COLUMNS,
        rows=rows,
        summary={
            "offered": sum(r["offered"] for r in rows),
            "answered": sum(r["answered"] for r in rows),
            "ring_no_answer": sum(r["ring_no_answer"] for r in rows),
            "abandoned_ringing": sum(r["abandoned_ringing"] for r in rows),
        },
        notes=[
            "offered / ring-no-answer: the agent's phone legs; the other figures: the inbound "
            "calls the agent answered",
        ],
    )
