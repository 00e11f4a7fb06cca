"""The daily complaint and feedback digest (rules 6.7, 6.14, 6.24, 7.9): what customers
complained about and suggested today, what was closed, what is overdue, kept for download.

It covers the local day from midnight to the moment it is built; rebuilding the same day
replaces the stored content (so a supervisor can rebuild after late entries).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.db.models import CallNote, Case, Complaint, Customer, Digest, ReturnVisit, User
from hotline.domain.enums import CallCategory, ComplaintStatus
from hotline.reports.context import ReportContext
from hotline.reports.period import Period
from hotline.reports.tables import Column, Table

EXCERPT = 500
FEEDBACK_CATEGORIES = (CallCategory.COMPLAINT, CallCategory.SUGGESTION)


def _local(moment: dt.datetime | None, ctx: ReportContext) -> str:
    return moment.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M") if moment else ""


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _complaint_row(c: Complaint, customer: Customer | None, ctx: ReportContext) -> dict[str, Any]:
    return {
        "id": c.id,
        "received_at": _local(c.received_at, ctx),
        "severity": c.severity.value,
        "status": c.status.value,
        "escalation_level": c.escalation_level,
        "due_at": _local(c.due_at, ctx),
        "customer": (customer.name or customer.phone) if customer else "",
        "description": _excerpt(c.description),
    }


def build_digest_content(
    session: Session, day: dt.date, ctx: ReportContext, now: dt.datetime
) -> tuple[Period, dict[str, Any]]:
    whole_day = Period.day(day, ctx.tz)
    until = min(now, whole_day.end)
    start = whole_day.start

    def complaints(*where: Any) -> list[dict[str, Any]]:
        stmt = (select(Complaint, Customer).outerjoin(Customer, Complaint.customer_id == Customer.id)
                .where(*where).order_by(Complaint.received_at, Complaint.id))
        return [_complaint_row(c, cu, ctx) for c, cu in session.execute(stmt)]

    received = complaints(Complaint.received_at >= start, Complaint.received_at < until)
    closed = complaints(Complaint.closed_at >= start, Complaint.closed_at < until)
    overdue = complaints(Complaint.status != ComplaintStatus.CLOSED, Complaint.due_at < until)
    escalated = [c for c in received + overdue if c["escalation_level"] > 0]
    notes = session.execute(
        select(CallNote, User.display_name, User.username)
        .join(User, User.id == CallNote.author_id)
        .where(CallNote.created_at >= start, CallNote.created_at < until,
               CallNote.category.in_(FEEDBACK_CATEGORIES))
        .order_by(CallNote.created_at, CallNote.id)
    )
    feedback = [
        {"id": n.id, "at": _local(n.created_at, ctx), "category": n.category.value,
         "outcome": n.outcome.value, "agent": name or username, "content": _excerpt(n.content)}
        for n, name, username in notes
    ]
    visits = session.scalars(
        select(ReturnVisit).where(ReturnVisit.visited_at >= start, ReturnVisit.visited_at < until)
        .order_by(ReturnVisit.visited_at, ReturnVisit.id)
    )
    opinions = [
        {"id": v.id, "at": _local(v.visited_at, ctx), "name": v.name, "work_unit": v.work_unit,
         "opinions": _excerpt(v.opinions)}
        for v in visits
    ]
    cases_opened = session.scalar(
        select(func.count()).select_from(Case)
        .where(Case.created_at >= start, Case.created_at < until)
    ) or 0
    content = {
        "day": day.isoformat(),
        "until": _local(until, ctx),
        "counts": {
            "complaints_received": len(received),
            "complaints_closed": len(closed),
            "complaints_overdue": len(overdue),
            "complaints_escalated": len({c["id"] for c in escalated}),
            "feedback_records": len(feedback),
            "return_visits": len(opinions),
            "cases_opened": cases_opened,
        },
        "complaints_received": received,
        "complaints_closed": closed,
        "complaints_overdue": overdue,
        "feedback": feedback,
        "return_visit_opinions": opinions,
    }
    return Period(start, until, ctx.tz), content


def build_digest(
    session: Session,
    day: dt.date,
    ctx: ReportContext,
    *,
    now: dt.datetime | None = None,
    built_by_id: int | None = None,
) -> Digest:
    """Build (or rebuild) and store the digest of ``day``."""
    now = now or dt.datetime.now(dt.UTC)
    period, content = build_digest_content(session, day, ctx, now)
    digest = session.scalar(select(Digest).where(Digest.day == day))
    if digest is None:
        digest = Digest(day=day)
        session.add(digest)
    digest.period_start = period.start
    digest.period_end = period.end
    digest.built_at = now
    digest.built_by_id = built_by_id
    digest.content = content
    session.flush()
    return digest


_COMPLAINT_COLUMNS = [
    Column("id", "编号", "id"),
    Column("received_at", "受理时间", "received", "text"),
    Column("severity", "级别", "severity", "text"),
    Column("status", "状态", "status", "text"),
    Column("escalation_level", "升级层级", "escalation"),
    Column("due_at", "期限", "due", "text"),
    Column("customer", "客户", "customer", "text"),
    Column("description", "内容", "description", "text"),
]


def digest_tables(content: dict[str, Any]) -> list[Table]:
    """The stored digest as tables, for the page and the CSV / XLSX downloads."""
    day = content.get("day", "")
    counts = content.get("counts", {})
    return [
        Table("digest_counts", f"{day} 投诉与反馈日报", f"complaint and feedback digest {day}",
              [Column("figure", "项目", "figure", "text"), Column("value", "数量", "count")],
              [{"figure": k, "value": v} for k, v in counts.items()],
              notes=[f"covers {day} 00:00 to {content.get('until', '')}"]),
        Table("digest_received", "当日受理投诉", "complaints received", _COMPLAINT_COLUMNS,
              content.get("complaints_received", [])),
        Table("digest_closed", "当日结案投诉", "complaints closed", _COMPLAINT_COLUMNS,
              content.get("complaints_closed", [])),
        Table("digest_overdue", "逾期未结投诉", "complaints overdue", _COMPLAINT_COLUMNS,
              content.get("complaints_overdue", [])),
        Table("digest_feedback", "客户意见与建议", "feedback (complaint and suggestion records)",
              [Column("at", "时间", "time", "text"), Column("category", "类别", "category", "text"),
               Column("outcome", "结果", "outcome", "text"),
               Column("agent", "坐席", "agent", "text"),
               Column("content", "内容", "content", "text")],
              content.get("feedback", [])),
        Table("digest_opinions", "回访意见", "return-visit opinions",
              [Column("at", "时间", "time", "text"), Column("name", "姓名", "name", "text"),
               Column("work_unit", "单位", "work unit", "text"),
               Column("opinions", "意见和建议", "opinions", "text")],
              content.get("return_visit_opinions", [])),
    ]
