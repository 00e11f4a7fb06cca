"""``hotline simulate``: run the PBX simulator (pbxsim) in place of Asterisk."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import click

from hotline.cli.context import CliContext


def _packaged_scenarios() -> Path:
    import pbxsim

    return Path(pbxsim.__file__).resolve().parent / "scenarios"


@click.command("simulate")
@click.option("--scenario", "scenario_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Traffic to generate (YAML; see pbxsim/scenarios/). Without it the PBX just "
                   "runs until Ctrl-C, for hotline to connect to.")
@click.option("--speed", type=click.FloatRange(min=0.01), default=None,
              help="Time compression: 10 makes a 5 s ring cadence 0.5 s, a 60 s call 6 s "
                   "(default: the scenario's, else 1).")
@click.option("--ami-host", default=None, help="Address the AMI listens on (default: ami.host).")
@click.option("--ami-port", type=click.IntRange(0, 65535), default=None,
              help="AMI TCP port (default: ami.port, 5038); 0 picks a free one.")
@click.option("--agi-url", default=None,
              help="Where AGI() connects, e.g. agi://127.0.0.1:4573 (default: from agi.host/agi.port).")
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("var/pbxsim/truth.jsonl"), show_default=True,
              help="JSON-lines truth log: one record per call, written when the call ends.")
@click.option("--calls", type=click.IntRange(min=0), default=None,
              help="Number of calls (overrides the scenario; without --scenario uses the demo scenario).")
@click.option("--dialplan", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="extensions.conf to run (default: deploy/asterisk/extensions.conf).")
@click.option("--record-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("var/pbxsim/monitor"), show_default=True,
              help="Where MixMonitor/RECORD FILE put recordings given with relative paths.")
@click.option("--sounds-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where relative sound names (Playback(hello-world)) are looked up.")
@click.option("--seed", type=int, default=None, help="Random seed (default: the scenario's).")
@click.option("--client-time", type=click.Choice(["simulated", "real"]), default="simulated",
              show_default=True,
              help="How to read durations hotline sends (Dial and AGI timeouts, Originate "
                   "Timeout): 'simulated' seconds like the dialplan's, or 'real' seconds for a "
                   "hotline whose ring cadence is compressed by the same --speed.")
@click.option("--timestamp-events/--no-timestamp-events", default=True, show_default=True,
              help="Every AMI event carries Timestamp: <sec.usec>, as with timestampevents = yes "
                   "in deploy/asterisk/manager.conf.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def command(obj: CliContext, scenario_file: Path | None, speed: float | None, ami_host: str | None,
            ami_port: int | None, agi_url: str | None, truth_path: Path, calls: int | None,
            dialplan: Path | None, record_dir: Path, sounds_dir: Path | None, seed: int | None,
            client_time: str, timestamp_events: bool, as_json: bool) -> None:
    """Run a simulated Asterisk 22 (AMI and FastAGI over TCP) and, with a scenario, its traffic.

    hotline connects to it exactly as to Asterisk (same ami.* and agi.* settings). With
    --scenario the command places the scenario's calls, waits until every call has ended,
    prints a summary and exits; the truth log records what really happened to each call.
    """
    from pbxsim.config import AmiUser, SimConfig
    from pbxsim.dialplan.model import DialplanError
    from pbxsim.scenario import Scenario, ScenarioError

    settings = obj.settings
    scenario = None
    if scenario_file is not None or calls is not None:
        path = scenario_file or _packaged_scenarios() / "demo.yaml"
        try:
            scenario = Scenario.load(path)
        except ScenarioError as exc:
            raise click.ClickException(str(exc)) from None
    eff_speed = speed or (scenario.model.speed if scenario and scenario.model.speed else 1.0)
    config = SimConfig(
        ami_host=ami_host or settings.ami.host,
        ami_port=settings.ami.port if ami_port is None else ami_port,
        agi_url=agi_url or f"agi://{settings.agi.host}:{settings.agi.port}",
        speed=eff_speed,
        client_time=client_time,
        dialplan=dialplan,
        record_dir=record_dir,
        sounds_dir=sounds_dir,
        truth_log=truth_path,
        ami_users={settings.ami.username: AmiUser(settings.ami.secret.get_secret_value())},
        ring_on=settings.ring.on_seconds,
        ring_off=settings.ring.off_seconds,
        seed=seed if seed is not None else (scenario.seed if scenario else 1),
        timestamp_events=timestamp_events,
    )
    try:
        summary = asyncio.run(_run(config, scenario, calls, as_json))
    except DialplanError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.ami_host}:{config.ami_port}: {exc.strerror}") from None
    if summary is None:
        return
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    click.echo(f"{summary['calls']} calls, {summary['ended']} ended and logged to {truth_path}")
    click.echo(f"  answered by an agent: {summary['answered_by_agent']}  abandoned: {summary['abandoned']}  "
               f"IVR only: {summary['ivr_only']}  dropped: {summary['dropped']}")
    click.echo(f"  flags: {summary['flags']}  recordings: {summary['recordings']}")
    if summary["by_agent"]:
        click.echo("  answers by agent: " + ", ".join(f"{k}={v}" for k, v in summary["by_agent"].items()))
    if summary["answer_ring"]:
        click.echo("  answered at ring: " + ", ".join(f"{k}: {v}" for k, v in summary["answer_ring"].items()))
    click.echo("  ended by: " + ", ".join(f"{k}={v}" for k, v in sorted(summary["ended_by"].items())))


async def _run(config: object, scenario: object, calls: int | None, quiet: bool) -> dict | None:
    from pbxsim.simulator import PbxSimulator

    sim = PbxSimulator(config)  # type: ignore[arg-type]
    await sim.start()
    if not quiet:
        click.echo(f"pbxsim: AMI on {sim.config.ami_host}:{sim.ami_port}, AGI() to {sim.config.agi_url}, "
                   f"speed {sim.clock.speed:g}", err=True)
    try:
        if scenario is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            return None
        run = await sim.run_scenario(scenario, calls=calls)  # type: ignore[arg-type]
        return run.summary()
    finally:
        await sim.stop()
