"""``hotline demo``: the whole of hotline against the built-in PBX simulator, with traffic.

Someone trying hotline has no Asterisk and no callers. The demo brings both: pbxsim listens
where hotline's settings say Asterisk is (ami.host/ami.port, AGI() to agi.host/agi.port), its
softphones are the scenario's agents (one per extension, each with a hotline login), and its
callers arrive as the busy-hour scenario says, batch after batch, until Ctrl-C. hotline itself
runs exactly as ``hotline serve`` runs it (hotline.app's Runtime and web pages): nothing in it
knows it is a demo.

The demo changes two settings, and says so: business hours cover the whole day on every day
(otherwise a demo started at night would only ever play the after-hours notice), and with
``speed`` above 1 the ring cadence, wrap-up time and simulator all run that much faster.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from hotline.app import Runtime, serving_web, stop_signal
from hotline.settings import Settings
from pbxsim.config import AmiUser, SimConfig
from pbxsim.scenario import Scenario, install, place_planned
from pbxsim.simulator import PbxSimulator

log = logging.getLogger(__name__)

DEMO_PASSWORD = "hotline-demo"
SCENARIOS = Path(__file__).resolve().parents[1] / "pbxsim" / "scenarios"
DEFAULT_SCENARIO = SCENARIOS / "busy-hour.yaml"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    extension: str | None
    display_name: str


# The human's own logins. The demo agent sits at the first simulated softphone, so the calls
# that phone answers appear on that agent's desk.
DEMO_LOGINS = (
    DemoLogin("supervisor", "supervisor", None, "演示主管 Demo Supervisor"),
    DemoLogin("agent", "agent", "1001", "演示坐席 Demo Agent"),
)


def demo_settings(settings: Settings, *, speed: float, keep_hours: bool) -> Settings:
    """The settings the demo runs on: the operator's, all-day hours unless ``keep_hours``, and
    time compressed by ``speed`` where hotline counts real seconds."""
    update: dict[str, object] = {}
    if not keep_hours:
        update["hours"] = settings.hours.model_copy(update={
            "open": settings.hours.open.replace(hour=0, minute=0),
            "close": settings.hours.close.replace(hour=23, minute=59),
            "rest_start": None, "rest_end": None, "calendar": "none",
        })
    if speed != 1.0:
        update["ring"] = settings.ring.model_copy(update={
            "on_seconds": settings.ring.on_seconds / speed,
            "off_seconds": settings.ring.off_seconds / speed,
        })
        update["agents"] = settings.agents.model_copy(update={
            "wrap_up_seconds": settings.agents.wrap_up_seconds / speed,
        })
    return settings.model_copy(update=update)


def prepare(settings: Settings, engine: Engine, scenario: Scenario,
            echo: Callable[[str], None]) -> dict[str, int]:
    """Migrate, build the prompts, and make sure every login the demo needs exists; returns
    the agent id of each simulated softphone's extension."""
    from hotline.accounts.service import add_user
    from hotline.db import migrate
    from hotline.db.models import Agent, User
    from hotline.db.session import session_factory, transaction
    from ivr.prompts.build import build_configured_prompts
    from ivr.prompts.catalogue import load_catalogue

    migrate.upgrade(engine)
    ivr = settings.ivr
    report = build_configured_prompts(settings, load_catalogue(ivr.prompts_file))
    if report.errors:
        raise RuntimeError("prompts could not be built: " + "; ".join(map(str, report.errors)))
    echo(f"prompts: {len(report.built)} built, {len(report.unchanged)} unchanged "
         f"-> {ivr.sounds_dir}")
    logins = list(DEMO_LOGINS)
    taken = {login.extension for login in logins}
    for spec in scenario.model.agents:
        if spec.extension not in taken:
            logins.append(DemoLogin(f"agent{spec.extension}", "agent", spec.extension,
                                    spec.name or f"Agent {spec.extension}"))
    with transaction(session_factory(engine)) as session:
        for login in logins:
            if session.scalar(select(User.id).where(User.username == login.username)) is None:
                add_user(session, username=login.username, password=DEMO_PASSWORD,
                         role=login.role, display_name=login.display_name,
                         extension=login.extension)
        extensions = [a.extension for a in scenario.model.agents]
        rows = session.execute(select(Agent.extension, Agent.id)
                               .where(Agent.extension.in_(extensions))).all()
    return {ext: agent_id for ext, agent_id in rows}


