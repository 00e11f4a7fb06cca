"""The state machine fed with real Asterisk 22 captures, event by event, with their times."""

from __future__ import annotations

import pytest

from ami_bridge.frames import AmiMessage, Framer
from hotline.devtools.captures import load
from hotline.domain.events import (
    AgentAnswered,
    AgentRingNoAnswer,
    AgentStateChanged,
    CallAnswered,
    CallArrived,
    CallOffered,
    CallRinging,
    CallTransferred,
    RecordingStarted,
)
from tests.ami_bridge.replay import at, capture_events, ended, final_records, of, replay, tracker


def test_03_inbound_call_rung_to_ring_3_then_answered_by_an_agent() -> None:
    t = tracker((201, "201", "Local/201@agents"))
    events = replay(t, capture_events("03"))

    [arrived] = of(events, CallArrived)
    assert (arrived.linkedid, arrived.direction, arrived.dialled_number) == ("1795390124.68", "inbound", "101")
    assert arrived.at == at(0.618)
    [ringing] = of(events, CallRinging)
    assert ringing.at == at(0.623)  # AGIExecEnd of EXEC Ringing, not any Newstate
    [answered] = of(events, CallAnswered)
    assert (answered.at, answered.ring) == (at(10.625), 3)
    [offered] = of(events, CallOffered)
    assert (offered.agent_id, offered.channel, offered.at) == (201, "Local/201@agents-00000014;1", at(12.533))
    [agent] = of(events, AgentAnswered)
    assert (agent.at, agent.ring) == (at(19.538), 2)  # rang 7 s: ring 2

    [end] = ended(events)
    assert (end.disposition, end.end_reason, end.hangup_cause, end.abnormal) == (
        "answered", "agent-hangup", 16, False)
    assert end.agent_id == 201 and end.at == at(50.363)

    record = final_records(events)["1795390124.68"]
    assert record.caller_number == "sipp"  # not a phone number: kept as given
    assert (record.ringing_at, record.answered_at, record.rings_at_answer) == (at(0.623), at(10.625), 3)
    assert (record.agent_answered_at, record.answered_by_agent_id) == (at(19.538), 201)
    assert [(leg.channel, leg.role) for leg in record.legs] == [
        ("PJSIP/sipp-0000001c", "caller"),
        ("Local/201@agents-00000014;1", "agent"),
        ("Local/201@agents-00000014;2", "local"),
    ]
    agent_leg = record.legs[1]
    assert (agent_leg.ringing_at, agent_leg.answered_at, agent_leg.rings_at_answer) == (
        at(12.533), at(19.538), 2)
    assert (agent_leg.dial_status, agent_leg.hangup_cause, agent_leg.ended_at) == ("ANSWER", 16, at(50.316))
    assert all(leg.ended_at is not None for leg in record.legs)
    assert t.calls == {} and t.legs == {}

    states = [e.state for e in of(events, AgentStateChanged)]
    assert states[-3:] == ["ringing", "talking", "wrap_up"]


def test_04_first_agent_rings_past_ring_5_then_the_second_answers_early() -> None:
    t = tracker((201, "201", "Local/201@agents"), (203, "203", "Local/203@agents"))
    events = replay(t, capture_events("04"))

    assert [(o.agent_id, o.at) for o in of(events, CallOffered)] == [(201, at(12.534)), (203, at(37.538))]
    [rna] = of(events, AgentRingNoAnswer)
    assert (rna.agent_id, rna.consecutive, rna.at) == (201, 1, at(37.534))
    [agent] = of(events, AgentAnswered)
    assert (agent.agent_id, agent.ring) == (203, 1)  # answered after 3 s: ring 1, early

    record = final_records(events)["1795390178.71"]
    assert record.rings_at_answer == 3 and record.answered_by_agent_id == 203
    by_channel = {leg.channel: leg for leg in record.legs}
    assert len(record.legs) == 5
    first = by_channel["Local/201@agents-00000015;1"]
    assert (first.dial_status, first.answered_at, first.hangup_cause) == ("NOANSWER", None, 0)
    second = by_channel["Local/203@agents-00000016;1"]
    assert (second.dial_status, second.rings_at_answer) == ("ANSWER", 1)
    [end] = ended(events)
    assert (end.disposition, end.end_reason, end.agent_id) == ("answered", "agent-hangup", 203)
    # one ring-no-answer is not enough to pause the agent (default: 2 in a row)
    assert t.agents.get(201).state == "ready"
    assert t.agents.get(203).state == "wrap_up"


