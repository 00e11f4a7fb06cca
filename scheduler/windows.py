"""Calling windows: when a task may be dialled (rules 5.6, 12.19: never in the customer's rest
time).

Every task carries a :class:`~hotline.domain.enums.CallingWindow`, chosen from its type when the
task is created: business hours outside the rest period on working days, or the same hours on
any day for the types that must happen on a given day (dropped calls, birthdays, festivals).
``[scheduler] windows`` overrides the choice per type.
"""

from __future__ import annotations

import datetime as dt

from hotline.domain.calendar import WorkingCalendar
from hotline.domain.enums import CallingWindow, TaskType
from hotline.settings import Settings

DEFAULT_WINDOWS: dict[TaskType, CallingWindow] = {
    # Rule 1.15: call back at once, the same day whatever day it is (inside business hours).
    TaskType.DROPPED_CALL: CallingWindow.BUSINESS_HOURS_ANY_DAY,
    # Greetings belong to their day, which is often a weekend or a public holiday.
    TaskType.BIRTHDAY: CallingWindow.BUSINESS_HOURS_ANY_DAY,
    TaskType.FESTIVAL: CallingWindow.BUSINESS_HOURS_ANY_DAY,
}


class WindowPolicy:
    """The calling window of each task type, and the open intervals of each window."""

    def __init__(self, settings: Settings, calendar: WorkingCalendar | None = None) -> None:
        self.calendar = calendar or WorkingCalendar(settings.hours, settings.tz)
        self.windows = {**DEFAULT_WINDOWS, **settings.scheduler.windows}

    def window_for(self, task_type: TaskType) -> CallingWindow:
        return self.windows.get(task_type, CallingWindow.WORKING_HOURS)

    @staticmethod
    def any_day(window: CallingWindow) -> bool:
        return window is CallingWindow.BUSINESS_HOURS_ANY_DAY

    def is_open(self, moment: dt.datetime, window: CallingWindow) -> bool:
        return self.calendar.is_open(moment, any_day=self.any_day(window))

    def next_open(self, moment: dt.datetime, window: CallingWindow) -> dt.datetime:
        """The first instant at or after ``moment`` at which a task of ``window`` may ring."""
        return self.calendar.next_open(moment, any_day=self.any_day(window))

    def interval(
        self, moment: dt.datetime, window: CallingWindow
    ) -> tuple[dt.datetime, dt.datetime]:
        """The window interval containing ``moment``, or the next one."""
        return self.calendar.interval_at(moment, any_day=self.any_day(window))

    def open_time_between(
        self, start: dt.datetime, end: dt.datetime, window: CallingWindow
    ) -> dt.timedelta:
        """How long ``window`` is open between ``start`` and ``end``: a task's waiting time
        as its agent could have used it (nights, rest periods and holidays do not count)."""
        total = dt.timedelta(0)
        moment = start
        while moment < end:
            a, b = self.interval(moment, window)
            if a >= end:
                break
            total += min(b, end) - a
            moment = b
        return total

    def end_of_local_day(self, day: dt.date) -> dt.datetime:
        """Closing time of ``day`` in the hotline's zone, as UTC: a same-day deadline."""
        close = dt.datetime.combine(day, self.calendar.hours.close, self.calendar.tz)
        return close.astimezone(dt.UTC)

    def local_date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.calendar.tz).date()
