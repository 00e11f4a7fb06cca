"""PJSIP endpoints: the carrier trunk(s) and the agents' softphones with their registrations.

Registrations outlive a PBX restart (res_pjsip keeps contacts in astdb), so the registry lives
in the simulator, not in one boot of it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pbxsim.behaviours import AgentSpec, CustomerBehaviour
from pbxsim.causes import SUBSCRIBER_ABSENT

if TYPE_CHECKING:
    from pbxsim.channel import Channel
    from pbxsim.simulator import PbxSimulator


@dataclass
class AgentState:
    spec: AgentSpec
    registered: bool = False
    reachable: bool = False
    callid: str = ""
    expires: int = 0
    port: int = 5060

    @property
    def extension(self) -> str:
        return self.spec.extension

    @property
    def uri(self) -> str:
        return f"sip:{self.extension}@127.0.0.1:{self.port}"


@dataclass
class Target:
    endpoint: str
    context: str
    available: bool
    cause: int = 0
    agent: AgentState | None = None
    number: str | None = None


class Endpoints:
    def __init__(self, sim: PbxSimulator) -> None:
        self.sim = sim
        cfg = sim.config
        self.trunks: dict[str, str] = dict(cfg.trunks)
        self.agent_context = cfg.agent_context
        self.agents: dict[str, AgentState] = {}
        self.customers: dict[str, CustomerBehaviour] = {}
        self.default_customer = CustomerBehaviour()

    # ---- agents -------------------------------------------------------------------------------
    def add_agent(self, spec: AgentSpec) -> AgentState:
        state = self.agents.get(spec.extension)
        if state is None:
            state = AgentState(spec, port=5100 + len(self.agents))
            self.agents[spec.extension] = state
        else:
            state.spec = spec
        if spec.behaviour.registered and not state.registered:
            self.register(spec.extension)
        elif not spec.behaviour.registered and state.registered:
            self.unregister(spec.extension)
        return state

    def register(self, extension: str) -> None:
        """The softphone REGISTERs: PeerStatus Reachable, ContactStatus, DeviceStateChange."""
        state = self.agents[extension]
        if state.registered:
            return
        state.registered = True
        state.reachable = True
        state.callid = hashlib.md5(f"{extension}-{random.random()}".encode()).hexdigest()[:16] + "@127.0.0.1"  # noqa: S324
        state.expires = int(self.sim.clock.wall()) + 3600
        hub = self.sim.hub
        contact = self._contact(state)
        if state.spec.behaviour.qualify:
            hub.emit("ContactStatus", "system", [*contact("Created"), ("RoundtripUsec", "0")])
            hub.emit("PeerStatus", "system", self._peer(state, "Reachable"))
            hub.emit("ContactStatus", "system", [*contact("Reachable"), ("RoundtripUsec", "1423")])
        else:
            hub.emit("PeerStatus", "system", self._peer(state, "Reachable"))
            hub.emit("ContactStatus", "system", [*contact("NonQualified"), ("RoundtripUsec", "0")])
        self._device(state)

    def unregister(self, extension: str, *, unreachable: bool = False) -> None:
        """REGISTER with Expires: 0 (or qualify timeouts: the contact becomes Unreachable)."""
        state = self.agents[extension]
        if not state.registered:
            return
        state.registered = False
        state.reachable = False
        hub = self.sim.hub
        contact = self._contact(state)
        if unreachable:
            hub.emit("ContactStatus", "system", [*contact("Unreachable"), ("RoundtripUsec", "0")])
            hub.emit("PeerStatus", "system", self._peer(state, "Unreachable"))
        else:
            hub.emit("PeerStatus", "system", self._peer(state, "Unreachable"))
            hub.emit("ContactStatus", "system", [*contact("Removed"), ("RoundtripUsec", "0")])
        self._device(state)

    def _contact(self, state: AgentState):  # noqa: ANN202
        def fields(status: str) -> list[tuple[str, str]]:
            return [("URI", state.uri), ("ContactStatus", status), ("AOR", state.extension),
                    ("EndpointName", state.extension)]

        return fields

    @staticmethod
    def _peer(state: AgentState, status: str) -> list[tuple[str, str]]:
        return [("ChannelType", "PJSIP"), ("Peer", f"PJSIP/{state.extension}"), ("PeerStatus", status)]

    def _device(self, state: AgentState) -> None:
        pbx = self.sim.pbx
        if pbx is not None:
            pbx.update_device(f"PJSIP/{state.extension}")

    def idle_state(self, device: str) -> str:
        if device.startswith("Local/"):
            exten, _, context = device[6:].partition("@")
            return "NOT_INUSE" if self.sim.dialplan.exists(context, exten) else "INVALID"
        if device.startswith("PJSIP/"):
            name = device[6:]
            state = self.agents.get(name)
            if state is not None:
                return "NOT_INUSE" if state.registered else "UNAVAILABLE"
        return "NOT_INUSE"

    def contacts(self) -> list[AgentState]:
        return [a for a in self.agents.values() if a.registered]

    # ---- dialling ----------------------------------------------------------------------------
    def resolve(self, resource: str) -> Target | None:
        """``1001`` (an agent), ``13800000001@carrier`` (a customer via a trunk)."""
        user, sep, host = resource.partition("@")
        if sep:
            trunk = host.split(":", 1)[0]
            if trunk in self.trunks:
                return Target(trunk, self.trunks[trunk], True, number=user)
            return None
        if user in self.agents:
            state = self.agents[user]
            return Target(user, self.agent_context, state.registered,
                          0 if state.registered else SUBSCRIBER_ABSENT, agent=state)
        if user in self.trunks:
            return Target(user, self.trunks[user], True, number=None)
        return None

    def start_far_end(self, chan: Channel, target: Target, dialer: Channel | None) -> None:
        from pbxsim.parties import AgentPhone, CustomerPhone

        pbx = chan.pbx
        seed = f"{self.sim.config.seed}-{chan.name}-{chan.uniqueid}"
        rng = random.Random(seed)
        if target.agent is not None:
            spec = target.agent.spec
            party: AgentPhone | CustomerPhone = AgentPhone(pbx, spec.extension, spec.behaviour, rng, spec.name)
        else:
            number = target.number or ""
            party = CustomerPhone(pbx, number, self.customers.get(number, self.default_customer), rng)
        chan.party = party
        pbx.spawn(party.ring(chan), name=f"far end {chan.name}")