def test_04_with_pause_after_one_the_silent_agent_is_paused() -> None:
    t = tracker((201, "201", "Local/201@agents"), (203, "203", "Local/203@agents"), pause_after=1)
    events = replay(t, capture_events("04"))
    paused = [e for e in of(events, AgentStateChanged) if e.agent_id == 201 and e.state == "paused"]
    assert [(e.reason, e.at) for e in paused] == [("ring-no-answer", at(37.534))]
    assert t.agents.get(201).state == "paused"


def test_05_recordings_started_with_their_files() -> None:
    t = tracker((202, "202", "Local/202@agents"))
    events = replay(t, capture_events("05"))
    assert [(r.channel, r.path) for r in of(events, RecordingStarted)] == [
        ("PJSIP/sipp-0000001e", "/var/spool/asterisk/monitor/hotline-05-mixmon-b.wav"),
        ("PJSIP/sipp-0000001e", "/var/spool/asterisk/monitor/hotline-05-mixmon-2.wav"),
    ]
    [end] = ended(events)
    assert (end.disposition, end.end_reason, end.hangup_cause) == ("answered", "caller-hangup", 16)
    record = final_records(events)["1795390253.76"]
    # answered by Answer() at once, without ringing: ring 1, which the reports call early
    assert (record.ringing_at, record.rings_at_answer) == (None, 1)


def test_06_redirects_are_transfers_and_not_dropped_calls() -> None:
    t = tracker((202, "202", "Local/202@agents"))
    events = replay(t, capture_events("06"))
    assert [(e.call_key, e.channel, e.context, e.exten) for e in of(events, CallTransferred)] == [
        ("pbx1:1795390274.79", "PJSIP/sipp-0000001f", "hotline", "107"),
        ("pbx1:1795390282.82", "Local/202@agents-00000019;1", "hotline", "108"),
        ("pbx1:1795390282.82", "PJSIP/sipp-00000020", "hotline", "107"),
    ]
    ends = ended(events)
    assert [(e.disposition, e.abnormal, e.end_reason) for e in ends] == [
        ("answered", False, "system-hangup"),
        ("answered", False, "system-hangup"),
    ]
    assert ends[0].at == at(6.034) and ends[1].at == at(13.566)


def test_07_hangup_causes_without_a_conversation_are_not_dropped_calls() -> None:
    t = tracker()
    events = replay(t, capture_events("07"))
    assert [(e.hangup_cause, e.abnormal, e.end_reason, e.disposition) for e in ended(events)] == [
        (38, False, "system-hangup", "ivr_only"),
        (16, False, "system-hangup", "ivr_only"),
        (0, False, "system-hangup", "ivr_only"),
    ]
    records = final_records(events)
    assert records["1795390291.85"].hangup_cause_text == "Network out of order"


def test_11_caller_hanging_up_in_the_ivr() -> None:
    t = tracker()
    events = replay(t, capture_events("11"))
    [end] = ended(events)
    # the caller left at 5.623 (in the IVR, before reaching anyone: abandoned); the channel
    # went away when the AGI server let go (9.125)
    assert (end.end_reason, end.disposition, end.hangup_cause, end.at) == (
        "caller-hangup", "abandoned", 0, at(9.125))


def test_13_softphone_registration_and_unregistration() -> None:
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    events = replay(t, capture_events("13"))
    changes = [(e.registered, e.at) for e in of(events, AgentStateChanged)]
    assert changes == [(True, at(0.617)), (False, at(4.621))]
    assert t.agents.get(1001).registered is False


def test_14_registered_sip_agent_and_caller_hanging_up_mid_conversation() -> None:
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    events = replay(t, capture_events("14"))
    [offered] = of(events, CallOffered)
    assert (offered.channel, offered.at) == ("PJSIP/agent1001-0000002b", at(2.245))
    [agent] = of(events, AgentAnswered)
    assert (agent.at, agent.ring) == (at(7.250), 2)
    [end] = ended(events)
    assert (end.end_reason, end.abnormal, end.hangup_cause, end.agent_id) == ("caller-hangup", False, 16, 1001)
    states = [(e.state, e.registered) for e in of(events, AgentStateChanged)]
    assert states == [
        ("ready", True), ("ringing", True), ("talking", True), ("wrap_up", True), ("wrap_up", False),
    ]


def _with(message: AmiMessage, **changes: str) -> AmiMessage:
    headers = dict(message.headers)
    headers.update(changes)
    return AmiMessage(headers, message.variables, message.multi)


