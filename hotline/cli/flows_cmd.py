"""``hotline flows``: check the IVR's call flows before they go live."""

from __future__ import annotations

from pathlib import Path

import click

from hotline.cli.context import CliContext


@click.group("flows")
def command() -> None:
    """Inspect and check the IVR call flows (callflows/*.yaml)."""


@command.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def check(obj: CliContext, paths: tuple[Path, ...]) -> None:
    """Check call flows: schema, node references, reachability, loops without exit, prompts in
    the catalogue, answer before sound and the greeting first, ring within the answer window.

    PATHS are flow files or folders (default: the ivr.flows_dir setting). Problems are printed
    as FILE:LINE: REASON and the command exits with status 1. The IVR runs the same checks at
    start-up and refuses to start with a bad flow.
    """
    from ivr.service import load_ivr_data
    from ivr.yamldoc import InvalidFileError

    settings = obj.settings
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise click.ClickException(", ".join(f"{p}: no such file or folder" for p in missing))
    try:
        data = load_ivr_data(settings, list(paths) or None)
    except InvalidFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        files = len({p.file for p in exc.problems})
        click.echo(f"{len(exc.problems)} problem(s) in {files} file(s)", err=True)
        raise SystemExit(1) from None
    for loaded in data.flows.flows.values():
        flow = loaded.flow
        routes = ", ".join(flow.routes) or "none (reached by ?flow=name)"
        click.echo(f"ok  {loaded.file}: flow {flow.name!r}, {len(flow.nodes)} nodes, routes: {routes}")
