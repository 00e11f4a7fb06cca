"""Run a call flow on one AGI channel: node by node, as docs/design.md lays out a call.

All timing follows the ring policy (answer at ring N of the cadence; agents are dialled for
ceil(max_ring * P) + 1 s, the bridge takes the call from a still-ringing agent at max_ring).
While the flow waits (ringing, waiting for an agent) no AGI command is running, so a caller
who hangs up is seen through the channel's ``hung_up`` event, not a command result.

The interpreter decides and tells the bridge by channel variables (HOTLINE_CATEGORY,
HOTLINE_DISPOSITION, HOTLINE_QUEUE, HOTLINE_BLACKLISTED); the database is touched only through
:class:`ivr.store.CallStore`, whose work runs in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hotline.domain.calendar import WorkingCalendar
from hotline.domain.enums import Role
from hotline.domain.events import call_key as make_call_key
from hotline.domain.phone import try_normalize_phone
from hotline.domain.ports import AgentOffer, AgentRouter
from hotline.domain.ring import RingPolicy
from hotline.domain.spool import spool_file_name
from ivr.channel import AgiChannel, AgiHangup
from ivr.flows.schema import (
    AnswerNode,
    BlacklistNode,
    CallbackNode,
    CategoryNode,
    Flow,
    GotoNode,
    HangupNode,
    HoursNode,
    MenuNode,
    PlayNode,
    RecordNode,
    RouteNode,
)
from ivr.prompts.build import stream_path
from ivr.store import CallbackRequest, CallStore

log = logging.getLogger(__name__)

MAX_STEPS = 10_000  # a safety net; flow checks already refuse loops that never wait
AUTOANSWER_HANDLER = "hotline-autoanswer^s^1"  # pre-dial handler in deploy/asterisk/extensions.conf


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class CallServices:
    """What every call shares: the bridge's router, the calendar, the ring policy, prompts."""

    router: AgentRouter
    calendar: WorkingCalendar
    ring: RingPolicy
    sounds_dir: Path
    spool_dir: Path
    store: CallStore | None = None
    pbx: str = "pbx1"
    region: str = "CN"
    music_class: str = "default"
    clock: Callable[[], dt.datetime] = _utcnow


@dataclass
class CallOutcome:
    """What happened on a call, for the log line and for tests."""

    path: list[str] = field(default_factory=list)
    caller_hung_up: bool = False
    hung_up_in: str | None = None
    disposition: str | None = None
    category: str | None = None
    blacklisted: bool = False
    agents_dialled: list[str] = field(default_factory=list)
    answered_by: str | None = None
    callback_task_id: int | None = None


