"""Calls through hotline's own dialplan (deploy/asterisk/extensions.conf) as the bridge and the
IVR will see them: ring counts, agents that answer, ring on, are busy, reject or are not
registered, callers who give up or drop, feature codes, recordings, Originate."""

from __future__ import annotations

import asyncio
import socket
import wave
from pathlib import Path

import pytest

from pbxsim.behaviours import (
    AgentBehaviour,
    AgentFlag,
    AgentSpec,
    CallerBehaviour,
    CallerSpec,
    CustomerBehaviour,
)
from pbxsim.config import SimConfig
from tests.pbxsim.helpers import SPEED, Ami, IvrPlan, TestIvr, running

P = 5.0  # ring period of the default cadence (1 s on, 4 s off)


def config(tmp_path: Path, ivr: TestIvr | None = None, **kw: object) -> SimConfig:
    kw.setdefault("agi_url", ivr.url if ivr is not None else "agi://127.0.0.1:9")
    return SimConfig(ami_port=0, speed=SPEED, record_dir=tmp_path / "rec",
                     truth_log=tmp_path / "truth.jsonl", **kw)  # type: ignore[arg-type]


async def start_ivr(plan: IvrPlan) -> TestIvr:
    ivr = TestIvr(plan, SPEED)
    await ivr.start()
    return ivr


def caller(number: str = "13800000001", **kw: object) -> CallerSpec:
    kw.setdefault("digits", ["1"])
    kw.setdefault("talk_time", 10.0)
    return CallerSpec(number=number, dnid="4008001234", behaviour=CallerBehaviour(**kw))  # type: ignore[arg-type]


async def test_inbound_call_answered_by_ivr_at_ring_3_and_by_an_agent_at_ring_2(tmp_path: Path) -> None:
    ivr = await start_ivr(IvrPlan(agents=["1001"]))
    async with running(config(tmp_path, ivr)) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=2)))
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(talk_time=10.0))
        rec = await asyncio.wait_for(call.ended, 20)
        uid = call.channel.uniqueid
        new = await ami.wait_event("Newchannel", Channel=call.name)
        assert (new["ChannelStateDesc"], new["Context"], new["Exten"], new["CallerIDNum"]) == (
            "Ring", "hotline-inbound", "4008001234", "13800000001")
        ringing = await ami.wait_event("AGIExecEnd", Command="EXEC Ringing")
        assert ringing["ChannelStateDesc"] == "Ring"  # EXEC Ringing gives no Newstate
        up = await ami.wait_event("Newstate", Channel=call.name, ChannelStateDesc="Up")
        assert f"HOTLINE_CALL_ID={uid}" in up["ChanVariable*"]
        begin = await ami.wait_event("DialBegin", Channel=call.name)
        agent_chan = begin["DestChannel"]
        assert agent_chan.startswith("PJSIP/1001-") and begin["DialString"] == "1001"
        assert f"HOTLINE_CALL_ID={uid}" in begin["DestChanVariable*"]  # __HOTLINE_CALL_ID inherited
        await ami.wait_event("DialState", DestChannel=agent_chan, DialStatus="RINGING")
        await ami.wait_event("DialEnd", DestChannel=agent_chan, DialStatus="ANSWER")
        await ami.wait_event("BridgeEnter", Channel=agent_chan)
        await ami.wait_event("BridgeEnter", Channel=call.name)
        hangup = await ami.wait_event("Hangup", Channel=call.name)
        assert (hangup["Cause"], hangup["Cause-txt"]) == ("16", "Normal Clearing")
        await ami.close()
    await ivr.stop()
    assert rec["answered_at_ring"] == 3
    assert (rec["answered_by"], rec["answered_by_ring"]) == ("1001", 2)
    assert rec["talk_seconds"] == pytest.approx(10.0, abs=1.0)
    assert rec["ended_by"] == "caller" and rec["hangup_cause"] == 16
    assert rec["digits_sent"] == ["1"] and rec["digits_received"] == ["1"]
    assert rec["variables"]["HOTLINE_CALL_ID"] == uid
    assert rec["variables"]["HOTLINE_CATEGORY"] == "consultation"
    assert [o["outcome"] for o in rec["offers"]] == ["answered"]


