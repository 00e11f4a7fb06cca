"""Which agent gets the next call: the longest-idle ready agent, reserved atomically.

The IVR asks :meth:`AgentRouter.acquire` before it dials. Picking and reserving happen in one
step on the event loop (no ``await`` in between), so two calls never get the same agent. A
reservation lasts until the agent's phone rings for that call (the state machine then shows
the agent ringing), until :meth:`release` (the IVR releases every offer once its Dial is
over, so a busy or unreachable phone, which never rings, is not kept from other calls), or
until ``reservation_timeout`` if the IVR never dials. Calls that find nobody wait in arrival
order; the first waiter an agent fits gets it. Blacklisted callers are routed with
``roles={team_leader, supervisor}``. A dropped call's callback may take its agent from
wrap-up (``wrap_up_ok``): calling back at once is that agent's wrap-up work (rule 1.15). The
scheduler's agent-first calls ring the agent through an Originate, which shows no
``CallOffered``: the agent's ringing (or talking) state ends the reservation instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from ami_bridge.agents import AgentBook, AgentLive
from hotline.domain.enums import Role
from hotline.domain.events import AgentStateChanged, CallOffered, DomainEvent
from hotline.domain.ports import AgentOffer

log = logging.getLogger(__name__)

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass
class _Waiter:
    call_key: str
    roles: frozenset[Role] | None
    exclude: frozenset[int]
    future: asyncio.Future[AgentOffer]
    wrap_up_ok: bool = False


class Router:
    """hotline.domain.ports.AgentRouter over the bridge's live agent book."""

    def __init__(self, agents: AgentBook, *, reservation_timeout: float = 10.0) -> None:
        self.agents = agents
        self.reservation_timeout = reservation_timeout
        # agent id -> (call key, expiry timer)
        self._reserved: dict[int, tuple[str, asyncio.TimerHandle | None]] = {}
        self._waiters: list[_Waiter] = []

    # -- AgentRouter ----------------------------------------------------------------------

    async def acquire(
        self,
        call_key: str,
        *,
        roles: frozenset[Role] | None = None,
        exclude: frozenset[int] = frozenset(),
        timeout: float = 0.0,
        wrap_up_ok: bool = False,
    ) -> AgentOffer | None:
        offer = self._take(call_key, roles, exclude, wrap_up_ok)
        if offer is not None or timeout <= 0:
            return offer
        waiter = _Waiter(call_key, roles, exclude, asyncio.get_running_loop().create_future(),
                         wrap_up_ok)
        self._waiters.append(waiter)
        try:
            # (an agent handed over just as the wait times out is still returned)
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            return None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self, offer: AgentOffer) -> None:
        """Give back an agent the call will not dial (any more). Harmless when the offer's
        reservation is over already: an agent now reserved for another call stays so."""
        found = self._reserved.get(offer.agent_id)
        if found is None or (offer.call_key is not None and found[0] != offer.call_key):
            return
        self._unreserve(offer.agent_id)
        self._hand_out()

    # -- what the bridge tells it ---------------------------------------------------------

    def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, CallOffered) and event.agent_id is not None:
            # the phone rings: the reservation has done its job
            self._unreserve(event.agent_id)
        elif isinstance(event, AgentStateChanged) and event.agent_id is not None:
            if event.state in ("ringing", "talking"):
                # the phone rings (or is picked up) for a call that offers no CallOffered:
                # an Originate to the agent (the scheduler's agent-first calls)
                self._unreserve(event.agent_id)
            elif event.state in ("ready", "wrap_up"):
                self._hand_out()

    def reserved_for(self, agent_id: int) -> str | None:
        found = self._reserved.get(agent_id)
        return found[0] if found else None

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def close(self) -> None:
        for _key, handle in self._reserved.values():
            if handle is not None:
                handle.cancel()
        self._reserved.clear()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        self._waiters.clear()

    # -- inside -----------------------------------------------------------------------------

    def _candidates(
        self, roles: frozenset[Role] | None, exclude: frozenset[int], wrap_up_ok: bool = False
    ) -> list[AgentLive]:
        return [
            live for live in self.agents
            if (live.available or (wrap_up_ok and live.available_after_wrap_up))
            and live.info.agent_id not in self._reserved
            and live.info.agent_id not in exclude
            and (roles is None or live.info.role in roles)
        ]

    def _take(
        self, call_key: str, roles: frozenset[Role] | None, exclude: frozenset[int],
        wrap_up_ok: bool = False,
    ) -> AgentOffer | None:
        found = self._candidates(roles, exclude, wrap_up_ok)
        if not found:
            return None
        live = min(found, key=lambda a: (a.idle_since or _NEVER, a.info.agent_id))
        self._reserve(live.info.agent_id, call_key)
        info = live.info
        return AgentOffer(info.agent_id, info.extension, info.interface, info.auto_answer, call_key)

    def _reserve(self, agent_id: int, call_key: str) -> None:
        handle = None
        if self.reservation_timeout > 0:
            handle = asyncio.get_running_loop().call_later(
                self.reservation_timeout, self._expire, agent_id, call_key
            )
        self._reserved[agent_id] = (call_key, handle)

    def _unreserve(self, agent_id: int) -> None:
        found = self._reserved.pop(agent_id, None)
        if found is not None and found[1] is not None:
            found[1].cancel()

    def _expire(self, agent_id: int, call_key: str) -> None:
        found = self._reserved.get(agent_id)
        if found is not None and found[0] == call_key:
            log.warning("agent %d was reserved for %s but never dialled: released", agent_id, call_key)
            del self._reserved[agent_id]
            self._hand_out()

    def _hand_out(self) -> None:
        """Give freed agents to waiting calls, first come first served."""
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            offer = self._take(waiter.call_key, waiter.roles, waiter.exclude, waiter.wrap_up_ok)
            if offer is None:
                continue
            self._waiters.remove(waiter)
            waiter.future.set_result(offer)
