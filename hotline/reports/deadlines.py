"""Work done inside its deadline: callbacks and return visits (``OutboundTask.completed_at``
against ``deadline_at``), case replies within 48 h (rule 5.2) and complaints closed within 2
working days of receipt (rules 5.4, 6.13; ``Complaint.due_at`` is computed with the working-day
calendar when the complaint is filed).

Each row counts the items *created* in the period. ``on-time rate`` is done-in-time over the
items that are settled: done, or past their deadline by ``now``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, literal, literal_column, or_, select
from sqlalchemy.orm import Session

from hotline.db.base import UTCDateTime
from hotline.db.models import Case, Complaint, OutboundTask
from hotline.domain.enums import CaseStatus, ComplaintStatus, TaskStatus
from hotline.reports.period import Period
from hotline.reports.sql import count_if
from hotline.reports.tables import Column, Table, ratio

DEADLINE_COLUMNS = [
    Column("kind", "类型", "kind", "text"),
    Column("total", "总数", "total"),
    Column("done", "已完成", "done"),
    Column("done_in_time", "按时完成", "done in time"),
    Column("done_late", "超时完成", "done late"),
    Column("open", "未完成", "open"),
    Column("overdue", "已逾期未完成", "open and overdue"),
    Column("on_time_rate", "按时率", "on-time rate", "percent"),
]

_OPEN_TASK = (TaskStatus.PENDING, TaskStatus.DIALLING)


def _row(kind: str, rec: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "total": rec["total"],
        "done": rec["done"],
        "done_in_time": rec["done_in_time"],
        "done_late": rec["done"] - rec["done_in_time"],
        "open": rec["open"],
        "overdue": rec["overdue"],
        "on_time_rate": ratio(rec["done_in_time"], rec["settled"]),
    }


def _now_param(now: dt.datetime) -> Any:
    return literal(now, UTCDateTime())


def deadline_figures(session: Session, period: Period, now: dt.datetime) -> Table:
    t = OutboundTask
    now_p = _now_param(now)
    done = t.status == TaskStatus.DONE
    in_time = and_(done, t.completed_at.is_not(None),
                   or_(t.deadline_at.is_(None), t.completed_at <= t.deadline_at))
    tasks = (
        select(
            t.type.label("kind"),
            func.count().label("total"),
            count_if(done).label("done"),
            count_if(in_time).label("done_in_time"),
            count_if(t.status.in_(_OPEN_TASK)).label("open"),
            count_if(and_(t.status.in_(_OPEN_TASK), t.deadline_at < now_p)).label("overdue"),
            count_if(or_(done, t.deadline_at < now_p)).label("settled"),
        )
        .where(t.created_at >= period.start, t.created_at < period.end)
        .group_by(literal_column("kind"))
    )
    rows = [_row(str(rec["kind"].value), rec) for rec in session.execute(tasks).mappings()]
    rows.sort(key=lambda r: r["kind"])

    c = Case
    replied = c.replied_at.is_not(None)
    cases = select(
        func.count().label("total"),
        count_if(replied).label("done"),
        count_if(and_(replied, c.replied_at <= c.reply_due_at)).label("done_in_time"),
        count_if(c.status == CaseStatus.OPEN).label("open"),
        count_if(and_(c.status == CaseStatus.OPEN, c.reply_due_at < now_p)).label("overdue"),
        count_if(or_(replied, c.reply_due_at < now_p)).label("settled"),
    ).where(c.created_at >= period.start, c.created_at < period.end)
    rec = session.execute(cases).mappings().one()
    rows.append(_row("case-reply (48 h)", rec))
    return Table(
        name="deadlines",
        zh="回电与回访按时完成",
        en="callbacks and return visits done inside their deadlines",
        columns=DEADLINE_COLUMNS,
        rows=rows,
        notes=["items created in the period; on-time rate = done in time / (done or overdue)"],
    )


COMPLAINT_COLUMNS = [
    Column("severity", "级别", "severity", "text"),
    Column("total", "投诉数", "complaints"),
    Column("replied_in_time", "按时答复", "replied in time"),
    Column("closed", "已结案", "closed"),
    Column("closed_in_time", "2个工作日内结案", "closed within 2 working days"),
    Column("open", "未结案", "open"),
    Column("overdue", "逾期未结案", "open and overdue"),
    Column("escalated", "已升级", "escalated"),
    Column("on_time_rate", "按时结案率", "closed-in-time rate", "percent"),
]


def complaint_figures(session: Session, period: Period, now: dt.datetime) -> Table:
    c = Complaint
    now_p = _now_param(now)
    closed = c.status == ComplaintStatus.CLOSED
    is_open = c.status != ComplaintStatus.CLOSED
    stmt = (
        select(
            c.severity.label("severity"),
            func.count().label("total"),
            count_if(and_(c.replied_at.is_not(None), c.replied_at <= c.due_at)).label(
                "replied_in_time"
            ),
            count_if(closed).label("closed"),
            count_if(and_(closed, c.closed_at <= c.due_at)).label("closed_in_time"),
            count_if(is_open).label("open"),
            count_if(and_(is_open, c.due_at < now_p)).label("overdue"),
            count_if(c.escalation_level > 0).label("escalated"),
            count_if(or_(closed, c.due_at < now_p)).label("settled"),
        )
        .where(c.received_at >= period.start, c.received_at < period.end)
        .group_by(literal_column("severity"))
    )
    keys = ("total", "replied_in_time", "closed", "closed_in_time", "open", "overdue",
            "escalated", "settled")
    totals = dict.fromkeys(keys, 0)
    rows = []
    for rec in session.execute(stmt).mappings():
        row = {"severity": str(rec["severity"].value), **{k: rec[k] for k in keys}}
        for k in keys:
            totals[k] += rec[k]
        row.pop("settled")
        row["on_time_rate"] = ratio(rec["closed_in_time"], rec["settled"])
        rows.append(row)
    order = ["critical", "high", "normal", "low"]
    rows.sort(key=lambda r: order.index(r["severity"]) if r["severity"] in order else 9)
    summary = {**totals, "on_time_rate": ratio(totals["closed_in_time"], totals["settled"])}
    summary.pop("settled")
    return Table(
        name="complaints",
        zh="投诉2个工作日内处理",
        en="complaints closed within 2 working days",
        columns=COMPLAINT_COLUMNS,
        rows=rows,
        summary=summary,
        notes=["complaints received in the period; due = receipt + 2 working days"],
    )