async def test_ring_deadline_enforced_over_ami_moves_the_call_to_the_next_agent(tmp_path: Path) -> None:
    """The bridge's ring-5 rule: AMI Hangup Cause 19 of a ringing agent leg ends that Dial with
    NOANSWER at once; the IVR dials the next agent."""
    ivr = await start_ivr(IvrPlan(agents=["1003", "1001"]))
    async with running(config(tmp_path, ivr)) as sim:
        sim.add_agent(AgentSpec("1003", AgentBehaviour(mode="never")))
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=3)))
        bridge = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(talk_time=5.0))
        state = await bridge.wait_event("DialState", DialStatus="RINGING")
        leg = state["DestChannel"]
        assert leg.startswith("PJSIP/1003-")
        await asyncio.sleep(5 * P / SPEED)
        reply = await bridge.action("Hangup", Channel=leg, Cause="19")
        assert reply["Message"] == "Channel Hungup"
        end = await bridge.wait_event("DialEnd", DestChannel=leg)
        gone = await bridge.wait_event("Hangup", Channel=leg)
        assert end["DialStatus"] == "NOANSWER"
        assert (gone["Cause"], gone["Cause-txt"]) == ("19", "User alerting, no answer")
        nxt = await bridge.wait_event("DialBegin", Channel=call.name, DialString="1001")
        assert nxt["DestChannel"].startswith("PJSIP/1001-")
        rec = await asyncio.wait_for(call.ended, 20)
        await bridge.close()
    await ivr.stop()
    replies = dict((c, r) for c, r in ivr.calls[0].replies if c.startswith("EXEC Dial PJSIP/1003"))
    assert list(replies.values()) == ["200 result=0"]
    statuses = [r for c, r in ivr.calls[0].replies if c == "GET VARIABLE DIALSTATUS"]
    assert statuses == ["200 result=1 (NOANSWER)", "200 result=1 (ANSWER)"]
    first, second = rec["offers"]
    assert (first["extension"], first["outcome"], first["cause"]) == ("1003", "noanswer", 19)
    assert first["rings"] in (5, 6)
    assert (second["extension"], second["outcome"], second["answered_at_ring"]) == ("1001", "answered", 3)
    assert rec["answered_by"] == "1001"


async def test_busy_rejecting_and_unregistered_phones(tmp_path: Path) -> None:
    ivr = await start_ivr(IvrPlan(agents=["1002", "1003", "1004", "1001"]))
    async with running(config(tmp_path, ivr)) as sim:
        sim.add_agent(AgentSpec("1002", AgentBehaviour(mode="busy")))
        sim.add_agent(AgentSpec("1003", AgentBehaviour(mode="reject", answer_after=1.0)))
        sim.add_agent(AgentSpec("1004", AgentBehaviour(registered=False)))
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=1)))
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(talk_time=3.0))
        rec = await asyncio.wait_for(call.ended, 20)
        await ami.settle(call.name)
        ends = {e["DestChannel"].split("-")[0]: e["DialStatus"] for e in ami.seen("DialEnd")}
        causes = {e["Channel"].split("-")[0]: (e["Cause"], e["Cause-txt"]) for e in ami.seen("Hangup")}
        await ami.close()
    await ivr.stop()
    assert ends == {"PJSIP/1002": "BUSY", "PJSIP/1003": "NOANSWER", "PJSIP/1001": "ANSWER"}
    assert causes["PJSIP/1002"] == ("17", "User busy")
    assert causes["PJSIP/1003"] == ("21", "Call Rejected")
    assert "PJSIP/1004" not in causes  # an unregistered phone gets no channel at all
    statuses = [r for c, r in ivr.calls[0].replies if c == "GET VARIABLE DIALSTATUS"]
    assert statuses == ["200 result=1 (BUSY)", "200 result=1 (CHANUNAVAIL)", "200 result=1 (CHANUNAVAIL)",
                        "200 result=1 (ANSWER)"]
    assert [(o["extension"], o["outcome"]) for o in rec["offers"]] == [
        ("1002", "busy"), ("1003", "rejected"), ("1004", "unavailable"), ("1001", "answered")]


