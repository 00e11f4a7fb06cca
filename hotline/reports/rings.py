"""Ring at answer: how many calls were picked up in each ring, and the share answered early,
inside the answer window (rings 3 to 5, rule 1.1) and late."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.db.models import Call
from hotline.domain.ring import RingClass
from hotline.reports.calls import inbound_in
from hotline.reports.context import ReportContext
from hotline.reports.period import Period
from hotline.reports.tables import Column, Table, ratio

_CLASS_LABELS = {
    RingClass.EARLY: "提前 early",
    RingClass.IN_WINDOW: "达标 in window",
    RingClass.LATE: "超时 late",
}


def ring_distribution(session: Session, period: Period, ctx: ReportContext) -> Table:
    stmt = (
        select(Call.rings_at_answer, func.count())
        .where(inbound_in(period), Call.rings_at_answer.is_not(None))
        .group_by(Call.rings_at_answer)
    )
    counts = {int(ring): int(n) for ring, n in session.execute(stmt)}
    total = sum(counts.values())
    last = max([*counts, ctx.policy.max_ring + 1])
    by_class = {c: 0 for c in RingClass}
    rows = []
    for ring in range(1, last + 1):
        cls = ctx.policy.classify(ring)
        n = counts.get(ring, 0)
        by_class[cls] += n
        rows.append({"ring": ring, "calls": n, "share": ratio(n, total),
                     "class": _CLASS_LABELS[cls]})
    return Table(
        name="ring_at_answer",
        zh="接听振铃声数分布",
        en="ring at answer",
        columns=[
            Column("ring", "振铃声数", "ring"),
            Column("calls", "呼入", "calls"),
            Column("share", "占比", "share", "percent"),
            Column("class", "判定", "class", "text"),
        ],
        rows=rows,
        summary={
            "answered": total,
            "early": by_class[RingClass.EARLY],
            "in_window": by_class[RingClass.IN_WINDOW],
            "late": by_class[RingClass.LATE],
            "early_share": ratio(by_class[RingClass.EARLY], total),
            "in_window_share": ratio(by_class[RingClass.IN_WINDOW], total),
            "late_share": ratio(by_class[RingClass.LATE], total),
        },
        notes=[f"answer window: rings {ctx.policy.min_ring} to {ctx.policy.max_ring}"],
    )
