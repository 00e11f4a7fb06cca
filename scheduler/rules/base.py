"""What every rule gets: an open session (inside the caller's transaction), the settings, the
calendar and window policy, and the time it runs at (frozen in tests)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.models import Agent
from hotline.domain.calendar import WorkingCalendar
from hotline.settings import Settings
from scheduler.staffing import absent_agent_ids, least_loaded_agent, working_agent_ids
from scheduler.tasks import TaskSpec, add_tasks
from scheduler.windows import WindowPolicy


@dataclass
class RuleContext:
    session: Session
    settings: Settings
    now: dt.datetime
    policy: WindowPolicy = field(init=False)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("RuleContext.now must be an aware datetime")
        self.policy = WindowPolicy(self.settings)

    @property
    def calendar(self) -> WorkingCalendar:
        return self.policy.calendar

    @property
    def today(self) -> dt.date:
        """The date in the hotline's zone (a birthday is a local date)."""
        return self.policy.local_date(self.now)

    def add(self, specs: list[TaskSpec]) -> list[int]:
        return add_tasks(self.session, specs, self.settings, self.policy)

    def agent_of_user(self, user_id: int | None) -> int | None:
        if user_id is None:
            return None
        return self.session.scalar(select(Agent.id).where(Agent.user_id == user_id))


@dataclass
class RuleResult:
    rule: str
    created: list[int] = field(default_factory=list)
    changed: int = 0
    detail: str = ""

    def __str__(self) -> str:
        extra = f", {self.changed} changed" if self.changed else ""
        tail = f" ({self.detail})" if self.detail else ""
        return f"{self.rule}: {len(self.created)} task(s) created{extra}{tail}"


__all__ = [
    "RuleContext",
    "RuleResult",
    "absent_agent_ids",
    "least_loaded_agent",
    "working_agent_ids",
]