async def test_caller_who_gives_up_while_the_agent_rings_is_abandoned(tmp_path: Path) -> None:
    ivr = await start_ivr(IvrPlan(agents=["1003"], dial_timeout=60))
    async with running(config(tmp_path, ivr)) as sim:
        sim.add_agent(AgentSpec("1003", AgentBehaviour(mode="never")))
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(patience=25.0))
        rec = await asyncio.wait_for(call.ended, 20)
        request = await ami.wait_event("HangupRequest", Channel=call.name)
        end = await ami.wait_event("DialEnd", Channel=call.name)
        final = await ami.wait_event("Hangup", Channel=call.name)
        await ami.close()
    await ivr.stop()
    assert "Cause" not in request  # the caller's BYE outside a bridge carries no cause
    assert end["DialStatus"] == "CANCEL"
    assert final["Cause"] == "0"
    assert rec["abandoned"] is True and rec["ended_by"] == "caller" and rec["answered_by"] is None
    assert rec["abandoned_during"] == "agent_ringing"
    assert rec["offers"][0]["outcome"] == "cancelled"
    assert ivr.calls[0].hangup_notice  # the IVR was told with the HANGUP line


@pytest.mark.parametrize("leg", ["caller", "agent"])
async def test_a_dropped_line_hangs_up_with_cause_38(tmp_path: Path, leg: str) -> None:
    ivr = await start_ivr(IvrPlan(agents=["1001"]))
    async with running(config(tmp_path, ivr)) as sim:
        agent_drop = 3.0 if leg == "agent" else None
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=1, drop_after=agent_drop)))
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(drop_after=3.0 if leg == "caller" else None, talk_time=30.0))
        rec = await asyncio.wait_for(call.ended, 20)
        await ami.settle(call.name)
        hangups = {e["Channel"].split("-")[0]: e["Cause"] for e in ami.seen("Hangup")}
        await ami.close()
    await ivr.stop()
    dropped = "PJSIP/carrier" if leg == "caller" else "PJSIP/1001"
    assert hangups[dropped] == "38"
    assert rec["dropped"] == leg
    assert rec["talk_seconds"] == pytest.approx(3.0, abs=0.8)
    assert rec["ended_by"] == ("caller" if leg == "caller" else "agent")


async def test_agent_flags_an_abusive_caller_with_a_feature_code(tmp_path: Path) -> None:
    ivr = await start_ivr(IvrPlan(agents=["1001"]))
    async with running(config(tmp_path, ivr)) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=1)))
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(label="abusive", talk_time=8.0,
                                           agent_flags=[AgentFlag("*71", after=2.0)]))
        rec = await asyncio.wait_for(call.ended, 20)
        await ami.settle(call.name)
        received = [(e["Channel"].split("-")[0], e["Digit"]) for e in ami.seen("DTMFEnd", Direction="Received")]
        sent = [(e["Channel"].split("-")[0], e["Digit"]) for e in ami.seen("DTMFEnd", Direction="Sent")]
        await ami.close()
    await ivr.stop()
    assert ("PJSIP/1001", "*") in received
    assert [d for c, d in received if c == "PJSIP/1001"] == ["*", "7", "1"]
    assert [d for c, d in sent if c == "PJSIP/carrier"] == ["*", "7", "1"]
    assert rec["label"] == "abusive"
    assert [(f["extension"], f["code"]) for f in rec["flags"]] == [("1001", "*71")]


