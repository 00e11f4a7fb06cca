"""Does the database say what really happened? hotline's stored calls against pbxsim's truth log.

:func:`compare_db_with_truth` reads every ``Call`` (with its legs and dropped-call callbacks)
of one PBX and every truth record, matches them by Linkedid and returns one line per
disagreement (an empty list means the database tells the truth). It checks what a supervisor
or a report relies on:

* the calls: none missing, none stored twice, none the PBX never had, every one closed;
* who answered (the agent), the ring at which the IVR answered the caller and the ring at
  which the agent answered (from each one's own ringing start), the caller's number;
* each offer to an agent: one leg per agent channel the PBX created, the agent, and how the
  offer ended (``dial_status``: ANSWER, NOANSWER, BUSY, CANCEL);
* the disposition and the end reason (design.md, step 6), derived from what the truth log
  says happened;
* dropped calls (a line dropped mid-conversation, before the other side hung up):
  ``abnormal_end``, ``<side>-lost``, and exactly one ``dropped-call`` task for the caller's
  number and the agent who was talking; no task for any other call;
* arrival and end times, within ``tolerance`` (the bridge dates an event when it reads it).

Outages of the AMI link (``outages``: ``(start, end)`` of each window in which the bridge could
not see events, from the fault to the end of the resynchronisation) relax what the bridge could
not know: a call that ended inside one is ``lost-during-disconnect`` (``answered`` if an agent
answered before, else ``lost``) with no callback, ended at its last sign of life; a fact that
happened inside one (an answer, a ringing start, an offer's end) may be unknown (None) but,
when stored, must still be right. A call that began and ended inside an outage left no trace
on the AMI at all; it is reported as never seen, so tests arrange their traffic to avoid it.

Issue 9's busy-hour test and the reports' tests use it too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from hotline.db.models import Agent, Call, OutboundTask
from hotline.domain.phone import try_normalize_phone

Outage = tuple[dt.datetime, dt.datetime]
TruthRecord = Mapping[str, Any]

# How each offer to an agent ends, as the PBX's Dial reports it on the agent leg (DialEnd).
# A rejecting phone (603 Decline) is NOANSWER there (ast_hangup_cause_to_dial_status).
DIAL_STATUS = {
    "answered": "ANSWER",
    "noanswer": "NOANSWER",
    "rejected": "NOANSWER",
    "busy": "BUSY",
    "cancelled": "CANCEL",
}

# How the truth log's ``ended_by`` reads as a stored end reason (design.md, step 6).
END_REASON = {
    "caller": "caller-hangup",
    "agent": "agent-hangup",
    "customer": "customer-hangup",
    "ivr": "system-hangup",
    "pbx": "system-hangup",
    "ami": "system-hangup",
    "restart": "lost-during-disconnect",
    "shutdown": "lost-during-disconnect",
}
LOST = "lost-during-disconnect"


def load_truth(path: Path) -> list[dict[str, Any]]:
    """The records of a truth log file (``hotline simulate --truth``), one per call."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


# The truth log's times are cut to the millisecond, and a fault injected at a moment may race
# an event raised in the same instant: outages are widened by this much on both sides.
EDGE = dt.timedelta(milliseconds=20)


@dataclass(frozen=True)
class _Windows:
    outages: tuple[Outage, ...]

    def inside(self, moment: dt.datetime | None) -> bool:
        return moment is not None and any(a - EDGE <= moment <= b + EDGE for a, b in self.outages)

    def overlap(self, start: dt.datetime | None, end: dt.datetime | None) -> bool:
        """Does an outage fall (partly) between ``start`` and ``end``?"""
        if start is None or end is None:
            return False
        return any(a - EDGE <= end and b + EDGE >= start for a, b in self.outages)

    def __bool__(self) -> bool:
        return bool(self.outages)


def expected_disposition(rec: TruthRecord) -> str:
    """The disposition hotline must store for a call, from what the PBX saw (design.md)."""
    said = rec.get("variables", {}).get("HOTLINE_DISPOSITION")
    if said:
        return str(said)
    if rec.get("answered_by"):
        return "answered"
    caller_left = rec.get("ended_by") == "caller"
    rang_an_agent = any(o.get("ringing_at") for o in rec.get("offers", []))
    if rang_an_agent or rec.get("variables", {}).get("HOTLINE_QUEUE"):
        return "abandoned" if caller_left else "missed"
    if rec.get("answered_at"):
        # the IVR ended it (ivr_only), or the caller hung up on the IVR: gave up (abandoned)
        return "abandoned" if caller_left else "ivr_only"
    return "abandoned" if caller_left else "missed"


