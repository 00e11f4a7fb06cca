"""The rules that create outbound tasks, by name.

``TICK_RULES`` run at every planning tick (they sweep their sources and are idempotent);
``DAILY_RULES`` run once a day (birthday, festival); ``HALF_MONTHLY_RULES`` on the 1st and the
16th. Every rule takes a :class:`RuleContext` and returns a :class:`RuleResult`.
"""

from __future__ import annotations

from collections.abc import Callable

from scheduler.rules import (
    birthday,
    case_reply,
    complaint_return_visit,
    dropped_call,
    festival,
    first_contact,
    follow_up,
    member_return_visit,
    requested,
    top_customers,
)
from scheduler.rules.base import RuleContext, RuleResult

Rule = Callable[[RuleContext], RuleResult]

TICK_RULES: dict[str, Rule] = {
    "dropped-call": dropped_call.run,
    "requested": requested.run,
    "case-reply": case_reply.run,
    "complaint-return-visit": complaint_return_visit.run,
    "follow-up": follow_up.run,
    "first-contact": first_contact.run,
    "member-return-visit": member_return_visit.run,
}
DAILY_RULES: dict[str, Rule] = {
    "birthday": birthday.run,
    "festival": festival.run,
}
HALF_MONTHLY_RULES: dict[str, Rule] = {
    "top-customers": top_customers.run,
}
RULES: dict[str, Rule] = {**TICK_RULES, **DAILY_RULES, **HALF_MONTHLY_RULES}

__all__ = ["DAILY_RULES", "HALF_MONTHLY_RULES", "RULES", "TICK_RULES", "RuleContext", "RuleResult"]
