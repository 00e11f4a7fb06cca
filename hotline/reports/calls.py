"""Inbound call figures for any period, by time bucket, category or queue.

Definitions (one row per inbound call that *arrived* in the bucket):

- offered: every inbound call;
- answered: an agent picked it up (``agent_answered_at`` set);
- abandoned / missed: its disposition (caller hung up while waiting / nobody answered);
- average speed of answer: arrival to agent answer, over answered calls;
- average handle time: agent answer to hang-up, over answered calls that ended;
- ring answered: the caller's channel was answered (by the IVR or an agent), so
  ``rings_at_answer`` is known; early / in window / late classify that ring with the
  :class:`~hotline.domain.ring.RingPolicy` (rule 1.1: rings 3 to 5);
- service level: in window over ring answered.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, literal_column, select
from sqlalchemy.orm import Session

from hotline.db.models import Call
from hotline.domain.enums import CallDirection, CallDisposition
from hotline.reports.context import ReportContext
from hotline.reports.period import Granularity, Period
from hotline.reports.sql import bucket, count_if, seconds_between
from hotline.reports.tables import Column, Table, ratio, rounded


class CallGrouping(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    HOUR_OF_DAY = "hour_of_day"
    CATEGORY = "category"
    QUEUE = "queue"


_GROUP_LABELS = {
    CallGrouping.HOUR: ("小时", "hour"),
    CallGrouping.DAY: ("日期", "day"),
    CallGrouping.WEEK: ("周(周一)", "week (Monday)"),
    CallGrouping.MONTH: ("月份", "month"),
    CallGrouping.HOUR_OF_DAY: ("时段", "hour of day"),
    CallGrouping.CATEGORY: ("类别", "category"),
    CallGrouping.QUEUE: ("队列", "queue"),
}

FIGURE_COLUMNS = [
    Column("offered", "呼入", "offered"),
    Column("answered", "接听", "answered"),
    Column("abandoned", "放弃", "abandoned"),
    Column("missed", "未接", "missed"),
    Column("asa_seconds", "平均应答速度(秒)", "average speed of answer (s)", "seconds"),
    Column("aht_seconds", "平均处理时长(秒)", "average handle time (s)", "seconds"),
    Column("ring_answered", "振铃后接通", "ring answered"),
    Column("early", "提前接听", "early"),
    Column("in_window", "3-5声内接听", "in window"),
    Column("late", "超时接听", "late"),
    Column("service_level", "服务水平", "service level", "percent"),
]
NONE_LABEL = "(none)"


def _figure_columns(ctx: ReportContext) -> list[Any]:
    c = Call
    return [
        func.count().label("offered"),
        count_if(c.agent_answered_at.is_not(None)).label("answered"),
        count_if(c.disposition == CallDisposition.ABANDONED).label("abandoned"),
        count_if(c.disposition == CallDisposition.MISSED).label("missed"),
        count_if(c.rings_at_answer.is_not(None)).label("ring_answered"),
        count_if(c.rings_at_answer < ctx.policy.min_ring).label("early"),
        count_if(c.rings_at_answer.between(ctx.policy.min_ring, ctx.policy.max_ring)).label(
            "in_window"
        ),
        count_if(c.rings_at_answer > ctx.policy.max_ring).label("late"),
        count_if(and_(c.agent_answered_at.is_not(None), c.ended_at.is_not(None))).label(
            "handled"
        ),
    ]


def _sums(dialect: str) -> list[Any]:
    c = Call
    return [
        func.sum(seconds_between(c.agent_answered_at, c.arrived_at, dialect)).label("wait_sum"),
        func.sum(seconds_between(c.ended_at, c.agent_answered_at, dialect)).label("talk_sum"),
    ]


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    """Averages and ratios from the counted sums (totals are finished the same way)."""
    row["asa_seconds"] = rounded(row["wait_sum"] / row["answered"]) if row["answered"] else None
    row["aht_seconds"] = rounded(row["talk_sum"] / row["handled"]) if row["handled"] else None
    row["service_level"] = ratio(row["in_window"], row["ring_answered"])
    for internal in ("wait_sum", "talk_sum", "handled"):
        row.pop(internal)
    return row


_COUNTED = ("offered", "answered", "abandoned", "missed", "ring_answered", "early",
            "in_window", "late", "handled", "wait_sum", "talk_sum")


def _empty() -> dict[str, Any]:
    return {k: 0 for k in _COUNTED}


def inbound_in(period: Period) -> Any:
    return and_(
        Call.direction == CallDirection.INBOUND,
        Call.arrived_at >= period.start,
        Call.arrived_at < period.end,
    )


def call_figures(
    session: Session, period: Period, ctx: ReportContext, group: CallGrouping
) -> Table:
    dialect = session.get_bind().dialect.name
    if group is CallGrouping.CATEGORY:
        key: Any = Call.category
    elif group is CallGrouping.QUEUE:
        key = Call.queue
    else:
        key = bucket(Call.arrived_at, period, Granularity(group.value), dialect)
    stmt = (
        select(key.label("k"), *_figure_columns(ctx), *_sums(dialect))
        .where(inbound_in(period))
        .group_by(literal_column("k"))
    )
    found: dict[Any, dict[str, Any]] = {}
    for rec in session.execute(stmt).mappings():
        values = {k: (rec[k] or 0) for k in _COUNTED}
        k = rec["k"]
        if group in (CallGrouping.CATEGORY, CallGrouping.QUEUE):
            k = NONE_LABEL if k is None else str(getattr(k, "value", k))
        found[k] = values

    if group in (CallGrouping.CATEGORY, CallGrouping.QUEUE):
        keys: list[Any] = sorted(found)
    else:
        keys = list(period.bucket_labels(Granularity(group.value)))
    totals = _empty()
    rows = []
    for k in keys:
        values = found.get(k, _empty())
        for name in _COUNTED:
            totals[name] += values[name]
        rows.append(_finish({"bucket": k, **values}))
    zh, en = _GROUP_LABELS[group]
    return Table(
        name=f"calls_by_{group.value}",
        zh=f"呼入统计(按{zh})",
        en=f"inbound calls by {en}",
        columns=[Column("bucket", zh, en, "text"), *FIGURE_COLUMNS],
        rows=rows,
        summary=_finish(totals),
        notes=[
            f"answer window: rings {ctx.policy.min_ring} to {ctx.policy.max_ring}; "
            f"times in {period.tz.key}"
        ],
    )