def simulator_for(settings: Settings, *, speed: float, seed: int) -> PbxSimulator:
    """pbxsim where hotline expects its Asterisk, recording into hotline's spool and playing
    hotline's built prompts."""
    return PbxSimulator(SimConfig(
        ami_host=settings.ami.host,
        ami_port=settings.ami.port,
        agi_url=f"agi://{settings.agi.host}:{settings.agi.port}",
        speed=speed,
        client_time="real",  # hotline is compressed by the same speed
        record_dir=settings.recordings.spool_dir,
        sounds_dir=settings.ivr.sounds_dir,
        truth_log=settings.var_dir / "pbxsim" / "demo-truth.jsonl",
        ami_users={settings.ami.username: AmiUser(settings.ami.secret.get_secret_value())},
        ring_on=settings.ring.on_seconds * speed,
        ring_off=settings.ring.off_seconds * speed,
        seed=seed,
        timestamp_events=True,
    ))


async def place_calls(sim: PbxSimulator, scenario: Scenario, stop: asyncio.Event) -> int:
    """The scenario's callers, batch after batch (a fresh seed each time), until ``stop``;
    returns how many calls were placed."""
    placed = 0
    batch = 0
    while not stop.is_set():
        model = scenario.model.model_copy(update={"seed": scenario.model.seed + batch})
        plan = Scenario(model, scenario.source).plan()
        if not plan:  # a scenario without callers: the softphones only
            await stop.wait()
            break
        placed += len(await place_planned(sim, plan, stop))
        batch += 1
    return placed


async def run_demo(settings: Settings, engine: Engine, scenario: Scenario, agent_ids: dict[str, int],
                   *, speed: float, echo: Callable[[str], None]) -> int:
    """Run pbxsim, hotline and the web pages until Ctrl-C / SIGTERM; returns calls placed."""
    stop = stop_signal()
    sim = simulator_for(settings, speed=speed, seed=scenario.seed)
    install(sim, scenario)
    await sim.start()
    runtime = Runtime.build(settings, engine, scheduler=True)
    callers: asyncio.Task[int] | None = None
    try:
        await runtime.start()
        async with serving_web(settings, engine, runtime):
            await runtime.bridge.client.wait_connected(30.0)  # type: ignore[attr-defined]
            registered = {a.extension for a in scenario.model.agents if a.registered}
            for ext, agent_id in agent_ids.items():
                if ext in registered:
                    await runtime.bridge.log_in(agent_id)
                    await runtime.bridge.set_ready(agent_id)
            url = f"http://{settings.web.host}:{settings.web.port}/"
            echo(f"hotline demo on {url}  (wallboard: {url}wallboard)")
            for login in DEMO_LOGINS:
                echo(f"  {login.role:<10} login: {login.username} / {DEMO_PASSWORD}")
            echo(f"pbxsim: {len(agent_ids)} softphones, callers from {scenario.source} "
                 f"at speed {speed:g}. Ctrl-C stops it.")
            callers = asyncio.get_running_loop().create_task(place_calls(sim, scenario, stop))
            await stop.wait()
            echo("stopping: no new calls; hotline writes what it has and stops")
    finally:
        stop.set()
        placed = await callers if callers is not None else 0
        # Calls in progress end as if the operator hung them all up, while hotline still
        # listens, so none is left open in the database.
        await sim.hang_up_all()
        for _ in range(50):  # until the bridge has read every Hangup (at most 5 s)
            if not runtime.bridge.tracker.calls:
                break
            await asyncio.sleep(0.1)
        await runtime.stop()
        await sim.stop()
    return placed