def dropped_call(rec: TruthRecord) -> bool:
    """Did a conversation end because a line dropped? The truth log's ``dropped`` names a
    side whose line dropped while bridged; it ended the conversation only if that side went
    first (``ended_by``): a line dropping just after the other side hung up is an ordinary
    end (design.md: the first side to go decides)."""
    dropped = rec.get("dropped")
    return bool(dropped and rec.get("answered_by") and rec.get("ended_by") == dropped)


def expected_end_reason(rec: TruthRecord) -> str | None:
    if dropped_call(rec):
        return f"{rec['dropped']}-lost"
    return END_REASON.get(str(rec.get("ended_by")))


def compare_db_with_truth(
    engine: Engine,
    truth: Iterable[TruthRecord] | Path,
    *,
    pbx: str = "pbx1",
    region: str = "CN",
    outages: Sequence[Outage] = (),
    tolerance: float = 0.5,
) -> list[str]:
    """Every way the stored calls of ``pbx`` differ from the truth log (empty: none)."""
    records = load_truth(truth) if isinstance(truth, Path) else list(truth)
    windows = _Windows(tuple(outages))
    slack = dt.timedelta(seconds=tolerance)
    with Session(engine) as s:
        calls = s.scalars(
            select(Call).where(Call.pbx == pbx).options(selectinload(Call.legs))
        ).all()
        extension_of = dict(s.execute(select(Agent.id, Agent.extension)).all())
        tasks = s.scalars(select(OutboundTask).where(OutboundTask.type == "dropped-call")).all()
        out: list[str] = []
        stored = Counter(c.linkedid for c in calls)
        out += [f"call {lid} stored {n} times" for lid, n in stored.items() if n > 1]
        by_linkedid = {c.linkedid: c for c in calls}
        known = Counter(str(r["linkedid"]) for r in records)
        out += [f"call {lid} is {n} times in the truth log" for lid, n in known.items() if n > 1]
        out += [
            f"call {c.linkedid} ({c.caller_number}) is stored but the PBX never had it"
            for c in calls if c.linkedid not in known
        ]
        tasks_by_key: dict[str, list[OutboundTask]] = {}
        for task in tasks:
            tasks_by_key.setdefault(task.dedupe_key or "", []).append(task)
        for rec in records:
            lid = str(rec["linkedid"])
            call = by_linkedid.get(lid)
            if call is None:
                arrived, ended = _time(rec.get("arrived_at")), _time(rec.get("ended_at"))
                unseen = windows.inside(arrived) and windows.inside(ended)
                out.append(f"call {lid} ({rec.get('caller_number')}) is not stored"
                           + (" (it began and ended while the AMI link was down)" if unseen else ""))
                continue
            problems = _compare_call(call, rec, extension_of, tasks_by_key.pop(f"dropped-call:{pbx}:{lid}", []),
                                     windows, slack, region)
            out += [f"call {lid}: {p}" for p in problems]
        out += [
            f"dropped-call task {key} has no dropped call in the truth log"
            for key in tasks_by_key
            if key.startswith(f"dropped-call:{pbx}:") and key.rpartition(":")[2] not in known
        ]
    return out


