"""The simulated far ends: callers on inbound calls, agents' softphones, customers' phones.

A party is attached to a channel (``chan.party``) and acts through the channel as the remote
SIP side would: 180 Ringing, 200 OK, 486 Busy, 603 Decline, BYE, RFC 2833 DTMF.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pbxsim.behaviours import AgentBehaviour, AgentFlag, CallerBehaviour, CustomerBehaviour
from pbxsim.causes import CALL_REJECTED, NETWORK_OUT_OF_ORDER, NORMAL_CLEARING, USER_BUSY
from pbxsim.channel import RINGING, UP, Channel, Party

if TYPE_CHECKING:
    from pbxsim.pbx import Pbx

Number = float | int | tuple[float, float] | list[float] | None


def pick(value: Any, rng: random.Random) -> Any:
    """A behaviour value, or a uniform draw when it is a ``(low, high)`` range."""
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        low, high = value
        if isinstance(low, int) and isinstance(high, int):
            return rng.randint(low, high)
        return rng.uniform(float(low), float(high))
    return value


async def send_dtmf(chan: Channel, digits: str, duration: float = 0.2, gap: float = 0.2) -> None:
    """The far end keys ``digits``: DTMFBegin/DTMFEnd (Direction Received) on ``chan`` and, when
    bridged, the same with Direction Sent on the other channel, as Asterisk relays them."""
    clock = chan.pbx.clock
    for digit in digits:
        if chan.destroyed or chan.hungup:
            return
        other = chan.bridge.peer_of(chan) if chan.bridge is not None else None
        chan.event("DTMFBegin", "dtmf", [("Digit", digit), ("Direction", "Received")])
        if other is not None and not other.destroyed:
            other.event("DTMFBegin", "dtmf", [("Digit", digit), ("Direction", "Sent")])
        await clock.sleep(duration)
        if chan.destroyed:
            return
        ms = str(int(round(duration * 1000)))
        chan.event("DTMFEnd", "dtmf", [("Digit", digit), ("DurationMs", ms), ("Direction", "Received")])
        if other is not None and not other.destroyed:
            other.event("DTMFEnd", "dtmf", [("Digit", digit), ("DurationMs", ms), ("Direction", "Sent")])
        chan.dtmf.put_nowait(digit)
        await clock.sleep(gap)


class BaseParty:
    def __init__(self, pbx: Pbx, rng: random.Random) -> None:
        self.pbx = pbx
        self.rng = rng
        self.tasks: set[asyncio.Task[Any]] = set()

    def later(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = self.pbx.spawn(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def channel_ended(self, chan: Channel) -> None:
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()

    # hooks the PBX calls; the defaults do nothing
    def identity(self) -> Party:
        return Party()

    def answered(self, chan: Channel) -> None:
        pass

    def input_requested(self, chan: Channel, kind: str, already: str = "") -> None:
        pass

    def prompt_started(self, chan: Channel, escape: str, seconds: float) -> None:
        pass

    def bridged(self, chan: Channel, other: Channel) -> None:
        pass

    def rejoined(self, chan: Channel, other: Channel) -> None:
        """Back in a conversation through Bridge() (after hotline's warning)."""

    def speech_seconds(self, limit: float | None) -> float | None:
        return None

    def _flags(self, chan: Channel, flags: list[AgentFlag], extension: str) -> None:
        for flag in flags:
            self.later(self._flag(chan, flag, extension), name=f"flag {chan.name}")

    async def _flag(self, chan: Channel, flag: AgentFlag, extension: str) -> None:
        await self.pbx.clock.sleep(float(pick(flag.after, self.rng)))
        if chan.destroyed or chan.hungup or chan.bridge is None:
            return
        if chan.call is not None:
            chan.call.on_flag(extension, flag.code)
        await send_dtmf(chan, flag.code)


class CallerParty(BaseParty):
    """A person calling in (or a customer who answered): keys digits, waits, hangs up, drops."""

    def __init__(self, pbx: Pbx, behaviour: CallerBehaviour, rng: random.Random,
                 number: str | None = None, name: str | None = None, role: str = "caller") -> None:
        super().__init__(pbx, rng)
        self.role = role
        self.b = behaviour
        self.number = number
        self.name = name
        self.script = list(behaviour.digits)
        self.bridges = 0
        self.ended_while_away: int | None = None  # hang-up cause held until rejoined

    def identity(self) -> Party:
        return Party(self.number, self.name)

    def attach(self, chan: Channel) -> None:
        chan.sends_media = self.b.sends_media
        patience = pick(self.b.patience, self.rng)
        if patience is not None:
            self.later(self._patience(chan, float(patience)), name=f"patience {chan.name}")

    async def _patience(self, chan: Channel, seconds: float) -> None:
        await self.pbx.clock.sleep(seconds)
        if chan.destroyed or chan.hungup or self.bridges:
            return
        self.hang_up(chan, self.role)

    def hang_up(self, chan: Channel, who: str, cause: int = NORMAL_CLEARING) -> None:
        """The caller's phone sends BYE (or CANCEL before answer)."""
        if chan.destroyed or chan.hungup:
            return
        if chan.call is not None:
            chan.call.ended_by_hint(chan, who)
            if cause == NETWORK_OUT_OF_ORDER:
                chan.call.on_drop(chan)
        if cause != NORMAL_CLEARING:
            chan.request_hangup(cause)
        elif chan.bridge is not None:
            chan.request_hangup(NORMAL_CLEARING)
        else:
            chan.request_hangup(None)

    def answered(self, chan: Channel) -> None:
        after = pick(self.b.hangup_after_answer, self.rng)
        if after is not None:
            self.later(self._hangup_later(chan, float(after)), name=f"hangup {chan.name}")
        for at, digits in self.b.dtmf_at:
            self.later(self._dtmf_later(chan, float(at), digits), name=f"dtmf {chan.name}")

    async def _hangup_later(self, chan: Channel, seconds: float, cause: int = NORMAL_CLEARING,
                            need_bridge: int | None = None) -> None:
        await self.pbx.clock.sleep(seconds)
        if need_bridge is not None and self.bridges != need_bridge:
            return
        if need_bridge is not None and chan.bridge is None:
            # out of the conversation for now (hearing hotline's warning): hang up on return
            self.ended_while_away = cause
            return
        self.hang_up(chan, self.role, cause)

    async def _dtmf_later(self, chan: Channel, seconds: float, digits: str) -> None:
        await self.pbx.clock.sleep(seconds)
        await send_dtmf(chan, digits, self.b.digit_duration, self.b.digit_gap)

    def input_requested(self, chan: Channel, kind: str, already: str = "") -> None:
        if already or not self.script:
            return
        entry = self.script.pop(0)
        if entry:
            self.later(self._key(chan, entry), name=f"digits {chan.name}")

    async def _key(self, chan: Channel, digits: str) -> None:
        await self.pbx.clock.sleep(float(pick(self.b.think_time, self.rng)))
        if chan.call is not None:
            chan.call.on_digits_sent(digits)
        await send_dtmf(chan, digits, self.b.digit_duration, self.b.digit_gap)

    def bridged(self, chan: Channel, other: Channel) -> None:
        self.bridges += 1
        talk = pick(self.b.talk_time, self.rng)
        drop = pick(self.b.drop_after, self.rng)
        if drop is not None and (talk is None or float(drop) < float(talk)):
            self.later(self._hangup_later(chan, float(drop), NETWORK_OUT_OF_ORDER, self.bridges),
                       name=f"drop {chan.name}")
        elif talk is not None:
            self.later(self._hangup_later(chan, float(talk), NORMAL_CLEARING, self.bridges),
                       name=f"talk {chan.name}")
        if self.b.agent_flags and other.party is not None:
            ext = getattr(other.party, "extension", other.resource)
            other.party._flags(other, self.b.agent_flags, ext)

    def rejoined(self, chan: Channel, other: Channel) -> None:
        """A caller whose talk time ran out while away hangs up once back."""
        if self.ended_while_away is not None:
            cause, self.ended_while_away = self.ended_while_away, None
            self.hang_up(chan, self.role, cause)

    def speech_seconds(self, limit: float | None) -> float | None:
        value = pick(self.b.speech_seconds, self.rng)
        return None if value is None else float(value)


class AgentPhone(BaseParty):
    """An agent's registered softphone being called (Dial or Originate)."""

    def __init__(self, pbx: Pbx, extension: str, behaviour: AgentBehaviour, rng: random.Random,
                 name: str | None = None) -> None:
        super().__init__(pbx, rng)
        self.extension = extension
        self.b = behaviour
        self.name = name

    def identity(self) -> Party:
        return Party(self.extension, self.name or self.extension)

    def in_other_call(self, chan: Channel) -> bool:
        device = f"PJSIP/{self.extension}"
        return any(c is not chan and c.device == device and not c.destroyed
                   for c in self.pbx.channels.values())

    async def ring(self, chan: Channel) -> None:
        b = self.b
        clock = self.pbx.clock
        await asyncio.sleep(0)
        if chan.destroyed or chan.hungup:
            return
        if b.mode == "busy" or (b.busy_when_in_call and self.in_other_call(chan)):
            chan.hangupcause = USER_BUSY
            chan.notify("busy")
            return
        chan.notify("connected_line")
        chan.set_state(RINGING)
        chan.notify("ringing")
        if b.mode == "never":
            return
        cadence = self.pbx.config.ring_period
        if b.mode == "auto":
            delay = 0.2
        else:
            after = pick(b.answer_after, self.rng)
            ring = pick(b.answer_on_ring, self.rng)
            if after is not None:
                delay = float(after)
            elif ring is None:
                return
            else:
                delay = (int(ring) - 1) * cadence + self.pbx.config.ring_on / 2
        await clock.sleep(delay)
        if chan.destroyed or chan.hungup:
            return
        if b.mode == "reject":
            chan.request_hangup(CALL_REJECTED)
            return
        chan.set_state(UP)
        chan.notify("answer")

    def bridged(self, chan: Channel, other: Channel) -> None:
        talk = pick(self.b.talk_time, self.rng)
        drop = pick(self.b.drop_after, self.rng)
        if drop is not None and (talk is None or float(drop) < float(talk)):
            self.later(self._leave(chan, float(drop), NETWORK_OUT_OF_ORDER), name=f"drop {chan.name}")
        elif talk is not None:
            self.later(self._leave(chan, float(talk), NORMAL_CLEARING), name=f"talk {chan.name}")
        if self.b.flags:
            self._flags(chan, self.b.flags, self.extension)

    async def _leave(self, chan: Channel, seconds: float, cause: int) -> None:
        await self.pbx.clock.sleep(seconds)
        if chan.destroyed or chan.hungup or chan.bridge is None:
            return
        if chan.call is not None:
            if cause == NETWORK_OUT_OF_ORDER:
                chan.call.on_drop(chan)
            chan.call.on_party_left(chan, "agent")
        chan.request_hangup(cause)


class CustomerPhone(BaseParty):
    """A customer's phone on the far side of the carrier trunk."""

    def __init__(self, pbx: Pbx, number: str, behaviour: CustomerBehaviour, rng: random.Random) -> None:
        super().__init__(pbx, rng)
        self.number = number
        self.b = behaviour
        self.person = CallerParty(pbx, behaviour.in_call, rng, number, None, role="customer")

    def identity(self) -> Party:
        return Party(self.number, None)

    async def ring(self, chan: Channel) -> None:
        b = self.b
        await self.pbx.clock.sleep(0.05)
        if chan.destroyed or chan.hungup:
            return
        if b.mode == "busy":
            chan.hangupcause = USER_BUSY
            chan.notify("busy")
            return
        if b.mode == "congestion":
            chan.hangupcause = 34
            chan.notify("congestion")
            return
        chan.set_state(RINGING)
        chan.notify("ringing")
        if b.mode == "noanswer":
            return
        await self.pbx.clock.sleep(float(pick(b.answer_after, self.rng)))
        if chan.destroyed or chan.hungup:
            return
        if b.mode == "reject":
            chan.request_hangup(CALL_REJECTED)
            return
        chan.sends_media = b.in_call.sends_media
        chan.set_state(UP)
        self.person.answered(chan)
        chan.notify("answer")

    def channel_ended(self, chan: Channel) -> None:
        super().channel_ended(chan)
        self.person.channel_ended(chan)

    def input_requested(self, chan: Channel, kind: str, already: str = "") -> None:
        self.person.input_requested(chan, kind, already)

    def bridged(self, chan: Channel, other: Channel) -> None:
        self.person.bridged(chan, other)

    def rejoined(self, chan: Channel, other: Channel) -> None:
        self.person.rejoined(chan, other)

    def speech_seconds(self, limit: float | None) -> float | None:
        return self.person.speech_seconds(limit)