async def test_mixmonitor_b_records_the_conversation_only(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    ivr = await start_ivr(IvrPlan(agents=["1001"], record=str(spool)))
    async with running(config(tmp_path, ivr)) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=2)))
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(talk_time=6.0))
        await ami.wait_event("MixMonitorStart", Channel=call.name)
        path = spool / f"{call.channel.uniqueid}.wav"
        with wave.open(str(path)) as w:  # opened at once, as app_mixmonitor does
            assert w.getnframes() == 0
        rec = await asyncio.wait_for(call.ended, 20)
        await sim.flush()
        await ami.settle(call.name)
        assert not ami.seen("MixMonitorStop")  # the caller hung up while recording
        await ami.close()
    await ivr.stop()
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        seconds = w.getnframes() / 8000
    assert seconds == pytest.approx(rec["talk_seconds"], abs=0.3)  # not the ringing before it
    assert rec["recordings"] == [{"path": str(path), "seconds": pytest.approx(seconds, abs=0.01)}]


async def test_without_an_agi_server_the_dialplan_tries_for_10_s_then_hangs_up(tmp_path: Path) -> None:
    async with running(config(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(patience=60.0))
        rec = await asyncio.wait_for(call.ended, 10)
        status = await ami.wait_event("VarSet", Channel=call.name, Variable="AGISTATUS")
        step = await ami.wait_event("Newexten", Channel=call.name, Application="Hangup")
        await ami.close()
    assert status["Value"] == "FAILURE"
    assert step["Priority"] == "9"  # the dialplan's n(done)
    assert rec["agi"] == [{"url": "agi://127.0.0.1:9/inbound", "status": "FAILURE"}] * 10
    assert rec["ended_by"] == "pbx" and rec["hangup_cause"] == 16
    assert rec["answered_at_ring"] is None


async def test_a_caller_arriving_while_hotline_restarts_is_taken_when_it_is_back(tmp_path: Path) -> None:
    """The FastAGI server is down (hotline restarting): the dialplan holds the caller and tries
    again each second, so the IVR takes the call once it listens, and rings from then on."""
    ivr = TestIvr(IvrPlan(agents=["1001"]), SPEED)
    with socket.socket() as probe:  # a port nothing listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with running(config(tmp_path, agi_url=f"agi://127.0.0.1:{port}")) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=2)))
        call = await sim.place_call(caller(talk_time=5.0, patience=60.0))
        await asyncio.sleep(3.5 / SPEED)  # hotline is back 3.5 simulated seconds later
        await ivr.start(port)
        rec = await asyncio.wait_for(call.ended, 20)
    await ivr.stop()
    statuses = [a["status"] for a in rec["agi"]]
    assert statuses[:-1] == ["FAILURE"] * (len(statuses) - 1) and 3 <= len(statuses) - 1 <= 5
    assert statuses[-1] != "FAILURE"
    assert rec["answered_at_ring"] == 3  # counted from the IVR's ringing, not from the arrival
    assert rec["answered_by"] == "1001" and rec["ended_by"] == "caller"


async def test_hangup_notice_and_dead_channel_rules(tmp_path: Path) -> None:
    """The caller hangs up during WAIT FOR DIGIT: -1, then HANGUP; the socket stays open;
    GET VARIABLE still works, WAIT FOR DIGIT gets 511; Hangup comes after the server closes."""
    lines: list[str] = []
    closed = asyncio.Event()
    proceed = asyncio.Event()

    async def agi(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\n", b""):
            pass

        async def cmd(text: str, n: int = 1) -> None:
            writer.write((text + "\n").encode())
            for _ in range(n):
                lines.append((await reader.readline()).decode().rstrip("\n"))

        await cmd("ANSWER")
        await cmd("WAIT FOR DIGIT 60000", 2)
        await proceed.wait()
        await cmd("GET VARIABLE HOTLINE_CALL_ID")
        await cmd("WAIT FOR DIGIT 100")
        await cmd("VERBOSE done 1")
        writer.close()
        closed.set()

    server = await asyncio.start_server(agi, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with running(config(tmp_path, agi_url=f"agi://127.0.0.1:{port}")) as sim:
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(hangup_after_answer=1.0, digits=[]))
        await ami.wait_event("HangupRequest", Channel=call.name)
        await asyncio.sleep(0.2)
        assert not ami.seen("Hangup", Channel=call.name)  # still there: the AGI has not closed
        proceed.set()
        await closed.wait()
        await ami.wait_event("Hangup", Channel=call.name)
        await ami.close()
    server.close()
    assert lines[1:3] == ["200 result=-1", "HANGUP"]
    assert lines[3] == f"200 result=1 ({call.channel.uniqueid})"
    assert lines[4] == "511 Command Not Permitted on a dead channel or intercept routine"
    assert lines[5] == "200 result=1"


async def test_originate_agent_first_callback(tmp_path: Path) -> None:
    """hotline-outbound: the agent's phone rings first; once it answers, the customer is dialled."""
    async with running(config(tmp_path)) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=1)))
        sim.set_customer("13900000001", CustomerBehaviour(answer_after=4.0,
                                                          in_call=CallerBehaviour(talk_time=6.0)))
        ami = await Ami.connect(sim.ami_port)
        reply = await ami.action("Originate", Channel="PJSIP/1001", Context="hotline-outbound",
                                 Exten="13900000001", Priority="1", Timeout="30000", Async="true",
                                 CallerID='"Hotline" <4008001234>', Variable="HOTLINE_ATTEMPT_ID=42")
        assert reply["Message"] == "Originate successfully queued"
        result = await ami.wait_event("OriginateResponse")
        assert (result["Response"], result["Reason"]) == ("Success", "4")
        assert result["Channel"].startswith("PJSIP/1001-")
        begin = await ami.wait_event("DialBegin", Channel=result["Channel"])
        customer = begin["DestChannel"]
        assert customer.startswith("PJSIP/carrier-") and begin["DialString"] == "13900000001@carrier"
        assert "HOTLINE_ATTEMPT_ID=42" in begin["DestChanVariable*"]
        await ami.wait_event("DialEnd", DestChannel=customer, DialStatus="ANSWER")
        await ami.wait_event("Hangup", Channel=customer)
        await sim.wait_idle(10)
        await ami.close()
    rec = [r for r in sim.truth if r["direction"] == "outbound"][0]
    assert rec["originate"]["attempt_id"] == "42" and rec["originate"]["reason"] == 4
    assert [o["outcome"] for o in rec["offers"]] == ["answered", "answered"]
    assert rec["talk_seconds"] == pytest.approx(6.0, abs=1.0)
    assert rec["ended_by"] == "customer"


