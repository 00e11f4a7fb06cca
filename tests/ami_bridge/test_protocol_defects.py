"""Each panoramisk defect of protocol-notes §2, reproduced by a scripted Asterisk.

hotline's client is panoramisk's ``Manager`` and ``AMIProtocol`` with the defective methods
overridden (``ami_bridge/protocol.py``); each test names the override that works around its
defect. Every test runs against hotline's client (must pass) and against bare panoramisk, the
same classes without the overrides (strict expected failure: the scenario really triggers the
defect, so the test fails without the workaround).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from ami_bridge import protocol
from ami_bridge.protocol import ActionTimeout, LinkLost
from tests.ami_bridge.amipeer import BANNER, PeerConn, ScriptedAmi, msg
from tests.ami_bridge.clients import OurClient, PanoramiskClient


def clients(defect: str, override: str) -> pytest.MarkDecorator:
    """``override``: the method(s) of hotline's client that work around ``defect``, each
    checked to be defined by that class itself (so the name stays true)."""
    for name in override.split(", "):
        cls_name, _, method = name.partition(" ")[0].partition(".")
        cls = getattr(protocol, cls_name)
        assert method in vars(cls), f"{cls_name} does not override {method}"
    return pytest.mark.parametrize(
        "make_client",
        [
            pytest.param(OurClient, id="hotline"),
            pytest.param(
                PanoramiskClient, id="panoramisk",
                marks=pytest.mark.xfail(strict=True, reason=f"panoramisk defect: {defect}"),
            ),
        ],
    )


NEWCHANNEL = [
    ("Event", "Newchannel"), ("Privilege", "call,all"), ("Channel", "PJSIP/carrier-0000001c"),
    ("ChannelState", "4"), ("ChannelStateDesc", "Ring"), ("CallerIDNum", "13812345678"),
]


@clients("KeyError on '…successfully queued' replies to actions without Async (#90, #97)",
         "HotlineProtocol.handle_message")
async def test_successfully_queued_reply_without_async_is_an_ordinary_reply(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        action = await conn.read_action()
        assert action["Action"] == "PlayDTMF"
        await conn.reply(action, ("Response", "Success"), ("Message", "DTMF successfully queued"))
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        await client.start()
        try:
            reply = await client.action(
                {"Action": "PlayDTMF", "Channel": "PJSIP/1001-00000001", "Digit": "1"}, patience=2
            )
            assert reply.get("Message") == "DTMF successfully queued"
            # and the link is still alive for the next action
            pong = await client.action({"Action": "Ping"}, patience=2)
            assert pong.get("Ping") == "Pong"
        finally:
            await client.close()


@clients("async Originate resolves only with the OriginateResponse (#88, #89)",
         "HotlineProtocol.handle_message")
async def test_async_originate_returns_when_queued_not_when_dialled(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        action = await conn.read_action()
        assert action["Action"] == "Originate"
        await conn.reply(action, ("Response", "Success"), ("Message", "Originate successfully queued"))
        await conn.serve_pings()  # the OriginateResponse would come when the callee answers

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        await client.start()
        try:
            started = time.monotonic()
            reply = await client.action({
                "Action": "Originate", "Channel": "PJSIP/1001", "Context": "hotline-outbound",
                "Exten": "13812345678", "Priority": "1", "Async": "true", "Timeout": "30000",
            }, patience=2)
            assert reply.get("Message") == "Originate successfully queued"
            assert time.monotonic() - started < 1.0
        finally:
            await client.close()


@clients("no timeout on send_action: an unanswered action hangs forever (code)",
         "HotlineManager.send_action")
async def test_unanswered_action_times_out_by_itself(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        await conn.idle()  # reads the action, never answers

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port, action_timeout=0.3)
        await client.start()
        try:
            started = time.monotonic()
            with pytest.raises(ActionTimeout, match="CoreShowChannels"):
                await client.action({"Action": "CoreShowChannels"}, patience=2)
            assert time.monotonic() - started < 1.0
        finally:
            await client.close()


@clients("keepalive never notices a half-open link (code)",
         "HotlineManager.ping")
async def test_half_open_link_is_noticed_and_replaced(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        if conn.index == 0:
            await conn.idle()  # TCP stays up, nothing is ever answered again
        else:
            await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port, ping_interval=0.2, ping_timeout=0.3)
        await client.start()
        try:
            # ping after 0.2 s, declared dead 0.3 s later, back-off at most 0.2 s
            assert await peer.wait_connections(2, timeout=2.5), "the dead link was never replaced"
        finally:
            await client.close()


@clients("unanswered actions replayed after reconnect, only on FullyBooted (code)",
         "HotlineProtocol.close, HotlineManager.send_awaiting_actions")
async def test_originate_is_never_sent_twice_across_a_reconnect(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        if conn.index == 0:
            # a session without 'system' read permission: no FullyBooted
            await conn.login(fully_booted=False)
            action = await conn.read_action()
            assert action["Action"] == "Originate"
            conn.close()  # the link dies before the reply
            return
        await conn.login(fully_booted=True)
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        await client.start()
        try:
            originate = asyncio.ensure_future(client.action({
                "Action": "Originate", "Channel": "PJSIP/13812345678@carrier",
                "Context": "hotline-outbound-ivr", "Exten": "s", "Priority": "1",
                "Async": "true", "ActionID": "attempt-7",
            }, patience=2))
            assert await peer.wait_connections(2, timeout=3)
            await asyncio.sleep(0.5)  # time for any replay to arrive
            originates = [a for a in peer.all_actions() if a["Action"] == "Originate"]
            assert len(originates) == 1, "the Originate was dialled twice"
            # and its owner learnt at once that the outcome is unknown
            with pytest.raises(LinkLost):
                await originate
        finally:
            await client.close()


@clients("coroutine callbacks started with ensure_future and never awaited (code, #91)",
         "HotlineManager.dispatch (EventDispatcher)")
async def test_async_handlers_are_finished_and_owned_when_the_client_closes(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        for n in range(5):
            await conn.send(msg(*NEWCHANNEL, ("Uniqueid", f"1795390124.{n}"),
                                ("Linkedid", f"1795390124.{n}")))
        await conn.serve_pings()

    handled: list[str] = []

    async def slow(event) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        if event.get("Event") == "Newchannel":
            handled.append(event.get("Uniqueid"))

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        client.add_async_handler(slow)
        await client.start()
        for _ in range(100):
            if sum(1 for e in client.events if e.get("Event") == "Newchannel") == 5:
                break
            await asyncio.sleep(0.01)
        await client.close()
        # everything queued was handled before close() returned, and nothing runs unowned
        assert handled == [f"1795390124.{n}" for n in range(5)]
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()
                     and "slow" in repr(t.get_coro())]
        assert leftovers == []


@clients("decoding per TCP chunk with errors='ignore' loses a character split between reads",
         "HotlineProtocol.data_received (Framer)")
async def test_name_split_inside_a_utf8_character_arrives_whole(make_client) -> None:
    event = msg(*NEWCHANNEL, ("CallerIDName", "张三"), ("Uniqueid", "1.1"), ("Linkedid", "1.1"))

    async def script(conn: PeerConn) -> None:
        await conn.login()
        await conn.send_split(event, size=1)
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        await client.start()
        try:
            for _ in range(200):
                if any(e.get("Event") == "Newchannel" for e in client.events):
                    break
                await asyncio.sleep(0.01)
            names = [e.get("CallerIDName") for e in client.events if e.get("Event") == "Newchannel"]
            assert names == ["张三"]
        finally:
            await client.close()


@clients("errors='ignore' silently drops bytes that are not UTF-8",
         "HotlineProtocol.data_received (Framer)")
async def test_bytes_that_are_not_utf8_are_replaced_visibly(make_client) -> None:
    head = msg(*NEWCHANNEL, ("Uniqueid", "1.2"), ("Linkedid", "1.2"))[:-2]
    event = head + b"CallerIDName: caf\xe9\r\n\r\n"  # latin-1, not UTF-8

    async def script(conn: PeerConn) -> None:
        await conn.login()
        await conn.send(event)
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        await client.start()
        try:
            for _ in range(200):
                if any(e.get("Event") == "Newchannel" for e in client.events):
                    break
                await asyncio.sleep(0.01)
            names = [e.get("CallerIDName") for e in client.events if e.get("Event") == "Newchannel"]
            assert names == ["caf\ufffd"]
        finally:
            await client.close()


@clients("the version is parsed only when the banner arrives first and whole",
         "HotlineProtocol.data_received (Framer)")
async def test_banner_split_across_packets_still_gives_the_version(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.send(BANNER[:13])
        await asyncio.sleep(0.05)
        await conn.send(BANNER[13:])
        action = await conn.read_action()
        await conn.reply(action, ("Response", "Success"), ("Message", "Authentication accepted"))
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        await client.start()
        try:
            assert client.version == "11.0.0"
        finally:
            await client.close()


@clients("a lone ChanVariable is a string, so getdict('ChanVariable') raises TypeError",
         "HotlineProtocol.data_received (AmiMessage.chanvars)")
async def test_channel_variables_are_read_however_many_there_are(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        await conn.send(msg(*NEWCHANNEL, ("Uniqueid", "1.3"), ("Linkedid", "1.3"),
                            ("ChanVariable", "HOTLINE_CALL_ID=1.3")))
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        await client.start()
        try:
            for _ in range(200):
                if any(e.get("Event") == "Newchannel" for e in client.events):
                    break
                await asyncio.sleep(0.01)
            event = next(e for e in client.events if e.get("Event") == "Newchannel")
            assert client.chanvars(event) == {"HOTLINE_CALL_ID": "1.3"}
        finally:
            await client.close()



@clients("a value with a line break is written as it is: it injects headers, or a whole action",
         "HotlineAction.__init__")
async def test_a_value_with_a_line_break_is_refused_not_written(make_client) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = make_client(peer.port)
        await client.start()
        try:
            with pytest.raises(ValueError, match="line break"):
                await client.action({
                    "Action": "Originate", "Channel": "PJSIP/13812345678@carrier", "Async": "true",
                    "CallerID": "张三\r\n\r\nAction: Hangup\r\nChannel: PJSIP/1002-00000001",
                }, patience=1)
            pong = await client.action({"Action": "Ping"}, patience=2)
            assert pong.get("Ping") == "Pong"
        finally:
            await client.close()
    # nothing of the refused action reached Asterisk
    assert not any(a["Action"] in ("Hangup", "Originate") for a in peer.all_actions())
