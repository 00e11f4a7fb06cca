"""The AMI TCP listener."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pbxsim.ami.session import AmiSession

if TYPE_CHECKING:
    from pbxsim.simulator import PbxSimulator


class AmiServer:
    def __init__(self, sim: PbxSimulator) -> None:
        self.sim = sim
        self.sessions: set[AmiSession] = set()
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: AmiSession(self), host, port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for session in list(self.sessions):
            session.drop(abort=True)
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None
