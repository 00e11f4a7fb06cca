"""Test-side tools: a small AMI client and a minimal FastAGI IVR that answers and dials agents.

They talk to the simulator over real TCP, as hotline's bridge and IVR will.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pbxsim.config import SimConfig
from pbxsim.simulator import PbxSimulator

SPEED = 20.0
Headers = list[tuple[str, str]]


class Ami:
    """A minimal AMI client: actions matched to responses by ActionID, events in a queue."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.banner = ""
        self.events: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.all_events: list[dict[str, str]] = []
        self.pending: dict[str, asyncio.Future[list[dict[str, str]]]] = {}
        self.lists: dict[str, list[dict[str, str]]] = {}
        self.ids = itertools.count(1)
        self.task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @classmethod
    async def connect(cls, port: int, user: str = "hotline", secret: str = "hotline",
                      events: str = "on") -> Ami:
        ami = cls()
        ami.reader, ami.writer = await asyncio.open_connection("127.0.0.1", port)
        ami.banner = (await ami.reader.readline()).decode().strip()
        ami.task = asyncio.get_running_loop().create_task(ami._read())
        if user:
            reply = await ami.action("Login", Username=user, Secret=secret, Events=events)
            assert reply["Response"] == "Success", reply
        return ami

    async def _read(self) -> None:
        assert self.reader is not None
        msg: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        while True:
            raw = await self.reader.readline()
            if not raw:
                self.closed.set()
                for fut in self.pending.values():
                    if not fut.done():
                        fut.set_exception(ConnectionError("AMI connection closed"))
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                if key in msg:
                    multi.setdefault(key, [msg[key]]).append(value)
                msg[key] = value
                continue
            if not msg:
                continue
            for key, values in multi.items():
                msg[key + "*"] = "\n".join(values)
            self._dispatch(msg)
            msg, multi = {}, {}

    def _dispatch(self, msg: dict[str, str]) -> None:
        aid = msg.get("ActionID")
        if "Response" in msg and aid in self.pending:
            if msg.get("EventList") == "start":
                self.lists[aid] = [msg]
                return
            self.pending.pop(aid).set_result([msg])
            return
        if aid in self.lists and "Event" in msg and msg.get("Privilege") in (None, "Call"):
            self.lists[aid].append(msg)
            if msg.get("EventList") == "Complete":
                self.pending.pop(aid).set_result(self.lists.pop(aid))
            return
        if "Event" in msg:
            self.all_events.append(msg)
            self.events.put_nowait(msg)

    def send(self, action: str, **headers: str) -> str:
        assert self.writer is not None
        aid = f"t-{next(self.ids)}"
        lines = [("Action", action), ("ActionID", aid), *((k, v) for k, v in headers.items())]
        self.writer.write(("".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n").encode())
        return aid

    async def action(self, action: str, timeout: float = 10.0, **headers: str) -> dict[str, str]:
        return (await self.action_list(action, timeout, **headers))[0]

    async def action_list(self, action: str, timeout: float = 10.0, **headers: str) -> list[dict[str, str]]:
        aid = self.send(action, **headers)
        fut: asyncio.Future[list[dict[str, str]]] = asyncio.get_running_loop().create_future()
        self.pending[aid] = fut
        return await asyncio.wait_for(fut, timeout)

    async def wait_event(self, name: str, timeout: float = 10.0, **match: str) -> dict[str, str]:
        deadline = asyncio.get_running_loop().time() + timeout
        for ev in self.all_events:
            if ev.get("Event") == name and all(ev.get(k) == v for k, v in match.items()):
                self.all_events.remove(ev)
                return ev
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            ev = await asyncio.wait_for(self.events.get(), max(remaining, 0.001))
            if ev.get("Event") == name and all(ev.get(k) == v for k, v in match.items()):
                if ev in self.all_events:
                    self.all_events.remove(ev)
                return ev

    async def settle(self, channel: str, timeout: float = 10.0) -> None:
        """Wait until the Hangup of ``channel`` has arrived (events stay in ``all_events``)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.seen("Hangup", Channel=channel):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no Hangup for {channel}")
            await asyncio.sleep(0.01)

    def seen(self, name: str, **match: str) -> list[dict[str, str]]:
        return [ev for ev in self.all_events if ev.get("Event") == name and all(ev.get(k) == v for k, v in match.items())]

    async def close(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


@dataclass
class IvrPlan:
    """What the test IVR does with each call (times in simulated seconds)."""

    agents: list[str] = field(default_factory=lambda: ["1001"])
    answer_ring: int = 3
    menu: bool = True  # GET DATA after the greeting; only "1" goes to the agents
    record: str | None = None  # EXEC MixMonitor <dir>/<uniqueid>.wav,b before dialling
    dial_timeout: int | None = None  # default ceil(5P)+1 as hotline's IVR
    hangup_after: bool = True
    sounds: dict[str, str] = field(default_factory=dict)


@dataclass
class IvrCall:
    env: dict[str, str]
    replies: list[tuple[str, str]] = field(default_factory=list)
    hangup_notice: bool = False


class TestIvr:
    """A minimal FastAGI IVR: EXEC Ringing, wait until ring 3, ANSWER, greeting, menu, then
    Dial the agents one after another until one answers."""

    __test__ = False

    def __init__(self, plan: IvrPlan, speed: float, ring_period: float = 5.0, ring_on: float = 1.0,
                 greeting: str | None = None) -> None:
        self.plan = plan
        self.speed = speed
        self.period = ring_period
        self.ring_on = ring_on
        self.greeting = greeting
        self.calls: list[IvrCall] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.done = asyncio.Event()

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    @property
    def url(self) -> str:
        return f"agi://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: dict[str, str] = {}
        while (line := (await reader.readline()).decode()) not in ("\n", ""):
            key, _, value = line.rstrip("\n").partition(": ")
            env[key] = value
        call = IvrCall(env)
        self.calls.append(call)

        async def cmd(text: str) -> str:
            writer.write((text + "\n").encode())
            await writer.drain()
            while True:
                reply = (await reader.readline()).decode().rstrip("\n")
                if reply == "HANGUP":
                    call.hangup_notice = True
                    continue
                call.replies.append((text, reply))
                return reply

        plan = self.plan
        try:
            if env.get("agi_network_script", "").startswith("inbound"):
                await cmd("EXEC Ringing")
                wait = (plan.answer_ring - 1) * self.period + self.ring_on / 2
                await asyncio.sleep(wait / self.speed)
            if (await cmd("ANSWER")) != "200 result=0":
                return
            if self.greeting:
                await cmd(f'STREAM FILE {self.greeting} ""')
            choice = "1"
            if plan.menu:
                reply = await cmd(f"GET DATA {self.greeting or 'menu'} 3000 1")
                if not reply.startswith("200 result="):
                    return
                choice = reply.split("=", 1)[1].split(" ")[0]
                await cmd(f"SET VARIABLE HOTLINE_CATEGORY {'consultation' if choice == '1' else 'other'}")
            if choice == "1":
                if plan.record:
                    await cmd(f"EXEC MixMonitor {plan.record}/{env['agi_uniqueid']}.wav,b")
                timeout = plan.dial_timeout or math.ceil(5 * self.period) + 1
                for ext in plan.agents:
                    await cmd(f"EXEC Dial PJSIP/{ext},{timeout}")
                    status = await cmd("GET VARIABLE DIALSTATUS")
                    if status.endswith("(ANSWER)") or call.hangup_notice:
                        break
            else:
                await cmd("SET VARIABLE HOTLINE_DISPOSITION ivr_only")
            if plan.hangup_after:
                await cmd("HANGUP")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def running(config: SimConfig | None = None, **overrides: object) -> AsyncIterator[PbxSimulator]:
    """A started simulator on a free port with the deploy dialplan (or ``config``)."""
    cfg = config or SimConfig(ami_port=0, speed=SPEED)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    if isinstance(cfg.record_dir, Path) and str(cfg.record_dir).startswith("var/"):
        raise AssertionError("tests must give a temporary record_dir")
    sim = PbxSimulator(cfg)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
    assert not sim.errors, sim.errors
