"""What the simulated people and phones do. Plain data; :mod:`pbxsim.parties` acts on it.

All durations are simulated seconds (divided by the simulator's ``speed`` at run time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class AgentFlag:
    """A feature code an agent keys on the softphone during the conversation (``*71``)."""

    code: str
    after: float = 5.0  # seconds into the conversation


@dataclass
class CallerBehaviour:
    """An inbound caller (or an answered customer on an outbound call)."""

    # One entry per input request (GET DATA, WAIT FOR DIGIT, GET OPTION, Read): the digits the
    # caller keys, "" or None to stay silent for that request. Exhausted list = silent.
    digits: list[str | None] = field(default_factory=list)
    think_time: float = 1.0  # seconds before the first digit of an entry
    digit_duration: float = 0.2
    digit_gap: float = 0.2
    patience: float | None = None  # hang up this long after arriving unless talking to an agent
    hangup_after_answer: float | None = None  # hang up this long after the PBX answered
    talk_time: float | None = None  # hang up this long after an agent answered
    drop_after: float | None = None  # the line drops (cause 38) this long after an agent answered
    sends_media: bool = True  # RTP flows from the caller (ANSWER returns at once, recordings hear speech)
    speech_seconds: float | None = None  # how long the caller talks into a RECORD FILE (None: throughout)
    label: str | None = None  # "abusive", "extortion", ...: truth log only
    agent_flags: list[AgentFlag] = field(default_factory=list)  # keyed by whichever agent answers
    dtmf_at: list[tuple[float, str]] = field(default_factory=list)  # (seconds after answer, digits)


AgentMode = Literal["answer", "never", "busy", "reject", "auto"]


@dataclass
class AgentBehaviour:
    """An agent's softphone."""

    answer_on_ring: int | None = 2  # answer during this ring (cadence from the config)
    answer_after: float | None = None  # or after this many seconds of ringing (overrides)
    mode: AgentMode = "answer"
    talk_time: float | None = None  # the agent hangs up this long after answering (None: waits)
    drop_after: float | None = None  # the agent's line drops (cause 38) this long after answering
    flags: list[AgentFlag] = field(default_factory=list)  # sent on every answered call
    busy_when_in_call: bool = True  # a second call while on a call gets 486 Busy
    registered: bool = True
    qualify: bool = True  # qualify_frequency > 0: ContactStatus Created/Reachable, else NonQualified
    user_agent: str = "hotline-softphone"


CustomerMode = Literal["answer", "busy", "reject", "noanswer", "congestion"]


@dataclass
class CustomerBehaviour:
    """A customer's phone reached through the carrier (outbound calls)."""

    mode: CustomerMode = "answer"
    answer_after: float = 6.0  # seconds of ringing before answering (or rejecting)
    in_call: CallerBehaviour = field(default_factory=lambda: CallerBehaviour(talk_time=60.0))


@dataclass
class AgentSpec:
    extension: str
    behaviour: AgentBehaviour = field(default_factory=AgentBehaviour)
    name: str | None = None


@dataclass
class CallerSpec:
    number: str
    dnid: str = "4008001234"
    behaviour: CallerBehaviour = field(default_factory=CallerBehaviour)
    name: str | None = None
    endpoint: str = "carrier"  # the PJSIP endpoint the call arrives on
    scenario_index: int | None = None
