"""The ring-5 deadline takes a still-ringing call from the agent, and only then."""

from __future__ import annotations

import asyncio
import datetime as dt

from ami_bridge.frames import AmiMessage
from ami_bridge.policy import RingDeadlines
from ami_bridge.protocol import AmiError
from hotline.domain.events import AgentAnswered, CallEnded, CallOffered
from hotline.domain.ring import RingPolicy

FAST = RingPolicy(on_seconds=0.02, off_seconds=0.08)  # P = 0.1 s: deadline 0.5 s


def offer(n: int, at: dt.datetime | None = None) -> CallOffered:
    return CallOffered(at=at or dt.datetime.now(dt.UTC), call_key=f"pbx1:{n}", agent_id=n,
                       extension=str(n), channel=f"PJSIP/{n}-0000000{n}", uniqueid=f"{n}.2")


class Pbx:
    def __init__(self, fail: bool = False) -> None:
        self.hangups: list[tuple[str, int, float]] = []
        self.fail = fail

    async def hangup(self, channel: str, cause: int) -> None:
        self.hangups.append((channel, cause, asyncio.get_running_loop().time()))
        if self.fail:
            raise AmiError("Hangup", AmiMessage({"Response": "Error", "Message": "No such channel"}))


async def test_a_phone_still_ringing_at_ring_5_is_hung_up_with_cause_19() -> None:
    pbx = Pbx()
    deadlines = RingDeadlines(FAST, pbx.hangup, lambda uid: True)
    start = asyncio.get_running_loop().time()
    deadlines.on_event(offer(1))
    await asyncio.sleep(0.7)
    assert [(c, cause) for c, cause, _t in pbx.hangups] == [("PJSIP/1-00000001", 19)]
    assert pbx.hangups[0][2] - start >= 0.5 - 0.01
    await deadlines.close()


async def test_the_deadline_counts_from_ringing_start_not_from_arrival_of_the_event() -> None:
    pbx = Pbx()
    deadlines = RingDeadlines(FAST, pbx.hangup, lambda uid: True)
    start = asyncio.get_running_loop().time()
    # the offer was already ringing for 0.3 s when it was processed
    deadlines.on_event(offer(1, at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=0.3)))
    await asyncio.sleep(0.4)
    assert len(pbx.hangups) == 1 and pbx.hangups[0][2] - start < 0.35
    await deadlines.close()


async def test_answered_ended_or_no_longer_ringing_phones_are_left_alone() -> None:
    pbx = Pbx()
    ringing = {"1.2", "2.2"}  # leg 3.2 stopped ringing on its own (e.g. Dial gave up)
    deadlines = RingDeadlines(FAST, pbx.hangup, lambda uid: uid in ringing)
    for n in (1, 2, 3):
        deadlines.on_event(offer(n))
    now = dt.datetime.now(dt.UTC)
    deadlines.on_event(AgentAnswered(at=now, call_key="pbx1:1", agent_id=1, extension="1",
                                     channel="PJSIP/1-00000001", ring=3, uniqueid="1.2"))
    deadlines.on_event(CallEnded(at=now, call_key="pbx1:2", disposition="abandoned",
                                 hangup_cause=16, end_reason="caller-hangup", abnormal=False))
    await asyncio.sleep(0.7)
    assert pbx.hangups == []
    assert deadlines.stats.cancelled == 2 and deadlines.stats.stale == 1
    assert deadlines.armed == 0
    await deadlines.close()


async def test_a_thousand_phones_ringing_at_once_each_lose_the_call() -> None:
    pbx = Pbx()
    deadlines = RingDeadlines(FAST, pbx.hangup, lambda uid: True)
    for n in range(1000):
        deadlines.on_event(offer(n))
    assert deadlines.armed == 1000
    await asyncio.sleep(0.8)
    assert len(pbx.hangups) == 1000
    assert {c for c, _cause, _t in pbx.hangups} == {f"PJSIP/{n}-0000000{n}" for n in range(1000)}
    assert len(deadlines.stats.lateness) == 1000
    await deadlines.close()


async def test_a_failed_hangup_is_logged_and_counted(caplog) -> None:  # type: ignore[no-untyped-def]
    pbx = Pbx(fail=True)
    deadlines = RingDeadlines(FAST, pbx.hangup, lambda uid: True)
    deadlines.on_event(offer(1))
    await asyncio.sleep(0.7)
    assert deadlines.stats.failed == 1
    assert "could not hang up PJSIP/1-00000001" in caplog.text
    await deadlines.close()
