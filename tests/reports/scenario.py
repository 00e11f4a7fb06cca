"""Calls, legs and service records with known figures, written straight through the models,
for report tests (on both databases) and the web tests that show reports."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from hotline.db.models import Agent, Call, CallLeg
from hotline.domain.enums import CallCategory, CallDirection, CallDisposition, LegRole

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ids = itertools.count(1)


def local(text: str, tz: ZoneInfo = SHANGHAI) -> dt.datetime:
    """``2026-03-02 07:30`` in the hotline's zone, as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(dt.UTC)


@dataclass(frozen=True)
class LegSpec:
    agent: Agent
    dial_status: str  # ANSWER, NOANSWER, CANCEL
    rings: int | None = None  # the agent's ring at answer


def add_call(
    session: Session,
    arrived: dt.datetime,
    *,
    direction: CallDirection = CallDirection.INBOUND,
    disposition: CallDisposition | None = CallDisposition.ANSWERED,
    rings: int | None = 3,
    agent: Agent | None = None,
    wait: float | None = None,
    talk: float | None = None,
    category: CallCategory | None = None,
    queue: str | None = None,
    caller: str = "+8613800138000",
    legs: tuple[LegSpec, ...] = (),
    ended: bool = True,
) -> Call:
    """An inbound call: answered by ``agent`` ``wait`` s after arrival and talked ``talk`` s,
    or ended without an agent."""
    n = next(_ids)
    answered_at = arrived + dt.timedelta(seconds=wait) if agent and wait is not None else None
    if answered_at and talk is not None:
        ended_at = answered_at + dt.timedelta(seconds=talk)
    else:
        ended_at = arrived + dt.timedelta(seconds=45) if ended else None
    call = Call(
        pbx="pbx1",
        linkedid=f"1700000000.{n}",
        uniqueid=f"1700000000.{n}",
        direction=direction,
        caller_number=caller,
        dialled_number="12345",
        category=category,
        queue=queue,
        arrived_at=arrived,
        ringing_at=arrived + dt.timedelta(seconds=1),
        answered_at=arrived + dt.timedelta(seconds=11) if rings else None,
        agent_answered_at=answered_at,
        ended_at=ended_at,
        rings_at_answer=rings,
        answered_by_agent_id=agent.id if agent and answered_at else None,
        disposition=disposition,
    )
    session.add(call)
    session.flush()
    for i, spec in enumerate(legs):
        start = arrived + dt.timedelta(seconds=12 + i)
        session.add(CallLeg(
            call_id=call.id, pbx="pbx1", uniqueid=f"{call.uniqueid}-{i}",
            channel=f"PJSIP/{spec.agent.extension}-{n:08x}", role=LegRole.AGENT,
            agent_id=spec.agent.id, created_at=start, ringing_at=start,
            answered_at=start + dt.timedelta(seconds=5) if spec.dial_status == "ANSWER" else None,
            ended_at=start + dt.timedelta(seconds=25),
            rings_at_answer=spec.rings, dial_status=spec.dial_status,
        ))
    session.flush()
    return call
