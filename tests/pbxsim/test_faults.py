"""Faults on demand: every switch is flipped from a test and has the effect a client sees."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pbxsim.behaviours import AgentBehaviour, AgentSpec, CallerBehaviour, CallerSpec
from pbxsim.config import SimConfig
from tests.pbxsim.helpers import SPEED, Ami, running


def cfg(tmp_path: Path, **kw: object) -> SimConfig:
    return SimConfig(ami_port=0, speed=SPEED, record_dir=tmp_path, agi_url="agi://127.0.0.1:9", **kw)  # type: ignore[arg-type]


WAITING = """
[general]
[hotline-inbound]
exten => _X.,1,Answer()
 same => n,Wait(600)
"""


async def raw_login(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"Action: Login\r\nUsername: hotline\r\nSecret: hotline\r\nEvents: off\r\n\r\n")
    assert b"Authentication accepted" in await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def test_drop_ami_cuts_every_connection_and_reconnecting_works(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        a, b = await Ami.connect(sim.ami_port), await Ami.connect(sim.ami_port)
        assert sim.faults.drop_ami() == 2
        await asyncio.wait_for(a.closed.wait(), 2)
        await asyncio.wait_for(b.closed.wait(), 2)
        again = await Ami.connect(sim.ami_port)
        assert (await again.action("Ping"))["Ping"] == "Pong"
        await again.close()


async def test_half_open_keeps_the_socket_but_stops_answering(tmp_path: Path) -> None:
    async with running(cfg(tmp_path, dialplan_text=WAITING)) as sim:
        ami = await Ami.connect(sim.ami_port)
        await ami.wait_event("FullyBooted")
        ami.all_events.clear()
        sim.faults.half_open()
        aid = ami.send("Ping")
        call = await sim.place_call(CallerSpec("13800000001", "400", CallerBehaviour()))
        await asyncio.sleep(0.3)
        assert not ami.closed.is_set()
        assert ami.all_events == []  # no events, no reply
        late = asyncio.get_running_loop().create_future()
        ami.pending[aid] = late
        sim.faults.recover()
        reply = (await asyncio.wait_for(late, 2))[0]  # the Ping sent while silent is answered now
        assert reply["Ping"] == "Pong"
        call.hang_up()
        await ami.wait_event("Hangup", Channel=call.name)
        await ami.close()


async def test_delayed_replies_let_events_overtake(tmp_path: Path) -> None:
    async with running(cfg(tmp_path, dialplan_text=WAITING)) as sim:
        ami = await Ami.connect(sim.ami_port)
        sim.faults.delay_replies(0.4)
        t0 = time.monotonic()
        ping = asyncio.ensure_future(ami.action("Ping"))
        call = await sim.place_call(CallerSpec("13800000001", "400", CallerBehaviour()))
        await ami.wait_event("Newchannel", Channel=call.name)
        assert not ping.done()  # the event came first
        await ping
        assert time.monotonic() - t0 >= 0.4
        sim.faults.delay_replies(0)
        t1 = time.monotonic()
        await ami.action("Ping")
        assert time.monotonic() - t1 < 0.35  # no longer the 0.4 s delay
        call.hang_up()
        await ami.close()


@pytest.mark.parametrize("mode", ["byte", "random"])
async def test_split_frames_still_carry_the_same_bytes(tmp_path: Path, mode: str) -> None:
    async with running(cfg(tmp_path)) as sim:
        reader, writer = await raw_login(sim.ami_port)
        sim.faults.split_frames(mode, pause=0.002)  # type: ignore[arg-type]
        writer.write(b"Action: Ping\r\nActionID: split-1\r\n\r\n")
        chunks: list[bytes] = []
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await asyncio.wait_for(reader.read(4096), 3)
            chunks.append(chunk)
            data += chunk
        sim.faults.split_frames(None)
        assert data.startswith(b"Response: Success\r\nActionID: split-1\r\nPing: Pong\r\nTimestamp: ")
        if mode == "byte":
            assert max(len(c) for c in chunks) <= 2 and len(chunks) > 30
        else:
            assert len(chunks) >= 2
        writer.close()


async def test_malformed_frames_and_invalid_utf8_reach_the_client_verbatim(tmp_path: Path) -> None:
    from pbxsim.faults import INVALID_UTF8_FRAME, MALFORMED_FRAMES

    async with running(cfg(tmp_path)) as sim:
        reader, writer = await raw_login(sim.ami_port)
        sim.faults.send_malformed()
        sim.faults.send_invalid_utf8()
        expected = b"".join(MALFORMED_FRAMES) + INVALID_UTF8_FRAME
        got = await asyncio.wait_for(reader.readexactly(len(expected)), 3)
        assert got == expected
        assert b"\xff\xfe" in got
        writer.write(b"Action: Ping\r\nActionID: after\r\n\r\n")
        assert b"ActionID: after" in await reader.readuntil(b"\r\n\r\n")  # the session goes on
        writer.close()


async def test_restart_forgets_every_channel_and_boots_afresh(tmp_path: Path) -> None:
    async with running(cfg(tmp_path, dialplan_text=WAITING, truth_log=tmp_path / "t.jsonl")) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour()))
        ami = await Ami.connect(sim.ami_port)
        first = await sim.place_call(CallerSpec("13800000001", "400", CallerBehaviour()))
        await ami.wait_event("Newexten", Channel=first.name, Application="Wait")
        await asyncio.sleep(1.1)  # so Uptime is at least 1 before the restart
        booted = await Ami.connect(sim.ami_port)
        before = int((await booted.wait_event("FullyBooted"))["Uptime"])
        await booted.close()
        await sim.restart(down_for=0.2)
        await asyncio.wait_for(ami.closed.wait(), 2)
        assert not ami.seen("Hangup")  # a crash: no hangup events for the lost calls
        ami2 = await Ami.connect(sim.ami_port)
        after = int((await ami2.wait_event("FullyBooted"))["Uptime"])
        assert before >= 1 and after < before
        assert (await ami2.action_list("CoreShowChannels"))[-1]["ListItems"] == "0"
        second = await sim.place_call(CallerSpec("13800000002", "400", CallerBehaviour()))
        assert second.name == first.name  # channel numbering starts again
        assert second.channel.uniqueid.split(".")[1] == first.channel.uniqueid.split(".")[1]
        second.hang_up()
        await asyncio.wait_for(second.ended, 5)
        await ami2.close()
    lost = [r for r in sim.truth if r["uniqueid"] == first.channel.uniqueid]
    assert lost and lost[0]["ended_by"] == "restart"
    assert sim.endpoints.agents["1001"].registered  # registrations outlive the restart
