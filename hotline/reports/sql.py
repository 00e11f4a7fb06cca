"""SQL building blocks that read the same on SQLite and PostgreSQL.

PostgreSQL converts a stored UTC time with ``timezone(zone, ts)``. SQLite stores UTC text and
knows no zones, so the local time is ``datetime(ts, '+480 minutes')`` with the offset(s) the
period's zone has (one per daylight-saving segment, see :meth:`Period.offset_segments`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, case, cast, extract, func, literal
from sqlalchemy.sql.elements import ColumnElement

from hotline.db.base import UTCDateTime
from hotline.reports.period import Granularity, Period


def local_time(col: Any, period: Period, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.timezone(period.tz.key, col)
    segments = period.offset_segments()

    def shift(minutes: int) -> ColumnElement[Any]:
        return func.datetime(col, f"{minutes:+d} minutes")

    if len(segments) == 1:
        return shift(segments[0].minutes)
    whens = [(col < literal(s.end, UTCDateTime()), shift(s.minutes)) for s in segments[:-1]]
    return case(*whens, else_=shift(segments[-1].minutes))


def bucket(col: Any, period: Period, granularity: Granularity, dialect: str) -> ColumnElement[Any]:
    """The bucket label of a stored time (see :mod:`hotline.reports.period` for formats)."""
    local = local_time(col, period, dialect)
    if dialect == "postgresql":
        if granularity is Granularity.HOUR_OF_DAY:
            return cast(extract("hour", local), Integer)
        fmt, unit = {
            Granularity.HOUR: ("YYYY-MM-DD HH24:00", "hour"),
            Granularity.DAY: ("YYYY-MM-DD", "day"),
            Granularity.WEEK: ("YYYY-MM-DD", "week"),
            Granularity.MONTH: ("YYYY-MM", "month"),
        }[granularity]
        return func.to_char(func.date_trunc(unit, local), fmt)
    if granularity is Granularity.HOUR_OF_DAY:
        return cast(func.strftime("%H", local), Integer)
    if granularity is Granularity.HOUR:
        return func.strftime("%Y-%m-%d %H:00", local)
    if granularity is Granularity.DAY:
        return func.date(local)
    if granularity is Granularity.WEEK:
        return func.date(local, "weekday 0", "-6 days")  # the Monday of the ISO week
    return func.strftime("%Y-%m", local)


def seconds_between(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    if dialect == "postgresql":
        return cast(extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group satisfy ``condition`` (0 for none, never NULL)."""
    return func.count(case((condition, 1)))


def avg_if(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.avg(case((condition, value)))
