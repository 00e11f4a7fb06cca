"""The PBX simulator as one object: AMI server, the running PBX, agents, callers, faults."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbxsim.ami.hub import EventHub
from pbxsim.ami.server import AmiServer
from pbxsim.behaviours import AgentSpec, CallerSpec, CustomerBehaviour
from pbxsim.channel import RING, Channel, Party
from pbxsim.clock import SimClock
from pbxsim.config import SimConfig
from pbxsim.dialplan.loader import load_dialplan, load_dialplan_text
from pbxsim.endpoints import Endpoints
from pbxsim.faults import Faults
from pbxsim.media import Sounds
from pbxsim.pbx import Pbx
from pbxsim.truth import CallRecord, TruthLog, iso

if TYPE_CHECKING:
    from pbxsim.originate import OriginateRequest
    from pbxsim.scenario import Scenario, ScenarioRun

log = logging.getLogger("pbxsim")


@dataclass
class CallHandle:
    """A call placed with :meth:`PbxSimulator.place_call`."""

    channel: Channel
    record: CallRecord
    ended: asyncio.Future[dict[str, Any]]

    @property
    def name(self) -> str:
        return self.channel.name

    def hang_up(self) -> None:
        """The caller hangs up now."""
        party = self.channel.party
        if party is not None:
            party.hang_up(self.channel, "caller")

    async def send_digits(self, digits: str) -> None:
        from pbxsim.parties import send_dtmf

        await send_dtmf(self.channel, digits)


class PbxSimulator:
    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = SimClock(self.config.speed, client_time=self.config.client_time)
        self.hub = EventHub(self.clock.wall if self.config.timestamp_events else None)
        if self.config.dialplan_text is not None:
            self.dialplan = load_dialplan_text(self.config.dialplan_text)
        else:
            self.dialplan = load_dialplan(self.config.dialplan_path())
        self.sounds = Sounds(self.config.sounds_dir, self.config.sound_durations)
        self.endpoints = Endpoints(self)
        self.faults = Faults(self)
        self.ami = AmiServer(self)
        self.truth_log = TruthLog(self.config.truth_log)
        self.pbx: Pbx | None = None
        self.boot = 0
        self.errors: list[BaseException] = []
        self.astdb: dict[tuple[str, str], str] = {}
        self.pending_writes: set[asyncio.Task[Any]] = set()
        self.calls: list[CallHandle] = []
        self.warned: set[str] = set()  # problems already logged once
        self._call_seq = 0

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self.config.record_dir.mkdir(parents=True, exist_ok=True)
        self._boot()
        await self.ami.start(self.config.ami_host, self.config.ami_port)
        log.info("pbxsim listening for AMI on %s:%s", self.config.ami_host, self.ami.port)

    def _boot(self) -> None:
        self.boot += 1
        self.pbx = Pbx(self, self.boot)
        if self.config.agi_url:
            self.pbx.globals["HOTLINE_AGI"] = self.config.agi_url.rstrip("/")
        for state in self.endpoints.agents.values():
            self.pbx.devices[f"PJSIP/{state.extension}"] = self.endpoints.idle_state(f"PJSIP/{state.extension}")

    @property
    def ami_port(self) -> int:
        return self.ami.port

    async def stop(self) -> None:
        await self.ami.stop()
        if self.pbx is not None:
            self._abandon_calls("shutdown")
            await self.pbx.shutdown()
        await self.flush()
        self.truth_log.close()

    async def hang_up_all(self, cause: int = 16, timeout: float = 5.0) -> bool:
        """Hang up every channel as an operator would (``channel request hangup all``): the
        Hangup events go out, so AMI clients see each call end. True when all were gone
        within ``timeout`` real seconds."""
        if self.pbx is None:
            return True
        for chan in list(self.pbx.channels.values()):
            chan.request_hangup(cause)
        try:
            await asyncio.wait_for(self.pbx.idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def flush(self) -> None:
        """Wait until recordings are written."""
        if self.pending_writes:
            await asyncio.gather(*list(self.pending_writes), return_exceptions=True)

    async def restart(self, down_for: float = 0.0) -> None:
        """Crash and come back: every channel gone without events, AMI sessions closed, the
        listener away for ``down_for`` real seconds, then a fresh boot (channel names and the
        Uniqueid sequence start again; FullyBooted reports a new Uptime)."""
        await self.ami.stop()
        self._abandon_calls("restart")
        if self.pbx is not None:
            await self.pbx.shutdown()
        if down_for > 0:
            await asyncio.sleep(down_for)
        self._boot()
        await self.ami.start(self.config.ami_host, self.ami.port or self.config.ami_port)

    def _abandon_calls(self, why: str) -> None:
        for handle in self.calls:
            if not handle.record.done:
                handle.record.finish(ended_by=why)
        for rec in list(self._records_in_flight()):
            rec.finish(ended_by=why)

    def _records_in_flight(self) -> list[CallRecord]:
        pbx = self.pbx
        if pbx is None:
            return []
        seen: dict[int, CallRecord] = {}
        for chan in pbx.channels.values():
            if chan.call is not None and not chan.call.done:
                seen[id(chan.call)] = chan.call
        return list(seen.values())

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Until no channel is up (real seconds timeout)."""
        assert self.pbx is not None
        await asyncio.wait_for(self.pbx.idle.wait(), timeout)
        await self.flush()

    # ---- people and phones ---------------------------------------------------------------------
    def add_agent(self, spec: AgentSpec) -> None:
        self.endpoints.add_agent(spec)

    def register_agent(self, extension: str) -> None:
        self.endpoints.register(extension)

    def unregister_agent(self, extension: str, *, unreachable: bool = False) -> None:
        self.endpoints.unregister(extension, unreachable=unreachable)

    def set_customer(self, number: str, behaviour: CustomerBehaviour) -> None:
        self.endpoints.customers[number] = behaviour

    def set_default_customer(self, behaviour: CustomerBehaviour) -> None:
        self.endpoints.default_customer = behaviour

    async def place_call(self, spec: CallerSpec) -> CallHandle:
        """A call arrives from the carrier (or another trunk endpoint) to ``spec.dnid``."""
        from pbxsim.dialplan.runner import run_pbx
        from pbxsim.parties import CallerParty

        pbx = self.pbx
        assert pbx is not None, "start() the simulator first"
        context = self.config.trunks.get(spec.endpoint)
        if context is None:
            raise ValueError(f"no trunk endpoint {spec.endpoint!r} (config.trunks: {sorted(self.config.trunks)})")
        self._call_seq += 1
        chan = Channel(pbx, name=pbx.pjsip_name(spec.endpoint), tech="PJSIP", resource=spec.endpoint,
                       state=RING, context=context, exten=spec.dnid,
                       caller=Party(spec.number, spec.name), dnid=spec.dnid)
        key = spec.scenario_index if spec.scenario_index is not None else f"call-{self._call_seq}"
        rng = random.Random(f"{self.config.seed}-caller-{key}")
        party = CallerParty(pbx, spec.behaviour, rng, spec.number, spec.name)
        chan.party = party
        record = CallRecord(self, chan, direction="inbound", caller=spec.number, dialled=spec.dnid,
                            label=spec.behaviour.label, scenario_index=spec.scenario_index)
        ended: asyncio.Future[dict[str, Any]] = pbx.loop.create_future()
        record.on_done = ended  # type: ignore[attr-defined]
        chan.announce()
        chan.set_var("SIPDOMAIN", self.config.sip_domain)
        party.attach(chan)
        pbx.spawn(run_pbx(chan), name=f"pbx {chan.name}")
        handle = CallHandle(chan, record, ended)
        self.calls.append(handle)
        return handle

    async def originate(self, request: OriginateRequest) -> Any:
        """Originate from Python (what the AMI action does)."""
        from pbxsim.originate import originate

        return await originate(self, request)

    def note_originate_failure(self, req: OriginateRequest, attempt: str | None, reason: str) -> None:
        now = self.clock.wall()
        self.truth_log.write({
            "direction": "outbound", "scenario_index": None, "linkedid": None, "uniqueid": None,
            "channel": None, "caller_number": req.callerid.num if req.callerid else None,
            "dialled_number": req.exten if req.context else req.channel, "label": None,
            "arrived_at": iso(now), "ringing_started_at": None, "answered_at": None,
            "answered_at_ring": None, "digits_sent": [], "digits_received": [], "prompts": [],
            "offers": [], "answered_by": None, "answered_by_ring": None, "talk_started_at": None,
            "talk_seconds": None, "ended_at": iso(now), "ended_by": "pbx", "hangup_cause": 0,
            "hangup_cause_txt": "Unknown", "abandoned": False, "abandoned_during": None, "dropped": None,
            "flags": [],
            "recordings": [], "agi": [], "variables": {}, "redirects": [], "duration_seconds": 0.0,
            "originate": {"action_id": req.action_id, "attempt_id": attempt, "channel": req.channel,
                          "context": req.context, "exten": req.exten, "application": req.application,
                          "response": "Failure", "reason": 0, "error": reason},
            "speed": self.clock.speed,
        })

    def cli(self, command: str) -> list[str]:
        """Run an Asterisk CLI command (``asterisk -rx``): core show uptime/version/channels,
        channel request hangup <channel>|all."""
        from pbxsim.ami.actions import run_cli

        return run_cli(self, command)[1]

    # ---- scenarios ---------------------------------------------------------------------------
    async def run_scenario(self, scenario: Scenario, *, calls: int | None = None) -> ScenarioRun:
        from pbxsim.scenario import run_scenario

        return await run_scenario(self, scenario, calls=calls)

    # ---- results ------------------------------------------------------------------------------
    @property
    def truth(self) -> list[dict[str, Any]]:
        return self.truth_log.records

    def record_events(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Start keeping every event emitted (name, headers) in a list, for tests."""
        events: list[tuple[str, list[tuple[str, str]]]] = []
        self.hub.listeners.append(lambda name, headers: events.append((name, list(headers))))
        return events


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)
