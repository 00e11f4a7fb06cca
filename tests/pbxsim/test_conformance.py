"""The simulator against real Asterisk 22: every captured scenario replayed, transcripts compared.

Each capture in ``tests/fixtures/asterisk`` is replayed on the simulator (see ``replay.py``): the
same AMI sessions send the same actions, a FastAGI server sends the same commands, and the
capture tool's other steps (sipp calls, phone registrations, CLI commands) are done with the
simulator's Python API. The test then requires, per AMI stream, the same event names in the
same order with the same fields and values (run-specific identifiers and timings by shape), the
same responses to the same actions, and, per FastAGI connection, the same lines.

What the simulator deliberately does not reproduce (and the comparison leaves out):

* ``RTCPSent`` events and the ``RTPAUDIOQOS*`` variables: they report real RTP streams, and
  the simulator carries no media;
* ``QueueMemberStatus``: the capture's Local/20x agents were also members of queues; the
  simulator does not model app_queue, so capture 09 (the queue scenario) is not replayed;
* ``BRIDGEPEER``/``BRIDGEPVTCALLID`` set again to the value they already had: Asterisk does this
  each time it re-picks a bridge's technology (native_rtp, MixMonitor audiohooks); the simulator
  sets them once per bridge entry;
* the relative order of events of *different* channels, of ``DeviceStateChange`` and of ``Cdr``
  (they come from different threads in Asterisk and interleave differently between runs, e.g.
  RINGTIME vs the Local;2 Newexten in captures 03 and 04): channels are compared one by one,
  device states as each device's sequence of states, CDRs as a set.

Timing facts are checked too: the 1 s delay before a failed login's reply, ~0.5 s for ANSWER
without RTP, the HANGUP notice after a hangup.
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from hotline.devtools.captures import AgiLine, load
from pbxsim.behaviours import AgentBehaviour, AgentSpec, CallerBehaviour, CallerSpec
from pbxsim.config import AmiUser, SimConfig
from pbxsim.simulator import PbxSimulator
from tests.pbxsim.replay import Replay, ToolStep

SPEED = 10.0

CAPTURE_DIALPLAN = r"""
[general]
static = yes

[globals]
HOTLINE_AGI = agi://127.0.0.1:4573

[hotline]
exten => 101,1,NoOp(hotline call (AGI answers) from ${CALLERID(all)} on ${CHANNEL})
 same => n,AGI(${HOTLINE_AGI}/hotline)
 same => n,Hangup()
exten => 102,1,NoOp(hotline call (AGI url with query string) on ${CHANNEL})
 same => n,AGI(${HOTLINE_AGI}/hotline?lang=zh&flow=main,first arg,second-arg)
 same => n,Hangup()
exten => 103,1,NoOp(bridged call to echo agent on ${CHANNEL})
 same => n,Set(__HOTLINE_CALL_ID=hl-${UNIQUEID})
 same => n,Answer()
 same => n,Dial(Local/202@agents,30)
 same => n,Hangup()
exten => 104,1,NoOp(answered waiting call on ${CHANNEL})
 same => n,Set(HOTLINE_CALL_ID=hl-${UNIQUEID})
 same => n,Answer()
 same => n,Wait(120)
 same => n,Hangup()
exten => 106,1,NoOp(userevent call on ${CHANNEL})
 same => n,Set(HOTLINE_CALL_ID=hl-${UNIQUEID})
 same => n,Answer()
 same => n,UserEvent(HotlineDialplan,Foo: bar,CallId: ${HOTLINE_CALL_ID})
 same => n,Wait(120)
 same => n,Hangup()
exten => 107,1,NoOp(redirect target)
 same => n,Answer()
 same => n,Playback(hello-world)
 same => n,Hangup()
exten => 108,1,NoOp(extra redirect target)
 same => n,Answer()
 same => n,Playback(beep)
 same => n,Hangup()
exten => 120,1,NoOp(call to registered agent1001)
 same => n,Set(HOTLINE_CALL_ID=hl-${UNIQUEID})
 same => n,AGI(${HOTLINE_AGI}/hotline)
 same => n,Hangup()

