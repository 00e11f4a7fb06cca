"""The AMI bridge when the link to Asterisk misbehaves in the middle of traffic.

A dropped connection, a half-open one (Asterisk hung: the socket stays, nothing comes), an
Asterisk restart, frames cut into pieces, frames that are not AMI and bytes that are not UTF-8:
the bridge must neither crash nor lose nor duplicate a call. The database is judged by pbxsim's
truth log; calls that ended while the bridge could not see them must be closed as
``lost-during-disconnect`` (tests/e2e/truth.py, ``outages``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from pbxsim import AgentBehaviour, Scenario
from tests.e2e.stack import Stack, running_stack
from tests.e2e.truth import assert_db_matches_truth

SPEED = 20.0
AGENTS = {
    "1001": AgentBehaviour(answer_on_ring=2, talk_time=(10, 30)),
    "1002": AgentBehaviour(answer_on_ring=3),
    "1003": AgentBehaviour(answer_on_ring=4, drop_after=(5, 15)),
    "1004": AgentBehaviour(answer_on_ring=(2, 4)),
    "1005": AgentBehaviour(answer_on_ring=3, talk_time=(8, 25)),
    "1006": AgentBehaviour(answer_on_ring=(3, 5)),
}
# A Ping unanswered for 0.3 s marks the link dead, so the longest outage (half-open) is under
# a second: every call lasts longer (over 40 simulated seconds, 2 s), none can begin and end
# unseen.
QUICK_PING = {"ping_interval": 0.3, "ping_timeout": 0.3}
TRAFFIC = {
    "seed": 41,
    "arrival": {"interval": 2.0},
    "mix": [
        {"name": "talks", "weight": 5, "digits": ["1"], "talk_time": [10, 30], "patience": 300},
        {"name": "caller-drops", "weight": 1, "digits": ["1"], "drop_after": [5, 15],
         "patience": 300},
    ],
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def _resynchronised(stack: Stack, since: int) -> dt.datetime:
    """Wait until the bridge has resynchronised after a reconnection; when it had."""
    bridge = stack.runtime.bridge
    await _until(lambda: bridge.resyncs > since)
    return _now()


def _traffic(calls: int) -> Scenario:
    return Scenario.from_dict({**TRAFFIC, "calls": calls})


def _no_handler_failed(stack: Stack) -> None:
    stats = stack.runtime.bridge.client.events.stats()
    assert all(s.errors == 0 for s in stats.values()), stats


async def test_dropped_and_half_open_links_lose_and_duplicate_no_call(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path
) -> None:
    outages: list[tuple[dt.datetime, dt.datetime]] = []
    async with running_stack(tmp_path, sqlite_engine, str(sqlite_engine.url), sounds, AGENTS,
                             speed=SPEED, wrap_up_seconds=5 / SPEED, timestamp_events=True,
                             ami=QUICK_PING) as stack:
        bridge, sim = stack.runtime.bridge, stack.sim
        run = asyncio.ensure_future(sim.run_scenario(_traffic(16)))
        await asyncio.sleep(1.2)

        # the connection is reset under the bridge's feet
        resyncs, cut = bridge.resyncs, _now()
        assert sim.faults.drop_ami() == 1
        outages.append((cut, await _resynchronised(stack, resyncs)))
        await asyncio.sleep(0.8)

        # Asterisk hangs: the socket stays open, nothing comes; a Ping unanswered for
        # ping_timeout tells the bridge, which connects again
        resyncs, cut = bridge.resyncs, _now()
        disconnects = bridge.client.stats.disconnects
        sim.faults.half_open()
        await _until(lambda: bridge.client.stats.disconnects > disconnects, timeout=5.0)
        sim.faults.recover()
        outages.append((cut, await _resynchronised(stack, resyncs)))
        assert bridge.client.stats.ping_failures == 1

        records = (await run).records
        await bridge.writer.flush(10)
        truth = list(sim.truth)
        _no_handler_failed(stack)
        connects = bridge.client.stats.connects

    assert connects == 3
    assert len(records) == len(truth) == 16
    assert_db_matches_truth(sqlite_engine, truth, outages=outages, keep=tmp_path)


async def test_split_malformed_and_invalid_utf8_frames_change_nothing(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path
) -> None:
    """Nothing is lost here, so the database must match the truth log exactly, without any
    allowance for outages: frames cut anywhere are put together again, frames that are not
    AMI and bytes that are not UTF-8 are skipped or replaced, and the link stays up."""
    async with running_stack(tmp_path, sqlite_engine, str(sqlite_engine.url), sounds, AGENTS,
                             speed=SPEED, wrap_up_seconds=5 / SPEED, timestamp_events=True) as stack:
        bridge, sim = stack.runtime.bridge, stack.sim
        run = asyncio.ensure_future(sim.run_scenario(_traffic(10)))
        await asyncio.sleep(0.5)
        sim.faults.split_frames("random")
        await asyncio.sleep(1.5)
        sim.faults.send_malformed()
        sim.faults.send_invalid_utf8()
        sim.faults.split_frames("byte")  # (one write per byte: pbxsim falls behind quickly)
        await asyncio.sleep(0.1)
        sim.faults.send_invalid_utf8()
        sim.faults.split_frames(None)
        sim.faults.send_malformed()
        await run
        await bridge.writer.flush(10)
        truth = list(sim.truth)
        _no_handler_failed(stack)
        link = (bridge.client.stats.connects, bridge.client.stats.disconnects)

    assert link == (1, 0)
    assert_db_matches_truth(sqlite_engine, truth, keep=tmp_path)


async def test_calls_cut_by_an_asterisk_restart_are_closed_and_later_calls_followed(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path
) -> None:
    async with running_stack(tmp_path, sqlite_engine, str(sqlite_engine.url), sounds, AGENTS,
                             speed=SPEED, wrap_up_seconds=5 / SPEED, timestamp_events=True) as stack:
        bridge, sim = stack.runtime.bridge, stack.sim
        before = asyncio.ensure_future(sim.run_scenario(_traffic(8)))
        await asyncio.sleep(2.4)  # calls at every stage: IVR, ringing agents, talking
        resyncs, cut = bridge.resyncs, _now()
        await sim.restart(down_for=0.5)
        lost = await before
        outage = (cut, await _resynchronised(stack, resyncs))
        for agent_id in stack.agents.values():  # the agents' desks carry on
            await bridge.set_ready(agent_id)
        after = await sim.run_scenario(Scenario.from_dict({**TRAFFIC, "seed": 42, "calls": 4}))
        await bridge.writer.flush(10)
        truth = list(sim.truth)
        _no_handler_failed(stack)

    assert sum(1 for r in lost.records if r["ended_by"] == "restart") >= 3
    assert all(r["ended_by"] != "restart" for r in after.records)
    assert_db_matches_truth(sqlite_engine, truth, outages=[outage], keep=tmp_path)
