"""The running outbound scheduler.

Every instance (one per ``hotline serve``) runs :meth:`OutboundScheduler.run`: it stands by
until it wins the leader election (scheduler/leader.py), then leads until it stops or loses the
lease. While leading it runs

- APScheduler 3 (``AsyncIOScheduler`` with its ``SQLAlchemyJobStore`` in hotline's database)
  for the timing: the planning tick every ``tick_seconds``, the daily rules at ``daily_at`` and
  the half-monthly rule on the 1st and 16th, in the hotline's zone. Only the leader runs
  APScheduler, so a job fires once however many instances share the database;
- the dispatch loop: due tasks, most urgent first, under the pacing limits, through the
  exactly-once dialler (scheduler/dialler.py);
- the heartbeat that keeps (or gives up) the lease, and the reconciliation that resolves
  attempts from the PBX's channels.

Rules, planning and settlement touch the database in worker threads; the event loop only
waits. (APScheduler 3's own job-store reads, a few small queries per wake-up, run where
APScheduler runs them.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from hotline.bus import EventBus
from hotline.db.session import session_factory
from hotline.domain.enums import TaskType
from hotline.domain.events import CallEnded, CallUpdated, DomainEvent
from hotline.domain.ports import AgentRouter, PbxActions
from hotline.settings import Settings
from scheduler import jobs
from scheduler.agents import AgentPicker, DatabasePicker, RouterPicker
from scheduler.dialler import Clock, Dialler, dialable, utcnow
from scheduler.housekeeping import expire_greetings, reassign_overdue
from scheduler.leader import LeaderLease
from scheduler.pacing import Pacer
from scheduler.planner import due_now
from scheduler.rules import DAILY_RULES, HALF_MONTHLY_RULES, TICK_RULES, RuleContext, RuleResult
from scheduler.rules.dropped_call import create_dropped_call_task
from scheduler.windows import WindowPolicy

log = logging.getLogger(__name__)

JOB_TICK = "hotline-scheduler-tick"
JOB_DAILY = "hotline-scheduler-daily"
JOB_HALF_MONTHLY = "hotline-scheduler-half-monthly"


async def _wait_event(event: asyncio.Event, timeout: float) -> None:
    """Wait for ``event`` or ``timeout`` seconds. (Not ``wait_for``: on Python 3.11 it can
    swallow a cancellation that arrives as the event is set, and the loop never stops.)"""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


class OutboundScheduler:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        pbx: PbxActions,
        *,
        router: AgentRouter | None = None,
        picker: AgentPicker | None = None,
        clock: Clock = utcnow,
        holder: str | None = None,
        name: str = "default",
        dispatch_poll_seconds: float = 1.0,
        housekeeping_jobs: Sequence[Callable[[BaseScheduler], object]] = (),
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = session_factory(engine)
        self.clock = clock
        self.name = name
        self.policy = WindowPolicy(settings)
        cfg = settings.scheduler
        self.lease = LeaderLease(engine, lease_seconds=cfg.lease_seconds, holder=holder)
        self.pacer = Pacer(cfg.max_concurrent_calls, cfg.new_calls_per_second)
        if picker is None:
            picker = (
                RouterPicker(router, self.sessions,
                             forget_after=10 * settings.scheduler.agent_retry_delay_seconds)
                if router else DatabasePicker(self.sessions)
            )
        self.dialler = Dialler(settings, self.sessions, pbx, self.lease, self.pacer, picker,
                               clock=clock)
        self.dialler.on_slot_freed = self.wake
        self.picker = picker
        self.dispatch_poll_seconds = dispatch_poll_seconds
        # Jobs of other parts that must run once per deployment (the daily digest, the
        # recordings purge): added to the leader's APScheduler in its in-memory job store,
        # since they hold live objects that cannot be pickled into the database.
        self.housekeeping_jobs = tuple(housekeeping_jobs)
        self.apscheduler: AsyncIOScheduler | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self.leading = asyncio.Event()
        self.dialled = 0

    # -- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        """Stand by, lead when elected, until :meth:`stop`."""
        cfg = self.settings.scheduler
        while not self._stop.is_set():
            try:
                acquired = await asyncio.to_thread(self.lease.try_acquire)
            except SQLAlchemyError as exc:
                # The database is away (stopped, restarting, unreachable): stand by and ask
                # again, rather than end the loop and leave this process without a scheduler
                # for the rest of its life.
                log.error("scheduler %s cannot reach the database to stand for leader (%s); "
                          "trying again in %g s", self.lease.holder, exc, cfg.standby_poll_seconds)
                acquired = False
            if acquired:
                try:
                    await self._lead()
                except SQLAlchemyError as exc:
                    log.error("scheduler %s stops leading: database error (%s)",
                              self.lease.holder, exc)
                finally:
                    await asyncio.to_thread(self.lease.release)
                    self.leading.clear()
            else:
                await _wait_event(self._stop, cfg.standby_poll_seconds)

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Dispatch now (new tasks, a freed slot)."""
        self._wake.set()

    async def _lead(self) -> None:
        self._lost.clear()
        jobs.register(self.name, self)
        # The lease is kept from the start: the first planning tick and the daily rules can
        # take longer than the lease on a large database, and a lapsed lease stops sending.
        heartbeat = asyncio.create_task(self._heartbeat_loop(), name="scheduler-heartbeat")
        loops = [heartbeat]
        try:
            await self.tick()
            await self.run_daily()
            self.apscheduler = await asyncio.to_thread(
                self._start_apscheduler, asyncio.get_running_loop()
            )
            self.leading.set()
            loops += [
                asyncio.create_task(self._dispatch_loop(), name="scheduler-dispatch"),
                asyncio.create_task(self._reconcile_loop(), name="scheduler-reconcile"),
            ]
            stop = asyncio.create_task(self._stop.wait())
            lost = asyncio.create_task(self._lost.wait())
            await asyncio.wait([stop, lost, *loops], return_when=asyncio.FIRST_COMPLETED)
            for t in [stop, lost, *loops]:
                t.cancel()
            await asyncio.gather(stop, lost, *loops, return_exceptions=True)
        finally:
            if not heartbeat.done():
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            if self.apscheduler is not None:
                self.apscheduler.shutdown(wait=False)
                self.apscheduler = None
            jobs.unregister(self.name, self)
            await self.dialler.close()

    def _start_apscheduler(self, loop: asyncio.AbstractEventLoop) -> AsyncIOScheduler:
        """Start APScheduler from a worker thread: adding jobs reads and writes the job
        store, which is blocking I/O; the scheduler itself then runs on ``loop``."""
        cfg = self.settings.scheduler
        tz = self.settings.tz
        sched = AsyncIOScheduler(
            event_loop=loop,
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.engine),
                "memory": MemoryJobStore(),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=tz,
        )
        sched.add_job(
            "scheduler.jobs:tick", IntervalTrigger(seconds=cfg.tick_seconds, timezone=tz),
            args=[self.name], id=JOB_TICK, name="planning tick", replace_existing=True,
            misfire_grace_time=max(1, int(cfg.tick_seconds)),
        )
        at = cfg.daily_at
        sched.add_job(
            "scheduler.jobs:daily", CronTrigger(hour=at.hour, minute=at.minute, timezone=tz),
            args=[self.name], id=JOB_DAILY, name="birthday and festival greetings",
            replace_existing=True,
        )
        sched.add_job(
            "scheduler.jobs:half_monthly",
            CronTrigger(day="1,16", hour=at.hour, minute=at.minute, timezone=tz),
            args=[self.name], id=JOB_HALF_MONTHLY, name="top customers and key accounts",
            replace_existing=True,
        )
        for add_job in self.housekeeping_jobs:
            add_job(sched)
        sched.start()
        return sched

    # -- rules ----------------------------------------------------------------------------
    def _run_rule(self, name: str, rule: Callable[[RuleContext], RuleResult]) -> RuleResult | None:
        try:
            with self.sessions() as s, s.begin():
                return rule(RuleContext(s, self.settings, self.clock()))
        except Exception:
            # One broken rule (bad data) must not stop the others, nor the dialling.
            log.exception("rule %s failed; the other rules go on", name)
            return None

    def _housekeeping(self) -> tuple[int, int]:
        with self.sessions() as s, s.begin():
            now = self.clock()
            return expire_greetings(s, now), reassign_overdue(s, self.settings, now, self.policy)

    async def _run_rules(self, rules: dict[str, Callable[[RuleContext], RuleResult]]) -> list[RuleResult]:
        results = []
        for name, rule in rules.items():
            result = await asyncio.to_thread(self._run_rule, name, rule)
            if result is not None:
                results.append(result)
                if result.created or result.changed:
                    log.info("%s", result)
        self.wake()
        return results

    async def tick(self) -> list[RuleResult]:
        results = await self._run_rules(TICK_RULES)
        expired, moved = await asyncio.to_thread(self._housekeeping)
        if expired or moved:
            log.info("housekeeping: %d greeting(s) expired, %d overdue task(s) to any agent",
                     expired, moved)
        return results

    async def run_daily(self) -> list[RuleResult]:
        return await self._run_rules(DAILY_RULES)

    async def run_half_monthly(self) -> list[RuleResult]:
        return await self._run_rules(HALF_MONTHLY_RULES)

    # -- loops ----------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        # A thread of its own: queued behind the dialler's database work in the default
        # pool, a heartbeat could come too late and the lease lapse under load.
        interval = self.lease.lease_seconds / 3
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler-lease")
        try:
            while True:
                await asyncio.sleep(interval)
                if not await loop.run_in_executor(pool, self.lease.heartbeat):
                    self._lost.set()
                    return
        finally:
            pool.shutdown(wait=False)

    async def _reconcile_loop(self) -> None:
        interval = self.settings.scheduler.reconcile_seconds
        while True:
            try:
                await self.dialler.reconcile()
            except Exception:
                log.exception("reconciliation failed; trying again")
            self.wake()
            await asyncio.sleep(interval)

    async def _dispatch_loop(self) -> None:
        while True:
            await _wait_event(self._wake, self.dispatch_poll_seconds)
            self._wake.clear()
            try:
                await self.dispatch_once()
            except Exception:
                log.exception("dispatch failed; trying again")

    def _due(self, limit: int) -> list[Any]:
        with self.sessions() as s:
            return due_now(s, self.policy, self.clock(), limit)

    async def dispatch_once(self) -> int:
        """Dial what is due now, as far as the pacing limits and ready agents allow."""
        if not self.lease.valid() or self.pacer.free() == 0:
            return 0
        batch = await asyncio.to_thread(self._due, self.pacer.free() * 4 + 8)
        started = 0
        agent_first = self.settings.scheduler.mode == "agent_first"
        for task in batch:
            if not self.lease.valid() or self._stop.is_set():
                break
            if not dialable(task.phone):
                await asyncio.to_thread(self.dialler.fail_invalid_number, task)
                continue
            await self.pacer.acquire()
            offer = None
            if agent_first:
                # A dropped call's agent calls back at once, from wrap-up (rule 1.15).
                offer = await self.picker.pick(
                    f"task-{task.id}", task.agent_id,
                    wrap_up_ok=task.type is TaskType.DROPPED_CALL,
                )
                if offer is None:
                    await self.pacer.release()
                    continue
            flight = await asyncio.to_thread(self.dialler.prepare, task, offer)
            if flight is None:
                if offer is not None:
                    self.picker.release(offer)
                await self.pacer.release()
                continue
            self.dialler.start(flight, task)
            started += 1
            self.dialled += 1
        return started

    # -- events from the bridge --------------------------------------------------------------
    def subscribe(self, bus: EventBus) -> None:
        """Follow the bridge's calls on the bus: ``CallUpdated`` records of outbound calls
        settle their attempts (the customer's leg, the call's end); ``CallEnded`` of a
        dropped call creates its callback (the bridge stores it too; the dedupe key makes it
        one task)."""
        bus.subscribe("scheduler", self._on_event, kinds=(CallEnded, CallUpdated))

    async def _on_event(self, event: DomainEvent) -> None:
        if isinstance(event, CallUpdated):
            if event.record.attempt_id is not None:
                await self.dialler.on_call_record(event.record)
        elif isinstance(event, CallEnded) and event.abnormal and event.agent_id is not None:
            await asyncio.to_thread(self._dropped_call, event)
            self.wake()

    def _dropped_call(self, event: CallEnded) -> None:
        pbx, _, linkedid = event.call_key.partition(":")
        with self.sessions() as s, s.begin():
            create_dropped_call_task(
                s, self.settings, pbx=pbx, linkedid=linkedid, caller_number=event.caller_number,
                agent_id=event.agent_id, ended_at=event.at, policy=self.policy,
            )