def test_caller_lost_mid_conversation_is_a_dropped_call() -> None:
    """Capture 14 with the caller's leg lost (cause 38) instead of a BYE."""
    caller = "PJSIP/sipp-0000002a"

    def lose_caller(t: float, m: AmiMessage) -> AmiMessage | None:
        if m.get("Channel") == caller and m.name in ("HangupRequest", "Hangup"):
            return _with(m, Cause="38", **{"Cause-txt": "Network out of order"})
        return m

    t = tracker((1001, "1001", "PJSIP/agent1001"))
    events = replay(t, capture_events("14"), lose_caller)
    [end] = ended(events)
    assert (end.abnormal, end.end_reason, end.hangup_cause, end.agent_id, end.disposition) == (
        True, "caller-lost", 38, 1001, "answered")
    assert final_records(events)["1795390440.104"].abnormal_end is True


def test_agent_leg_lost_while_the_caller_is_up_is_a_dropped_call() -> None:
    """Capture 14 with the agent's leg lost (cause 38) while the caller stays up."""
    agent_channel = "PJSIP/agent1001-0000002b"

    def lose_agent(t: float, m: AmiMessage) -> AmiMessage | None:
        if m.get("Channel") == "PJSIP/sipp-0000002a" and m.name == "HangupRequest":
            return None  # the caller did not hang up...
        if m.get("Channel") == agent_channel and m.name == "Hangup":
            return _with(m, Cause="38", **{"Cause-txt": "Network out of order"})  # ...the agent was lost
        return m

    t = tracker((1001, "1001", "PJSIP/agent1001"))
    events = replay(t, capture_events("14"), lose_agent)
    [end] = ended(events)
    assert (end.abnormal, end.end_reason, end.hangup_cause, end.agent_id) == (True, "agent-lost", 38, 1001)


def test_ivr_decisions_arrive_as_channel_variables() -> None:
    """Capture 11 with the IVR setting category and disposition (as the hotline IVR does)."""
    def add_vars(t: float, m: AmiMessage) -> AmiMessage | None:
        if m.name == "VarSet" and m.get("Variable") == "HOTLINE_CALL_ID":
            return _with(m, Variable="HOTLINE_CATEGORY", Value="complaint")
        if m.name == "AGIExecEnd" and m.get("Command", "").startswith("WAIT FOR DIGIT 30000"):
            return _with(m, Event="VarSet", Variable="HOTLINE_DISPOSITION", Value="silent")
        return m

    t = tracker()
    events = replay(t, capture_events("11"), add_vars)
    record = final_records(events)["1795390410.102"]
    assert (record.category, record.disposition) == ("complaint", "silent")
    assert ended(events)[0].disposition == "silent"


def test_unknown_category_is_ignored_and_logged(caplog) -> None:  # type: ignore[no-untyped-def]
    def bad_category(t: float, m: AmiMessage) -> AmiMessage | None:
        if m.name == "VarSet" and m.get("Variable") == "HOTLINE_CALL_ID":
            return _with(m, Variable="HOTLINE_CATEGORY", Value="gossip")
        return m

    t = tracker()
    events = replay(t, capture_events("11"), bad_category)
    assert final_records(events)["1795390410.102"].category is None
    assert "HOTLINE_CATEGORY 'gossip' is not a category" in caplog.text


@pytest.mark.parametrize("name", ["02", "03", "04", "05", "06", "07", "11", "13", "14"])
def test_skipping_events_by_their_raw_bytes_changes_nothing(name: str) -> None:
    """The reader skips, unparsed, the events the tracker's raw filters reject (most VarSet,
    Newexten, AGIExecEnd): the domain events must be exactly those of a full parse."""
    agents = ((201, "201", "Local/201@agents"), (202, "202", "Local/202@agents"),
              (203, "203", "Local/203@agents"), (1001, "1001", "PJSIP/agent1001"))
    full = replay(tracker(*agents), capture_events(name))

    t = tracker(*agents)
    names = {n.encode() for n in t.handled_events}
    filters = {k.encode(): v for k, v in t.raw_filters().items()}

    def want(src: bytes | bytearray, start: int, end: int) -> bool:
        nl = src.find(b"\r\n", start, end)
        event = bytes(src[start + 7:nl])
        return event in names and (event not in filters or filters[event](src, start, end))

    framer = Framer()
    skimmed: list = []
    for m in load(name).streams["ami-mon"].ami("<<"):
        for message in framer.feed(m.wire(), want):
            if message.is_event:
                skimmed.extend(t.feed(message, at(m.t)))
    assert framer.skipped > 0
    assert skimmed == full