@pytest.mark.parametrize(("channel", "reason", "uniqueid_known"), [
    ("PJSIP/1004", "0", False),  # not registered: no channel at all
    ("PJSIP/1003", "3", False),  # rings until the Timeout
    ("PJSIP/1002", "5", False),  # busy
])
async def test_originate_failures_report_asterisk_reasons(tmp_path: Path, channel: str, reason: str,
                                                          uniqueid_known: bool) -> None:
    async with running(config(tmp_path)) as sim:
        sim.add_agent(AgentSpec("1004", AgentBehaviour(registered=False)))
        sim.add_agent(AgentSpec("1003", AgentBehaviour(mode="never")))
        sim.add_agent(AgentSpec("1002", AgentBehaviour(mode="busy")))
        ami = await Ami.connect(sim.ami_port)
        t0 = asyncio.get_running_loop().time()
        await ami.action("Originate", Channel=channel, Context="hotline-outbound", Exten="13900000001",
                         Timeout="8000", Async="true", Variable="HOTLINE_ATTEMPT_ID=7")
        result = await ami.wait_event("OriginateResponse", timeout=10)
        elapsed = (asyncio.get_running_loop().time() - t0) * SPEED
        await ami.close()
    assert (result["Response"], result["Reason"]) == ("Failure", reason)
    assert result["Uniqueid"] == "<unknown>" and result["Channel"] == channel
    if reason == "3":
        assert elapsed == pytest.approx(8.0, abs=1.0)  # the Timeout, in simulated seconds
    assert any(r["originate"] and r["originate"]["attempt_id"] == "7" for r in sim.truth)


