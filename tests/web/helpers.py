"""What several web tests share: a small AgentControl standing in for the bridge, and the
role gates read off the app's routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from hotline.domain.enums import Role
from hotline.web.auth.gates import RoleGate


class RecordingAgentControl:
    """Records what the web app asked of the bridge, or fails like a bridge whose AMI link is
    down."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, int, str | None]] = []
        self.fail = fail

    async def _do(self, what: str, agent_id: int, reason: str | None = None) -> None:
        if self.fail:
            raise ConnectionError("AMI link down")
        self.calls.append((what, agent_id, reason))

    async def set_ready(self, agent_id: int) -> None:
        await self._do("ready", agent_id)

    async def pause(self, agent_id: int, reason: str) -> None:
        await self._do("pause", agent_id, reason)

    async def log_in(self, agent_id: int) -> None:
        await self._do("log_in", agent_id)

    async def log_out(self, agent_id: int) -> None:
        await self._do("log_out", agent_id)


@dataclass(frozen=True)
class Gated:
    method: str
    path: str
    gate: RoleGate | None

    @property
    def roles(self) -> frozenset[Role]:
        return self.gate.roles if self.gate else frozenset()


def _gates(dep: Dependant) -> list[RoleGate]:
    found = [dep.call] if isinstance(dep.call, RoleGate) else []
    for sub in dep.dependencies:
        found += _gates(sub)
    return found


def gated_routes(app: FastAPI) -> list[Gated]:
    """Every (method, path) of the app, routers included, with the role gate its handler
    depends on (None: an open route)."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        gates = _gates(route.dependant)
        assert len(gates) <= 1, f"{ctx.path} has several gates: {gates}"
        for method in sorted(ctx.methods or ()):
            out.append(Gated(method, str(ctx.path), gates[0] if gates else None))
    return out
