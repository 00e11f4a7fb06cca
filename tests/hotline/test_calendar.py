"""Working days of mainland China (with adjusted weekends) and business hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from hotline.domain.calendar import WorkingCalendar
from hotline.settings import HoursSettings

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar(HoursSettings(), SH)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def test_adjusted_working_saturday_and_public_holiday(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(dt.date(2026, 2, 14))  # Saturday made a working day (调休)
    assert not cal.is_working_day(dt.date(2026, 2, 17))  # Spring Festival
    assert not cal.is_working_day(dt.date(2026, 10, 1))  # National Day
    assert not cal.is_working_day(dt.date(2026, 11, 21))  # ordinary Saturday
    assert cal.is_working_day(dt.date(2026, 11, 23))  # ordinary Monday


def test_open_hours_exclude_rest_period(cal: WorkingCalendar) -> None:
    assert cal.is_open(local(2026, 11, 23, 8, 0))
    assert not cal.is_open(local(2026, 11, 23, 7, 59))
    assert not cal.is_open(local(2026, 11, 23, 12, 30))
    assert cal.is_open(local(2026, 11, 23, 14, 0))
    assert not cal.is_open(local(2026, 11, 23, 20, 0))
    assert not cal.is_open(local(2026, 11, 21, 10, 0))  # Saturday
    assert cal.is_open(local(2026, 11, 21, 10, 0), any_day=True)


def test_next_open_skips_rest_period_nights_and_holidays(cal: WorkingCalendar) -> None:
    assert cal.next_open(local(2026, 11, 23, 12, 30)) == local(2026, 11, 23, 14, 0)
    assert cal.next_open(local(2026, 11, 23, 21, 0)) == local(2026, 11, 24, 8, 0)
    # Evening of 30 September: the National Day holiday runs to 7 October.
    assert cal.next_open(local(2026, 9, 30, 20, 30)) == local(2026, 10, 8, 8, 0)
    # Friday evening before the adjusted working Saturday 14 February 2026.
    assert cal.next_open(local(2026, 2, 13, 20, 30)) == local(2026, 2, 14, 8, 0)
    assert cal.next_open(local(2026, 11, 23, 9, 15)) == local(2026, 11, 23, 9, 15)


def test_two_working_days_across_a_holiday(cal: WorkingCalendar) -> None:
    # Received Wednesday 30 September 16:00; 1-7 October are holidays, so the second working
    # day after it is Friday 9 October (Thursday 8th is the first).
    assert cal.add_working_days(local(2026, 9, 30, 16, 0), 2) == local(2026, 10, 9, 16, 0)
    # Received Friday 13 February 2026: Saturday 14th is an adjusted working day.
    assert cal.add_working_days(local(2026, 2, 13, 10, 0), 2) == local(2026, 2, 24, 10, 0)


def test_naive_datetimes_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        cal.is_open(dt.datetime(2026, 11, 23, 9, 0))