[agents]
exten => _20X,1,NoOp(agent phone ${EXTEN} ringing for ${IF($["${RING_SECS}" = ""]?2:${RING_SECS})}s)
 same => n,Set(RING_SECS=${IF($["${RING_SECS}" = ""]?2:${RING_SECS})})
 same => n,Ringing()
 same => n,Wait(${RING_SECS})
 same => n,Answer()
 same => n,GotoIf($["${EXTEN}" = "202"]?echo)
 same => n,Playback(demo-congrats)
 same => n,Hangup()
 same => n(echo),Echo()
exten => 210,1,NoOp(agent phone 210 never answers)
 same => n,Ringing()
 same => n,Wait(300)
exten => 211,1,NoOp(agent phone 211 is busy)
 same => n,Busy(10)

[test]
exten => 300,1,NoOp(originated call arrived)
 same => n,Wait(5)
 same => n,Hangup()
"""

# Durations of the stock Asterisk sounds the scenarios play (samples at 8 kHz, from the captures).
SOUNDS = {"hello-world": 11234, "beep": 3400, "demo-congrats": 242216}


def sipp(dnid: str, **behaviour: object) -> CallerSpec:
    """A call from the capture's sipp UAC (endpoint ``sipp``, caller ID ``"sipp" <sipp>``)."""
    b = CallerBehaviour(sends_media=bool(behaviour.pop("media", False)), **behaviour)  # type: ignore[arg-type]
    return CallerSpec(number="sipp", name="sipp", dnid=dnid, endpoint="sipp", behaviour=b)


def call(t: float, spec_factory: Callable[[], CallerSpec]) -> ToolStep:
    async def run(replay: Replay) -> None:
        await replay.sim.place_call(spec_factory())

    return ToolStep(t, run, "call")


def register(t: float, ext: str) -> ToolStep:
    async def run(replay: Replay) -> None:
        replay.sim.register_agent(ext)

    return ToolStep(t, run, f"register {ext}")


def unregister(t: float, ext: str) -> ToolStep:
    async def run(replay: Replay) -> None:
        replay.sim.unregister_agent(ext)

    return ToolStep(t, run, f"unregister {ext}")


def cli(t: float, command: str) -> ToolStep:
    async def run(replay: Replay) -> None:
        replay.sim.cli(replay.rewrite(command))

    return ToolStep(t, run, f"cli {command}")


