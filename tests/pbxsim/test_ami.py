"""The AMI server beyond what the captures show: MD5 login, permissions, event classes and
masks, several clients, the channel actions, and the client library hotline uses (panoramisk)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import panoramisk

from pbxsim.behaviours import AgentBehaviour, AgentSpec, CallerBehaviour, CallerSpec
from pbxsim.config import AmiUser, SimConfig
from tests.pbxsim.helpers import SPEED, Ami, running


def cfg(tmp_path: Path, **kw: object) -> SimConfig:
    return SimConfig(ami_port=0, speed=SPEED, record_dir=tmp_path, agi_url="agi://127.0.0.1:9", **kw)  # type: ignore[arg-type]


def waiting_caller(dnid: str = "4008001234") -> CallerSpec:
    return CallerSpec("13800000009", dnid, CallerBehaviour(digits=[]))


async def test_md5_challenge_login(tmp_path: Path) -> None:
    async with running(cfg(tmp_path, ami_users={"hotline": "s3cret"})) as sim:
        ami = await Ami.connect(sim.ami_port, user="")
        challenge = await ami.action("Challenge", AuthType="MD5")
        key = hashlib.md5((challenge["Challenge"] + "s3cret").encode()).hexdigest()  # noqa: S324
        bad = await Ami.connect(sim.ami_port, user="")
        bad_challenge = await bad.action("Challenge", AuthType="MD5")
        reply = await ami.action("Login", AuthType="MD5", Username="hotline", Key=key)
        assert reply["Message"] == "Authentication accepted"
        booted = await ami.wait_event("FullyBooted")
        assert booted["Status"] == "Fully Booted"
        wrong = hashlib.md5((bad_challenge["Challenge"] + "guess").encode()).hexdigest()  # noqa: S324
        denied = await bad.action("Login", AuthType="MD5", Username="hotline", Key=wrong)
        assert denied["Message"] == "Authentication failed"
        await bad.closed.wait()
        await ami.close()


async def test_write_permission_and_read_classes_follow_manager_conf(tmp_path: Path) -> None:
    """A user like deploy/asterisk/manager.conf's: no 'cdr' or 'security' in read, so no Cdr and
    no security events; 'command' not in write, so Command is refused."""
    users = {"hotline": AmiUser("pw", read="system,call,agent,user,dialplan,agi,dtmf,reporting",
                                write="system,call,originate,agent,user"),
             "admin": AmiUser("pw2")}
    async with running(cfg(tmp_path, ami_users=users)) as sim:
        limited = await Ami.connect(sim.ami_port, secret="pw")
        full = await Ami.connect(sim.ami_port, user="admin", secret="pw2")
        refused = await limited.action("Command", Command="core show version")
        assert (refused["Response"], refused["Message"]) == ("Error", "Permission denied")
        version = await full.action("Command", Command="core show version")
        assert version["Output"].startswith("Asterisk 22.")
        call = await sim.place_call(waiting_caller())
        await asyncio.wait_for(call.ended, 10)
        await full.wait_event("Cdr", Channel=call.name)
        await limited.wait_event("Hangup", Channel=call.name)
        assert not limited.seen("Cdr") and not limited.seen("SuccessfulAuth")
        assert full.seen("SuccessfulAuth")
        await limited.close()
        await full.close()


async def test_each_client_has_its_own_event_stream_and_mask(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        on = await Ami.connect(sim.ami_port)
        off = await Ami.connect(sim.ami_port, events="off")
        calls_only = await Ami.connect(sim.ami_port, events="call")
        call = await sim.place_call(waiting_caller())
        await asyncio.wait_for(call.ended, 10)
        await on.settle(call.name)
        await calls_only.settle(call.name)
        await asyncio.sleep(0.05)
        assert on.seen("Newexten") and on.seen("Newchannel")
        assert calls_only.seen("Newchannel") and not calls_only.seen("Newexten")  # Newexten is 'dialplan'
        assert off.all_events == []
        mask = await off.action("Events", EventMask="on")
        assert mask["Events"] == "On"
        call2 = await sim.place_call(waiting_caller())
        await asyncio.wait_for(call2.ended, 10)
        await off.settle(call2.name)
        assert not off.seen("Newchannel", Channel=call.name)
        for client in (on, off, calls_only):
            await client.close()


async def test_channel_actions(tmp_path: Path) -> None:
    dialplan = """
