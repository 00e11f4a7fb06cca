"""Dialplan applications beyond the captures (Goto, MusicOnHold, Congestion, Bridge, Read), an
auto-answering phone, Originate with ChannelId, and ``hotline simulate`` without a scenario."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from hotline.settings import Settings
from pbxsim.behaviours import AgentBehaviour, AgentSpec, CallerBehaviour, CallerSpec
from pbxsim.config import SimConfig
from tests.pbxsim.helpers import SPEED, Ami, running

DIALPLAN = """
[general]
[hotline-inbound]
exten => 100,1,Goto(hold,s,1)
exten => 101,1,Congestion(2)
exten => 104,1,Goto(held-long,s,1)
exten => 105,1,Answer()
 same => n,Dial(PJSIP/${AGENT},30)
 same => n,Hangup()
exten => 102,1,Answer()
 same => n,Read(CHOICE,,2,,,5)
 same => n,GotoIf($["${CHOICE}" = "42"]?ok)
 same => n,Hangup(21)
 same => n(ok),Set(HOTLINE_DISPOSITION=read-${CHOICE})
 same => n,Hangup()
exten => 103,1,Answer()
 same => n,Dial(PJSIP/1001,10)
[hold]
exten => s,1,Answer()
 same => n,MusicOnHold(default,3)
 same => n,Hangup()
[bridger]
exten => s,1,Answer()
 same => n,Bridge(${TARGET})
[held-long]
exten => s,1,Answer()
 same => n,MusicOnHold(default,30)
 same => n,Set(HOTLINE_DISPOSITION=own-next)
 same => n,Hangup()
[bridger-opts]
exten => s,1,Answer()
 same => n,Bridge(${TARGET},${OPTS})
 same => n,Hangup()
[after]
exten => s,1,Set(HOTLINE_DISPOSITION=after-bridge)
 same => n,Hangup()
exten => redirected,1,Set(HOTLINE_DISPOSITION=redirected)
 same => n,Hangup()
[warn]
exten => caller,1,Playback(beep-caller)
 same => n,Bridge(${PEER},F(after^s^1))
 same => n,Hangup()
exten => agent,1,Playback(beep)
 same => n,Wait(2)
 same => n,Hangup()
