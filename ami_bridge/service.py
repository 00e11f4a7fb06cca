"""The Bridge: AMI link -> state machine -> ring policy, router, bus -> writer.

Every AMI event the state machine cares about is handled inline by the reader, in order:
the state machine turns it into domain events, and each domain event goes first to the parts
that must act on it at once and cannot lose it (the ring-5 deadlines, the router, wrap-up
timers, alerts), then to the bus, where the writer and every other subscriber read it from
their own bounded queues. Nothing on this path waits for I/O. The whole record of each call
that changed (``CallUpdated``) is published once per read from the socket, not once per
event: a burst of events about one call costs one snapshot.

After each (re)connection the bridge resynchronises: CoreShowChannels closes the calls that
ended while the link was down and adopts those born meanwhile, and DeviceStateList refreshes
the softphones' registration.

It also implements :class:`hotline.domain.ports.AgentControl` (the web app's ready / pause /
log in / log out) and exposes :attr:`router` (``AgentRouter``) and :attr:`actions`
(``PbxActions``) for the IVR, recordings and the scheduler.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from ami_bridge.actions import AmiPbxActions
from ami_bridge.agents import AgentBook, AgentInfo, AgentLive
from ami_bridge.frames import AmiMessage
from ami_bridge.policy import RingDeadlines
from ami_bridge.protocol import ActionTimeout, AmiClient, AmiConfig, AmiError
from ami_bridge.router import Router
from ami_bridge.stale import stale_call_records
from ami_bridge.state import END_LOST, CallTracker, TrackerConfig
from ami_bridge.writer import CallWriter, open_call_records
from hotline.bus import EventBus
from hotline.db.models import Agent, User
from hotline.domain.calendar import WorkingCalendar
from hotline.domain.enums import AgentState, Role
from hotline.domain.errors import InvalidInput
from hotline.domain.events import (
    AgentStateChanged,
    Alert,
    CallEnded,
    CallUpdated,
    DomainEvent,
    LinkStateChanged,
)
from hotline.domain.ring import RingPolicy
from hotline.settings import Settings

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def logged_in(agent: AgentLive) -> bool:
    """Default roster: an agent is on duty from desk login to logout."""
    return agent.presence is not AgentState.LOGGED_OUT


@dataclass(frozen=True)
class BridgeOptions:
    wrap_up_seconds: float = 30.0
    reservation_timeout: float = 10.0
    roster_check_interval: float = 60.0
    writer_batch_size: int = 500
    writer_max_delay: float = 0.02
    writer_max_pending: int = 100_000
    writer_queue: int = 100_000


class Bridge:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        bus: EventBus | None = None,
        *,
        options: BridgeOptions | None = None,
        rostered: Callable[[AgentLive], bool] = logged_in,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.settings = settings
        self.options = options or BridgeOptions(wrap_up_seconds=settings.agents.wrap_up_seconds)
        self.engine = engine
        self.pbx = settings.ami.pbx_name
        self.bus = bus if bus is not None else EventBus()
        self._own_bus = bus is None
        self.clock = clock
        self.rostered = rostered
        ring = RingPolicy.from_settings(settings.ring)
        self.agents = AgentBook(self.pbx)
        self.tracker = CallTracker(
            TrackerConfig(
                pbx=self.pbx, ring=ring, no_answer_pause_after=settings.ring.no_answer_pause_after,
                region=settings.default_region,
            ),
            self.agents,
        )
        self.client = AmiClient(
            AmiConfig.from_settings(settings.ami), on_link=self._on_link, on_connected=self._resync,
            on_batch=self._publish_records,
        )
        self.actions = AmiPbxActions(self.client)
        self.deadlines = RingDeadlines(
            ring, self.actions.hangup_nowait, self.tracker.is_ringing_offer, clock=clock
        )
        self.router = Router(self.agents, reservation_timeout=self.options.reservation_timeout)
        self.writer = CallWriter(
            engine, settings, batch_size=self.options.writer_batch_size,
            max_delay=self.options.writer_max_delay, max_pending=self.options.writer_max_pending,
        )
        self.calendar = WorkingCalendar(settings.hours, settings.tz)
        self._wrap_up: dict[int, asyncio.TimerHandle] = {}
        self._alerted: set[int] = set()
        self._roster_task: asyncio.Task[None] | None = None
        self.client.events.add(
            self.on_ami_event, name="call-tracker", events=tuple(sorted(self.tracker.handled_events)),
            raw_filters=self.tracker.raw_filters(),
        )
        self.bus.subscribe(
            "call-writer", self.writer.handle, kinds=(CallUpdated, AgentStateChanged, CallEnded),
            maxsize=self.options.writer_queue,
        )
        self.resyncs = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.reload_agents()
        await self.writer.start()
        if self._own_bus:
            await self.bus.start()
        # the calls a previous process left in progress are known before the first event
        # arrives: a caller hanging up just after the link is up must find its call
        await self._restore_stored_calls()
        await self.client.start()
        self._roster_task = asyncio.get_running_loop().create_task(self._roster_loop(), name="roster-check")

    async def stop(self) -> None:
        """Stop following calls; everything already learnt is written before this returns."""
        if self._roster_task is not None:
            self._roster_task.cancel()
            await asyncio.gather(self._roster_task, return_exceptions=True)
            self._roster_task = None
        await self.client.stop()
        await self.deadlines.close()
        self.router.close()
        for handle in self._wrap_up.values():
            handle.cancel()
        self._wrap_up.clear()
        if self._own_bus:
            await self.bus.stop(drain=True)
        else:
            try:
                await asyncio.wait_for(self.bus.join(), 10.0)
            except TimeoutError:
                log.warning("bus subscribers still busy after 10 s; stopping the writer anyway")
        await self.writer.stop()

    async def reload_agents(self) -> None:
        """(Re)read the agents from the database (after one is added or changed)."""
        rows = await asyncio.to_thread(self._read_agents)
        for info, state, reason, changed in rows:
            self.agents.add(info, presence=state, reason=reason, idle_since=changed)

    def _read_agents(self) -> list[tuple[AgentInfo, AgentState, str | None, dt.datetime | None]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    Agent.id, Agent.extension, Agent.interface, Agent.auto_answer, Agent.state,
                    Agent.pause_reason, Agent.state_changed_at, User.id, User.role,
                ).join(User, User.id == Agent.user_id).where(User.active.is_(True))
            ).all()
        return [
            (
                AgentInfo(aid, ext, iface, role=Role(role), user_id=uid, auto_answer=bool(auto)),
                AgentState(state), reason, changed,
            )
            for aid, ext, iface, auto, state, reason, changed, uid, role in rows
        ]

    # -- the event path --------------------------------------------------------------------

    def on_ami_event(self, message: AmiMessage) -> None:
        # what each event implies goes out at once; the calls' records once per read
        self.publish(self.tracker.feed(message, self.clock(), flush=False))

    def _publish_records(self) -> None:
        if self.tracker.pending_records:
            self.publish(self.tracker.flush(self.clock()))

    def publish(self, events: list[DomainEvent]) -> None:
        for event in events:
            self.deadlines.on_event(event)
            self.router.on_event(event)
            if isinstance(event, AgentStateChanged):
                self._agent_changed(event)
            self.bus.publish(event)

    def _on_link(self, up: bool, detail: str) -> None:
        self.bus.publish(LinkStateChanged(at=self.clock(), pbx=self.pbx, up=up, detail=detail))

    async def _resync(self) -> None:
        await self._restore_stored_calls()
        for attempt in range(3):
            asked = self.clock()
            try:
                channels = await self.actions.core_show_channels()
                break
            except (ActionTimeout, AmiError) as exc:
                log.warning("resync: CoreShowChannels failed (%s), attempt %d of 3", exc, attempt + 1)
                await asyncio.sleep(0.5 * (attempt + 1))
        else:
            log.error("resync failed: calls that ended while the link was down stay open "
                      "until the next reconnect")
            return
        self.publish(self.tracker.resync(channels, self.clock(), asked_at=asked))
        await self._close_stale_calls(asked)
        self.resyncs += 1
        states = await self.actions.device_states()
        for device, state in states.items():
            if self.agents.for_interface(device) is not None:
                self.publish(self.tracker.feed(
                    {"Event": "DeviceStateChange", "Device": device, "State": state}, self.clock()
                ))
        log.info("resynchronised with Asterisk: %d channels up, %d calls followed",
                 len(channels), len(self.tracker.calls))

    async def _restore_stored_calls(self) -> None:
        """After a restart (a crash, a kill) the tracker knows no call, though the database
        has the calls the dead process was following, with every fact it had stored. They
        are followed again from those records, so the resync that follows treats the restart
        like a disconnect of a bridge that knew them: what was stored stays, what Asterisk
        still has goes on, what it no longer has ended unseen. Done at start, before the link
        is up, so that the first events already find them, and again before each channel
        list (calls stored open by no one this process follows). If the
        records cannot be read, the calls are adopted from the list and the writer merges
        them into their rows (``CallRecord.adopted``)."""
        try:
            records = await asyncio.to_thread(
                open_call_records, self.engine, self.pbx, exclude=self.tracker.known_linkedids()
            )
        except Exception:
            log.exception("resync: cannot read the stored calls still open; calls in progress "
                          "are adopted from Asterisk's channel list alone")
            return
        restored = self.tracker.restore(records)
        if restored:
            log.info("resync: following again %d call(s) stored as in progress", restored)

    async def _close_stale_calls(self, asked_at: dt.datetime) -> None:
        """Calls stored as in progress that Asterisk no longer has and that no bridge of this
        process follows: a bridge (this one before a restart, or one that crashed) stopped
        before their end. They are closed like calls lost during a disconnect, at their last
        sign of life, instead of staying "in progress" in every report."""
        try:
            stale = await asyncio.to_thread(
                stale_call_records, self.engine, self.pbx, asked_at, self.tracker.known_linkedids()
            )
        except Exception:
            log.exception("cannot read the stored calls still open; they stay open until the "
                          "next reconnect")
            return
        for record in stale:
            assert record.ended_at is not None
            agent_id = record.answered_by_agent_id
            self.publish([
                CallEnded(at=record.ended_at, pbx=self.pbx, call_key=record.call_key,
                          disposition=record.disposition, hangup_cause=None,
                          end_reason=record.end_reason, abnormal=False, agent_id=agent_id,
                          caller_number=record.caller_number),
                CallUpdated(at=record.ended_at, pbx=self.pbx, record=record),
            ])
        if stale:
            log.warning("closed %d stored call(s) left in progress by a bridge that stopped "
                        "before their end (%s)", len(stale), END_LOST)

    # -- agents ----------------------------------------------------------------------------

    def _agent_changed(self, event: AgentStateChanged) -> None:
        agent_id = event.agent_id
        if agent_id is None:
            return
        handle = self._wrap_up.pop(agent_id, None)
        if handle is not None:
            handle.cancel()
        if event.state == AgentState.WRAP_UP.value:
            self._wrap_up[agent_id] = asyncio.get_running_loop().call_later(
                self.options.wrap_up_seconds, self._end_wrap_up, agent_id
            )
        if event.registered:
            self._alerted.discard(agent_id)
        elif event.registered is False:
            live = self.agents.get(agent_id)
            if live is not None:
                self._check_registration(live, event.at)

    def _end_wrap_up(self, agent_id: int) -> None:
        self._wrap_up.pop(agent_id, None)
        self.publish(self.tracker.end_wrap_up(agent_id, self.clock()))

    def _check_registration(self, live: AgentLive, at: dt.datetime) -> None:
        agent_id = live.info.agent_id
        if live.registered is not False or agent_id in self._alerted:
            return
        if not self.rostered(live) or not self.calendar.is_open(at):
            return
        self._alerted.add(agent_id)
        ext = live.info.extension
        self.bus.publish(Alert(
            at=at, pbx=self.pbx, kind="agent-unregistered",
            message=f"坐席 {ext} 的话机未注册 / the softphone of agent {ext} is not registered "
                    f"during business hours",
            data={"agent_id": str(agent_id), "extension": ext, "interface": live.info.interface},
        ))
        log.warning("agent %s (%s) is on duty but the softphone is not registered", ext, live.info.interface)

    async def _roster_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.roster_check_interval)
            self.check_roster()

    def check_roster(self) -> None:
        """Alert for every on-duty agent whose softphone is unregistered (once per outage)."""
        at = self.clock()
        for live in self.agents:
            self._check_registration(live, at)

    # -- AgentControl ------------------------------------------------------------------------

    def _control(self, agent_id: int, state: AgentState, reason: str | None = None) -> None:
        if self.agents.get(agent_id) is None:
            raise InvalidInput.single("agent_id", f"no agent {agent_id} on this hotline")
        self.publish(self.tracker.agent_control(agent_id, state.value, self.clock(), reason))

    async def set_ready(self, agent_id: int) -> None:
        self._control(agent_id, AgentState.READY)

    async def pause(self, agent_id: int, reason: str) -> None:
        if not reason.strip():
            raise InvalidInput.single("reason", "a pause needs a reason")
        self._control(agent_id, AgentState.PAUSED, reason.strip())

    async def log_in(self, agent_id: int) -> None:
        self._control(agent_id, AgentState.READY)
        live = self.agents.get(agent_id)
        if live is not None:
            self._check_registration(live, self.clock())

    async def log_out(self, agent_id: int) -> None:
        self._control(agent_id, AgentState.LOGGED_OUT)
