"""Interfaces one part of hotline offers another, so each can be built and tested alone.

The AMI bridge implements :class:`AgentRouter` and :class:`PbxActions`; the IVR, recordings
and the scheduler use them. Only these signatures are shared; how they work is each
implementer's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from hotline.domain.enums import Role


@dataclass(frozen=True)
class AgentOffer:
    """An agent reserved for one call; dial ``interface`` under the ring policy."""

    agent_id: int
    extension: str
    interface: str
    auto_answer: bool = False
    # The call the agent is reserved for: releasing the offer frees the agent only if it is
    # still reserved for that call (None: whatever it is reserved for).
    call_key: str | None = None


class AgentRouter(Protocol):
    async def acquire(
        self,
        call_key: str,
        *,
        roles: frozenset[Role] | None = None,
        exclude: frozenset[int] = frozenset(),
        timeout: float = 0.0,
        wrap_up_ok: bool = False,
    ) -> AgentOffer | None:
        """Reserve the longest-idle ready agent (of ``roles`` if given), waiting up to
        ``timeout`` seconds for one; None if nobody became free. ``wrap_up_ok``: an agent in
        wrap-up will do too (a dropped call's callback by the same agent, rule 1.15)."""
        ...

    def release(self, offer: AgentOffer) -> None:
        """Give back an agent that was reserved but never dialled."""
        ...


@dataclass(frozen=True)
class OriginateResult:
    """What OriginateResponse said. ``reason`` is Asterisk's last control frame:
    0/1 failed or hung up, 3 ringing (no answer), 4 answered, 5 busy, 8 congestion."""

    action_id: str
    success: bool
    reason: int
    channel: str | None
    uniqueid: str | None


class PbxActions(Protocol):
    async def originate(
        self,
        *,
        action_id: str,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        timeout: float,
        caller_id: str,
        variables: Mapping[str, str],
    ) -> OriginateResult:
        """Send an async Originate once (never re-sent after a reconnect) and return the
        OriginateResponse."""
        ...

    async def hangup(self, channel: str, cause: int = 16) -> None: ...

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        *,
        extra_channel: str | None = None,
        extra_context: str | None = None,
        extra_exten: str | None = None,
        extra_priority: int | None = None,
    ) -> None: ...

    async def setvar(self, channel: str, name: str, value: str) -> None: ...

    async def getvar(self, channel: str, name: str) -> str | None: ...

    async def mixmonitor(self, channel: str, path: str, options: str = "") -> None: ...

    async def stop_mixmonitor(self, channel: str) -> None: ...

    async def core_show_channels(self) -> list[dict[str, str]]: ...


class AgentControl(Protocol):
    """What the web app (agent desk, supervisors) asks of the bridge about agents; the bridge
    owns live agent state and persists it."""

    async def set_ready(self, agent_id: int) -> None: ...

    async def pause(self, agent_id: int, reason: str) -> None: ...

    async def log_in(self, agent_id: int) -> None: ...

    async def log_out(self, agent_id: int) -> None: ...
