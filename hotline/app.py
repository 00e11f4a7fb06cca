"""Wiring: where the parts of hotline meet, for ``hotline serve``, the demo and the
end-to-end tests.

Read this file to see how a running hotline is put together. Each part is built here and handed
its dependencies explicitly; nothing reaches for globals:

* one :class:`~hotline.bus.EventBus` carries the bridge's domain events to every subscriber;
* the AMI bridge (:class:`ami_bridge.service.Bridge`) follows Asterisk, stores calls and offers
  the agent router, the PBX actions and agent control to the others;
* the IVR (FastAGI server) runs the call flows and asks the bridge's router for agents;
* recordings follow calls on the bus and act on flags through the bridge's PBX actions;
* the scheduler dials outbound tasks through the same PBX actions, only while it leads;
* the web app (FastAPI) reads the database and the live bus;
* on PostgreSQL the live events also go out on ``LISTEN/NOTIFY`` (the relay publisher) and
  every web process, this one and ``hotline web`` workers, listens to feed its browsers.

Start order is bus → bridge → recordings → scheduler → IVR (the FastAGI port opens last, when
everything a call needs is up); stop order is the reverse, so calls in progress finish, the
bridge writes what it learnt and the bus drains before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ami_bridge.service import Bridge, BridgeOptions
from hotline import tuning
from hotline.bus import EventBus
from hotline.db.session import session_factory
from hotline.settings import Settings
from hotline.web.live_relay import (
    LiveRelayListener,
    LiveRelayPublisher,
    conninfo_of,
    live_feed_of,
    new_origin,
    relay_enabled,
)
from ivr.server import FastAgiServer
from ivr.service import IvrData, build_ivr
from ivr.store import SqlCallStore
from recordings.service import RecordingService
from scheduler.service import OutboundScheduler

log = logging.getLogger(__name__)

GRACEFUL_WEB_SECONDS = 3


@dataclass
class Runtime:
    """Every long-running part of one hotline process, built but not started."""

    settings: Settings
    engine: Engine
    bus: EventBus
    bridge: Bridge
    recordings: RecordingService
    ivr: FastAgiServer
    scheduler: OutboundScheduler | None
    # Sends the live events to other processes' web workers (PostgreSQL only).
    relay: LiveRelayPublisher | None = None
    # Names this process on the relay, so that its own web app skips its own events.
    origin: str = field(default_factory=new_origin)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    started: bool = False

    @classmethod
    def build(
        cls,
        settings: Settings,
        engine: Engine,
        *,
        scheduler: bool | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        bridge_options: BridgeOptions | None = None,
        ivr_data: IvrData | None = None,
    ) -> Runtime:
        """Build every part; bad call flows or prompts raise here, before anything listens.

        ``clock`` is the time every part decides by (business hours, calling windows, the
        times stored); ``bridge_options`` tunes the bridge (compressed-time runs shorten the
        wrap-up); ``ivr_data``: flows and prompts already loaded and checked."""
        bus = EventBus()
        sessions = session_factory(engine)
        bridge_kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        if bridge_options is not None:
            bridge_kwargs["options"] = bridge_options
        bridge = Bridge(settings, engine, bus, **bridge_kwargs)
        rec_kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        recordings = RecordingService(settings, sessions, pbx=bridge.actions, **rec_kwargs)
        recordings.subscribe(bus)
        ivr = build_ivr(
            settings, router=bridge.router, store=SqlCallStore(sessions, settings), clock=clock,
            data=ivr_data,
        )
        outbound: OutboundScheduler | None = None
        if settings.scheduler.enabled if scheduler is None else scheduler:
            sched_kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
            outbound = OutboundScheduler(
                settings, engine, bridge.actions, router=bridge.router,
                housekeeping_jobs=housekeeping_jobs(settings, engine), **sched_kwargs,
            )
            outbound.subscribe(bus)
        origin = new_origin()
        relay: LiveRelayPublisher | None = None
        if relay_enabled(settings, engine):
            relay = LiveRelayPublisher(conninfo_of(engine), origin=origin)
            relay.subscribe(bus)
        return cls(settings, engine, bus, bridge, recordings, ivr, outbound, relay, origin)

    async def start(self) -> None:
        if self.relay is not None:
            self.relay.start()
        await self.bus.start()
        await self.bridge.start()
        await self.recordings.start()
        if self.scheduler is not None:
            self._tasks.append(
                asyncio.get_running_loop().create_task(self.scheduler.run(), name="scheduler")
            )
        await self.ivr.start()
        self.started = True
        log.info(
            "hotline running: AMI %s:%d (%s), FastAGI %s:%d",
            self.settings.ami.host, self.settings.ami.port, self.settings.ami.pbx_name,
            self.settings.agi.host, self.ivr.port,
        )

    async def stop(self) -> None:
        """Stop in reverse order; what the bridge learnt is written before this returns."""
        if not self.started:
            return
        self.started = False
        await self.ivr.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15.0)
        self._tasks.clear()
        await self.bridge.stop()
        await self.recordings.stop()
        await self.bus.stop(drain=True)
        if self.relay is not None:
            await self.relay.aclose()

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def housekeeping_jobs(settings: Settings, engine: Engine) -> list[Callable[[Any], object]]:
    """Once-a-deployment jobs of other parts, run by the elected scheduler's APScheduler:
    the daily complaint digest (rule 7.9), the recordings retention purge and the daily
    backup (rule 9.1)."""
    from apscheduler.triggers.cron import CronTrigger

    from hotline.backup.job import add_backup_job
    from hotline.reports.digest_job import add_digest_job
    from recordings.retention import daily_purge

    sessions = session_factory(engine)

    def digest(sched: Any) -> object:
        return add_digest_job(sched, engine, settings, jobstore="memory")

    def purge(sched: Any) -> object:
        return sched.add_job(
            daily_purge, CronTrigger(hour=3, minute=30, timezone=settings.tz),
            args=[settings, sessions], id="recordings-purge", name="recordings retention purge",
            replace_existing=True, jobstore="memory", coalesce=True, misfire_grace_time=3600,
        )

    def backup(sched: Any) -> object:
        return add_backup_job(sched, engine, settings, jobstore="memory")

    jobs: list[Callable[[Any], object]] = [digest, purge]
    if settings.backup.enabled:
        jobs.append(backup)
    return jobs


def create_web_app(settings: Settings, engine: Engine, runtime: Runtime | None) -> Any:
    """The FastAPI app; given the runtime, its pages get the live bus, agent control and the
    running recordings service (flags act on live calls)."""
    from hotline.web.app import create_app
    from hotline.web.services import WebServices

    if runtime is None:
        return create_app(settings, engine)
    return create_app(
        settings, engine,
        WebServices(bus=runtime.bus, agent_control=runtime.bridge, recordings=runtime.recordings),
    )


@contextlib.asynccontextmanager
async def serving_web(
    settings: Settings, engine: Engine, runtime: Runtime | None
) -> AsyncIterator[Any]:
    """The web pages served by uvicorn in this event loop for as long as the block runs;
    yields the app. Without a runtime (``hotline web``) there is no bridge, IVR or scheduler:
    pages, reports and the CRM work, agent control answers 503. On PostgreSQL the live feed
    also comes from the relay (every bridge process's events, this one's own excepted)."""
    import uvicorn

    app = create_web_app(settings, engine, runtime)
    listener: LiveRelayListener | None = None
    if relay_enabled(settings, engine):
        listener = LiveRelayListener(
            conninfo_of(engine), live_feed_of(app),
            ignore_origin=runtime.origin if runtime is not None else None,
        )
        await listener.start()
    app.state.live_relay = listener  # for health checks and tests: .listening, .stats
    # Live pages (SSE) keep their connections open: without a limit, Ctrl-C with a wallboard
    # open in a browser would wait for that browser to leave.
    config = uvicorn.Config(
        app, host=settings.web.host, port=settings.web.port, log_config=None, lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_WEB_SECONDS,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    web_task = asyncio.get_running_loop().create_task(server.serve(), name="web")
    for _ in range(500):  # wait until it listens (or failed, e.g. the port is taken)
        if server.started or web_task.done():
            break
        await asyncio.sleep(0.02)
    if web_task.done() and not server.started:
        await asyncio.gather(web_task, return_exceptions=True)
        if listener is not None:
            await listener.stop()
        raise OSError(f"the web pages could not listen on {settings.web.host}:{settings.web.port}")
    log.info("web pages on http://%s:%d/", settings.web.host, settings.web.port)
    try:
        yield app
    finally:
        server.should_exit = True
        await asyncio.gather(web_task, return_exceptions=True)
        if listener is not None:
            await listener.stop()


def stop_signal() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C, systemd, docker stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_forever(
    settings: Settings, engine: Engine, *, with_web: bool = True, ivr_data: IvrData | None = None
) -> None:
    """Run every part until SIGINT or SIGTERM, then stop cleanly."""
    runtime = Runtime.build(settings, engine, ivr_data=ivr_data)
    stop = stop_signal()
    await runtime.start()
    tuning.tune_process()  # a prompt event loop from now on: the bridge's timing depends on it
    from hotline.reports.digest_job import catch_up

    try:
        await asyncio.to_thread(catch_up, engine, settings)
        async with contextlib.AsyncExitStack() as stack:
            if with_web:
                await stack.enter_async_context(serving_web(settings, engine, runtime))
            await stop.wait()
            log.info("stopping")
    finally:
        await runtime.stop()


def serve(settings: Settings, engine: Engine, *, ivr_data: IvrData | None = None) -> None:
    asyncio.run(run_forever(settings, engine, ivr_data=ivr_data))


async def run_web_forever(settings: Settings, engine: Engine) -> None:
    """``hotline web``: the web app alone (no bridge, IVR or scheduler) until SIGINT or
    SIGTERM; several can run beside the ``hotline serve`` processes on PostgreSQL."""
    stop = stop_signal()
    async with serving_web(settings, engine, None):
        await stop.wait()
        log.info("stopping")


def serve_web(settings: Settings, engine: Engine) -> None:
    asyncio.run(run_web_forever(settings, engine))
