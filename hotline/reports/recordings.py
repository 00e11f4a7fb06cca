"""Kept recordings of flagged calls, counted by reason and agent (flag time in the period)."""

from __future__ import annotations

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from hotline.db.models import Recording
from hotline.reports.agents import agent_names
from hotline.reports.period import Period
from hotline.reports.tables import Column, Table, rounded


def recording_figures(session: Session, period: Period) -> Table:
    r = Recording
    stmt = (
        select(
            r.agent_id.label("agent_id"),
            r.reason.label("reason"),
            func.count().label("recordings"),
            func.sum(r.duration_seconds).label("seconds"),
        )
        .where(r.flagged_at >= period.start, r.flagged_at < period.end)
        .group_by(literal_column("agent_id"), literal_column("reason"))
    )
    names = agent_names(session)
    rows = []
    by_reason: dict[str, int] = {}
    for rec in session.execute(stmt).mappings():
        reason = str(rec["reason"].value)
        agent_id = rec["agent_id"]
        by_reason[reason] = by_reason.get(reason, 0) + rec["recordings"]
        rows.append({
            "agent": names.get(agent_id, ("(none)", ""))[0] if agent_id else "(none)",
            "reason": reason,
            "recordings": rec["recordings"],
            "minutes": rounded((rec["seconds"] or 0) / 60),
        })
    rows.sort(key=lambda x: (x["agent"], x["reason"]))
    return Table(
        name="recordings",
        zh="录音统计(按原因和坐席)",
        en="recordings by reason and agent",
        columns=[
            Column("agent", "坐席", "agent", "text"),
            Column("reason", "原因", "reason", "text"),
            Column("recordings", "录音数", "recordings"),
            Column("minutes", "时长(分钟)", "minutes", "float"),
        ],
        rows=rows,
        summary={"total": sum(by_reason.values()), **{f"reason_{k}": v for k, v in by_reason.items()}},
    )
