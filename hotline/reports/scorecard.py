"""The agent scorecard with the weights of KPI scheme A (rule 7b, 004:364-392), for the
metrics hotline's data can measure.

Computable (40 of 100 points), per agent over the period:

==========================  ======  ===================================================
metric                      weight  measured as
==========================  ======  ===================================================
电话咨询数 phone             10 %    inbound calls the agent answered
回访数 return visits         10 %    return-visit records the agent wrote
咨询工作标准度 standard       5 %    share of the agent's answers in rings 3-5 (rule 1.1)
客户信息记录完整度 records     5 %    share of answered calls with a consultation record
首次咨询有效率 first contact   5 %    share of the agent's records with outcome accepted
客户回访有效率 return visits   5 %    share of the agent's settled return-visit tasks done
                                    with the customer reached
==========================  ======  ===================================================

Counts are scored against the period's best agent (best = full weight); rates score
``rate × weight``. Not computable from telephony and CRM data, so left out (and named in the
table's notes): Baidu / QQ / WeChat consultations (other channels), store visits, orders,
consultation-to-visit and sales-closing rates, complaints *about* the agent (complaints carry
no such field), and the whole ability / skills group (20 %).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, distinct, func, or_, select
from sqlalchemy.orm import Session

from hotline.db.models import Agent, Call, CallLeg, CallNote, OutboundTask, ReturnVisit
from hotline.domain.enums import CallOutcome, LegRole, NoteOutcome, TaskStatus, TaskType
from hotline.reports.agents import agent_names
from hotline.reports.calls import inbound_in
from hotline.reports.context import ReportContext
from hotline.reports.period import Period
from hotline.reports.sql import count_if
from hotline.reports.tables import Column, Table, ratio


@dataclass(frozen=True)
class Metric:
    key: str
    zh: str
    en: str
    weight: int  # percent of the full scorecard
    kind: str  # "count" (scored against the best agent) or "rate"


METRICS = [
    Metric("phone_consultations", "电话咨询数", "phone consultations", 10, "count"),
    Metric("return_visits", "回访数", "return visits", 10, "count"),
    Metric("standard_compliance", "咨询工作标准度", "answered in rings 3-5", 5, "rate"),
    Metric("record_completeness", "客户信息记录完整度", "calls with a record", 5, "rate"),
    Metric("first_contact", "首次咨询有效率", "records accepted", 5, "rate"),
    Metric("return_visit_effectiveness", "客户回访有效率", "return-visit tasks reached", 5, "rate"),
]
NOT_COMPUTABLE = [
    ("百度商桥咨询 Baidu consultations", 5),
    ("QQ咨询数 QQ consultations", 2),
    ("微信咨询数 WeChat consultations", 3),
    ("到店数 store visits", 15),
    ("订单数 orders", 5),
    ("咨询到店率 consultation-to-visit rate", 5),
    ("主动促进销售成交率 sales closing rate", 3),
    ("有无投诉 complaints about the agent", 2),
    ("能力技巧 ability and skills (5 metrics)", 20),
]
COMPUTABLE_WEIGHT = sum(m.weight for m in METRICS)
assert COMPUTABLE_WEIGHT + sum(w for _, w in NOT_COMPUTABLE) == 100

RETURN_VISIT_TASKS = (
    TaskType.COMPLAINT_RETURN_VISIT,
    TaskType.MEMBER_RETURN_VISIT,
    TaskType.FOLLOW_UP,
    TaskType.FIRST_CONTACT,
)


def _per_agent(session: Session, stmt: Any) -> dict[int, dict[str, Any]]:
    return {rec["agent_id"]: dict(rec) for rec in session.execute(stmt).mappings()}


def agent_scorecard(
    session: Session, period: Period, ctx: ReportContext, now: dt.datetime
) -> Table:
    lo, hi = ctx.policy.min_ring, ctx.policy.max_ring
    calls = _per_agent(session, (
        select(Call.answered_by_agent_id.label("agent_id"),
               func.count(distinct(Call.id)).label("answered"),
               func.count(distinct(CallNote.call_id)).label("with_record"))
        .outerjoin(CallNote, CallNote.call_id == Call.id)
        .where(inbound_in(period), Call.agent_answered_at.is_not(None),
               Call.answered_by_agent_id.is_not(None))
        .group_by(Call.answered_by_agent_id)
    ))
    legs = _per_agent(session, (
        select(CallLeg.agent_id.label("agent_id"),
               count_if(CallLeg.rings_at_answer.is_not(None)).label("legs_answered"),
               count_if(CallLeg.rings_at_answer.between(lo, hi)).label("legs_in_window"))
        .where(CallLeg.role == LegRole.AGENT, CallLeg.agent_id.is_not(None),
               CallLeg.created_at >= period.start, CallLeg.created_at < period.end)
        .group_by(CallLeg.agent_id)
    ))
    notes = _per_agent(session, (
        select(Agent.id.label("agent_id"), func.count().label("notes"),
               count_if(CallNote.outcome == NoteOutcome.ACCEPTED).label("accepted"))
        .select_from(CallNote)
        .join(Agent, Agent.user_id == CallNote.author_id)
        .where(CallNote.created_at >= period.start, CallNote.created_at < period.end)
        .group_by(Agent.id)
    ))
    visits = _per_agent(session, (
        select(Agent.id.label("agent_id"), func.count().label("visits"))
        .select_from(ReturnVisit)
        .join(Agent, Agent.user_id == ReturnVisit.agent_user_id)
        .where(ReturnVisit.visited_at >= period.start, ReturnVisit.visited_at < period.end)
        .group_by(Agent.id)
    ))
    t = OutboundTask
    done = t.status == TaskStatus.DONE
    tasks = _per_agent(session, (
        select(t.agent_id.label("agent_id"),
               count_if(or_(done, t.status == TaskStatus.FAILED,
                            t.deadline_at < now)).label("settled"),
               count_if(and_(done, t.outcome == CallOutcome.ANSWERED)).label("reached"))
        .where(t.agent_id.is_not(None), t.type.in_(RETURN_VISIT_TASKS),
               t.created_at >= period.start, t.created_at < period.end)
        .group_by(t.agent_id)
    ))

    names = agent_names(session)
    raw: dict[int, dict[str, float | int | None]] = {}
    for agent_id in names:
        c, g, n = calls.get(agent_id, {}), legs.get(agent_id, {}), notes.get(agent_id, {})
        v, k = visits.get(agent_id, {}), tasks.get(agent_id, {})
        raw[agent_id] = {
            "phone_consultations": c.get("answered", 0),
            "return_visits": v.get("visits", 0),
            "standard_compliance": ratio(g.get("legs_in_window"), g.get("legs_answered")),
            "record_completeness": ratio(c.get("with_record"), c.get("answered")),
            "first_contact": ratio(n.get("accepted"), n.get("notes")),
            "return_visit_effectiveness": ratio(k.get("reached"), k.get("settled")),
        }
    best = {m.key: max((r[m.key] or 0 for r in raw.values()), default=0)
            for m in METRICS if m.kind == "count"}
    rows = []
    for agent_id, values in raw.items():
        points = 0.0
        for m in METRICS:
            value = values[m.key] or 0
            share = (value / best[m.key] if best[m.key] else 0.0) if m.kind == "count" else value
            points += m.weight * float(share)
        name, ext = names[agent_id]
        rows.append({"agent": name, "extension": ext, **values,
                     "points": round(points, 2),
                     "score": ratio(points, COMPUTABLE_WEIGHT)})
    rows.sort(key=lambda r: (-r["points"], r["extension"]))
    columns = [Column("agent", "坐席", "agent", "text"), Column("extension", "分机", "ext", "text")]
    for m in METRICS:
        columns.append(Column(m.key, f"{m.zh}({m.weight}%)", m.en,
                              "int" if m.kind == "count" else "percent"))
    columns += [
        Column("points", f"得分(满分{COMPUTABLE_WEIGHT})", f"points of {COMPUTABLE_WEIGHT}",
               "float"),
        Column("score", "可计算部分得分率", "score on computable metrics", "percent"),
    ]
    return Table(
        name="scorecard",
        zh="坐席考核表",
        en="agent scorecard (KPI scheme A, rule 7b)",
        columns=columns,
        rows=rows,
        summary={"computable_weight": COMPUTABLE_WEIGHT},
        notes=[
            "counts are scored against the best agent of the period; rates as rate × weight",
            "not computable by hotline: "
            + "; ".join(f"{name} ({w}%)" for name, w in NOT_COMPUTABLE),
        ],
    )
