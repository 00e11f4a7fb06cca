"""After a reconnect, CoreShowChannels tells which calls ended while the link was down."""

from __future__ import annotations

from hotline.domain.events import AgentStateChanged, CallArrived
from tests.ami_bridge.replay import at, capture_events, ended, final_records, of, replay, tracker

CALLER = {"Channel": "PJSIP/sipp-0000002a", "Uniqueid": "1795390440.104",
          "Linkedid": "1795390440.104", "ChannelState": "6", "Duration": "00:00:08"}
AGENT = {"Channel": "PJSIP/agent1001-0000002b", "Uniqueid": "1795390440.105",
         "Linkedid": "1795390440.104", "ChannelState": "6", "Duration": "00:00:07",
         "BridgeId": "5cd2576b-b110-49a5-b584-bdfa5bc81534"}


def split(name: str, seconds: float):  # type: ignore[no-untyped-def]
    events = capture_events(name)
    return [e for e in events if e[0] < seconds], [e for e in events if e[0] >= seconds]


def test_call_that_ended_while_the_link_was_down_is_closed_at_its_last_sign_of_life() -> None:
    before, _lost = split("14", 10.0)  # the link dies at 10 s, mid-conversation
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    replay(t, before)
    assert t.agents.get(1001).state == "talking"

    events = t.resync([], at(30.0))  # back at 30 s: Asterisk has no channels any more

    [end] = ended(events)
    assert (end.end_reason, end.disposition, end.abnormal) == ("lost-during-disconnect", "answered", False)
    # the last sign of life: the caller's RTCP report at 7.265 (the agent leg's: 7.251)
    assert end.at == at(7.265)
    record = final_records(events)["1795390440.104"]
    assert record.ended_at == at(7.265) and record.end_reason == "lost-during-disconnect"
    assert [leg.ended_at for leg in record.legs] == [at(7.265), at(7.251)]
    assert t.calls == {}
    assert [e.state for e in of(events, AgentStateChanged)] == ["wrap_up"]


def test_call_still_up_after_the_reconnect_is_followed_to_its_end() -> None:
    before, after = split("14", 10.0)
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    replay(t, before)

    assert t.resync([CALLER, AGENT], at(12.0)) == []  # nothing changed

    events = replay(t, after)
    [end] = ended(events)
    assert (end.end_reason, end.disposition, end.at) == ("caller-hangup", "answered", at(16.289))
    assert of(events, CallArrived) == []


def test_unanswered_offer_lost_during_the_disconnect_frees_the_agent() -> None:
    before, _ = split("14", 5.0)  # the agent phone is ringing when the link dies
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    replay(t, before)
    assert t.agents.get(1001).state == "ringing"
    # the caller gave up while we were away: only the agent leg is gone too
    events = t.resync([], at(40.0))
    [end] = ended(events)
    assert (end.disposition, end.end_reason) == ("lost", "lost-during-disconnect")
    assert t.agents.get(1001).state == "ready"


def test_calls_born_while_the_link_was_down_are_adopted_and_followed() -> None:
    items = [m.headers for _t, m in capture_events("02", "ami-act") if m.name == "CoreShowChannel"]
    assert len(items) == 6
    t = tracker((202, "202", "Local/202@agents"))

    events = t.resync(items, at(7.339))

    arrived = of(events, CallArrived)
    assert sorted(a.linkedid for a in arrived) == ["1795390096.62", "1795390100.65"]
    # the durations date the arrivals
    assert {a.linkedid: a.at for a in arrived} == {
        "1795390096.62": at(7.339 - 6), "1795390100.65": at(7.339 - 3)}
    assert t.agents.get(202).state == "talking"

    rest = [e for e in capture_events("02") if e[0] > 7.339]
    events = replay(t, rest)
    ends = ended(events)
    assert [(e.call_key, e.disposition, e.agent_id) for e in ends] == [
        ("pbx1:1795390096.62", "answered", 202), ("pbx1:1795390100.65", "answered", 202)]
    assert t.calls == {}


def test_events_arriving_while_the_list_is_built_are_not_undone() -> None:
    """A call born after the snapshot (seen after the list was asked for) stays; a listed
    channel whose Hangup already went by is not adopted as a zombie."""
    events = capture_events("14")
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    # the list is asked for at 1.0 s, before the call; the call's first events come in
    # while it is being built, the list (empty) is applied at 2.3 s
    replay(t, [e for e in events if e[0] < 2.3])
    assert t.resync([], at(2.3), asked_at=at(1.0)) == []
    rest = replay(t, [e for e in events if e[0] >= 2.3])
    [end] = ended(rest)
    assert end.end_reason == "caller-hangup"

    # a channel listed by an earlier snapshot but already hung up (its Hangup came first)
    t2 = tracker()
    t2.feed({"Event": "Hangup", "Uniqueid": "9.9", "Linkedid": "9.9", "Cause": "16"}, at(1))
    assert t2.resync([{"Uniqueid": "9.9", "Linkedid": "9.9", "Channel": "PJSIP/carrier-9",
                       "ChannelState": "6", "Duration": "00:00:05"}], at(2)) == []
    assert t2.calls == {}
