"""What other parts ask Asterisk through the bridge, on the wire and back."""

from __future__ import annotations

import asyncio

import pytest

from ami_bridge.actions import AmiPbxActions
from ami_bridge.protocol import ActionTimeout, AmiClient, AmiConfig, AmiError, LinkDown, LinkLost
from tests.ami_bridge.amipeer import FakeAsterisk, PeerConn, ScriptedAmi, msg


def originate_response(action: dict[str, str], ok: bool, reason: str, channel: str, uniqueid: str) -> bytes:
    return msg(("Event", "OriginateResponse"), ("Privilege", "call,all"),
               ("ActionID", action["ActionID"]), ("Response", "Success" if ok else "Failure"),
               ("Channel", channel), ("Context", action["Context"]), ("Exten", action["Exten"]),
               ("Reason", reason), ("Uniqueid", uniqueid), ("CallerIDNum", "4008001234"))


async def started(port: int) -> AmiClient:
    client = AmiClient(AmiConfig(port=port, secret="s", action_timeout=2, reconnect_min=0.05,
                                 reconnect_max=0.1))
    await client.start()
    await client.wait_connected(3)
    return client


async def test_originate_is_sent_once_async_and_returns_the_originate_response() -> None:
    asterisk = FakeAsterisk()

    async def originate(conn: PeerConn, action: dict[str, str]) -> None:
        await conn.reply(action, ("Response", "Success"), ("Message", "Originate successfully queued"))
        await asyncio.sleep(0.05)
        if action["Channel"] == "PJSIP/nobody":
            await conn.send(originate_response(action, False, "0", "PJSIP/nobody", "<unknown>"))
        else:
            await conn.send(originate_response(action, True, "4", "PJSIP/1001-0000000f", "1795.1"))

    asterisk.handlers["originate"] = originate
    async with ScriptedAmi(asterisk.script) as peer:
        client = await started(peer.port)
        pbx = AmiPbxActions(client)
        try:
            ok = await pbx.originate(
                action_id="attempt-41", channel="PJSIP/1001", context="hotline-outbound",
                exten="13812345678", timeout=30, caller_id="4008001234",
                variables={"HOTLINE_ATTEMPT_ID": "41", "HOTLINE_TASK": "7"},
            )
            failed = await pbx.originate(
                action_id="attempt-42", channel="PJSIP/nobody", context="hotline-outbound",
                exten="13812345678", timeout=30, caller_id="4008001234", variables={},
            )
        finally:
            await client.stop()
    assert (ok.success, ok.reason, ok.channel, ok.uniqueid) == (True, 4, "PJSIP/1001-0000000f", "1795.1")
    assert (failed.success, failed.reason, failed.uniqueid) == (False, 0, None)
    sent = [a for a in asterisk.actions if a["Action"] == "Originate"]
    assert [a["ActionID"] for a in sent] == ["attempt-41", "attempt-42"]
    first = sent[0]
    assert (first["Async"], first["Timeout"], first["CallerID"]) == ("true", "30000", "4008001234")
    assert (first["Variable"], first["Variable#2"]) == ("HOTLINE_ATTEMPT_ID=41", "HOTLINE_TASK=7")


async def test_originate_whose_link_drops_is_reported_unknown_and_not_resent() -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        if conn.index == 0:
            action = await conn.read_action()
            await conn.reply(action, ("Response", "Success"), ("Message", "Originate successfully queued"))
            conn.close()  # gone before the OriginateResponse
            return
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = await started(peer.port)
        pbx = AmiPbxActions(client)
        try:
            with pytest.raises(LinkLost):
                await pbx.originate(action_id="attempt-43", channel="PJSIP/1001",
                                    context="hotline-outbound", exten="13812345678", timeout=30,
                                    caller_id="4008001234", variables={})
            await client.wait_connected(3)
            await asyncio.sleep(0.2)
        finally:
            await client.stop()
    assert [a["Action"] for a in peer.all_actions()].count("Originate") == 1


async def test_originate_while_the_link_is_down_is_refused_at_once() -> None:
    client = AmiClient(AmiConfig(port=9, reconnect_min=0.05, reconnect_max=0.1))
    await client.start()
    try:
        with pytest.raises(LinkDown):
            await AmiPbxActions(client).originate(
                action_id="attempt-44", channel="PJSIP/1001", context="hotline-outbound",
                exten="13812345678", timeout=30, caller_id="4008001234", variables={})
    finally:
        await client.stop()


