"""Scenarios: traffic described in YAML (arrivals, call mix, agents, customers, seed).

The same seed gives the same calls: every caller's number, arrival time and behaviour is drawn
from one RNG seeded by the scenario before anything runs, so concurrency cannot change them.
A value written as ``[low, high]`` is drawn uniformly (integers stay integers).

Example (see ``pbxsim/scenarios/*.yaml``)::

    name: demo
    seed: 7
    speed: 10
    calls: 200
    dnid: "4008001234"
    arrival: {rate_per_minute: 30}
    mix:
      - {name: menu-then-agent, weight: 6, digits: ["1"], talk_time: [20, 90]}
      - {name: abandons, weight: 2, patience: [15, 40]}
    agents:
      - {extension: "1001", answer_on_ring: [2, 4]}
      - {extension: "1003", mode: never}
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pbxsim.behaviours import (
    AgentBehaviour,
    AgentFlag,
    AgentSpec,
    CallerBehaviour,
    CallerSpec,
    CustomerBehaviour,
)

if TYPE_CHECKING:
    from pbxsim.simulator import CallHandle, PbxSimulator

Seconds = Annotated[float, Field(ge=0)]
Range = Seconds | tuple[Seconds, Seconds]
RingRange = Annotated[int, Field(ge=1, le=50)] | tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message names the file and the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlagModel(_Model):
    code: str = Field(pattern=r"^[0-9*#]+$")
    after: Range = 5.0


class CallMix(_Model):
    name: str
    weight: Annotated[float, Field(gt=0)] = 1.0
    label: str | None = None
    digits: list[str | None] = []
    think_time: Range = 1.0
    patience: Range | None = 300.0
    hangup_after_answer: Range | None = None
    talk_time: Range | None = 60.0
    drop_after: Range | None = None
    sends_media: bool = True
    speech_seconds: Range | None = None
    agent_flags: list[FlagModel] = []


class AgentModel(_Model):
    extension: str = Field(pattern=r"^[0-9A-Za-z_.-]+$")
    name: str | None = None
    mode: Literal["answer", "never", "busy", "reject", "auto"] = "answer"
    answer_on_ring: RingRange | None = 2
    answer_after: Range | None = None
    talk_time: Range | None = None
    drop_after: Range | None = None
    flags: list[FlagModel] = []
    busy_when_in_call: bool = True
    registered: bool = True
    qualify: bool = True


class CustomerModel(_Model):
    mode: Literal["answer", "busy", "reject", "noanswer", "congestion"] = "answer"
    answer_after: Range = 6.0
    talk_time: Range | None = 60.0
    hangup_after_answer: Range | None = None
    digits: list[str | None] = []
    drop_after: Range | None = None


class Arrival(_Model):
    rate_per_minute: Annotated[float, Field(gt=0)] | None = None
    interval: Annotated[float, Field(gt=0)] | None = None
    start_after: Seconds = 0.5

    @model_validator(mode="after")
    def _one(self) -> Arrival:
        if (self.rate_per_minute is None) == (self.interval is None):
            raise ValueError("give exactly one of rate_per_minute (random arrivals) or interval (fixed)")
        return self


class CallerNumbers(_Model):
    prefix: str = Field(default="138", pattern=r"^[0-9]*$")
    length: Annotated[int, Field(ge=3, le=20)] = 11


class ScenarioModel(_Model):
    name: str = "scenario"
    seed: int = 1
    speed: Annotated[float, Field(gt=0)] | None = None
    calls: Annotated[int, Field(ge=0)] = 10
    dnid: str = Field(default="4008001234", pattern=r"^[0-9]+$")
    trunk: str = "carrier"
    arrival: Arrival = Arrival(interval=3.0)
    caller_numbers: CallerNumbers = CallerNumbers()
    mix: list[CallMix] = Field(default_factory=lambda: [CallMix(name="default", digits=["1"])], min_length=1)
    agents: list[AgentModel] = []
    customers: dict[str, CustomerModel] = {}

    @model_validator(mode="after")
    def _unique_agents(self) -> ScenarioModel:
        seen = Counter(a.extension for a in self.agents)
        dup = [ext for ext, n in seen.items() if n > 1]
        if dup:
            raise ValueError(f"agent extension listed twice: {', '.join(dup)}")
        return self


def _pick(value: Any, rng: random.Random) -> Any:
    if isinstance(value, tuple):
        low, high = value
        if low > high:
            low, high = high, low
        if isinstance(low, int) and isinstance(high, int):
            return rng.randint(low, high)
        return round(rng.uniform(float(low), float(high)), 3)
    return value


def _flags(flags: list[FlagModel]) -> list[AgentFlag]:
    return [AgentFlag(f.code, f.after) for f in flags]  # ranges are drawn per call by the phone


@dataclass
class PlannedCall:
    at: float  # simulated seconds after the scenario starts
    mix: str
    spec: CallerSpec


@dataclass
class Scenario:
    model: ScenarioModel
    source: str = "<scenario>"

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise ScenarioError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
        return cls.from_dict(data if data is not None else {}, str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "<scenario>") -> Scenario:
        if not isinstance(data, dict):
            raise ScenarioError(f"{source}: a scenario is a mapping of keys (name, seed, calls, mix, agents, ...)")
        try:
            model = ScenarioModel.model_validate(data)
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(top)"
                lines.append(f"{source}: {loc}: {err['msg']}")
            raise ScenarioError("\n".join(lines)) from None
        return cls(model, source)

    @property
    def seed(self) -> int:
        return self.model.seed

    def agents(self) -> list[AgentSpec]:
        out = []
        for a in self.model.agents:
            out.append(AgentSpec(a.extension, AgentBehaviour(
                answer_on_ring=a.answer_on_ring, answer_after=a.answer_after, mode=a.mode,
                talk_time=a.talk_time, drop_after=a.drop_after, flags=_flags(a.flags),
                busy_when_in_call=a.busy_when_in_call, registered=a.registered, qualify=a.qualify,
            ), a.name))
        return out

    def customers(self) -> tuple[CustomerBehaviour | None, dict[str, CustomerBehaviour]]:
        def build(c: CustomerModel) -> CustomerBehaviour:
            return CustomerBehaviour(c.mode, c.answer_after, CallerBehaviour(
                digits=list(c.digits), talk_time=c.talk_time, hangup_after_answer=c.hangup_after_answer,
                drop_after=c.drop_after))

        default = None
        numbers: dict[str, CustomerBehaviour] = {}
        for key, c in self.model.customers.items():
            if key == "default":
                default = build(c)
            else:
                numbers[key] = build(c)
        return default, numbers

    def plan(self, calls: int | None = None) -> list[PlannedCall]:
        """The calls this scenario makes, the same for the same seed."""
        m = self.model
        rng = random.Random(f"pbxsim-scenario-{m.seed}")
        total = m.calls if calls is None else calls
        weights = [mix.weight for mix in m.mix]
        at = m.arrival.start_after
        planned: list[PlannedCall] = []
        used: set[str] = set()
        for index in range(total):
            mix = rng.choices(m.mix, weights)[0]
            digits = m.caller_numbers.length - len(m.caller_numbers.prefix)
            number = m.caller_numbers.prefix + "".join(rng.choice("0123456789") for _ in range(max(digits, 0)))
            while number in used and digits > 0:
                number = m.caller_numbers.prefix + "".join(rng.choice("0123456789") for _ in range(digits))
            used.add(number)
            behaviour = CallerBehaviour(
                digits=list(mix.digits), think_time=_pick(mix.think_time, rng),
                patience=_pick(mix.patience, rng), hangup_after_answer=_pick(mix.hangup_after_answer, rng),
                talk_time=_pick(mix.talk_time, rng), drop_after=_pick(mix.drop_after, rng),
                sends_media=mix.sends_media, speech_seconds=_pick(mix.speech_seconds, rng),
                label=mix.label,
                agent_flags=[AgentFlag(f.code, _pick(f.after, rng)) for f in mix.agent_flags],
            )
            spec = CallerSpec(number=number, dnid=m.dnid, behaviour=behaviour, endpoint=m.trunk,
                              scenario_index=index)
            planned.append(PlannedCall(round(at, 3), mix.name, spec))
            if m.arrival.interval is not None:
                at += m.arrival.interval
            else:
                at += rng.expovariate(m.arrival.rate_per_minute / 60.0)  # type: ignore[operator]
        return planned


@dataclass
class ScenarioRun:
    """What a scenario run produced."""

    planned: list[PlannedCall]
    handles: list[CallHandle] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        recs = self.records
        answered = [r for r in recs if r["answered_by"]]
        by_agent = Counter(r["answered_by"] for r in answered)
        rings = Counter(r["answered_by_ring"] for r in answered)
        return {
            "calls": len(self.planned),
            "ended": len(recs),
            "answered_by_agent": len(answered),
            "abandoned": sum(1 for r in recs if r["abandoned"]),
            "dropped": sum(1 for r in recs if r["dropped"]),
            "ivr_only": sum(1 for r in recs if not r["answered_by"] and not r["abandoned"]),
            "flags": sum(len(r["flags"]) for r in recs),
            "recordings": sum(len(r["recordings"]) for r in recs),
            "by_agent": dict(sorted(by_agent.items())),
            "answer_ring": {str(k): v for k, v in sorted(rings.items(), key=lambda kv: kv[0] or 0)},
            "ended_by": dict(Counter(r["ended_by"] for r in recs)),
        }


def install(sim: PbxSimulator, scenario: Scenario) -> None:
    """Give the simulator the scenario's agents' softphones and its customers' behaviours."""
    for spec in scenario.agents():
        sim.add_agent(spec)
    default, numbers = scenario.customers()
    if default is not None:
        sim.set_default_customer(default)
    for number, behaviour in numbers.items():
        sim.set_customer(number, behaviour)


async def place_planned(sim: PbxSimulator, planned: list[PlannedCall],
                        stop: asyncio.Event | None = None) -> list[CallHandle]:
    """Place each call at its arrival time (simulated seconds from now); with ``stop``, no
    new call once it is set."""
    handles: list[CallHandle] = []
    start = sim.clock.now()
    for call in planned:
        delay = call.at - (sim.clock.now() - start)
        if delay > 0:
            if stop is None:
                await sim.clock.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), sim.clock.real(delay))
        if stop is not None and stop.is_set():
            break
        handles.append(await sim.place_call(call.spec))
    return handles


async def run_scenario(sim: PbxSimulator, scenario: Scenario, *, calls: int | None = None) -> ScenarioRun:
    """Add the scenario's agents and customers, place its calls at their arrival times, and
    return once every call has ended (its truth record written)."""
    install(sim, scenario)
    run = ScenarioRun(scenario.plan(calls))
    run.handles = await place_planned(sim, run.planned)
    if run.handles:
        run.records = list(await asyncio.gather(*(h.ended for h in run.handles)))
    await sim.flush()
    return run
