"""Live state of the agents' softphones, kept by the bridge (pure: no I/O, no clock).

An agent's *presence* is what the agent (or a supervisor, or the ring policy) decided:
logged out, ready, paused with a reason, or in wrap-up after a call. On top of it, the calls
the bridge follows put the phone *ringing* or *talking*. The state everyone sees is the
activity if there is one, else the presence. Registration (is the softphone reachable?) is
kept beside it: the router never offers a call to a phone known to be unregistered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from hotline.domain.enums import AgentState, Role
from hotline.domain.events import AgentStateChanged

RING_NO_ANSWER = "ring-no-answer"


@dataclass(frozen=True)
class AgentInfo:
    """Who sits behind an Asterisk interface (``PJSIP/1001``)."""

    agent_id: int
    extension: str
    interface: str
    role: Role = Role.AGENT
    user_id: int | None = None
    auto_answer: bool = False


def channel_interface(channel: str) -> str:
    """The dial interface a channel belongs to: ``PJSIP/1001-0000002b`` -> ``PJSIP/1001``,
    ``Local/201@agents-00000014;1`` -> ``Local/201@agents``."""
    name = channel
    if name.startswith("Local/") and name[-2:-1] == ";":
        name = name[:-2]
    base, sep, _seq = name.rpartition("-")
    return base if sep else name


@dataclass
class AgentLive:
    info: AgentInfo
    presence: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    registered: bool | None = None
    idle_since: dt.datetime | None = None
    changed_at: dt.datetime | None = None
    consecutive_no_answer: int = 0
    ringing: set[str] = field(default_factory=set)  # uniqueids of legs ringing this phone
    talking: set[str] = field(default_factory=set)
    last_shown: tuple[AgentState, str | None, bool | None] | None = None

    @property
    def state(self) -> AgentState:
        if self.talking:
            return AgentState.TALKING
        if self.ringing:
            return AgentState.RINGING
        return self.presence

    @property
    def available_after_wrap_up(self) -> bool:
        """In wrap-up after a call, idle and not known to be unregistered."""
        return (
            self.presence is AgentState.WRAP_UP
            and not self.ringing
            and not self.talking
            and self.registered is not False
        )

    @property
    def available(self) -> bool:
        """Ready, idle, and not known to be unregistered."""
        return (
            self.presence is AgentState.READY
            and not self.ringing
            and not self.talking
            and self.registered is not False
        )


class AgentBook:
    """Every agent the bridge knows, found by id or by the interface of a channel."""

    def __init__(self, pbx: str = "pbx1") -> None:
        self.pbx = pbx
        self._by_id: dict[int, AgentLive] = {}
        self._by_interface: dict[str, AgentLive] = {}

    # -- directory ------------------------------------------------------------------------

    def add(
        self,
        info: AgentInfo,
        *,
        presence: AgentState = AgentState.LOGGED_OUT,
        reason: str | None = None,
        idle_since: dt.datetime | None = None,
    ) -> AgentLive:
        """Add or update an agent (the directory is reloaded from the database)."""
        live = self._by_id.get(info.agent_id)
        if live is None:
            if presence in (AgentState.RINGING, AgentState.TALKING):
                # a state stored by a bridge that stopped mid-call; the calls tell the truth
                presence = AgentState.READY
            live = AgentLive(info, presence=presence, reason=reason, idle_since=idle_since)
            live.last_shown = (live.state, live.reason, live.registered)
            self._by_id[info.agent_id] = live
        else:
            self._by_interface.pop(live.info.interface, None)
            live.info = info
        self._by_interface[info.interface] = live
        return live

    def get(self, agent_id: int) -> AgentLive | None:
        return self._by_id.get(agent_id)

    def for_channel(self, channel: str) -> AgentLive | None:
        if not self._by_interface:
            return None
        return self._by_interface.get(channel_interface(channel))

    def for_interface(self, interface: str) -> AgentLive | None:
        return self._by_interface.get(interface)

    def __iter__(self) -> Iterator[AgentLive]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    # -- changes (each returns the event to publish, or None if nothing visible changed) --

    def _changed(self, live: AgentLive, at: dt.datetime) -> AgentStateChanged | None:
        shown = (live.state, live.reason if live.state is AgentState.PAUSED else None, live.registered)
        if shown == live.last_shown:
            return None
        live.last_shown = shown
        live.changed_at = at
        return AgentStateChanged(
            at=at, pbx=self.pbx, agent_id=live.info.agent_id, extension=live.info.extension,
            state=shown[0].value, reason=shown[1], registered=live.registered,
        )

    def refresh(self, live: AgentLive, at: dt.datetime) -> AgentStateChanged | None:
        """The event for whatever changed on ``live`` since it was last shown, if anything."""
        return self._changed(live, at)

    def set_presence(
        self, live: AgentLive, presence: AgentState, at: dt.datetime, reason: str | None = None
    ) -> AgentStateChanged | None:
        if presence is AgentState.READY and live.presence is not AgentState.READY:
            live.idle_since = at
        if presence is AgentState.READY:
            live.consecutive_no_answer = 0
        live.presence = presence
        live.reason = reason if presence is AgentState.PAUSED else None
        return self._changed(live, at)

    def ringing(self, live: AgentLive, uniqueid: str, at: dt.datetime) -> AgentStateChanged | None:
        live.ringing.add(uniqueid)
        return self._changed(live, at)

    def talking(self, live: AgentLive, uniqueid: str, at: dt.datetime) -> AgentStateChanged | None:
        live.ringing.discard(uniqueid)
        live.talking.add(uniqueid)
        live.consecutive_no_answer = 0
        return self._changed(live, at)

    def leg_gone(
        self, live: AgentLive, uniqueid: str, at: dt.datetime, *, after_talk: bool,
        wrap_up: bool | None = None,
    ) -> AgentStateChanged | None:
        """A leg of this agent ended; after a conversation a ready agent goes to wrap-up.
        ``wrap_up`` overrides that judgement when the caller knows better (an agent-first
        outbound leg is "talking" from pick-up, but was a conversation only if the customer
        answered)."""
        live.ringing.discard(uniqueid)
        was_talking = uniqueid in live.talking
        live.talking.discard(uniqueid)
        if wrap_up is None:
            wrap_up = after_talk or was_talking
        if wrap_up and live.presence is AgentState.READY and not live.talking:
            live.presence = AgentState.WRAP_UP
        return self._changed(live, at)

    def no_answer(
        self, live: AgentLive, at: dt.datetime, pause_after: int
    ) -> tuple[int, AgentStateChanged | None]:
        """Count a ring-no-answer; the ``pause_after``-th in a row pauses a ready agent."""
        live.consecutive_no_answer += 1
        count = live.consecutive_no_answer
        if count >= pause_after and live.presence is AgentState.READY:
            live.presence = AgentState.PAUSED
            live.reason = RING_NO_ANSWER
        return count, self._changed(live, at)

    def end_wrap_up(self, live: AgentLive, at: dt.datetime) -> AgentStateChanged | None:
        if live.presence is not AgentState.WRAP_UP:
            return None
        return self.set_presence(live, AgentState.READY, at)

    def registration(self, live: AgentLive, registered: bool, at: dt.datetime) -> AgentStateChanged | None:
        live.registered = registered
        return self._changed(live, at)