def _compare_call(
    call: Call,
    rec: TruthRecord,
    extension_of: Mapping[int, str],
    tasks: list[OutboundTask],
    windows: _Windows,
    slack: dt.timedelta,
    region: str,
) -> list[str]:
    out: list[str] = []

    def differ(what: str, stored: object, real: object) -> None:
        if stored != real:
            out.append(f"{what} is {stored!r}, the PBX says {real!r}")

    arrived, ended = _time(rec.get("arrived_at")), _time(rec.get("ended_at"))
    lost = rec.get("ended_by") in ("restart", "shutdown") or (
        # (at the very edge of an outage the bridge may have seen the end after all: then it
        # must be right about it)
        windows.inside(ended) and call.end_reason in (LOST, None)
    )
    if call.ended_at is None:
        out.append("is still open in the database")
    differ("direction", call.direction, rec.get("direction"))
    if rec.get("direction") == "inbound":
        number = rec.get("caller_number")
        differ("caller number", call.caller_number, try_normalize_phone(number, region) or number)
    if arrived is not None and not windows.inside(arrived) and abs(call.arrived_at - arrived) > slack:
        out.append(f"arrived at {call.arrived_at.isoformat()}, the PBX says {arrived.isoformat()}")
    if ended is not None and call.ended_at is not None:
        if lost:
            # closed at its last sign of life, which cannot be after the real end
            if call.ended_at > ended + slack:
                out.append(f"lost call closed at {call.ended_at.isoformat()}, after its real end {ended.isoformat()}")
        elif abs(call.ended_at - ended) > slack:
            out.append(f"ended at {call.ended_at.isoformat()}, the PBX says {ended.isoformat()}")

    # who answered, and at which ring
    answered_by = rec.get("answered_by")
    agent_ext = extension_of.get(call.answered_by_agent_id) if call.answered_by_agent_id else None
    talk_start = _time(rec.get("talk_started_at"))
    if not (agent_ext is None and answered_by and windows.inside(talk_start)):
        differ("answering agent", agent_ext, answered_by)
    ivr_answer = _time(rec.get("answered_at"))
    ivr_ring = rec.get("answered_at_ring")
    if not (call.rings_at_answer is None and (windows.inside(ivr_answer) or
                                               windows.inside(_time(rec.get("ringing_started_at"))))):
        differ("ring at answer", call.rings_at_answer, ivr_ring)

    out += _compare_offers(call, rec, extension_of, windows, talk_start)

    # how it ended
    if lost:
        differ("end reason", call.end_reason, LOST)
        differ("disposition", call.disposition,
               "answered" if call.answered_by_agent_id is not None else "lost")
        if tasks:
            out.append("a call lost during a disconnect got a dropped-call task")
        return out
    differ("disposition", call.disposition, expected_disposition(rec))
    differ("end reason", call.end_reason, expected_end_reason(rec))
    dropped = dropped_call(rec)
    differ("abnormal end", call.abnormal_end, dropped)
    if not dropped:
        if tasks:
            out.append(f"has {len(tasks)} dropped-call task(s) but did not drop")
        return out
    if len(tasks) != 1:
        out.append(f"dropped ({rec.get('dropped')} side) and has {len(tasks)} dropped-call tasks, not 1")
        return out
    task = tasks[0]
    differ("callback phone", task.phone, try_normalize_phone(rec.get("caller_number"), region))
    differ("callback agent", extension_of.get(task.agent_id) if task.agent_id else None, answered_by)
    differ("callback call", task.call_id, call.id)
    if ended is not None and abs(task.due_at - ended) > slack:
        out.append(f"callback due at {task.due_at.isoformat()}, not when the call dropped ({ended.isoformat()})")
    return out


def _compare_offers(
    call: Call, rec: TruthRecord, extension_of: Mapping[int, str], windows: _Windows,
    talk_start: dt.datetime | None,
) -> list[str]:
    out: list[str] = []
    legs = {leg.channel: leg for leg in call.legs if leg.role == "agent"}
    offers = [o for o in rec.get("offers", []) if o.get("channel") and o.get("extension")]
    seen: set[str] = set()
    for offer in offers:
        channel = offer["channel"]
        seen.add(channel)
        leg = legs.get(channel)
        began = _time(offer.get("offered_at"))
        if leg is None:
            if not windows.inside(began):
                out.append(f"offer to {offer['extension']} ({channel}) has no agent leg")
            continue
        leg_ext = extension_of.get(leg.agent_id) if leg.agent_id else None
        if leg_ext != offer["extension"]:
            out.append(f"leg {channel} belongs to agent {leg_ext!r}, the PBX rang {offer['extension']!r}")
        outcome = offer.get("outcome")
        expected = DIAL_STATUS.get(str(outcome))
        end = _time(offer.get("ended_at"))
        # how the offer ended (for an answer: until the caller was connected) may have gone by
        # while the bridge could not see it
        decided = talk_start if outcome == "answered" and talk_start is not None else end
        unknown_ok = windows.overlap(began, decided)
        if expected is not None and not (leg.dial_status is None and unknown_ok):
            if leg.dial_status != expected:
                out.append(f"offer to {offer['extension']} ended {leg.dial_status!r}, the PBX says "
                           f"{outcome} ({expected})")
        if outcome == "answered":
            ring = offer.get("answered_at_ring")
            if not (leg.rings_at_answer is None and unknown_ok) and leg.rings_at_answer != ring:
                out.append(f"agent {offer['extension']} answered at ring {leg.rings_at_answer!r}, "
                           f"the PBX says {ring!r}")
    for channel in legs:
        if channel not in seen:
            out.append(f"agent leg {channel} was never offered by the PBX")
    return out


def assert_db_matches_truth(
    engine: Engine,
    truth: list[dict[str, Any]],
    *,
    keep: Path,
    outages: Sequence[Outage] = (),
    **options: Any,
) -> None:
    """Fail with every disagreement, leaving the truth log and the outages in
    ``keep/truth-vs-db.json`` to look at."""
    problems = compare_db_with_truth(engine, truth, outages=outages, **options)
    if not problems:
        return
    path = keep / "truth-vs-db.json"
    path.write_text(json.dumps({
        "outages": [[a.isoformat(), b.isoformat()] for a, b in outages], "truth": truth,
    }, ensure_ascii=False, indent=1), encoding="utf-8")
    raise AssertionError(f"{len(problems)} disagreement(s) with the truth log (kept in {path}):\n"
                         + "\n".join(problems))

