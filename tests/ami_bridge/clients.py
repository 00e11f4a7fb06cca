"""The two AMI clients the defect tests compare: hotline's own and bare panoramisk.

Each defect test runs one scripted misbehaviour against both. Against hotline's client it must
pass; against bare ``panoramisk.Manager`` it is a strict expected failure, which is the proof
that the test catches the defect (and the day panoramisk fixes it, the XPASS says so).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ami_bridge.frames import AmiMessage
from ami_bridge.protocol import AmiClient, AmiConfig


class Hung(Exception):
    """The client neither answered nor gave up by itself within the test's patience."""


class OurClient:
    name = "hotline"

    def __init__(self, port: int, **config: Any) -> None:
        defaults: dict[str, Any] = dict(
            host="127.0.0.1", port=port, username="hotline", secret="s3cret",
            ping_interval=30.0, ping_timeout=5.0, action_timeout=5.0,
            reconnect_min=0.05, reconnect_max=0.2,
        )
        defaults.update(config)
        self.client = AmiClient(AmiConfig(**defaults))
        self.events: list[AmiMessage] = []
        self.client.events.add(self.events.append, name="test-recorder")

    async def start(self) -> None:
        await self.client.start()
        await self.client.wait_connected(5)

    async def action(self, headers: dict[str, str], patience: float = 3.0) -> AmiMessage:
        rest = {k: v for k, v in headers.items() if k not in ("Action", "ActionID")}
        task = asyncio.ensure_future(self.client.send_action(
            headers["Action"], rest, action_id=headers.get("ActionID"), check=False
        ))
        done, _ = await asyncio.wait({task}, timeout=patience)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise Hung(f"hotline's client never resolved {headers['Action']}")
        return task.result()

    def add_async_handler(self, handler: Any) -> None:
        # registered exactly as on bare panoramisk below
        async def _adapter(_manager: Any, event: Any) -> None:
            await handler(event)

        self.client.manager.register_event("*", _adapter)

    @property
    def version(self) -> str | None:
        return self.client.version

    @staticmethod
    def chanvars(event: Any) -> dict[str, str]:
        return dict(event.chanvars())

    async def close(self) -> None:
        await self.client.stop()


class PanoramiskClient:
    name = "panoramisk"

    def __init__(self, port: int, **config: Any) -> None:
        from panoramisk import Manager

        opts: dict[str, Any] = dict(
            host="127.0.0.1", port=port, username="hotline", secret="s3cret",
            ping_delay=30, ping_interval=30, reconnect_timeout=1,
            loop=asyncio.get_running_loop(),
        )
        # panoramisk truncates its intervals to whole seconds.
        for key in ("ping_interval", "action_timeout", "ping_timeout"):
            if key in config:
                value = config.pop(key)
                if key == "ping_interval":
                    opts["ping_delay"] = opts["ping_interval"] = max(1, int(value))
        opts.update(config)
        self.manager = Manager(**opts)
        self.events: list[Any] = []
        self.manager.register_event("*", lambda _m, e: self.events.append(e))

    async def start(self) -> None:
        self.manager.connect()
        for _ in range(500):
            if self.manager.authenticated:
                return
            await asyncio.sleep(0.01)
        raise Hung("panoramisk did not log in")

    async def action(self, headers: dict[str, str], patience: float = 3.0) -> Any:
        fut = self.manager.send_action(dict(headers))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), patience)
        except TimeoutError:
            raise Hung(f"panoramisk never resolved {headers['Action']}") from None

    def add_async_handler(self, handler: Any) -> None:
        async def _adapter(_manager: Any, event: Any) -> None:
            await handler(event)

        self.manager.register_event("*", _adapter)

    @property
    def version(self) -> str | None:
        proto = self.manager.protocol
        return getattr(proto, "version", None)

    @staticmethod
    def chanvars(event: Any) -> dict[str, str]:
        return dict(event.getdict("ChanVariable"))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.manager.close()
        # stop the reconnect loop panoramisk may have scheduled
        self.manager.connection_made = lambda *_a: None  # type: ignore[method-assign]
        self.manager.connect = lambda *_a, **_k: None  # type: ignore[method-assign]
