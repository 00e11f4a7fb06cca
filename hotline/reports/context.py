"""What every report needs to know besides the database: the ring policy that defines the
answer window, the time zone buckets are cut in, and the working-day calendar."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hotline.domain.calendar import WorkingCalendar
from hotline.domain.ring import RingPolicy
from hotline.settings import Settings


@dataclass(frozen=True)
class ReportContext:
    policy: RingPolicy
    tz: ZoneInfo
    calendar: WorkingCalendar

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportContext:
        return cls(
            policy=RingPolicy.from_settings(settings.ring),
            tz=settings.tz,
            calendar=WorkingCalendar(settings.hours, settings.tz),
        )