CASES: dict[str, list[ToolStep]] = {
    "01": [],
    "02": [call(0.505, lambda: sipp("103", hangup_after_answer=20.0)),
           call(3.630, lambda: sipp("103", hangup_after_answer=20.0))],
    "03": [call(0.506, lambda: sipp("101"))],
    "04": [call(0.505, lambda: sipp("101"))],
    "05": [call(0.504, lambda: sipp("103", media=True, hangup_after_answer=16.0))],
    "06": [call(0.506, lambda: sipp("103")), call(8.038, lambda: sipp("103"))],
    "07": [call(0.505, lambda: sipp("104")), call(4.128, lambda: sipp("104")),
           call(7.755, lambda: sipp("104"))],
    "08": [],
    "10": [call(0.504, lambda: sipp("102", digits=["12#", None, None, None], think_time=2.86)),
           call(16.358, lambda: sipp("102", media=True))],
    "11": [call(0.504, lambda: sipp("101", hangup_after_answer=5.0))],
    "12": [call(0.505, lambda: sipp("106")), cli(3.622, "channel request hangup PJSIP/sipp-00000029")],
    "13": [register(0.6, "agent1001"), unregister(4.62, "agent1001")],
    "14": [register(0.6, "agent1001"), call(1.623, lambda: sipp("120", hangup_after_answer=14.0)),
           unregister(20.62, "agent1001")],
}


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sounds")
    for name, samples in SOUNDS.items():
        with wave.open(str(d / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(bytes(2 * samples))
    return d


async def replay_capture(name: str, sounds: Path, spool: Path) -> Replay:
    capture = load(name)
    sim = PbxSimulator(SimConfig(
        ami_port=0, speed=SPEED, dialplan_text=CAPTURE_DIALPLAN, record_dir=spool, sounds_dir=sounds,
        ami_users={"hotline": AmiUser("hotline-secret")}, channel_vars=("HOTLINE_CALL_ID", "RING_SECS"),
        trunks={"sipp": "hotline"}, agent_context="agents", sip_domain="127.0.0.1", seed=3,
    ))
    await sim.start()
    sim.add_agent(AgentSpec("agent1001", AgentBehaviour(answer_after=5.0, registered=False, qualify=False,
                                                         busy_when_in_call=False)))
    replay = Replay(capture, sim, SPEED, spool, CASES[name])
    try:
        await asyncio.wait_for(replay.run(), 60)
    finally:
        await replay.close()
        await sim.stop()
    assert not sim.errors, sim.errors
    return replay


@pytest.mark.parametrize("name", sorted(CASES))
async def test_capture_replays_identically(name: str, sounds: Path, tmp_path: Path) -> None:
    replay = await replay_capture(name, sounds, tmp_path)
    problems = replay.problems()
    assert not problems, "\n".join(problems)
    if name == "01":
        # The failed login is answered 1 s after it was sent, then the socket closes.
        client = replay.clients["ami-1"]
        login_sent = next(t for t, action in client.sent if action == "Login")
        reply = [m for m in client.msgs if m.get("Message") == "Authentication failed"][0]
        assert 0.95 <= reply.t - login_sent <= 1.3
    if name in ("03", "10", "11"):
        # ANSWER without RTP from the caller returns after ~500 ms (simulated time).
        got = replay.agi.received[0]  # type: ignore[union-attr]
        assert 0.4 <= _answer_delay(replay, got) <= 0.9  # not the ~15 ms it takes when RTP flows


def _answer_delay(replay: Replay, lines: list[AgiLine]) -> float:
    # the reply to ANSWER is the first "200 result=0" after the environment: measure from the
    # AGIExecStart ANSWER event the monitor saw to that reply
    start = next(m.t for m in replay.clients["ami-mon"].msgs
                 if m.name == "AGIExecStart" and m.get("Command") == "ANSWER")
    end = next(line.t for line in lines if line.text == "200 result=0" and line.t >= start)
    return (end - start) * SPEED


def test_mixmonitor_wav_has_the_recorded_length(sounds: Path, tmp_path: Path) -> None:
    """Capture 05: MixMonitor with option b records only bridged time; muted time is silence;
    8 kHz 16-bit mono PCM with a 44-byte header."""
    replay = asyncio.run(replay_capture("05", sounds, tmp_path))
    events = replay.clients["ami-act"].msgs

    def at(name: str, n: int = 0, **match: str) -> float:
        found = [m.t for m in events if m.name == name and all(m.get(k) == v for k, v in match.items())]
        return found[n] * SPEED  # simulated seconds

    start, stop = at("MixMonitorStart"), at("MixMonitorStop")
    mute_on, mute_off = at("MixMonitorMute", State="1") - start, at("MixMonitorMute", State="0") - start
    path = tmp_path / "hotline-05-mixmon-b.wav"
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        frames = w.readframes(w.getnframes())
        seconds = w.getnframes() / 8000
    assert seconds == pytest.approx(stop - start, abs=0.35)  # event delivery jitter, x10 speed
    assert path.stat().st_size == 44 + len(frames)
    samples = memoryview(frames).cast("h")
    inside_mute = samples[int((mute_on + 0.1) * 8000) : int((mute_off - 0.1) * 8000)]
    assert len(inside_mute) > 8000 and max(abs(x) for x in inside_mute) == 0
    before_mute = samples[: int((mute_on - 0.1) * 8000)]
    assert max(abs(x) for x in before_mute) > 1000
    # the second MixMonitor (no options) ran until the caller hung up: no MixMonitorStop for it
    assert [m.name for m in events].count("MixMonitorStop") == 1
    assert (tmp_path / "hotline-05-mixmon-2.wav").exists()


def test_replay_itself_detects_a_difference(sounds: Path, tmp_path: Path) -> None:
    """The comparison is not blind: the same replay against a different scenario fails."""
    from tests.pbxsim.replay import compare_ami

    good = load("07").streams["ami-mon"].ami()
    bad = [m for m in good if not (m.kind == "Event" and m.name == "Newstate")]
    assert compare_ami(good, good, "07") == []
    assert compare_ami(good, bad, "07")
    altered = load("07").streams["ami-mon"].ami()
    for m in altered:
        if m.name == "Hangup":
            m.headers = [(k, "17" if k == "Cause" else v) for k, v in m.headers]
    assert any("Cause: 17" in p for p in compare_ami(good, altered, "07"))
    assert time.time() > 0
