"""The running PBX: channel registry, id counters, device states, background tasks.

One :class:`Pbx` is one "boot" of the simulated Asterisk. A restart throws it away and makes a
new one, so channel names, the Uniqueid sequence and Uptime start again, as after a real
restart.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pbxsim.ami.hub import EventHub
from pbxsim.cdr import Cdr
from pbxsim.channel import RING, RINGING, UP, Channel

if TYPE_CHECKING:
    from pbxsim.bridge import Bridge
    from pbxsim.clock import SimClock
    from pbxsim.config import SimConfig
    from pbxsim.dialplan.model import Dialplan
    from pbxsim.endpoints import Endpoints
    from pbxsim.media import Sounds
    from pbxsim.simulator import PbxSimulator

log = logging.getLogger("pbxsim")


class Pbx:
    def __init__(self, sim: PbxSimulator, boot: int) -> None:
        self.sim = sim
        self.boot = boot
        self.config: SimConfig = sim.config
        self.clock: SimClock = sim.clock
        self.hub: EventHub = sim.hub
        self.loop = asyncio.get_running_loop()
        self.dialplan: Dialplan = sim.dialplan
        self.endpoints: Endpoints = sim.endpoints
        self.sounds: Sounds = sim.sounds
        self.rng = random.Random(f"{self.config.seed}-pbx-{boot}")
        self.started_wall = self.clock.wall()
        self.started = self.clock.now()
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self._uid_seq = itertools.count(self.config.first_uniqueid_seq)
        self._pjsip_seq = itertools.count(self.config.first_channel_seq)
        self._local_seq = itertools.count(self.config.first_channel_seq)
        self.devices: dict[str, str] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.globals: dict[str, str] = dict(self.dialplan.globals)
        self.channel_var_set = frozenset(self.config.channel_vars)
        self.idle = asyncio.Event()
        self.idle.set()
        self.stopped = False

    # ---- ids -----------------------------------------------------------------------------
    def next_uniqueid(self) -> str:
        return f"{int(self.clock.wall())}.{next(self._uid_seq)}"

    def pjsip_name(self, endpoint: str) -> str:
        return f"PJSIP/{endpoint}-{next(self._pjsip_seq):08x}"

    def local_base(self, target: str) -> str:
        return f"Local/{target}-{next(self._local_seq):08x}"

    def new_sip_callid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_cdr(self, chan: Channel) -> Cdr:
        return Cdr(chan)

    # ---- registry ------------------------------------------------------------------------
    def add_channel(self, chan: Channel) -> None:
        self.channels[chan.name] = chan
        self.idle.clear()

    def remove_channel(self, chan: Channel) -> None:
        self.channels.pop(chan.name, None)
        self.update_device(chan.device)
        if not self.channels:
            self.idle.set()

    def find_channel(self, name: str | None) -> Channel | None:
        if not name:
            return None
        chan = self.channels.get(name)
        if chan is None:  # Asterisk also matches case-insensitively
            low = name.lower()
            for cname, c in self.channels.items():
                if cname.lower() == low:
                    return c
        return chan

    def channel_by_uniqueid(self, uid: str) -> Channel | None:
        for chan in self.channels.values():
            if chan.uniqueid == uid:
                return chan
        return None

    # ---- device states -------------------------------------------------------------------
    def device_state(self, device: str) -> str:
        inuse = ringing = busy = False
        for chan in self.channels.values():
            if chan.device != device or chan.destroyed or not chan.dev_active:
                continue
            if chan.tech == "Local":
                inuse = True
            elif chan.state == RINGING:
                ringing = True
            elif chan.state == 7:
                busy = True
            elif chan.state in (UP, RING):
                inuse = True
        if inuse and ringing:
            return "RINGINUSE"
        if inuse:
            return "INUSE"
        if ringing:
            return "RINGING"
        if busy:
            return "BUSY"
        return self.endpoints.idle_state(device)

    def update_device(self, device: str) -> None:
        state = self.device_state(device)
        if self.devices.get(device) != state:
            self.devices[device] = state
            self.hub.emit("DeviceStateChange", "call", [("Device", device), ("State", state)])

    def set_device(self, device: str, state: str) -> None:
        if self.devices.get(device) != state:
            self.devices[device] = state
            self.hub.emit("DeviceStateChange", "call", [("Device", device), ("State", state)])

    # ---- tasks ---------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = self.loop.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("pbxsim task %s failed", task.get_name(), exc_info=exc)
            self.sim.errors.append(exc)

    async def shutdown(self) -> None:
        """Stop everything without events (a crash or restart, not a clean hangup)."""
        self.stopped = True
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for chan in list(self.channels.values()):
            chan.destroyed = True
            chan.hangup_requested.set()
            if chan.agi is not None:
                chan.agi.abort()
            if not chan.ended.done():
                chan.ended.set_result(None)
        self.channels.clear()
        self.idle.set()

    def uptime(self) -> int:
        return int(self.clock.wall() - self.started_wall)
