"""Report periods and their time buckets, in the hotline's time zone.

A period is a half-open UTC interval ``[start, end)`` made from whole local days. Buckets are
labelled the same way by both databases and by :meth:`Period.bucket_labels` (which lists the
empty ones too): ``2026-11-23 09:00`` (hour), ``2026-11-23`` (day), ``2026-11-23`` (the
Monday of an ISO week), ``2026-11`` (month), and ``0``..``23`` (hour of the day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from hotline.domain.errors import InvalidInput

EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2099, 12, 31)
MAX_DAYS = 3 * 366 + 1


class Granularity(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    HOUR_OF_DAY = "hour_of_day"


@dataclass(frozen=True)
class OffsetSegment:
    """Within ``[start, end)`` (UTC) local time is UTC plus ``minutes``."""

    start: dt.datetime
    end: dt.datetime
    minutes: int


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo

    @classmethod
    def days(cls, first: dt.date, last: dt.date, tz: ZoneInfo) -> Period:
        """Local days ``first`` to ``last``, both included."""
        problems = []
        for name, day in (("start", first), ("end", last)):
            if not (EARLIEST_DAY <= day <= LATEST_DAY):
                problems.append((name, f"must be a day between {EARLIEST_DAY} and {LATEST_DAY}"))
        if problems:
            raise InvalidInput(problems)
        if last < first:
            raise InvalidInput.single("end", f"must not be before start ({first})")
        if (last - first).days + 1 > MAX_DAYS:
            raise InvalidInput.single("end", f"a report covers at most {MAX_DAYS} days")
        start = dt.datetime.combine(first, dt.time(0), tz).astimezone(dt.UTC)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)
        return cls(start, end, tz)

    @classmethod
    def day(cls, day: dt.date, tz: ZoneInfo) -> Period:
        return cls.days(day, day, tz)

    @property
    def first_day(self) -> dt.date:
        return self.start.astimezone(self.tz).date()

    @property
    def last_day(self) -> dt.date:
        return (self.end.astimezone(self.tz) - dt.timedelta(microseconds=1)).date()

    def _offset(self, moment: dt.datetime) -> int:
        off = moment.astimezone(self.tz).utcoffset() or dt.timedelta(0)
        return int(off.total_seconds() // 60)

    def offset_segments(self) -> list[OffsetSegment]:
        """The period cut where the zone's UTC offset changes (daylight saving), so SQLite,
        which has no time zones, can shift each stored UTC time by the right amount."""
        segments: list[OffsetSegment] = []
        seg_start = self.start
        current = self._offset(self.start)
        probe = self.start
        step = dt.timedelta(hours=1)
        while probe < self.end:
            nxt = min(probe + step, self.end)
            if nxt < self.end and self._offset(nxt) != current:
                lo, hi = probe, nxt  # the change lies in (lo, hi]: find its minute
                while hi - lo > dt.timedelta(minutes=1):
                    mid = lo + (hi - lo) / 2
                    mid = mid.replace(second=0, microsecond=0)
                    if mid <= lo:
                        break
                    if self._offset(mid) == current:
                        lo = mid
                    else:
                        hi = mid
                segments.append(OffsetSegment(seg_start, hi, current))
                seg_start, current = hi, self._offset(hi)
            probe = nxt
        segments.append(OffsetSegment(seg_start, self.end, current))
        return segments

    def bucket_labels(self, granularity: Granularity) -> list[str | int]:
        """Every bucket of the period in order, empty ones included."""
        if granularity is Granularity.HOUR_OF_DAY:
            return list(range(24))
        first, last = self.first_day, self.last_day
        labels: list[str | int] = []
        if granularity is Granularity.HOUR:
            moment = self.start
            while moment < self.end:
                label = moment.astimezone(self.tz).strftime("%Y-%m-%d %H:00")
                if not labels or labels[-1] != label:
                    labels.append(label)
                moment += dt.timedelta(minutes=15)
            return labels
        day = first
        while day <= last:
            if granularity is Granularity.DAY:
                label = day.isoformat()
            elif granularity is Granularity.WEEK:
                label = (day - dt.timedelta(days=day.weekday())).isoformat()
            else:
                label = day.strftime("%Y-%m")
            if not labels or labels[-1] != label:
                labels.append(label)
            day += dt.timedelta(days=1)
        return labels