def test_08_originated_calls_ring_the_agent_without_being_offers() -> None:
    """Originate to an agent (as outbound callbacks do, agent first): the phone rings and
    is answered, but it is not an offer, so no ring-5 deadline and no ring-no-answer."""
    t = tracker((201, "201", "Local/201@agents"), (210, "210", "Local/210@agents"))
    events = replay(t, capture_events("08"))
    assert of(events, CallOffered) == [] and of(events, AgentRingNoAnswer) == []
    assert of(events, AgentAnswered) == []
    by_agent: dict[int, list[str]] = {}
    for e in of(events, AgentStateChanged):
        if not by_agent.get(e.agent_id) or by_agent[e.agent_id][-1] != e.state:
            by_agent.setdefault(e.agent_id, []).append(e.state)
    # d) 210 rang 8 s and the Originate gave up; f) 201 answered, talked, hung up
    assert by_agent == {210: ["ringing", "ready"], 201: ["ringing", "talking", "wrap_up"]}
    assert t.agents.get(210).consecutive_no_answer == 0


def test_malformed_events_change_nothing_and_raise_nothing() -> None:
    t = tracker((1001, "1001", "PJSIP/agent1001"))
    junk = [
        {"Event": "Newchannel"},                                   # no Uniqueid
        {"Event": "Hangup", "Uniqueid": "nope", "Cause": "abc"},  # unknown channel
        {"Event": "DialBegin", "DestUniqueid": "x"},               # nothing to dial from
        {"Event": "DialEnd", "DialStatus": "ANSWER"},
        {"Event": "VarSet", "Variable": "HOTLINE_CATEGORY", "Value": "complaint"},
        {"Event": "Newstate", "Uniqueid": "nope", "ChannelState": "6"},
        {"Event": "ContactStatus", "ContactStatus": "Removed"},   # no endpoint
        {"Event": "DTMFEnd", "Direction": "Received", "Digit": "*"},
    ]
    for event in junk:
        assert t.feed(event, at(1)) == []
    assert t.calls == {} and t.legs == {}
    # and a real call still goes through afterwards
    events = replay(t, capture_events("14"))
    assert [e.disposition for e in ended(events)] == ["answered"]


def test_a_cause_that_is_not_a_number_is_stored_as_unknown() -> None:
    def bad_cause(t: float, m: AmiMessage) -> AmiMessage | None:
        if m.name == "Hangup":
            return _with(m, Cause="n/a")
        return m

    events = replay(tracker(), capture_events("11"), bad_cause)
    [end] = ended(events)
    assert end.hangup_cause is None and end.end_reason == "caller-hangup"


def _stamped_after_a_stall(name: str, stall_from: float, stall_until: float):  # type: ignore[no-untyped-def]
    """The capture's events with Asterisk's ``Timestamp`` (timestampevents = yes), as a
    bridge stalled between ``stall_from`` and ``stall_until`` reads them: everything raised
    meanwhile arrives at ``stall_until``, in order."""
    base = at(0).timestamp()
    for seconds, m in capture_events(name):
        headers = dict(m.headers)
        headers["Timestamp"] = f"{base + seconds:.6f}"
        arrival = stall_until if stall_from <= seconds < stall_until else seconds
        yield arrival, AmiMessage(headers, m.variables, m.multi)


def test_rings_are_counted_by_asterisk_timestamps_when_events_arrive_late() -> None:
    """Capture 03 with the bridge stalled from just before the ringing started until 10.0 s:
    by arrival times the IVR's answer (10.625) would be in ring 1 and the agent's (ringing
    12.533, stalled until 19.0, answer 19.538) in ring 1 too; Asterisk's timestamps say 3 and 2."""
    t = tracker((201, "201", "Local/201@agents"))
    events = replay(t, _stamped_after_a_stall("03", 0.5, 10.0))
    [answered] = of(events, CallAnswered)
    assert answered.ring == 3
    events = replay(tracker((201, "201", "Local/201@agents")), _stamped_after_a_stall("03", 12.0, 19.0))
    [agent] = of(events, AgentAnswered)
    assert agent.ring == 2
    # read 6.5 s late, the ringing is dated back by at most a second (lag_cap)
    record = final_records(events)["1795390124.68"]
    assert record.legs[1].ringing_at == at(18.0)


