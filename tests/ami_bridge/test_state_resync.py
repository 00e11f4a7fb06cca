"""After a reconnect, CoreShowChannels tells which calls ended while the link was down."""

from __future__ import annotations

import dataclasses

from hotline.domain.events import AgentStateChanged, CallArrived, CallOffered
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


def _stored_at(seconds: float):  # type: ignore[no-untyped-def]
    """What a bridge following capture 14 had stored when it died ``seconds`` in, and the
    events after that."""
    before, after = split("14", seconds)
    dead = tracker((1001, "1001", "PJSIP/agent1001"))
    replay(dead, before)
    record = dead.snapshot("1795390440.104")
    assert record is not None
    return record, after


def test_a_call_restored_after_a_restart_keeps_what_was_stored_and_ends_right() -> None:
    """A new process restores the call from its stored record, finds it still up in the
    channel list, and follows it to its end: arrival, rings at answer, the agent and the
    offer's outcome are the stored ones, not an estimate or unknown."""
    stored, after = _stored_at(10.0)
    assert stored.rings_at_answer is not None and stored.answered_by_agent_id == 1001
    t = tracker((1001, "1001", "PJSIP/agent1001"))

    assert t.restore([stored]) == 1
    events = t.resync([CALLER, AGENT], at(12.0))
    # nothing to report but the agent talking again (the directory had them ready)
    assert [(e.agent_id, e.state) for e in of(events, AgentStateChanged)] == [(1001, "talking")]
    assert of(events, CallArrived) == []

    events = replay(t, after)
    [end] = ended(events)
    assert (end.end_reason, end.disposition, end.agent_id) == ("caller-hangup", "answered", 1001)
    record = final_records(events)["1795390440.104"]
    assert (record.arrived_at, record.answered_at, record.rings_at_answer) == (
        stored.arrived_at, stored.answered_at, stored.rings_at_answer)
    assert record.answered_by_agent_id == 1001 and not record.adopted
    legs = {leg.uniqueid: leg for leg in record.legs}
    for leg in stored.legs:
        assert (legs[leg.uniqueid].created_at, legs[leg.uniqueid].dial_status,
                legs[leg.uniqueid].rings_at_answer) == (leg.created_at, leg.dial_status, leg.rings_at_answer)
    assert legs["1795390440.105"].dial_status == "ANSWER"
    assert t.agents.get(1001).state == "wrap_up"


def test_a_restored_call_asterisk_no_longer_has_is_closed_at_its_last_stored_sign_of_life() -> None:
    stored, _after = _stored_at(10.0)
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    t.restore([stored])

    events = t.resync([], at(30.0))

    [end] = ended(events)
    last = max(m for leg in stored.legs for m in (leg.created_at, leg.ringing_at, leg.answered_at) if m)
    assert (end.end_reason, end.disposition, end.at) == ("lost-during-disconnect", "answered", last)
    # the agent's phone was not seen in this process: a call that ended unseen leaves the
    # agent as the directory has them
    assert of(events, AgentStateChanged) == [] and t.agents.get(1001).state == "ready"


def test_the_end_of_a_restored_call_seen_before_the_list_is_not_a_loss() -> None:
    """The caller hangs up after the new process is connected but before its channel list
    arrives: the restored call sees the Hangup and ends as it really did."""
    stored, after = _stored_at(10.0)
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    t.restore([stored])
    asked = at(11.0)

    events = replay(t, after)  # all of it, before the (empty) list is applied
    events += t.resync([], at(20.0), asked_at=asked)

    [end] = ended(events)
    assert (end.end_reason, end.disposition, end.at) == ("caller-hangup", "answered", at(16.289))


def test_restore_leaves_calls_followed_here_and_ended_calls_alone() -> None:
    stored, _after = _stored_at(10.0)
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    replay(t, split("14", 10.0)[0])
    assert t.restore([stored]) == 0  # already followed
    closed = dataclasses.replace(stored, linkedid="1.1", uniqueid="1.1", ended_at=at(9.0), legs=())
    assert tracker().restore([closed]) == 0


def test_an_offer_still_ringing_after_a_restart_keeps_its_ring5_deadline() -> None:
    """The agent's phone was ringing when the bridge died: the restored offer is reported
    again at its stored ringing start, which is what the ring-5 deadline counts from."""
    stored, _after = _stored_at(5.0)
    [offer_leg] = [leg for leg in stored.legs if leg.role == "agent"]
    assert offer_leg.ringing_at is not None and offer_leg.dial_status is None
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    t.restore([stored])

    events = t.resync([{**CALLER, "Duration": "00:00:04"},
                       {**AGENT, "ChannelState": "5", "BridgeId": ""}], at(6.0))

    [offer] = of(events, CallOffered)
    assert (offer.uniqueid, offer.at, offer.agent_id) == (offer_leg.uniqueid, offer_leg.ringing_at, 1001)
    assert t.agents.get(1001).state == "ringing" and t.is_ringing_offer(offer_leg.uniqueid)