async def test_customer_first_outbound_runs_the_outbound_ivr(tmp_path: Path) -> None:
    ivr = await start_ivr(IvrPlan(agents=["1001"], menu=False))
    async with running(config(tmp_path, ivr)) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=2)))
        sim.set_customer("13900000009", CustomerBehaviour(answer_after=3.0, in_call=CallerBehaviour(talk_time=5.0)))
        ami = await Ami.connect(sim.ami_port)
        await ami.action("Originate", Channel="PJSIP/13900000009@carrier", Context="hotline-outbound-ivr",
                         Exten="s", Async="true", Variable="HOTLINE_ATTEMPT_ID=9")
        result = await ami.wait_event("OriginateResponse")
        await ami.wait_event("Hangup", Channel=result["Channel"], timeout=20)
        await ami.close()
    await ivr.stop()
    env = ivr.calls[0].env
    assert env["agi_network_script"] == "outbound"
    assert env["agi_channel"] == result["Channel"] and env["agi_channel"].startswith("PJSIP/carrier-")
    rec = [r for r in sim.truth if r["originate"]][0]
    assert rec["answered_by"] == "1001" and rec["variables"]["HOTLINE_ATTEMPT_ID"] == "9"


WARNING_DIALPLAN = """
[general]
[globals]
HOTLINE_AGI = agi://127.0.0.1:4573
[hotline-inbound]
exten => _X.,1,Set(__HOTLINE_CALL_ID=${UNIQUEID})
 same => n,AGI(${HOTLINE_AGI}/inbound)
 same => n,Hangup()
[hotline-warning]
exten => s,1,Playback(warning)
 same => n,Wait(2)
 same => n,Hangup()
[agent-hold]
exten => s,1,MusicOnHold(default,2)
 same => n,Hangup()
"""


async def test_dual_redirect_out_of_an_agi_dial(tmp_path: Path) -> None:
    """The recordings issue's warning: both legs of a conversation the IVR bridged with EXEC Dial
    are redirected; the Dial returns, the AGI is told HANGUP, and each leg runs its new place."""
    ivr = await start_ivr(IvrPlan(agents=["1001"], menu=False))
    conf = config(tmp_path, ivr, dialplan_text=WARNING_DIALPLAN, sound_durations={"warning": 1.0})
    async with running(conf) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=1)))
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(talk_time=60.0))
        begin = await ami.wait_event("DialBegin", Channel=call.name)
        agent = begin["DestChannel"]
        await ami.wait_event("BridgeEnter", Channel=call.name)
        reply = await ami.action("Redirect", Channel=call.name, Context="hotline-warning", Exten="s",
                                 Priority="1", ExtraChannel=agent, ExtraContext="agent-hold",
                                 ExtraExten="s", ExtraPriority="1")
        assert reply["Message"] == "Dual Redirect successful"
        await ami.wait_event("BridgeDestroy")
        played = await ami.wait_event("Newexten", Channel=call.name, Context="hotline-warning", Priority="2")
        held = await ami.wait_event("MusicOnHoldStart", Channel=agent)
        assert played["Application"] == "Wait" and held["Context"] == "agent-hold"
        rec = await asyncio.wait_for(call.ended, 20)
        await ami.close()
    await ivr.stop()
    dial = [r for c, r in ivr.calls[0].replies if c.startswith("EXEC Dial")]
    assert dial == ["200 result=0"] and ivr.calls[0].hangup_notice
    assert rec["redirects"] == [f"{agent}->agent-hold,s", f"{call.name}->hotline-warning,s"]
    assert rec["answered_by"] == "1001"


