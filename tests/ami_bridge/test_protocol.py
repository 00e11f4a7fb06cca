"""hotline's AMI client against scripted peers: matching by ActionID, lists, login, links."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from ami_bridge.frames import AmiMessage, Framer
from ami_bridge.protocol import (
    ActionTimeout,
    AmiClient,
    AmiConfig,
    AmiError,
    LinkDown,
    backoff_delay,
)
from hotline.devtools.captures import load
from tests.ami_bridge.amipeer import BANNER, PeerConn, ScriptedAmi, msg


def config(port: int, **kw: object) -> AmiConfig:
    base: dict[str, object] = dict(
        port=port, username="hotline", secret="s3cret-value", ping_interval=30.0,
        ping_timeout=5.0, action_timeout=2.0, reconnect_min=0.05, reconnect_max=0.2,
    )
    base.update(kw)
    return AmiConfig(**base)  # type: ignore[arg-type]


def core_show_channel(action_id: str, uniqueid: str) -> bytes:
    return msg(("Event", "CoreShowChannel"), ("ActionID", action_id),
               ("Channel", f"PJSIP/carrier-{uniqueid}"), ("Uniqueid", uniqueid),
               ("Linkedid", uniqueid), ("ChannelState", "6"))


async def test_two_concurrent_lists_get_their_own_items_when_interleaved() -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        a = await conn.read_action()
        b = await conn.read_action()
        ida, idb = a["ActionID"], b["ActionID"]
        start = ("EventList", "start")
        await conn.reply(a, ("Response", "Success"), start, ("Message", "Channels will follow"))
        await conn.reply(b, ("Response", "Success"), start, ("Message", "Channels will follow"))
        await conn.send(core_show_channel(ida, "1.1") + core_show_channel(idb, "2.1"))
        # an ordinary event in the middle of both lists
        await conn.send(msg(("Event", "Newchannel"), ("Privilege", "call,all"),
                            ("Channel", "PJSIP/carrier-9"), ("Uniqueid", "9.9"), ("Linkedid", "9.9")))
        await conn.send(core_show_channel(ida, "1.2"))
        await conn.send(msg(("Event", "CoreShowChannelsComplete"), ("ActionID", idb),
                            ("EventList", "Complete"), ("ListItems", "1")))
        await conn.send(msg(("Event", "CoreShowChannelsComplete"), ("ActionID", ida),
                            ("EventList", "Complete"), ("ListItems", "2")))
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = AmiClient(config(peer.port))
        seen: list[str] = []
        client.events.add(lambda e: seen.append(e.name), name="rec")
        await client.start()
        await client.wait_connected(2)
        try:
            (ra, items_a), (rb, items_b) = await asyncio.gather(
                client.send_list("CoreShowChannels"), client.send_list("CoreShowChannels")
            )
            assert [i["Uniqueid"] for i in items_a] == ["1.1", "1.2"]
            assert [i["Uniqueid"] for i in items_b] == ["2.1"]
            assert ra.get("EventList") == "start"
            # list items are replies, not events; the ordinary event went to the handlers
            assert "CoreShowChannel" not in seen
            assert "Newchannel" in seen
        finally:
            await client.stop()


async def test_late_and_duplicate_replies_never_land_on_the_next_action() -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        first = await conn.read_action()  # answered too late
        second = await conn.read_action()
        await conn.reply(first, ("Response", "Success"), ("Message", "late reply to the first"))
        await conn.send(msg(("Response", "Success"), ("Message", "reply without ActionID")))
        await conn.reply(second, ("Response", "Success"), ("Ping", "Pong"))
        await conn.reply(second, ("Response", "Success"), ("Ping", "duplicate"))
        third = await conn.read_action()
        await conn.reply(third, ("Response", "Error"), ("Message", "No such channel"))
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = AmiClient(config(peer.port, action_timeout=0.2))
        await client.start()
        await client.wait_connected(2)
        try:
            with pytest.raises(ActionTimeout):
                await client.send_action("Status")
            pong = await client.send_action("Ping", timeout=2)
            assert pong.get("Ping") == "Pong"
            with pytest.raises(AmiError, match="No such channel"):
                await client.send_action("Hangup", {"Channel": "PJSIP/x-1", "Cause": 16}, timeout=2)
            assert client.stats.late_replies >= 2
        finally:
            await client.stop()


async def test_refused_login_is_retried_with_backoff_and_the_secret_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.send(BANNER)
        action = await conn.read_action()
        await asyncio.sleep(0.2)  # Asterisk waits (1 s) before refusing
        await conn.reply(action, ("Response", "Error"), ("Message", "Authentication failed"))
        conn.close()

    caplog.set_level(logging.DEBUG)
    async with ScriptedAmi(script) as peer:
        client = AmiClient(config(peer.port))
        await client.start()
        try:
            assert await peer.wait_connections(3, timeout=3)
            assert not client.connected
            with pytest.raises(LinkDown):
                await client.send_action("Ping")
        finally:
            await client.stop()
    assert "Authentication failed" in caplog.text
    assert "s3cret-value" not in caplog.text
    assert peer.conns[0].actions[0]["Secret"] == "s3cret-value"


async def test_link_callbacks_follow_loss_and_return() -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        if conn.index == 0:
            await asyncio.sleep(0.1)
            conn.close()
            return
        await conn.serve_pings()

    links: list[bool] = []
    async with ScriptedAmi(script) as peer:
        client = AmiClient(config(peer.port), on_link=lambda up, _d: links.append(up))
        await client.start()
        try:
            assert await peer.wait_connections(2, timeout=3)
            await client.wait_connected(2)
            assert links == [True, False, True]
        finally:
            await client.stop()
    assert links == [True, False, True, False]
    # stop() logged off politely
    assert peer.conns[1].actions[-1]["Action"] == "Logoff"


async def test_originate_response_reaches_its_waiter_and_the_event_handlers() -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        action = await conn.read_action()
        await conn.reply(action, ("Response", "Success"), ("Message", "Originate successfully queued"))
        await asyncio.sleep(0.05)
        await conn.send(msg(("Event", "OriginateResponse"), ("Privilege", "call,all"),
                            ("ActionID", action["ActionID"]), ("Response", "Failure"),
                            ("Channel", "PJSIP/nobody"), ("Reason", "0"), ("Uniqueid", "<unknown>")))
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = AmiClient(config(peer.port))
        seen: list[str] = []
        client.events.add(lambda e: seen.append(e.name), name="rec")
        await client.start()
        await client.wait_connected(2)
        try:
            waiter = client.expect_event("OriginateResponse", "attempt-3")
            reply = await client.send_action(
                "Originate", {"Channel": "PJSIP/nobody", "Async": "true"}, action_id="attempt-3"
            )
            assert reply["Message"] == "Originate successfully queued"
            result = await asyncio.wait_for(waiter, 2)
            assert result["Reason"] == "0" and result["Uniqueid"] == "<unknown>"
            assert "OriginateResponse" in seen
        finally:
            await client.stop()


def test_framer_gives_the_same_messages_however_the_stream_is_cut() -> None:
    stream = load("03").streams["ami-mon"]
    data = b"".join(m.wire() for m in stream.ami("<<"))
    whole = list(Framer().feed(data))
    assert len(whole) == len(stream.ami("<<")) - 1  # the banner is not a message
    for size in (1, 2, 3, 5, 64, 1500):
        framer = Framer()
        got = []
        for i in range(0, len(data), size):
            got.extend(framer.feed(data[i:i + size]))
        assert [m.headers for m in got] == [m.headers for m in whole], size
        assert framer.version == "11.0.0"


def test_framer_keeps_repeated_headers_and_strips_a_stray_line_feed() -> None:
    framer = Framer()
    data = (BANNER + b"Response: Success\r\nActionID: 4\r\nMessage: Command output follows\r\n"
            b"Output: System uptime: 2 hours\r\nOutput: Last reload: 1 hour\r\n\r\n"
            b"Response: Error\r\nActionID: 5\r\nMessage: No Contacts found\n\r\n\r\n")
    out, err = list(framer.feed(data))
    assert out.values("Output") == ["System uptime: 2 hours", "Last reload: 1 hour"]
    assert err["Message"] == "No Contacts found"


def test_framer_reads_legacy_and_peer_channel_variables() -> None:
    cap = load("08")
    events = [e for s in cap.streams.values() if not s.is_agi for e in s.events()]
    framer = Framer()
    framer.feed(b"")
    parsed = [next(iter(Framer().feed(BANNER + e.wire()))) for e in events]
    success = [p for p in parsed if p.name == "OriginateResponse" and p["Response"] == "Success"]
    assert success and success[0].chanvars()["HOTLINE_CALL_ID"].startswith("hl-")
    dial = [p for p in parsed if p.name == "DialBegin"]
    assert all("HOTLINE_CALL_ID" in p.chanvars("Dest") for p in dial)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [[backoff_delay(n, 0.5, 30.0, rng) for _ in range(200)] for n in range(10)]
    for n, sample in enumerate(delays):
        cap = min(30.0, 0.5 * 2 ** n)
        assert all(0.5 <= d <= cap for d in sample)
        if cap > 0.5:
            assert max(sample) - min(sample) > cap / 4  # really jittered
    assert max(delays[9]) > 15  # it grows up to the cap


async def test_events_nobody_wants_are_skipped_unparsed_but_list_items_never() -> None:
    def var(name: str) -> bytes:
        return msg(("Event", "VarSet"), ("Privilege", "dialplan,all"), ("Channel", "PJSIP/x-1"),
                   ("Uniqueid", "1.1"), ("Variable", name), ("Value", "v"))

    async def script(conn: PeerConn) -> None:
        await conn.login()
        await conn.send(var("RTPAUDIOQOS") + var("HOTLINE_CATEGORY") + msg(
            ("Event", "RTCPSent"), ("Privilege", "reporting,all"), ("Channel", "PJSIP/x-1")))
        action = await conn.read_action()
        await conn.reply(action, ("Response", "Success"), ("EventList", "start"),
                         ("Message", "Channels will follow"))
        await conn.send(core_show_channel(action["ActionID"], "1.1") + msg(
            ("Event", "CoreShowChannelsComplete"), ("ActionID", action["ActionID"]),
            ("EventList", "Complete"), ("ListItems", "1")))
        await conn.serve_pings()

    def hotline_only(src: bytes | bytearray, start: int, end: int) -> bool:
        return b"Variable: HOTLINE_" in src[start:end]

    async with ScriptedAmi(script) as peer:
        client = AmiClient(config(peer.port))
        seen: list[str] = []
        client.events.add(lambda e: seen.append(e["Variable"]), name="vars", events=("VarSet",),
                          raw_filters={"VarSet": hotline_only})
        await client.start()
        await client.wait_connected(2)
        try:
            _reply, items = await client.send_list("CoreShowChannels")
            assert [i["Uniqueid"] for i in items] == ["1.1"]
            assert seen == ["HOTLINE_CATEGORY"]
            # the RTPAUDIOQOS VarSet and RTCPSent were never parsed (FullyBooted is: the
            # manager listens for it, to show that nothing is replayed then)
            assert client.manager.protocol is not None and client.manager.protocol.framer.skipped == 2
        finally:
            await client.stop()


async def test_garbage_on_the_wire_is_survived_and_the_next_event_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def script(conn: PeerConn) -> None:
        await conn.login()
        await conn.send(b"\x00\xff\xfe not AMI at all\r\n\r\n")      # binary junk
        await conn.send(b"just a line without colon\r\nand another\r\n\r\n")
        await conn.send(b"Event: Hangup\r\nCause: not-a-number\r\n\r\n")  # missing Uniqueid
        await conn.send(b"\r\n\r\n\r\n\r\n")                          # empty messages
        await conn.send(msg(("Event", "Newchannel"), ("Privilege", "call,all"),
                            ("Channel", "PJSIP/carrier-1"), ("Uniqueid", "1.1"), ("Linkedid", "1.1")))
        await conn.serve_pings()

    async with ScriptedAmi(script) as peer:
        client = AmiClient(config(peer.port))
        seen: list[str] = []
        client.events.add(lambda e: seen.append(e.name), name="rec")
        await client.start()
        await client.wait_connected(2)
        try:
            for _ in range(100):
                if "Newchannel" in seen:
                    break
                await asyncio.sleep(0.01)
            assert seen[-1] == "Newchannel" and "Hangup" in seen
            assert client.connected and client.stats.disconnects == 0
            assert (await client.send_action("Ping"))["Ping"] == "Pong"
        finally:
            await client.stop()


async def test_panoramisk_event_patterns_are_served_by_the_owned_dispatcher() -> None:
    def event(name: str, uniqueid: str) -> bytes:
        return msg(("Event", name), ("Privilege", "call,all"), ("Channel", "PJSIP/1001-1"),
                   ("Uniqueid", uniqueid), ("Linkedid", uniqueid))

    async def script(conn: PeerConn) -> None:
        await conn.login()
        await conn.send(event("Newchannel", "1.1") + event("DialBegin", "1.1")
                        + event("DialState", "1.1") + event("DialEnd", "1.1")
                        + event("Hangup", "1.1"))
        await conn.serve_pings()

    dial: list[str] = []
    hangups: list[tuple[object, str]] = []
    async with ScriptedAmi(script) as peer:
        client = AmiClient(config(peer.port))
        client.manager.register_event("Dial*", lambda _manager, e: dial.append(e.name))

        @client.manager.register_event("Hangup")
        async def on_hangup(manager: object, e: AmiMessage) -> None:
            await asyncio.sleep(0.1)  # still running when stop() is called
            hangups.append((manager, e["Uniqueid"]))

        await client.start()
        await client.wait_connected(2)
        for _ in range(200):
            if len(dial) == 3:
                break
            await asyncio.sleep(0.01)
        await client.stop()
    assert dial == ["DialBegin", "DialState", "DialEnd"]
    # the coroutine callback ran in a task the client owned and awaited before stop() returned
    assert hangups == [(client.manager, "1.1")]
