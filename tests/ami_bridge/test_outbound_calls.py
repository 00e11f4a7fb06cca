"""Outbound calls the scheduler originates, as the bridge follows them: the attempt id on the
call's record (and on the stored call), the customer's leg and its dial status, the agent's
state afterwards, and calls adopted after a restart.

The events are those pbxsim sends for ``deploy/asterisk/extensions.conf`` (agent first: an
Originate to ``PJSIP/1001`` into ``hotline-outbound``, which dials ``PJSIP/<number>@carrier``),
reduced to the headers the tracker reads."""

from __future__ import annotations

from typing import Any

from hotline.domain.enums import AgentState
from hotline.domain.events import AgentStateChanged, CallRecord, CallUpdated, DomainEvent
from tests.ami_bridge.replay import at, final_records, of, tracker

AGENT_UID, CUSTOMER_UID = "1795398429.0", "1795398430.1"
AGENT_CHAN, CUSTOMER_CHAN = "PJSIP/1001-00000000", "PJSIP/carrier-00000001"


def ev(name: str, **headers: str) -> dict[str, str]:
    return {"Event": name, **headers}


def agent(name: str, **headers: str) -> dict[str, str]:
    return ev(name, Channel=AGENT_CHAN, Uniqueid=AGENT_UID, Linkedid=AGENT_UID, **headers)


def customer(name: str, **headers: str) -> dict[str, str]:
    return ev(name, Channel=CUSTOMER_CHAN, Uniqueid=CUSTOMER_UID, Linkedid=AGENT_UID, **headers)


def dial(name: str, **headers: str) -> dict[str, str]:
    return ev(name, Channel=AGENT_CHAN, Uniqueid=AGENT_UID, DestChannel=CUSTOMER_CHAN,
              DestUniqueid=CUSTOMER_UID, DialString="13900000001@carrier", **headers)


AGENT_ANSWERS = [
    agent("Newchannel", ChannelState="0", Context="hotline-agents", Exten="s"),
    agent("VarSet", Variable="HOTLINE_ATTEMPT_ID", Value="7"),
    ev("DialBegin", DestChannel=AGENT_CHAN, DestUniqueid=AGENT_UID, DialString="1001"),
    agent("Newstate", ChannelState="5"),
    agent("Newstate", ChannelState="6"),
    ev("DialEnd", DestChannel=AGENT_CHAN, DestUniqueid=AGENT_UID, DialStatus="ANSWER"),
    agent("VarSet", Variable="__HOTLINE_ATTEMPT_ID", Value="7", Context="hotline-outbound"),
    customer("Newchannel", ChannelState="0", Context="hotline-inbound", Exten="s"),
    dial("DialBegin"),
    customer("Newstate", ChannelState="5"),
    dial("DialState", DialStatus="RINGING"),
]

CUSTOMER_BUSY = [
    dial("DialEnd", DialStatus="BUSY"),
    customer("Hangup", Cause="17"),
    agent("SoftHangupRequest", Cause="16"),
    agent("Hangup", Cause="17"),
]

CUSTOMER_TALKS = [
    customer("Newstate", ChannelState="6"),
    dial("DialEnd", DialStatus="ANSWER"),
    agent("BridgeEnter", BridgeUniqueid="b1"),
    customer("BridgeEnter", BridgeUniqueid="b1"),
    customer("HangupRequest", Cause="16"),
    customer("BridgeLeave", BridgeUniqueid="b1"),
    agent("BridgeLeave", BridgeUniqueid="b1"),
    customer("Hangup", Cause="16"),
    agent("Hangup", Cause="16"),
]


def feed(t: Any, events: list[dict[str, str]], start: float = 0.0) -> list[DomainEvent]:
    out: list[DomainEvent] = []
    for n, event in enumerate(events):
        out.extend(t.feed(event, at(start + n * 0.1)))
    return out


def record_of(events: list[DomainEvent]) -> CallRecord:
    return final_records(events)[AGENT_UID]