class FlowRun:
    """One call through one flow."""

    def __init__(
        self, flow: Flow, channel: AgiChannel, services: CallServices, *, language: str = "zh-CN"
    ) -> None:
        self.flow = flow
        self.ch = channel
        self.svc = services
        self.language = language
        env = channel.env
        self.uniqueid = env.uniqueid or env.channel
        self.call_key = make_call_key(services.pbx, self.uniqueid)
        self.caller = try_normalize_phone(env.callerid, services.region)
        self.outcome = CallOutcome()
        self._roles: frozenset[Role] | None = None
        self._recording_whole = False
        self._recording_bridged = False
        self._blacklist_lookup: asyncio.Task[bool] | None = None
        self._loop = asyncio.get_running_loop()

    # -- driver -----------------------------------------------------------------------------

    async def run(self) -> CallOutcome:
        if self.caller and self.svc.store and any(
            isinstance(n, BlacklistNode) for n in self.flow.nodes.values()
        ):
            # Start now so the answer is there by the time the flow reaches the node.
            self._blacklist_lookup = self._loop.create_task(self.svc.store.is_blacklisted(self.caller))
        name: str | None = self.flow.start
        try:
            for _ in range(MAX_STEPS):
                if name is None:
                    break
                self.outcome.path.append(name)
                name = await self._step(self.flow.nodes[name])
            else:
                log.error("%s: flow %s ran %d steps; hanging up", self.uniqueid, self.flow.name, MAX_STEPS)
            if not self.ch.hung_up.is_set():
                await self.ch.hangup()
        except AgiHangup as exc:
            self.outcome.caller_hung_up = True
            self.outcome.hung_up_in = self.outcome.path[-1] if self.outcome.path else None
            log.info("%s: caller hung up in node %s (%s)", self.uniqueid, self.outcome.hung_up_in, exc)
        finally:
            if self._blacklist_lookup is not None and not self._blacklist_lookup.done():
                self._blacklist_lookup.cancel()
        return self.outcome

    async def _step(self, node: object) -> str | None:
        match node:
            case AnswerNode():
                return await self._answer(node)
            case PlayNode():
                for prompt in node.prompt:
                    await self.ch.stream_file(self._path(prompt))
                return node.next
            case MenuNode():
                return await self._menu(node)
            case HoursNode():
                return self._hours(node)
            case RouteNode():
                return await self._route(node)
            case CallbackNode():
                return await self._callback(node)
            case CategoryNode():
                await self.ch.set_variable("HOTLINE_CATEGORY", node.category.value)
                self.outcome.category = node.category.value
                return node.next
            case HangupNode():
                if node.disposition:
                    await self._disposition(node.disposition)
                for prompt in node.prompt or ():
                    await self.ch.stream_file(self._path(prompt))
                await self.ch.hangup()
                return None
            case BlacklistNode():
                return await self._blacklist(node)
            case RecordNode():
                await self._record_whole()
                return node.next
            case GotoNode():
                return node.next
        raise TypeError(f"unknown node {node!r}")

    # -- helpers ----------------------------------------------------------------------------

    def _path(self, prompt: str) -> str:
        return stream_path(self.svc.sounds_dir, self.language, prompt)

    async def _disposition(self, value: str) -> None:
        await self.ch.set_variable("HOTLINE_DISPOSITION", value)
        self.outcome.disposition = value

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` with no command running; raise AgiHangup if the caller leaves."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.ch.wait_hangup(), seconds)
        except TimeoutError:
            return
        raise AgiHangup("caller hung up while the flow was waiting")

    # -- nodes ------------------------------------------------------------------------------

    async def _answer(self, node: AnswerNode) -> str:
        await self.ch.ringing()
        ringing_started = self._loop.time()  # ringing starts when EXEC Ringing returns
        await self._pause(self.svc.ring.answer_delay(node.ring) - (self._loop.time() - ringing_started))
        await self.ch.answer()
        elapsed = self._loop.time() - ringing_started
        log.info("%s: answered at ring %d (%.2f s after ringing started)",
                 self.uniqueid, self.svc.ring.ring_at(elapsed), elapsed)
        return node.next

    async def _menu(self, node: MenuNode) -> str:
        tries = node.retries + 1
        had_input = False
        for attempt in range(1, tries + 1):
            digits = await self.ch.get_data(self._path(node.prompt), node.timeout, node.max_digits)
            last = attempt == tries
            if digits is None:
                log.info("%s: menu %s: no input (try %d of %d)", self.uniqueid, node.prompt, attempt, tries)
                if not last and node.no_input_prompt:
                    await self.ch.stream_file(self._path(node.no_input_prompt))
                continue
            had_input = True
            target = node.options.get(digits)
            if target is not None:
                log.info("%s: menu %s: caller chose %s", self.uniqueid, node.prompt, digits)
                return target
            log.info("%s: menu %s: invalid choice %r (try %d of %d)", self.uniqueid, node.prompt, digits, attempt, tries)
            if not last and node.invalid_prompt:
                await self.ch.stream_file(self._path(node.invalid_prompt))
        return node.on_invalid if had_input else node.on_no_input

    def _hours(self, node: HoursNode) -> str:
        calendar = self.svc.calendar
        if node.rest_period == "open":
            hours = calendar.hours.model_copy(update={"rest_start": None, "rest_end": None})
            calendar = WorkingCalendar(hours, calendar.tz)
        now = self.svc.clock()
        is_open = calendar.is_open(now, any_day=node.any_day)
        local = now.astimezone(calendar.tz)
        holiday = calendar.holiday_name(local.date())
        log.info("%s: hours at %s%s: %s", self.uniqueid, local.strftime("%Y-%m-%d %H:%M %a"),
                 f" ({holiday})" if holiday else "", "open" if is_open else "closed")
        return node.open if is_open else node.closed

    async def _is_blacklisted(self) -> bool:
        if self.caller is None or self.svc.store is None:
            return False
        task = self._blacklist_lookup
        try:
            if task is None:
                return await self.svc.store.is_blacklisted(self.caller)
            return await task
        except Exception:
            # Not knowing is logged loudly; the call goes on as an ordinary one.
            log.exception("%s: blacklist lookup for %s failed", self.uniqueid, self.caller)
            return False

    async def _blacklist(self, node: BlacklistNode) -> str:
        if not await self._is_blacklisted():
            return node.next
        self.outcome.blacklisted = True
        log.warning("%s: caller %s is blacklisted", self.uniqueid, self.caller)
        if node.record:
            await self._record_whole()
        await self.ch.set_variable("HOTLINE_BLACKLISTED", "1")
        if node.roles:
            self._roles = frozenset(node.roles)
        return node.listed or node.next

    async def _record_whole(self) -> None:
        if self._recording_whole:
            return
        if self._recording_bridged:
            # The whole call from here on, in its own file: stop the bridged-only recording
            # (the recordings service files both under the call).
            await self.ch.exec_checked("StopMixMonitor")
        path = self._spool_path(whole_call=True)
        if path is not None:
            await self.ch.exec_checked("MixMonitor", str(path))
        self._recording_whole = True

    async def _record_bridged(self) -> None:
        if self._recording_whole or self._recording_bridged:
            return
        path = self._spool_path(whole_call=False)
        if path is not None:
            await self.ch.exec_checked("MixMonitor", f"{path},b")
        self._recording_bridged = True

    def _spool_path(self, *, whole_call: bool) -> Path | None:
        """The spool file, named as the recordings service reads it (hotline.domain.spool):
        the name alone tells it the call, so it keeps or deletes the file even after a
        restart. The caller's channel is the first of its call, so its uniqueid is the call's
        linkedid. An id Asterisk would never send is logged and the call goes on unrecorded:
        a file nobody could attribute would never be cleaned up."""
        try:
            name = spool_file_name(self.svc.pbx, self.uniqueid, self.uniqueid,
                                   whole_call=whole_call)
        except ValueError as exc:
            log.error("%s: not recorded: %s", self.uniqueid, exc)
            return None
        return self.svc.spool_dir / name

    # -- routing to agents ------------------------------------------------------------------

    async def _acquire(self, roles: frozenset[Role] | None, exclude: set[int], timeout: float) -> AgentOffer | None:
        """Ask the router for an agent, waiting up to ``timeout``; the caller hanging up
        meanwhile ends the wait (and gives back an agent reserved at that moment)."""
        router = self.svc.router
        request = self._loop.create_task(
            router.acquire(self.call_key, roles=roles, exclude=frozenset(exclude), timeout=timeout)
        )
        gone = self._loop.create_task(self.ch.wait_hangup())
        try:
            await asyncio.wait({request, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not request.done():
            request.cancel()
        try:
            offer = await request
        except asyncio.CancelledError:
            offer = None
        except Exception:
            log.exception("%s: the agent router failed", self.uniqueid)
            await self._pause(timeout)
            return None
        if self.ch.hung_up.is_set():
            if offer is not None:
                router.release(offer)
            raise AgiHangup("caller hung up while waiting for an agent")
        return offer

    async def _dial(self, offer: AgentOffer, record: bool) -> str:
        """Dial one agent; returns Asterisk's DIALSTATUS (ANSWER once the talk is over)."""
        if record:
            await self._record_bridged()
        seconds = math.ceil(self.svc.ring.deadline()) + 1  # a safety net: the bridge hangs up at max_ring
        args = f"{offer.interface},{seconds}"
        if offer.auto_answer:
            args += f",b({AUTOANSWER_HANDLER})"
        self.outcome.agents_dialled.append(offer.extension)
        log.info("%s: dialling agent %s (%s)", self.uniqueid, offer.extension, offer.interface)
        reply = await self.ch.exec_app("Dial", args)
        status = await self.ch.get_variable("DIALSTATUS") or "UNKNOWN"
        if status == "ANSWER":
            self.outcome.answered_by = offer.extension
            return status
        if reply.value == -1 or status == "CANCEL":
            if self.ch.hung_up.is_set() or await self.ch.caller_gone():
                raise AgiHangup(f"caller hung up while agent {offer.extension} was ringing")
        log.info("%s: agent %s did not take the call (%s)", self.uniqueid, offer.extension, status)
        return status

    async def _route(self, node: RouteNode) -> str | None:
        roles = self._roles or (frozenset(node.roles) if node.roles else None)
        # Tell the bridge the caller now waits for an agent, queue named or not: a caller who
        # gives up on hold before any phone rang is abandoned, not served by the IVR alone.
        await self.ch.set_variable("HOTLINE_QUEUE", node.queue or self.flow.name)
        start = self._loop.time()
        # A callback needs the caller's number: no offer to an anonymous caller.
        callback_at = start + node.callback_after if node.callback_after and self.caller else None
        give_up_at = start + node.max_wait if node.max_wait else None
        next_apology = math.inf
        exclude: set[int] = set()
        queued = music = False

        async def music_off() -> None:
            nonlocal music
            if music:
                await self.ch.set_music(False)
                music = False

        async def music_on() -> None:
            nonlocal music
            if not music:
                await self.ch.set_music(True, self.svc.music_class)
                music = True

        while True:
            timeout = 0.0
            if queued:
                due = min(t for t in (next_apology, callback_at or math.inf, give_up_at or math.inf))
                timeout = max(0.0, due - self._loop.time())
            offer = await self._acquire(roles, exclude, timeout)
            if offer is not None:
                await music_off()
                try:
                    status = await self._dial(offer, node.record)
                finally:
                    # a phone that rang is no longer reserved; one that was busy or
                    # unreachable never rang and must be freed for other calls now
                    self.svc.router.release(offer)
                if status == "ANSWER":
                    return node.next
                exclude.add(offer.agent_id)
                continue  # the next agent at once
            now = self._loop.time()
            if not queued:
                queued = True
                log.info("%s: no agent free%s; caller waits", self.uniqueid,
                         f" (roles {sorted(roles)})" if roles else "")
                if node.apology_first:
                    await self.ch.stream_file(self._path(node.apology_prompt))
                next_apology = self._loop.time() + node.apology_every
                await music_on()
                continue
            if give_up_at is not None and now >= give_up_at:
                await music_off()
                assert node.on_timeout is not None
                return node.on_timeout
            if callback_at is not None and now >= callback_at:
                callback_at = None  # offered once
                await music_off()
                digits = await self.ch.get_data(self._path(node.callback_prompt), node.callback_timeout, 1)
                if digits == node.callback_digit:
                    assert node.on_callback is not None
                    return node.on_callback
                await music_on()
                continue
            if now >= next_apology:
                await music_off()
                await self.ch.stream_file(self._path(node.apology_prompt))
                await music_on()
                next_apology = self._loop.time() + node.apology_every
                exclude.clear()  # agents who missed the call earlier may be back

    # -- callbacks --------------------------------------------------------------------------

    async def _callback(self, node: CallbackNode) -> str:
        if node.mode == "offer":
            digits = await self.ch.get_data(self._path(node.prompt), node.timeout, 1)
            if digits != node.accept_digit:
                assert node.declined is not None
                return node.declined
        task_id = await self._create_callback()
        if task_id is None:
            await self.ch.stream_file(self._path(node.unavailable_prompt))
            return node.failed
        await self._disposition("callback_requested")
        await self.ch.stream_file(self._path(node.confirm_prompt))
        return node.next

    async def _create_callback(self) -> int | None:
        if self.caller is None:
            log.info("%s: no callback: caller id %r is not a phone number", self.uniqueid, self.ch.env.callerid)
            return None
        if self.svc.store is None:
            log.error("%s: no callback: the IVR has no database", self.uniqueid)
            return None
        request = CallbackRequest(self.caller, self.call_key, self.svc.pbx, self.uniqueid, self.svc.clock())
        try:
            result = await self.svc.store.request_callback(request)
        except Exception:
            log.exception("%s: storing the callback for %s failed", self.uniqueid, self.caller)
            return None
        self.outcome.callback_task_id = result.task_id
        due = result.due_at.isoformat() if result.due_at else "?"
        log.info("%s: callback task %d for %s due %s%s", self.uniqueid, result.task_id, self.caller,
                 due, "" if result.created else " (already requested on this call)")
        return result.task_id