def test_an_event_read_late_is_dated_when_asterisk_raised_it() -> None:
    """The bridge stalls for 0.6 s while the agent's phone starts ringing: the offer (and the
    ring-5 deadline armed from it) is dated when Asterisk raised it, not when it was read."""
    events = replay(tracker((201, "201", "Local/201@agents")), _stamped_after_a_stall("03", 12.0, 13.1))
    [offered] = of(events, CallOffered)
    assert abs((offered.at - at(12.533)).total_seconds()) < 0.001
    record = final_records(events)["1795390124.68"]
    assert record.legs[1].ringing_at == offered.at


def test_clocks_that_disagree_do_not_move_anything() -> None:
    """Asterisk's clock 30 s behind the bridge's, events read on time: the offset is the
    usual delay, nothing is late, every time is the arrival time."""
    skewed = []
    for arrival, m in _stamped_after_a_stall("03", 0, 0):
        headers = dict(m.headers)
        headers["Timestamp"] = f"{float(headers['Timestamp']) - 30:.6f}"
        skewed.append((arrival, AmiMessage(headers, m.variables, m.multi)))
    t = tracker((201, "201", "Local/201@agents"))
    events = replay(t, skewed)
    [offered] = of(events, CallOffered)
    assert offered.at == at(12.533) and t.lag == 0.0


def test_without_timestamps_rings_are_counted_by_arrival() -> None:
    events = replay(tracker((201, "201", "Local/201@agents")),
                    ((arrival, m) for arrival, m in _stamped_after_a_stall("03", 0.5, 10.0)),
                    lambda _t, m: AmiMessage({k: v for k, v in m.headers.items() if k != "Timestamp"},
                                             m.variables, m.multi))
    [answered] = of(events, CallAnswered)
    assert answered.ring == 1


def _pickup_as_the_caller_hangs_up() -> list[dict[str, str]]:
    caller = {"Channel": "PJSIP/carrier-00000001", "Uniqueid": "1700000000.1", "Linkedid": "1700000000.1"}
    agent = {"Channel": "PJSIP/1001-00000002", "Uniqueid": "1700000000.2", "Linkedid": "1700000000.1"}
    dest = {"DestChannel": agent["Channel"], "DestUniqueid": agent["Uniqueid"], "DestLinkedid": caller["Linkedid"]}
    return [
        {"Event": "Newchannel", **caller, "ChannelState": "4", "CallerIDNum": "13800000001",
         "Exten": "4008001234", "Context": "hotline-inbound"},
        {"Event": "AGIExecEnd", **caller, "Command": "EXEC Ringing", "ResultCode": "200"},
        {"Event": "Newstate", **caller, "ChannelState": "6"},
        {"Event": "Newchannel", **agent, "ChannelState": "0", "Context": "hotline-agents"},
        {"Event": "DialBegin", **caller, **dest, "DialString": "1001"},
        {"Event": "Newstate", **agent, "ChannelState": "5"},
        {"Event": "DialState", **caller, **dest, "DialStatus": "RINGING"},
        {"Event": "Newstate", **agent, "ChannelState": "6"},  # the agent picks up...
        {"Event": "HangupRequest", **caller, "Cause": "16"},  # ...as the caller hangs up
        {"Event": "DialEnd", **caller, **dest, "DialStatus": "CANCEL"},
        {"Event": "Hangup", **agent, "Cause": "16", "Cause-txt": "Normal Clearing"},
        {"Event": "Hangup", **caller, "Cause": "16", "Cause-txt": "Normal Clearing"},
    ]


def test_an_agent_picking_up_as_the_caller_hangs_up_did_not_answer_the_call() -> None:
    """Asterisk's Dial, not the phone going off-hook, decides whether the caller was connected:
    here it says CANCEL, so nobody answered and the caller abandoned the call."""
    t = tracker((7, "1001", "PJSIP/1001"))
    events = []
    ringing = []
    for n, headers in enumerate(_pickup_as_the_caller_hangs_up()):
        events += t.feed(headers, at(n))
        ringing.append(t.is_ringing_offer("1700000000.2"))
    # the ring-5 deadline leaves a phone alone once it is off-hook
    assert ringing[5:9] == [True, True, False, False]
    assert of(events, AgentAnswered) == [] and of(events, AgentRingNoAnswer) == []
    [end] = ended(events)
    assert (end.disposition, end.end_reason, end.agent_id) == ("abandoned", "caller-hangup", None)
    record = final_records(events)["1700000000.1"]
    assert record.answered_by_agent_id is None and record.agent_answered_at is None
    agent_leg = next(leg for leg in record.legs if leg.role == "agent")
    assert (agent_leg.dial_status, agent_leg.rings_at_answer) == ("CANCEL", None)
    assert [e.state for e in of(events, AgentStateChanged)] == ["ringing", "ready"]