[general]
[hotline-inbound]
exten => _X.,1,Answer()
 same => n,Wait(30)
 same => n,Hangup()
[parked]
exten => s,1,NoOp(redirected)
 same => n,Wait(30)
"""
    async with running(cfg(tmp_path, dialplan_text=dialplan)) as sim:
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(waiting_caller())
        await ami.wait_event("Newexten", Channel=call.name, Application="Wait")
        assert (await ami.action("Setvar", Channel=call.name, Variable="HOTLINE_CATEGORY",
                                 Value="complaint"))["Message"] == "Variable Set"
        got = await ami.action("Getvar", Channel=call.name, Variable="HOTLINE_CATEGORY")
        assert (got["Variable"], got["Value"]) == ("HOTLINE_CATEGORY", "complaint")
        cid = await ami.action("Getvar", Channel=call.name, Variable="CALLERID(num)")
        assert cid["Value"] == "13800000009"
        status = await ami.action_list("Status", Channel=call.name, Variables="HOTLINE_CATEGORY,NOPE")
        assert [m.get("Event") for m in status] == [None, "Status", "StatusComplete"]
        assert status[1]["Variable*"].split("\n") == ["HOTLINE_CATEGORY=complaint", "NOPE=(null)"]
        assert status[1]["Application"] == "Wait" and status[1]["Type"] == "PJSIP"
        listed = await ami.action_list("CoreShowChannels")
        assert [m["Channel"] for m in listed[1:-1]] == [call.name]
        assert listed[-1]["ListItems"] == "1"
        for action, headers, message in [
            ("Status", {"Channel": "PJSIP/nobody-00000000"}, "No such channel"),
            ("Hangup", {"Channel": "PJSIP/nobody-00000000"}, "No such channel"),
            ("Redirect", {"Channel": "PJSIP/nobody-00000000", "Exten": "s"}, "Channel does not exist: PJSIP/nobody-00000000"),
            ("MixMonitorMute", {"Channel": call.name, "Direction": "both", "State": "1"}, "Cannot set mute flag"),
        ]:
            reply = await ami.action(action, **headers)
            assert (reply["Response"], reply["Message"]) == ("Error", message), action
        moved = await ami.action("Redirect", Channel=call.name, Context="parked", Exten="s", Priority="1")
        assert moved["Message"] == "Redirect successful"
        newexten = await ami.wait_event("Newexten", Channel=call.name, Context="parked")
        assert newexten["Application"] == "Wait"  # the snapshot update still names the old app
        user = await ami.action("UserEvent", UserEvent="HotlineTest", Foo="bar")
        assert user["Message"] == "Event Sent"
        ev = await ami.wait_event("UserEvent", UserEvent="HotlineTest")
        assert ev["Foo"] == "bar" and "Channel" not in ev
        hung = await ami.action("Hangup", Channel=call.name, Cause="16")
        assert hung["Message"] == "Channel Hungup"
        gone = await ami.wait_event("Hangup", Channel=call.name)
        assert gone["Cause"] == "16"
        unknown = await ami.action("Command", Command="frobnicate")
        assert unknown["Response"] == "Error" and "No such command" in unknown["Output"]
        await ami.close()


async def test_registration_events_and_contacts(tmp_path: Path) -> None:
    async with running(cfg(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        empty = await ami.action("PJSIPShowContacts")
        assert empty["Message"] == "No Contacts found"  # Asterisk sends a stray LF after it
        sim.add_agent(AgentSpec("1001", AgentBehaviour()))
        created = await ami.wait_event("ContactStatus", ContactStatus="Created")
        reachable = await ami.wait_event("ContactStatus", ContactStatus="Reachable")
        peer = await ami.wait_event("PeerStatus", Peer="PJSIP/1001")
        dev = await ami.wait_event("DeviceStateChange", Device="PJSIP/1001")
        assert (created["AOR"], reachable["EndpointName"], peer["PeerStatus"], dev["State"]) == (
            "1001", "1001", "Reachable", "NOT_INUSE")
        contacts = await ami.action_list("PJSIPShowContacts")
        assert [c["Endpoint"] for c in contacts[1:-1]] == ["1001"]
        sim.unregister_agent("1001", unreachable=True)
        gone = await ami.wait_event("ContactStatus", ContactStatus="Unreachable")
        assert gone["AOR"] == "1001"
        assert (await ami.wait_event("DeviceStateChange", Device="PJSIP/1001"))["State"] == "UNAVAILABLE"
        states = await ami.action_list("DeviceStateList")
        assert {"Device": "PJSIP/1001", "State": "UNAVAILABLE"}.items() <= next(
            s for s in states if s.get("Device") == "PJSIP/1001").items()
        await ami.close()


async def test_panoramisk_sees_a_normal_asterisk(tmp_path: Path) -> None:
    """hotline's bridge is built on panoramisk: it logs in, pings, runs actions and gets events."""
    async with running(cfg(tmp_path)) as sim:
        manager = panoramisk.Manager(host="127.0.0.1", port=sim.ami_port, username="hotline",
                                     secret="hotline", ping_delay=60)
        seen: list[str] = []
        manager.register_event("Newchannel", lambda m, e: seen.append(e["Channel"]))
        await manager.connect()
        pong = await manager.send_action({"Action": "Ping"})
        assert pong["Ping"] == "Pong"
        call = await sim.place_call(waiting_caller())
        await asyncio.wait_for(call.ended, 10)
        channels = await manager.send_action({"Action": "CoreShowChannels"})
        assert channels[-1]["Event"] == "CoreShowChannelsComplete"
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == [call.name]
        manager.close()