"""


def cfg(tmp_path: Path) -> SimConfig:
    return SimConfig(ami_port=0, speed=SPEED, record_dir=tmp_path, dialplan_text=DIALPLAN)


def spec(dnid: str, **kw: object) -> CallerSpec:
    return CallerSpec("13800000001", dnid, CallerBehaviour(**kw))  # type: ignore[arg-type]


async def test_goto_and_music_on_hold(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(spec("100"))
        await asyncio.wait_for(call.ended, 5)
        await ami.settle(call.name)
        start = ami.seen("MusicOnHoldStart", Channel=call.name)[0]
        assert start["Class"] == "default" and start["Context"] == "hold"
        assert ami.seen("MusicOnHoldStop", Channel=call.name)
        await ami.close()


async def test_congestion_ends_with_cause_34(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(spec("101"))
        rec = await asyncio.wait_for(call.ended, 5)
        assert (await ami.wait_event("Hangup", Channel=call.name))["Cause"] == "34"
        assert rec["hangup_cause"] == 34
        await ami.close()


async def test_read_collects_the_callers_digits(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        call = await sim.place_call(spec("102", digits=["42"]))
        rec = await asyncio.wait_for(call.ended, 10)
        assert rec["variables"]["HOTLINE_DISPOSITION"] == "read-42"
        silent = await sim.place_call(spec("102", digits=[]))
        assert (await asyncio.wait_for(silent.ended, 10))["hangup_cause"] == 21


async def test_auto_answering_phone_answers_in_the_first_ring(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(mode="auto")))
        call = await sim.place_call(spec("103", hangup_after_answer=2.0))
        rec = await asyncio.wait_for(call.ended, 10)
        assert (rec["answered_by"], rec["answered_by_ring"]) == ("1001", 1)


async def test_bridge_application_joins_two_channels(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        held = await sim.place_call(spec("100", talk_time=2.0))
        await ami.wait_event("MusicOnHoldStart", Channel=held.name)
        reply = await ami.action("Originate", Channel="Local/s@bridger", Application="Wait", Data="30",
                                 Variable=f"TARGET={held.name}", Async="true")
        assert reply["Response"] == "Success"
        enter = await ami.wait_event("BridgeEnter", Channel=held.name)
        assert enter["BridgeNumChannels"] == "1"
        assert (await ami.wait_event("VarSet", Channel=held.name, Variable="BRIDGEPEER"))["Value"].startswith("Local/s@bridger-")
        await asyncio.wait_for(held.ended, 10)  # the held caller talks 2 s, then hangs up
        await ami.wait_event("BridgeDestroy")
        await ami.close()


@pytest.mark.parametrize(("options", "then"), [
    ("F(after^s^1)", "after-bridge"),  # F: the bridged channel goes there
    ("", "own-next"),                  # no option: it goes on at its own next priority
    ("x", None),                       # x: it is hung up
])
async def test_after_bridge_the_bridged_channel_goes_where_bridge_says(
    tmp_path: Path, options: str, then: str | None
) -> None:
    """app_bridge's after-bridge location, as hotline's [hotline-warning] relies on with
    F(hotline-warning^agent-end^1). The bridger here is a Local channel that lives 1 s."""
    async with running(cfg(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        held = await sim.place_call(spec("104"))
        await ami.wait_event("MusicOnHoldStart", Channel=held.name)
        await ami.action("Originate", Channel="Local/s@bridger-opts", Application="Wait", Data="1",
                         Variable=f"TARGET={held.name},OPTS={options}", Async="true")
        rec = await asyncio.wait_for(held.ended, 10)
        await ami.close()
    assert rec["variables"].get("HOTLINE_DISPOSITION") == then
    assert rec["redirects"] == [], "not a Redirect"


async def test_a_redirect_of_the_bridged_channel_wins_over_f(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        held = await sim.place_call(spec("104"))
        await ami.wait_event("MusicOnHoldStart", Channel=held.name)
        await ami.action("Originate", Channel="Local/s@bridger-opts", Application="Wait",
                         Data="30", Variable=f"TARGET={held.name},OPTS=F(after^s^1)",
                         Async="true")
        await ami.wait_event("BridgeEnter", Channel=held.name)
        reply = await ami.action("Redirect", Channel=held.name, Context="after",
                                 Exten="redirected", Priority="1")
        assert reply["Response"] == "Success"
        rec = await asyncio.wait_for(held.ended, 10)
        await ami.close()
    assert rec["variables"]["HOTLINE_DISPOSITION"] == "redirected"
    assert rec["redirects"] == [f"{held.name}->after,redirected"]


async def test_bridge_takes_a_channel_whose_prompt_ends_at_the_same_moment(
    tmp_path: Path
) -> None:
    """hotline's warning: caller and agent hear the same prompt; the caller's Bridge() pulls
    the agent just as the agent's own prompt ends and its Wait begins. The agent must leave
    its Wait for the bridge, not sit it out and hang up (the bridge used to clear the wake-up
    before the agent's Wait had seen it)."""
    config = cfg(tmp_path)
    config.sound_durations = {"beep": 1.0, "beep-caller": 1.01}
    async with running(config) as sim:
        n = 12
        for i in range(n):
            sim.add_agent(AgentSpec(f"30{i:02d}", AgentBehaviour(answer_on_ring=1)))
        ami = await Ami.connect(sim.ami_port)
        calls = []
        for i in range(n):
            calls.append(await sim.place_call(CallerSpec(
                f"1380000{i:04d}", "105", CallerBehaviour(talk_time=3600))))
            await ami.action("Setvar", Channel=calls[-1].name, Variable="AGENT",
                             Value=f"30{i:02d}")
        for call in calls:
            await ami.wait_event("BridgeEnter", Channel=call.name)
        for call in calls:
            agent = next(c for c in call.channel.bridge.channels if c is not call.channel)
            await ami.action("Setvar", Channel=call.name, Variable="PEER", Value=agent.name)
            await ami.action("Redirect", Channel=call.name, Context="warn", Exten="caller",
                             Priority="1", ExtraChannel=agent.name, ExtraContext="warn",
                             ExtraExten="agent", ExtraPriority="1")
        # a busy moment as both prompts end: their timers fire in the same loop iteration
        busy = asyncio.get_running_loop().call_later(0.9 / SPEED, time.sleep, 0.3 / SPEED)
        await asyncio.sleep(4.5 / SPEED)  # the 1 s prompt, then past the agent's Wait(2)
        busy.cancel()
        back = [c for c in calls if c.channel.bridge is not None
                and len(c.channel.bridge.channels) == 2]
        await ami.close()
    assert len(back) == n, f"{n - len(back)} callers lost their agent"


async def test_originate_channel_id_sets_the_uniqueid(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=1, talk_time=1.0)))
        ami = await Ami.connect(sim.ami_port)
        await ami.action("Originate", Channel="PJSIP/1001", Application="Wait", Data="5",
                         ChannelId="hotline-attempt-77", Async="true")
        result = await ami.wait_event("OriginateResponse")
        assert result["Uniqueid"] == "hotline-attempt-77"
        dup = await ami.action("Originate", Channel="PJSIP/1001", Application="Wait", Data="5",
                               ChannelId="hotline-attempt-77", Async="true")
        assert (dup["Response"], dup["Message"]) == ("Error", "Uniqueid already in use.")
        await ami.close()


async def test_simulate_without_a_scenario_serves_until_interrupted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("hotline")), "simulate", "--ami-port", "0",
        cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stderr.readline(), 20)).decode()
        assert "AMI on " in line, line
        port = int(line.split("AMI on ")[1].split(",")[0].rsplit(":", 1)[1])
        ami = await Ami.connect(port, secret=Settings().ami.secret.get_secret_value())
        assert (await ami.action("Ping"))["Ping"] == "Pong"
        await ami.close()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
