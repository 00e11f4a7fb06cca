"""The IVR put together from the settings: flows and prompts loaded (and refused at start-up if
bad), each FastAGI request routed to its flow, the flow run on the call.

``hotline serve`` (hotline/app.py) builds it with :func:`build_ivr`, passing the AMI bridge's
router and the database store, then awaits ``server.start()``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hotline.domain.calendar import WorkingCalendar
from hotline.domain.ports import AgentRouter
from hotline.domain.ring import RingPolicy
from hotline.settings import Settings
from ivr.channel import AgiChannel
from ivr.flows.loader import FlowSet, discover, display_path, load_flows
from ivr.flows.schema import Flow, prompt_fields
from ivr.interpreter import CallServices, FlowRun
from ivr.prompts.build import missing_sounds
from ivr.prompts.catalogue import LANGUAGES, Catalogue, load_catalogue
from ivr.protocol import AgiEnvironment
from ivr.server import FastAgiServer, SessionHandler
from ivr.store import CallStore

log = logging.getLogger(__name__)

_LANGUAGE_ALIASES = {"zh": "zh-CN", "zh-cn": "zh-CN", "cmn": "zh-CN", "zh_cn": "zh-CN", "en": "en",
                     "en-us": "en", "en-gb": "en"}


def pick_language(requested: str | None, default: str) -> str:
    """The prompt language for ``?lang=``; unknown values fall back to the default."""
    if not requested:
        return default
    return _LANGUAGE_ALIASES.get(requested.strip().lower(), default)


@dataclass(frozen=True)
class IvrData:
    catalogue: Catalogue
    flows: FlowSet


def load_ivr_data(settings: Settings, flow_paths: list[Path] | None = None) -> IvrData:
    """The prompt catalogue and every flow, checked together. Raises
    :class:`ivr.yamldoc.InvalidFileError` listing every problem as ``file:line: reason``."""
    ivr = settings.ivr
    catalogue = load_catalogue(ivr.prompts_file, display_path(ivr.prompts_file))
    paths = discover(flow_paths or [ivr.flows_dir], exclude=[ivr.prompts_file])
    flows = load_flows(
        paths, prompt_exists=catalogue.__contains__, ring=RingPolicy.from_settings(settings.ring)
    )
    return IvrData(catalogue, flows)


def prompts_used(flow: Flow) -> set[str]:
    used = {p for node in flow.nodes.values() for _, p in prompt_fields(node)}
    if flow.greeting:
        used.add(flow.greeting)
    return used


class IvrApplication:
    """Routes a FastAGI request to its flow by the URL's script path; ``?flow=<name>`` picks
    a flow by name and ``?lang=en`` the prompt language."""

    def __init__(self, flows: FlowSet, services: CallServices, *, language: str = "zh-CN") -> None:
        self.flows = flows
        self.services = services
        self.language = language
        self.outcomes = 0

    def resolve(self, env: AgiEnvironment) -> SessionHandler | None:
        wanted = env.query.get("flow")
        flow = self.flows.by_name(wanted) if wanted else self.flows.by_route(env.script)
        if flow is None:
            if wanted:
                log.error("AGI request %s asks for flow %r, which does not exist", env.get("agi_request"), wanted)
            return None
        language = pick_language(env.query.get("lang"), self.language)

        async def handle(channel: AgiChannel) -> None:
            await self.run(flow, channel, language)

        return handle

    async def run(self, flow: Flow, channel: AgiChannel, language: str) -> None:
        env = channel.env
        log.info("%s: call from %s to %s on %s: flow %s (%s)", env.uniqueid, env.callerid or "?",
                 env.extension or "?", env.channel, flow.name, language)
        outcome = await FlowRun(flow, channel, self.services, language=language).run()
        self.outcomes += 1
        log.info(
            "%s: flow %s done: %s%s%s%s", env.uniqueid, flow.name, " > ".join(outcome.path),
            " [caller hung up]" if outcome.caller_hung_up else "",
            f" disposition={outcome.disposition}" if outcome.disposition else "",
            f" agent={outcome.answered_by}" if outcome.answered_by else "",
        )


def call_services(
    settings: Settings,
    *,
    router: AgentRouter,
    store: CallStore | None,
    clock: Callable[[], dt.datetime] | None = None,
) -> CallServices:
    spool = settings.recordings.spool_dir.resolve()
    spool.mkdir(parents=True, exist_ok=True)
    services = CallServices(
        router=router,
        calendar=WorkingCalendar(settings.hours, settings.tz),
        ring=RingPolicy.from_settings(settings.ring),
        sounds_dir=settings.ivr.sounds_dir.resolve(),
        spool_dir=spool,
        store=store,
        pbx=settings.ami.pbx_name,
        region=settings.default_region,
        music_class=settings.ivr.music_class,
    )
    if clock is not None:
        services.clock = clock
    return services


def build_ivr(
    settings: Settings,
    *,
    router: AgentRouter,
    store: CallStore | None,
    clock: Callable[[], dt.datetime] | None = None,
    data: IvrData | None = None,
) -> FastAgiServer:
    """The FastAGI server of the hotline, not started yet. Bad flows or prompts raise
    InvalidFileError here, so a bad deploy stops at start-up, not on the first call."""
    data = data or load_ivr_data(settings)
    services = call_services(settings, router=router, store=store, clock=clock)
    for loaded in data.flows.flows.values():
        for language in LANGUAGES:
            missing = missing_sounds(services.sounds_dir, language, sorted(prompts_used(loaded.flow)))
            if missing:
                log.warning(
                    "flow %s: %d %s prompts have no sound file in %s (run `hotline prompts build`): %s",
                    loaded.flow.name, len(missing), language, services.sounds_dir, ", ".join(missing),
                )
    app = IvrApplication(data.flows, services, language=settings.ivr.language)
    return FastAgiServer(
        app,
        host=settings.agi.host,
        port=settings.agi.port,
        env_timeout=settings.ivr.env_timeout,
        hangup_grace=settings.ivr.hangup_grace,
    )
