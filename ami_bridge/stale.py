"""Calls the database still shows in progress after the bridge that followed them stopped
(a crash, a kill, a restart while calls were up), read back as closed records.

The tracker closes calls that ended while the AMI link was down, but only those it knows;
after a process restart it knows none, and those calls would stay open in the database for
good. After each resynchronisation the bridge reads the stored calls of its PBX that are
still open, arrived before the channel list was asked for, and are not among the calls it
follows now (Asterisk no longer has them), and closes each like a call lost during a
disconnect: at its last sign of life in the stored record, ``end_reason``
``lost-during-disconnect``, never as a dropped call.

Another bridge on the same PBX (a second ``hotline serve``) may still be following such a
call and write its true end a moment later; its whole record then simply replaces this one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ami_bridge.state import END_LOST
from hotline.db.models import Call, CallLeg
from hotline.domain.enums import CallDisposition
from hotline.domain.events import CallRecord, LegRecord


def _value(enum_or_text: object) -> str | None:
    if enum_or_text is None:
        return None
    return str(getattr(enum_or_text, "value", enum_or_text))


def _last_sign_of_life(call: Call, legs: Iterable[CallLeg]) -> dt.datetime:
    moments = [call.arrived_at, call.ringing_at, call.answered_at, call.agent_answered_at]
    for leg in legs:
        moments += [leg.created_at, leg.ringing_at, leg.answered_at, leg.ended_at]
    return max(m for m in moments if m is not None)


def _closed(call: Call, legs: list[CallLeg]) -> CallRecord:
    ended = _last_sign_of_life(call, legs)
    disposition = call.disposition or (
        CallDisposition.ANSWERED if call.answered_by_agent_id is not None else CallDisposition.LOST
    )
    return CallRecord(
        pbx=call.pbx, linkedid=call.linkedid, uniqueid=call.uniqueid,
        direction=_value(call.direction) or "inbound", caller_number=call.caller_number,
        dialled_number=call.dialled_number, arrived_at=call.arrived_at,
        category=_value(call.category), queue=call.queue, ringing_at=call.ringing_at,
        answered_at=call.answered_at, agent_answered_at=call.agent_answered_at, ended_at=ended,
        rings_at_answer=call.rings_at_answer, answered_by_agent_id=call.answered_by_agent_id,
        disposition=_value(disposition), hangup_cause=call.hangup_cause,
        hangup_cause_text=call.hangup_cause_text, end_reason=END_LOST, abnormal_end=False,
        attempt_id=call.attempt_id,
        legs=tuple(
            LegRecord(
                uniqueid=leg.uniqueid, channel=leg.channel, role=_value(leg.role) or "other",
                agent_id=leg.agent_id, created_at=leg.created_at, ringing_at=leg.ringing_at,
                answered_at=leg.answered_at, ended_at=leg.ended_at or ended,
                rings_at_answer=leg.rings_at_answer, dial_status=leg.dial_status,
                hangup_cause=leg.hangup_cause, hangup_cause_text=leg.hangup_cause_text,
            )
            for leg in legs
        ),
    )


def stale_call_records(
    engine: Engine, pbx: str, asked_at: dt.datetime, known: frozenset[str], limit: int = 10_000
) -> list[CallRecord]:
    """Closed records of the stored calls of ``pbx`` still open, arrived before ``asked_at``,
    whose linkedid is not in ``known`` (the calls the tracker follows, or closed itself and
    may not have written yet). Blocking: run it in a worker thread."""
    with Session(engine) as s:
        calls = [
            c for c in s.scalars(
                select(Call)
                .where(Call.pbx == pbx, Call.ended_at.is_(None), Call.arrived_at < asked_at)
                .order_by(Call.id)
                .limit(limit)
            )
            if c.linkedid not in known
        ]
        if not calls:
            return []
        legs: dict[int, list[CallLeg]] = {c.id: [] for c in calls}
        for leg in s.scalars(select(CallLeg).where(CallLeg.call_id.in_(list(legs)))
                             .order_by(CallLeg.id)):
            legs[leg.call_id].append(leg)
        return [_closed(c, legs[c.id]) for c in calls]
