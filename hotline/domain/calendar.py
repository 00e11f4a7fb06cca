"""Working days and business hours of the hotline.

Working days come from the ``holidays`` package's mainland-China calendar, which knows both the
public holidays and the adjusted working weekends (调休): a Saturday that is a working day is
one. Hours come from :class:`hotline.settings.HoursSettings` and are read in the hotline's time
zone; callers pass aware datetimes (UTC in storage) and get aware datetimes back.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from hotline.settings import HoursSettings


@lru_cache(maxsize=64)
def _china(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year)


class WorkingCalendar:
    """Answers "is this a working day / inside business hours" and finds the next window."""

    def __init__(self, hours: HoursSettings, tz: ZoneInfo) -> None:
        self.hours = hours
        self.tz = tz

    def is_working_day(self, day: dt.date) -> bool:
        if self.hours.calendar == "none":
            return True
        return bool(_china(day.year).is_working_day(day))

    def holiday_name(self, day: dt.date) -> str | None:
        if self.hours.calendar == "none":
            return None
        return _china(day.year).get(day)

    def _local(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC in storage)")
        return moment.astimezone(self.tz)

    def _day_intervals(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The open intervals of one local day, rest period cut out."""
        h = self.hours
        start = dt.datetime.combine(day, h.open, self.tz)
        end = dt.datetime.combine(day, h.close, self.tz)
        if h.rest_start is None or h.rest_end is None:
            return [(start, end)]
        rest_a = dt.datetime.combine(day, h.rest_start, self.tz)
        rest_b = dt.datetime.combine(day, h.rest_end, self.tz)
        return [(a, b) for a, b in ((start, rest_a), (rest_b, end)) if b > a]

    def is_open(self, moment: dt.datetime, *, any_day: bool = False) -> bool:
        """Inside business hours and outside the rest period (and on a working day, unless
        ``any_day``)."""
        local = self._local(moment)
        if not any_day and not self.is_working_day(local.date()):
            return False
        return any(a <= local < b for a, b in self._day_intervals(local.date()))

    def next_open(self, moment: dt.datetime, *, any_day: bool = False) -> dt.datetime:
        """The first instant at or after ``moment`` when :meth:`is_open` holds, in UTC."""
        local = self._local(moment)
        day = local.date()
        for _ in range(400):  # the longest Chinese holiday run is far shorter than this
            if any_day or self.is_working_day(day):
                for a, b in self._day_intervals(day):
                    if local < b:
                        return max(a, local).astimezone(dt.UTC)
            day += dt.timedelta(days=1)
            local = dt.datetime.combine(day, dt.time(0, 0), self.tz)
        raise RuntimeError("no business hours within 400 days: check the hours configuration")

    def interval_at(
        self, moment: dt.datetime, *, any_day: bool = False
    ) -> tuple[dt.datetime, dt.datetime]:
        """The open interval ``[start, end)`` containing ``moment``, or the next one after it,
        in UTC: the calling window a task due at ``moment`` falls into."""
        start = self.next_open(moment, any_day=any_day)
        local = start.astimezone(self.tz)
        for a, b in self._day_intervals(local.date()):
            if a <= local < b:
                return start, b.astimezone(dt.UTC)
        raise RuntimeError("next_open returned a closed instant")  # pragma: no cover

    def add_working_days(self, moment: dt.datetime, days: int) -> dt.datetime:
        """``moment`` moved forward by ``days`` working days, keeping the local clock time.

        A complaint received on Friday afternoon before a holiday is due at the same time of day
        on the second working day after it (rules 5.4 and 6.13).
        """
        local = self._local(moment)
        day = local.date()
        remaining = days
        while remaining > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return dt.datetime.combine(day, local.timetz().replace(tzinfo=None), self.tz).astimezone(
            dt.UTC
        )
