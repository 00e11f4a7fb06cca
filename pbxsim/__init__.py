"""pbxsim: a simulated Asterisk 22 that speaks real AMI and FastAGI over TCP.

hotline's bridge, IVR and scheduler talk to it exactly as to Asterisk: the AMI on a TCP port
(banner ``Asterisk Call Manager/11.0.0``), FastAGI connections to hotline's AGI server from
``AGI()`` in the dialplan (``deploy/asterisk/extensions.conf`` by default), or a classic AGI
process per call for ``AGI(script,...)`` (found in ``SimConfig.agi_dir``). Its behaviour is
checked against transcripts of a real Asterisk 22 (``tests/pbxsim/test_conformance.py``).

Python API (in-process, asyncio)::

    from pbxsim import (PbxSimulator, SimConfig, AgentSpec, AgentBehaviour, AgentFlag,
                        CallerSpec, CallerBehaviour, CustomerBehaviour, Scenario)

    sim = PbxSimulator(SimConfig(
        ami_port=0,                          # 0: a free port, read it from sim.ami_port
        agi_url="agi://127.0.0.1:4573",      # replaces the dialplan's HOTLINE_AGI global
        speed=10.0,                          # every simulated duration divided by 10
        dialplan=Path("deploy/asterisk/extensions.conf"),  # or dialplan_text="..."
        record_dir=tmp / "rec",              # relative MixMonitor / RECORD FILE paths
        sounds_dir=tmp / "sounds",           # relative sound names (<name>.wav)
        truth_log=tmp / "truth.jsonl",
        ami_users={"hotline": "secret"},     # or AmiUser(secret, read=..., write=...)
        channel_vars=("HOTLINE_CALL_ID", "HOTLINE_ATTEMPT_ID", "HOTLINE_CATEGORY"),
        ring_on=1.0, ring_off=4.0,           # the ring cadence (period 5 s)
        seed=1))
    await sim.start()
    port = sim.ami_port

    sim.add_agent(AgentSpec("1001", AgentBehaviour(answer_on_ring=3, talk_time=40)))
    sim.add_agent(AgentSpec("1002", AgentBehaviour(mode="never")))      # or busy/reject/auto
    sim.register_agent("1003"); sim.unregister_agent("1003", unreachable=True)
    sim.set_customer("13900000001", CustomerBehaviour(mode="busy"))     # outbound targets

    call = await sim.place_call(CallerSpec(number="13800000001", dnid="4008001234",
        behaviour=CallerBehaviour(digits=["1"], talk_time=30, patience=60, drop_after=None,
                                  label="abusive", agent_flags=[AgentFlag("*71", after=5)])))
    record = await call.ended            # the call's truth record (a dict)
    call.hang_up()                       # or hang up on demand; await call.send_digits("12#")
    await sim.wait_idle()

    sim.faults.drop_ami()                # cut every AMI connection (RST)
    sim.faults.half_open(); sim.faults.recover()     # stop reading/answering; resume
    sim.faults.delay_replies(0.5)        # action replies late, events on time
    sim.faults.split_frames("byte")      # or "random": every message written in pieces
    sim.faults.send_malformed(); sim.faults.send_invalid_utf8(); sim.faults.send_raw(b"...")
    await sim.restart(down_for=1.0)      # channels gone without events, fresh ids, new Uptime

    sim.truth                            # every call record so far (also the JSON-lines file)
    sim.cli("channel request hangup all")            # a few Asterisk CLI commands
    events = sim.record_events()         # tests: every event emitted, as (name, headers)
    run = await sim.run_scenario(Scenario.load("pbxsim/scenarios/demo.yaml"))
    run.summary()
    await sim.stop()

Time: durations the PBX reports or waits (ring cadence, prompt and recording lengths, talk
times, ANSWER's 500 ms, the 40 ms before the AGI HANGUP notice, DIALEDTIME, Cdr Duration,
Originate Timeout) are simulated seconds; absolute times (Uniqueid epochs, Cdr times, the truth
log's ``*_at``) are real wall-clock time, like what hotline stores. The 1 s delay before a failed
login's reply is real time (it is the AMI's, not a call's).

``hotline simulate`` (``hotline/cli/simulate_cmd.py``) runs it from the command line; see
``pbxsim/NOTES.md`` for what is modelled, what is not, and what had to be extrapolated.
"""

from pbxsim.behaviours import (
    AgentBehaviour,
    AgentFlag,
    AgentSpec,
    CallerBehaviour,
    CallerSpec,
    CustomerBehaviour,
)
from pbxsim.config import AmiUser, SimConfig
from pbxsim.scenario import Scenario, ScenarioError
from pbxsim.simulator import CallHandle, PbxSimulator

__all__ = [
    "AgentBehaviour",
    "AgentFlag",
    "AgentSpec",
    "AmiUser",
    "CallHandle",
    "CallerBehaviour",
    "CallerSpec",
    "CustomerBehaviour",
    "PbxSimulator",
    "Scenario",
    "ScenarioError",
    "SimConfig",
]
