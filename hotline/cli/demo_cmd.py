"""``hotline demo``: everything, on the embedded defaults, with simulated traffic."""

from __future__ import annotations

from pathlib import Path

import click

from hotline.cli.context import CliContext


@click.command("demo")
@click.option("--scenario", "scenario_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Callers and softphones (YAML, see pbxsim/scenarios/; "
                                 "default: the busy hour, 30 agents, about 2,000 calls an hour).")
@click.option("--speed", type=click.FloatRange(min=0.1, max=60), default=1.0, show_default=True,
              help="Time compression for the whole demo (2: rings every 2.5 s, calls half as long).")
@click.option("--keep-hours", is_flag=True,
              help="Keep the configured business hours (by default the demo is open all day, "
                   "every day, so it shows agents at work whenever it is started).")
@click.pass_obj
def command(obj: CliContext, scenario_file: Path | None, speed: float, keep_hours: bool) -> None:
    """Try hotline without Asterisk: migrate the database, build the prompts, start the PBX
    simulator with its softphones and callers, and run the bridge, the IVR, recordings, the
    scheduler and the web pages, as `hotline serve` does, until Ctrl-C.

    Prints the web address and the demo logins (supervisor / agent, password hotline-demo);
    the wallboard shows traffic within a minute.
    """
    import asyncio

    from hotline.demo import DEFAULT_SCENARIO, demo_settings, prepare, run_demo
    from pbxsim.scenario import Scenario, ScenarioError

    try:
        scenario = Scenario.load(scenario_file or DEFAULT_SCENARIO)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from None
    settings = demo_settings(obj.settings, speed=speed, keep_hours=keep_hours)
    if not keep_hours:
        click.echo("demo: business hours are all day, every day (--keep-hours keeps yours)")
    try:
        agent_ids = prepare(settings, obj.engine, scenario, click.echo)
        placed = asyncio.run(run_demo(settings, obj.engine, scenario, agent_ids, speed=speed,
                                      echo=click.echo))
    except OSError as exc:  # a port already taken, most often
        raise click.ClickException(f"hotline demo stopped: {exc}") from None
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"demo stopped after {placed} calls")