async def test_other_actions_on_the_wire() -> None:
    asterisk = FakeAsterisk()

    async def getvar(conn: PeerConn, action: dict[str, str]) -> None:
        value = "complaint" if action["Variable"] == "HOTLINE_CATEGORY" else ""
        await conn.reply(action, ("Response", "Success"), ("Variable", action["Variable"]), ("Value", value))

    async def mixmonitor_mute(conn: PeerConn, action: dict[str, str]) -> None:
        await conn.reply(action, ("Response", "Error"), ("Message", "Cannot set mute flag"))

    asterisk.handlers["getvar"] = getvar
    asterisk.handlers["stopmixmonitor"] = mixmonitor_mute
    asterisk.channels = [[("Channel", "PJSIP/carrier-1"), ("Uniqueid", "1.1"), ("Linkedid", "1.1"),
                          ("ChannelState", "6"), ("Duration", "00:01:00"),
                          ("ChanVariable", "HOTLINE_CALL_ID=1.1"),
                          ("ChanVariable", "HOTLINE_ATTEMPT_ID=42")]]
    async with ScriptedAmi(asterisk.script) as peer:
        client = await started(peer.port)
        pbx = AmiPbxActions(client)
        try:
            await pbx.redirect("PJSIP/carrier-1", "hotline-warning", "s",
                               extra_channel="PJSIP/1001-2", extra_context="hotline-warning",
                               extra_exten="agent")
            await pbx.setvar("PJSIP/carrier-1", "HOTLINE_DISPOSITION", "abusive")
            assert await pbx.getvar("PJSIP/carrier-1", "HOTLINE_CATEGORY") == "complaint"
            assert await pbx.getvar("PJSIP/carrier-1", "HOTLINE_QUEUE") is None
            await pbx.mixmonitor("PJSIP/carrier-1", "/var/spool/hotline/1.1.wav", "b")
            with pytest.raises(AmiError, match="Cannot set mute flag"):
                await pbx.stop_mixmonitor("PJSIP/carrier-1")
            channels = await pbx.core_show_channels()
        finally:
            await client.stop()
    assert [c["Uniqueid"] for c in channels] == ["1.1"]
    # manager.conf channelvars come with each channel: how the scheduler finds its calls
    assert (channels[0]["HOTLINE_ATTEMPT_ID"], channels[0]["HOTLINE_CALL_ID"]) == ("42", "1.1")
    by_name = {a["Action"]: a for a in asterisk.actions}
    redirect = by_name["Redirect"]
    assert (redirect["Channel"], redirect["Context"], redirect["Exten"], redirect["Priority"]) == (
        "PJSIP/carrier-1", "hotline-warning", "s", "1")
    assert (redirect["ExtraChannel"], redirect["ExtraExten"], redirect["ExtraPriority"]) == (
        "PJSIP/1001-2", "agent", "1")
    assert (by_name["Setvar"]["Variable"], by_name["Setvar"]["Value"]) == ("HOTLINE_DISPOSITION", "abusive")
    assert (by_name["MixMonitor"]["File"], by_name["MixMonitor"]["Options"]) == ("/var/spool/hotline/1.1.wav", "b")


async def test_hangups_sent_without_tasks_are_written_at_once_and_settled_by_their_replies() -> None:
    """The ring-5 deadlines send Hangup from timer callbacks: each action is on the wire when
    the call returns (a thousand falling due together do not wait for one another), and its
    future says how it went: done, refused, or no reply in time."""
    asterisk = FakeAsterisk()
    asterisk.hangup_events = {f"PJSIP/10{n:02d}-00000001": b"" for n in range(50)}

    async def hangup(conn: PeerConn, action: dict[str, str]) -> None:
        if action["Channel"] == "PJSIP/mute-00000001":
            return  # never answered
        channel = action["Channel"]
        if asterisk.hangup_events.pop(channel, None) is not None:
            await conn.reply(action, ("Response", "Success"), ("Message", "Channel Hungup"))
        else:
            await conn.reply(action, ("Response", "Error"), ("Message", "No such channel"))

    asterisk.handlers["hangup"] = hangup
    async with ScriptedAmi(asterisk.script) as peer:
        client = AmiClient(AmiConfig(port=peer.port, secret="s", action_timeout=0.3,
                                     reconnect_min=0.05, reconnect_max=0.1))
        await client.start()
        await client.wait_connected(3)
        pbx = AmiPbxActions(client)
        try:
            before = client.stats.actions_sent
            burst = [pbx.hangup_nowait(f"PJSIP/10{n:02d}-00000001", 19) for n in range(50)]
            assert client.stats.actions_sent - before == 50  # written, not merely scheduled
            gone = pbx.hangup_nowait("PJSIP/gone-00000001", 19)
            mute = pbx.hangup_nowait("PJSIP/mute-00000001", 19)
            results = await asyncio.gather(*burst, gone, mute, return_exceptions=True)
        finally:
            await client.stop()
    assert results[:50] == [None] * 50
    assert isinstance(results[50], AmiError) and results[50].reason == "No such channel"
    assert isinstance(results[51], ActionTimeout)
    sent = [a for a in asterisk.actions if a["Action"] == "Hangup"]
    assert len(sent) == 52 and {a["Cause"] for a in sent} == {"19"}


async def test_an_action_sent_without_a_task_fails_when_the_link_goes() -> None:
    asterisk = FakeAsterisk()

    async def hangup(conn: PeerConn, action: dict[str, str]) -> None:
        conn.close()  # Asterisk goes away before answering

    asterisk.handlers["hangup"] = hangup
    async with ScriptedAmi(asterisk.script) as peer:
        client = await started(peer.port)
        try:
            link = client.manager.protocol
            assert link is not None
            sent = AmiPbxActions(client).hangup_nowait("PJSIP/1001-00000001", 19)
            assert list(link.responses) != []
            with pytest.raises(LinkLost):
                await asyncio.wait_for(sent, 3)
            await asyncio.sleep(0.01)
            assert link.responses == {}  # forgotten, not leaked
        finally:
            await client.stop()
