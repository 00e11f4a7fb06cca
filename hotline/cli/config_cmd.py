from __future__ import annotations

import json

import click

from hotline.cli.context import CliContext


@click.group("config")
def command() -> None:
    """Inspect the configuration."""


@command.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@click.pass_obj
def show(obj: CliContext, as_json: bool) -> None:
    """Print the effective configuration, secrets masked."""
    data = obj.settings.public_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    for key, value in top.items():
        click.echo(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    for section, values in data.items():
        if isinstance(values, dict):
            click.echo(f"\n[{section}]")
            for key, value in values.items():
                click.echo(f"{key} = {json.dumps(value, ensure_ascii=False)}")