def test_manager_conf_gives_users_and_channel_variables() -> None:
    from pbxsim.config import REPO, read_manager_conf

    users, channel_vars = read_manager_conf(REPO / "deploy" / "asterisk" / "manager.conf")
    assert channel_vars == SimConfig().channel_vars == ("HOTLINE_CALL_ID", "HOTLINE_ATTEMPT_ID", "HOTLINE_CATEGORY")
    hotline = users["hotline"]
    assert hotline.secret == "change-me"
    assert "dtmf" in hotline.read and "cdr" not in hotline.read.split(",")
    assert "originate" in hotline.write


async def test_timestampevents_stamps_every_event_but_not_list_items(tmp_path: Path) -> None:
    """manager.conf ``timestampevents = yes`` (deploy/asterisk/manager.conf): manager.c writes
    ``Timestamp: <sec>.<usec>`` right after Privilege in every event it raises; items of a list
    action's answer are not events raised, and carry none."""
    import time

    async with running(cfg(tmp_path, timestamp_events=True)) as sim:
        ami = await Ami.connect(sim.ami_port)
        before = time.time()
        call = await sim.place_call(waiting_caller())
        newchannel = await ami.wait_event("Newchannel", Channel=call.name)
        await asyncio.wait_for(call.ended, 10)
        sim.add_agent(AgentSpec("1001", AgentBehaviour()))
        listed = await ami.action_list("DeviceStateList")
        hangup = await ami.wait_event("Hangup", Channel=call.name)
        booted = ami.all_events[0]
        await ami.close()
    for event in (booted, newchannel, hangup):
        assert list(event)[:3] == ["Event", "Privilege", "Timestamp"], event
        seconds, _, micros = event["Timestamp"].partition(".")
        assert len(micros) == 6
        assert before - 5 <= float(event["Timestamp"]) <= time.time()
    assert booted["Event"] == "FullyBooted"
    assert float(newchannel["Timestamp"]) <= float(hangup["Timestamp"])
    items = [i for i in listed if i.get("Event") == "DeviceStateChange"]
    assert items and all("Timestamp" not in i for i in items)
