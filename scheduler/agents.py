"""Choosing the agent who makes an agent-first call.

A task owned by an agent waits for that agent to be ready; a task for any agent takes whoever
is ready. Two implementations of :class:`AgentPicker`:

- :class:`RouterPicker` asks the AMI bridge's :class:`~hotline.domain.ports.AgentRouter`, which
  reserves agents atomically against inbound calls too (the production choice once the bridge
  runs). A specific agent is asked for by excluding every other agent.
- :class:`DatabasePicker` reads ``agents.state`` (kept by the bridge) and never offers an agent
  already on one of this scheduler's calls; for tests and a scheduler running without the
  bridge in-process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import Agent
from hotline.domain.enums import AgentState
from hotline.domain.ports import AgentOffer, AgentRouter


class AgentPicker(Protocol):
    async def pick(
        self, call_key: str, agent_id: int | None, *, wrap_up_ok: bool = False
    ) -> AgentOffer | None:
        """Reserve ``agent_id`` (or any ready agent when None); None when nobody is ready.
        ``wrap_up_ok``: an agent in wrap-up will do (a dropped call's callback)."""
        ...

    def release(self, offer: AgentOffer) -> None:
        """The reserved agent was not dialled after all."""
        ...

    def finished(self, offer: AgentOffer, *, agent_failed: bool = False) -> None:
        """The agent's call for this scheduler is over; ``agent_failed``: the agent's phone
        did not take it (busy, no answer, unreachable), so the customer was never dialled."""
        ...


class DatabasePicker:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._busy: set[int] = set()

    def _ready(self, agent_id: int | None, wrap_up_ok: bool = False) -> list[Agent]:
        states = [AgentState.READY, AgentState.WRAP_UP] if wrap_up_ok else [AgentState.READY]
        with self._sessions() as s:
            query = select(Agent).where(Agent.state.in_(states)).order_by(
                Agent.state_changed_at.nulls_first(), Agent.id
            )
            if agent_id is not None:
                query = query.where(Agent.id == agent_id)
            return list(s.scalars(query))

    async def pick(
        self, call_key: str, agent_id: int | None, *, wrap_up_ok: bool = False
    ) -> AgentOffer | None:
        for agent in await asyncio.to_thread(self._ready, agent_id, wrap_up_ok):
            if agent.id in self._busy:
                continue
            self._busy.add(agent.id)
            return AgentOffer(agent.id, agent.extension, agent.interface, agent.auto_answer)
        return None

    def release(self, offer: AgentOffer) -> None:
        self._busy.discard(offer.agent_id)

    def finished(self, offer: AgentOffer, *, agent_failed: bool = False) -> None:
        self._busy.discard(offer.agent_id)


class RouterPicker:
    """Agents from the bridge's router. A task whose agent's phone did not take the call is
    not offered to that agent again for ``forget_after`` seconds (other ready agents get it,
    or it waits for one): the longest-idle agent is the one whose phone never takes a call
    (always busy, never answered), and picking it again at every retry kept callback
    requests from reaching their customers. After that, it may be tried again (it may be the
    only agent on duty, and its phone was busy once)."""

    # tasks remembered at most (oldest forgotten first): failed agents of tasks that end up
    # cancelled or handled elsewhere must not pile up
    MEMORY = 10_000

    def __init__(self, router: AgentRouter, sessions: sessionmaker[Session], *,
                 forget_after: float = 600.0) -> None:
        self._router = router
        self._sessions = sessions
        self.forget_after = forget_after
        # call key -> {agent whose phone failed it: until when it is not offered again}
        self._failed: dict[str, dict[int, float]] = {}

    def _others(self, agent_id: int) -> frozenset[int]:
        with self._sessions() as s:
            return frozenset(s.scalars(select(Agent.id).where(Agent.id != agent_id)))

    async def pick(
        self, call_key: str, agent_id: int | None, *, wrap_up_ok: bool = False
    ) -> AgentOffer | None:
        exclude: frozenset[int] = frozenset()
        if agent_id is not None:
            exclude = await asyncio.to_thread(self._others, agent_id)
        else:
            failed = self._failing(call_key)
            if failed:
                return await self._acquire(call_key, exclude | failed, wrap_up_ok)
        return await self._acquire(call_key, exclude, wrap_up_ok)

    def _failing(self, call_key: str) -> frozenset[int]:
        entry = self._failed.get(call_key)
        if not entry:
            return frozenset()
        now = time.monotonic()
        for agent_id in [a for a, until in entry.items() if until <= now]:
            del entry[agent_id]
        if not entry:
            del self._failed[call_key]
        return frozenset(entry)

    async def _acquire(self, call_key: str, exclude: frozenset[int],
                       wrap_up_ok: bool) -> AgentOffer | None:
        if wrap_up_ok:
            return await self._router.acquire(call_key, exclude=exclude, timeout=0.0,
                                              wrap_up_ok=True)
        return await self._router.acquire(call_key, exclude=exclude, timeout=0.0)

    def release(self, offer: AgentOffer) -> None:
        self._router.release(offer)

    def finished(self, offer: AgentOffer, *, agent_failed: bool = False) -> None:
        """The bridge follows the agent's state from the call's own events; but an agent whose
        phone never rang (busy, unreachable) is still reserved for this call: free it now,
        not when the reservation times out (the router ignores it when it is over)."""
        self._router.release(offer)
        if offer.call_key is None:
            return
        if agent_failed:
            until = time.monotonic() + self.forget_after
            self._failed.setdefault(offer.call_key, {})[offer.agent_id] = until
            while len(self._failed) > self.MEMORY:
                del self._failed[next(iter(self._failed))]
        else:
            self._failed.pop(offer.call_key, None)
