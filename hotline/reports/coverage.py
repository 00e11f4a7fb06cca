"""Member return-visit coverage (rule 5.7: 100 % of member customers get a return visit):
every member with the number of return visits recorded for them in the period, the unvisited
first."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from hotline.db.models import Customer, ReturnVisit
from hotline.reports.period import Period
from hotline.reports.tables import Column, Table, ratio


def member_coverage(session: Session, period: Period) -> Table:
    visits = func.count(ReturnVisit.id)
    stmt = (
        select(Customer.id, Customer.name, Customer.phone, Customer.card_number,
               visits.label("visits"), func.max(ReturnVisit.visited_at).label("last_visit"))
        .outerjoin(
            ReturnVisit,
            and_(
                ReturnVisit.customer_id == Customer.id,
                ReturnVisit.visited_at >= period.start,
                ReturnVisit.visited_at < period.end,
            ),
        )
        .where(Customer.is_member.is_(True))
        .group_by(Customer.id, Customer.name, Customer.phone, Customer.card_number)
        .order_by(visits, Customer.name, Customer.id)
    )
    rows = []
    for rec in session.execute(stmt).mappings():
        last = rec["last_visit"]
        if last is not None and last.tzinfo is None:  # func.max loses the column type
            last = last.replace(tzinfo=period.start.tzinfo)
        rows.append({
            "customer_id": rec["id"],
            "name": rec["name"],
            "phone": rec["phone"],
            "card_number": rec["card_number"] or "",
            "visits": rec["visits"],
            "last_visit": last.astimezone(period.tz).strftime("%Y-%m-%d %H:%M") if last else "",
        })
    members = len(rows)
    visited = sum(1 for r in rows if r["visits"])
    return Table(
        name="member_coverage",
        zh="会员回访覆盖率",
        en="member return-visit coverage",
        columns=[
            Column("name", "姓名", "name", "text"),
            Column("phone", "电话", "phone", "text"),
            Column("card_number", "卡号", "card number", "text"),
            Column("visits", "回访次数", "return visits"),
            Column("last_visit", "最近回访", "last visit", "text"),
        ],
        rows=rows,
        summary={"members": members, "visited": visited, "coverage": ratio(visited, members)},
        notes=["rule 5.7: every member customer must have a return visit in the period"],
    )
