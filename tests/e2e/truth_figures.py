"""Report figures computed from pbxsim's truth log alone: what really happened to each call,
with no hotline code in between, so a report test can compare the API's numbers with these.

The definitions follow docs/design.md (*Calls in reports*), restated on the truth's terms:

- offered: every inbound call;
- answered: an agent talked to the caller (``answered_by``);
- abandoned: the caller hung up before talking to an agent (``abandoned``);
- missed: nobody answered, the caller did not hang up, and the IVR settled nothing itself (no
  ``HOTLINE_DISPOSITION``: silent line, callback booked, after-hours notice...);
- speed of answer: arrival to the start of the conversation; handle time: start of the
  conversation to the end of the call;
- ring at answer: the ring in which the caller's channel was answered (``answered_at_ring``);
  service level: answered in rings 3 to 5 over answered in any ring;
- per agent (by extension): calls whose phone rang (offers), answered, ring-no-answer (offers
  that ended ``noanswer``), abandoned while ringing (``cancelled``), and the share of the
  agent's own answers in rings 3 to 5 of their phone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

WINDOW = (3, 5)


def _at(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts)


def _seconds(a: str, b: str) -> float:
    return (_at(b) - _at(a)).total_seconds()


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class AgentTruth:
    offered: int = 0
    answered: int = 0
    ring_no_answer: int = 0
    abandoned_ringing: int = 0
    own_answers: list[int] = field(default_factory=list)  # the agent phone's ring at answer

    @property
    def in_window(self) -> float | None:
        lo, hi = WINDOW
        return _share(sum(lo <= r <= hi for r in self.own_answers), len(self.own_answers))


@dataclass
class TruthFigures:
    offered: int
    answered: int
    abandoned: int
    missed: int
    asa_seconds: float | None
    aht_seconds: float | None
    ring_at_answer: Counter[int]
    service_level: float | None
    by_category: Counter[str | None]
    agents: dict[str, AgentTruth]

    @property
    def ring_answered(self) -> int:
        return sum(self.ring_at_answer.values())


def figures(records: list[dict[str, Any]]) -> TruthFigures:
    inbound = [r for r in records if r["direction"] == "inbound"]
    answered = [r for r in inbound if r["answered_by"]]
    abandoned = [r for r in inbound if r["abandoned"]]
    missed = [r for r in inbound if not r["answered_by"] and not r["abandoned"]
              and "HOTLINE_DISPOSITION" not in r["variables"]]
    rings = Counter(r["answered_at_ring"] for r in inbound if r["answered_at_ring"] is not None)
    lo, hi = WINDOW
    agents: dict[str, AgentTruth] = {}
    for r in inbound:
        rang: set[str] = set()
        for offer in r["offers"]:
            ext = offer["extension"]
            if offer["ringing_at"] is None:
                continue  # never rang (unavailable): not offered to that agent
            a = agents.setdefault(ext, AgentTruth())
            if ext not in rang:
                a.offered += 1
                rang.add(ext)
            if offer["outcome"] == "noanswer":
                a.ring_no_answer += 1
            elif offer["outcome"] == "cancelled":
                a.abandoned_ringing += 1
            elif offer["outcome"] == "answered":
                a.own_answers.append(offer["answered_at_ring"])
        if r["answered_by"]:
            agents.setdefault(r["answered_by"], AgentTruth()).answered += 1
    return TruthFigures(
        offered=len(inbound),
        answered=len(answered),
        abandoned=len(abandoned),
        missed=len(missed),
        asa_seconds=fmean(_seconds(r["arrived_at"], r["talk_started_at"]) for r in answered)
        if answered else None,
        aht_seconds=fmean(_seconds(r["talk_started_at"], r["ended_at"]) for r in answered)
        if answered else None,
        ring_at_answer=rings,
        service_level=_share(sum(n for ring, n in rings.items() if lo <= ring <= hi),
                             sum(rings.values())),
        by_category=Counter(r["variables"].get("HOTLINE_CATEGORY") for r in inbound),
        agents=agents,
    )