def test_agent_first_call_carries_its_attempt_and_the_customer_dial_status() -> None:
    t = tracker((1001, "1001", "PJSIP/1001"))
    events = feed(t, AGENT_ANSWERS + CUSTOMER_BUSY)
    record = record_of(events)
    assert record.attempt_id == 7
    assert record.direction == "outbound"
    assert record.caller_number == "+8613900000001"
    legs = {leg.uniqueid: leg for leg in record.legs}
    assert (legs[AGENT_UID].role, legs[AGENT_UID].agent_id) == ("agent", 1001)
    assert (legs[CUSTOMER_UID].role, legs[CUSTOMER_UID].dial_status) == ("customer", "BUSY")
    # every record published on the way carries the attempt id once it is known
    updates = [e.record for e in of(events, CallUpdated)]
    assert updates and all(r.attempt_id == 7 for r in updates[1:])


def test_agent_is_ready_again_at_once_when_the_customer_did_not_answer() -> None:
    t = tracker((1001, "1001", "PJSIP/1001"))
    events = feed(t, AGENT_ANSWERS + CUSTOMER_BUSY)
    states = [e.state for e in of(events, AgentStateChanged)]
    # no conversation: no wrap-up, the next callback can ring this agent straight away
    assert states == ["ringing", "talking", "ready"]
    assert t.agents.get(1001).state is AgentState.READY


def test_agent_wraps_up_after_talking_to_the_customer() -> None:
    t = tracker((1001, "1001", "PJSIP/1001"))
    events = feed(t, AGENT_ANSWERS + CUSTOMER_TALKS)
    assert [e.state for e in of(events, AgentStateChanged)] == ["ringing", "talking", "wrap_up"]
    record = record_of(events)
    assert record.answered_by_agent_id == 1001 and record.disposition == "answered"
    customer_leg = next(leg for leg in record.legs if leg.uniqueid == CUSTOMER_UID)
    assert customer_leg.answered_at is not None and customer_leg.dial_status == "ANSWER"


def test_an_outbound_call_adopted_after_a_restart_keeps_its_attempt() -> None:
    """A new bridge finds the call in CoreShowChannels (channel variables as keys of their
    own, as AmiPbxActions gives them) and follows it to its end with the attempt id."""
    t = tracker((1001, "1001", "PJSIP/1001"))
    channels = [
        {"Channel": AGENT_CHAN, "Uniqueid": AGENT_UID, "Linkedid": AGENT_UID,
         "ChannelState": "6", "Duration": "00:00:20", "BridgeId": "b1",
         "HOTLINE_ATTEMPT_ID": "7"},
        {"Channel": CUSTOMER_CHAN, "Uniqueid": CUSTOMER_UID, "Linkedid": AGENT_UID,
         "ChannelState": "6", "Duration": "00:00:15", "BridgeId": "b1",
         "HOTLINE_ATTEMPT_ID": "7"},
    ]
    adopted = t.resync(channels, at(30))
    record = record_of(adopted)
    assert (record.attempt_id, record.direction) == (7, "outbound")
    assert {leg.uniqueid: leg.role for leg in record.legs} == {AGENT_UID: "agent",
                                                               CUSTOMER_UID: "customer"}
    ended = feed(t, [customer("Hangup", Cause="16"), agent("Hangup", Cause="16")], start=40)
    final = record_of(ended)
    assert final.attempt_id == 7 and final.ended_at is not None


def test_inbound_calls_have_no_attempt() -> None:
    t = tracker((1001, "1001", "PJSIP/1001"))
    events = feed(t, [
        ev("Newchannel", Channel="PJSIP/carrier-00000005", Uniqueid="9.1", Linkedid="9.1",
           ChannelState="4", CallerIDNum="13800000001", Exten="4008001234"),
        ev("Hangup", Channel="PJSIP/carrier-00000005", Uniqueid="9.1", Linkedid="9.1",
           Cause="16"),
    ])
    record = final_records(events)["9.1"]
    assert record.attempt_id is None and record.direction == "inbound"
