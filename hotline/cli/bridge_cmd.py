"""``hotline bridge``: run the AMI bridge on its own, or replay a capture through its state
machine to see what it makes of a real Asterisk event stream."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
from pathlib import Path

import click

from hotline.cli.context import CliContext


@click.group("bridge")
def command() -> None:
    """The AMI bridge: follow calls and agents of one Asterisk server."""


@command.command("run")
@click.option("--no-migrate", is_flag=True, help="Do not upgrade the database schema first.")
@click.pass_obj
def run(obj: CliContext, no_migrate: bool) -> None:
    """Follow the Asterisk in [ami] (host, port, username, secret) and store every call in
    the database until Ctrl-C. The link comes back by itself after a drop; a graceful stop
    writes everything learnt so far."""
    from ami_bridge.service import Bridge

    settings = obj.settings
    if not no_migrate:
        from hotline.db import migrate

        migrate.upgrade(obj.engine)

    async def main() -> None:
        bridge = Bridge(settings, obj.engine)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await bridge.start()
        from hotline import tuning

        tuning.tune_process()
        click.echo(
            f"following {settings.ami.host}:{settings.ami.port} as {settings.ami.pbx_name}, "
            f"storing in {settings.database.display_url()}; Ctrl-C stops"
        )
        await stop.wait()
        await bridge.stop()
        w = bridge.writer.stats
        click.echo(f"stopped: {w.calls_written} call writes, {w.callbacks_created} dropped-call callbacks")

    asyncio.run(main())


def _parse_agents(values: tuple[str, ...]) -> list[tuple[int, str, str]]:
    agents = []
    for n, value in enumerate(values, start=1):
        interface, sep, ext = value.partition("=")
        if not sep or "/" not in interface or not ext:
            raise click.BadParameter(
                f"{value!r}: expected INTERFACE=EXTENSION, e.g. PJSIP/1001=1001", param_hint="--agent"
            )
        agents.append((n, ext, interface))
    return agents


@command.command("replay")
@click.argument("capture")
@click.option("--agent", "agents", multiple=True, metavar="INTERFACE=EXT",
              help="An agent's interface, e.g. Local/201@agents=201 (repeatable).")
@click.option("--stream", default="ami-mon", show_default=True, help="Which AMI stream of the capture.")
@click.pass_obj
def replay(obj: CliContext, capture: str, agents: tuple[str, ...], stream: str) -> None:
    """Feed a capture transcript (a file, or a name such as 03 from the test fixtures) into
    the state machine and print the domain events it produces, with capture times."""
    from ami_bridge.agents import AgentBook, AgentInfo
    from ami_bridge.frames import Framer
    from ami_bridge.state import CallTracker, TrackerConfig
    from hotline.devtools.captures import load, parse_capture
    from hotline.domain.enums import AgentState
    from hotline.domain.events import CallUpdated
    from hotline.domain.ring import RingPolicy

    settings = obj.settings
    path = Path(capture)
    try:
        cap = parse_capture(path) if path.is_file() else load(capture)
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="CAPTURE") from None
    if stream not in cap.streams:
        raise click.BadParameter(
            f"no stream {stream!r} in {cap.name} (has: {', '.join(cap.streams)})", param_hint="--stream"
        )
    book = AgentBook(settings.ami.pbx_name)
    t0 = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)
    for agent_id, ext, interface in _parse_agents(agents):
        book.add(AgentInfo(agent_id, ext, interface), presence=AgentState.READY, idle_since=t0)
    tracker = CallTracker(
        TrackerConfig(
            pbx=settings.ami.pbx_name, ring=RingPolicy.from_settings(settings.ring),
            no_answer_pause_after=settings.ring.no_answer_pause_after, region=settings.default_region,
        ),
        book,
    )
    framer = Framer()
    for m in cap.streams[stream].ami("<<"):
        for message in framer.feed(m.wire()):
            if not message.is_event:
                continue
            for event in tracker.feed(message, t0 + dt.timedelta(seconds=m.t)):
                if isinstance(event, CallUpdated):
                    continue
                fields = {
                    k: v for k, v in vars(event).items()
                    if k not in ("at", "pbx") and v not in (None, "", {})
                }
                shown = " ".join(f"{k}={v}" for k, v in fields.items())
                click.echo(f"[{m.t:8.3f}] {type(event).__name__:<18} {shown}")