async def test_talk_resumed_after_a_warning_counts_in_the_truth(tmp_path: Path) -> None:
    """hotline's [hotline-warning]: the caller is taken out of the conversation to hear a
    prompt while the agent waits, then Bridge() joins them again. The truth's talk time (and
    the bridged-only recording) hold both stretches of conversation, not the prompt."""
    ivr = await start_ivr(IvrPlan(agents=["1001"], menu=False, record=str(tmp_path / "rec")))
    async with running(config(tmp_path, ivr, sound_durations={"warning": 1.0})) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=1)))
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(caller(talk_time=10.0))  # hangs up 10 s after the answer
        agent = (await ami.wait_event("DialBegin", Channel=call.name))["DestChannel"]
        await ami.wait_event("BridgeEnter", Channel=call.name)
        await ami.action("Setvar", Channel=call.name, Variable="HOTLINE_AGENT_CHANNEL", Value=agent)
        for chan in (call.name, agent):
            await ami.action("Setvar", Channel=chan, Variable="HOTLINE_PROMPT", Value="warning")
        await ami.action("Redirect", Channel=call.name, Context="hotline-warning", Exten="warn",
                         Priority="1", ExtraChannel=agent, ExtraContext="hotline-warning",
                         ExtraExten="agent-wait", ExtraPriority="1")
        rejoined = await ami.wait_event("BridgeEnter", Channel=call.name)
        rec = await asyncio.wait_for(call.ended, 20)
        await sim.flush()
        await ami.close()
    await ivr.stop()
    assert rejoined["BridgeNumChannels"] == "2"
    # out of the conversation: the 1 s prompt, plus the IVR closing its AGI session (the
    # channel waits for it) and the dialplan steps, in simulated seconds at SPEED
    assert 10.0 - 1.0 - 0.8 <= rec["talk_seconds"] <= 10.0 - 1.0 + 0.05
    # the same stretches as MixMonitor's bridged-only recording (a few ms of real time apart)
    assert [r["seconds"] for r in rec["recordings"]] == [pytest.approx(rec["talk_seconds"], abs=0.3)]
    assert rec["ended_by"] == "caller"


async def test_every_truth_record_has_the_same_fields(tmp_path: Path) -> None:
    """A failed Originate (no channel at all) is logged with the same fields as a call."""
    async with running(config(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        await ami.action("Originate", Channel="PJSIP/nobody", Context="hotline-outbound", Exten="1",
                         Async="true")
        await ami.wait_event("OriginateResponse")
        call = await sim.place_call(caller())
        await asyncio.wait_for(call.ended, 10)
        await ami.close()
    failed, inbound = sim.truth
    assert failed["originate"]["reason"] == 0 and inbound["direction"] == "inbound"
    assert set(failed) == set(inbound)
    lines = (tmp_path / "truth.jsonl").read_text().splitlines()
    assert len(lines) == 2


@pytest.mark.parametrize(("client_time", "expected"), [("simulated", 1.0 / SPEED), ("real", 1.0)])
async def test_client_durations_in_real_or_simulated_seconds(
    tmp_path: Path, client_time: str, expected: float
) -> None:
    """A client compressed by the same speed (hotline in the end-to-end tests) sends real
    seconds; with client_time="real" an Originate Timeout of 1000 ms rings for 1 s of real
    time, not 1/SPEED of it."""
    async with running(config(tmp_path), client_time=client_time) as sim:
        sim.add_agent(AgentSpec("1001", AgentBehaviour(mode="never")))
        ami = await Ami.connect(sim.ami_port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await ami.action("Originate", Channel="PJSIP/1001", Context="hotline-outbound",
                         Exten="13900000001", Priority="1", Timeout="1000", Async="true")
        result = await ami.wait_event("OriginateResponse")
        took = loop.time() - started
        assert result["Reason"] == "3"  # rang out
        assert expected * 0.8 <= took <= expected + 0.5
